//! Webhook cost and throughput on the real server (in-process, real redb file). Three tenants:
//! - `plain`: no webhook registration;
//! - `outbox`: 3 active registrations subscribed to everything whose target the deny-list refuses,
//!   so every create writes its outbox event and the worker records 3 refused deliveries without
//!   network I/O: the outbox's own cost;
//! - `live`: 3 registrations to a live local receiver (in this process, on a thread of its own
//!   at the lowest CPU priority: it stands in for a receiver on another machine, so it takes no
//!   CPU the server wants).
//!
//! First, on a second server whose webhook worker does not run, `plain` against `outbox` again:
//! the cost of writing the event in the change's transaction alone, without the delivery work
//! that shares the 2 cores.
//!
//! Each round runs N native user creates at concurrency 16 into each tenant in turn, waiting
//! for the worker to finish (outbox empty, every delivery received) between phases; the figures
//! are medians over the rounds, and the cost is the median of each round's own ratio (phases
//! that ran seconds apart), so drift in the machine's speed cancels out.
//!
//! cargo bench --bench webhooks

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, median, ms};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use whoot_mgmt::http::Settings;
use whoot_mgmt::store::audit::Actor;

const N: usize = 3000;
const ROUNDS: usize = 5;
const CONCURRENCY: usize = 16;

fn main() {
    common::on_two_threads(run());
}

async fn creates(addr: std::net::SocketAddr, secret: &str, prefix: &str) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (secret, prefix) = (secret.to_owned(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &secret).await;
            for i in (worker..N).step_by(CONCURRENCY) {
                let (status, _, _) = c
                    .call(
                        "POST",
                        "/users",
                        Some(&json!({"email": format!("{prefix}{i}@bench.example")})),
                    )
                    .await;
                assert_eq!(status, 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

/// A tenant with room for the benchmark's users, and an all-scopes key for it.
async fn tenant(app: &whoot_mgmt::auth::App, slug: &str) -> (String, uuid::Uuid) {
    let t = app.create_tenant(slug, slug, 1_000_000, &Actor::Cli).await.unwrap();
    let all = whoot_mgmt::auth::ScopeSet::resolve_all(&["all"]).unwrap();
    (app.create_key(slug, all, "bench", None, &Actor::Cli).await.unwrap().secret, t.id)
}

/// The receiver's address; it counts what it receives, on its own nice-19 thread.
async fn receiver(count: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            tx.send(receive(count).await).unwrap();
            std::future::pending::<()>().await
        });
    });
    rx.await.unwrap()
}

