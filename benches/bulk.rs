//! SCIM Bulk against single requests: 1,000 user creates in one Bulk request, next to 1,000
//! single `POST /Users` at concurrency 16, in the same run, on the real server (in-process, real
//! redb file, fsync on every commit).
//!
//! cargo bench --bench bulk

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::time::{Duration, Instant};

use common::{Client, ms};
use serde_json::{Value, json};
use whoot_mgmt::http::Settings;
use whoot_mgmt::store::audit::Actor;

const N: usize = 1000;
const CONCURRENCY: usize = 16;

fn main() {
    common::on_two_threads(run());
}

fn user(prefix: &str, i: usize) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{prefix}{i}@bench.example"),
        "name": {"givenName": "Bench", "familyName": format!("User {i}")},
        "emails": [{"value": format!("{prefix}{i}@bench.example"), "type": "work", "primary": true}], "active": true})
}

async fn run() {
    let (running, _tmp, secret) = common::start_server(Settings {
        default_rate_limit: 0,
        max_body_bytes: 4 << 20,
        ..Settings::default()
    })
    .await;
    let app = running.state.app.clone();
    app.set_seats("default", 1_000_000, &Actor::Cli).await.unwrap();
    println!("bulk benchmark ({} cores), {N} user creates each way", common::cores());

    // One Bulk request.
    let ops: Vec<Value> = (0..N)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user("bulk", i)}))
        .collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
    let commits_before =
        app.store.writer_stats().commits.load(std::sync::atomic::Ordering::Relaxed);
    let mut c = Client::connect(running.addr, &secret).await;
    let (status, answer, took) = c.call("POST", "/scim/v2/Bulk", Some(&body)).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let created =
        answer["Operations"].as_array().unwrap().iter().filter(|o| o["status"] == "201").count();
    assert_eq!(created, N);
    let commits = app.store.writer_stats().commits.load(std::sync::atomic::Ordering::Relaxed)
        - commits_before;
    println!(
        "Bulk, {N} operations in one request: {} ({:.0} creates/s, {commits} commits)",
        ms(took),
        N as f64 / took.as_secs_f64()
    );

    // The same creates as single requests, 16 at a time.
    let started = Instant::now();
    let commits_before =
        app.store.writer_stats().commits.load(std::sync::atomic::Ordering::Relaxed);
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (addr, secret) = (running.addr, secret.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &secret).await;
            let mut slowest = Duration::ZERO;
            for i in (worker..N).step_by(CONCURRENCY) {
                let (status, _, took) =
                    c.call("POST", "/scim/v2/Users", Some(&user("single", i))).await;
                assert_eq!(status, 201);
                slowest = slowest.max(took);
            }
            slowest
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        slowest = slowest.max(t.await.unwrap());
    }
    let took = started.elapsed();
    let commits = app.store.writer_stats().commits.load(std::sync::atomic::Ordering::Relaxed)
        - commits_before;
    println!(
        "{N} single POST /Users at concurrency {CONCURRENCY}: {} ({:.0} creates/s, {commits} commits, slowest request {})",
        ms(took),
        N as f64 / took.as_secs_f64(),
        ms(slowest)
    );
    running.shutdown().await;
}
