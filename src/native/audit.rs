//! `GET /audit-log?after=&limit=` (scope `api_keys.manage`): who changed what through an admin
//! path, the tenant's entries in order.

use hyper::StatusCode;
use serde_json::json;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::Query;
use crate::http::response::Reply;
use crate::repr::keys::audit_json;
use crate::store::audit;

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

pub async fn list(ctx: &Ctx<'_>, query: Query) -> Result<Reply, ApiError> {
    let after = query.u64("after")?.unwrap_or(0);
    let limit = query.u64("limit")?.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let (tenant, limit) = (ctx.tenant, usize::try_from(limit).unwrap_or(usize::MAX));
    let entries = ctx.read(move |tx| audit::after(tx, tenant, after, limit)).await?;
    let next_after = entries.last().map_or(after, |e| e.seq);
    let entries: Vec<_> = entries.iter().map(audit_json).collect();
    Ok(Reply::json(StatusCode::OK, &json!({"entries": entries, "next_after": next_after})))
}
