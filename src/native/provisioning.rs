//! `GET /provisioning-log`: the tenant's provisioning log, oldest first from `after`, filtered
//! by `outcome`, `client`, `key` (`me`: the caller's own), `resource`, `operation` and `since`;
//! `format=jsonl` answers JSON lines (an export). Scope `api_keys.manage`, except that any key
//! may read its own entries (`key=me`).

use hyper::StatusCode;
use serde_json::json;

use crate::auth::Scope;
use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::Query;
use crate::http::response::Reply;
use crate::provisioning::read_filter;
use crate::repr::provisioning::entry_json;
use crate::store::provisioning::{self, Direction};

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// An export answers up to this many lines a page.
const MAX_EXPORT: u64 = 10_000;

pub async fn list(ctx: &Ctx<'_>, query: Query) -> Result<Reply, ApiError> {
    let key = &ctx.caller.key;
    let own = query.get("key").map(str::trim) == Some("me");
    if !own && !key.scopes.contains(Scope::ApiKeysManage) {
        return Err(ApiError::Forbidden { required_scope: Scope::ApiKeysManage.name() });
    }
    let now = crate::time::now_ms();
    let filter = read_filter(|name| query.get(name), key.id, now).map_err(ApiError::bad_request)?;
    let jsonl = match query.get("format") {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("format {other:?}: use json or jsonl")));
        }
    };
    let most = if jsonl { MAX_EXPORT } else { MAX_LIMIT };
    let after = query.u64("after")?.unwrap_or(0);
    let limit = query.u64("limit")?.unwrap_or(DEFAULT_LIMIT).clamp(1, most);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let examine = match ctx.state.settings.scan_limit {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let tenant = ctx.tenant;
    let page = ctx
        .read(move |tx| {
            provisioning::page(tx, tenant, &filter, Direction::After(after), limit, examine)
        })
        .await?;
    let next_after = page.next.or(page.entries.last().map(|e| e.seq)).unwrap_or(after);
    if jsonl {
        let mut out = String::new();
        for e in &page.entries {
            out.push_str(&entry_json(e).to_string());
            out.push('\n');
        }
        return Ok(Reply::text(StatusCode::OK, "application/x-ndjson", out));
    }
    let entries: Vec<_> = page.entries.iter().map(entry_json).collect();
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"entries": entries, "next_after": next_after, "more": page.next.is_some()}),
    ))
}
