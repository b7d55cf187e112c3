//! What the provisioning log costs, and how fast it is read.
//!
//! cargo bench --bench provisioning [-- --entries 1000000 --rounds 8]
//!
//! Two servers in one process, one with the log and one without (`provisioning_log = false`),
//! each on a 2-thread runtime; the load generator has its own. Alternating 1 s slices (after
//! 0.25 s uncounted) of SCIM `POST /Users` at c16 (every create durable, its entry in its own
//! commit) and `userName eq` lookups at c64 (counted, not stored), on each server in turn: the
//! median of the rounds' on/off ratios. Then `--entries` entries (one in ten failed, spread over
//! three clients) are written into the logging server's store, and a page of 100 failed entries
//! of one client is read through `GET /provisioning-log`, first and deep pages, 200 times each.

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use whoot_mgmt::http::Settings;
use whoot_mgmt::store::audit::{Actor, Field};
use whoot_mgmt::store::provisioning::{Entry, Subject};

const WARM: Duration = Duration::from_millis(250);
const SLICE: Duration = Duration::from_secs(1);

/// Successful requests per second over `SLICE`, from `concurrency` keep-alive connections
/// sending `method path` (with `body(i)`), after `WARM` uncounted.
async fn rate(
    addr: SocketAddr,
    key: &str,
    (method, path): (&'static str, &str),
    body: Option<Arc<dyn Fn(usize) -> String + Send + Sync>>,
    concurrency: usize,
) -> f64 {
    let auth = format!("Bearer {key}");
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (auth, next, body, barrier, path) =
            (auth.clone(), next.clone(), body.clone(), barrier.clone(), path.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut sender = common::connection(addr).await;
            barrier.wait().await;
            let from = Instant::now() + WARM;
            let until = from + SLICE;
            let mut ok = 0usize;
            loop {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                let payload = body.as_ref().map_or_else(Bytes::new, |b| {
                    Bytes::from(b(next.fetch_add(1, Ordering::Relaxed)))
                });
                let req = hyper::Request::builder()
                    .method(method)
                    .uri(path.as_str())
                    .header("host", "bench")
                    .header("authorization", &auth)
                    .header("user-agent", "Okta SCIM Client 1.0.0")
                    .header("content-type", "application/scim+json")
                    .body(Full::new(payload))
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                let success = resp.status().is_success();
                resp.into_body().collect().await.unwrap();
                if t >= from && success {
                    ok += 1;
                }
            }
            ok
        }));
    }
    barrier.wait().await;
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / SLICE.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn entry(i: u64, key: uuid::Uuid, now: i64) -> Entry {
    let failed = i.is_multiple_of(10);
    let (client, label) = match i % 3 {
        0 => ("Okta", "okta"),
        1 => ("Microsoft Entra", "entra"),
        _ => ("python-requests/2.32", "other"),
    };
    Entry {
        seq: 0,
        at: now - 1_000_000 + i as i64,
        request_id: format!("bench-{i}"),
        bulk_operation: None,
        key_id: key,
        key_description: "bench key".into(),
        agent: if label == "other" { client.into() } else { String::new() },
        client_label: label.into(),
        source: Some("192.0.2.7".into()),
        method: "POST".into(),
        path: "/scim/v2/Users".into(),
        operation: "create user".into(),
        subject: Some(Subject {
            kind: "user".into(),
            id: Some(uuid::Uuid::now_v7()),
            name: Some(format!("user{i}@bench.example")),
        }),
        status: if failed { 409 } else { 201 },
        code: failed.then(|| "uniqueness".into()),
        detail: failed.then(|| "a user with this user name already exists".into()),
        reason: failed.then(|| format!("userName user{i}@bench.example is already used by user …")),
        changes: match failed {
            true => Vec::new(),
            false => vec![
                Field::set("userName", format!("user{i}@bench.example")),
                Field::set("active", true),
            ],
        },
        quirks: Vec::new(),
        duration_us: 900,
    }
}

