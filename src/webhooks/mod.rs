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

use crate::repr::webhooks::payload;
use crate::store::events::Event;
use crate::store::events::{self, OutboxKey, Queued};
use crate::store::webhooks::{self as hooks, Delivery, DeliveryStatus, Webhook};
use crate::store::{self, Store};
use crate::time::now_ms;
pub use send::{Outcome, Signing, Target};

/// Delay before retry n (after attempt n): about 8 attempts over a day, as Standard Webhooks
/// suggests.
const BACKOFF_SECS: [i64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];
pub const MAX_ATTEMPTS: u32 = 8;
const _: () = assert!(BACKOFF_SECS.len() + 1 == MAX_ATTEMPTS as usize);
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
    /// Target networks refused (loopback, unspecified, link-local, cloud metadata by default)…
    pub deny: Vec<ipnet::IpNet>,
    /// …unless in one of these.
    pub allow: Vec<ipnet::IpNet>,
    /// A registration failing for this long is disabled.
    pub disable_after: Duration,
    /// Finished deliveries older than this leave the log.
    pub retention: Duration,
    /// Events older than this leave the change stream (`GET /events`), unless a pending
    /// delivery still needs one.
    pub event_retention: Duration,
    /// TLS for https receivers when an extra CA is configured; else the public roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Renders SETs for SET receivers (the SCIM face's `scim::events::Sets`); None: a SET
    /// receiver's deliveries fail, saying so.
    pub sets: Option<Arc<dyn SetRenderer>>,
}

/// Renders an event as a signed SET for a SET receiver (RFC 9967).
pub trait SetRenderer: Send + Sync {
    /// None: the receiver does not want this event (as a SET).
    fn render(&self, event: &Event, hook: &Webhook) -> Option<Result<String, String>>;
}

impl std::fmt::Debug for dyn SetRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetRenderer")
    }
}

/// What an attempt sends.
#[derive(Clone)]
enum Body {
    /// Webhook JSON, signed per Standard Webhooks.
    Json(Arc<str>),
    /// A signed SET (`application/secevent+jwt`).
    Set(Arc<str>),
    /// Nothing: the receiver does not want the event (or it cannot be rendered: the reason).
    Skip(Option<String>),
}

/// `event` as `hook` gets it; `json` renders (once per payload form) the webhook body.
fn body_for(
    settings: &Settings,
    event: &Event,
    hook: &Webhook,
    json: &mut HashMap<bool, Arc<str>>,
) -> Body {
    if hook.set.is_none() {
        let body =
            json.entry(hook.thin).or_insert_with(|| payload(event, hook.thin).to_string().into());
        return Body::Json(body.clone());
    }
    match settings.sets.as_ref().map(|s| s.render(event, hook)) {
        Some(Some(Ok(jwt))) => Body::Set(jwt.into()),
        Some(Some(Err(e))) => Body::Skip(Some(e)),
        Some(None) => Body::Skip(None),
        None => Body::Skip(Some("this server does not sign SETs".into())),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(10),
            deny: default_deny(),
            allow: Vec::new(),
            disable_after: Duration::from_secs(3 * 86_400),
            retention: Duration::from_secs(30 * 86_400),
            event_retention: Duration::from_secs(30 * 86_400),
            tls: None,
            sets: None,
        }
    }
}

/// Sends a signed `webhook.test` event to `hook` now, outside the log.
pub async fn send_test(hook: &Webhook, tenant: Uuid, settings: &Settings) -> send::Outcome {
    let event_id = Uuid::now_v7();
    let data = serde_json::json!({ "webhook_id": hook.id });
    let payload = crate::repr::webhooks::envelope(event_id, "webhook.test", tenant, now_ms(), data)
        .to_string();
    let target =
        send::Target { url: &hook.url, signing: Signing::Webhook(hook.signing_secrets(now_ms())) };
    send::post(&target, &event_id.to_string(), &payload, settings, &mut None).await
}

