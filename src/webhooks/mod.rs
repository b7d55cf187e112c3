//! Outbound webhooks: the worker that sends outbox events and due retries, signing per Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`), retrying with backoff, and recording every attempt in the store.
//!
//! A slow or dead receiver only ever holds its own attempts: each has a timeout, attempts run
//! concurrently (bounded), and the API never waits for any of it.

pub mod send;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::app::App;
use serde_json::json;

use crate::store::webhooks::{
    self as hooks, Delivery, DeliveryStatus, EventData, OutboxEvent, OutboxKey, Webhook,
};
use crate::store::{self, Store};
use crate::time::now_ms;
pub use send::{Outcome, Target};

/// Delay before retry n (after attempt n): about 8 attempts over a day, as Standard Webhooks
/// suggests.
const BACKOFF_SECS: [i64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];
pub const MAX_ATTEMPTS: u32 = BACKOFF_SECS.len() as u32 + 1;
/// Attempts in flight at once over all receivers, and to any one receiver: a slow receiver holds
/// only its own share of lanes.
const CONCURRENCY: usize = 64;
const PER_RECEIVER: usize = 8;
/// Attempts kept in memory for a receiver whose lanes are all busy; past this they wait in the log.
const WAITING: usize = 4096;
/// Outbox events, due retries and records handled per round or commit.
const BATCH: usize = 256;
/// Most attempts recorded in one write.
const RECORD_BATCH: usize = 256;
const POLL_EVERY: Duration = Duration::from_millis(250);
/// After a round that found less than a full batch, the worker waits this long for more: under
/// a stream of changes it then reads, renders and records events by the hundred instead of a
/// few at a time, which costs the API's writer and CPU much less, for a few ms of latency.
const GATHER: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    /// Target networks refused (cloud metadata by default).
    pub deny: Vec<ipnet::IpNet>,
    /// A registration failing for this long is disabled.
    pub disable_after: Duration,
    /// Finished deliveries older than this leave the log.
    pub retention: Duration,
    /// TLS for https receivers when an extra CA is configured; else the public roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(10),
            deny: default_deny(),
            disable_after: Duration::from_secs(3 * 86_400),
            retention: Duration::from_secs(30 * 86_400),
            tls: None,
        }
    }
}

pub fn default_deny() -> Vec<ipnet::IpNet> {
    ["169.254.0.0/16", "fd00:ec2::/32"].iter().filter_map(|n| n.parse().ok()).collect()
}

/// The JSON body of an event: `{id, type, tenant_id, occurred_at, data}`, with the resource as
/// the native API shows it.
pub fn payload(e: &OutboxEvent) -> String {
    let data = match &e.data {
        EventData::User(user) => crate::native::users::user_json(user),
        EventData::Member { room, user, tx_permission } => {
            json!({"room_id": room, "user_id": user, "tx_permission": tx_permission})
        }
        EventData::Room { room, sync } => {
            let mut data = crate::native::rooms::room_json(room);
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
    };
    envelope(e.event_id, &e.event_type, e.tenant, e.occurred_at, data)
}

/// The body every event is sent in (the test event too).
pub fn envelope(
    id: Uuid,
    event_type: &str,
    tenant: Uuid,
    occurred_at: i64,
    data: serde_json::Value,
) -> String {
    json!({"id": id, "type": event_type, "tenant_id": tenant,
        "occurred_at": crate::time::format_ms(occurred_at), "data": data})
    .to_string()
}

/// What the worker has taken up and not yet recorded.
#[derive(Default)]
struct Busy {
    deliveries: HashSet<Uuid>,
    receivers: HashMap<Uuid, Receiver>,
    /// Outbox events taken up, with how many of their deliveries are not yet recorded.
    events: HashMap<OutboxKey, usize>,
    /// Kept-alive connections per registration, for the next lane (at most one per lane).
    idle: HashMap<Uuid, Vec<send::Connection>>,
}

/// One registration's lanes (tasks sending to it one attempt after another) and the attempts
/// waiting for a lane.
#[derive(Default)]
struct Receiver {
    lanes: usize,
    waiting: VecDeque<Attempt>,
}

struct Attempt {
    tenant: Uuid,
    hook: Webhook,
    delivery: Delivery,
    body: Arc<str>,
    /// The outbox event it came from, on its first attempt.
    event: Option<OutboxKey>,
}

/// A delivery to record: attempted (`outcome`), or not (too many wait for its receiver: it waits
/// in the log, pending).
struct Finished {
    tenant: Uuid,
    delivery: Delivery,
    outcome: Option<Outcome>,
    event: Option<OutboxKey>,
    at: i64,
}

enum Record {
    Delivery(Box<Finished>),
    /// An outbox event with nothing left to attempt (its registrations are gone or recorded).
    Settle(OutboxKey),
}

#[derive(Clone)]
struct Dispatcher {
    settings: Arc<Settings>,
    busy: Arc<Mutex<Busy>>,
    slots: Arc<Semaphore>,
    done: tokio::sync::mpsc::UnboundedSender<Record>,
}

/// Starts the worker on a thread of its own, with its own runtime, at a lower CPU priority (nice
/// 10) than the API: under load the scheduler gives the cores to requests and the store writer
/// first, and deliveries catch up when load eases. Ends when `stop` turns true.
pub fn spawn(
    app: Arc<App>,
    settings: Arc<Settings>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("webhooks".into()).spawn(move || {
        lower_priority();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("webhooks-io")
            .on_thread_start(lower_priority)
            .build();
        match runtime {
            Ok(runtime) => runtime.block_on(run(app, settings, stop)),
            Err(e) => tracing::error!(error = %e, "could not start the webhook worker"),
        }
    })
}

/// Niceness of the worker's threads.
const NICE: i32 = 10;

/// Lowers the calling thread's priority (Linux keeps niceness per thread). Failing to is only
/// worth a line in the log: deliveries then compete with requests on equal terms.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    let nice = rustix::process::getpriority_process(Some(thread)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(thread), nice.max(NICE)) {
        tracing::debug!(error = %e, "could not lower the webhook worker's priority");
    }
}

