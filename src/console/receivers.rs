//! SET receivers on the Webhooks page: the tenant's receivers of SCIM security events (RFC 9967),
//! a new one (pushed to a URL or polled at `/events/poll`), and deletion. Registrations go
//! through the store's `webhooks` operations as the API's do, and are audited.

use uuid::Uuid;

use super::Console;
use super::overview::hook_state;
use super::view::{Answer, Failure};
use crate::http::Style;
use crate::http::error::ApiError;
use crate::repr::sets::{self, EVENT_URIS};
use crate::store::webhooks::{self as hooks, Webhook};
use crate::time::now_ms;

pub struct ReceiverRow {
    pub id: String,
    pub delivery: &'static str,
    /// Where its SETs go: the URL, or the poll endpoint.
    pub target: String,
    pub audience: String,
    pub events: String,
    pub format: &'static str,
    pub state: String,
}

pub fn row(h: &Webhook) -> ReceiverRow {
    let set = h.set.as_ref();
    let polled = h.polled();
    ReceiverRow {
        id: h.id.to_string(),
        delivery: if polled { "poll" } else { "push" },
        target: if polled { format!("POST /events/poll?receiver={}", h.id) } else { h.url.clone() },
        audience: set.map(|s| s.audience.clone()).unwrap_or_default(),
        events: set.map(|s| s.uris.join(", ")).unwrap_or_default(),
        format: if set.is_some_and(|s| s.full) { "full" } else { "notice" },
        state: hook_state(h),
    }
}

/// An event URI in the form, ticked or not.
pub struct UriChoice {
    pub name: &'static str,
    pub on: bool,
}

/// The form's event URIs: all ticked on a fresh form, else as posted.
pub fn choices(c: &Console<'_>) -> Vec<UriChoice> {
    let posted = c.form().all("set_uri");
    let fresh = c.req.parts.method != hyper::Method::POST;
    EVENT_URIS
        .iter()
        .map(|&name| UriChoice { name, on: fresh || posted.iter().any(|p| p == name) })
        .collect()
}

/// `POST /console/event-receivers`: a new SET receiver.
pub async fn create(c: &Console<'_>) -> Result<Answer, Failure> {
    let form = c.form();
    let poll = form.get("set_delivery") == Some("poll");
    let url = form.get("set_url").unwrap_or_default().trim().to_owned();
    if !poll && let Err(e) = crate::webhooks::send::check_url(&url) {
        return super::webhooks::list_with(c, Some(ApiError::bad_request(e))).await;
    }
    let audience = form.get("set_audience").map(str::trim).filter(|a| !a.is_empty());
    let new = sets::NewReceiver {
        url: if poll { String::new() } else { url },
        poll,
        audience: audience.map(str::to_owned),
        events: Some(form.all("set_uri")),
        full: form.get("set_format") == Some("full"),
        description: form.get("set_description").unwrap_or_default().to_owned(),
        active: true,
    };
    let hook = match sets::receiver(Uuid::now_v7(), new, now_ms()) {
        Ok(hook) => hook,
        Err(e) => return super::webhooks::list_with(c, Some(ApiError::bad_request(e))).await,
    };
    let (tenant, actor) = (c.ctx.tenant, c.ctx.actor());
    let made = c
        .ctx
        .write(move |txn| {
            let mut hook = hook.clone();
            // A polled receiver starts at the stream's end, as through the API.
            if let Some(poll) = hook.set.as_mut().and_then(|s| s.poll.as_mut()) {
                poll.acked_through = crate::store::events::bounds(txn, tenant)?.0;
            }
            hooks::register(txn, tenant, &hook, &actor)
        })
        .await;
    match made {
        Ok(()) => c.back("/webhooks"),
        Err(e) if e.body(Style::Native).0.is_client_error() => {
            super::webhooks::list_with(c, Some(e)).await
        }
        Err(e) => Err(Failure::Api(e)),
    }
}

/// `POST /console/event-receivers/{id}/delete`.
pub async fn delete(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| {
            hooks::get(txn, tenant, id)?
                .set
                .ok_or(crate::store::Error::not_found("event receiver"))?;
            hooks::unregister(txn, tenant, id, &actor, now)
        })
        .await?;
    c.back("/webhooks")
}
