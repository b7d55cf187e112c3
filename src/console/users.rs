//! The Users pages: search (userName, email or externalId by prefix, names by part), a filter by
//! status (active, deactivated, deleted through SCIM), pages of 50; a user's page (attributes,
//! roles, rooms with transmit, the change stream's and the audit log's entries about them); and
//! deactivate/reactivate after a confirmation that names the consequences. Changes go through the
//! store's `users::update`, as the APIs do (seats, owner protection, events), and are audited.

use askama::Template;
use uuid::Uuid;

use super::Console;
use super::overview::{AuditRow, audit_row};
use super::view::{Answer, Chrome, Failure, when};
use crate::http::error::ApiError;
use crate::repr::users::display_name;
use crate::store::audit;
use crate::store::users::{self, User, Walk};
use crate::store::{counters, events, operator, rooms, tenants};
use crate::time::now_ms;

const PAGE: usize = 50;
/// How far back a user's page looks for their events and audit entries.
const HISTORY_SCAN: usize = 2_000;
const HISTORY_SHOWN: usize = 20;

pub struct UserRow {
    pub id: String,
    pub user_name: String,
    pub email: String,
    pub name: String,
    pub external_id: String,
    pub active: bool,
    /// Deleted through SCIM: shown, read-only.
    pub deleted: bool,
}

fn user_row(u: &User) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        user_name: u.user_name.clone(),
        email: u.email.clone().unwrap_or_default(),
        name: display_name(u).unwrap_or_default(),
        external_id: u.external_id.clone().unwrap_or_default(),
        active: u.active,
        deleted: u.deleted_at.is_some(),
    }
}

/// The list's status filter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    All,
    Active,
    Deactivated,
    Deleted,
}