fn main() {
    let rounds = common::arg("--rounds", 8);
    let entries = common::arg("--entries", 1_000_000) as u64;
    let (on_rt, off_rt, client_rt) = (common::runtime(2), common::runtime(2), common::runtime(2));
    let settings = |enabled: bool| Settings {
        default_rate_limit: 1_000_000_000,
        provisioning: whoot_mgmt::provisioning::Settings { enabled, ..Default::default() },
        ..Settings::default()
    };
    let (on, _on_dir, on_key) = on_rt.block_on(common::start_server(settings(true)));
    let (off, _off_dir, off_key) = off_rt.block_on(common::start_server(settings(false)));
    for (rt, running) in [(&on_rt, &on), (&off_rt, &off)] {
        let app = running.state.app.clone();
        let tenant = rt.block_on(app.set_seats("default", 10_000_000, &Actor::Cli)).unwrap().id;
        rt.block_on(common::create_users(&app.store, tenant, 1000, |i| {
            whoot_mgmt::store::users::User::new(
                uuid::Uuid::now_v7(),
                format!("user{i}@bench.example"),
                0,
            )
        }));
    }
    println!(
        "provisioning log on vs off, {rounds} rounds of alternating {SLICE:?} slices ({} cores)",
        common::cores()
    );
    let lookup = "/scim/v2/Users?filter=userName%20eq%20%22user500%40bench.example%22";
    let (mut posts, mut lookups) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for round in 0..rounds {
        for side in [round % 2, 1 - round % 2] {
            let (addr, key) = if side == 0 { (on.addr, &on_key) } else { (off.addr, &off_key) };
            let prefix = format!("r{round}s{side}-");
            let body: Arc<dyn Fn(usize) -> String + Send + Sync> = Arc::new(move |i| {
                serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("{prefix}{i}@bench.example"), "active": true})
                .to_string()
            });
            posts[side].push(client_rt.block_on(rate(
                addr,
                key,
                ("POST", "/scim/v2/Users"),
                Some(body),
                16,
            )));
            lookups[side].push(client_rt.block_on(rate(addr, key, ("GET", lookup), None, 64)));
        }
    }
    let ratios =
        |v: &[Vec<f64>; 2]| -> Vec<f64> { v[0].iter().zip(&v[1]).map(|(a, b)| a / b).collect() };
    for (name, v) in [("SCIM POST /Users c16", &posts), ("userName eq c64", &lookups)] {
        println!(
            "{name:<22} on {:>8.0}/s  off {:>8.0}/s  on/off {:.3} (median of the rounds' ratios; range {:.3}-{:.3})",
            median(v[0].clone()),
            median(v[1].clone()),
            median(ratios(v)),
            ratios(v).iter().copied().fold(f64::MAX, f64::min),
            ratios(v).iter().copied().fold(0.0, f64::max),
        );
    }

    // A large log, written straight into the logging server's store.
    let app = on.state.app.clone();
    let tenant = on_rt.block_on(app.set_seats("default", 10_000_000, &Actor::Cli)).unwrap().id;
    let key = uuid::Uuid::now_v7();
    let now = whoot_mgmt::time::now_ms();
    let started = Instant::now();
    for start in (0..entries).step_by(10_000) {
        let end = (start + 10_000).min(entries);
        on_rt
            .block_on(app.store.write(move |txn| -> whoot_mgmt::store::Result<_> {
                for i in start..end {
                    whoot_mgmt::store::provisioning::record(txn, tenant, entry(i, key, now))?;
                }
                Ok(())
            }))
            .unwrap();
    }
    let count = on_rt
        .block_on(app.store.read(move |tx| whoot_mgmt::store::provisioning::count(tx, tenant)))
        .unwrap();
    println!(
        "wrote {entries} entries in {:.1} s; the tenant's log holds {count}",
        started.elapsed().as_secs_f64()
    );
    let timed = |path: String| -> (Duration, Duration, usize) {
        client_rt.block_on(async {
            let mut c = common::Client::connect(on.addr, &on_key).await;
            let mut took = Vec::new();
            let mut n = 0;
            for _ in 0..200 {
                let (status, body, t) = c.call("GET", &path, None).await;
                assert_eq!(status, 200, "{body:?}");
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                n = v["entries"].as_array().unwrap().len();
                took.push(t);
            }
            took.sort();
            (took[took.len() / 2], took[took.len() * 99 / 100], n)
        })
    };
    let deep = entries / 2;
    for (name, path) in [
        (
            "failed, okta, first page",
            "/provisioning-log?outcome=failed&client=okta&limit=100".to_owned(),
        ),
        (
            "failed, okta, from the middle",
            format!("/provisioning-log?outcome=failed&client=okta&limit=100&after={deep}"),
        ),
        ("failed, any client", "/provisioning-log?outcome=failed&limit=100".to_owned()),
        ("all, last hour", "/provisioning-log?since=1h&limit=100".to_owned()),
    ] {
        let (p50, p99, n) = timed(path);
        println!("{name:<32} {n:>3} entries  p50 {}  p99 {}", common::ms(p50), common::ms(p99));
    }
    drop(on);
    drop(off);
}
