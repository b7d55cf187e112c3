//! Webhook registrations, the outbox and the deliveries. An event is one outbox row written in
//! the transaction of the change that caused it (no change without its event, no event without
//! its change). The worker (`crate::webhooks`) fans outbox rows out into one delivery row per
//! registration, sends what `DELIVERIES_DUE` says is due, and records each attempt here.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::{DELIVERIES, DELIVERIES_DUE, OUTBOX, WEBHOOKS};
use super::{Error, Result, Tx, codec};

/// Every event type, for validation and `*`.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "room.member_added",
    "room.member_updated",
    "room.member_removed",
    "room.members_synced",
    "room.mapping_updated",
    "room.mapping_removed",
    "seats.exhausted",
];

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// Event types, or `*` for all.
    pub events: Vec<String>,
    pub description: String,
    pub active: bool,
    /// `whsec_…`: the signing secret (Standard Webhooks).
    pub secret: String,
    /// Why the server disabled it (410 from the receiver, failing for days), if it did.
    pub disabled_reason: Option<String>,
    /// Unix ms of the first failure since the last success.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Webhook {
    pub fn wants(&self, event_type: &str) -> bool {
        self.active && self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The event's id: `webhook-id`, the same on every attempt, for receivers to deduplicate.
    pub event_id: Uuid,
    pub event_type: String,
    /// The JSON body sent.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<u64>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn create(txn: &WriteTransaction, tenant: Uuid, hook: &Webhook) -> Result<()> {
    put(txn, tenant, hook)
}

pub fn put(txn: &WriteTransaction, tenant: Uuid, hook: &Webhook) -> Result<()> {
    let bytes = codec::encode(hook)?;
    txn.open_table(WEBHOOKS)?.insert((tenant.as_u128(), hook.id.as_u128()), bytes.as_slice())?;
    Ok(())
}

pub fn get(tx: &impl Tx, tenant: Uuid, id: Uuid) -> Result<Webhook> {
    let table = tx.table(WEBHOOKS)?;
    let bytes = table.get((tenant.as_u128(), id.as_u128()))?.ok_or(Error::NotFound("webhook"))?;
    codec::decode(bytes.value())
}

pub fn list(tx: &impl Tx, tenant: Uuid) -> Result<Vec<Webhook>> {
    let table = tx.table(WEBHOOKS)?;
    let t = tenant.as_u128();
    let mut out = Vec::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Deletes a registration and its delivery log.
pub fn delete(txn: &WriteTransaction, tenant: Uuid, id: Uuid) -> Result<()> {
    get(txn, tenant, id)?;
    for d in deliveries(txn, tenant, id, u64::MAX)? {
        remove_due(txn, tenant, &d)?;
        txn.open_table(DELIVERIES)?.remove((tenant.as_u128(), id.as_u128(), d.id.as_u128()))?;
    }
    txn.open_table(WEBHOOKS)?.remove((tenant.as_u128(), id.as_u128()))?;
    Ok(())
}

/// An event waiting in the outbox, with the registrations it is for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    pub tenant: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub payload: String,
    pub webhooks: Vec<Uuid>,
}

/// Records an event in the outbox if any registration wants it: one row, whatever the number of
/// registrations, so the change's transaction stays small.
pub fn emit(txn: &WriteTransaction, tenant: Uuid, event: &Event) -> Result<()> {
    let webhooks: Vec<Uuid> = list(txn, tenant)?
        .into_iter()
        .filter(|h| h.wants(&event.event_type))
        .map(|h| h.id)
        .collect();
    if webhooks.is_empty() {
        return Ok(());
    }
    let row = OutboxEvent {
        tenant,
        event_id: event.id,
        event_type: event.event_type.clone(),
        occurred_at: event.occurred_at,
        payload: event.payload(tenant),
        webhooks,
    };
    let bytes = codec::encode(&row)?;
    txn.open_table(OUTBOX)?.insert((event.occurred_at, event.id.as_u128()), bytes.as_slice())?;
    Ok(())
}

/// Whether the outbox holds events not yet fanned out.
pub fn outbox_waiting(tx: &impl Tx) -> Result<bool> {
    Ok(tx.table(OUTBOX)?.first()?.is_some())
}

