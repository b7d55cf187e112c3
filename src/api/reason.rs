//! Why a provisioning request failed, in an operator's words, with what to do: read from the
//! store when the answer alone does not say (who holds a userName, which version a resource is
//! at, which members are deactivated). The client's answer itself is unchanged.

use uuid::Uuid;

use crate::http::error::ApiError;
use crate::provisioning::{Failure, Meta};
use crate::store::{self, Tx, rooms, users};

/// What a failed entry says about `err`.
pub fn failure(tx: &impl Tx, meta: &Meta, err: &ApiError, if_match: Option<&str>) -> Failure {
    let mut failure = bare(err);
    failure.reason = explain(tx, meta, err, &failure.detail, if_match).ok().flatten();
    failure
}

/// What a failed entry says when the store could not be read for more.
pub fn bare(err: &ApiError) -> Failure {
    let code = err.scim_type().unwrap_or(err.code()).to_owned();
    Failure { code, detail: err.message(), reason: None }
}

fn explain(
    tx: &impl Tx,
    meta: &Meta,
    err: &ApiError,
    detail: &str,
    if_match: Option<&str>,
) -> store::Result<Option<String>> {
    let tenant = meta.tenant;
    Ok(Some(match err {
        ApiError::Duplicate { holder, .. } => match meta.operation.kind {
            "user" => {
                let Some(user) = found(users::get(tx, tenant, *holder))? else { return Ok(None) };
                let (attribute, value) = if detail.contains("external") {
                    ("externalId", user.external_id.clone().unwrap_or_default())
                } else if detail.contains("email") {
                    ("email", user.email.clone().unwrap_or_default())
                } else {
                    ("userName", user.user_name.clone())
                };
                let status = if user.active { "active" } else { "deactivated" };
                format!(
                    "{attribute} {value} is already used by user {holder} ({}; {status}): the \
                     identity provider should match that user instead of creating one, or the \
                     other user should be renamed or deleted",
                    created(tx, tenant, *holder, user.created_at)?
                )
            }
            _ => {
                let Some(room) = found(rooms::get(tx, tenant, *holder))? else { return Ok(None) };
                format!(
                    "displayName {} is already used by group {holder} ({}): the identity \
                     provider should match that group instead of creating one",
                    room.display_name,
                    created(tx, tenant, *holder, room.created_at)?
                )
            }
        },
        ApiError::NoCapacity { licensed, used } => format!(
            "no free seat: {used} of {licensed} used — raise with `whoot-mgmt tenant set-seats`, \
             or deactivate users who no longer need one"
        ),
        ApiError::PreconditionFailed => {
            let version = match (meta.target, meta.operation.kind) {
                (Some(id), "user") => found(users::get(tx, tenant, id))?.map(|u| u.version),
                (Some(id), _) => found(rooms::get(tx, tenant, id))?.map(|r| r.version),
                _ => None,
            };
            let sent = if_match.unwrap_or("(none)");
            match version {
                Some(v) => format!(
                    "If-Match {sent} but the resource is at W/\"{v}\": the client should read \
                     it again and resend its change"
                ),
                None => format!("If-Match {sent} but the resource is gone"),
            }
        }
        ApiError::NotFound => match meta.target {
            Some(id) => format!(
                "{} {id} does not exist here (deleted, or created on another server): the \
                 identity provider's link to it is stale; re-match or re-create it there",
                meta.operation.kind
            ),
            None => return Ok(None),
        },
        ApiError::BadRequest { .. }
            if detail.contains("inactive users:") || detail.contains("unknown users:") =>
        {
            let ids = detail.rsplit(':').next().unwrap_or("");
            let mut said = Vec::new();
            for id in ids.split(',').filter_map(|s| s.trim().parse::<Uuid>().ok()).take(10) {
                said.push(match found(users::get(tx, tenant, id))? {
                    Some(u) if !u.active => format!("member {id} ({}) is deactivated", u.user_name),
                    Some(u) => format!("member {id} ({}) is active", u.user_name),
                    None => format!("member {id} does not exist"),
                });
            }
            format!("{}: reactivate or create them first, or leave them out", said.join("; "))
        }
        ApiError::BadRequest { detail, .. } if detail.contains("strict SCIM profile") => format!(
            "{detail}; to accept what this client sends, move the key to the compatible profile \
             (`whoot-mgmt key set-scim-profile`)"
        ),
        ApiError::Forbidden { required_scope } => format!(
            "the key “{}” lacks the scope {required_scope}: give the connection a key that holds \
             it (`whoot-mgmt key create --scopes …`)",
            meta.request.key_description
        ),
        ApiError::RateLimited { limit, .. } => format!(
            "the key made more than {limit} requests a minute: raise the tenant's limit \
             (`whoot-mgmt tenant set-rate-limit`) or slow the client's provisioning down"
        ),
        ApiError::Maintenance => "the tenant is in maintenance (being moved between servers): \
             writes resume after `whoot-mgmt tenant set-maintenance SLUG off`"
            .to_owned(),
        ApiError::StoreUnwritable => {
            "the server's disk refuses writes (full?): free space on it; writes resume by \
             themselves"
                .to_owned()
        }
        ApiError::Refused(m) => m.clone(),
        _ => return Ok(None),
    }))
}

/// "created by Okta on 2026-12-01", as far as the provisioning log remembers.
fn created(tx: &impl Tx, tenant: Uuid, id: Uuid, created_at: i64) -> store::Result<String> {
    let day = crate::time::date(created_at);
    let (first, _) = store::provisioning::first_and_last(tx, tenant, id)?;
    Ok(match first {
        Some(e) if e.operation.starts_with("create") => {
            format!("created by {} on {day}", e.client())
        }
        _ => format!("created on {day}"),
    })
}

fn found<T>(r: store::Result<T>) -> store::Result<Option<T>> {
    crate::provisioning::found(r)
}
