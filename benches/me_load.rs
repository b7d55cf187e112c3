//! Load benchmark for `GET /me` (authentication, scope check, rate-limit bucket, JSON), the
//! indexed SCIM lookups (`userName eq` at c16 and c64; `externalId eq`, `emails eq` and GET by
//! id at c64; 1,000 users), the native `GET /users/{id}` at c64, a page of 100, and durable SCIM writes, against a bare hyper HTTP/1.1
//! handler answering a fixed body of similar size, in the same run.
//!
//! cargo bench --bench me_load [-- --seconds 5] [--writes | --log-ab]
//!
//! `--log-ab`: only durable creates and member adds at c16, alternating 1 s slices with the
//! store's log (the default `checkpoint_every`) and without it (`checkpoint_every = 1`: every
//! commit flushes the store file, redb's own durable commit), on the same server; prints the
//! medians and how much faster the log is.
//!
//! Both servers get their own 2-thread runtime; the load generator has another, with one
//! keep-alive connection per concurrent client. Everything shares the machine's cores, so the
//! ratio is what to compare across machines, not the absolute numbers.

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use whoot_mgmt::http::Settings;
use whoot_mgmt::store::audit::Actor;
use whoot_mgmt::store::users::User;

/// The bare POST is authenticated, as a real handler's would be: the bearer token is hashed and
/// compared with the one key it knows (a wrong one gets 401, counted as an error).
const BARE_KEY: &str = "bare-0123456789abcdef0123456789abcdef";
const BARE_BODY: &str = r#"{"key_id":"01a20654-2276-7691-aa25-1874547ce5b4","tenant_slug":"default","tenant_id":"01a20654-2275-7040-b439-a3bdeff73c8c","scopes":["scim:users:read","scim:users:write","scim:groups:read","scim:groups:write","api:users:read","api:users:write","api:rooms:read","api:rooms:write","usage","webhooks"],"description":"bootstrap key (all scopes)"}"#;

struct Result {
    requests: usize,
    elapsed: Duration,
    p50_us: u64,
    p99_us: u64,
    errors: usize,
}

impl Result {
    /// Requests per second, failed ones included.
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Successful requests per second.
    fn ok_rate(&self) -> f64 {
        (self.requests - self.errors) as f64 / self.elapsed.as_secs_f64()
    }

    /// One table row; returns the rate.
    fn print(&self, name: &str, concurrency: usize, note: &str) -> f64 {
        let rps = self.rate();
        println!(
            "{name:<16} {concurrency:>3} {rps:>10.0} {:>9} {:>9} {:>7}{note}",
            self.p50_us, self.p99_us, self.errors
        );
        rps
    }
}

/// "median (min-max)" of ratios.
fn spread(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    let (low, high) = (ratios[0], ratios[ratios.len() - 1]);
    format!("{:.2}x ({low:.2}-{high:.2})", ratios[ratios.len() / 2])
}

/// GETs of `path` for `seconds` after a 1 s warm-up.
fn steady(
    rt: &tokio::runtime::Runtime,
    (addr, key, path): (SocketAddr, Option<&'static str>, &'static str),
    concurrency: usize,
    seconds: u64,
) -> Result {
    let (warm, length) = (Duration::from_secs(1), Duration::from_secs(seconds));
    rt.block_on(drive((addr, key, "GET", path), None, concurrency, warm, length))
}

/// The interleaved slices: the warm-up and the counted length of each.
const SLICE: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(1));

