//! SCIM 2.0 service provider (RFC 7643/7644): the Users and Groups endpoints (each a resource
//! form beside its endpoints), the root `.search`, discovery, and the pure parsers for filters
//! and PATCH paths with the list parameters they feed.

pub mod discovery;
pub mod events;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
pub mod receivers;
pub mod schemas;
pub mod search;
pub mod strict;
pub mod users;

use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::request::{IfMatch, Ref};
use crate::http::response::Reply;
use crate::store::WriteTxn;

/// Deletes a user or unmaps a group: `remove` takes what the path names (an id or an
/// externalId) and answers the resource's id; 204 with where it was (a Bulk result shows it).
async fn delete<F>(
    ctx: &crate::http::Ctx<'_>,
    (Ref(raw), IfMatch(if_match)): (Ref, IfMatch),
    collection: String,
    remove: F,
) -> Result<Reply, ApiError>
where
    F: Fn(&WriteTxn, Uuid, &str, Option<u64>, i64) -> crate::store::Result<Uuid> + Send + 'static,
{
    let (tenant, now) = (ctx.tenant, crate::time::now_ms());
    let id = ctx.write(move |txn| remove(txn, tenant, &raw, if_match, now)).await?;
    Ok(Reply::empty(hyper::StatusCode::NO_CONTENT).with_location(format!("{collection}/{id}")))
}