pub fn default_deny() -> Vec<ipnet::IpNet> {
    let networks = [
        "127.0.0.0/8",
        "::1/128",
        "0.0.0.0/8",
        "::/128",
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::/32",
    ];
    networks.iter().filter_map(|n| n.parse().ok()).collect()
}

/// What the worker has taken up and not yet recorded.
#[derive(Default)]
struct Busy {
    deliveries: HashSet<Uuid>,
    receivers: HashMap<Uuid, Receiver>,
    /// Outbox events taken up, with how many of their deliveries are not yet recorded.
    events: HashMap<OutboxKey, usize>,
    /// Per (registration, resource) with anything taken up: events about one resource go out
    /// one at a time, in `seq` order.
    resources: HashMap<(Uuid, Uuid), Resource>,
    /// Kept-alive connections per registration, for the next lane (at most one per lane).
    idle: HashMap<Uuid, Vec<send::Connection>>,
}

/// One (registration, resource)'s state in the worker.
#[derive(Default)]
struct Resource {
    /// An attempt about it is out: sending, or waiting for a lane of its receiver.
    out: bool,
    /// The log may hold pending deliveries about it (a retry, or what waited behind one): what
    /// comes next goes to the log behind them, never straight out.
    blocked: bool,
    /// First attempts that came while one was out, in `seq` order.
    waiting: VecDeque<Attempt>,
    /// Records about it sent to the recorder and not yet committed.
    recording: usize,
}

impl Resource {
    fn idle(&self) -> bool {
        !self.out && self.waiting.is_empty() && self.recording == 0
    }
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
    body: Body,
    /// The outbox event it came from, on its first attempt.
    event: Option<OutboxKey>,
}

impl Attempt {
    fn resource(&self) -> (Uuid, Uuid) {
        (self.hook.id, self.delivery.resource)
    }
}

/// A delivery to record: attempted (`outcome`), or not (it waits in the log, pending: behind
/// earlier ones about its resource, or because too many wait for its receiver).
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
    store: Store,
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
            Ok(runtime) => runtime.block_on(run(store, settings, stop)),
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
async fn run(store: Store, settings: Arc<Settings>, mut stop: watch::Receiver<bool>) {
    let busy: Arc<Mutex<Busy>> = Arc::default();
    let (done, finished) = tokio::sync::mpsc::unbounded_channel();
    // The recorder wakes the dispatcher after each commit: what it recorded may have made the
    // next delivery about a resource due, or freed a resource for the outbox.
    let wake = Arc::new(tokio::sync::Notify::new());
    let recorder = tokio::spawn(record_batches(
        store.clone(),
        settings.clone(),
        finished,
        busy.clone(),
        now_ms(),
        wake.clone(),
    ));
    let dispatcher =
        Dispatcher { settings, busy, slots: Arc::new(Semaphore::new(CONCURRENCY)), done };
    loop {
        let taken = match dispatcher.round(&store).await {
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
            _ = wake.notified() => {}
            _ = crate::shutdown::requested(&mut stop) => break,
        }
    }
    // Lanes finish the attempt they are in and take no other; what waited is found again later.
    dispatcher.slots.close();
    drop(dispatcher);
    let _ = recorder.await;
}

/// An attempt whose resource the dispatcher has claimed, to send once a fresh read says whether
/// it may.
enum Claimed {
    /// A first attempt: it goes out unless the log holds pending deliveries about its resource.
    First(Attempt),
    /// A retry read from the due index: it goes out if it is still due.
    Due(Attempt),
}

impl Dispatcher {
    /// Takes up new outbox events, then due retries; returns how many deliveries it took up.
    async fn round(&self, store: &Store) -> store::Result<usize> {
        let events = self.read_outbox(store).await?;
        let mut claimed = self.claim_new(store, events).await?;
        if let Err(e) = self.claim_due(store, &mut claimed).await {
            self.give_back(claimed);
            return Err(e);
        }
        self.send_or_log(store, claimed).await
    }