impl Status {
    fn parse(raw: Option<&str>) -> Result<Status, ApiError> {
        Ok(match raw.unwrap_or("all") {
            "" | "all" => Status::All,
            "active" => Status::Active,
            "deactivated" => Status::Deactivated,
            "deleted" => Status::Deleted,
            _ => {
                return Err(ApiError::bad_request(
                    "status must be all, active, deactivated or deleted",
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Status::All => "all",
            Status::Active => "active",
            Status::Deactivated => "deactivated",
            Status::Deleted => "deleted",
        }
    }

    fn admits(self, u: &User) -> bool {
        match self {
            Status::All => true,
            Status::Active => u.active,
            Status::Deactivated => !u.active,
            Status::Deleted => u.deleted_at.is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Chrome,
    q: String,
    status: &'static str,
    users: Vec<UserRow>,
    total: u64,
    /// The query string of the next page.
    next: Option<String>,
    searching: bool,
    /// The name search stopped before the end of a large tenant.
    cut: bool,
}

impl UsersPage {
    fn status_is(&self, name: &str) -> bool {
        self.status == name
    }
}

fn number(c: &Console<'_>, name: &str) -> Result<u64, ApiError> {
    match c.form().get(name) {
        Some(v) => v.parse().map_err(|_| ApiError::bad_request(format!("{name} must be a number"))),
        None => Ok(0),
    }
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    let q = c.form().get("q").unwrap_or_default().trim().to_owned();
    let status = Status::parse(c.form().get("status"))?;
    let after = match c.form().get("after") {
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| ApiError::bad_request("after must be a user id"))?
                .as_u128(),
        ),
        None => None,
    };
    let offset = number(c, "offset")?;
    let (tenant, search, scan) = (c.ctx.tenant, q.clone(), c.ctx.state.settings.scan_limit);
    let (total, mut found, cut) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let total = users::count(tx, tenant)?;
            let mut page = Vec::with_capacity(PAGE + 1);
            if status == Status::Deleted {
                let needle = search.to_lowercase();
                let deleted = users::list_deleted(tx, tenant)?.into_iter().filter(|u| {
                    let email = u.email.as_deref().unwrap_or_default().to_lowercase();
                    u.user_name.to_lowercase().contains(&needle) || email.contains(&needle)
                });
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                return Ok((total, deleted.skip(skip).take(PAGE + 1).collect(), false));
            }
            if !search.is_empty() {
                let (found, cut) = users::search(tx, tenant, &search, PAGE, scan)?;
                return Ok((total, found.into_iter().filter(|u| status.admits(u)).collect(), cut));
            }
            match status {
                Status::Active | Status::Deactivated => {
                    let on = status == Status::Active;
                    users::walk(tx, tenant, Walk::Active(on), offset, |id| {
                        page.push(users::get(tx, tenant, id)?);
                        Ok(page.len() <= PAGE)
                    })?;
                }
                _ => users::scan_after(tx, tenant, after, |u| {
                    page.push(u);
                    Ok(page.len() <= PAGE)
                })?,
            }
            Ok((total, page, false))
        })
        .await?;
    let more = found.len() > PAGE;
    found.truncate(PAGE);
    let searching = !q.is_empty();
    let next = match (more && !searching, status) {
        (false, _) => None,
        (true, Status::All) => found.last().map(|u| format!("after={}", u.id)),
        (true, _) => Some(format!("status={}&offset={}", status.name(), offset + PAGE as u64)),
    };
    let page = UsersPage {
        chrome: c.chrome("users"),
        searching,
        status: status.name(),
        q,
        users: found.iter().map(user_row).collect(),
        total,
        next,
        cut,
    };
    Answer::page(&page)
}

pub struct RoomRow {
    pub id: String,
    pub name: String,
    pub tx: bool,
}

pub struct EventRow {
    pub seq: u64,
    pub at: String,
    pub event_type: String,
}

/// One attribute of the user page: its name and value.
pub struct Attr {
    pub name: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserRow,
    attrs: Vec<Attr>,
    rooms: Vec<RoomRow>,
    events: Vec<EventRow>,
    audit: Vec<AuditRow>,
    may_write: bool,
    /// Who created it and who changed it last, by the provisioning log (for a key that may read
    /// the log): "Okta, 2026-12-01 14:30 UTC (entry 12)".
    provenance: Option<Provenance>,
}

pub struct Provenance {
    pub created: Option<(String, u64)>,
    pub changed: Option<(String, u64)>,
}

fn provenance_of(e: &crate::store::provisioning::Entry) -> (String, u64) {
    (format!("{}, {} ({})", e.client(), when(Some(e.at)), e.operation), e.seq)
}

fn attributes(u: &User) -> Vec<Attr> {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let roles: Vec<&str> = [("admin", u.roles.admin), ("member", u.roles.member)]
        .into_iter()
        .chain([("editor", u.roles.editor)])
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
    let emails: Vec<String> = u
        .emails
        .iter()
        .map(|e| match (&e.kind, e.primary) {
            (Some(kind), Some(true)) => format!("{} ({kind}, primary)", e.value),
            (Some(kind), _) => format!("{} ({kind})", e.value),
            (None, Some(true)) => format!("{} (primary)", e.value),
            (None, _) => e.value.clone(),
        })
        .collect();
    vec![
        Attr { name: "id", value: u.id.to_string() },
        Attr { name: "userName", value: u.user_name.clone() },
        Attr { name: "externalId", value: or_none(&u.external_id) },
        Attr { name: "Name", value: display_name(u).unwrap_or_else(|| "—".into()) },
        Attr { name: "Given name", value: or_none(&u.given_name) },
        Attr { name: "Family name", value: or_none(&u.family_name) },
        Attr {
            name: "Emails",
            value: if emails.is_empty() { "—".into() } else { emails.join(", ") },
        },
        Attr {
            name: "Roles",
            value: if roles.is_empty() { "none".into() } else { roles.join(", ") },
        },
        Attr {
            name: "Status",
            value: if u.active { "active".into() } else { "deactivated".into() },
        },
        Attr { name: "Created", value: when(Some(u.created_at)) },
        Attr {
            name: "Last changed",
            value: format!("{} (version {})", when(Some(u.updated_at)), u.version),
        },
    ]
}

/// `GET /console/users/{id}`.
pub async fn show(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let tenant = c.ctx.tenant;
    let see_audit = c.key().scopes.contains(crate::auth::Scope::ApiKeysManage);
    let (user, rooms, events, entries, provenance) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let user = users::get(tx, tenant, id)?;
            let provenance = match see_audit {
                true => {
                    let (first, last) = crate::provisioning::creator_and_changer(tx, tenant, id)?;
                    let created = first
                        .filter(|e| e.operation.contains("create user"))
                        .map(|e| provenance_of(&e));
                    Some(Provenance { created, changed: last.map(|e| provenance_of(&e)) })
                }
                false => None,
            };
            let mut in_rooms = Vec::new();
            for room in rooms::rooms_of(tx, tenant, id)? {
                let r = rooms::get(tx, tenant, room)?;
                let tx_permission = rooms::membership(tx, tenant, room, id)?.unwrap_or(false);
                in_rooms.push(RoomRow {
                    id: r.id.to_string(),
                    name: r.display_name,
                    tx: tx_permission,
                });
            }
            let mut about = Vec::new();
            events::newest_first(tx, tenant, HISTORY_SCAN, |e| {
                let mine = match &e.data {
                    events::EventData::Member { user, .. } => *user == id,
                    _ => e.resource == id,
                };
                if mine {
                    about.push(EventRow {
                        seq: e.seq,
                        at: when(Some(e.occurred_at)),
                        event_type: e.event_type,
                    });
                }
                Ok(about.len() < HISTORY_SHOWN)
            })?;
            let needle = id.to_string();
            let entries = match see_audit {
                true => audit::before(tx, tenant, None, HISTORY_SCAN)?
                    .into_iter()
                    .filter(|e| e.target.contains(&needle))
                    .take(HISTORY_SHOWN)
                    .collect(),
                false => Vec::new(),
            };
            Ok((user, in_rooms, about, entries, provenance))
        })
        .await?;
    let page = UserPage {
        chrome: c.chrome("users"),
        attrs: attributes(&user),
        user: user_row(&user),
        rooms,
        events,
        audit: entries.iter().map(audit_row).collect(),
        may_write: c.key().scopes.contains(crate::auth::Scope::ApiUsersWrite),
        provenance,
    };
    Answer::page(&page)
}

