//! `serve`: open the store, bootstrap an empty one, bind the API and the admin socket, run the
//! background chores, and shut down in order (stop accepting, drain, flush last-used times).

mod signals;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::socket::{AdminSocket, SOCKET_FILE};
use crate::api::{Api, MetricsOnly};
use crate::auth::{App, IssuedKey};
use crate::config::Config;
use crate::http::tls::{Certificate, TlsListener};
use crate::http::{Settings, State, listener};
use crate::store::tenants::Tenant;
use signals::{Signals, watchdog};

/// File the bootstrap key's secret is written to, mode 0600.
pub const INITIAL_KEY_FILE: &str = "initial-api-key";
/// How often last-used times are written to the store.
const LAST_USED_FLUSH_EVERY: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const DELIVERY_LOG_PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The provisioning log grows with every IdP request: held to its bound every minute.
const PROVISIONING_PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub listen: String,
    /// `/metrics` on its own address instead of the API's.
    pub metrics_listen: Option<String>,
    /// Certificate chain and key (PEM): the API speaks HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub bootstrap: bool,
    /// Whether to deliver webhooks (always, but for the benchmark that measures the outbox's
    /// own cost: events are then recorded and wait in the outbox).
    pub webhook_worker: bool,
    /// Connection caps and timeouts of the API's listener.
    pub connections: listener::Limits,
    pub settings: Settings,
    pub webhooks: crate::webhooks::Settings,
    /// How long audit log entries are kept.
    pub audit_retention: Duration,
    /// The store's page cache.
    pub cache_bytes: usize,
    /// Store reads on the blocking pool at once.
    pub read_concurrency: usize,
    /// Group commits between two flushes of the store file, and the idle time before one.
    pub checkpoint_every: u64,
    pub checkpoint_idle: Duration,
    /// Free disk space kept: below it writes are refused (`Store::set_disk_reserve`).
    pub disk_reserve: u64,
}

