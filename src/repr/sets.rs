//! The SCIM security events profile (RFC 9967) as registrations name it: the event URIs, the
//! stream's event types each stands for, and a SET receiver's registration. Shared by the SCIM
//! face's `/event-receivers` and the console; the SETs themselves are `scim::events`.

use uuid::Uuid;

use crate::store::webhooks::{PollState, SetReceiver, Webhook};

/// The event URIs' common prefix.
pub const PREFIX: &str = "urn:ietf:params:scim:event:";

/// The events a receiver may ask for (short: without the prefix and `:notice`/`:full`).
pub const EVENT_URIS: &[&str] = &[
    "prov:create",
    "prov:put",
    "prov:patch",
    "prov:delete",
    "prov:activate",
    "prov:deactivate",
    "misc:asyncresp",
];

/// Every event URI this server issues, in full (`ServiceProviderConfig.securityEvents`).
pub fn advertised() -> Vec<String> {
    let mut out = Vec::new();
    for uri in EVENT_URIS {
        match *uri {
            "prov:create" | "prov:put" | "prov:patch" => {
                out.push(format!("{PREFIX}{uri}:notice"));
                out.push(format!("{PREFIX}{uri}:full"));
            }
            _ => out.push(format!("{PREFIX}{uri}")),
        }
    }
    out
}

/// The stream's event types each event URI stands for: what a receiver's registration
/// subscribes to.
pub fn event_types(uri: &str) -> &'static [&'static str] {
    match uri {
        "prov:create" => &["user.created", "room.created"],
        "prov:put" | "prov:patch" => &[
            "user.updated",
            "room.mapping_updated",
            "room.member_added",
            "room.member_updated",
            "room.member_removed",
        ],
        "prov:delete" => &["user.deleted", "room.deleted", "room.mapping_removed"],
        "prov:activate" => &["user.reactivated"],
        "prov:deactivate" => &["user.deactivated"],
        "misc:asyncresp" => &["scim.async_response"],
        _ => &[],
    }
}

/// `uris` as a receiver may ask (full URIs or short ones, `:notice`/`:full` ignored: the
/// registration's format says which), short, or the first one not known.
pub fn short_uris(uris: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for uri in uris {
        let short = uri.trim();
        let short = short.strip_prefix(PREFIX).unwrap_or(short);
        let short = short.trim_end_matches(":notice").trim_end_matches(":full");
        match EVENT_URIS.iter().find(|u| **u == short) {
            Some(u) if !out.iter().any(|o| o == u) => out.push((*u).to_owned()),
            Some(_) => {}
            None => {
                return Err(format!(
                    "unknown event URI {uri:?}; known: {}",
                    EVENT_URIS
                        .iter()
                        .map(|u| format!("{PREFIX}{u}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("events must name at least one event URI".into());
    }
    Ok(out)
}

/// What a SET receiver is registered with, as a client sends it (a push receiver's URL
/// already checked by the caller; empty for a polled one).
pub struct NewReceiver {
    pub url: String,
    pub poll: bool,
    pub audience: Option<String>,
    /// Event URIs as sent; None: all.
    pub events: Option<Vec<String>>,
    pub full: bool,
    pub description: String,
    pub active: bool,
}

/// A new SET receiver's registration, or why it cannot be one.
pub fn receiver(id: Uuid, new: NewReceiver, now: i64) -> Result<Webhook, String> {
    match (new.poll, new.url.is_empty()) {
        (false, true) => return Err("url is required for push delivery".into()),
        (true, false) => return Err("a polled receiver has no url".into()),
        _ => {}
    }
    let all = || EVENT_URIS.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>();
    let uris = short_uris(&new.events.unwrap_or_else(all))?;
    let audience = match new.audience.map(|a| a.trim().to_owned()) {
        Some(a) if !a.is_empty() => a,
        Some(_) => return Err("audience must not be empty".into()),
        None if new.poll => id.to_string(),
        None => new.url.clone(),
    };
    let set =
        SetReceiver { audience, full: new.full, poll: new.poll.then(PollState::default), uris };
    Ok(Webhook {
        events: subscribed_types(&set.uris),
        description: new.description,
        active: new.active,
        set: Some(set),
        ..Webhook::new(id, new.url, String::new(), now)
    })
}

/// The stream's event types `uris` stand for: a receiver's subscription.
pub fn subscribed_types(uris: &[String]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for t in uris.iter().flat_map(|u| event_types(u)) {
        if !types.iter().any(|k| k == t) {
            types.push((*t).to_owned());
        }
    }
    types
}

/// `notice` or `full`, as a registration's format is named: whether it is full.
pub fn parse_format(name: &str) -> Result<bool, String> {
    match name.trim() {
        "full" => Ok(true),
        "notice" => Ok(false),
        other => Err(format!("format {other:?}: use notice or full")),
    }
}
