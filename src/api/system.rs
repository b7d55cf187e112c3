//! The endpoints without a key: `/healthz`, `/readyz`, `/openapi.json` and `/metrics` (on the API's address or
//! a listener of its own).

use std::sync::atomic::Ordering;

use hyper::StatusCode;

use crate::http::State;
use crate::http::error::ApiError;
use crate::http::response::Reply;
use crate::metrics::{Gauges, TenantSeats};
use crate::store::{self, counters, keys, tenants, webhooks};

/// How far ahead `whoot_api_keys_expiring` looks.
const EXPIRING_WITHIN_MS: i64 = 14 * 86_400_000;

pub fn healthz() -> Reply {
    Reply::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// The public keys that sign SCIM security events (RFC 7517 JWK Set): the current one and those
/// retired recently enough that a receiver may still hold a SET they signed.
pub fn jwks(state: &State) -> Reply {
    let publish = i64::try_from(state.settings.set_key_retired.as_millis()).unwrap_or(i64::MAX);
    let set = state.app.signing.jwks(crate::time::now_ms(), publish);
    Reply::json(StatusCode::OK, &set)
}

pub fn openapi() -> Reply {
    Reply::json_bytes(StatusCode::OK, super::openapi::bytes().to_vec())
}

/// Ready while the server is not stopping and its disk takes writes.
pub fn readyz(state: &State) -> Result<Reply, ApiError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        return Err(ApiError::Unavailable);
    }
    if !state.app.store.writable() {
        return Err(ApiError::StoreUnwritable);
    }
    Ok(healthz())
}

pub async fn metrics(state: &State, per_tenant: bool) -> Result<Reply, ApiError> {
    let now = crate::time::now_ms();
    let mut gauges = state
        .app
        .store
        .read(move |tx| {
            let mut seats = Vec::new();
            for t in tenants::list(tx)? {
                let used = counters::get(tx, t.id, counters::SEATS_PROVISIONED)?;
                seats.push(TenantSeats {
                    tenant: t.slug,
                    used,
                    capacity: u64::from(t.seat_capacity),
                });
            }
            let soon = now + EXPIRING_WITHIN_MS;
            let keys_expiring = keys::list_all(tx)?
                .iter()
                .filter(|k| k.revoked_at.is_none())
                .filter(|k| k.expires_at.is_some_and(|at| at > now && at <= soon))
                .count() as u64;
            Ok::<_, store::Error>(Gauges {
                seats,
                webhook_backlog: webhooks::backlog(tx)?,
                keys_expiring,
                store_bytes: 0,
            })
        })
        .await?;
    gauges.store_bytes = std::fs::metadata(state.app.store.path()).map(|m| m.len()).unwrap_or(0);
    Ok(Reply::text(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        crate::metrics::get().render(&gauges, per_tenant),
    ))
}
