//! Native user endpoints: `{"user": …}` for one, `{"users", "total", "limit", "offset"}` for a
//! page. `full_name` and `display_name` are the same field.

use hyper::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{Id, IfMatch, Object, Page};
use crate::http::response::Reply;
use crate::repr::input::{as_bool, plausible_email, roles_from_json};
use crate::repr::users::set_primary_email;
use crate::repr::users::user_json;
use crate::store::lifecycle;
use crate::store::users::{self, Roles, User};
use crate::time::now_ms;

fn one(status: StatusCode, u: &User) -> Reply {
    Reply::json(status, &json!({ "user": user_json(u) }))
}

pub async fn list(ctx: &Ctx<'_>, page: Page) -> Result<Reply, ApiError> {
    let (limit, offset) = (page.limit, page.offset);
    let fingerprint = crate::cursor::fingerprint(&["native users"]);
    let cursor = page.cursor(fingerprint)?;
    let tenant = ctx.tenant;
    let (total, page, last) = ctx
        .read(move |tx| -> crate::store::Result<_> {
            // One more than the page, to know whether another follows.
            let mut page = Vec::new();
            let mut take = |u: User| {
                page.push(u);
                Ok((page.len() as u64) <= limit)
            };
            match cursor {
                Some(after) => users::scan_after(tx, tenant, after, &mut take)?,
                None => users::scan(tx, tenant, offset, &mut take)?,
            }
            let more = page.len() as u64 > limit;
            page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let last = page.last().filter(|_| more).map(|u| u.id.as_u128());
            Ok((users::count(tx, tenant)?, page.iter().map(user_json).collect::<Vec<_>>(), last))
        })
        .await?;
    let next_cursor = last.map(|id| crate::cursor::encode(id, fingerprint));
    let mut body =
        json!({"users": page, "total": total, "limit": limit, "next_cursor": next_cursor});
    if cursor.is_none() {
        crate::repr::input::set_field(&mut body, "offset", json!(offset));
    }
    Ok(Reply::json(StatusCode::OK, &body))
}

pub async fn get(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let user = ctx.lookup(|tx| users::get(tx, tenant, id))?;
    Ok(one(StatusCode::OK, &user))
}

pub async fn create(ctx: &Ctx<'_>, Object(input): Object) -> Result<Reply, ApiError> {
    let now = now_ms();
    let mut user = User::new(Uuid::now_v7(), String::new(), now);
    UserChange::read(&input, Mode::Full)?.apply(&mut user);
    ctx.note_name(&user.user_name);
    let tenant = ctx.tenant;
    let stored = user.clone();
    ctx.write(move |txn| lifecycle::create_user(txn, tenant, &stored)).await?;
    Ok(one(StatusCode::CREATED, &user))
}

pub async fn replace(
    ctx: &Ctx<'_>,
    (id, if_match, Object(input)): (Id, IfMatch, Object),
) -> Result<Reply, ApiError> {
    change(ctx, id, if_match, input, Mode::Full).await
}

pub async fn patch(
    ctx: &Ctx<'_>,
    (id, if_match, Object(input)): (Id, IfMatch, Object),
) -> Result<Reply, ApiError> {
    change(ctx, id, if_match, input, Mode::Partial).await
}

/// Soft delete: the user stays, inactive, and frees its seat.
pub async fn deactivate(ctx: &Ctx<'_>, (id, if_match): (Id, IfMatch)) -> Result<Reply, ApiError> {
    let mut off = Map::new();
    off.insert("active".into(), json!(false));
    change(ctx, id, if_match, off, Mode::Partial).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

async fn change(
    ctx: &Ctx<'_>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
    input: Map<String, Value>,
    mode: Mode,
) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    // Read and checked before queueing, so a bad body never reaches the writer.
    let change = UserChange::read(&input, mode)?;
    let now = now_ms();
    let (user, _) = ctx
        .write(move |txn| {
            let mut next = users::get(txn, tenant, id)?;
            change.apply(&mut next);
            lifecycle::update_user(txn, tenant, next, if_match, now)
        })
        .await?;
    Ok(one(StatusCode::OK, &user))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// POST and PUT: omitted fields take their defaults.
    Full,
    /// PATCH: omitted fields stay as they are.
    Partial,
}

