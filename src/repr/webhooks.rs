//! Webhook registrations, deliveries and events as the API shows them; an event's JSON is the
//! same in a webhook body and in the `GET /events` feed.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::store::webhooks::{Delivery, DeliveryStatus, Event, EventData, Webhook};
use crate::time::format_ms;

pub fn hook_json(h: &Webhook) -> Value {
    json!({
        "id": h.id,
        "url": h.url,
        "events": h.events,
        "description": h.description,
        "active": h.active,
        "disabled_reason": h.disabled_reason,
        "failing_since": h.failing_since.map(format_ms),
        "failing_for_secs": h.failing_for_ms / 1000,
        "created_at": format_ms(h.created_at),
        "updated_at": format_ms(h.updated_at),
        "previous_secret_until": h.previous_secret.as_ref().map(|(_, until)| format_ms(*until)),
        "payload": crate::store::webhooks::payload_name(h.thin),
    })
}

pub fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "seq": d.seq,
        "event_type": d.event_type,
        "status": match d.status {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        },
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "last_duration_ms": d.last_duration_ms,
        "next_attempt_at": d.next_attempt_at.map(format_ms),
        "created_at": format_ms(d.created_at),
        "updated_at": format_ms(d.updated_at),
    })
}

/// The JSON form of an event, the same in a webhook body and in the feed: `{id, seq, type,
/// tenant_id, occurred_at, version, data}`, with the resource as the native API shows it.
pub fn event_json(e: &Event) -> serde_json::Value {
    let data = match &e.data {
        EventData::User(user) => super::users::user_json(user),
        EventData::Member { room, user, tx_permission, .. } => {
            json!({"room_id": room, "user_id": user, "tx_permission": tx_permission})
        }
        EventData::Room { room, sync } => {
            let mut data = super::rooms::room_json(room);
            if let (Some(c), Some(fields)) = (sync, data.as_object_mut()) {
                fields.insert("members_added".into(), c.added.into());
                fields.insert("members_updated".into(), c.updated.into());
                fields.insert("members_removed".into(), c.removed.into());
            }
            data
        }
        EventData::SeatsExhausted { capacity } => {
            json!({"seat_capacity": capacity, "seats_provisioned": capacity, "seats_available": 0})
        }
        EventData::Seats { capacity, used } => json!({"seat_capacity": capacity,
            "seats_provisioned": used, "seats_available": capacity.saturating_sub(*used)}),
        EventData::AsyncResponse { result } => async_result(e, result),
    };
    let mut out = envelope(e.id, &e.event_type, e.tenant, e.occurred_at, data);
    if let Some(fields) = out.as_object_mut() {
        fields.insert("seq".into(), e.seq.into());
        fields.insert("version".into(), e.version.into());
    }
    out
}

/// An event as a thin payload: `event_json` with only the ids in `data` (the receiver reads the
/// resource itself); seat events stay whole, being only counts.
pub fn thin_event_json(e: &Event) -> serde_json::Value {
    let data = match &e.data {
        EventData::User(user) => json!({"user_id": user.id}),
        EventData::Member { room, user, .. } => json!({"room_id": room, "user_id": user}),
        EventData::Room { room, .. } => json!({"room_id": room.id}),
        EventData::SeatsExhausted { .. }
        | EventData::Seats { .. }
        | EventData::AsyncResponse { .. } => {
            return event_json(e);
        }
    };
    let mut out = envelope(e.id, &e.event_type, e.tenant, e.occurred_at, data);
    if let Some(fields) = out.as_object_mut() {
        fields.insert("seq".into(), e.seq.into());
        fields.insert("version".into(), e.version.into());
    }
    out
}

/// An asynchronous request's outcome: its `txn` and the operation's result (method, status,
/// location, version, bulkId, and the error `response` if it failed).
fn async_result(e: &Event, result: &str) -> Value {
    let mut data = match serde_json::from_str::<Value>(result) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let txn = e.cause.as_ref().map(|c| c.txn.as_str());
    data.insert("txn".into(), json!(txn));
    Value::Object(data)
}

/// The body of `e` for a registration with thin payloads or full ones.
pub fn payload(e: &Event, thin: bool) -> serde_json::Value {
    if thin { thin_event_json(e) } else { event_json(e) }
}

/// The body every event is sent in (the test event too).
pub fn envelope(
    id: Uuid,
    event_type: &str,
    tenant: Uuid,
    occurred_at: i64,
    data: serde_json::Value,
) -> serde_json::Value {
    json!({"id": id, "type": event_type, "tenant_id": tenant,
        "occurred_at": format_ms(occurred_at), "data": data})
}

/// A SET receiver (RFC 9967) as the API shows it: its event URIs in full.
pub fn receiver_json(h: &Webhook) -> Value {
    let set = h.set.as_ref();
    let uris: Vec<String> = set
        .map(|s| s.uris.iter().map(|u| format!("urn:ietf:params:scim:event:{u}")).collect())
        .unwrap_or_default();
    let poll = set.and_then(|s| s.poll.as_ref());
    json!({
        "id": h.id,
        "delivery": if poll.is_some() { "poll" } else { "push" },
        "url": (!h.url.is_empty()).then_some(&h.url),
        "audience": set.map(|s| s.audience.as_str()),
        "events": uris,
        "format": if set.is_some_and(|s| s.full) { "full" } else { "notice" },
        "description": h.description,
        "active": h.active,
        "disabled_reason": h.disabled_reason,
        "failing_since": h.failing_since.map(format_ms),
        "acknowledged_through": poll.map(|p| p.acked_through),
        "created_at": format_ms(h.created_at),
        "updated_at": format_ms(h.updated_at),
    })
}
