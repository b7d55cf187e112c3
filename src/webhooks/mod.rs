//! Outbound webhooks: the worker that sends due deliveries, signing per Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`), retrying with backoff, and recording every attempt in the store.
//!
//! A slow or dead receiver only ever holds its own attempts: each has a timeout, attempts run
//! concurrently (bounded), and the API never waits for any of it.

pub mod send;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::app::App;
use crate::store::webhooks::{self as hooks, DeliveryStatus};
use crate::store::{self, Store};
use crate::time::now_ms;
pub use send::{Outcome, Target};

/// Delay before retry n (after attempt n): about 8 attempts over a day, as Standard Webhooks
/// suggests.
const BACKOFF_SECS: [i64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];
pub const MAX_ATTEMPTS: u32 = BACKOFF_SECS.len() as u32 + 1;
/// Attempts in flight at once, over all receivers.
const CONCURRENCY: usize = 32;
const POLL_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    /// Target networks refused (cloud metadata by default).
    pub deny: Vec<ipnet::IpNet>,
    /// A registration failing for this long is disabled.
    pub disable_after: Duration,
    /// Finished deliveries older than this leave the log.
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(10),
            deny: default_deny(),
            disable_after: Duration::from_secs(3 * 86_400),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

pub fn default_deny() -> Vec<ipnet::IpNet> {
    ["169.254.0.0/16", "fd00:ec2::/32"].iter().filter_map(|n| n.parse().ok()).collect()
}

/// One finished attempt, waiting to be recorded.
struct Attempted {
    tenant: Uuid,
    webhook_id: Uuid,
    delivery_id: Uuid,
    outcome: Outcome,
    at: i64,
}

/// Runs until `stop` turns true: a dispatcher that starts due attempts, and a recorder that
/// writes their outcomes in batches (one commit for many attempts).
pub async fn run(app: Arc<App>, settings: Arc<Settings>, mut stop: watch::Receiver<bool>) {
    let in_flight: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let (done, finished) = tokio::sync::mpsc::unbounded_channel::<Attempted>();
    let recorder = tokio::spawn(record_batches(
        app.store.clone(),
        settings.clone(),
        finished,
        in_flight.clone(),
    ));
    loop {
        if let Err(e) = fan_out(&app.store).await {
            tracing::warn!(error = %e, "could not turn webhook events into deliveries");
        }
        let now = now_ms();
        let busy = in_flight.clone();
        let due = app
            .store
            .read(move |tx| hooks::due(tx, now, DUE_BATCH, |id| busy.lock().contains(&id)))
            .await;
        let mut started = 0;
        match due {
            Ok(due) => {
                for (tenant, delivery, hook) in due {
                    if !in_flight.lock().insert(delivery.id) {
                        continue;
                    }
                    let Ok(permit) = slots.clone().acquire_owned().await else { return };
                    started += 1;
                    let (settings, done) = (settings.clone(), done.clone());
                    tokio::spawn(async move {
                        let outcome = if hook.active {
                            let target = Target { url: &hook.url, secret: &hook.secret };
                            send::post(
                                &target,
                                &delivery.event_id.to_string(),
                                &delivery.payload,
                                &settings,
                            )
                            .await
                        } else {
                            Outcome::refused("the registration is disabled")
                        };
                        drop(permit);
                        let _ = done.send(Attempted {
                            tenant,
                            webhook_id: hook.id,
                            delivery_id: delivery.id,
                            outcome,
                            at: now_ms(),
                        });
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read due webhook deliveries"),
        }
        if started > 0 {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = crate::http::listener::stop_requested(&mut stop) => break,
        }
    }
    drop(done);
    let _ = recorder.await;
}

/// Moves what the outbox holds into deliveries, a batch per commit.
async fn fan_out(store: &Store) -> store::Result<()> {
    while store.read(hooks::outbox_waiting).await? {
        store.write(|txn| hooks::fan_out(txn, DUE_BATCH)).await?;
    }
    Ok(())
}

/// Due deliveries read per scan.
const DUE_BATCH: usize = 256;

async fn record_batches(
    store: Store,
    settings: Arc<Settings>,
    mut finished: tokio::sync::mpsc::UnboundedReceiver<Attempted>,
    in_flight: Arc<Mutex<HashSet<Uuid>>>,
) {
    let disable_after = settings.disable_after.as_millis() as i64;
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        while batch.len() < DUE_BATCH {
            match finished.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        let ids: Vec<Uuid> = batch.iter().map(|a| a.delivery_id).collect();
        let batch = Arc::new(batch);
        let result = store
            .write({
                let batch = batch.clone();
                move |txn| {
                    for a in batch.iter() {
                        record(
                            txn,
                            a.tenant,
                            a.webhook_id,
                            a.delivery_id,
                            &a.outcome,
                            a.at,
                            disable_after,
                        )?;
                    }
                    Ok(())
                }
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, attempts = ids.len(), "could not record webhook attempts; they will be retried");
        }
        let mut busy = in_flight.lock();
        for id in ids {
            busy.remove(&id);
        }
    }
}

/// Applies an attempt's outcome to the delivery and its registration.
fn record(
    txn: &store::WriteTxn,
    tenant: Uuid,
    webhook_id: Uuid,
    delivery_id: Uuid,
    outcome: &Outcome,
    now: i64,
    disable_after: i64,
) -> store::Result<()> {
    let Ok(mut d) = hooks::get_delivery(txn, tenant, webhook_id, delivery_id) else {
        return Ok(()); // deleted with its registration meanwhile
    };
    let mut hook = hooks::get(txn, tenant, webhook_id)?;
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
    hook.updated_at = now;
    hooks::put(txn, tenant, &hook)?;
    hooks::put_delivery(txn, tenant, &d)
}

/// Removes finished deliveries older than the retention; run periodically.
pub async fn prune(store: &Store, settings: &Settings) -> store::Result<u64> {
    let cutoff = now_ms() - settings.retention.as_millis() as i64;
    store.write(move |txn| hooks::prune(txn, cutoff)).await
}