/// The bare handler, then whoot, each `steady`; prints both and their ratio, returns both rates.
fn against_bare(
    rt: &tokio::runtime::Runtime,
    (bare, bare_path): (SocketAddr, &'static str),
    (name, whoot): (&str, (SocketAddr, Option<&'static str>, &'static str)),
    concurrency: usize,
    seconds: u64,
) -> (f64, f64) {
    let b = steady(rt, (bare, None, bare_path), concurrency, seconds).print(
        "bare hyper",
        concurrency,
        "",
    );
    let w = steady(rt, whoot, concurrency, seconds).print(name, concurrency, "");
    println!("{:<16} {concurrency:>3} {:>9.0}% of bare hyper", "ratio", 100.0 * w / b);
    (b, w)
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // Only the durable writes (to profile the writer).
    let writes_only = std::env::args().any(|a| a == "--writes");
    let server_rt = common::runtime(2);
    let bare_rt = common::runtime(2);
    let client_rt = common::runtime(2);

    // The bucket is still taken on every request; it just never runs dry.
    let settings = Settings { default_rate_limit: 1_000_000_000, ..Settings::default() };
    let (running, _tmp, secret) = server_rt.block_on(common::start_server(settings));
    let secret: &'static str = Box::leak(secret.into_boxed_str());
    let whoot = running.addr;
    let bare = bare_rt.block_on(start_bare());

    println!("keep-alive, {seconds}s per run after a 1s warm-up ({} cores)", common::cores());
    println!(
        "{:<16} {:>3} {:>10} {:>9} {:>9} {:>7}",
        "target", "conc", "req/s", "p50 µs", "p99 µs", "errors"
    );
    let app = running.state.app.clone();
    let tenant = server_rt.block_on(app.set_seats("default", 1_000_000, &Actor::Cli)).unwrap().id;
    if !writes_only {
        reads(&client_rt, &server_rt, (whoot, bare, secret), &app.store, tenant, seconds);
    }
    // Durable writes at c16: SCIM POST /Users (every one fsynced before its answer), and a
    // Group PATCH adding one member, next to the bare handler reading a POST body.
    let pool: Vec<String> = server_rt.block_on(async {
        let ids = common::create_users(&app.store, tenant, 100_000, |_| {
            let id = uuid::Uuid::now_v7();
            User::new(id, format!("m{}@bench.example", id.simple()), 0)
        })
        .await;
        ids.iter().map(ToString::to_string).collect()
    });
    let group = client_rt.block_on(async {
        let mut c = common::Client::connect(whoot, secret).await;
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Bench group"});
        let (status, body, _) = c.call("POST", "/scim/v2/Groups", Some(&body)).await;
        assert_eq!(status, 201, "{body:?}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["id"].as_str().unwrap().to_owned()
    });
    let pool = std::sync::Arc::new(pool);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let user_named = |prefix: &'static str| -> Body {
        std::sync::Arc::new(move |i| {
            serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("{prefix}{i}@bench.example"), "active": true})
            .to_string()
        })
    };
    let (p, n) = (pool.clone(), next.clone());
    let add: Body = std::sync::Arc::new(move |_| {
        let user = &p[n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % p.len()];
        serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]})
        .to_string()
    });
    let patch_path: &'static str = Box::leak(format!("/scim/v2/Groups/{group}").into_boxed_str());
    let seconds_w = Duration::from_secs(seconds.min(3));
    // Each run also reports how many mutations the writer folded into one commit.
    let stats = app.store.writer_stats();
    let folded = || {
        let c = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
        (c, stats.mutations.load(std::sync::atomic::Ordering::Relaxed))
    };
    let write = |target, body: &Body| {
        let before = folded();
        let warm = Duration::from_secs(1);
        let r = client_rt.block_on(drive(target, Some(body.clone()), 16, warm, seconds_w));
        let after = folded();
        let per_commit = (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64;
        (r, per_commit)
    };
    if std::env::args().any(|a| a == "--log-ab") {
        let mut rates = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
        let modes = [("log", whoot_mgmt::store::DEFAULT_CHECKPOINT_EVERY), ("no log", 1)];
        for round in 0..8 {
            for m in [round % 2, 1 - round % 2] {
                app.store.set_checkpoints(modes[m].1, whoot_mgmt::store::DEFAULT_CHECKPOINT_IDLE);
                let prefix: &'static str = Box::leak(format!("ab{round}-{m}-").into_boxed_str());
                let slice = |target, body: &Body| {
                    let r = drive(target, Some(body.clone()), 16, SLICE.0, SLICE.1);
                    client_rt.block_on(r).ok_rate()
                };
                rates[m][0].push(slice(
                    (whoot, Some(secret), "POST", "/scim/v2/Users"),
                    &user_named(prefix),
                ));
                rates[m][1].push(slice((whoot, Some(secret), "PATCH", patch_path), &add));
            }
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        for (op, name) in [(0, "SCIM POST /Users"), (1, "PATCH add member")] {
            let (with, without) = (med(&mut rates[0][op]), med(&mut rates[1][op]));
            println!(
                "{name:<16} c16: {with:>8.0}/s with the log, {without:>8.0}/s without \
                 (checkpoint_every = 1): {:.2}x (median of 8 alternating 1 s slices)",
                with / without
            );
        }
        return;
    }
    let (bare_post, _) = write((bare, Some(BARE_KEY), "POST", "/plain"), &user_named("bare"));
    let (posts, post_batch) =
        write((whoot, Some(secret), "POST", "/scim/v2/Users"), &user_named("new"));
    let (patches, patch_batch) = write((whoot, Some(secret), "PATCH", patch_path), &add);
    bare_post.print("bare POST", 16, "");
    posts.print("SCIM POST /Users", 16, &format!("  {post_batch:.1} per commit"));
    patches.print("PATCH add member", 16, &format!("  {patch_batch:.1} per commit"));
    println!(
        "durable writes: POST {:.2}x and PATCH {:.2}x the bare POST",
        posts.rate() / bare_post.rate(),
        patches.rate() / bare_post.rate()
    );
    // And interleaved: 5 rounds of 1 s each of the bare POST, SCIM POST and PATCH; only
    // successful requests count (each round creates users of its own names).
    let (mut post_ratios, mut patch_ratios) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let slice = |target, body: &Body| {
            client_rt.block_on(drive(target, Some(body.clone()), 16, SLICE.0, SLICE.1)).ok_rate()
        };
        let bare_rate = slice((bare, Some(BARE_KEY), "POST", "/plain"), &user_named("bare"));
        let names: &'static str = Box::leak(format!("round{round}-").into_boxed_str());
        let users = (whoot, Some(secret), "POST", "/scim/v2/Users");
        post_ratios.push(slice(users, &user_named(names)) / bare_rate);
        patch_ratios.push(slice((whoot, Some(secret), "PATCH", patch_path), &add) / bare_rate);
    }
    for (name, ratios) in [("SCIM POST /Users", post_ratios), ("PATCH add member", patch_ratios)] {
        println!("interleaved, 5 rounds of 1 s: {name} {} the bare POST", spread(ratios));
    }
    drop(app);
    server_rt.block_on(running.shutdown());
}

