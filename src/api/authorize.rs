//! The one place a request is authenticated, scoped and rate-limited.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;

use crate::auth::{KeyState, Scope, ratelimit::Decision, secret};
use crate::http::error::ApiError;
use crate::http::{Caller, State};
use crate::time::now_ms;

/// What a caller needs to reach an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    AnyKey,
    Scope(Scope),
    /// Any SCIM read scope (discovery).
    ScimRead,
    /// Any SCIM write scope (Bulk; each operation then checks its own).
    ScimWrite,
    /// A console page: a session, not a key (`console::serve` checks it).
    Console(crate::console::Page),
}

pub fn authorize(
    state: &State,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    tenant_slug: Option<&str>,
    access: Access,
) -> Result<Caller, (ApiError, Option<Arc<KeyState>>)> {
    let now = Instant::now();
    // The admin socket has no peer address; the API always does.
    let ip = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // A valid key is always served (subject only to its own bucket): behind a proxy every
    // client shares one address, and one client's bad keys must not lock out the others. The
    // failure limit only slows guessing.
    let key = match verify(state, headers) {
        Ok(key) => key,
        Err(refusal) => {
            if let Some(retry_after_secs) = state.auth_failures.blocked(ip, now) {
                crate::metrics::get().auth_failure("blocked");
                return Err((ApiError::TooManyAuthFailures { retry_after_secs }, None));
            }
            state.auth_failures.record_failure(ip, now);
            crate::metrics::get().auth_failure("invalid_key");
            return Err((refusal, None));
        }
    };
    // Another tenant's slug answers exactly like an unknown one.
    if tenant_slug.is_some_and(|slug| slug != key.tenant.slug) {
        return Err((ApiError::NotFound, None));
    }
    if let Err(e) = permits(&key, access) {
        return Err((e, Some(key)));
    }
    let per_minute = key.tenant.rate_limit(state.settings.default_rate_limit);
    match key.bucket.take(per_minute, now) {
        Decision::Allowed { limit, remaining, reset_secs } => {
            Ok(Caller { key, limit, remaining, reset_secs })
        }
        Decision::Limited { limit, retry_after_secs, reset_secs } => {
            crate::metrics::get().rate_limited();
            Err((ApiError::RateLimited { limit, retry_after_secs, reset_secs }, Some(key)))
        }
    }
}

/// The active key named by `Authorization: Bearer …`, without touching the disk.
fn verify(state: &State, headers: &HeaderMap) -> Result<Arc<KeyState>, ApiError> {
    let token = bearer_token(headers)?;
    let key = state.app.registry.by_hash(&secret::hash(token)).ok_or(ApiError::Unauthorized)?;
    let now = now_ms();
    if !key.is_active(now) {
        return Err(ApiError::Unauthorized);
    }
    key.touch(now);
    Ok(key)
}

/// The well-formed key in `Authorization`. Okta's field for the header's value invites
/// `Bearer Bearer wh_live_…`, so one doubled scheme is accepted; a key with no scheme is
/// refused with a message saying to add it.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let value = value.ok_or(ApiError::Unauthorized)?.trim();
    if secret::well_formed(value) {
        return Err(ApiError::BareKey);
    }
    let token = without_scheme(value).ok_or(ApiError::Unauthorized)?;
    let token = without_scheme(token).unwrap_or(token);
    if secret::well_formed(token) { Ok(token) } else { Err(ApiError::Unauthorized) }
}

fn without_scheme(value: &str) -> Option<&str> {
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, rest)| rest.trim())
}

/// Whether `key` holds what `access` asks for (the request's, or a Bulk operation's endpoint).
pub fn permits(key: &KeyState, access: Access) -> Result<(), ApiError> {
    match access {
        Access::Scope(scope) if !key.scopes.contains(scope) => {
            Err(ApiError::Forbidden { required_scope: scope.name() })
        }
        Access::ScimRead
            if !key.scopes.contains(Scope::ScimUsersRead)
                && !key.scopes.contains(Scope::ScimGroupsRead) =>
        {
            Err(ApiError::Forbidden { required_scope: Scope::ScimUsersRead.name() })
        }
        Access::ScimWrite
            if !key.scopes.contains(Scope::ScimUsersWrite)
                && !key.scopes.contains(Scope::ScimGroupsWrite) =>
        {
            Err(ApiError::Forbidden { required_scope: Scope::ScimUsersWrite.name() })
        }
        _ => Ok(()),
    }
}
