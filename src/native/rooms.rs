//! Native rooms (alias channels) and their members. `DELETE /rooms/{id}` removes only the SCIM
//! group mapping; the room and its members stay.

use std::collections::HashMap;

use hyper::StatusCode;
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::{Ctx, body, path_uuid, response};
use crate::repr::input::as_bool;
use crate::store::rooms::{self, Added, Eligible, Room};
use crate::store::{counters, users};
use crate::time::{format_ms, now_ms};

pub fn room_json(r: &Room) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "display_name": r.display_name,
        "external_id": r.external_id,
        "mapped": r.mapped,
        "member_count": r.member_count,
        "created_at": format_ms(r.created_at),
        "updated_at": format_ms(r.updated_at),
    })
}

pub async fn list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = ctx.limit_offset()?;
    let tenant = ctx.tenant;
    let (total, page) = ctx
        .store()
        .read(move |tx| {
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
    Ok(response::json(
        StatusCode::OK,
        &json!({"rooms": page, "total": total, "limit": limit, "offset": offset}),
    ))
}

pub async fn get(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (ctx.tenant, path_uuid(raw)?);
    let room = ctx.store().read(move |tx| rooms::get(tx, tenant, id)).await?;
    Ok(response::json(StatusCode::OK, &room_json(&room)))
}

/// Changes the display name and/or external id of the room's group mapping. Setting an
/// external id maps an unmapped room.
pub async fn patch(ctx: &Ctx<'_>, raw: &str, body: Incoming) -> Result<HttpResponse, ApiError> {
    let input: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    let Value::Object(input) = input else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let display = match input.get("display_name") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(_) => return Err(ApiError::bad_request("display_name must be a non-empty string")),
    };
    let external = match input.get("external_id") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(Some(s.trim().to_owned())),
        Some(Value::Null) => Some(None),
        Some(_) => return Err(ApiError::bad_request("external_id must be a string or null")),
    };
    let (tenant, id, now) = (ctx.tenant, path_uuid(raw)?, now_ms());
    let room = ctx
        .store()
        .write(move |txn| {
            let mut next = rooms::get(txn, tenant, id)?;
            if let Some(d) = &display {
                next.display_name = d.clone();
            }
            if let Some(x) = &external {
                next.external_id = x.clone();
                next.mapped |= x.is_some();
            }
            rooms::update(txn, tenant, next, None, now)
        })
        .await?;
    Ok(response::json(StatusCode::OK, &room_json(&room)))
}

pub async fn unmap(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (tenant, id, now) = (ctx.tenant, path_uuid(raw)?, now_ms());
    ctx.store().write(move |txn| rooms::unmap(txn, tenant, id, None, now)).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

pub async fn members(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = ctx.limit_offset()?;
    let (tenant, id) = (ctx.tenant, path_uuid(raw)?);
    let fingerprint = crate::cursor::fingerprint(&["native members", &id.to_string()]);
    let cursor = ctx.cursor(fingerprint)?;
    let (room, page, last) = ctx
        .store()
        .read(move |tx| {
            let room = rooms::get(tx, tenant, id)?;
            // One more than the page, to know whether another follows.
            let mut members = match cursor {
                Some(after) => rooms::members_after(tx, tenant, id, after, limit + 1)?,
                None => rooms::members_page(tx, tenant, id, offset, limit + 1)?,
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
    Ok(response::json(StatusCode::OK, &body))
}

fn user_id_field(input: &Map<String, Value>) -> Result<Uuid, ApiError> {
    let raw = input
        .get("user_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("user_id is required"))?;
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::bad_request(format!("unknown or inactive users: {raw}")))
}

fn tx_field(input: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match input.get("tx_permission") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("tx_permission must be true or false")),
    }
}

async fn object(ctx: &Ctx<'_>, body: Incoming) -> Result<Map<String, Value>, ApiError> {
    match body::json(&ctx.parts.headers, body, ctx.body_limit()).await? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

/// Adds one member: 201 when new, 200 when already a member (its tx_permission updated).
pub async fn add_member(
    ctx: &Ctx<'_>,
    raw: &str,
    body: Incoming,
) -> Result<HttpResponse, ApiError> {
    let input = object(ctx, body).await?;
    let (user, tx) = (user_id_field(&input)?, tx_field(&input)?);
    let (tenant, room, now) = (ctx.tenant, path_uuid(raw)?, now_ms());
    let (outcome, tx_permission) = ctx
        .store()
        .write(move |txn| {
            // A plain POST of a new member without tx_permission means false.
            let outcome = rooms::add_member(txn, tenant, room, user, tx, Eligible::Active, now)?;
            Ok((outcome, rooms::membership(txn, tenant, room, user)?.unwrap_or(false)))
        })
        .await?;
    let status = if outcome == Added::New { StatusCode::CREATED } else { StatusCode::OK };
    Ok(response::json(
        status,
        &json!({"ok": true, "user_id": user, "room_id": room, "tx_permission": tx_permission}),
    ))
}

/// Full replace: the request's list becomes the member list, atomically.
pub async fn sync_members(
    ctx: &Ctx<'_>,
    raw: &str,
    body: Incoming,
) -> Result<HttpResponse, ApiError> {
    let input = object(ctx, body).await?;
    let list = input.get("members").and_then(Value::as_array).ok_or_else(|| {
        ApiError::bad_request("members must be an array of {user_id, tx_permission}")
    })?;
    let mut wanted = HashMap::with_capacity(list.len());
    let mut bad = Vec::new();
    for entry in list {
        let Some(entry) = entry.as_object() else {
            return Err(ApiError::bad_request(
                "members must be an array of {user_id, tx_permission}",
            ));
        };
        match entry.get("user_id").and_then(Value::as_str).map(|s| Uuid::parse_str(s.trim())) {
            Some(Ok(id)) => {
                wanted.insert(id, Some(tx_field(entry)?.unwrap_or(false)));
            }
            Some(Err(_)) => bad.push(entry["user_id"].as_str().unwrap_or_default().to_owned()),
            None => return Err(ApiError::bad_request("every member needs a user_id")),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "unknown or inactive users: {}",
            bad.join(", ")
        )));
    }
    let (tenant, room, now) = (ctx.tenant, path_uuid(raw)?, now_ms());
    let counts = ctx
        .store()
        .write(move |txn| rooms::sync_members(txn, tenant, room, &wanted, Eligible::Active, now))
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"room_id": room, "members_added": counts.added, "members_updated": counts.updated,
            "members_removed": counts.removed}),
    ))
}

pub async fn remove_member(
    ctx: &Ctx<'_>,
    raw: &str,
    raw_user: &str,
) -> Result<HttpResponse, ApiError> {
    let user = path_uuid(raw_user)?;
    remove(ctx, raw, user).await
}

/// `DELETE /channels/{id}/members` with `{"user_id": …}`.
pub async fn remove_member_by_body(
    ctx: &Ctx<'_>,
    raw: &str,
    body: Incoming,
) -> Result<HttpResponse, ApiError> {
    let input = object(ctx, body).await?;
    let user = user_id_field(&input)?;
    remove(ctx, raw, user).await
}

async fn remove(ctx: &Ctx<'_>, raw: &str, user: Uuid) -> Result<HttpResponse, ApiError> {
    let (tenant, room, now) = (ctx.tenant, path_uuid(raw)?, now_ms());
    let removed =
        ctx.store().write(move |txn| rooms::remove_member(txn, tenant, room, user, now)).await?;
    if removed { Ok(response::empty(StatusCode::NO_CONTENT)) } else { Err(ApiError::NotFound) }
}
