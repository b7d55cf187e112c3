//! SCIM security events on the real server (in-process, real redb file), to a local receiver on
//! a thread of its own at the lowest CPU priority (standing in for one on another machine):
//! - the create rate of a tenant with one SET receiver and one webhook registered, against a
//!   tenant with none, alternating rounds (the median of each round's ratio);
//! - deprovisioning latency: from a SCIM `PATCH active=false` being answered to its
//!   `prov:deactivate` SET, and to its `user.deactivated` webhook, being received; under a
//!   background load of creates into the same tenant at `--load` writes/s (default 1,000);
//! - SETs per second delivered to one receiver.
//!
//! cargo bench --bench sets [-- --rounds 5 --creates 3000 --samples 200 --load 1000]

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Client, median, ms};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{Value, json};
use whoot_mgmt::http::Settings;
use whoot_mgmt::store::audit::Actor;

const CONCURRENCY: usize = 16;

fn main() {
    common::on_two_threads(run());
}

/// When the receiver saw each deactivation, by user id: (SET, webhook).
type Seen = Arc<Mutex<HashMap<String, (Option<Instant>, Option<Instant>)>>>;

/// The user a received body is a deactivation of, and whether it was a SET.
fn deactivation(body: &[u8], set: bool) -> Option<String> {
    if set {
        let payload = std::str::from_utf8(body).ok()?.split('.').nth(1)?;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?,
        )
        .ok()?;
        claims["events"].get("urn:ietf:params:scim:event:prov:deactivate")?;
        Some(claims["sub_id"]["uri"].as_str()?.trim_start_matches("/Users/").to_owned())
    } else {
        let event: Value = serde_json::from_slice(body).ok()?;
        (event["type"] == "user.deactivated").then_some(())?;
        Some(event["data"]["id"].as_str()?.to_owned())
    }
}