#[derive(Template)]
#[template(path = "console/user-active.html")]
struct ConfirmPage {
    chrome: Chrome,
    user: UserRow,
    /// Deactivating: the rooms the user leaves.
    rooms: usize,
    used: u64,
    capacity: u64,
}

fn wanted(c: &Console<'_>) -> Result<bool, ApiError> {
    match c.form().get("active") {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        _ => Err(ApiError::bad_request("active must be true or false")),
    }
}

/// `GET /console/users/{id}/active?active=true|false`: what the change will do, and a button.
pub async fn confirm(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let active = wanted(c)?;
    let tenant = c.ctx.tenant;
    let (user, rooms, used, capacity) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let user = users::get(tx, tenant, id)?;
            let rooms = rooms::rooms_of(tx, tenant, id)?.len();
            let used = counters::get(tx, tenant, counters::SEATS_PROVISIONED)?;
            let capacity = u64::from(tenants::get(tx, tenant)?.seat_capacity);
            Ok((user, rooms, used, capacity))
        })
        .await?;
    if user.active == active {
        return c.back(&format!("/users/{id}"));
    }
    let page =
        ConfirmPage { chrome: c.chrome("users"), user: user_row(&user), rooms, used, capacity };
    Answer::page(&page)
}

/// `POST /console/users/{id}/active` with `active=true|false`.
pub async fn set_active(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let active = wanted(c)?;
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| operator::set_active(txn, tenant, id, active, &actor, now).map(|_| ()))
        .await?;
    c.back(&format!("/users/{id}"))
}