/// Runs until `stop` turns true: a dispatcher that takes up outbox events and due retries, lanes
/// that send them, and a recorder that writes outcomes in batches (one commit for many).
async fn run(app: Arc<App>, settings: Arc<Settings>, mut stop: watch::Receiver<bool>) {
    let busy: Arc<Mutex<Busy>> = Arc::default();
    let (done, finished) = tokio::sync::mpsc::unbounded_channel();
    let recorder =
        tokio::spawn(record_batches(app.store.clone(), settings.clone(), finished, busy.clone()));
    let dispatcher =
        Dispatcher { settings, busy, slots: Arc::new(Semaphore::new(CONCURRENCY)), done };
    loop {
        let taken = match dispatcher.round(&app.store).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "could not read webhook events and due deliveries");
                0
            }
        };
        if taken >= BATCH {
            continue;
        }
        if taken > 0 {
            tokio::time::sleep(GATHER).await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = crate::http::listener::stop_requested(&mut stop) => break,
        }
    }
    // Lanes finish the attempt they are in and take no other; what waited is found again later.
    dispatcher.slots.close();
    drop(dispatcher);
    let _ = recorder.await;
}

impl Dispatcher {
    /// Takes up new outbox events, then due retries; returns how many deliveries it took up.
    async fn round(&self, store: &Store) -> store::Result<usize> {
        let busy = self.busy.clone();
        let events = store
            .read(move |tx| {
                let events = hooks::outbox(tx, BATCH, |k| busy.lock().events.contains_key(&k))?;
                // Most events of a round go to the same few registrations: read each once.
                let mut registrations: HashMap<(Uuid, Uuid), Option<Webhook>> = HashMap::new();
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    let mut receivers = Vec::with_capacity(e.webhooks.len());
                    for &w in &e.webhooks {
                        let id = hooks::delivery_id(e.event_id, w, e.occurred_at);
                        if hooks::delivery_exists(tx, e.tenant, w, id)? {
                            continue;
                        }
                        let hook = match registrations.get(&(e.tenant, w)) {
                            Some(hook) => hook.clone(),
                            None => {
                                let hook = match hooks::get(tx, e.tenant, w) {
                                    Ok(hook) => Some(hook),
                                    Err(store::Error::NotFound(_)) => None,
                                    Err(err) => return Err(err),
                                };
                                registrations.insert((e.tenant, w), hook.clone());
                                hook
                            }
                        };
                        receivers.extend(hook);
                    }
                    out.push((e, receivers));
                }
                Ok(out)
            })
            .await?;
        let mut taken = 0;
        for (event, receivers) in events {
            let key = event.key();
            self.busy.lock().events.insert(key, receivers.len());
            if receivers.is_empty() {
                let _ = self.done.send(Record::Settle(key));
                continue;
            }
            let body: Arc<str> = payload(&event).into();
            for hook in receivers {
                let delivery = event.delivery(hook.id);
                let body = body.clone();
                let attempt =
                    Attempt { tenant: event.tenant, hook, delivery, body, event: Some(key) };
                if self.take(attempt) {
                    taken += 1;
                } else {
                    self.not_taken(key);
                }
            }
        }