impl ServeOptions {
    pub fn from_config(config: &Config, bootstrap: bool) -> Result<ServeOptions, String> {
        let tls = config.tls()?.map(|(cert, key)| (cert.to_owned(), key.to_owned()));
        let https = tls.is_some();
        Ok(ServeOptions {
            data_dir: config.data_dir.clone(),
            listen: config.listen.clone(),
            metrics_listen: config.metrics_listen().map(str::to_owned),
            tls,
            bootstrap,
            webhook_worker: true,
            connections: listener::Limits {
                max_connections: match config.max_connections {
                    0 => listener::derived_max_connections(),
                    n => n,
                },
                idle: Duration::from_secs(config.idle_timeout_secs),
                header: Duration::from_secs(config.header_timeout_secs),
            },
            settings: Settings {
                default_rate_limit: config.rate_limit,
                auth_failures_per_minute: config.auth_failures_per_minute,
                max_body_bytes: config.max_body_bytes,
                scan_limit: config.scan_limit,
                trusted_proxies: config.trusted_proxies.clone(),
                body_timeout: Duration::from_secs(config.body_timeout_secs),
                public_url: config.public_url(),
                max_async_requests: config.max_async_requests,
                set_key_retired: Duration::from_secs(
                    config.set_key_retired_days.saturating_mul(86_400),
                ),
                metrics_on_api: config.metrics_listen().is_none(),
                metrics_per_tenant: config.metrics_per_tenant,
                https,
                console: crate::http::context::ConsoleSettings {
                    enabled: config.console,
                    idle: Duration::from_secs(config.console_idle_minutes.saturating_mul(60)),
                    link_ttl: Duration::from_secs(config.console_link_minutes.saturating_mul(60)),
                    link_key_life: Duration::from_secs(
                        config.console_link_key_hours.saturating_mul(3600),
                    ),
                    sessions: crate::auth::sessions::Limits {
                        total: config.console_max_sessions,
                        per_tenant: config.console_max_sessions_per_tenant,
                        per_key: config.console_max_sessions_per_key,
                    },
                },
                provisioning: crate::provisioning::Settings {
                    enabled: config.provisioning_log,
                    reads: config.provisioning_log_reads,
                    flush: Duration::from_millis(config.provisioning_log_flush_ms),
                    retention: Duration::from_secs(
                        config.provisioning_log_days.saturating_mul(86_400),
                    ),
                    max_entries: config.provisioning_log_max_entries.max(1),
                    queue: config.provisioning_log_queue,
                },
            },
            audit_retention: Duration::from_secs(config.audit_retention_days * 86_400),
            cache_bytes: usize::try_from(config.cache_size_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            read_concurrency: config.read_concurrency,
            checkpoint_every: config.checkpoint_every,
            checkpoint_idle: Duration::from_millis(config.checkpoint_idle_ms),
            disk_reserve: config.disk_reserve_mb.saturating_mul(1 << 20),
            webhooks: crate::webhooks::Settings {
                timeout: Duration::from_secs(config.webhook_timeout_secs),
                deny: config.webhook_deny_networks.clone(),
                allow: config.webhook_allow_networks.clone(),
                retention: Duration::from_secs(config.webhook_log_retention_days * 86_400),
                event_retention: Duration::from_secs(config.event_retention_days * 86_400),
                disable_after: Duration::from_secs(config.webhook_disable_after_secs),
                tls: match config.webhook_ca_file.as_os_str().is_empty() {
                    true => None,
                    false => {
                        Some(crate::webhooks::send::client_tls(Some(&config.webhook_ca_file))?)
                    }
                },
                sets: None,
            },
        })
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// The API's certificate when it speaks HTTPS (`reload` on SIGHUP).
    pub certificate: Option<Arc<Certificate>>,
    pub admin_socket: PathBuf,
    /// Present when this start created the default tenant and its key.
    pub bootstrap: Option<(Tenant, IssuedKey)>,
    pub state: Arc<State>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

pub async fn start(opts: ServeOptions) -> Result<Running, String> {
    // A bad certificate is found before the store is touched.
    let certificate = match &opts.tls {
        Some((cert, key)) => Some(Certificate::load(cert, key)?),
        None => None,
    };
    let app = App::open_with_cache(&opts.data_dir, opts.cache_bytes).map_err(|e| e.to_string())?;
    app.store.set_read_concurrency(opts.read_concurrency);
    app.store.set_checkpoints(opts.checkpoint_every, opts.checkpoint_idle);
    let log = &opts.settings.provisioning;
    app.store.set_deferred(log.flush, log.queue);
    app.store.set_disk_reserve(opts.disk_reserve);
    for file in crate::store::remove_leftovers(&opts.data_dir) {
        tracing::info!(file = %file.display(), "removed what an interrupted backup left");
    }
    let bootstrap = if opts.bootstrap {
        let created = app.bootstrap().await.map_err(|e| e.to_string())?;
        match &created {
            Some((_, issued)) => {
                write_bootstrap_key(&app, &issued.secret)?;
            }
            None => warn_if_the_key_file_is_lost(&app, &opts.data_dir).await,
        }
        created
    } else {
        None
    };

    let api = TcpListener::bind(&opts.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = api.local_addr().map_err(|e| e.to_string())?;
    let metrics = match &opts.metrics_listen {
        Some(listen) => Some(
            TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen for metrics on {listen}: {e}"))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics {
        Some(l) => Some(l.local_addr().map_err(|e| e.to_string())?),
        None => None,
    };
    let admin_socket = opts.data_dir.join(SOCKET_FILE);
    let admin = bind_private_socket(&admin_socket)?;

    let retired = i64::try_from(opts.settings.set_key_retired.as_millis()).unwrap_or(i64::MAX);
    app.signing
        .load(&app.store, Some(retired))
        .await
        .map_err(|e| format!("SET signing keys: {e}"))?;
    // SETs name this server as their issuer: its public URL, else where it listens.
    let scheme = if certificate.is_some() { "https" } else { "http" };
    let issuer = opts.settings.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
    let sets = crate::scim::events::Sets {
        app: app.clone(),
        issuer: issuer.trim_end_matches('/').to_owned(),
    };
    let webhooks =
        crate::webhooks::Settings { sets: Some(Arc::new(sets)), ..opts.webhooks.clone() };
    let state = Arc::new(State::new(app.clone(), opts.settings.clone(), webhooks));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    match &certificate {
        Some(certificate) => {
            let api = TlsListener::new(api, certificate.clone())?;
            let handler = Arc::new(Api::new(state.clone()));
            tasks.spawn(listener::serve(api, handler, opts.connections.clone(), stopped.clone()))
        }
        None => {
            let handler = Arc::new(Api::new(state.clone()));
            tasks.spawn(listener::serve(api, handler, opts.connections.clone(), stopped.clone()))
        }
    };
    if let Some(metrics) = metrics {
        let handler = Arc::new(MetricsOnly(state.clone()));
        tasks.spawn(listener::serve(metrics, handler, listener::Limits::small(), stopped.clone()));
    }
    let handler = Arc::new(AdminSocket(app.clone()));
    tasks.spawn(listener::serve(admin, handler, listener::Limits::small(), stopped.clone()));
    if opts.webhook_worker {
        let worker =
            crate::webhooks::spawn(app.store.clone(), state.webhooks.clone(), stopped.clone())
                .map_err(|e| format!("starting the webhook worker: {e}"))?;
        tasks.spawn(async move {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        });
    }
    tasks.spawn(every(LAST_USED_FLUSH_EVERY, stopped.clone(), {
        let app = app.clone();
        move || {
            let app = app.clone();
            async move {
                if let Err(e) = app.flush_last_used().await {
                    tracing::warn!(error = %e, "could not record key last-used times");
                }
            }
        }
    }));
    tasks.spawn(every(PRUNE_EVERY, stopped.clone(), {
        let state = state.clone();
        move || {
            state.auth_failures.prune(Instant::now());
            std::future::ready(())
        }
    }));
    tasks.spawn({
        let (state, stopped) = (state.clone(), stopped.clone());
        async move {
            // At start too: a lowered bound or retention applies at once.
            prune_provisioning_log(&state).await;
            every(PROVISIONING_PRUNE_EVERY, stopped, move || {
                let state = state.clone();
                async move { prune_provisioning_log(&state).await }
            })
            .await
        }
    });
    tasks.spawn(every(DELIVERY_LOG_PRUNE_EVERY, stopped, {
        let (state, audit_retention) = (state.clone(), opts.audit_retention);
        move || {
            let state = state.clone();
            async move {
                let keep = i64::try_from(audit_retention.as_millis()).unwrap_or(i64::MAX);
                let before = crate::time::now_ms().saturating_sub(keep);
                let pruned =
                    state.app.store.write(move |txn| crate::store::audit::prune(txn, before)).await;
                match pruned {
                    Ok(0) => {}
                    Ok(entries) => tracing::info!(entries, "pruned the audit log"),
                    Err(e) => tracing::warn!(error = %e, "could not prune the audit log"),
                }
                match crate::webhooks::prune(&state.app.store, &state.webhooks).await {
                    Ok((0, 0)) => {}
                    Ok((deliveries, events)) => tracing::info!(
                        deliveries,
                        events,
                        "pruned the webhook delivery log and the event stream"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not prune the webhook delivery log")
                    }
                }
            }
        }
    }));
    Ok(Running { addr, metrics_addr, certificate, admin_socket, bootstrap, state, stop, tasks })
}

/// Entries removed per commit when the provisioning log is pruned: a bounded write each, so
/// pruning a large backlog never holds the writer for long.
const PROVISIONING_PRUNE_BATCH: usize = 2_000;

/// Prunes the provisioning log to its retention and per-tenant bound, a batch per commit, until
/// nothing is left to prune.
async fn prune_provisioning_log(state: &State) {
    let settings = &state.settings.provisioning;
    let keep = i64::try_from(settings.retention.as_millis()).unwrap_or(i64::MAX);
    let (before, max) = (crate::time::now_ms().saturating_sub(keep), settings.max_entries);
    let mut total = 0;
    loop {
        let pruned = state
            .app
            .store
            .write(move |txn| {
                crate::store::provisioning::prune(txn, before, max, PROVISIONING_PRUNE_BATCH)
            })
            .await;
        match pruned {
            Ok(n) => {
                total += n;
                if n < PROVISIONING_PRUNE_BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not prune the provisioning log");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(entries = total, "pruned the provisioning log");
    }
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, then records last-used times.
    pub async fn shutdown(mut self) {
        self.state.shutting_down.store(true, Ordering::Relaxed);
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Err(e) = self.state.app.flush_last_used().await {
            tracing::warn!(error = %e, "could not record key last-used times at shutdown");
        }
        let _ = std::fs::remove_file(&self.admin_socket);
    }
}

/// Prints a line of the start-up banner; a stdout that cannot take it (a file on a full disk)
/// costs the line, never the server (`println!` would panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Runs the server until SIGTERM or SIGINT: what `whoot-mgmt serve` does.
pub async fn serve(config: Config, bootstrap: bool) -> Result<(), String> {
    let data_dir = config.data_dir.clone();
    let opts = ServeOptions::from_config(&config, bootstrap)?;
    // Handlers first: a SIGTERM that comes right after readiness must stop the server cleanly,
    // not kill it with the default action.
    let signals = Signals::install()?;
    let running = start(opts).await?;
    if let Some((tenant, issued)) = &running.bootstrap {
        say!(
            "bootstrap: created tenant {:?} ({} seats) and an API key with every scope:",
            tenant.slug,
            tenant.seat_capacity
        );
        let file = data_dir.join(INITIAL_KEY_FILE);
        // Under systemd stdout is the journal, which keeps what it is given: point at the file.
        if std::env::var_os("JOURNAL_STREAM").is_some() {
            say!("  its secret is in {} (mode 0600)", file.display());
        } else {
            say!("  {}", issued.secret);
            say!("  (also in {}, mode 0600; it is not shown again)", file.display());
        }
    }
    say!("admin socket: {}", running.admin_socket.display());
    if let Some(addr) = running.metrics_addr {
        say!("metrics on http://{addr}/metrics");
    }
    let scheme = if running.certificate.is_some() { "https" } else { "http" };
    say!("listening on {scheme}://{}", running.addr);
    // Where `console login` links point: the public URL, else this listener (an unspecified
    // address as loopback: the admin running the command is on this host).
    let origin = running.state.settings.public_url.clone().unwrap_or_else(|| {
        let mut addr = running.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("{scheme}://{addr}")
    });
    running.state.app.sessions.set_origin(origin.trim_end_matches('/').to_owned());
    tracing::info!(addr = %running.addr, "ready");
    // systemd (Type=notify): ready only now, with the store open and the listener bound.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = sd_notify::watchdog_enabled()
        .map(|period| tokio::spawn(watchdog(running.state.app.store.clone(), period / 2)));
    signals.wait_for_stop(running.certificate.as_deref()).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn every<F, Fut>(period: Duration, mut stopped: watch::Receiver<bool>, chore: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => chore().await,
            _ = crate::shutdown::requested(&mut stopped) => return,
        }
    }
}

/// Binds the admin socket readable and writable by this user only. We hold the store's lock,
/// so a socket file already there is a leftover from a crash and safe to replace.
fn bind_private_socket(path: &Path) -> Result<UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot create admin socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict admin socket {}: {e}", path.display()))?;
    Ok(listener)
}

/// Writes the bootstrap key's secret, durably (the file, then its directory) before it is
/// announced: the key itself is durable, and the store is never bootstrapped again, so a file
/// lost at a power loss would be the operator's only copy gone.
fn write_bootstrap_key(app: &App, secret: &str) -> Result<(), String> {
    let line = format!("{secret}\n");
    app.store.write_private_file(INITIAL_KEY_FILE, line.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}

/// At a start that did not bootstrap: if `initial-api-key` is there but empty, or gone while the
/// bootstrap key is still the only key of the only tenant, the operator may hold no key at all:
/// say so, and how to make one.
async fn warn_if_the_key_file_is_lost(app: &App, data_dir: &Path) {
    let file = data_dir.join(INITIAL_KEY_FILE);
    let empty = std::fs::read_to_string(&file).is_ok_and(|s| s.trim().is_empty());
    let tenants = app.store.read(crate::store::tenants::list).await.unwrap_or_default();
    let only_bootstrap = match tenants.as_slice() {
        [only] => app.keys(&only.slug).await.is_ok_and(|(_, keys)| {
            keys.len() == 1 && keys.iter().all(|k| k.description.starts_with("bootstrap key"))
        }),
        _ => false,
    };
    if empty || (!file.exists() && only_bootstrap) {
        tracing::warn!(file = %file.display(), "the bootstrap key's file is empty or missing");
        say!(
            "{} is empty or missing, and its key is not shown again. If you hold no key, make \
             one: whoot-mgmt key create --tenant default --scope all --data-dir {}",
            file.display(),
            data_dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::Store;
    use crate::store::volatile::Power;

    /// The bootstrap key's file, as `start` writes it, is whole after a power loss right after
    /// it is announced, on a disk that drops what was never synced: its secret opens the key the
    /// store kept. The same disk does empty a file whose data was never synced.
    #[tokio::test]
    async fn the_bootstrap_key_file_survives_a_power_loss_right_after_it_is_announced() {
        for seed in 1..=16 {
            let tmp = tempfile::tempdir().unwrap();
            let power = Power::new(seed);
            let app = App::with_store(Store::open_volatile(tmp.path(), &power).unwrap()).unwrap();
            let (_, issued) = app.bootstrap().await.unwrap().expect("an empty store bootstraps");
            write_bootstrap_key(&app, &issued.secret).unwrap();
            // Written but never synced: what the loss must drop.
            let unsynced = tmp.path().join("unsynced");
            std::fs::write(&unsynced, b"").unwrap();
            power.file_write(&unsynced, b"secret").unwrap();
            power.cut_now();
            drop(app);

            let after = Power::new(seed + 100);
            let app = App::with_store(Store::open_volatile(tmp.path(), &after).unwrap()).unwrap();
            let file = tmp.path().join(INITIAL_KEY_FILE);
            let secret = std::fs::read_to_string(&file).expect("the key file is there");
            assert_eq!(secret.trim(), issued.secret, "seed {seed}");
            let key = app.registry.by_hash(&crate::auth::secret::hash(secret.trim()));
            assert_eq!(key.map(|k| k.id), Some(issued.key.id), "seed {seed}");
            let left = std::fs::read(&unsynced).unwrap_or_default();
            assert!(left.is_empty(), "seed {seed}: unsynced data survived the loss");
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
