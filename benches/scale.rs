//! One tenant of a million users: built through the store API (not HTTP), then measured over
//! HTTP against the real server in this process: resident memory, indexed lookups at 1k and at
//! 1M users, deep pages by cursor and by startIndex, the filters sync tools use, `check`,
//! `backup`, the tenant's export and import, and startup after a clean stop.
//!
//! cargo bench --bench scale [-- --users 1000000] [--keep]
//!
//! `--keep` leaves the store directory behind (its path is printed), to run `check`, `backup`
//! or a profiler against it afterwards.
//!
//! Until the restart, RSS is this process's (server and benchmark together; the benchmark holds
//! the user ids, 16 bytes each); after it, the real binary's alone.

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::time::{Duration, Instant};

use common::{Client, Spawned, median, ms, rss_of};
use uuid::Uuid;
use whoot_mgmt::http::Settings;
use whoot_mgmt::store::audit::Actor;
use whoot_mgmt::store::users::User;

fn rss_mb() -> f64 {
    rss_of("self")
}

fn main() {
    let users: usize = std::env::args()
        .skip_while(|a| a != "--users")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let keep = std::env::args().any(|a| a == "--keep");
    common::on_two_threads(run(users, keep));
}

/// p50 of `n` lookups of `userName eq` over the first `population` users.
async fn lookups(c: &mut Client, population: usize, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let k = (i * 7919) % population;
        let path = format!("/scim/v2/Users?filter=userName%20eq%20%22user{k}%40scale.example%22");
        let (status, body, took) = c.call("GET", &path, None).await;
        assert_eq!(status, 200, "{body:?}");
        times.push(took);
    }
    median(times)
}

async fn timed(c: &mut Client, path: &str) -> (u16, Duration, usize) {
    let (status, body, took) = c.call("GET", path, None).await;
    if status != 200 {
        println!("  {path}: {}", String::from_utf8_lossy(&body));
    }
    (status, took, body.len())
}