        let (now, busy) = (now_ms(), self.busy.clone());
        let due = store
            .read(move |tx| {
                hooks::due(tx, now, BATCH, |d, w| {
                    let busy = busy.lock();
                    busy.deliveries.contains(&d)
                        || busy.receivers.get(&w).is_some_and(|r| r.waiting.len() >= WAITING)
                })
            })
            .await?;
        let mut bodies: HashMap<Uuid, Arc<str>> = HashMap::new();
        for hooks::Due { tenant, delivery, hook, event } in due {
            let Some(e) = event else {
                if self.busy.lock().deliveries.insert(delivery.id) {
                    let attempt =
                        Attempt { tenant, hook, delivery, body: Arc::from(""), event: None };
                    self.finished(
                        attempt,
                        Some(Outcome::refused("the event is no longer on record")),
                    );
                }
                continue;
            };
            let body = bodies.entry(e.event_id).or_insert_with(|| payload(&e).into()).clone();
            taken += usize::from(self.take(Attempt { tenant, hook, delivery, body, event: None }));
        }
        Ok(taken)
    }

    /// Sends an attempt on a lane of its receiver, or queues it for one. A first attempt that
    /// finds too many waiting goes to the log as pending; a retry stays due. Returns false if it
    /// left the attempt alone.
    fn take(&self, attempt: Attempt) -> bool {
        let id = attempt.delivery.id;
        let mut busy = self.busy.lock();
        if busy.deliveries.contains(&id) {
            return false;
        }
        if !attempt.hook.active {
            busy.deliveries.insert(id);
            self.finished(attempt, Some(Outcome::refused("the registration is disabled")));
            return true;
        }
        let receiver = busy.receivers.entry(attempt.hook.id).or_default();
        if receiver.lanes < PER_RECEIVER {
            receiver.lanes += 1;
            busy.deliveries.insert(id);
            tokio::spawn(self.clone().lane(attempt));
        } else if receiver.waiting.len() < WAITING {
            receiver.waiting.push_back(attempt);
            busy.deliveries.insert(id);
        } else if attempt.event.is_some() {
            busy.deliveries.insert(id);
            self.finished(attempt, None);
        } else {
            return false;
        }
        true
    }

    /// Sends to one receiver, one attempt after another, until none waits for it.
    async fn lane(self, mut attempt: Attempt) {
        let receiver = attempt.hook.id;
        let mut connection = self.busy.lock().idle.get_mut(&receiver).and_then(Vec::pop);
        loop {
            let outcome = match self.slots.clone().acquire_owned().await {
                Ok(_permit) => {
                    let hook = &attempt.hook;
                    let target = Target { url: &hook.url, secret: &hook.secret };
                    let id = attempt.delivery.event_id.to_string();
                    let body = &attempt.body;
                    send::post(&target, &id, body, &self.settings, &mut connection).await
                }
                Err(_) => return, // shutting down
            };
            self.finished(attempt, Some(outcome));
            if self.slots.is_closed() {
                return;
            }
            let mut busy = self.busy.lock();
            let Some(r) = busy.receivers.get_mut(&receiver) else { return };
            match r.waiting.pop_front() {
                Some(next) => attempt = next,
                None => {
                    r.lanes -= 1;
                    if r.lanes == 0 {
                        busy.receivers.remove(&receiver);
                    }
                    if let Some(c) = connection {
                        let idle = busy.idle.entry(receiver).or_default();
                        if idle.len() < PER_RECEIVER {
                            idle.push(c);
                        }
                    }
                    return;
                }
            }
        }
    }

    /// An outbox event's delivery was left alone after all: one less to wait for.
    fn not_taken(&self, key: OutboxKey) {
        let mut busy = self.busy.lock();
        if let Some(n) = busy.events.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.events.remove(&key);
            }
        }
    }

    fn finished(&self, a: Attempt, outcome: Option<Outcome>) {
        crate::metrics::get().delivery(match &outcome {
            None => "deferred",
            Some(o) if o.succeeded() => "succeeded",
            Some(o) if o.refused => "refused",
            Some(_) => "failed",
        });
        let _ = self.done.send(Record::Delivery(Box::new(Finished {
            tenant: a.tenant,
            delivery: a.delivery,
            outcome,
            event: a.event,
            at: now_ms(),
        })));
    }
}

