//! A provisioning request's journal, built from its route and key, and what is logged, counted
//! and measured once it is answered (`provisioning`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use hyper::http::request::Parts;

use super::reason;
use crate::auth::KeyState;
use crate::http::error::ApiError;
use crate::http::{Ctx, Style};
use crate::provisioning::{Journal, Meta, Operation, agent_kept};
use crate::store::provisioning::Entry;

/// Where a request (or Bulk operation) went: its endpoint's operation and path template, and
/// the resource its path names (`table::spot`).
#[derive(Debug, Clone, Copy)]
pub struct Spot {
    pub operation: Operation,
    pub path: &'static str,
    pub target: Option<uuid::Uuid>,
}

/// Who is asking what at a provisioning endpoint.
pub fn for_request(
    spot: Spot,
    parts: &Parts,
    key: &Arc<KeyState>,
    source: Option<IpAddr>,
    (request_id, started): (&str, Instant),
) -> Meta {
    let label = crate::http::client::identity_provider(&parts.headers);
    let agent = parts.headers.get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let request = Entry {
        seq: 0,
        at: crate::time::now_ms(),
        request_id: request_id.to_owned(),
        bulk_operation: None,
        key_id: key.id,
        key_description: key.description.clone(),
        agent: agent_kept(label, agent),
        client_label: label.to_owned(),
        source: source.map(|ip| ip.to_string()),
        method: parts.method.to_string(),
        path: template(spot.path),
        operation: String::new(),
        subject: None,
        status: 0,
        code: None,
        detail: None,
        reason: None,
        changes: Vec::new(),
        quirks: Vec::new(),
        duration_us: 0,
    };
    let (operation, target) = (spot.operation, spot.target);
    Meta { tenant: key.tenant.id, started, client_label: label, operation, target, request }
}

/// A row's path with the first of each segment's names (`/rooms|channels/{id}` is
/// `/rooms/{id}`).
fn template(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').map(|s| s.split('|').next().unwrap_or(s)).collect();
    segments.join("/")
}

/// A Bulk operation's (`label`: its bulkId, or method and path), under its Bulk's.
pub fn for_operation(parent: &Journal, spot: Spot, method: &str, label: String) -> Meta {
    let request = Entry {
        bulk_operation: Some(label),
        method: method.to_owned(),
        path: template(spot.path),
        ..parent.meta.request.clone()
    };
    let (operation, target) = (spot.operation, spot.target);
    Meta { started: Instant::now(), operation, target, request, ..parent.meta.clone() }
}

/// Counts the answer, and logs it if it failed (or, with `provisioning_log_reads`, was a
/// read). A change's entry is already written, in its own transaction.
pub fn done(
    ctx: &Ctx<'_>,
    journal: &Journal,
    outcome: Result<StatusCode, &ApiError>,
    if_match: Option<&str>,
) {
    let meta = &journal.meta;
    // A Bulk that ran: its operations count and log themselves.
    if meta.operation.words == "bulk" && outcome.is_ok() {
        return;
    }
    let failed = outcome.is_err();
    let label = meta.client_label;
    let tenant = &ctx.caller.key.tenant.slug;
    crate::metrics::get().provisioning(tenant, (label, meta.operation.words), failed);
    let quirks = journal.quirk_names();
    let (client, at) = (meta.request.client(), meta.request.at);
    ctx.state.tally.count(meta.tenant, (label, &client), failed, &quirks, at);
    let settings = &ctx.state.settings.provisioning;
    if !settings.enabled {
        return;
    }
    let entry = match outcome {
        Err(e) => {
            let failure = ctx
                .lookup(|tx| Ok::<_, crate::store::Error>(reason::failure(tx, meta, e, if_match)))
                .unwrap_or_else(|_| reason::bare(e));
            journal.entry(e.status().as_u16(), Some(failure))
        }
        Ok(status) if settings.reads && !meta.operation.writes => {
            journal.entry(status.as_u16(), None)
        }
        Ok(_) => return,
    };
    if !ctx.store().log_deferred(meta.tenant, entry) {
        crate::metrics::get().provisioning_dropped();
    }
}

/// A refusal before the handler ran (scope, rate limit): counted and logged like a failure.
pub fn refused(
    state: &std::sync::Arc<crate::http::State>,
    (spot, style, tenant_slug): (Spot, Style, Option<&str>),
    parts: &Parts,
    key: Arc<KeyState>,
    (source, request_id, started): (Option<IpAddr>, &str, Instant),
    e: &ApiError,
) {
    let journal = Journal::new(for_request(spot, parts, &key, source, (request_id, started)));
    let caller = crate::http::Caller { key, limit: 0, remaining: 0, reset_secs: 0 };
    let ctx = Ctx {
        state,
        caller: &caller,
        tenant: caller.key.tenant.id,
        style,
        parts,
        tenant_slug,
        journal: Some(&journal),
        cause: None,
    };
    done(&ctx, &journal, Err(e), None);
}
