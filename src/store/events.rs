//! The change stream: the event log and its outbox. Every committed change records its event in
//! the change's own transaction (no change without its event, no event without its change),
//! numbered by the tenant's counter `event_seq`: `seq` is unique and strictly increasing per
//! tenant, in commit order. The event id is derived from (tenant, seq), so a batch the
//! group-commit writer replays numbers its events again the same way. When registrations want
//! the event (their `SUBSCRIPTIONS` masks), an outbox row stands beside it until the webhook
//! worker has recorded a delivery for each (`webhooks`); `GET /events` reads the log itself.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{Error, Failure, Result};
use super::records::{Room, SyncCounts, User};
use super::tables::{EVENT_LOG, OUTBOX, SUBSCRIPTIONS};
pub use super::txn::Cause;
use super::txn::{Tx, WriteTxn};
use super::{codec, counters};

/// Every event type, for subscriptions and `*`. New types go at the end: a registration's
/// subscription mask is a bit per place in this list.
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
    "user.deleted",
    "room.created",
    "room.deleted",
    "seats.capacity_changed",
    "scim.async_response",
];

/// What an event is about, kept typed: rendering it as JSON is for the reader (the webhook
/// worker, the feed), off the writer thread. Variants are appended only (postcard stores the
/// variant's place).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum EventData {
    User(User),
    /// `group`: the room is a SCIM group (mapped) after the change.
    Member {
        room: Uuid,
        user: Uuid,
        tx_permission: bool,
        group: bool,
    },
    Room {
        room: Room,
        sync: Option<SyncCounts>,
    },
    SeatsExhausted {
        capacity: u64,
    },
    Seats {
        capacity: u64,
        used: u64,
    },
    /// The outcome of one operation of a SCIM request made with `Prefer: respond-async`: its
    /// result as a Bulk response shows it (RFC 7644 §3.7.3), as JSON text.
    AsyncResponse {
        result: String,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    pub tenant: Uuid,
    pub seq: u64,
    /// `webhook-id` and the feed's `id`: unique, the same on every delivery of the event.
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    /// The user, the room (memberships too) or the tenant (seats) it is about: events about one
    /// resource reach each registration in `seq` order.
    pub resource: Uuid,
    /// The resource's version after the change (users and rooms; a membership carries its
    /// room's), so a consumer can drop a stale event.
    pub version: Option<u64>,
    pub data: EventData,
    /// The request that made the change, when one did (None: the admin CLI, the console, the
    /// server itself): what a SET names as its `txn`, and whether it was a PUT or a PATCH.
    pub cause: Option<Cause>,
    /// The attributes the change set, by their SCIM names (`userName`, `name.givenName`,
    /// `members`): what a SET's notice form lists.
    pub attributes: Vec<String>,
}

/// The id of a tenant's `seq`th event: unique because `seq` is, and a UUIDv7 of its time.
pub(super) fn event_id(tenant: Uuid, seq: u64, occurred_at: i64) -> Uuid {
    let mut h = blake3::Hasher::new();
    h.update(tenant.as_bytes());
    h.update(&seq.to_le_bytes());
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&h.finalize().as_bytes()[..10]);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(occurred_at).unwrap_or(0), &rest)
        .into_uuid()
}

/// Records an event: the next `seq`, the log row, and an outbox row if any registration wants it.
/// Its cause is the request the transaction is running for, if any (`WriteTxn::set_cause`).
fn emit(
    txn: &WriteTxn,
    tenant: Uuid,
    event_type: &'static str,
    (resource, version): (Uuid, Option<u64>),
    (occurred_at, attributes): (i64, Vec<String>),
    data: EventData,
) -> Result<()> {
    let seq = counters::add(txn, tenant, counters::EVENT_SEQ, 1)?;
    let id = event_id(tenant, seq, occurred_at);
    let event = Event {
        tenant,
        seq,
        id,
        event_type: event_type.to_owned(),
        occurred_at,
        resource,
        version,
        data,
        cause: txn.cause(),
        attributes,
    };
    put(txn, &event)?;
    enqueue(txn, tenant, seq, event_type)
}

pub(super) fn put(txn: &WriteTxn, event: &Event) -> Result<()> {
    let bytes = codec::encode(event)?;
    txn.open_table(EVENT_LOG)?.insert((event.tenant.as_u128(), event.seq), bytes.as_slice())?;
    Ok(())
}

/// `user.*`; `attributes`: what the change set (SCIM names).
pub(super) fn user(
    txn: &WriteTxn,
    tenant: Uuid,
    event_type: &'static str,
    (user, attributes): (&User, Vec<String>),
    now: i64,
) -> Result<()> {
    let subject = (user.id, Some(user.version));
    emit(txn, tenant, event_type, subject, (now, attributes), EventData::User(user.clone()))
}

/// `room.member_*`, with the room as it is after the change.
pub(super) fn member(
    txn: &WriteTxn,
    tenant: Uuid,
    event_type: &'static str,
    room: &Room,
    user: Uuid,
    tx_permission: bool,
    now: i64,
) -> Result<()> {
    let data = EventData::Member { room: room.id, user, tx_permission, group: room.mapped };
    let attributes = vec!["members".to_owned()];
    emit(txn, tenant, event_type, (room.id, Some(room.version)), (now, attributes), data)
}