async fn record_batches(
    store: Store,
    settings: Arc<Settings>,
    mut finished: tokio::sync::mpsc::UnboundedReceiver<Record>,
    busy: Arc<Mutex<Busy>>,
) {
    let disable_after = settings.disable_after.as_millis() as i64;
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < RECORD_BATCH {
            match tokio::time::timeout_at(deadline, finished.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        // Outbox events whose last outstanding deliveries are in this batch move to the event log
        // in its commit: from then on their deliveries are on record.
        let settled: Vec<OutboxKey> = {
            let busy = busy.lock();
            let mut here: HashMap<OutboxKey, usize> = HashMap::new();
            let mut settled = Vec::new();
            for r in &batch {
                match r {
                    Record::Delivery(f) => {
                        if let Some(key) = f.event {
                            *here.entry(key).or_default() += 1
                        }
                    }
                    Record::Settle(key) => settled.push(*key),
                }
            }
            settled.extend(
                here.into_iter().filter(|(k, n)| busy.events.get(k) == Some(n)).map(|(k, _)| k),
            );
            settled
        };
        let batch = Arc::new(batch);
        let result = store
            .write({
                let batch = batch.clone();
                move |txn| {
                    let mut log = hooks::DeliveryLog::open(txn)?;
                    for r in batch.iter() {
                        if let Record::Delivery(f) = r {
                            record(&mut log, f, disable_after)?;
                        }
                    }
                    drop(log);
                    hooks::settle(txn, &settled)
                }
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, records = batch.len(), "could not record webhook attempts; they will be retried");
        }
        // Recorded or not, they are no longer taken up: what was not recorded is found again.
        let mut busy = busy.lock();
        for r in batch.iter() {
            let key = match r {
                Record::Delivery(f) => {
                    busy.deliveries.remove(&f.delivery.id);
                    f.event
                }
                Record::Settle(key) => {
                    busy.events.remove(key);
                    None
                }
            };
            if let Some(key) = key {
                let left = busy.events.get_mut(&key).map(|n| {
                    *n = n.saturating_sub(1);
                    *n
                });
                if left == Some(0) {
                    busy.events.remove(&key);
                }
            }
        }
    }
}

/// Records a delivery: a first one as it now stands, a retry over the row it retried.
fn record(log: &mut hooks::DeliveryLog, f: &Finished, disable_after: i64) -> store::Result<()> {
    let (tenant, webhook_id, now) = (f.tenant, f.delivery.webhook_id, f.at);
    // A first attempt is not on record: the dispatcher checked, and only this worker adds rows.
    let old = match f.event {
        Some(_) => None,
        None => match log.delivery(tenant, webhook_id, f.delivery.id)? {
            Some(d) => Some(d),
            None => return Ok(()), // deleted with its registration meanwhile
        },
    };
    let mut d = old.clone().unwrap_or_else(|| f.delivery.clone());
    let Some(mut hook) = log.hook(tenant, webhook_id)? else { return Ok(()) };
    let Some(outcome) = &f.outcome else {
        return if old.is_none() { log.put(tenant, None, &d) } else { Ok(()) };
    };
    let before = (hook.active, hook.failing_since);
    d.attempts += 1;
    d.last_status_code = outcome.status;
    d.last_error = outcome.error.clone();
    d.last_duration_ms = Some(outcome.duration_ms);
    d.updated_at = now;
    if outcome.succeeded() {
        d.status = DeliveryStatus::Succeeded;
        d.next_attempt_at = None;
        hook.failing_since = None;
    } else {
        let since = *hook.failing_since.get_or_insert(now);
        if outcome.status == Some(410) {
            hook.active = false;
            hook.disabled_reason = Some("the receiver answered 410 Gone".into());
        } else if now - since > disable_after {
            hook.active = false;
            hook.disabled_reason = Some(format!("failing since {}", crate::time::format_ms(since)));
        }
        let retry =
            BACKOFF_SECS.get(d.attempts as usize - 1).filter(|_| hook.active && !outcome.refused);
        match retry {
            Some(secs) => {
                d.status = DeliveryStatus::Pending;
                d.next_attempt_at = Some(now + secs * 1000);
            }
            None => {
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
            }
        }
    }
    if (hook.active, hook.failing_since) != before {
        hook.updated_at = now;
        log.put_hook(tenant, &hook)?;
    }
    log.put(tenant, old.as_ref(), &d)
}

/// Removes finished deliveries older than the retention; run periodically.
pub async fn prune(store: &Store, settings: &Settings) -> store::Result<u64> {
    let cutoff = now_ms() - settings.retention.as_millis() as i64;
    store.write(move |txn| hooks::prune(txn, cutoff)).await
}