async fn run(n: usize, keep: bool) {
    let dir = tempfile::tempdir().unwrap();
    if keep {
        println!("store directory (kept): {}", dir.path().display());
    }
    let settings = || Settings { default_rate_limit: 0, ..Settings::default() };
    let running = common::start_in(dir.path(), settings(), true).await;
    let secret = running.bootstrap.as_ref().unwrap().1.secret.clone();
    let app = running.state.app.clone();
    let tenant = app.set_seats("default", u32::MAX, &Actor::Cli).await.unwrap().id;
    let store = app.store.clone();
    let mut c = Client::connect(running.addr, &secret).await;
    println!("scale benchmark: {n} users in one tenant ({} cores)", common::cores());
    println!("RSS at start: {:.0} MB", rss_mb());

    let t = Instant::now();
    let made = |offset: usize| {
        move |i: usize| {
            let i = offset + i;
            // A millisecond apart, as if made one after the other.
            let at = 1_700_000_000_000 + i as i64;
            let mut u = User::new(Uuid::now_v7(), format!("user{i}@scale.example"), at);
            u.external_id = Some(format!("ext-{i}"));
            u
        }
    };
    let first = n.min(1000);
    let mut ids = common::create_users(&store, tenant, first, made(0)).await;
    let (lookup_1k, rss_1k) = (lookups(&mut c, first, 500).await, rss_mb());
    ids.extend(common::create_users(&store, tenant, n - first, made(first)).await);
    let built = t.elapsed();
    // The build may outlast the server's keep-alive idle timeout.
    let mut c = Client::connect(running.addr, &secret).await;
    println!(
        "built {n} users in {} ({:.0} users/s); store file {} MB",
        ms(built),
        n as f64 / built.as_secs_f64(),
        std::fs::metadata(store.path()).map(|m| m.len() / 1_000_000).unwrap_or(0)
    );
    println!("at 1k users: userName eq p50 {}, RSS {rss_1k:.0} MB", ms(lookup_1k));
    let lookup_1m = lookups(&mut c, n, 2000).await;
    println!("at {n} users: userName eq p50 {}, RSS {:.0} MB", ms(lookup_1m), rss_mb());

    let deep = ids[n * 9 / 10];
    let cursor = whoot_mgmt::cursor::encode(
        deep.as_u128(),
        whoot_mgmt::cursor::fingerprint(&["native users"]),
    );
    // The last 1% of users, as a sync tool asking for changes since then would.
    let (_, body, _) = c.call("GET", &format!("/scim/v2/Users/{}", ids[n * 99 / 100]), None).await;
    let recent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let since = recent["meta"]["lastModified"].as_str().unwrap().to_owned();
    let queries = [
        ("native page of 100 by cursor at 90%", format!("/users?limit=100&cursor={cursor}")),
        (
            "SCIM page of 100, startIndex at 90%",
            format!("/scim/v2/Users?startIndex={}&count=100", n * 9 / 10),
        ),
        ("SCIM externalId eq", "/scim/v2/Users?filter=externalId%20eq%20%22ext-12345%22".into()),
        (
            "SCIM userName sw (prefix)",
            "/scim/v2/Users?filter=userName%20sw%20%22user99999%22".into(),
        ),
        (
            "SCIM active eq true, count=100",
            "/scim/v2/Users?filter=active%20eq%20true&count=100".into(),
        ),
        (
            "SCIM meta.lastModified gt (none newer)",
            "/scim/v2/Users?filter=meta.lastModified%20gt%20%222030-01-01T00:00:00Z%22".into(),
        ),
        (
            "SCIM meta.lastModified ge (last 1%)",
            format!("/scim/v2/Users?count=100&filter=meta.lastModified%20ge%20%22{since}%22"),
        ),
        (
            "SCIM meta.lastModified ge (all), at 90%",
            format!(
                "/scim/v2/Users?count=100&startIndex={}&filter=meta.lastModified%20ge%20%22{}%22",
                n * 9 / 10,
                "2023-11-14T22:13:20Z"
            ),
        ),
        (
            "SCIM active eq true, startIndex at 90%",
            format!("/scim/v2/Users?filter=active%20eq%20true&count=100&startIndex={}", n * 9 / 10),
        ),
        (
            "SCIM sortBy=userName, startIndex at 90%",
            format!("/scim/v2/Users?sortBy=userName&count=100&startIndex={}", n * 9 / 10),
        ),
        (
            "SCIM sortBy=userName descending, at 90%",
            format!(
                "/scim/v2/Users?sortBy=userName&sortOrder=descending&count=100&startIndex={}",
                n * 9 / 10
            ),
        ),
        (
            "SCIM active eq true sortBy=userName, at 90%",
            format!(
                "/scim/v2/Users?filter=active%20eq%20true&sortBy=userName&count=100&startIndex={}",
                n * 9 / 10
            ),
        ),
    ];
    println!(
        "{:<44} {:>6} {:>10} {:>10} {:>10}",
        "query (100 times)", "status", "p50", "p99", "bytes"
    );
    for (name, path) in &queries {
        let _ = timed(&mut c, path).await;
        let mut times = Vec::with_capacity(100);
        let (mut status, mut bytes) = (0, 0);
        for _ in 0..100 {
            let took;
            (status, took, bytes) = timed(&mut c, path).await;
            times.push(took);
        }
        times.sort();
        let (p50, p99) = (ms(times[49]), ms(times[98]));
        println!("{name:<44} {status:>6} {p50:>10} {p99:>10} {bytes:>10}");
    }
    println!("RSS after the queries: {:.0} MB", rss_mb());

    let t = Instant::now();
    let report = app.store.read(whoot_mgmt::store::check::run).await.unwrap();
    println!("check: {} ({} problems)", ms(t.elapsed()), report.problems.len());
    let backup = dir.path().join("backup.redb");
    let t = Instant::now();
    let rows = app.store.backup(backup.clone()).await.unwrap();
    println!("backup: {} ({rows} rows)", ms(t.elapsed()));
    let _ = std::fs::remove_file(&backup);

    // Moving the tenant: its export, and its import into a new store in this process.
    let export = dir.path().join("default.tenant");
    let t = Instant::now();
    let summary = app.export_tenant("default", &export, &Actor::Cli).await.unwrap();
    let mb = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len() / 1_000_000).unwrap_or(0);
    println!("tenant export: {} ({} rows, {} MB)", ms(t.elapsed()), summary.rows, mb(&export));
    let elsewhere = tempfile::tempdir().unwrap();
    let other = whoot_mgmt::auth::App::open(elsewhere.path()).unwrap();
    let t = Instant::now();
    let (_, imported) = other.import_tenant(&export, None, &Actor::Cli).await.unwrap();
    println!(
        "tenant import into a new store: {} ({} rows), RSS after {:.0} MB",
        ms(t.elapsed()),
        imported.rows,
        rss_mb()
    );
    drop(other);
    let _ = std::fs::remove_file(&export);

    drop((c, store, app));
    running.shutdown().await;

    // The rest against the real binary, so its memory is the server's alone.
    let t = Instant::now();
    let mut server = Spawned::start(dir.path());
    println!("startup of the binary after a clean stop: {}", ms(t.elapsed()));
    let mut c = Client::connect(server.addr, &secret).await;
    let lookup = lookups(&mut c, n, 2000).await;
    println!("binary: userName eq p50 {}, RSS {:.0} MB", ms(lookup), server.rss_mb());
    let deep = format!("/scim/v2/Users?startIndex={}&count=100", n * 9 / 10);
    let (status, took, _) = timed(&mut c, &deep).await;
    println!(
        "binary: startIndex page at 90% {status} in {}, RSS {:.0} MB",
        ms(took),
        server.rss_mb()
    );
    // Memory under a read load: 64 connections looking users up for 5 s.
    let rate = common::lookup_load(server.addr, &secret, n, "scale.example", 5).await;
    println!(
        "binary under 64 connections of lookups: {rate:.0} req/s, RSS {:.0} MB",
        server.rss_mb()
    );
    drop(c);
    server.kill();
    let t = Instant::now();
    let server = Spawned::start(dir.path());
    println!("startup of the binary after kill -9: {}", ms(t.elapsed()));
    drop(server);
    if keep {
        let _ = dir.keep();
    }
}