/// `GET /me`, the indexed lookups and a page, each against the bare handler.
fn reads(
    client_rt: &tokio::runtime::Runtime,
    server_rt: &tokio::runtime::Runtime,
    (whoot, bare, secret): (SocketAddr, SocketAddr, &'static str),
    store: &whoot_mgmt::store::Store,
    tenant: uuid::Uuid,
    seconds: u64,
) {
    for concurrency in [1usize, 64] {
        let me = ("whoot /me", (whoot, Some(secret), "/me"));
        against_bare(client_rt, (bare, "/me"), me, concurrency, seconds);
    }

    // An indexed SCIM lookup over 1,000 users.
    let ids = server_rt.block_on(async {
        common::create_users(store, tenant, 1000, |i| {
            let mut u = User::new(uuid::Uuid::now_v7(), format!("user{i}@bench.example"), 0);
            u.external_id = Some(format!("ext-{i}"));
            u.email = Some(format!("mail{i}@bench.example"));
            u.emails = vec![whoot_mgmt::store::users::Email {
                value: format!("mail{i}@bench.example"),
                kind: Some("work".into()),
                primary: Some(true),
                display: None,
            }];
            u
        })
        .await
    });
    let lookup = "/scim/v2/Users?filter=userName%20eq%20%22user500%40bench.example%22";
    let eq = ("whoot SCIM eq", (whoot, Some(secret), lookup));
    let (_, eq16) = against_bare(client_rt, (bare, "/plain"), eq, 16, seconds);
    let (bare64, eq64) = against_bare(client_rt, (bare, "/plain"), eq, 64, seconds);
    println!("SCIM eq at c64 is {:.0}% of c16", 100.0 * eq64 / eq16);
    // The other indexed lookups at c64, against the bare handler's c64 rate above.
    let by_id: &'static str = Box::leak(format!("/scim/v2/Users/{}", ids[500]).into_boxed_str());
    let native: &'static str = Box::leak(format!("/users/{}", ids[500]).into_boxed_str());
    let others = [
        ("externalId eq", "/scim/v2/Users?filter=externalId%20eq%20%22ext-500%22"),
        ("emails eq", "/scim/v2/Users?filter=emails%20eq%20%22mail500%40bench.example%22"),
        ("GET by id", by_id),
        ("native by id", native),
    ];
    for (name, path) in others {
        let r = steady(client_rt, (whoot, Some(secret), path), 64, seconds);
        let rps = r.rate();
        r.print(name, 64, &format!("  {:.0}% of bare hyper", 100.0 * rps / bare64));
    }

    // The VM's speed drifts within a run, so the ratios again, each from alternating 1 s slices
    // of the bare handler and whoot (7 pairs): the median of the pairs' own ratios.
    println!(
        "interleaved, 7 pairs of 1 s slices (each after 0.25 s uncounted): median ratio (range) to the bare /plain"
    );
    let each = others.iter().map(|&(name, path)| (name, path, 64));
    for (name, path, concurrency) in
        [("userName eq", lookup, 16usize), ("userName eq", lookup, 64)].into_iter().chain(each)
    {
        let mut ratios = Vec::new();
        for _ in 0..7 {
            let one =
                |target| client_rt.block_on(drive(target, None, concurrency, SLICE.0, SLICE.1));
            let bare_rate = one((bare, None, "GET", "/plain")).rate();
            ratios.push(one((whoot, Some(secret), "GET", path)).rate() / bare_rate);
        }
        println!("{name:<16} {concurrency:>3}   {}", spread(ratios));
    }

    // A page of 100 users (about 46 KB) at c16.
    let page = "/scim/v2/Users?startIndex=1&count=100";
    steady(client_rt, (whoot, Some(secret), page), 16, seconds).print(
        "whoot page",
        16,
        "  pages of 100 users",
    );
}

async fn start_bare() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let key = blake3::hash(BARE_KEY.as_bytes());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let presented = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Bearer "));
                        let refused = presented.is_some_and(|t| blake3::hash(t.as_bytes()) != key);
                        // A POST's body is read, as a real handler would.
                        let _ = req.into_body().collect().await;
                        if refused {
                            let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                            return Ok::<_, Infallible>(resp);
                        }
                        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(
                            BARE_BODY.as_bytes(),
                        )));
                        resp.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(resp)
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

