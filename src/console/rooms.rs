//! The Rooms pages: rooms in pages of 50, and a new one; a room's settings (name, SCIM group
//! mapping), its deletion after a confirmation; its members with their transmit permission,
//! which a button toggles; find a user to add, and remove one after a confirmation. Through the
//! store's `rooms` operations, as the native API and the CLI, and recorded in the audit log.

use askama::Template;
use uuid::Uuid;

use super::Console;
use super::view::{Answer, Chrome, Failure};
use crate::http::Style;
use crate::http::error::ApiError;
use crate::repr::users::display_of;
use crate::store::operator::{self, RoomSettings};
use crate::store::rooms::{self, Room};
use crate::store::users;
use crate::time::now_ms;

const PAGE_LEN: usize = 50;
const PAGE: u64 = PAGE_LEN as u64;

pub struct RoomRow {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub members: u64,
    pub mapped: bool,
}

fn room_row(r: &Room) -> RoomRow {
    RoomRow {
        id: r.id.to_string(),
        name: r.name.clone(),
        display_name: r.display_name.clone(),
        members: r.member_count,
        mapped: r.mapped,
    }
}

#[derive(Template)]
#[template(path = "console/rooms.html")]
struct RoomsPage {
    chrome: Chrome,
    rooms: Vec<RoomRow>,
    next: Option<u64>,
    /// Why the create form was refused, and what it held.
    error: Option<String>,
    name: String,
    may_write: bool,
}

fn offset(c: &Console<'_>) -> Result<u64, Failure> {
    match c.form().get("offset") {
        Some(v) => Ok(v.parse().map_err(|_| ApiError::bad_request("offset must be a number"))?),
        None => Ok(0),
    }
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    list_with(c, None).await
}

async fn list_with(c: &Console<'_>, refused: Option<ApiError>) -> Result<Answer, Failure> {
    let (tenant, skip) = (c.ctx.tenant, offset(c)?);
    let mut found = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let mut page = Vec::new();
            rooms::scan(tx, tenant, skip, |r| {
                page.push(r);
                Ok((page.len() as u64) <= PAGE)
            })?;
            Ok(page)
        })
        .await?;
    let more = found.len() as u64 > PAGE;
    found.truncate(PAGE_LEN);
    let status = refused.as_ref().map_or(hyper::StatusCode::OK, |e| e.body(Style::Native).0);
    let page = RoomsPage {
        chrome: c.chrome("rooms"),
        rooms: found.iter().map(room_row).collect(),
        next: more.then_some(skip + PAGE),
        error: refused.map(|e| e.message()),
        name: c.form().get("name").unwrap_or_default().to_owned(),
        may_write: c.key().scopes.contains(crate::auth::Scope::ApiRoomsWrite),
    };
    Answer::with_status(status, &page)
}

/// A client's mistake is shown beside the form it made; anything else is an error page.
fn beside_form(e: ApiError) -> Result<ApiError, Failure> {
    match e.body(Style::Native).0.is_client_error() {
        true => Ok(e),
        false => Err(Failure::Api(e)),
    }
}

/// `POST /console/rooms` with `name`.
pub async fn create(c: &Console<'_>) -> Result<Answer, Failure> {
    let name = c.form().get("name").unwrap_or_default().trim().to_owned();
    let (tenant, now, actor, id) = (c.ctx.tenant, now_ms(), c.ctx.actor(), Uuid::now_v7());
    let created = c
        .ctx
        .write(move |txn| operator::create_room(txn, tenant, (id, &name), &actor, now).map(|_| ()))
        .await;
    match created {
        Ok(()) => c.back(&format!("/rooms/{id}")),
        Err(e) => list_with(c, Some(beside_form(e)?)).await,
    }
}

/// `POST /console/rooms/{id}` with `name`, `mapped` and `external_id`: the room's settings.
pub async fn update(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let form = c.form();
    let settings = RoomSettings {
        name: form.get("name").unwrap_or_default().to_owned(),
        mapped: form.get("mapped") == Some("true"),
        external_id: form
            .get("external_id")
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned),
    };
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    let updated = c
        .ctx
        .write(move |txn| {
            operator::update_room(txn, tenant, id, &settings, &actor, now).map(|_| ())
        })
        .await;
    match updated {
        Ok(()) => c.back(&format!("/rooms/{id}")),
        Err(e) => show_with(c, Some((Form::Settings, beside_form(e)?))).await,
    }
}

#[derive(Template)]
#[template(path = "console/room-delete.html")]
struct DeletePage {
    chrome: Chrome,
    room: RoomRow,
}

/// `GET /console/rooms/{id}/delete`: what deleting does, and a button.
pub async fn delete_form(c: &Console<'_>) -> Result<Answer, Failure> {
    let (id, tenant) = (c.id(0)?, c.ctx.tenant);
    let room = c.ctx.read(move |tx| rooms::get(tx, tenant, id)).await?;
    Answer::page(&DeletePage { chrome: c.chrome("rooms"), room: room_row(&room) })
}

/// `POST /console/rooms/{id}/delete`: the room and its memberships, as `whoot-mgmt room delete`.
pub async fn delete(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx.write(move |txn| operator::delete_room(txn, tenant, id, &actor, now).map(|_| ())).await?;
    c.back("/rooms")
}

#[derive(Template)]
#[template(path = "console/member-remove.html")]
struct RemovePage {
    chrome: Chrome,
    room: RoomRow,
    user_id: String,
    name: String,
    tx: bool,
}