/// `room.*` about the room itself (`sync`: what a full-replace sync changed); `attributes`:
/// what the change set (SCIM names).
pub(super) fn room(
    txn: &WriteTxn,
    tenant: Uuid,
    event_type: &'static str,
    (room, attributes): (&Room, Vec<String>),
    sync: Option<SyncCounts>,
    now: i64,
) -> Result<()> {
    let data = EventData::Room { room: room.clone(), sync };
    emit(txn, tenant, event_type, (room.id, Some(room.version)), (now, attributes), data)
}

/// `scim.async_response`: the outcome of an operation of an asynchronous SCIM request, `txn`
/// naming it (`<request txn>` or, in a Bulk, `<request txn>:<index>`), about `resource` if it
/// names one (else the tenant). Not a change: written after the operation, in a commit of its own.
pub fn async_response(
    txn: &WriteTxn,
    tenant: Uuid,
    (id, method): (&str, &str),
    (resource, result): (Option<Uuid>, &serde_json::Value),
    now: i64,
) -> Result<()> {
    txn.set_cause(Some(Cause { txn: id.to_owned(), method: method.to_owned() }));
    let data = EventData::AsyncResponse { result: result.to_string() };
    let emitted = emit(
        txn,
        tenant,
        "scim.async_response",
        (resource.unwrap_or(tenant), None),
        (now, Vec::new()),
        data,
    );
    txn.set_cause(None);
    emitted
}

/// `seats.exhausted`, when the last free seat was just taken.
pub(super) fn seats_exhausted(txn: &WriteTxn, tenant: Uuid, capacity: u64, now: i64) -> Result<()> {
    let data = EventData::SeatsExhausted { capacity };
    emit(txn, tenant, "seats.exhausted", (tenant, None), (now, Vec::new()), data)
}

/// `seats.capacity_changed`, when the admin sets a tenant's seats.
pub(super) fn seats_changed(
    txn: &WriteTxn,
    tenant: Uuid,
    capacity: u64,
    used: u64,
    now: i64,
) -> Result<()> {
    let data = EventData::Seats { capacity, used };
    emit(txn, tenant, "seats.capacity_changed", (tenant, None), (now, Vec::new()), data)
}