/// A native user body, read and checked once: `None` keeps a field as it is (PATCH), `Some`
/// sets it; unknown fields are ignored.
struct UserChange {
    email: Option<String>,
    /// `Some(None)`: the email (a full write that names none).
    user_name: Option<Option<String>>,
    display_name: Option<Option<String>>,
    external_id: Option<Option<String>>,
    given_name: Option<Option<String>>,
    family_name: Option<Option<String>>,
    active: Option<bool>,
    roles: Option<Roles>,
}

impl UserChange {
    /// With `Mode::Full` an omitted field takes its default, and the email is required.
    fn read(input: &Map<String, Value>, mode: Mode) -> Result<UserChange, ApiError> {
        let full = mode == Mode::Full;
        let email = match input.get("email") {
            Some(Value::String(e)) if plausible_email(e.trim()) => Some(e.trim().to_owned()),
            Some(Value::String(e)) => {
                return Err(ApiError::bad_request(format!("email {e:?} is not a valid address")));
            }
            Some(_) => return Err(ApiError::bad_request("email must be a string")),
            None if full => return Err(ApiError::bad_request("email is required")),
            None => None,
        };
        let user_name = match input.get("user_name") {
            Some(Value::String(u)) if !u.trim().is_empty() => Some(Some(u.trim().to_owned())),
            Some(_) => return Err(ApiError::bad_request("user_name must be a non-empty string")),
            None if full => Some(None),
            None => None,
        };
        let display = input.get("full_name").or_else(|| input.get("display_name"));
        let active = match input.get("active") {
            Some(v) => Some(
                as_bool(v).ok_or_else(|| ApiError::bad_request("active must be true or false"))?,
            ),
            None if full => Some(true),
            None => None,
        };
        let roles = match input.get("roles") {
            Some(v) => Some(roles_from_json(v).map_err(ApiError::bad_request)?),
            None if full => Some(Roles::default()),
            None => None,
        };
        Ok(UserChange {
            email,
            user_name,
            display_name: optional_string(display, "full_name", full)?,
            external_id: optional_string(input.get("external_id"), "external_id", full)?,
            given_name: optional_string(input.get("given_name"), "given_name", full)?,
            family_name: optional_string(input.get("family_name"), "family_name", full)?,
            active,
            roles,
        })
    }

    fn apply(&self, user: &mut User) {
        if let Some(email) = &self.email {
            set_primary_email(user, Some(email.clone()));
        }
        match &self.user_name {
            Some(Some(name)) => user.user_name = name.clone(),
            Some(None) => user.user_name = user.email.clone().unwrap_or_default(),
            None => {}
        }
        let set = |change: &Option<Option<String>>, target: &mut Option<String>| {
            if let Some(value) = change {
                target.clone_from(value);
            }
        };
        set(&self.display_name, &mut user.display_name);
        set(&self.external_id, &mut user.external_id);
        set(&self.given_name, &mut user.given_name);
        set(&self.family_name, &mut user.family_name);
        if let Some(active) = self.active {
            user.active = active;
        }
        if let Some(roles) = self.roles {
            user.roles = roles;
        }
    }
}

/// A field that may be a string or null: `Some(None)` clears it; omitted, a full write clears
/// it too and a partial one keeps it (`None`).
fn optional_string(
    v: Option<&Value>,
    name: &str,
    full: bool,
) -> Result<Option<Option<String>>, ApiError> {
    Ok(match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(Some(s.trim().to_owned())),
        Some(Value::String(_)) | Some(Value::Null) => Some(None),
        Some(_) => return Err(ApiError::bad_request(format!("{name} must be a string or null"))),
        None if full => Some(None),
        None => None,
    })
}