    /// Claims that will not be sent this round: first attempts go to the log as pending (in
    /// their lanes, so order holds); retries stay due.
    fn give_back(&self, claimed: Vec<Claimed>) {
        for c in claimed {
            match c {
                Claimed::First(a) => drop(self.finished(a, None)),
                Claimed::Due(a) => self.release(a),
            }
        }
    }

    /// Outbox events not yet taken up, each with the registrations that have no delivery of it
    /// on record.
    async fn read_outbox(&self, store: &Store) -> store::Result<Vec<(Queued, Vec<Webhook>)>> {
        let busy = self.busy.clone();
        store
            .read(move |tx| {
                let events = events::outbox(tx, BATCH, |k| busy.lock().events.contains_key(&k))?;
                // Most events of a round go to the same few registrations: read each once.
                let mut registrations: HashMap<(Uuid, Uuid), Option<Webhook>> = HashMap::new();
                let mut out = Vec::with_capacity(events.len());
                for q in events {
                    let e = &q.event;
                    let mut receivers = Vec::with_capacity(q.webhooks.len());
                    for &w in &q.webhooks {
                        let id = hooks::delivery_id(e.id, w, e.occurred_at);
                        if hooks::delivery_exists(tx, e.tenant, w, id)? {
                            continue;
                        }
                        let hook = match registrations.get(&(e.tenant, w)) {
                            Some(hook) => hook.clone(),
                            None => {
                                let hook = match hooks::get(tx, e.tenant, w) {
                                    Ok(hook) => Some(hook),
                                    Err(store::Error::Refused(store::Refusal::NotFound(_))) => None,
                                    Err(err) => return Err(err),
                                };
                                registrations.insert((e.tenant, w), hook.clone());
                                hook
                            }
                        };
                        receivers.extend(hook);
                    }
                    out.push((q, receivers));
                }
                Ok(out)
            })
            .await
    }

    /// Takes `events` up and claims their first attempts: those already on record (a read that
    /// began before the recorder let go) settle, the rest arrive in their lanes.
    async fn claim_new(
        &self,
        store: &Store,
        events: Vec<(Queued, Vec<Webhook>)>,
    ) -> store::Result<Vec<Claimed>> {
        // Take the events up, then look at the log again: a read that began before the recorder
        // let go of an event may still show it in the outbox with its deliveries not on record,
        // and sending it again would repeat it, out of order. A read begun after taking it up
        // sees every record committed before the recorder let go.
        {
            let mut busy = self.busy.lock();
            for (queued, receivers) in &events {
                busy.events.insert(queued.key(), receivers.len());
            }
        }
        let checks: Vec<(Uuid, Uuid, Uuid)> = events
            .iter()
            .flat_map(|(q, receivers)| {
                let e = &q.event;
                receivers
                    .iter()
                    .map(|h| (e.tenant, h.id, hooks::delivery_id(e.id, h.id, e.occurred_at)))
            })
            .collect();
        let recorded = store
            .read(move |tx| {
                checks
                    .iter()
                    .map(|&(tenant, w, id)| hooks::delivery_exists(tx, tenant, w, id))
                    .collect::<store::Result<Vec<bool>>>()
            })
            .await;
        let recorded = match recorded {
            Ok(r) => r,
            Err(e) => {
                let mut busy = self.busy.lock();
                for (queued, _) in &events {
                    busy.events.remove(&queued.key());
                }
                return Err(e);
            }
        };
        let mut recorded = recorded.into_iter();
        let mut claimed = Vec::new();
        for (queued, receivers) in events {
            let key = queued.key();
            let receivers: Vec<Webhook> =
                receivers.into_iter().filter(|_| !recorded.next().unwrap_or(false)).collect();
            self.busy.lock().events.insert(key, receivers.len());
            if receivers.is_empty() {
                let _ = self.done.send(Record::Settle(key));
                continue;
            }
            let event = &queued.event;
            let mut bodies: HashMap<bool, Arc<str>> = HashMap::new();
            for hook in receivers {
                let delivery = hooks::new_delivery(event, hook.id);
                let body = body_for(&self.settings, event, &hook, &mut bodies);
                let attempt =
                    Attempt { tenant: event.tenant, hook, delivery, body, event: Some(key) };
                claimed.extend(self.arrive(attempt).map(Claimed::First));
            }
        }

        Ok(claimed)
    }