pub fn get(tx: &impl Tx, tenant: Uuid, seq: u64) -> Result<Option<Event>> {
    match tx.table(EVENT_LOG)?.get((tenant.as_u128(), seq))? {
        Some(bytes) => Ok(Some(codec::decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// An `Event`'s leading fields: postcard reads fields in order and leaves the rest, so the
/// activity chart reads these without decoding each event's resource.
#[derive(Deserialize)]
struct Head {
    _tenant: Uuid,
    _seq: u64,
    _id: Uuid,
    event_type: String,
    occurred_at: i64,
}

/// The (time, type) of the tenant's events since `since` (Unix ms), newest first, looking at
/// most at `most`; true when it stopped there before reaching `since`.
pub fn activity(
    tx: &impl Tx,
    tenant: Uuid,
    since: i64,
    most: usize,
) -> Result<(Vec<(i64, String)>, bool)> {
    let t = tenant.as_u128();
    let mut out = Vec::new();
    for row in tx.table(EVENT_LOG)?.range((t, 0)..=(t, u64::MAX))?.rev() {
        let head: Head = codec::decode(row?.1.value())?;
        if head.occurred_at < since {
            return Ok((out, false));
        }
        if out.len() == most {
            return Ok((out, true));
        }
        out.push((head.occurred_at, head.event_type));
    }
    Ok((out, false))
}

/// Visits the tenant's events newest first, at most `most` of them, until `visit` says stop.
pub fn newest_first(
    tx: &impl Tx,
    tenant: Uuid,
    most: usize,
    mut visit: impl FnMut(Event) -> Result<bool>,
) -> Result<()> {
    let t = tenant.as_u128();
    for row in tx.table(EVENT_LOG)?.range((t, 0)..=(t, u64::MAX))?.rev().take(most) {
        if !visit(codec::decode(row?.1.value())?)? {
            break;
        }
    }
    Ok(())
}

/// Where a tenant's stream stands: the last `seq` given out, and the last one pruned.
pub fn bounds(tx: &impl Tx, tenant: Uuid) -> Result<(u64, u64)> {
    Ok((
        counters::get(tx, tenant, counters::EVENT_SEQ)?,
        counters::get(tx, tenant, counters::EVENT_FLOOR)?,
    ))
}

/// The feed asked for events that have been pruned: it must resynchronise from `oldest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub oldest: u64,
}

/// Up to `limit` of a tenant's events after `after`, in `seq` order.
pub fn after(
    tx: &impl Tx,
    tenant: Uuid,
    after: u64,
    limit: usize,
) -> Result<Result<Vec<Event>, Expired>> {
    let floor = counters::get(tx, tenant, counters::EVENT_FLOOR)?;
    if after < floor {
        return Ok(Err(Expired { oldest: floor + 1 }));
    }
    let t = tenant.as_u128();
    let table = tx.table(EVENT_LOG)?;
    let mut out = Vec::new();
    for row in table.range((t, after.saturating_add(1))..=(t, u64::MAX))?.take(limit) {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(Ok(out))
}

/// Removes up to `most` of the tenant's events older than `cutoff` (unix ms) from the front of
/// its log, keeping those `needed` (a pending delivery renders its body from its event), and
/// moves the feed's floor past them. Returns how many went.
pub fn prune(
    txn: &WriteTxn,
    tenant: Uuid,
    cutoff: i64,
    most: usize,
    needed: impl Fn(u64) -> bool,
) -> Result<u64> {
    let (t, floor) = (tenant.as_u128(), counters::get(txn, tenant, counters::EVENT_FLOOR)?);
    let mut table = txn.open_table(EVENT_LOG)?;
    let (mut gone, mut last) = (Vec::new(), floor);
    // From the very start: events kept below the floor for a pending delivery go once it is done.
    for row in table.range((t, 0)..=(t, u64::MAX))?.take(most) {
        let (key, bytes) = row?;
        let event: Event = codec::decode(bytes.value())?;
        if event.occurred_at >= cutoff {
            break;
        }
        last = last.max(event.seq);
        if !needed(event.seq) {
            gone.push(key.value());
        }
    }
    for key in &gone {
        table.remove(*key)?;
    }
    drop(table);
    if last > floor {
        let delta = i64::try_from(last - floor).unwrap_or(i64::MAX);
        counters::add(txn, tenant, counters::EVENT_FLOOR, delta)?;
    }
    Ok(gone.len() as u64)
}

// The outbox: which events registrations still want, beside the log they point into.

/// A registration's row in `SUBSCRIPTIONS` from its state (any schema's).
pub(super) fn subscription_mask(active: bool, events: &[String]) -> Option<u64> {
    active.then(|| {
        events.iter().fold(0, |mask, e| if e == "*" { u64::MAX } else { mask | event_bit(e) })
    })
}

/// An event type's bit in a subscription mask: its place in `EVENT_TYPES`.
fn event_bit(event_type: &str) -> u64 {
    EVENT_TYPES.iter().position(|t| *t == event_type).map_or(0, |i| 1 << i)
}

/// An outbox event: the event with the registrations that have no delivery of it on record yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Queued {
    pub event: Event,
    pub webhooks: Vec<Uuid>,
}

/// An outbox row's key: (tenant, seq).
pub type OutboxKey = (u128, u64);

impl Queued {
    pub fn key(&self) -> OutboxKey {
        (self.event.tenant.as_u128(), self.event.seq)
    }
}

/// Puts the tenant's `seq`th event in the outbox if any registration wants it: one small row,
/// whatever the number of registrations, so the change's transaction stays small.
fn enqueue(txn: &WriteTxn, tenant: Uuid, seq: u64, event_type: &str) -> Result<()> {
    let (t, bit) = (tenant.as_u128(), event_bit(event_type));
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
    let bytes = codec::encode(&webhooks)?;
    txn.open_table(OUTBOX)?.insert((t, seq), bytes.as_slice())?;
    Ok(())
}

/// Outbox events in (tenant, seq) order, skipping `skip`, at most `limit`.
pub fn outbox(tx: &impl Tx, limit: usize, skip: impl Fn(OutboxKey) -> bool) -> Result<Vec<Queued>> {
    let table = tx.table(OUTBOX)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (key, bytes) = row?;
        let key = key.value();
        if skip(key) {
            continue;
        }
        let webhooks: Vec<Uuid> = codec::decode(bytes.value())?;
        let tenant = Uuid::from_u128(key.0);
        let Some(event) = get(tx, tenant, key.1)? else {
            return Err(Error::Failed(Failure::Corrupt(format!(
                "outbox event {tenant}/{} is not in the log",
                key.1
            ))));
        };
        out.push(Queued { event, webhooks });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// Removes outbox rows whose deliveries are all on record (or whose registrations are gone).
pub fn settle(txn: &WriteTxn, keys: &[OutboxKey]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut outbox = txn.open_table(OUTBOX)?;
    for &key in keys {
        outbox.remove(key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// `Head` reads the leading fields of a stored event: it breaks, and this fails, if
    /// `Event`'s layout changes in front of them.
    #[test]
    fn the_head_of_an_event_reads_its_type_and_time() {
        let event = Event {
            tenant: Uuid::now_v7(),
            seq: 42,
            id: Uuid::now_v7(),
            event_type: "room.member_added".into(),
            occurred_at: 1_796_000_000_123,
            resource: Uuid::now_v7(),
            version: Some(3),
            data: EventData::Member {
                room: Uuid::now_v7(),
                user: Uuid::now_v7(),
                tx_permission: true,
                group: false,
            },
            cause: None,
            attributes: Vec::new(),
        };
        let head: Head = codec::decode(&codec::encode(&event).unwrap()).unwrap();
        assert_eq!(
            (head.event_type.as_str(), head.occurred_at),
            ("room.member_added", 1_796_000_000_123)
        );
    }
}
