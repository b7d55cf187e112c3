//! Webhook registrations, the outbox and the deliveries. A change that a registration wants gets
//! an outbox row beside its event (`events`), in the change's transaction. The worker
//! (`crate::webhooks`) attempts each outbox event for its registrations straight away and records
//! the result as a delivery row (whose id is derived from event and registration); when every
//! registration has its row, the outbox row goes. Retries are what `DELIVERIES_DUE` says is due.
//!
//! Per-resource order: a registration's pending deliveries about one resource stand in `LANES`
//! in `seq` order, and only the first of them is ever due; when it succeeds or fails for good, the
//! next becomes due (`DeliveryLog::leave_lane`).

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{self, Actor, Field};
use super::codec;
use super::error::{Error, Refusal, Result};
use super::events::{self, subscription_mask};
pub use super::events::{EVENT_TYPES, Event, EventData};
use super::tables::{DELIVERIES, DELIVERIES_DUE, LANES, OUTBOX, SUBSCRIPTIONS, WEBHOOKS};
use super::txn::{Tx, WriteTxn};

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
    /// How long it has been failing while this server was attempting deliveries to it (time the
    /// server was stopped does not count): what `webhook_disable_after_secs` is compared with.
    pub failing_for_ms: u64,
    /// Unix ms of the last failed attempt since the last success.
    pub last_failure_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The secret a rotation replaced, and until when (unix ms) deliveries are signed with it
    /// too, so receivers can switch without a gap (Standard Webhooks' rotation).
    pub previous_secret: Option<(String, i64)>,
    /// Thin payloads: the event's type, ids, `seq` and version, no resource (the receiver
    /// fetches it); else the resource as the native API shows it.
    pub thin: bool,
    /// Set for a SET receiver (RFC 9967): it gets signed security events instead of webhook
    /// JSON, and `events` holds the event types its event URIs stand for.
    pub set: Option<SetReceiver>,
}

/// How a SET receiver wants its security events.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SetReceiver {
    /// The `aud` claim of its SETs.
    pub audience: String,
    /// The event URIs it wants, short (`prov:create`, `prov:deactivate`, `misc:asyncresp`).
    pub uris: Vec<String>,
    /// `prov:create|put|patch` with the resource (`full`) rather than the attribute names.
    pub full: bool,
    /// Polled (RFC 8936) rather than pushed (RFC 8935): where its acknowledgements stand.
    pub poll: Option<PollState>,
}

/// A polled receiver's acknowledgements: every SET up to `acked_through` (a `seq`), and these
/// after it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PollState {
    pub acked_through: u64,
    pub acked: Vec<u64>,
}

impl Webhook {
    /// A new active registration for every event type, failing never.
    pub fn new(id: Uuid, url: String, secret: String, now: i64) -> Webhook {
        Webhook {
            id,
            url,
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            secret,
            disabled_reason: None,
            failing_since: None,
            failing_for_ms: 0,
            last_failure_at: None,
            created_at: now,
            updated_at: now,
            previous_secret: None,
            thin: false,
            set: None,
        }
    }

    /// A polled SET receiver: nothing is pushed to it (its SETs are read from the event log).
    pub fn polled(&self) -> bool {
        self.set.as_ref().is_some_and(|s| s.poll.is_some())
    }

    /// The secrets a delivery at `now` is signed with: the current one, and the previous one
    /// while its overlap lasts.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret
            && now < *until
        {
            secrets.push(previous);
        }
        secrets
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.active && self.events.iter().any(|e| e == "*" || e == event_type)
    }

    /// Its row in `SUBSCRIPTIONS`: a bit per event type it wants (all for `*`), or nothing
    /// while it is inactive.
    pub fn subscription(&self) -> Option<u64> {
        subscription_mask(self.active && !self.polled(), &self.events)
    }
}

type Subscriptions<'w, 't> = super::txn::WriteTable<'w, 't, (u128, u128), u64>;

