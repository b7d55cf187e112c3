//! Native rooms (alias channels) and their members. `DELETE /rooms/{id}` removes only the SCIM
//! group mapping; the room and its members stay.

use std::collections::HashMap;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{Id, Json, Page, SubId};
use crate::http::response::Reply;
use crate::repr::input::{Flag, NullableText};
use crate::repr::rooms::room_json;
use crate::store::rooms::{self, Added, Eligible};
use crate::store::{counters, users};
use crate::time::now_ms;

pub async fn list(ctx: &Ctx<'_>, page: Page) -> Result<Reply, ApiError> {
    let (limit, offset) = (page.limit, page.offset);
    let tenant = ctx.tenant;
    let (total, page) = ctx
        .read(move |tx| -> crate::store::Result<_> {
            let mut page = Vec::new();
            if limit > 0 {
                rooms::scan(tx, tenant, offset, |r| {
                    page.push(room_json(&r));
                    Ok((page.len() as u64) < limit)
                })?;
            }
            Ok((counters::get(tx, tenant, counters::ROOMS)?, page))
        })
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"rooms": page, "total": total, "limit": limit, "offset": offset}),
    ))
}

pub async fn get(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let room = ctx.lookup(|tx| rooms::get(tx, tenant, id))?;
    Ok(Reply::json(StatusCode::OK, &room_json(&room)))
}

/// `PATCH /rooms/{id}`: the group mapping's names; an omitted field stays as it is.
#[derive(Deserialize)]
pub struct RoomChange {
    display_name: Option<String>,
    /// Null removes it; a value maps an unmapped room.
    #[serde(default, deserialize_with = "crate::repr::input::present")]
    external_id: Option<NullableText>,
}

/// Changes the display name and/or external id of the room's group mapping. Setting an
/// external id maps an unmapped room.
pub async fn patch(
    ctx: &Ctx<'_>,
    (Id(id), Json(change)): (Id, Json<RoomChange>),
) -> Result<Reply, ApiError> {
    let display = match change.display_name.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(ApiError::bad_request("display_name must be a non-empty string")),
        Some(d) => Some(d.to_owned()),
    };
    let external = change.external_id.map(NullableText::into_option);
    let (tenant, now) = (ctx.tenant, now_ms());
    let room = ctx
        .write(move |txn| {
            let mut next = rooms::get(txn, tenant, id)?;
            next.display_name = display.clone().unwrap_or(next.display_name);
            if let Some(x) = &external {
                // An external id maps the room; clearing it keeps the mapping.
                next.mapped |= x.is_some();
                next.external_id = x.clone();
            }
            rooms::update(txn, tenant, next, None, now)
        })
        .await?;
    Ok(Reply::json(StatusCode::OK, &room_json(&room)))
}

pub async fn unmap(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    let (tenant, now) = (ctx.tenant, now_ms());
    ctx.write(move |txn| rooms::unmap(txn, tenant, id, None, now)).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub async fn members(ctx: &Ctx<'_>, (Id(id), page): (Id, Page)) -> Result<Reply, ApiError> {
    let (limit, offset, tenant) = (page.limit, page.offset, ctx.tenant);
    let fingerprint = crate::cursor::fingerprint(&["native members", &id.to_string()]);
    let cursor = page.cursor(fingerprint)?;
    let (room, page, last) = ctx
        .read(move |tx| -> crate::store::Result<_> {
            let room = rooms::get(tx, tenant, id)?;
            // One more than the page, to know whether another follows.
            let mut members = match cursor {
                Some(after) => {
                    rooms::members(tx, tenant, id, rooms::From::After(after), limit + 1)?
                }
                None => rooms::members(tx, tenant, id, rooms::From::Skip(offset), limit + 1)?,
            };
            let more = members.len() as u64 > limit;
            members.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let last = members.last().filter(|_| more).map(|(u, _)| u.as_u128());
            let mut page = Vec::new();
            for (user, tx_permission) in members {
                let u = users::get(tx, tenant, user)?;
                page.push(
                    json!({"user_id": user, "tx_permission": tx_permission, "email": u.email,
                    "display_name": crate::repr::users::display_name(&u)}),
                );
            }
            Ok((room, page, last))
        })
        .await?;
    let next_cursor = last.map(|u| crate::cursor::encode(u, fingerprint));
    let mut body = json!({"room_id": room.id, "members": page, "total": room.member_count,
        "limit": limit, "next_cursor": next_cursor});
    if cursor.is_none() {
        crate::repr::input::set_field(&mut body, "offset", json!(offset));
    }
    Ok(Reply::json(StatusCode::OK, &body))
}

/// `GET /rooms/{id}/members/{user}`: whether the user is a member, from the membership row
/// alone (404 when not, or when the room does not exist).
pub async fn member(
    ctx: &Ctx<'_>,
    (Id(room), SubId(user)): (Id, SubId),
) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let (u, tx_permission) = ctx
        .read(move |tx| {
            let Some(tx_permission) = rooms::membership(tx, tenant, room, user)? else {
                return Err(crate::store::Error::not_found("member"));
            };
            Ok((users::get(tx, tenant, user)?, tx_permission))
        })
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"user_id": user, "tx_permission": tx_permission, "email": u.email,
            "display_name": crate::repr::users::display_name(&u)}),
    ))
}

