//! `GET /events` (scope `webhooks`): the tenant's change stream as a pull feed, the same events
//! and JSON the webhooks carry, in `seq` order; with `wait`, a long-poll that answers as soon as
//! a new event commits.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::Query;
use crate::http::response::Reply;
use crate::store::events;

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// Longest a long-poll waits (`wait` is capped here).
pub const MAX_WAIT_SECS: u64 = 30;

pub async fn list(ctx: &Ctx<'_>, query: Query) -> Result<Reply, ApiError> {
    let after = query.u64("after")?.unwrap_or(0);
    let limit = query.u64("limit")?.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let wait = Duration::from_secs(query.u64("wait")?.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = tokio::time::Instant::now() + wait;
    let (tenant, mut commits) = (ctx.tenant, ctx.store().commits());
    loop {
        // Marked before the read: a commit after it wakes the wait below.
        commits.borrow_and_update();
        let page = ctx.read(move |tx| events::after(tx, tenant, after, limit)).await?;
        let list = page.map_err(|e| ApiError::EventsExpired { oldest: e.oldest })?;
        let done = !list.is_empty() || tokio::time::Instant::now() >= deadline;
        if done || ctx.state.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
            let next_after = list.last().map_or(after, |e| e.seq);
            let events: Vec<_> = list.iter().map(crate::repr::webhooks::event_json).collect();
            return Ok(Reply::json(
                StatusCode::OK,
                &json!({"events": events, "next_after": next_after}),
            ));
        }
        // A commit, or the deadline: either way read once more (an error means the store
        // closed; the next read answers that).
        let _ = tokio::time::timeout_at(deadline, commits.changed()).await;
    }
}