fn subscribe(table: &mut Subscriptions<'_, '_>, tenant: Uuid, hook: &Webhook) -> Result<()> {
    Ok(table.set((tenant.as_u128(), hook.id.as_u128()), hook.subscription())?)
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
    /// The event's place in its tenant's stream, where its body is rendered from.
    pub seq: u64,
    /// What the event is about: its lane in `LANES` while pending.
    pub resource: Uuid,
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

/// A registration's deliveries, newest first, at most `limit`: events not attempted yet (pending
/// deliveries too), then the log.
pub fn recent_deliveries(
    tx: &impl Tx,
    tenant: Uuid,
    hook: Uuid,
    limit: u64,
) -> Result<Vec<Delivery>> {
    get(tx, tenant, hook)?;
    let mut list: Vec<Delivery> =
        outbox_for(tx, tenant, hook)?.iter().rev().map(|e| new_delivery(e, hook)).collect();
    list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let room = limit.saturating_sub(list.len() as u64);
    list.extend(deliveries(tx, tenant, hook, room)?);
    Ok(list)
}

/// Queues a delivery again, due now (same event, same `webhook-id`).
/// Queues delivery `delivery` of `hook` again now, audited as `actor`'s.
pub fn redeliver_one(
    txn: &WriteTxn,
    tenant: Uuid,
    (hook, delivery): (Uuid, Uuid),
    actor: &Actor,
    now: i64,
) -> Result<Delivery> {
    let d = redeliver(txn, tenant, hook, delivery, now)?;
    let target = format!("webhook {hook} delivery {delivery}");
    let field = Field::set("event", &d.event_type);
    audit::record(txn, tenant, actor, ("webhook.redelivered", &target), vec![field], now)?;
    Ok(d)
}

fn redeliver(
    txn: &WriteTxn,
    tenant: Uuid,
    hook: Uuid,
    delivery: Uuid,
    now: i64,
) -> Result<Delivery> {
    let mut d = get_delivery(txn, tenant, hook, delivery)?;
    d.status = DeliveryStatus::Pending;
    d.next_attempt_at = Some(now);
    d.updated_at = now;
    put_delivery(txn, tenant, &d)?;
    Ok(d)
}

/// How many of a registration's newest deliveries `redeliver_failed` looks through.
pub(super) const REDELIVER_SCAN: u64 = 100_000;

/// Whether `d`'s last attempt failed at or after `since`: given up on, or waiting for a retry.
fn failed_since(d: &Delivery, since: i64) -> bool {
    d.updated_at >= since
        && match d.status {
            DeliveryStatus::Failed => true,
            DeliveryStatus::Pending => d.attempts > 0,
            DeliveryStatus::Succeeded => false,
        }
}

/// The deliveries of `hook` whose last attempt failed at or after `since`, among its newest
/// `REDELIVER_SCAN`: read apart from the writer, for `redeliver_failed`.
pub fn failed_deliveries(tx: &impl Tx, tenant: Uuid, hook: Uuid, since: i64) -> Result<Vec<Uuid>> {
    get(tx, tenant, hook)?;
    let all = deliveries(tx, tenant, hook, REDELIVER_SCAN)?;
    Ok(all.into_iter().filter(|d| failed_since(d, since)).map(|d| d.id).collect())
}

/// Queues again those of `found` (from `failed_deliveries`) that still failed since `since`;
/// audited as `actor`'s. How many were queued.
pub fn redeliver_failed(
    txn: &WriteTxn,
    tenant: Uuid,
    hook: Uuid,
    (found, since): (&[Uuid], i64),
    actor: &Actor,
    now: i64,
) -> Result<u64> {
    get(txn, tenant, hook)?;
    let mut count = 0u64;
    for &id in found {
        // One may have succeeded, been queued again or gone since the read.
        let still = match get_delivery(txn, tenant, hook, id) {
            Ok(d) => failed_since(&d, since),
            Err(Error::Refused(Refusal::NotFound(_))) => false,
            Err(e) => return Err(e),
        };
        if still {
            redeliver(txn, tenant, hook, id, now)?;
            count += 1;
        }
    }
    let fields = vec![
        Field::set("failed_since", crate::time::format_ms(since)),
        Field::set("redelivered", count),
    ];
    audit::record(
        txn,
        tenant,
        actor,
        ("webhook.failed_redelivered", &hook.to_string()),
        fields,
        now,
    )?;
    Ok(count)
}

pub fn create(txn: &WriteTxn, tenant: Uuid, hook: &Webhook) -> Result<()> {
    put(txn, tenant, hook)
}

pub(super) fn put(txn: &WriteTxn, tenant: Uuid, hook: &Webhook) -> Result<()> {
    let bytes = codec::encode(hook)?;
    txn.open_table(WEBHOOKS)?.insert((tenant.as_u128(), hook.id.as_u128()), bytes.as_slice())?;
    subscribe(&mut txn.open_table(SUBSCRIPTIONS)?, tenant, hook)
}

/// A webhook registration (a SET receiver is not found here).
pub fn webhook(tx: &impl Tx, tenant: Uuid, id: Uuid) -> Result<Webhook> {
    let hook = get(tx, tenant, id)?;
    match hook.set {
        None => Ok(hook),
        Some(_) => Err(Error::not_found("webhook")),
    }
}

/// A registration of either kind.
pub fn get(tx: &impl Tx, tenant: Uuid, id: Uuid) -> Result<Webhook> {
    let table = tx.table(WEBHOOKS)?;
    let bytes = table.get((tenant.as_u128(), id.as_u128()))?.ok_or(Error::not_found("webhook"))?;
    codec::decode(bytes.value())
}

/// The tenant's webhook registrations (not its SET receivers).
pub fn list(tx: &impl Tx, tenant: Uuid) -> Result<Vec<Webhook>> {
    Ok(registrations(tx, tenant)?.into_iter().filter(|h| h.set.is_none()).collect())
}

/// The tenant's SET receivers.
pub fn receivers(tx: &impl Tx, tenant: Uuid) -> Result<Vec<Webhook>> {
    Ok(registrations(tx, tenant)?.into_iter().filter(|h| h.set.is_some()).collect())
}

/// Every registration of the tenant: webhooks and SET receivers.
pub(super) fn registrations(tx: &impl Tx, tenant: Uuid) -> Result<Vec<Webhook>> {
    let table = tx.table(WEBHOOKS)?;
    let t = tenant.as_u128();
    let mut out = Vec::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// A registration's fields as a client sends them: omitted ones stay as they are.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub active: Option<bool>,
    pub thin: Option<bool>,
}

/// `list` if every name is a known event type (or `*`), and there is at least one.
pub fn checked_events(list: Vec<String>) -> Result<Vec<String>> {
    if let Some(name) = list.iter().find(|n| *n != "*" && !EVENT_TYPES.contains(&n.as_str())) {
        return Err(Error::invalid(format!(
            "unknown event {name:?}; known: *, {}",
            EVENT_TYPES.join(", ")
        )));
    }
    if list.is_empty() {
        return Err(Error::invalid("events must name at least one event type (or *)"));
    }
    Ok(list)
}

/// Records a new registration, audited as `actor`'s.
pub fn register(txn: &WriteTxn, tenant: Uuid, hook: &Webhook, actor: &Actor) -> Result<()> {
    create(txn, tenant, hook)?;
    let fields = vec![Field::set("url", &hook.url), Field::set("events", hook.events.join(" "))];
    let target = hook.id.to_string();
    audit::record(txn, tenant, actor, ("webhook.created", &target), fields, hook.created_at)
}

/// Applies `change` to registration `id` (re-enabling starts afresh), audited as `actor`'s.
pub fn change(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    change: &Change,
    actor: &Actor,
    now: i64,
) -> Result<Webhook> {
    let mut h = get(txn, tenant, id)?;
    let before = h.clone();
    h.url = change.url.clone().unwrap_or(h.url);
    h.events = change.events.clone().unwrap_or(h.events);
    h.description = change.description.clone().unwrap_or(h.description);
    h.thin = change.thin.unwrap_or(h.thin);
    if let Some(active) = change.active {
        h.active = active;
        if active {
            h.disabled_reason = None;
            h.failing_since = None;
            h.failing_for_ms = 0;
            h.last_failure_at = None;
        }
    }
    h.updated_at = now;
    put(txn, tenant, &h)?;
    let fields = vec![
        Field::new("url", Some(before.url), Some(h.url.clone())),
        Field::new("events", Some(before.events.join(" ")), Some(h.events.join(" "))),
        Field::new("description", Some(before.description), Some(h.description.clone())),
        Field::new("active", Some(before.active.to_string()), Some(h.active.to_string())),
        Field::new(
            "payload",
            Some(payload_name(before.thin).into()),
            Some(payload_name(h.thin).into()),
        ),
    ];
    audit::record(txn, tenant, actor, ("webhook.updated", &id.to_string()), fields, now)?;
    Ok(h)
}

/// How long a replaced signing secret keeps signing, unless a rotation says (24 h).
pub(super) const DEFAULT_SECRET_OVERLAP_MS: i64 = 24 * 3_600_000;

/// A rotation's overlap as asked (`24h`, `30m`; `0` for none; absent: the default), in ms.
pub fn overlap_ms(asked: Option<&str>) -> Result<i64> {
    match asked.map(str::trim) {
        None => Ok(DEFAULT_SECRET_OVERLAP_MS),
        Some("0") => Ok(0),
        Some(d) => {
            crate::time::parse_duration_ms(d).map_err(|e| Error::invalid(format!("overlap: {e}")))
        }
    }
}

/// Gives registration `id` the signing secret `secret`; the one it replaces keeps signing
/// beside it until `now + overlap_ms` (not at all for 0). Audited as `actor`'s, secrets never.
pub fn rotate_secret(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    secret: &str,
    overlap_ms: i64,
    actor: &Actor,
    now: i64,
) -> Result<Webhook> {
    let mut h = get(txn, tenant, id)?;
    let until = now.saturating_add(overlap_ms.max(0));
    let old = std::mem::replace(&mut h.secret, secret.to_owned());
    h.previous_secret = (overlap_ms > 0).then_some((old, until));
    h.updated_at = now;
    put(txn, tenant, &h)?;
    let overlap = h.previous_secret.as_ref().map(|(_, at)| crate::time::format_ms(*at));
    let fields = vec![Field::new("previous_secret_signs_until", None, overlap)];
    audit::record(txn, tenant, actor, ("webhook.secret_rotated", &id.to_string()), fields, now)?;
    Ok(h)
}

/// Ends a rotation's overlap now: deliveries are signed with the current secret only.
pub fn end_overlap(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    actor: &Actor,
    now: i64,
) -> Result<Webhook> {
    let mut h = get(txn, tenant, id)?;
    let Some((_, until)) = h.previous_secret.take() else { return Ok(h) };
    h.updated_at = now;
    put(txn, tenant, &h)?;
    let fields = vec![Field::new(
        "previous_secret_signs_until",
        Some(crate::time::format_ms(until)),
        Some(crate::time::format_ms(now)),
    )];
    audit::record(
        txn,
        tenant,
        actor,
        ("webhook.secret_overlap_ended", &id.to_string()),
        fields,
        now,
    )?;
    Ok(h)
}

/// Gives SET receiver `id` the settings `set` (its acknowledgements stay as they are).
pub fn set_receiver(txn: &WriteTxn, tenant: Uuid, id: Uuid, set: &SetReceiver) -> Result<Webhook> {
    let mut h = get(txn, tenant, id)?;
    let poll = h.set.as_ref().and_then(|s| s.poll.clone());
    h.set = Some(SetReceiver { poll, ..set.clone() });
    put(txn, tenant, &h)?;
    Ok(h)
}

/// `thin` or `full`, as the API names a registration's payload.
pub fn payload_name(thin: bool) -> &'static str {
    if thin { "thin" } else { "full" }
}