/// A request body for the `i`th request of a run.
type Body = std::sync::Arc<dyn Fn(usize) -> String + Send + Sync>;

/// Where a load goes: address, API key, method and path.
type Target = (SocketAddr, Option<&'static str>, &'static str, &'static str);

/// `concurrency` keep-alive connections sending the target's request (with `body(i)` when
/// there is one), each as soon as the last answered. The connections are made first, then
/// `warm` of requests is not counted, then `length` is: the figures are the steady rate,
/// without the connection setup and the first requests (which weigh more on the slower server).
async fn drive(
    (addr, key, method, path): Target,
    body: Option<Body>,
    concurrency: usize,
    warm: Duration,
    length: Duration,
) -> Result {
    let auth = key.map(|k| format!("Bearer {k}"));
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let connected = std::sync::Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (auth, counter, body, connected) =
            (auth.clone(), counter.clone(), body.clone(), connected.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = common::connection(addr).await;
            connected.wait().await;
            let counted_from = Instant::now() + warm;
            let deadline = counted_from + length;
            let (mut latencies, mut errors) = (Vec::with_capacity(100_000), 0);
            loop {
                let t = Instant::now();
                if t >= deadline {
                    break;
                }
                let mut req =
                    hyper::Request::builder().method(method).uri(path).header("host", "bench");
                if body.is_some() {
                    req = req.header("content-type", "application/scim+json");
                }
                if let Some(auth) = &auth {
                    req = req.header("authorization", auth);
                }
                let payload = body.as_ref().map_or_else(Bytes::new, |body| {
                    Bytes::from(body(counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
                });
                let resp = sender.send_request(req.body(Full::new(payload)).unwrap()).await;
                let resp = resp.unwrap();
                let ok = resp.status().is_success();
                resp.into_body().collect().await.unwrap();
                if t >= counted_from {
                    latencies.push(t.elapsed().as_micros() as u64);
                    errors += usize::from(!ok);
                }
            }
            (latencies, errors)
        }));
    }
    connected.wait().await;
    summarize(tasks, length).await
}

/// Joins the connections' (latencies, errors) into one `Result`.
async fn summarize(
    tasks: Vec<tokio::task::JoinHandle<(Vec<u64>, usize)>>,
    elapsed: Duration,
) -> Result {
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Result { requests: all.len(), elapsed, p50_us: pct(0.50), p99_us: pct(0.99), errors }
}