    /// Claims the retries that are due, beside `claimed`.
    async fn claim_due(&self, store: &Store, claimed: &mut Vec<Claimed>) -> store::Result<()> {
        let (now, busy) = (now_ms(), self.busy.clone());
        let due = store
            .read(move |tx| {
                hooks::due(
                    tx,
                    now,
                    BATCH,
                    |d, w| {
                        let busy = busy.lock();
                        busy.deliveries.contains(&d)
                            || busy.receivers.get(&w).is_some_and(|r| r.waiting.len() >= WAITING)
                    },
                    |w, r| busy.lock().resources.contains_key(&(w, r)),
                )
            })
            .await?;
        let mut bodies: HashMap<Uuid, HashMap<bool, Arc<str>>> = HashMap::new();
        for hooks::Due { tenant, delivery, hook, event } in due {
            let body = match &event {
                Some(e) => body_for(&self.settings, e, &hook, bodies.entry(e.id).or_default()),
                None => Body::Skip(None),
            };
            let attempt = Attempt { tenant, hook, delivery, body, event: None };
            let key = attempt.resource();
            {
                let mut busy = self.busy.lock();
                if busy.resources.contains_key(&key)
                    || busy.deliveries.contains(&attempt.delivery.id)
                {
                    continue;
                }
                // What is due may have others about its resource behind it in the log.
                busy.resources
                    .insert(key, Resource { out: true, blocked: true, ..Default::default() });
            }
            if event.is_none() {
                self.busy.lock().deliveries.insert(attempt.delivery.id);
                self.finished(attempt, Some(Outcome::refused("the event is no longer on record")));
                continue;
            }
            claimed.push(Claimed::Due(attempt));
        }

        Ok(())
    }

    /// Sends each claim a fresh read allows, and logs or releases the others; how many were
    /// taken up.
    async fn send_or_log(&self, store: &Store, claimed: Vec<Claimed>) -> store::Result<usize> {
        // The claims were made before this read began, so it sees every record committed before
        // them: a lane that was just filled, a retry that was just recorded.
        let checks: Vec<(Uuid, Uuid, Uuid, Uuid, bool)> = claimed
            .iter()
            .map(|c| match c {
                Claimed::First(a) => {
                    (a.tenant, a.hook.id, a.delivery.resource, a.delivery.id, true)
                }
                Claimed::Due(a) => (a.tenant, a.hook.id, a.delivery.resource, a.delivery.id, false),
            })
            .collect();
        let verdicts = store
            .read(move |tx| {
                let now = now_ms();
                checks
                    .iter()
                    .map(|&(tenant, w, resource, id, first)| {
                        if first {
                            hooks::lane_waiting(tx, tenant, w, resource).map(|waiting| !waiting)
                        } else {
                            hooks::still_due(tx, tenant, w, id, now)
                        }
                    })
                    .collect::<store::Result<Vec<bool>>>()
            })
            .await;
        let verdicts = match verdicts {
            Ok(v) => v,
            Err(e) => {
                self.give_back(claimed);
                return Err(e);
            }
        };
        let mut taken = 0;
        for (c, go) in claimed.into_iter().zip(verdicts) {
            match (c, go) {
                (Claimed::First(a) | Claimed::Due(a), true) => {
                    taken += 1;
                    self.take(a);
                }
                (Claimed::First(a), false) => {
                    taken += 1;
                    self.busy.lock().deliveries.insert(a.delivery.id);
                    self.finished(a, None);
                }
                (Claimed::Due(a), false) => self.release(a),
            }
        }
        Ok(taken)
    }