/// A payload name as a client sends it.
pub fn parse_payload(name: &str) -> Result<bool> {
    match name.trim() {
        "thin" => Ok(true),
        "full" => Ok(false),
        other => Err(Error::invalid(format!("payload {other:?}: use full or thin"))),
    }
}

/// Deletes registration `id` with its delivery log, audited as `actor`'s.
pub fn unregister(txn: &WriteTxn, tenant: Uuid, id: Uuid, actor: &Actor, now: i64) -> Result<()> {
    let gone = get(txn, tenant, id)?;
    delete(txn, tenant, id)?;
    let fields = vec![Field::new("url", Some(gone.url), None)];
    audit::record(txn, tenant, actor, ("webhook.deleted", &id.to_string()), fields, now)
}

/// Deletes a registration and its delivery log.
pub(super) fn delete(txn: &WriteTxn, tenant: Uuid, id: Uuid) -> Result<()> {
    get(txn, tenant, id)?;
    for d in deliveries(txn, tenant, id, u64::MAX)? {
        remove_due(txn, tenant, &d)?;
        txn.open_table(DELIVERIES)?.remove((tenant.as_u128(), id.as_u128(), d.id.as_u128()))?;
    }
    txn.open_table(WEBHOOKS)?.remove((tenant.as_u128(), id.as_u128()))?;
    txn.open_table(SUBSCRIPTIONS)?.remove((tenant.as_u128(), id.as_u128()))?;
    let (t, w) = (tenant.as_u128(), id.as_u128());
    txn.open_table(LANES)?.remove_range((t, w, 0, 0)..=(t, w, u128::MAX, u64::MAX))?;
    Ok(())
}

