//! SCIM security events (RFC 9967): each change of the stream as a Security Event Token (RFC
//! 8417) about a `/Users` or `/Groups` resource, signed ES256 with the server's current key. The
//! webhook worker pushes them to SET receivers (RFC 8935) through `Sets`; `POST /events/poll`
//! (RFC 8936) hands them out on request.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::auth::App;
pub use crate::repr::sets::{EVENT_URIS, PREFIX, advertised, event_types, short_uris};
use crate::scim::filter::{CORE_GROUP_URN, CORE_USER_URN};
use crate::store::events::{Event, EventData};
use crate::store::webhooks::{SetReceiver, Webhook};

/// What an event is as a SET: its event URI (short), and whether it is about a Group.
fn uri_of(event: &Event) -> Option<(&'static str, bool)> {
    let put = event.cause.as_ref().is_some_and(|c| c.method.eq_ignore_ascii_case("PUT"));
    let update = if put { "prov:put" } else { "prov:patch" };
    Some(match event.event_type.as_str() {
        "user.created" => ("prov:create", false),
        "user.updated" => (update, false),
        "user.deactivated" => ("prov:deactivate", false),
        "user.reactivated" => ("prov:activate", false),
        "user.deleted" => ("prov:delete", false),
        "room.created" => ("prov:create", true),
        "room.mapping_updated" => (update, true),
        "room.member_added" | "room.member_updated" | "room.member_removed" => ("prov:patch", true),
        "room.deleted" | "room.mapping_removed" => ("prov:delete", true),
        "scim.async_response" => ("misc:asyncresp", false),
        _ => return None,
    })
}

/// Whether `receiver` takes `event` as a SET (what `claims` renders, without rendering it).
pub fn wants(event: &Event, receiver: &SetReceiver) -> bool {
    let Some((uri, _)) = uri_of(event) else { return false };
    let group_shown = match &event.data {
        EventData::Room { room, .. } => room.mapped || event.event_type == "room.mapping_removed",
        EventData::Member { group, .. } => *group,
        _ => true,
    };
    group_shown && receiver.uris.iter().any(|u| u == uri)
}

/// The claims of `event`'s SET for `receiver`, issued by `iss`; None when the receiver does
/// not want it (or it is no SCIM event: seats, a native room that is no Group).
pub fn claims(event: &Event, receiver: &SetReceiver, iss: &str) -> Option<Value> {
    if !wants(event, receiver) {
        return None;
    }
    let (uri, group) = uri_of(event)?;
    if let EventData::AsyncResponse { result } = &event.data {
        return Some(async_claims(event, receiver, iss, result));
    }
    let collection = if group { "Groups" } else { "Users" };
    let location = format!("{iss}/scim/v2/{collection}/{}", event.resource);
    let version = event.version.map(|v| format!("W/\"{v}\""));
    let external_id = match &event.data {
        EventData::User(u) => u.external_id.clone(),
        EventData::Room { room, .. } => room.external_id.clone(),
        _ => None,
    };
    let mut payload = Map::new();
    let with_payload = matches!(uri, "prov:create" | "prov:put" | "prov:patch");
    let name = match (with_payload, receiver.full) {
        (false, _) => format!("{PREFIX}{uri}"),
        (true, true) => format!("{PREFIX}{uri}:full"),
        (true, false) => format!("{PREFIX}{uri}:notice"),
    };
    if with_payload {
        if let Some(v) = &version {
            payload.insert("version".into(), json!(v));
        }
        if receiver.full {
            payload.insert("data".into(), data(event, &location));
        } else {
            payload.insert("attributes".into(), json!(event.attributes));
        }
    }
    let mut sub_id = Map::new();
    sub_id.insert("format".into(), json!("scim"));
    sub_id.insert("uri".into(), json!(format!("/{collection}/{}", event.resource)));
    if let Some(x) = external_id {
        sub_id.insert("externalId".into(), json!(x));
    }
    let mut claims = envelope(event, receiver, iss);
    claims.insert("sub_id".into(), Value::Object(sub_id));
    claims.insert("events".into(), json!({ name: Value::Object(payload) }));
    Some(Value::Object(claims))
}

/// The claims every SET of `event` has (RFC 8417 §2.2): `jti` the event id, `iat` its time,
/// `iss`, the receiver's `aud`, and `txn` the request that made it, if one did.
fn envelope(event: &Event, receiver: &SetReceiver, iss: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("jti".into(), json!(event.id.simple().to_string()));
    claims.insert("iat".into(), json!(event.occurred_at.div_euclid(1000)));
    claims.insert("iss".into(), json!(iss));
    claims.insert("aud".into(), json!(receiver.audience));
    if let Some(cause) = &event.cause {
        claims.insert("txn".into(), json!(cause.txn));
    }
    claims
}

/// `misc:asyncresp` (RFC 9967 §2.5.1.3): the operation's result as a Bulk response shows it,
/// about the resource its location names (none when a create failed).
fn async_claims(event: &Event, receiver: &SetReceiver, iss: &str, result: &str) -> Value {
    let payload = serde_json::from_str::<Value>(result).unwrap_or_else(|_| json!({}));
    let mut claims = envelope(event, receiver, iss);
    let location = payload.get("location").and_then(Value::as_str);
    if let Some((_, uri)) = location.and_then(|l| l.split_once("/scim/v2")) {
        claims.insert("sub_id".into(), json!({"format": "scim", "uri": uri}));
    }
    claims.insert("events".into(), json!({ format!("{PREFIX}misc:asyncresp"): payload }));
    Value::Object(claims)
}

/// A `full` event's `data`: the resource as SCIM shows it, or for a membership the PatchOp
/// that made the change (RFC 9967 §2.4.2).
fn data(event: &Event, location: &str) -> Value {
    match &event.data {
        EventData::User(u) => crate::scim::users::resource::render(u, location),
        EventData::Room { room, .. } => {
            let mut group = json!({"schemas": [CORE_GROUP_URN], "id": room.id,
                "displayName": room.display_name});
            if let (Some(x), Some(obj)) = (&room.external_id, group.as_object_mut()) {
                obj.insert("externalId".into(), json!(x));
            }
            group
        }
        EventData::Member { user, .. } => {
            let op = if event.event_type == "room.member_removed" { "remove" } else { "add" };
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": op, "path": "members",
                    "value": [{"value": user, "$ref": format!("/Users/{user}")}]}],
            })
        }
        _ => json!({"schemas": [CORE_USER_URN]}),
    }
}

/// Signs SETs for the webhook worker and the poll endpoint: the app's keyring, and the issuer.
pub struct Sets {
    pub app: Arc<App>,
    /// `iss`: the server's public URL (`public_url`).
    pub issuer: String,
}

impl Sets {
    /// `event` as a signed SET for `receiver`; None when it does not want it.
    pub fn sign(&self, event: &Event, receiver: &SetReceiver) -> Option<Result<String, String>> {
        let claims = claims(event, receiver, &self.issuer)?;
        Some(self.app.signing.sign(&claims))
    }
}

impl crate::webhooks::SetRenderer for Sets {
    fn render(&self, event: &Event, hook: &Webhook) -> Option<Result<String, String>> {
        self.sign(event, hook.set.as_ref()?)
    }
}
