//! Webhook registrations, the outbox and the deliveries. An event is one outbox row written in
//! the transaction of the change that caused it (no change without its event, no event without
//! its change). The worker (`crate::webhooks`) attempts each outbox event for its registrations
//! straight away and records the result as a delivery row (whose id is derived from event and
//! registration); when every registration has its row, the event moves from the outbox to the
//! event log, where retries and redeliveries find it. Retries are what `DELIVERIES_DUE` says is
//! due.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::{
    DELIVERIES, DELIVERIES_DUE, EVENTS, OUTBOX, OUTBOX_KEYS_V2, SUBSCRIPTIONS, WEBHOOKS,
};
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

    /// Its row in `SUBSCRIPTIONS`: a bit per event type it wants (all for `*`), or nothing
    /// while it is inactive.
    pub fn subscription(&self) -> Option<u64> {
        self.active.then(|| {
            self.events
                .iter()
                .fold(0, |mask, e| if e == "*" { u64::MAX } else { mask | event_bit(e) })
        })
    }
}

/// An event type's bit in a subscription mask: its place in `EVENT_TYPES`.
fn event_bit(event_type: &str) -> u64 {
    EVENT_TYPES.iter().position(|t| *t == event_type).map_or(0, |i| 1 << i)
}

type Subscriptions<'t> = redb::Table<'t, (u128, u128), u64>;

fn subscribe(table: &mut Subscriptions<'_>, tenant: Uuid, hook: &Webhook) -> Result<()> {
    let key = (tenant.as_u128(), hook.id.as_u128());
    match hook.subscription() {
        Some(mask) => table.insert(key, mask)?,
        None => table.remove(key)?,
    };
    Ok(())
}

/// Builds `SUBSCRIPTIONS` from the registrations (the schema 1 -> 2 upgrade).
pub fn index_subscriptions(txn: &WriteTransaction) -> Result<u64> {
    let (hooks, mut table) = (txn.open_table(WEBHOOKS)?, txn.open_table(SUBSCRIPTIONS)?);
    let mut n = 0;
    for row in hooks.iter()? {
        let (key, bytes) = row?;
        let hook: Webhook = codec::decode(bytes.value())?;
        subscribe(&mut table, Uuid::from_u128(key.value().0), &hook)?;
        n += 1;
    }
    Ok(n)
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
    subscribe(&mut txn.open_table(SUBSCRIPTIONS)?, tenant, hook)
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
    txn.open_table(SUBSCRIPTIONS)?.remove((tenant.as_u128(), id.as_u128()))?;
    Ok(())
}

/// What an event is about, kept typed in the outbox: rendering it as JSON is the worker's job,
/// off the writer thread.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum EventData {
    User(super::users::User),
    Member { room: Uuid, user: Uuid, tx_permission: bool },
    Room { room: super::rooms::Room, sync: Option<super::rooms::SyncCounts> },
    SeatsExhausted { capacity: u64 },
}

/// An event waiting in the outbox, with the registrations subscribed to it when it happened.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    pub tenant: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub data: EventData,
    pub webhooks: Vec<Uuid>,
}

pub type OutboxKey = (i64, u128);

impl OutboxEvent {
    pub fn key(&self) -> OutboxKey {
        (self.occurred_at, self.event_id.as_u128())
    }

    /// A fresh delivery of this event to `webhook`, not yet attempted.
    pub fn delivery(&self, webhook: Uuid) -> Delivery {
        Delivery {
            id: delivery_id(self.event_id, webhook, self.occurred_at),
            webhook_id: webhook,
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_error: None,
            last_duration_ms: None,
            next_attempt_at: Some(self.occurred_at),
            created_at: self.occurred_at,
            updated_at: self.occurred_at,
        }
    }
}

/// The id of an event's delivery to a registration: derived, so that whoever records it first
/// wins and a replay after a crash finds it. A UUIDv7 of the event's time, so pruning can go by id.
pub fn delivery_id(event: Uuid, webhook: Uuid, occurred_at: i64) -> Uuid {
    let mut h = blake3::Hasher::new();
    h.update(event.as_bytes());
    h.update(webhook.as_bytes());
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&h.finalize().as_bytes()[..10]);
    uuid::Builder::from_unix_timestamp_millis(occurred_at.max(0) as u64, &rest).into_uuid()
}