/// Turns up to `limit` outbox events into delivery rows (due when the event occurred) and
/// removes them from the outbox. Registrations deleted meanwhile are skipped.
pub fn fan_out(txn: &WriteTransaction, limit: usize) -> Result<usize> {
    let mut events = Vec::new();
    {
        let table = txn.open_table(OUTBOX)?;
        for row in table.iter()?.take(limit) {
            let (key, bytes) = row?;
            events.push((key.value(), codec::decode::<OutboxEvent>(bytes.value())?));
        }
    }
    for (key, e) in &events {
        for &webhook_id in &e.webhooks {
            match get(txn, e.tenant, webhook_id) {
                Ok(_) => {}
                Err(Error::NotFound(_)) => continue,
                Err(err) => return Err(err),
            }
            let d = Delivery {
                id: Uuid::now_v7(),
                webhook_id,
                event_id: e.event_id,
                event_type: e.event_type.clone(),
                payload: e.payload.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_status_code: None,
                last_error: None,
                last_duration_ms: None,
                next_attempt_at: Some(e.occurred_at),
                created_at: e.occurred_at,
                updated_at: e.occurred_at,
            };
            insert_delivery(txn, e.tenant, &d)?;
        }
        txn.open_table(OUTBOX)?.remove(*key)?;
    }
    Ok(events.len())
}

/// An event about to be recorded.
pub struct Event {
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub data: serde_json::Value,
}

impl Event {
    /// Ids are derived from the change, so a replayed mutation records the same event.
    pub fn new(event_type: &str, occurred_at: i64, seed: &[u8], data: serde_json::Value) -> Event {
        let mut h = blake3::Hasher::new();
        h.update(event_type.as_bytes());
        h.update(&occurred_at.to_le_bytes());
        h.update(seed);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&h.finalize().as_bytes()[..16]);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        Event { id, event_type: event_type.to_owned(), occurred_at, data }
    }

    fn payload(&self, tenant: Uuid) -> String {
        serde_json::json!({
            "id": self.id,
            "type": self.event_type,
            "tenant_id": tenant,
            "occurred_at": crate::time::format_ms(self.occurred_at),
            "data": self.data,
        })
        .to_string()
    }
}

/// Writes a changed delivery, moving its place in the due index.
pub fn put_delivery(txn: &WriteTransaction, tenant: Uuid, d: &Delivery) -> Result<()> {
    if let Ok(old) = get_delivery(txn, tenant, d.webhook_id, d.id) {
        remove_due(txn, tenant, &old)?;
    }
    insert_delivery(txn, tenant, d)
}

/// Writes a delivery that has no due-index entry yet (a new one).
fn insert_delivery(txn: &WriteTransaction, tenant: Uuid, d: &Delivery) -> Result<()> {
    let bytes = codec::encode(d)?;
    let key = (tenant.as_u128(), d.webhook_id.as_u128(), d.id.as_u128());
    txn.open_table(DELIVERIES)?.insert(key, bytes.as_slice())?;
    if let (DeliveryStatus::Pending, Some(at)) = (d.status, d.next_attempt_at) {
        txn.open_table(DELIVERIES_DUE)?.insert((at, key.0, key.1, key.2), ())?;
    }
    Ok(())
}

fn remove_due(txn: &WriteTransaction, tenant: Uuid, d: &Delivery) -> Result<()> {
    if let Some(at) = d.next_attempt_at {
        txn.open_table(DELIVERIES_DUE)?.remove((
            at,
            tenant.as_u128(),
            d.webhook_id.as_u128(),
            d.id.as_u128(),
        ))?;
    }
    Ok(())
}

pub fn get_delivery(tx: &impl Tx, tenant: Uuid, webhook: Uuid, id: Uuid) -> Result<Delivery> {
    let table = tx.table(DELIVERIES)?;
    let bytes = table
        .get((tenant.as_u128(), webhook.as_u128(), id.as_u128()))?
        .ok_or(Error::NotFound("delivery"))?;
    codec::decode(bytes.value())
}

