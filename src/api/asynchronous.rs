//! Asynchronous SCIM requests (RFC 9967 §2.5.1): a SCIM write or Bulk sent with `Prefer:
//! respond-async` is answered 202 at once, with `Set-Txn` and `Preference-Applied`, and runs in
//! the background through the same endpoint table; each operation's outcome then enters the
//! change stream as a `scim.async_response` event, which SET receivers that asked for
//! `misc:asyncresp` get as a SET whose `txn` is `Set-Txn` (a Bulk operation's: `Set-Txn:index`).
//!
//! Accepted means queued in this process: a crash before an operation runs loses it (the client
//! sees no `asyncresp` for it), as a crash before a synchronous request is answered would.

use std::sync::Arc;

use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use super::bulk::{self, Operation};
use crate::http::error::ApiError;
use crate::http::response::Reply;
use crate::http::{Caller, Ctx, State};
use crate::provisioning::Journal;
use crate::store::events::{self, Cause};

/// Whether the request prefers an asynchronous answer (RFC 7240 `Prefer: respond-async`).
pub fn asked(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|p| {
            let token = p.split([';', '=']).next().unwrap_or("").trim();
            token.eq_ignore_ascii_case("respond-async")
        })
    })
}

/// What runs in the background.
pub enum Work {
    /// A Bulk request's body.
    Bulk(Value),
    /// A single write, as the one operation of a Bulk would name it.
    Single(Operation),
}

/// A SCIM Bulk (`bulk`) or write (`POST /Users`, `PATCH /Groups/{id}`…) asked to respond
/// asynchronously: its body is read now, and it runs later (a write as a Bulk operation of its
/// own would).
pub async fn later(
    ctx: &Ctx<'_>,
    bulk: bool,
    body: hyper::body::Incoming,
    room: tokio::sync::OwnedSemaphorePermit,
) -> Result<Reply, ApiError> {
    let parts = ctx.parts;
    let data = match parts.method {
        Method::DELETE => None,
        _ => Some(crate::http::body::json::<Value>(&parts.headers, body, ctx.body_limit()).await?),
    };
    if bulk {
        return Ok(accept(ctx, Work::Bulk(data.unwrap_or(Value::Null)), room));
    }
    let path = parts.uri.path().split_once("/scim/v2").map_or("", |(_, p)| p).to_owned();
    let version = parts.headers.get(hyper::header::IF_MATCH).and_then(|v| v.to_str().ok());
    let op = Operation::single(parts.method.clone(), path, data, version.map(str::to_owned));
    Ok(accept(ctx, Work::Single(op), room))
}

/// Accepts `work`: answers 202 with its `Set-Txn`, and runs it after the answer, holding `room`
/// (one of `max_async_requests`) until it is done.
fn accept(ctx: &Ctx<'_>, work: Work, room: tokio::sync::OwnedSemaphorePermit) -> Reply {
    let txn = Uuid::now_v7().simple().to_string();
    let location = match &work {
        Work::Single(op) if op.method != Method::POST => {
            Some(format!("{}/scim/v2/{}", ctx.base_url(), op.path.trim().trim_start_matches('/')))
        }
        _ => None,
    };
    let job = Job {
        state: ctx.state.clone(),
        caller: Caller { key: ctx.caller.key.clone(), limit: 0, remaining: 0, reset_secs: 0 },
        tenant: ctx.tenant,
        style: ctx.style,
        parts: owned_parts(&ctx.parts.method, &ctx.parts.uri, &ctx.parts.headers),
        slug: ctx.tenant_slug.map(str::to_owned),
        journal: ctx.journal.map(|j| j.meta.clone()),
        txn: txn.clone(),
    };
    tokio::spawn(async move {
        job.run(work).await;
        drop(room);
    });
    let reply = Reply::empty(StatusCode::ACCEPTED)
        .with_header("set-txn", txn)
        .with_header("preference-applied", "respond-async".into());
    match location {
        Some(l) => reply.with_header("location", l),
        None => reply,
    }
}

/// A request's parts, owned (hyper's are not `Clone`), without `Prefer`.
fn owned_parts(
    method: &Method,
    uri: &hyper::Uri,
    headers: &HeaderMap,
) -> hyper::http::request::Parts {
    let mut builder = hyper::Request::builder().method(method.clone()).uri(uri.clone());
    for (name, value) in headers {
        if name.as_str() != "prefer" {
            builder = builder.header(name, value);
        }
    }
    match builder.body(()) {
        Ok(req) => req.into_parts().0,
        Err(_) => hyper::Request::new(()).into_parts().0,
    }
}

/// Everything the background run needs, owned.
struct Job {
    state: Arc<State>,
    caller: Caller,
    tenant: Uuid,
    style: crate::http::Style,
    parts: hyper::http::request::Parts,
    slug: Option<String>,
    journal: Option<crate::provisioning::Meta>,
    txn: String,
}

impl Job {
    async fn run(self, work: Work) {
        let journal = self.journal.clone().map(Journal::new);
        let cause = Cause { txn: self.txn.clone(), method: self.parts.method.to_string() };
        let ctx = Ctx {
            state: &self.state,
            caller: &self.caller,
            tenant: self.tenant,
            style: self.style,
            parts: &self.parts,
            tenant_slug: self.slug.as_deref(),
            journal: journal.as_ref(),
            cause: Some(&cause),
        };
        // (txn, method, result) per operation.
        let outcomes: Vec<(String, String, Value)> = match work {
            Work::Bulk(request) => {
                match bulk::run(&ctx, request, &super::table::ThroughTable).await {
                    Ok(results) => results
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, r)| r.map(|r| (format!("{}:{i}", self.txn), r)))
                        .map(|(txn, r)| {
                            let method = r.get("method").and_then(Value::as_str).unwrap_or("POST");
                            let method = method.to_owned();
                            (txn, method, r)
                        })
                        .collect(),
                    Err(e) => {
                        let failed = bulk::failed("POST", &e);
                        vec![(self.txn.clone(), "POST".to_owned(), failed)]
                    }
                }
            }
            Work::Single(op) => {
                let outcome = super::table::run_operation(&ctx, &op).await;
                vec![(self.txn.clone(), op.method.to_string(), bulk::result(&op, &outcome))]
            }
        };
        let (tenant, now) = (self.tenant, crate::time::now_ms());
        let written = self
            .state
            .app
            .store
            .write(move |txn| -> crate::store::Result<_> {
                for (id, method, result) in &outcomes {
                    let resource = result
                        .get("location")
                        .and_then(Value::as_str)
                        .and_then(|l| l.rsplit('/').next())
                        .and_then(|id| id.parse().ok());
                    events::async_response(txn, tenant, (id, method), (resource, result), now)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(txn = %self.txn, error = %e, "could not record an asynchronous request's outcome");
        }
    }
}