    /// A first attempt arrives: it is claimed for sending if nothing about its resource is taken
    /// up; else it waits behind what is out, or goes to the log behind what is there.
    fn arrive(&self, attempt: Attempt) -> Option<Attempt> {
        let mut busy = self.busy.lock();
        busy.deliveries.insert(attempt.delivery.id);
        match busy.resources.get_mut(&attempt.resource()) {
            None => {
                let key = attempt.resource();
                busy.resources.insert(key, Resource { out: true, ..Default::default() });
                Some(attempt)
            }
            Some(r) if r.blocked => {
                r.recording += 1;
                let _ = self.done.send(record(attempt, None));
                None
            }
            // The last one about it succeeded and is only being recorded: this one may go.
            Some(r) if !r.out => {
                r.out = true;
                Some(attempt)
            }
            Some(r) => {
                r.waiting.push_back(attempt);
                None
            }
        }
    }

    /// A claimed retry that is not due after all: nothing of it stays taken up.
    fn release(&self, attempt: Attempt) {
        let mut busy = self.busy.lock();
        busy.deliveries.remove(&attempt.delivery.id);
        let key = attempt.resource();
        if let Some(r) = busy.resources.get_mut(&key) {
            r.out = false;
            if r.idle() {
                busy.resources.remove(&key);
            }
        }
    }

    /// Sends an attempt on a lane of its receiver, or queues it for one. A first attempt that
    /// finds too many waiting goes to the log as pending; a retry stays due.
    fn take(&self, attempt: Attempt) {
        let mut busy = self.busy.lock();
        busy.deliveries.insert(attempt.delivery.id);
        if !attempt.hook.active {
            drop(busy);
            self.finished(attempt, Some(Outcome::refused("the registration is disabled")));
            return;
        }
        let receiver = busy.receivers.entry(attempt.hook.id).or_default();
        if receiver.lanes < PER_RECEIVER {
            receiver.lanes += 1;
            tokio::spawn(self.clone().lane(attempt));
        } else if receiver.waiting.len() < WAITING {
            receiver.waiting.push_back(attempt);
        } else if attempt.event.is_some() {
            drop(busy);
            self.finished(attempt, None);
        } else {
            drop(busy);
            self.release(attempt);
        }
    }