/// Records an event in the outbox if any registration wants it: one row in one table, whatever
/// the number of registrations, so the change's transaction stays small.
pub fn emit(txn: &WriteTransaction, tenant: Uuid, event: Event) -> Result<()> {
    let (t, bit) = (tenant.as_u128(), event_bit(event.event_type));
    let mut webhooks = Vec::new();
    for row in txn.open_table(SUBSCRIPTIONS)?.range((t, 0)..=(t, u128::MAX))? {
        let (key, mask) = row?;
        if mask.value() & bit != 0 {
            webhooks.push(Uuid::from_u128(key.value().1));
        }
    }
    if webhooks.is_empty() {
        return Ok(());
    }
    let row = OutboxEvent {
        tenant,
        event_id: event.id,
        event_type: event.event_type.to_owned(),
        occurred_at: event.occurred_at,
        data: event.data,
        webhooks,
    };
    let bytes = codec::encode(&row)?;
    txn.open_table(OUTBOX)?.insert(row.key(), bytes.as_slice())?;
    Ok(())
}

/// An event on record (a delivery's is at `(d.created_at, d.event_id)`): in the event log, or
/// still in the outbox while other registrations' deliveries of it are under way.
pub fn event(tx: &impl Tx, key: OutboxKey) -> Result<Option<OutboxEvent>> {
    for table in [EVENTS, OUTBOX] {
        if let Some(bytes) = tx.table(table)?.get(key)? {
            return Ok(Some(codec::decode(bytes.value())?));
        }
    }
    Ok(None)
}

/// Outbox events, oldest first, skipping `skip`, at most `limit`.
pub fn outbox(
    tx: &impl Tx,
    limit: usize,
    skip: impl Fn(OutboxKey) -> bool,
) -> Result<Vec<OutboxEvent>> {
    let table = tx.table(OUTBOX)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (key, bytes) = row?;
        if skip(key.value()) {
            continue;
        }
        out.push(codec::decode(bytes.value())?);
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// Events still in the outbox for `webhook` with no delivery on record: not attempted yet.
pub fn outbox_for(tx: &impl Tx, tenant: Uuid, webhook: Uuid) -> Result<Vec<OutboxEvent>> {
    let mut out = Vec::new();
    for e in outbox(tx, usize::MAX, |_| false)? {
        if e.tenant == tenant
            && e.webhooks.contains(&webhook)
            && !delivery_exists(
                tx,
                tenant,
                webhook,
                delivery_id(e.event_id, webhook, e.occurred_at),
            )?
        {
            out.push(e);
        }
    }
    Ok(out)
}

/// Whether the delivery of an event to a registration is on record.
pub fn delivery_exists(tx: &impl Tx, tenant: Uuid, webhook: Uuid, id: Uuid) -> Result<bool> {
    Ok(tx.table(DELIVERIES)?.get((tenant.as_u128(), webhook.as_u128(), id.as_u128()))?.is_some())
}

/// Moves outbox events whose deliveries are all on record (or whose registrations are gone) to
/// the event log.
pub fn settle(txn: &WriteTransaction, keys: &[OutboxKey]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let (mut outbox, mut events) = (txn.open_table(OUTBOX)?, txn.open_table(EVENTS)?);
    for &key in keys {
        if let Some(bytes) = outbox.remove(key)? {
            events.insert(key, bytes.value())?;
        }
    }
    Ok(())
}

/// Schema 2 kept every event in `EVENTS` and the outbox as keys beside it; moves the events
/// still in that outbox to `OUTBOX` and drops the old key table (the schema 2 -> 3 upgrade).
/// Returns how many moved.
pub fn move_outbox_v2(txn: &WriteTransaction) -> Result<u64> {
    let mut keys = Vec::new();
    for row in txn.open_table(OUTBOX_KEYS_V2)?.iter()? {
        keys.push(row?.0.value());
    }
    let (mut events, mut outbox) = (txn.open_table(EVENTS)?, txn.open_table(OUTBOX)?);
    let mut moved = 0;
    for key in keys {
        if let Some(bytes) = events.remove(key)? {
            outbox.insert(key, bytes.value())?;
            moved += 1;
        }
    }
    drop((events, outbox));
    txn.delete_table(OUTBOX_KEYS_V2)?;
    Ok(moved)
}

/// An event about to be recorded.
pub struct Event {
    pub id: Uuid,
    pub event_type: &'static str,
    pub occurred_at: i64,
    pub data: EventData,
}

impl Event {
    /// Ids are derived from the change, so a replayed mutation records the same event.
    pub fn new(event_type: &'static str, occurred_at: i64, seed: &[u8], data: EventData) -> Event {
        let mut h = blake3::Hasher::new();
        h.update(event_type.as_bytes());
        h.update(&occurred_at.to_le_bytes());
        h.update(seed);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&h.finalize().as_bytes()[..16]);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        Event { id, event_type, occurred_at, data }
    }
}

