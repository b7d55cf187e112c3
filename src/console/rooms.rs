//! The Rooms pages: rooms in pages of 50; a room's members with their transmit permission, which
//! a button toggles; add a member (by userName, email or id) and remove one. Through the store's
//! `rooms` operations, as the native API, and recorded in the audit log.

use askama::Template;
use uuid::Uuid;

use super::Console;
use super::view::{Answer, Chrome, Failure};
use crate::http::Style;
use crate::http::error::ApiError;
use crate::repr::users::display_of;
use crate::store::audit::{self, Field};
use crate::store::rooms::{self, Eligible, Room};
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
}

fn offset(c: &Console<'_>) -> Result<u64, Failure> {
    match c.form().get("offset") {
        Some(v) => Ok(v.parse().map_err(|_| ApiError::bad_request("offset must be a number"))?),
        None => Ok(0),
    }
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    let (tenant, skip) = (c.ctx.tenant, offset(c)?);
    let mut found = c
        .ctx
        .read(move |tx| {
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
    let page = RoomsPage {
        chrome: c.chrome("rooms"),
        rooms: found.iter().map(room_row).collect(),
        next: more.then_some(skip + PAGE),
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
    /// Why the add-member form was refused, shown beside it.
    error: Option<String>,
    room: RoomRow,
    members: Vec<MemberRow>,
    /// The `after` of the next page of members.
    next: Option<String>,
}

pub async fn show(c: &Console<'_>) -> Result<Answer, Failure> {
    show_with(c, None).await
}

/// The room page; with `refused`, the error its add-member form met, beside the form, in the
/// error's status (htmx swaps it in too: see `base.html`'s `responseHandling`).
async fn show_with(c: &Console<'_>, refused: Option<ApiError>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let after = match c.form().get("after") {
        Some(raw) => Some(
            Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("after must be a user id"))?,
        ),
        None => None,
    };
    let tenant = c.ctx.tenant;
    let (room, mut members) = c
        .ctx
        .read(move |tx| {
            let room = rooms::get(tx, tenant, id)?;
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
            Ok((room, out))
        })
        .await?;
    let more = members.len() as u64 > PAGE;
    members.truncate(PAGE_LEN);
    let next = members.last().filter(|_| more).map(|m| m.user_id.clone());
    let status = refused.as_ref().map_or(hyper::StatusCode::OK, |e| e.body(Style::Native).0);
    let error = refused.map(|e| e.message());
    let page = RoomPage { chrome: c.chrome("rooms"), error, room: room_row(&room), members, next };
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

fn record(
    txn: &crate::store::WriteTxn,
    c: (Uuid, &crate::store::audit::Actor, i64),
    action: &str,
    room: Uuid,
    user: Uuid,
    field: Field,
) -> crate::store::Result<()> {
    let (tenant, actor, now) = c;
    let target = format!("room {room} member {user}");
    audit::record(txn, tenant, actor, (action, &target), vec![field], now)
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
            rooms::add_member(txn, tenant, room, user, Some(tx), Eligible::Active, now)?;
            let field = Field::set("tx_permission", tx);
            record(txn, (tenant, &actor, now), "room.member_added", room, user, field)
        })
        .await;
    match added {
        Ok(()) => c.back(&format!("/rooms/{room}")),
        // The form's own mistakes (an unknown or inactive user) are shown beside it.
        Err(e) if e.body(Style::Native).0.is_client_error() => show_with(c, Some(e)).await,
        Err(e) => Err(Failure::Api(e)),
    }
}

pub async fn set_tx(c: &Console<'_>) -> Result<Answer, Failure> {
    let (room, user) = (c.id(0)?, c.id(1)?);
    let tx = c.form().get("tx_permission") == Some("true");
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| {
            let before = rooms::membership(txn, tenant, room, user)?
                .ok_or(crate::store::Error::not_found("member"))?;
            rooms::add_member(txn, tenant, room, user, Some(tx), Eligible::Active, now)?;
            let field = Field::new("tx_permission", Some(before.to_string()), Some(tx.to_string()));
            record(txn, (tenant, &actor, now), "room.member_updated", room, user, field)
        })
        .await?;
    c.back(&format!("/rooms/{room}"))
}

pub async fn remove_member(c: &Console<'_>) -> Result<Answer, Failure> {
    let (room, user) = (c.id(0)?, c.id(1)?);
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| {
            if !rooms::remove_member(txn, tenant, room, user, now)? {
                return Err(crate::store::Error::not_found("member"));
            }
            let field = Field::new("member", Some(user.to_string()), None);
            record(txn, (tenant, &actor, now), "room.member_removed", room, user, field)
        })
        .await?;
    c.back(&format!("/rooms/{room}"))
}