/// The receiver's address; it counts what it gets (SETs apart) and records deactivations, on a
/// nice-19 thread.
async fn receiver(
    sets: Arc<AtomicUsize>,
    all: Arc<AtomicUsize>,
    seen: Seen,
) -> std::net::SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (sets, all, seen) = (sets.clone(), all.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (sets, all, seen) = (sets.clone(), all.clone(), seen.clone());
                            async move {
                                let set = req
                                    .headers()
                                    .get("content-type")
                                    .is_some_and(|v| v.as_bytes() == b"application/secevent+jwt");
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let at = Instant::now();
                                all.fetch_add(1, Ordering::Relaxed);
                                if set {
                                    sets.fetch_add(1, Ordering::Relaxed);
                                }
                                if let Some(user) = deactivation(&body, set) {
                                    let mut seen = seen.lock();
                                    let entry = seen.entry(user).or_default();
                                    if set { entry.0 = Some(at) } else { entry.1 = Some(at) }
                                }
                                let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                                *resp.status_mut() = hyper::StatusCode::ACCEPTED;
                                Ok::<_, Infallible>(resp)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    rx.await.unwrap()
}

async fn tenant(app: &whoot_mgmt::auth::App, slug: &str) -> String {
    app.create_tenant(slug, slug, 10_000_000, &Actor::Cli).await.unwrap();
    let all = whoot_mgmt::auth::ScopeSet::resolve_all(&["all"]).unwrap();
    app.create_key(slug, all, "bench", None, &Actor::Cli).await.unwrap().secret
}

async fn creates(addr: std::net::SocketAddr, key: &str, prefix: &str, n: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (key, prefix) = (key.to_owned(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &key).await;
            for i in (worker..n).step_by(CONCURRENCY) {
                let body = json!({"email": format!("{prefix}{i}@bench.example")});
                assert_eq!(c.call("POST", "/users", Some(&body)).await.0, 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

async fn outbox_empty(app: &whoot_mgmt::auth::App) -> bool {
    let store = app.store.clone();
    let left = store.read(|tx| whoot_mgmt::store::events::outbox(tx, 1, |_| false)).await;
    left.unwrap().is_empty()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run() {
    let rounds = common::arg("--rounds", 5);
    let n = common::arg("--creates", 3000);
    let samples = common::arg("--samples", 200);
    let load = common::arg("--load", 1000);
    println!("SCIM security events benchmark ({} cores)", common::cores());
    let (running, _tmp, _) =
        common::start_server(Settings { default_rate_limit: 0, ..Settings::default() }).await;
    let (app, addr) = (running.state.app.clone(), running.addr);
    let (sets, all) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen: Seen = Arc::default();
    let rx = receiver(sets.clone(), all.clone(), seen.clone()).await;
    let plain = tenant(&app, "plain").await;
    let both = tenant(&app, "both").await;
    let mut c = Client::connect(addr, &both).await;
    let url = format!("http://{rx}/events");
    // `--sets 0` or `--webhooks 0` leaves one of the two out (to see what each costs).
    let (with_sets, with_hooks) = (common::arg("--sets", 1) > 0, common::arg("--webhooks", 1) > 0);
    let registrations = usize::from(with_sets) + usize::from(with_hooks);
    if with_sets {
        let r = c.call("POST", "/event-receivers", Some(&json!({"url": url}))).await;
        assert_eq!(r.0, 201, "{:?}", r.1);
    }
    if with_hooks {
        let r = c.call("POST", "/webhooks", Some(&json!({"url": url, "events": ["*"]}))).await;
        assert_eq!(r.0, 201, "{:?}", r.1);
    }

    // The create rate, with and without the two registrations.
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        without.push(creates(addr, &plain, &format!("p{round}-"), n).await);
        with.push(creates(addr, &both, &format!("b{round}-"), n).await);
        // Let the deliveries drain before the next round.
        // Let the deliveries arrive and be recorded before the next round (each phase then
        // runs with the worker idle when it starts).
        let target = (round + 1) * n * registrations;
        let started = Instant::now();
        while all.load(Ordering::Relaxed) < target && started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while !outbox_empty(&app).await && started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ratios: Vec<f64> =
        without.iter().zip(&with).map(|(a, b)| a.as_secs_f64() / b.as_secs_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "creates at c{CONCURRENCY}: {:.0}/s with no registration, {:.0}/s with {}; with / without by round: median {:.2}, range {:.2}-{:.2}",
        n as f64 / median(without).as_secs_f64(),
        n as f64 / median(with).as_secs_f64(),
        match (with_sets, with_hooks) {
            (true, true) => "one SET receiver and one webhook",
            (true, false) => "one SET receiver",
            _ => "one webhook",
        },
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );

    if !(with_sets && with_hooks) {
        running.shutdown().await;
        return;
    }
    // SETs per second to one receiver: a burst of creates, then until the last SET arrives.
    let before = sets.load(Ordering::Relaxed);
    let started = Instant::now();
    creates(addr, &both, "burst-", n).await;
    while sets.load(Ordering::Relaxed) < before + n {
        assert!(started.elapsed() < Duration::from_secs(300), "SETs stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = started.elapsed();
    println!(
        "{n} SETs (and {n} webhooks) delivered {} after the first create: {:.0} SETs/s",
        ms(took),
        n as f64 / took.as_secs_f64()
    );

    // Deprovisioning latency under a background load of creates into the same tenant.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (stop, key) = (stop.clone(), both.clone());
        tokio::spawn(async move {
            let mut c = Client::connect(addr, &key).await;
            let every = Duration::from_secs_f64(1.0 / load.max(1) as f64);
            let (started, mut i) = (Instant::now(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"email": format!("load{i}@bench.example")});
                c.call("POST", "/users", Some(&body)).await;
                i += 1;
                let due = started + every.mul_f64(i as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            i as f64 / started.elapsed().as_secs_f64()
        })
    };
    let (mut to_set, mut to_hook) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let body = json!({"userName": format!("leaver{i}@bench.example")});
        let (status, created, _) = c.call("POST", "/scim/v2/Users", Some(&body)).await;
        assert_eq!(status, 201);
        let id =
            serde_json::from_slice::<Value>(&created).unwrap()["id"].as_str().unwrap().to_owned();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let (status, _, _) = c.call("PATCH", &format!("/scim/v2/Users/{id}"), Some(&patch)).await;
        let answered = Instant::now();
        assert_eq!(status, 200);
        loop {
            if let Some((Some(set), Some(hook))) = seen.lock().get(&id).copied() {
                to_set.push(set.saturating_duration_since(answered));
                to_hook.push(hook.saturating_duration_since(answered));
                break;
            }
            assert!(answered.elapsed() < Duration::from_secs(60), "no deactivation arrived");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let achieved = background.await.unwrap();
    to_set.sort();
    to_hook.sort();
    println!(
        "deprovisioning, PATCH active=false answered -> received ({samples} samples, background {achieved:.0} creates/s): prov:deactivate SET p50 {} p99 {}; user.deactivated webhook p50 {} p99 {}",
        ms(percentile(&to_set, 0.5)),
        ms(percentile(&to_set, 0.99)),
        ms(percentile(&to_hook, 0.5)),
        ms(percentile(&to_hook, 0.99)),
    );
    running.shutdown().await;
}
