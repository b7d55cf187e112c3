//! SET receivers as the Webhooks page shows them: the tenant's receivers of SCIM security events
//! (RFC 9967) and the event URIs of the form that adds one (its handlers are the page's own, in
//! `webhooks`).

use super::Console;
use super::overview::hook_state;
use crate::repr::sets::EVENT_URIS;
use crate::store::webhooks::Webhook;

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