async fn receive(count: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let count = count.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let count = count.clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            count.fetch_add(1, Ordering::Relaxed);
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn outbox_empty(app: &whoot_mgmt::auth::App) -> bool {
    let store = app.store.clone();
    store.read(|tx| whoot_mgmt::store::events::outbox(tx, 1, |_| false)).await.unwrap().is_empty()
}

async fn register(addr: std::net::SocketAddr, key: &str, url: impl Fn(usize) -> String) {
    let mut c = Client::connect(addr, key).await;
    for i in 0..3 {
        let (status, _, _) =
            c.call("POST", "/webhooks", Some(&json!({"url": url(i), "events": ["*"]}))).await;
        assert_eq!(status, 201);
    }
}

/// Median and range of per-round ratios `plain / with`, in percent.
fn ratios(plain: &[Duration], with: &[Duration]) -> (f64, f64, f64) {
    let mut r: Vec<f64> =
        plain.iter().zip(with).map(|(p, w)| p.as_secs_f64() / w.as_secs_f64()).collect();
    r.sort_by(f64::total_cmp);
    (100.0 * r[r.len() / 2], 100.0 * r[0], 100.0 * r[r.len() - 1])
}

/// `plain` against `outbox` with no webhook worker: the outbox write alone.
async fn outbox_write_alone() {
    let (running, _tmp, _) =
        common::start_server_with(Settings { default_rate_limit: 0, ..Settings::default() }, false)
            .await;
    let app = running.state.app.clone();
    let (plain_key, _) = tenant(&app, "plain").await;
    let (outbox_key, _) = tenant(&app, "outbox").await;
    register(running.addr, &outbox_key, |i| format!("http://169.254.0.1/hook{i}")).await;
    let (mut plain, mut outbox) = (vec![], vec![]);
    for round in 0..ROUNDS {
        plain.push(creates(running.addr, &plain_key, &format!("p{round}-")).await);
        outbox.push(creates(running.addr, &outbox_key, &format!("o{round}-")).await);
    }
    let (m, lo, hi) = ratios(&plain, &outbox);
    println!(
        "outbox write alone (no worker):   {:.0} creates/s without, {:.0} with 3 registrations; rate with / without, by round: median {m:.0}%, range {lo:.0}–{hi:.0}%",
        N as f64 / median(plain).as_secs_f64(),
        N as f64 / median(outbox).as_secs_f64(),
    );
    running.shutdown().await;
}

async fn run() {
    println!(
        "webhooks benchmark ({} cores), {ROUNDS} rounds of {N} native user creates at concurrency {CONCURRENCY} per tenant",
        common::cores()
    );
    outbox_write_alone().await;
    let (running, _tmp, _) =
        common::start_server(Settings { default_rate_limit: 0, ..Settings::default() }).await;
    let app = running.state.app.clone();
    let addr = running.addr;
    let (plain_key, _) = tenant(&app, "plain").await;
    let (outbox_key, _) = tenant(&app, "outbox").await;
    register(addr, &outbox_key, |i| format!("http://169.254.0.1/hook{i}")).await;
    let (live_key, _) = tenant(&app, "live").await;
    let received = Arc::new(AtomicUsize::new(0));
    let rx = receiver(received.clone()).await;
    register(addr, &live_key, |i| format!("http://{rx}/hook{i}")).await;

    let (mut plain, mut outbox, mut live, mut drained) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        plain.push(creates(addr, &plain_key, &format!("p{round}-")).await);

        outbox.push(creates(addr, &outbox_key, &format!("o{round}-")).await);
        while !outbox_empty(&app).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        let started = Instant::now();
        let before = received.load(Ordering::Relaxed);
        live.push(creates(addr, &live_key, &format!("l{round}-")).await);
        while received.load(Ordering::Relaxed) < before + 3 * N {
            assert!(started.elapsed() < Duration::from_secs(300), "deliveries stalled");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drained.push(started.elapsed());
        while !outbox_empty(&app).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let rate = |d: Duration| N as f64 / d.as_secs_f64();
    // Each round's ratio compares phases run next to each other; the median of those ratios
    // is steadier than a ratio of medians when the machine's speed drifts.
    let (outbox_ratio, live_ratio) = (ratios(&plain, &outbox), ratios(&plain, &live));
    let (plain, outbox, live, drained) =
        (median(plain), median(outbox), median(live), median(drained));
    println!(
        "no registrations:                 {} per {N} ({:.0} creates/s)",
        ms(plain),
        rate(plain)
    );
    println!(
        "3 registrations, worker recording refused deliveries: {} per {N} ({:.0} creates/s); rate with / without, by round: median {:.0}%, range {:.0}–{:.0}%",
        ms(outbox),
        rate(outbox),
        outbox_ratio.0,
        outbox_ratio.1,
        outbox_ratio.2
    );
    println!(
        "3 registrations, delivering live: {} per {N} ({:.0} creates/s); rate with / without, by round: median {:.0}%, range {:.0}–{:.0}% (worker on the same 2 cores)",
        ms(live),
        rate(live),
        live_ratio.0,
        live_ratio.1,
        live_ratio.2
    );
    println!(
        "delivered all {} events {} after the first create ({:.0} deliveries/s)",
        3 * N,
        ms(drained),
        (3 * N) as f64 / drained.as_secs_f64()
    );
    running.shutdown().await;
}
