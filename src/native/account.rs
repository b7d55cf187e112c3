//! `GET /me` and `GET /usage`: what a key is, and how many seats its tenant has left.

use hyper::StatusCode;
use serde::Serialize;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::response::Reply;
use crate::store::{counters, tenants};

#[derive(Serialize)]
struct Me<'a> {
    key_id: uuid::Uuid,
    tenant_slug: &'a str,
    tenant_id: uuid::Uuid,
    scopes: Vec<&'static str>,
    description: &'a str,
    /// The SCIM rules this key's requests are held to (its own, or its tenant's default).
    scim_profile: &'static str,
}

pub async fn me(ctx: &Ctx<'_>, (): ()) -> Result<Reply, ApiError> {
    let key = &ctx.caller.key;
    Ok(Reply::json(
        StatusCode::OK,
        &Me {
            key_id: key.id,
            tenant_slug: &key.tenant.slug,
            tenant_id: key.tenant.id,
            scopes: key.scopes.iter().map(|s| s.name()).collect(),
            description: &key.description,
            scim_profile: key.scim_profile().name(),
        },
    ))
}

#[derive(Serialize)]
pub struct Usage {
    pub seat_capacity: u64,
    pub seats_provisioned: u64,
    pub seats_available: u64,
}

pub async fn usage(ctx: &Ctx<'_>, (): ()) -> Result<Reply, ApiError> {
    let tenant_id = ctx.tenant;
    let usage = ctx
        .read(move |tx| -> crate::store::Result<_> {
            let capacity = u64::from(tenants::get(tx, tenant_id)?.seat_capacity);
            let used = counters::get(tx, tenant_id, counters::SEATS_PROVISIONED)?;
            Ok(Usage {
                seat_capacity: capacity,
                seats_provisioned: used,
                seats_available: capacity.saturating_sub(used),
            })
        })
        .await?;
    Ok(Reply::json(StatusCode::OK, &usage))
}