    /// Sends to one receiver, one attempt after another, until none waits for it.
    async fn lane(self, mut attempt: Attempt) {
        let receiver = attempt.hook.id;
        let mut connection = self.busy.lock().idle.get_mut(&receiver).and_then(Vec::pop);
        loop {
            let outcome = match self.slots.clone().acquire_owned().await {
                Ok(_permit) => {
                    let hook = &attempt.hook;
                    let id = attempt.delivery.event_id.to_string();
                    match &attempt.body {
                        Body::Json(body) => {
                            let signing = Signing::Webhook(hook.signing_secrets(now_ms()));
                            let target = Target { url: &hook.url, signing };
                            send::post(&target, &id, body, &self.settings, &mut connection).await
                        }
                        Body::Set(jwt) => {
                            let target = Target { url: &hook.url, signing: Signing::Set };
                            send::post(&target, &id, jwt, &self.settings, &mut connection).await
                        }
                        Body::Skip(None) => Outcome::skipped(),
                        Body::Skip(Some(why)) => Outcome::refused(why),
                    }
                }
                Err(_) => return, // shutting down
            };
            let next = self.finished(attempt, Some(outcome));
            if self.slots.is_closed() {
                return;
            }
            // The next event about the same resource goes first, on this lane.
            if let Some(next) = next {
                attempt = next;
                continue;
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

    /// An attempt is over (or was not made: `outcome` None, it waits in the log). Hands it to
    /// the recorder and returns the next attempt about its resource that may go out now: after a
    /// success, the one waiting behind it; after anything else, those waiting go to the log
    /// behind it, in order.
    fn finished(&self, a: Attempt, outcome: Option<Outcome>) -> Option<Attempt> {
        crate::metrics::get().delivery(match &outcome {
            None => "deferred",
            Some(o) if o.succeeded() => "succeeded",
            Some(o) if o.refused => "refused",
            Some(_) => "failed",
        });
        let succeeded = outcome.as_ref().is_some_and(Outcome::succeeded);
        let key = a.resource();
        let mut busy = self.busy.lock();
        let Some(r) = busy.resources.get_mut(&key) else {
            let _ = self.done.send(record(a, outcome));
            return None;
        };
        r.out = false;
        r.recording += 1;
        // Sent under the lock, so the recorder sees one resource's records in `seq` order.
        let _ = self.done.send(record(a, outcome));
        if succeeded && !r.blocked {
            let next = r.waiting.pop_front();
            r.out = next.is_some();
            return next;
        }
        r.blocked = true;
        while let Some(w) = r.waiting.pop_front() {
            r.recording += 1;
            let _ = self.done.send(record(w, None));
        }
        None
    }
}

fn record(a: Attempt, outcome: Option<Outcome>) -> Record {
    Record::Delivery(Box::new(Finished {
        tenant: a.tenant,
        delivery: a.delivery,
        outcome,
        event: a.event,
        at: now_ms(),
    }))
}

async fn record_batches(
    store: Store,
    settings: Arc<Settings>,
    mut finished: tokio::sync::mpsc::UnboundedReceiver<Record>,
    busy: Arc<Mutex<Busy>>,
    started_at: i64,
    wake: Arc<tokio::sync::Notify>,
) {
    let disable_after = i64::try_from(settings.disable_after.as_millis()).unwrap_or(i64::MAX);
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < RECORD_BATCH {
            match tokio::time::timeout_at(deadline, finished.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        // Outbox events whose last outstanding deliveries are in this batch leave the outbox in
        // its commit: from then on their deliveries are on record.
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
                            record_one(&mut log, f, disable_after, started_at)?;
                        }
                    }
                    drop(log);
                    events::settle(txn, &settled)
                }
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, records = batch.len(), "could not record webhook attempts; they will be retried");
        }
        // Recorded or not, they are no longer taken up: what was not recorded is found again.
        release_recorded(&mut busy.lock(), &batch);
        wake.notify_one();
    }
}

