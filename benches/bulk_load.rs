//! A million users loaded by SCIM Bulk into the real binary, as an identity provider's first
//! import would: the rate, and the server process's resident memory while loading and then
//! while serving 64 connections of lookups (sampled every 100 ms, and the kernel's own peak,
//! `VmHWM`).
//!
//! cargo bench --bench bulk_load [-- --users 1000000] [--connections 4]

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, Spawned, ms};
use serde_json::{Value, json};

fn main() {
    let users = common::arg("--users", 1_000_000);
    let connections = common::arg("--connections", 4);
    common::on_two_threads(run(users, connections));
}

/// Samples the process's RSS until `done`; the highest seen.
fn sampler(pid: String, done: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut most: f64 = 0.0;
        while !done.load(Ordering::Relaxed) {
            most = most.max(common::rss_of(&pid));
            std::thread::sleep(Duration::from_millis(100));
        }
        most
    })
}

fn bulk(from: usize, to: usize) -> Value {
    let ops: Vec<Value> = (from..to)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("user{i}@load.example"), "externalId": format!("ext-{i}"),
                "name": {"givenName": "Load", "familyName": format!("User {i}")}, "active": true}})
        })
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
}

async fn run(n: usize, connections: usize) {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawned::start(dir.path());
    let secret = std::fs::read_to_string(dir.path().join("initial-api-key")).unwrap();
    let secret = secret.trim().to_owned();
    let seats = std::process::Command::new(env!("CARGO_BIN_EXE_whoot-mgmt"))
        .args(["tenant", "set-seats", "default", "4000000", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(seats.status.success());
    println!(
        "bulk load: {n} users by SCIM Bulk (1,000 operations a request) over {connections} \
         connections into the binary ({} cores); RSS at start {:.0} MB",
        common::cores(),
        server.rss_mb()
    );

    let done = Arc::new(AtomicBool::new(false));
    let sampling = sampler(server.pid(), done.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut loaders = Vec::new();
    for _ in 0..connections {
        let (next, secret, addr) = (next.clone(), secret.clone(), server.addr);
        loaders.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &secret).await;
            loop {
                let from = next.fetch_add(1000, Ordering::Relaxed);
                if from >= n {
                    return;
                }
                let body = bulk(from, (from + 1000).min(n));
                let (status, answer, _) = c.call("POST", "/scim/v2/Bulk", Some(&body)).await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
            }
        }));
    }
    for loader in loaders {
        loader.await.unwrap();
    }
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let sampled = sampling.join().unwrap();
    println!(
        "loaded in {} ({:.0} users/s); RSS while loading: highest sampled {sampled:.0} MB, \
         peak (VmHWM) {:.0} MB; now {:.0} MB; store file {} MB",
        ms(took),
        n as f64 / took.as_secs_f64(),
        server.peak_rss_mb(),
        server.rss_mb(),
        std::fs::metadata(dir.path().join("whoot.redb")).map(|m| m.len() / 1_000_000).unwrap_or(0)
    );

    // 64 connections of `userName eq` lookups for 5 s.
    let done = Arc::new(AtomicBool::new(false));
    let sampling = sampler(server.pid(), done.clone());
    let lookups = common::lookup_load(server.addr, &secret, n, "load.example", 5).await;
    done.store(true, Ordering::Relaxed);
    println!(
        "64 connections of lookups: {lookups:.0} req/s; RSS highest sampled {:.0} MB, peak \
         (VmHWM) over the whole run {:.0} MB",
        sampling.join().unwrap(),
        server.peak_rss_mb()
    );
}
