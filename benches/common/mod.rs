//! Shared by the benchmarks: a one-connection HTTP/1.1 client and small statistics.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use whoot_mgmt::http::Settings;
use whoot_mgmt::server::{self, Running, ServeOptions};

/// The real server on port 0 in a temp dir (bootstrapped), with the bootstrap key's secret.
/// Keep the TempDir alive as long as the server.
/// A server without rate limits whose tenant `default` has a million seats: the server, its
/// data directory, the bootstrap secret and the tenant's id.
pub async fn start_unlimited() -> (Running, tempfile::TempDir, String, uuid::Uuid) {
    let (running, tmp, secret) =
        start_server(Settings { default_rate_limit: 0, ..Settings::default() }).await;
    let actor = whoot_mgmt::store::audit::Actor::Cli;
    let tenant = running.state.app.set_seats("default", 1_000_000, &actor).await.unwrap().id;
    (running, tmp, secret, tenant)
}

pub async fn start_server(settings: Settings) -> (Running, tempfile::TempDir, String) {
    start_server_with(settings, true).await
}

/// As `start_server`, choosing whether the webhook worker runs.
pub async fn start_server_with(
    settings: Settings,
    webhook_worker: bool,
) -> (Running, tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let running = start_with(tmp.path(), settings, true, webhook_worker).await;
    let secret = running.bootstrap.as_ref().unwrap().1.secret.clone();
    (running, tmp, secret)
}

/// The real server on `dir` (bootstrapped on an empty one if `bootstrap`).
pub async fn start_in(dir: &std::path::Path, settings: Settings, bootstrap: bool) -> Running {
    start_with(dir, settings, bootstrap, true).await
}

async fn start_with(
    dir: &std::path::Path,
    settings: Settings,
    bootstrap: bool,
    webhook_worker: bool,
) -> Running {
    server::start(ServeOptions {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:0".into(),
        metrics_listen: None,
        tls: None,
        bootstrap,
        webhook_worker,
        connections: whoot_mgmt::http::listener::Limits {
            max_connections: whoot_mgmt::http::listener::derived_max_connections(),
            ..Default::default()
        },
        // The benchmark's receiver is on this host.
        audit_retention: Duration::from_secs(365 * 86_400),
        cache_bytes: cache_bytes(),
        read_concurrency: whoot_mgmt::store::DEFAULT_READ_CONCURRENCY,
        checkpoint_every: whoot_mgmt::store::DEFAULT_CHECKPOINT_EVERY,
        checkpoint_idle: whoot_mgmt::store::DEFAULT_CHECKPOINT_IDLE,
        disk_reserve: whoot_mgmt::store::DEFAULT_DISK_RESERVE,
        webhooks: whoot_mgmt::webhooks::Settings {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
            ..Default::default()
        },
        settings,
    })
    .await
    .unwrap()
}

/// The store cache: `WHOOT_BENCH_CACHE_MB`, else the server's default.
fn cache_bytes() -> usize {
    std::env::var("WHOOT_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(whoot_mgmt::store::DEFAULT_CACHE_BYTES, |mb| mb << 20)
}

pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    auth: String,
}

/// One keep-alive HTTP/1.1 connection to `addr` (no delay), its driver spawned.
pub async fn connection(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

impl Client {
    pub async fn connect(addr: SocketAddr, secret: &str) -> Client {
        Client { sender: connection(addr).await, auth: format!("Bearer {secret}") }
    }

    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Bytes, Duration) {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "bench")
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .unwrap();
        let t = Instant::now();
        self.sender.ready().await.unwrap();
        let resp = self.sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, body, t.elapsed())
    }
}

/// A multi-threaded runtime of `threads` workers.
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a benchmark on two worker threads (the machine the figures are stated for has two cores).
pub fn on_two_threads<F: std::future::Future>(bench: F) -> F::Output {
    runtime(2).block_on(bench)
}

/// The number after `--name` on the command line, else `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.nth(1).and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The machine's cores, as the figures state them.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Writes `n` users through the store API, 1,000 a commit; `made(i)` makes the `i`th. Their ids.
pub async fn create_users(
    store: &whoot_mgmt::store::Store,
    tenant: uuid::Uuid,
    n: usize,
    made: impl Fn(usize) -> whoot_mgmt::store::users::User,
) -> Vec<uuid::Uuid> {
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(1000) {
        let batch: Vec<_> = (start..(start + 1000).min(n)).map(&made).collect();
        ids.extend(batch.iter().map(|u| u.id));
        store
            .write(move |txn| -> whoot_mgmt::store::Result<_> {
                for u in &batch {
                    whoot_mgmt::store::lifecycle::create_user(txn, tenant, u)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    ids
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A field of `/proc/{pid}/status` (`VmRSS`: resident now; `VmHWM`: the peak so far), in MB.
pub fn status_mb(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// VmRSS of `/proc/{pid}/status`, in MB.
pub fn rss_of(pid: &str) -> f64 {
    status_mb(pid, "VmRSS")
}

/// `whoot-mgmt serve` on `dir` (the release binary), killed when dropped.
pub struct Spawned {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl Spawned {
    pub fn start(dir: &std::path::Path) -> Spawned {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_whoot-mgmt"))
            .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0", "--data-dir"])
            .arg(dir)
            .env("WHOOT_LOG", "warn")
            .envs(std::env::var("WHOOT_BENCH_CACHE_MB").map(|mb| ("WHOOT_CACHE_SIZE_MB", mb)))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(addr) = line.strip_prefix("listening on http://") {
                return Spawned { child, addr: addr.parse().unwrap() };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start");
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn rss_mb(&self) -> f64 {
        rss_of(&self.pid())
    }

    /// The most the process has had resident since it started.
    pub fn peak_rss_mb(&self) -> f64 {
        status_mb(&self.pid(), "VmHWM")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}

/// 64 connections looking up `userName eq "user{k}@{domain}"` (k spread over `n` users) for
/// `seconds`; the lookups per second.
pub async fn lookup_load(
    addr: SocketAddr,
    secret: &str,
    n: usize,
    domain: &str,
    seconds: u64,
) -> f64 {
    let started = Instant::now();
    let mut load = Vec::new();
    for worker in 0..64usize {
        let (secret, domain) = (secret.to_owned(), domain.to_owned());
        load.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &secret).await;
            let mut i = worker;
            while started.elapsed() < Duration::from_secs(seconds) {
                let k = (i * 7919) % n;
                let path =
                    format!("/scim/v2/Users?filter=userName%20eq%20%22user{k}%40{domain}%22");
                let (status, _, _) = c.call("GET", &path, None).await;
                assert_eq!(status, 200);
                i += 64;
            }
            i / 64
        }));
    }
    let mut done = 0;
    for task in load {
        done += task.await.unwrap();
    }
    done as f64 / started.elapsed().as_secs_f64()
}
