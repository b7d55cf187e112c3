//! `/api-keys` (scope `api_keys.manage`): the tenant's keys over HTTP, through the same
//! operations as the admin commands, so a revoke is refused from the very next request. Never
//! a secret or a hash, but the secret of a key just issued, that once. No escalation: a key
//! grants only scopes it holds, and no longer a life than its own.

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::ScopeSet;
use crate::auth::app::KeyOrder;
use crate::auth::grant::Issuer;
use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{Id, Json, OptionalJson};
use crate::http::response::Reply;
use crate::repr::keys::{issued_json, key_json};
use crate::store::keys::{ApiKey, ScimProfile};
use crate::time::{in_from, now_ms};

/// `POST /api-keys`.
#[derive(Deserialize)]
pub struct NewKey {
    #[serde(default)]
    description: String,
    scopes: Vec<String>,
    /// `90s`, `15m`, `12h`, `30d`, `2w`.
    expires_in: Option<String>,
    /// RFC 3339.
    expires_at: Option<String>,
    /// `compatible` or `strict`; absent or null: the tenant's default.
    #[serde(default)]
    scim_profile: Option<String>,
}

/// `PATCH /api-keys/{id}`: what may change on an issued key.
#[derive(Deserialize)]
pub struct KeyChange {
    /// Absent: unchanged; null: the tenant's default.
    #[serde(default, deserialize_with = "crate::repr::input::present")]
    scim_profile: Option<Option<String>>,
}

fn scim_profile(name: Option<&str>) -> Result<Option<ScimProfile>, ApiError> {
    name.map(|n| ScimProfile::parse(n).map_err(ApiError::bad_request)).transpose()
}

/// `POST /api-keys/{id}/rotate`, optionally.
#[derive(Deserialize)]
pub struct Rotation {
    /// The old key stops by itself this long after the rotation (else it stays valid until
    /// revoked).
    expire_old_in: Option<String>,
}

pub async fn list(ctx: &Ctx<'_>, (): ()) -> Result<Reply, ApiError> {
    let slug = &ctx.caller.key.tenant.slug;
    let (_, keys) = ctx.state.app.keys(slug).await?;
    let now = now_ms();
    let keys: Vec<_> = keys.iter().map(|k| shown(ctx, k, now)).collect();
    Ok(Reply::json(StatusCode::OK, &json!({ "keys": keys })))
}

pub async fn get(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    let key = owned(ctx, id).await?;
    Ok(Reply::json(StatusCode::OK, &shown(ctx, &key, now_ms())))
}

/// A key's form, with the SCIM quirks the running server saw its requests need.
fn shown(ctx: &Ctx<'_>, key: &ApiKey, now: i64) -> serde_json::Value {
    let mut out = key_json(key, &ctx.caller.key.tenant.slug, now);
    let quirks = ctx.state.app.registry.by_id(key.id).map(|k| k.quirks()).unwrap_or_default();
    crate::repr::input::set_field(&mut out, "scim_quirks", json!(quirks));
    out
}

pub async fn create(ctx: &Ctx<'_>, Json(new): Json<NewKey>) -> Result<Reply, ApiError> {
    let scopes = ScopeSet::resolve_all(&new.scopes).map_err(ApiError::bad_request)?;
    let profile = scim_profile(new.scim_profile.as_deref())?;
    let now = now_ms();
    let expires_at = match (&new.expires_in, &new.expires_at) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give expires_in or expires_at, not both"));
        }
        (Some(d), None) => in_from(Some(d), now).map_err(ApiError::bad_request)?,
        (None, Some(at)) => Some(timestamp(at)?),
        (None, None) => None,
    };
    let slug = &ctx.caller.key.tenant.slug;
    let order =
        KeyOrder { scopes, description: &new.description, expires_at, scim_profile: profile };
    let issuer = Issuer::Key(&ctx.caller.key);
    let issued = ctx.state.app.issue_key(slug, order, issuer, &ctx.actor()).await?;
    Ok(Reply::json(StatusCode::CREATED, &issued_json(&issued.key, slug, &issued.secret, now)))
}

pub async fn patch(
    ctx: &Ctx<'_>,
    (Id(id), Json(change)): (Id, Json<KeyChange>),
) -> Result<Reply, ApiError> {
    let mut key = owned(ctx, id).await?;
    if let Some(name) = change.scim_profile {
        let profile = scim_profile(name.as_deref())?;
        key = ctx.state.app.set_key_scim_profile(id, profile, &ctx.actor()).await?;
    }
    Ok(Reply::json(StatusCode::OK, &shown(ctx, &key, now_ms())))
}

pub async fn revoke(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    owned(ctx, id).await?;
    let key = ctx.state.app.revoke_key(id, &ctx.actor()).await?;
    Ok(Reply::json(StatusCode::OK, &key_json(&key, &ctx.caller.key.tenant.slug, now_ms())))
}

/// A new key with the same scopes and description; the old one keeps working until revoked,
/// or for `expire_old_in` more.
pub async fn rotate(
    ctx: &Ctx<'_>,
    (Id(id), OptionalJson(rotation)): (Id, OptionalJson<Rotation>),
) -> Result<Reply, ApiError> {
    owned(ctx, id).await?;
    let now = now_ms();
    let expire_old_in = rotation.and_then(|r| r.expire_old_in);
    let old_expires_at = in_from(expire_old_in.as_deref(), now).map_err(ApiError::bad_request)?;
    let issuer = Issuer::Key(&ctx.caller.key);
    let issued = ctx.state.app.rotate_key(id, issuer, old_expires_at, &ctx.actor()).await?;
    let mut out = issued_json(&issued.key, &ctx.caller.key.tenant.slug, &issued.secret, now);
    crate::repr::input::set_field(&mut out, "replaces", json!(id));
    Ok(Reply::json(StatusCode::CREATED, &out))
}

/// The key `id` if it is the caller's tenant's (another tenant's answers like a missing one).
async fn owned(ctx: &Ctx<'_>, id: Uuid) -> Result<ApiKey, ApiError> {
    Ok(ctx.state.app.tenant_key(ctx.tenant, id).await?)
}

/// 403 unless the caller holds every one of `scopes`.
fn timestamp(text: &str) -> Result<i64, ApiError> {
    text.trim().parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|e| {
        ApiError::bad_request(format!("expires_at {text:?} is not an RFC 3339 time: {e}"))
    })
}