/// A fresh delivery of `event` to `webhook`, not yet attempted.
pub fn new_delivery(event: &Event, webhook: Uuid) -> Delivery {
    Delivery {
        id: delivery_id(event.id, webhook, event.occurred_at),
        webhook_id: webhook,
        event_id: event.id,
        seq: event.seq,
        resource: event.resource,
        event_type: event.event_type.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_status_code: None,
        last_error: None,
        last_duration_ms: None,
        next_attempt_at: Some(event.occurred_at),
        created_at: event.occurred_at,
        updated_at: event.occurred_at,
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
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(occurred_at).unwrap_or(0), &rest)
        .into_uuid()
}

/// Events still in the outbox for `webhook` with no delivery on record: not attempted yet, in
/// `seq` order.
pub fn outbox_for(tx: &impl Tx, tenant: Uuid, webhook: Uuid) -> Result<Vec<Event>> {
    let t = tenant.as_u128();
    let mut out = Vec::new();
    for row in tx.table(OUTBOX)?.range((t, 0)..=(t, u64::MAX))? {
        let (key, bytes) = row?;
        let webhooks: Vec<Uuid> = codec::decode(bytes.value())?;
        if !webhooks.contains(&webhook) {
            continue;
        }
        if let Some(event) = events::get(tx, tenant, key.value().1)?
            && !delivery_exists(
                tx,
                tenant,
                webhook,
                delivery_id(event.id, webhook, event.occurred_at),
            )?
        {
            out.push(event);
        }
    }
    Ok(out)
}