/// A member named in a body: `{"user_id": …}`, with `tx_permission` where it may be set.
#[derive(Deserialize)]
pub struct MemberInput {
    user_id: String,
    tx_permission: Option<Flag>,
}

impl MemberInput {
    fn user(&self) -> Result<Uuid, ApiError> {
        Uuid::parse_str(self.user_id.trim()).map_err(|_| {
            ApiError::bad_request(format!("unknown or inactive users: {}", self.user_id))
        })
    }
}

/// Adds one member: 201 when new, 200 when already a member (its tx_permission updated).
pub async fn add_member(
    ctx: &Ctx<'_>,
    (Id(room), Json(input)): (Id, Json<MemberInput>),
) -> Result<Reply, ApiError> {
    let (user, tx) = (input.user()?, input.tx_permission.map(|f| f.0));
    let (tenant, now) = (ctx.tenant, now_ms());
    let (outcome, tx_permission) = ctx
        .write(move |txn| -> crate::store::Result<_> {
            // A plain POST of a new member without tx_permission means false.
            let outcome = rooms::add_member(txn, tenant, room, user, tx, Eligible::Active, now)?;
            Ok((outcome, rooms::membership(txn, tenant, room, user)?.unwrap_or(false)))
        })
        .await?;
    let status = if outcome == Added::New { StatusCode::CREATED } else { StatusCode::OK };
    Ok(Reply::json(
        status,
        &json!({"ok": true, "user_id": user, "room_id": room, "tx_permission": tx_permission}),
    ))
}

/// `PUT /rooms/{id}/members`: the whole member list.
#[derive(Deserialize)]
pub struct MemberList {
    members: Vec<MemberInput>,
}

/// Full replace: the request's list becomes the member list, atomically.
pub async fn sync_members(
    ctx: &Ctx<'_>,
    (Id(room), Json(list)): (Id, Json<MemberList>),
) -> Result<Reply, ApiError> {
    let mut wanted = HashMap::with_capacity(list.members.len());
    let mut bad = Vec::new();
    for entry in &list.members {
        match Uuid::parse_str(entry.user_id.trim()) {
            Ok(id) => {
                wanted.insert(id, Some(entry.tx_permission.is_some_and(|f| f.0)));
            }
            Err(_) => bad.push(entry.user_id.clone()),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "unknown or inactive users: {}",
            bad.join(", ")
        )));
    }
    let (tenant, now) = (ctx.tenant, now_ms());
    let counts = ctx
        .write(move |txn| rooms::sync_members(txn, tenant, room, &wanted, Eligible::Active, now))
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"room_id": room, "members_added": counts.added, "members_updated": counts.updated,
            "members_removed": counts.removed}),
    ))
}

pub async fn remove_member(
    ctx: &Ctx<'_>,
    (Id(room), SubId(user)): (Id, SubId),
) -> Result<Reply, ApiError> {
    remove(ctx, room, user).await
}

/// `DELETE /channels/{id}/members` with `{"user_id": …}`.
pub async fn remove_member_by_body(
    ctx: &Ctx<'_>,
    (Id(room), Json(input)): (Id, Json<MemberInput>),
) -> Result<Reply, ApiError> {
    remove(ctx, room, input.user()?).await
}

async fn remove(ctx: &Ctx<'_>, room: Uuid, user: Uuid) -> Result<Reply, ApiError> {
    let (tenant, now) = (ctx.tenant, now_ms());
    let removed = ctx.write(move |txn| rooms::remove_member(txn, tenant, room, user, now)).await?;
    if removed { Ok(Reply::empty(StatusCode::NO_CONTENT)) } else { Err(ApiError::NotFound) }
}