/// The tables that recording a batch of attempts touches, opened once for the batch.
pub struct DeliveryLog<'t> {
    hooks: redb::Table<'t, (u128, u128), &'static [u8]>,
    subscriptions: Subscriptions<'t>,
    deliveries: redb::Table<'t, (u128, u128, u128), &'static [u8]>,
    due: redb::Table<'t, (i64, u128, u128, u128), ()>,
}

impl<'t> DeliveryLog<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<DeliveryLog<'t>> {
        Ok(DeliveryLog {
            hooks: txn.open_table(WEBHOOKS)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            deliveries: txn.open_table(DELIVERIES)?,
            due: txn.open_table(DELIVERIES_DUE)?,
        })
    }

    pub fn hook(&self, tenant: Uuid, id: Uuid) -> Result<Option<Webhook>> {
        match self.hooks.get((tenant.as_u128(), id.as_u128()))? {
            Some(bytes) => Ok(Some(codec::decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    pub fn put_hook(&mut self, tenant: Uuid, hook: &Webhook) -> Result<()> {
        let bytes = codec::encode(hook)?;
        self.hooks.insert((tenant.as_u128(), hook.id.as_u128()), bytes.as_slice())?;
        subscribe(&mut self.subscriptions, tenant, hook)
    }

    pub fn delivery(&self, tenant: Uuid, webhook: Uuid, id: Uuid) -> Result<Option<Delivery>> {
        match self.deliveries.get((tenant.as_u128(), webhook.as_u128(), id.as_u128()))? {
            Some(bytes) => Ok(Some(codec::decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    /// Writes a delivery, moving its due-index entry from where `old` had it.
    pub fn put(&mut self, tenant: Uuid, old: Option<&Delivery>, d: &Delivery) -> Result<()> {
        let key = (tenant.as_u128(), d.webhook_id.as_u128(), d.id.as_u128());
        if let Some(at) = old.and_then(|o| o.next_attempt_at) {
            self.due.remove((at, key.0, key.1, key.2))?;
        }
        let bytes = codec::encode(d)?;
        self.deliveries.insert(key, bytes.as_slice())?;
        if let (DeliveryStatus::Pending, Some(at)) = (d.status, d.next_attempt_at) {
            self.due.insert((at, key.0, key.1, key.2), ())?;
        }
        Ok(())
    }
}

/// Writes a changed delivery, moving its place in the due index.
pub fn put_delivery(txn: &WriteTransaction, tenant: Uuid, d: &Delivery) -> Result<()> {
    let mut log = DeliveryLog::open(txn)?;
    let old = log.delivery(tenant, d.webhook_id, d.id)?;
    log.put(tenant, old.as_ref(), d)
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

/// A delivery due for another attempt, with its registration and event.
pub struct Due {
    pub tenant: Uuid,
    pub delivery: Delivery,
    pub hook: Webhook,
    /// None only if the event left the store (pruned) while a redelivery was pending.
    pub event: Option<OutboxEvent>,
}

/// Deliveries due at `now`, oldest first, skipping `skip(delivery, webhook)`.
pub fn due(
    tx: &impl Tx,
    now: i64,
    limit: usize,
    skip: impl Fn(Uuid, Uuid) -> bool,
) -> Result<Vec<Due>> {
    let table = tx.table(DELIVERIES_DUE)?;
    let mut out = Vec::new();
    let mut hooks: std::collections::HashMap<(u128, u128), Webhook> = Default::default();
    for row in table.range((i64::MIN, 0, 0, 0)..=(now, u128::MAX, u128::MAX, u128::MAX))? {
        let (key, _) = row?;
        let (_, t, w, d) = key.value();
        if skip(Uuid::from_u128(d), Uuid::from_u128(w)) {
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
        let delivery = get_delivery(tx, tenant, hook.id, Uuid::from_u128(d))?;
        let event = event(tx, (delivery.created_at, delivery.event_id.as_u128()))?;
        out.push(Due { tenant, delivery, hook, event });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// `user.*`.
pub fn emit_user(
    txn: &WriteTransaction,
    tenant: Uuid,
    event_type: &'static str,
    user: &super::users::User,
    now: i64,
) -> Result<()> {
    let data = EventData::User(user.clone());
    emit(txn, tenant, Event::new(event_type, now, user.id.as_bytes(), data))
}

/// `room.member_*`.
pub fn emit_member(
    txn: &WriteTransaction,
    tenant: Uuid,
    event_type: &'static str,
    room: Uuid,
    user: Uuid,
    tx_permission: bool,
    now: i64,
) -> Result<()> {
    let data = EventData::Member { room, user, tx_permission };
    let seed = [room.as_bytes().as_slice(), user.as_bytes().as_slice()].concat();
    emit(txn, tenant, Event::new(event_type, now, &seed, data))
}

/// `room.*` about the room itself (`sync`: what a full-replace sync changed).
pub fn emit_room(
    txn: &WriteTransaction,
    tenant: Uuid,
    event_type: &'static str,
    room: &super::rooms::Room,
    sync: Option<super::rooms::SyncCounts>,
    now: i64,
) -> Result<()> {
    let seed = [room.id.as_bytes().as_slice(), &room.version.to_le_bytes()].concat();
    let data = EventData::Room { room: room.clone(), sync };
    emit(txn, tenant, Event::new(event_type, now, &seed, data))
}

/// `seats.exhausted`, when the last free seat was just taken.
pub fn emit_seats_exhausted(
    txn: &WriteTransaction,
    tenant: Uuid,
    capacity: u64,
    now: i64,
) -> Result<()> {
    let data = EventData::SeatsExhausted { capacity };
    emit(txn, tenant, Event::new("seats.exhausted", now, tenant.as_bytes(), data))
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
    drop(table);
    prune_events(txn, cutoff)?;
    Ok(doomed.len() as u64)
}

/// Deletes logged events older than `cutoff` that no pending delivery still needs (outbox events
/// are not in the log yet).
fn prune_events(txn: &WriteTransaction, cutoff: i64) -> Result<()> {
    let mut needed = std::collections::HashSet::new();
    {
        let due = txn.open_table(DELIVERIES_DUE)?;
        let deliveries = txn.open_table(DELIVERIES)?;
        for row in due.iter()? {
            let (_, t, w, d) = row?.0.value();
            if let Some(bytes) = deliveries.get((t, w, d))? {
                let d: Delivery = codec::decode(bytes.value())?;
                needed.insert((d.created_at, d.event_id.as_u128()));
            }
        }
    }
    let mut events = txn.open_table(EVENTS)?;
    let mut old = Vec::new();
    for row in events.range((i64::MIN, 0)..(cutoff, 0))? {
        let key = row?.0.value();
        if !needed.contains(&key) {
            old.push(key);
        }
    }
    for key in old {
        events.remove(key)?;
    }
    Ok(())
}