/// Whether the delivery of an event to a registration is on record.
pub fn delivery_exists(tx: &impl Tx, tenant: Uuid, webhook: Uuid, id: Uuid) -> Result<bool> {
    Ok(tx.table(DELIVERIES)?.get((tenant.as_u128(), webhook.as_u128(), id.as_u128()))?.is_some())
}

/// Whether a registration has pending deliveries about `resource` on record: a new event about
/// it must then wait behind them.
pub fn lane_waiting(tx: &impl Tx, tenant: Uuid, webhook: Uuid, resource: Uuid) -> Result<bool> {
    let (t, w, r) = (tenant.as_u128(), webhook.as_u128(), resource.as_u128());
    Ok(tx.table(LANES)?.range((t, w, r, 0)..=(t, w, r, u64::MAX))?.next().is_some())
}

/// Whether a delivery read from the due index is still pending and due at `now` (the worker
/// checks this after claiming its resource, on a fresh read).
pub fn still_due(tx: &impl Tx, tenant: Uuid, webhook: Uuid, id: Uuid, now: i64) -> Result<bool> {
    match tx.table(DELIVERIES)?.get((tenant.as_u128(), webhook.as_u128(), id.as_u128()))? {
        Some(bytes) => {
            let d: Delivery = codec::decode(bytes.value())?;
            Ok(d.status == DeliveryStatus::Pending && d.next_attempt_at.is_some_and(|at| at <= now))
        }
        None => Ok(false),
    }
}