/// What a recorded batch held is no longer taken up.
fn release_recorded(busy: &mut Busy, batch: &[Record]) {
    for r in batch.iter() {
        let key = match r {
            Record::Delivery(f) => {
                busy.deliveries.remove(&f.delivery.id);
                let resource = (f.delivery.webhook_id, f.delivery.resource);
                if let Some(r) = busy.resources.get_mut(&resource) {
                    r.recording = r.recording.saturating_sub(1);
                    if r.idle() {
                        busy.resources.remove(&resource);
                    }
                }
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

/// Records a delivery: a first one as it now stands, a retry over the row it retried; keeps its
/// lane and its registration's failure state.
fn record_one(
    log: &mut hooks::DeliveryLog,
    f: &Finished,
    disable_after: i64,
    started_at: i64,
) -> store::Result<()> {
    let (tenant, webhook_id, now) = (f.tenant, f.delivery.webhook_id, f.at);
    let first = f.event.is_some();
    // A first attempt is not on record: the dispatcher checked, and only this worker adds rows.
    let old = if first {
        None
    } else {
        match log.delivery(tenant, webhook_id, f.delivery.id)? {
            Some(d) => Some(d),
            None => return Ok(()), // deleted with its registration meanwhile
        }
    };
    let mut d = old.clone().unwrap_or_else(|| f.delivery.clone());
    let Some(mut hook) = log.hook(tenant, webhook_id)? else { return Ok(()) };
    let Some(outcome) = &f.outcome else {
        return if first { log.queue(tenant, d, now) } else { Ok(()) };
    };
    let before = hook.clone();
    d.attempts += 1;
    d.last_status_code = outcome.status;
    d.last_error = outcome.error.clone();
    d.last_duration_ms = Some(outcome.duration_ms);
    d.updated_at = now;
    if outcome.succeeded() {
        d.status = DeliveryStatus::Succeeded;
        d.next_attempt_at = None;
        hook.failing_since = None;
        hook.failing_for_ms = 0;
        hook.last_failure_at = None;
    } else {
        let since = *hook.failing_since.get_or_insert(now);
        // Only time between failed attempts while this server ran counts as failing.
        if let Some(previous) = hook.last_failure_at {
            let failing = now - previous.max(started_at);
            hook.failing_for_ms += u64::try_from(failing).unwrap_or(0);
        }
        hook.last_failure_at = Some(now);
        if hook.active && outcome.status == Some(410) {
            hook.active = false;
            hook.disabled_reason = Some("the receiver answered 410 Gone".into());
        } else if hook.active
            && i64::try_from(hook.failing_for_ms).unwrap_or(i64::MAX) > disable_after
        {
            hook.active = false;
            hook.disabled_reason = Some(format!(
                "failing since {} ({} s of failed attempts)",
                crate::time::format_ms(since),
                hook.failing_for_ms / 1000
            ));
        }
        if before.active && !hook.active {
            tracing::warn!(
                tenant = %tenant,
                webhook = %hook.id,
                url = %hook.url,
                reason = hook.disabled_reason.as_deref().unwrap_or(""),
                "disabled a webhook registration"
            );
            log.audit_disabled(tenant, &hook, now)?;
        }
        let retry = usize::try_from(d.attempts)
            .ok()
            .and_then(|n| BACKOFF_SECS.get(n.saturating_sub(1)))
            .filter(|_| hook.active && !outcome.refused);
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
    if hook != before {
        hook.updated_at = now;
        log.put_hook(tenant, &hook)?;
    }
    log.put(tenant, old.as_ref(), &d)?;
    match d.status {
        DeliveryStatus::Pending if first => log.enter_lane(tenant, &d),
        DeliveryStatus::Pending => Ok(()),
        DeliveryStatus::Succeeded | DeliveryStatus::Failed => log.leave_lane(tenant, &d, now),
    }
}

/// Removes finished deliveries older than the delivery-log retention and events older than the
/// event retention; run periodically. Returns (deliveries, events) removed.
pub async fn prune(store: &Store, settings: &Settings) -> store::Result<(u64, u64)> {
    let now = now_ms();
    let cutoff = now - i64::try_from(settings.retention.as_millis()).unwrap_or(i64::MAX);
    let deliveries = store.write(move |txn| hooks::prune(txn, cutoff)).await?;
    let cutoff = now - i64::try_from(settings.event_retention.as_millis()).unwrap_or(i64::MAX);
    let tenants = store.read(store::tenants::list).await?;
    let mut events = 0;
    for t in tenants {
        // In bounded steps, so no one commit holds the writer long.
        loop {
            let gone = store
                .write(move |txn| {
                    let needed = hooks::needed_events(txn)?;
                    let key = t.id.as_u128();
                    store::events::prune(txn, t.id, cutoff, PRUNE_STEP, |seq| {
                        needed.contains(&(key, seq))
                    })
                })
                .await?;
            events += gone;
            if gone < PRUNE_STEP as u64 {
                break;
            }
        }
    }
    Ok((deliveries, events))
}

/// Most events one pruning commit removes.
const PRUNE_STEP: usize = 10_000;
