//! Webhook cost and throughput on the real server (in-process, real redb file):
//! 1. native user creates/s at concurrency 16 with no webhook registration, then with 3 active
//!    registrations subscribed to everything whose target the deny-list refuses: each create
//!    writes its 3 delivery rows (the outbox) in its transaction, and the worker records the
//!    refusals without network I/O, so this is the outbox's own cost;
//! 2. the same with 3 registrations to a live local receiver, and how fast the worker drains
//!    the 6,000 deliveries.
//!
//! cargo bench --bench webhooks

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, ms};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use whoot_mgmt::http::Settings;

const N: usize = 2000;
const CONCURRENCY: usize = 16;

fn main() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
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
async fn tenant(app: &whoot_mgmt::app::App, slug: &str) -> (String, uuid::Uuid) {
    let t = app.create_tenant(slug, slug, 1_000_000).await.unwrap();
    let all = whoot_mgmt::auth::ScopeSet::resolve_all(&["all"]).unwrap();
    (app.create_key(slug, all, "bench", None).await.unwrap().secret, t.id)
}

async fn receiver(count: Arc<AtomicUsize>) -> std::net::SocketAddr {
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

async fn run() {
    let (running, _tmp, secret) =
        common::start_server(Settings { default_rate_limit: 0, ..Settings::default() }).await;
    let app = running.state.app.clone();
    app.update_tenant("default", |t| t.seat_capacity = 1_000_000).await.unwrap();
    println!(
        "webhooks benchmark ({} cores), {N} native user creates at concurrency {CONCURRENCY}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let without = creates(running.addr, &secret, "plain").await;
    println!(
        "no registrations:                  {} ({:.0} creates/s)",
        ms(without),
        N as f64 / without.as_secs_f64()
    );

    // 1. The outbox alone: 3 registrations whose target the deny-list refuses, so every create
    // writes 3 delivery rows in its transaction, and the worker records refusals without I/O.
    let (outbox_key, _) = tenant(&app, "outbox").await;
    let mut c = Client::connect(running.addr, &outbox_key).await;
    for i in 0..3 {
        let (status, _, _) = c
            .call(
                "POST",
                "/webhooks",
                Some(&json!({"url": format!("http://169.254.0.1/hook{i}"), "events": ["*"]})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let with = creates(running.addr, &outbox_key, "outbox").await;
    println!(
        "3 registrations, outbox only:      {} ({:.0} creates/s, {:.0}% of the rate without)",
        ms(with),
        N as f64 / with.as_secs_f64(),
        100.0 * without.as_secs_f64() / with.as_secs_f64()
    );

    // 2. Delivery: 3 registrations to a live local receiver (in this process, on the same cores).
    let (live_key, _) = tenant(&app, "live").await;
    let received = Arc::new(AtomicUsize::new(0));
    let rx = receiver(received.clone()).await;
    let mut c = Client::connect(running.addr, &live_key).await;
    for i in 0..3 {
        let (status, _, _) = c
            .call(
                "POST",
                "/webhooks",
                Some(&json!({"url": format!("http://{rx}/hook{i}"), "events": ["*"]})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let started = Instant::now();
    let live = creates(running.addr, &live_key, "live").await;
    println!(
        "3 registrations, delivering live:  {} ({:.0} creates/s, {:.0}% of the rate without; receiver and worker share the 2 cores)",
        ms(live),
        N as f64 / live.as_secs_f64(),
        100.0 * without.as_secs_f64() / live.as_secs_f64()
    );
    let expected = 3 * N;
    while received.load(Ordering::Relaxed) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "deliveries stalled at {}",
            received.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    println!(
        "delivered all {expected} events {} after the first create ({:.0} deliveries/s)",
        ms(drained),
        expected as f64 / drained.as_secs_f64()
    );
    running.shutdown().await;
}