/// `GET /console/rooms/{id}/members/{user}/remove`: a confirmation.
pub async fn remove_form(c: &Console<'_>) -> Result<Answer, Failure> {
    let (room, user, tenant) = (c.id(0)?, c.id(1)?, c.ctx.tenant);
    let (r, u, tx_permission) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let member = rooms::membership(tx, tenant, room, user)?
                .ok_or(crate::store::Error::not_found("member"))?;
            Ok((rooms::get(tx, tenant, room)?, users::get(tx, tenant, user)?, member))
        })
        .await?;
    let page = RemovePage {
        chrome: c.chrome("rooms"),
        room: room_row(&r),
        user_id: user.to_string(),
        name: display_of(&u),
        tx: tx_permission,
    };
    Answer::page(&page)
}

pub struct MemberRow {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub tx: bool,
}

#[derive(Template)]
#[template(path = "console/room.html")]
struct RoomPage {
    chrome: Chrome,
    /// Why a form was refused, shown beside that form.
    error: Option<(Form, String)>,
    room: RoomRow,
    external_id: String,
    /// What the find-a-user form looked for, and the users it found.
    find: String,
    found: Vec<MemberRow>,
    may_write: bool,
    members: Vec<MemberRow>,
    /// The `after` of the next page of members.
    next: Option<String>,
}

/// The room page's forms, for placing an error beside the one that met it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Settings,
    AddMember,
}

impl RoomPage {
    fn error_at(&self, form: Form) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| *f == form).map(|(_, e)| e.as_str())
    }
}

const FOUND_MOST: usize = 10;

pub async fn show(c: &Console<'_>) -> Result<Answer, Failure> {
    show_with(c, None).await
}

/// The room page; with `refused`, the error a form met, beside that form, in the error's
/// status (htmx swaps it in too: see `base.html`'s `responseHandling`).
async fn show_with(c: &Console<'_>, refused: Option<(Form, ApiError)>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let after = match c.form().get("after") {
        Some(raw) => Some(
            Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("after must be a user id"))?,
        ),
        None => None,
    };
    let tenant = c.ctx.tenant;
    let find = c.form().get("find").unwrap_or_default().trim().to_owned();
    let (looking, scan) = (find.clone(), c.ctx.state.settings.scan_limit);
    let (room, mut members, found) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let room = rooms::get(tx, tenant, id)?;
            let mut found = Vec::new();
            if !looking.is_empty() {
                for u in users::search(tx, tenant, &looking, FOUND_MOST, scan)?.0 {
                    let member = rooms::membership(tx, tenant, id, u.id)?;
                    if u.active && member.is_none() {
                        found.push(MemberRow {
                            user_id: u.id.to_string(),
                            name: display_of(&u),
                            email: u.email.clone().unwrap_or_default(),
                            tx: false,
                        });
                    }
                }
            }
            let from = rooms::From::After(after.map(|u| u.as_u128()));
            let mut out = Vec::new();
            for (user, tx_permission) in rooms::members(tx, tenant, id, from, PAGE + 1)? {
                let u = users::get(tx, tenant, user)?;
                out.push(MemberRow {
                    user_id: user.to_string(),
                    name: display_of(&u),
                    email: u.email.unwrap_or_default(),
                    tx: tx_permission,
                });
            }
            Ok((room, out, found))
        })
        .await?;
    let more = members.len() as u64 > PAGE;
    members.truncate(PAGE_LEN);
    let next = members.last().filter(|_| more).map(|m| m.user_id.clone());
    let status = refused.as_ref().map_or(hyper::StatusCode::OK, |(_, e)| e.body(Style::Native).0);
    let page = RoomPage {
        chrome: c.chrome("rooms"),
        error: refused.map(|(form, e)| (form, e.message())),
        external_id: room.external_id.clone().unwrap_or_default(),
        room: room_row(&room),
        members,
        next,
        find,
        found,
        may_write: c.key().scopes.contains(crate::auth::Scope::ApiRoomsWrite),
    };
    Answer::with_status(status, &page)
}

/// The user a form names: by id, userName or email.
fn find_user(txn: &impl crate::store::Tx, tenant: Uuid, who: &str) -> crate::store::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(who) {
        return Ok(id);
    }
    for key in [users::user_name_key(who), users::email_key(who)] {
        if let Some(u) = users::find(txn, tenant, &key)? {
            return Ok(u.id);
        }
    }
    Err(crate::store::Error::invalid(format!(
        "no user is {who:?}: name one by userName, email or id"
    )))
}

pub async fn add_member(c: &Console<'_>) -> Result<Answer, Failure> {
    let room = c.id(0)?;
    let who = c.form().get("user").ok_or(ApiError::bad_request("name a user"))?.to_owned();
    let tx = c.form().get("tx_permission") == Some("true");
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    let added = c
        .ctx
        .write(move |txn| {
            let user = find_user(txn, tenant, &who)?;
            operator::set_member(txn, tenant, (room, user, false), tx, &actor, now)
        })
        .await;
    match added {
        Ok(()) => c.back(&format!("/rooms/{room}")),
        // The form's own mistakes (an unknown or inactive user) are shown beside it.
        Err(e) => show_with(c, Some((Form::AddMember, beside_form(e)?))).await,
    }
}

pub async fn set_tx(c: &Console<'_>) -> Result<Answer, Failure> {
    let (room, user) = (c.id(0)?, c.id(1)?);
    let tx = c.form().get("tx_permission") == Some("true");
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| operator::set_member(txn, tenant, (room, user, true), tx, &actor, now))
        .await?;
    c.back(&format!("/rooms/{room}"))
}

pub async fn remove_member(c: &Console<'_>) -> Result<Answer, Failure> {
    let (room, user) = (c.id(0)?, c.id(1)?);
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx.write(move |txn| operator::remove_member(txn, tenant, (room, user), &actor, now)).await?;
    c.back(&format!("/rooms/{room}"))
}