/// A registration's deliveries, newest first.
pub fn deliveries(tx: &impl Tx, tenant: Uuid, webhook: Uuid, limit: u64) -> Result<Vec<Delivery>> {
    let table = tx.table(DELIVERIES)?;
    let (t, w) = (tenant.as_u128(), webhook.as_u128());
    let mut out = Vec::new();
    for row in table.range((t, w, 0)..=(t, w, u128::MAX))?.rev().take(limit as usize) {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Deliveries due at `now`, oldest first, with their registrations, skipping `skip`.
pub fn due(
    tx: &impl Tx,
    now: i64,
    limit: usize,
    skip: impl Fn(Uuid) -> bool,
) -> Result<Vec<(Uuid, Delivery, Webhook)>> {
    let table = tx.table(DELIVERIES_DUE)?;
    let mut out = Vec::new();
    let mut hooks: std::collections::HashMap<(u128, u128), Webhook> = Default::default();
    for row in table.range((i64::MIN, 0, 0, 0)..=(now, u128::MAX, u128::MAX, u128::MAX))? {
        let (key, _) = row?;
        let (_, t, w, d) = key.value();
        if skip(Uuid::from_u128(d)) {
            continue;
        }
        let tenant = Uuid::from_u128(t);
        let hook = match hooks.get(&(t, w)) {
            Some(h) => h.clone(),
            None => {
                let h = get(tx, tenant, Uuid::from_u128(w))?;
                hooks.insert((t, w), h.clone());
                h
            }
        };
        out.push((tenant, get_delivery(tx, tenant, hook.id, Uuid::from_u128(d))?, hook));
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// `user.*` with the user as the native API shows it.
pub fn emit_user(
    txn: &WriteTransaction,
    tenant: Uuid,
    event_type: &str,
    user: &super::users::User,
    now: i64,
) -> Result<()> {
    let data = crate::native::users::user_json(user);
    emit(txn, tenant, &Event::new(event_type, now, user.id.as_bytes(), data))
}

/// `room.member_*`.
pub fn emit_member(
    txn: &WriteTransaction,
    tenant: Uuid,
    event_type: &str,
    room: Uuid,
    user: Uuid,
    tx_permission: bool,
    now: i64,
) -> Result<()> {
    let data =
        serde_json::json!({"room_id": room, "user_id": user, "tx_permission": tx_permission});
    let seed = [room.as_bytes().as_slice(), user.as_bytes().as_slice()].concat();
    emit(txn, tenant, &Event::new(event_type, now, &seed, data))
}

/// `room.*` about the room itself, with the room as the native API shows it and `extra` fields.
pub fn emit_room(
    txn: &WriteTransaction,
    tenant: Uuid,
    event_type: &str,
    room: &super::rooms::Room,
    extra: serde_json::Value,
    now: i64,
) -> Result<()> {
    let mut data = crate::native::rooms::room_json(room);
    if let (Some(d), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    let seed = [room.id.as_bytes().as_slice(), &room.version.to_le_bytes()].concat();
    emit(txn, tenant, &Event::new(event_type, now, &seed, data))
}

/// `seats.exhausted`, when the last free seat was just taken.
pub fn emit_seats_exhausted(
    txn: &WriteTransaction,
    tenant: Uuid,
    capacity: u64,
    now: i64,
) -> Result<()> {
    let data = serde_json::json!({"seat_capacity": capacity, "seats_provisioned": capacity, "seats_available": 0});
    emit(txn, tenant, &Event::new("seats.exhausted", now, tenant.as_bytes(), data))
}

/// Deletes finished (succeeded or failed) deliveries created before `cutoff` (unix ms), across
/// all tenants; pending ones stay whatever their age. Returns how many went.
pub fn prune(txn: &WriteTransaction, cutoff: i64) -> Result<u64> {
    // Delivery ids are UUIDv7: the top 48 bits are the creation time in ms.
    let bound = (cutoff.max(0) as u128) << 80;
    let hooks: Vec<(u128, u128)> = {
        let table = txn.open_table(WEBHOOKS)?;
        let mut keys = Vec::new();
        for row in table.iter()? {
            keys.push(row?.0.value());
        }
        keys
    };
    let mut doomed = Vec::new();
    {
        let table = txn.open_table(DELIVERIES)?;
        for (t, w) in hooks {
            for row in table.range((t, w, 0)..(t, w, bound))? {
                let (key, bytes) = row?;
                let d: Delivery = codec::decode(bytes.value())?;
                if d.status != DeliveryStatus::Pending {
                    doomed.push(key.value());
                }
            }
        }
    }
    let mut table = txn.open_table(DELIVERIES)?;
    for key in &doomed {
        table.remove(*key)?;
    }
    Ok(doomed.len() as u64)
}