/// The tables that recording a batch of attempts touches, opened once for the batch.
pub struct DeliveryLog<'w, 't> {
    txn: &'w WriteTxn<'t>,
    hooks: super::txn::WriteTable<'w, 't, (u128, u128), &'static [u8]>,
    subscriptions: Subscriptions<'w, 't>,
    deliveries: super::txn::WriteTable<'w, 't, (u128, u128, u128), &'static [u8]>,
    due: super::txn::WriteTable<'w, 't, (i64, u128, u128, u128), ()>,
    lanes: super::txn::WriteTable<'w, 't, (u128, u128, u128, u64), u128>,
}

impl<'w, 't> DeliveryLog<'w, 't> {
    /// Records in the tenant's audit log that the server disabled `hook` (now inactive).
    pub fn audit_disabled(&mut self, tenant: Uuid, hook: &Webhook, now: i64) -> Result<()> {
        let fields = vec![
            Field::new("active", Some("true".into()), Some("false".into())),
            Field::new("disabled_reason", None, hook.disabled_reason.clone()),
        ];
        let target = hook.id.to_string();
        audit::record(self.txn, tenant, &Actor::System, ("webhook.disabled", &target), fields, now)
    }

    pub fn open(txn: &'w WriteTxn<'t>) -> Result<DeliveryLog<'w, 't>> {
        Ok(DeliveryLog {
            txn,
            hooks: txn.open_table(WEBHOOKS)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            deliveries: txn.open_table(DELIVERIES)?,
            due: txn.open_table(DELIVERIES_DUE)?,
            lanes: txn.open_table(LANES)?,
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

    fn lane_key(tenant: Uuid, d: &Delivery) -> (u128, u128, u128, u64) {
        (tenant.as_u128(), d.webhook_id.as_u128(), d.resource.as_u128(), d.seq)
    }

    /// The first pending delivery in `d`'s lane, if any.
    fn lane_head(&self, tenant: Uuid, d: &Delivery) -> Result<Option<(u64, Uuid)>> {
        let (t, w, r, _) = Self::lane_key(tenant, d);
        Ok(match self.lanes.range((t, w, r, 0)..=(t, w, r, u64::MAX))?.next() {
            Some(row) => {
                let (key, id) = row?;
                Some((key.value().3, Uuid::from_u128(id.value())))
            }
            None => None,
        })
    }

    /// Records a delivery not attempted yet as pending in its lane: due now if nothing about its
    /// resource is ahead of it, else not due until those ahead are done.
    pub fn queue(&mut self, tenant: Uuid, mut d: Delivery, now: i64) -> Result<()> {
        let first = self.lane_head(tenant, &d)?.is_none_or(|(seq, _)| seq >= d.seq);
        d.status = DeliveryStatus::Pending;
        d.next_attempt_at = first.then_some(now);
        self.lanes.insert(Self::lane_key(tenant, &d), d.id.as_u128())?;
        self.put(tenant, None, &d)
    }

    /// A first attempt failed and will be retried: it heads its lane until it is done.
    pub fn enter_lane(&mut self, tenant: Uuid, d: &Delivery) -> Result<()> {
        self.lanes.insert(Self::lane_key(tenant, d), d.id.as_u128())?;
        Ok(())
    }

    /// `d` is done (succeeded, or failed for good): it leaves its lane, and the next delivery
    /// about its resource becomes due at `now`.
    pub fn leave_lane(&mut self, tenant: Uuid, d: &Delivery, now: i64) -> Result<()> {
        if self.lanes.remove(Self::lane_key(tenant, d))?.is_none() {
            return Ok(()); // a redelivery, outside any lane
        }
        let Some((_, next)) = self.lane_head(tenant, d)? else { return Ok(()) };
        let Some(old) = self.delivery(tenant, d.webhook_id, next)? else { return Ok(()) };
        if old.status == DeliveryStatus::Pending && old.next_attempt_at.is_none() {
            let mut due = old.clone();
            due.next_attempt_at = Some(now);
            self.put(tenant, Some(&old), &due)?;
        }
        Ok(())
    }
}

/// Writes a changed delivery, moving its place in the due index.
pub fn put_delivery(txn: &WriteTxn, tenant: Uuid, d: &Delivery) -> Result<()> {
    let mut log = DeliveryLog::open(txn)?;
    let old = log.delivery(tenant, d.webhook_id, d.id)?;
    log.put(tenant, old.as_ref(), d)
}

fn remove_due(txn: &WriteTxn, tenant: Uuid, d: &Delivery) -> Result<()> {
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
        .ok_or(Error::not_found("delivery"))?;
    codec::decode(bytes.value())
}

/// A registration's deliveries, newest first.
pub fn deliveries(tx: &impl Tx, tenant: Uuid, webhook: Uuid, limit: u64) -> Result<Vec<Delivery>> {
    let table = tx.table(DELIVERIES)?;
    let (t, w) = (tenant.as_u128(), webhook.as_u128());
    let mut out = Vec::new();
    for row in table
        .range((t, w, 0)..=(t, w, u128::MAX))?
        .rev()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
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
    pub event: Option<Event>,
}

/// Deliveries due at `now`, oldest first, skipping `skip(delivery id, webhook)` and, once the
/// delivery is read, `skip_resource(webhook, resource)`.
pub fn due(
    tx: &impl Tx,
    now: i64,
    limit: usize,
    skip: impl Fn(Uuid, Uuid) -> bool,
    skip_resource: impl Fn(Uuid, Uuid) -> bool,
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
        if skip_resource(hook.id, delivery.resource) {
            continue;
        }
        let event = events::get(tx, tenant, delivery.seq)?.filter(|e| e.id == delivery.event_id);
        out.push(Due { tenant, delivery, hook, event });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// Deletes finished (succeeded or failed) deliveries created before `cutoff` (unix ms), across
/// all tenants; pending ones stay whatever their age. Returns how many went.
pub fn prune(txn: &WriteTxn, cutoff: i64) -> Result<u64> {
    // Delivery ids are UUIDv7: the top 48 bits are the creation time in ms.
    let bound = u128::from(u64::try_from(cutoff).unwrap_or(0)) << 80;
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

/// Webhook work not yet done: events waiting in the outbox (the row count, read without decoding
/// a row), plus pending deliveries (due, or waiting in a lane), each counted once.
pub fn backlog(tx: &impl Tx) -> Result<u64> {
    use redb::ReadableTableMetadata;
    let n = tx.table(OUTBOX)?.len()?;
    let mut pending = std::collections::HashSet::new();
    for row in tx.table(DELIVERIES_DUE)?.iter()? {
        pending.insert(row?.0.value().3);
    }
    for row in tx.table(LANES)?.iter()? {
        pending.insert(row?.1.value());
    }
    Ok(n + pending.len() as u64)
}

/// The events a pending delivery or the outbox still needs, by (tenant, seq): pruning keeps them.
pub fn needed_events(tx: &impl Tx) -> Result<std::collections::HashSet<(u128, u64)>> {
    let mut needed = std::collections::HashSet::new();
    for row in tx.table(OUTBOX)?.iter()? {
        needed.insert(row?.0.value());
    }
    for row in tx.table(LANES)?.iter()? {
        let (t, _, _, seq) = row?.0.value();
        needed.insert((t, seq));
    }
    let deliveries = tx.table(DELIVERIES)?;
    for row in tx.table(DELIVERIES_DUE)?.iter()? {
        let (_, t, w, d) = row?.0.value();
        if let Some(bytes) = deliveries.get((t, w, d))? {
            let d: Delivery = codec::decode(bytes.value())?;
            needed.insert((t, d.seq));
        }
    }
    Ok(needed)
}

/// How many events after a polled receiver's mark a poll looks through (for its SETs, or for the
/// events its acknowledgements name).
pub(super) const POLL_SCAN: usize = 100_000;

/// Up to `limit` of the tenant's events after a polled receiver's mark that it takes (`wanted`)
/// and has not acknowledged, in `seq` order; and whether more may follow. Events pruned before
/// it polled are gone (the stream's retention): it resumes at the oldest kept.
pub fn poll_pending(
    tx: &impl Tx,
    tenant: Uuid,
    hook: &Webhook,
    limit: usize,
    wanted: impl Fn(&Event) -> bool,
) -> Result<(Vec<Event>, bool)> {
    let state = hook.set.as_ref().and_then(|s| s.poll.clone()).unwrap_or_default();
    let (mut after, mut scanned, mut out) = (state.acked_through, 0usize, Vec::new());
    loop {
        let chunk = match events::after(tx, tenant, after, 256)? {
            Ok(chunk) => chunk,
            Err(expired) => {
                after = expired.oldest.saturating_sub(1);
                continue;
            }
        };
        let Some(last) = chunk.last().map(|e| e.seq) else { return Ok((out, false)) };
        for event in chunk {
            scanned += 1;
            if state.acked.binary_search(&event.seq).is_err() && wanted(&event) {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(event);
            }
        }
        if scanned >= POLL_SCAN {
            return Ok((out, true));
        }
        after = last;
    }
}

/// Records a polled receiver's acknowledgements (event ids; an error report counts as one,
/// RFC 8936 §2.4), then moves its mark past every event acknowledged or not `wanted`. Ids it
/// was never given are ignored. Returns how many were recorded.
pub fn poll_ack(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    acked: &[Uuid],
    wanted: impl Fn(&Event) -> bool,
) -> Result<u64> {
    let acked: std::collections::HashSet<Uuid> = acked.iter().copied().collect();
    let mut hook = get(txn, tenant, id)?;
    let Some(set) = hook.set.as_mut() else { return Err(Error::not_found("event receiver")) };
    let mut state = set.poll.clone().unwrap_or_default();
    let (mut after, mut scanned, mut recorded) = (state.acked_through, 0usize, 0u64);
    let (mut walking, mut found) = (true, 0usize);
    'scan: loop {
        let chunk = match events::after(txn, tenant, after, 256)? {
            Ok(chunk) => chunk,
            Err(expired) => {
                // Pruned events are past: the mark moves to the oldest kept.
                state.acked_through = state.acked_through.max(expired.oldest.saturating_sub(1));
                after = state.acked_through;
                continue;
            }
        };
        let Some(last) = chunk.last().map(|e| e.seq) else { break };
        for event in chunk {
            scanned += 1;
            let is_acked = acked.contains(&event.id);
            found += usize::from(is_acked);
            if is_acked && state.acked.binary_search(&event.seq).is_err() {
                recorded += 1;
                if let Err(at) = state.acked.binary_search(&event.seq) {
                    state.acked.insert(at, event.seq);
                }
            }
            if walking && event.seq == state.acked_through + 1 {
                let done = state.acked.binary_search(&event.seq).is_ok() || !wanted(&event);
                if done {
                    state.acked_through = event.seq;
                    state.acked.retain(|s| *s > event.seq);
                } else {
                    walking = false;
                }
            }
            if scanned >= POLL_SCAN || (!walking && found >= acked.len()) {
                break 'scan;
            }
        }
        after = last;
    }
    set.poll = Some(state);
    put(txn, tenant, &hook)?;
    Ok(recorded)
}
