//! Settings. Each key is defined once, below: that one line gives its config-file key, its
//! `WHOOT_*` variable, its flag, its default and its help, so the parser, `--help` and
//! `config example` cannot disagree.
//!
//! Precedence, highest first: flag, environment variable, config file, built-in default.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The config file format this build reads (`version = 1`).
pub const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

/// One setting, as documented.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub env: &'static str,
    /// TOML literal.
    pub default: &'static str,
    pub help: &'static str,
    /// Whether every command reads it, or only `serve`.
    pub global: bool,
}

impl Key {
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }
}

/// Each entry: `name: Type = default (a TOML literal), env "WHOOT_NAME", "help";`. The default
/// is parsed from its TOML text exactly as a config file would be.
macro_rules! settings {
    ($(
        $group:ident: $flags:ident global=$global:literal {
            $( $name:ident : $ty:ty = $default:tt, env $env:tt, $help:literal
               $(, clap($($attr:tt)*))? ; )*
        }
    )*) => {
        $(
            #[derive(clap::Args, Debug, Default, Clone)]
            pub struct $flags {
                $(
                    #[arg(
                        long,
                        global = $global,
                        env = $env,
                        help = concat!($help, " [default: ", stringify!($default), "]")
                        $(, $($attr)*)?
                    )]
                    pub $name: Option<$ty>,
                )*
            }
        )*

        /// A config file. Unknown keys are errors: a typo must not silently keep a default.
        #[derive(Deserialize, Default, Debug)]
        #[serde(deny_unknown_fields)]
        struct File {
            version: Option<u32>,
            $($( $name: Option<$ty>, )*)*
        }

        /// The settings in force.
        #[derive(Debug, Clone, Serialize)]
        pub struct Config {
            $($( pub $name: $ty, )*)*
        }

        pub const KEYS: &[Key] = &[
            $($( Key {
                name: stringify!($name),
                env: $env,
                default: stringify!($default),
                help: $help,
                global: $global,
            }, )*)*
        ];

        fn merge($($group: &$flags,)* file: File, defaults: File) -> Result<Config, String> {
            Ok(Config {
                $($(
                    $name: $group.$name.clone()
                        .or(file.$name)
                        .or(defaults.$name)
                        .ok_or(concat!("no default for ", stringify!($name)))?,
                )*)*
            })
        }
    };
}

settings! {
    global: GlobalFlags global=true {
        data_dir: PathBuf = "./data", env "WHOOT_DATA_DIR",
            "Directory holding the store, the admin socket and the bootstrap key. Under systemd \
             the unit's StateDirectory is used when this is not set.";
        log_format: LogFormat = "plain", env "WHOOT_LOG_FORMAT",
            "Log lines as `plain` text or `json` (one object per line).",
            clap(value_enum);
        log_level: String = "info", env "WHOOT_LOG",
            "Log filter: error, warn, info or debug, optionally per module \
             (`info,whoot_mgmt::webhooks=debug`).";
    }
    serve: ServeFlags global=false {
        listen: String = "127.0.0.1:8080", env "WHOOT_LISTEN",
            "Address the API listens on; port 0 picks a free port (the bound address is printed).";
        public_url: String = "", env "WHOOT_PUBLIC_URL",
            "The URL clients reach the server at (behind a reverse proxy, say), used for SCIM \
             `meta.location` and `Location`; empty: built from each request's Host header.";
        tls_cert: PathBuf = "", env "WHOOT_TLS_CERT",
            "PEM certificate chain: serve the API over HTTPS (reread on SIGHUP). Empty: plain \
             HTTP, for use behind a TLS-terminating reverse proxy.";
        tls_key: PathBuf = "", env "WHOOT_TLS_KEY",
            "PEM private key for tls_cert (reread on SIGHUP).";
        metrics_listen: String = "", env "WHOOT_METRICS_LISTEN",
            "Serve Prometheus /metrics on this address instead of the API's; set it when the API \
             faces the internet. Empty: /metrics on the API address.";
        metrics_per_tenant: bool = false, env "WHOOT_METRICS_PER_TENANT",
            "Also serve the per-tenant series (seats by tenant slug) on the API address's /metrics. \
             They are always on metrics_listen, which only your monitoring should reach; on the API \
             address anyone could read every tenant's slug.";
        cache_size_mb: u64 = 64, env "WHOOT_CACHE_SIZE_MB",
            "The store's page cache, in MiB, held in the server's memory. The operating system's \
             page cache still keeps the rest of the file in memory it can reclaim; raise this \
             only if reads of a large store show up as disk reads.";
        read_concurrency: usize = 16, env "WHOOT_READ_CONCURRENCY",
            "Most store reads that may walk many records (pages, filtered lists, exports) running \
             at once, each on a thread of its own; more wait their turn without holding one. \
             Lookups by id or index are not counted: they run where the request does. 0 counts \
             as 1.";
        checkpoint_every: u64 = 512, env "WHOOT_CHECKPOINT_EVERY",
            "Group commits made durable by the store's log (whoot.log, one sequential write and \
             fsync each) before one flushes the store file itself and the log starts over; also \
             after checkpoint_idle_ms without writes and at a clean stop. Higher: fewer, larger \
             flushes; lower: less to replay after a crash. 1: every commit flushes the store file \
             and the log is not used.";
        checkpoint_idle_ms: u64 = 200, env "WHOOT_CHECKPOINT_IDLE_MS",
            "Milliseconds without writes after which commits the store's log holds are flushed \
             to the store file (a checkpoint).";
        disk_reserve_mb: u64 = 16, env "WHOOT_DISK_RESERVE_MB",
            "Free space (MiB) kept on the data directory's disk, at most a sixteenth of the \
             volume: with less free, writes answer 503 before they could fail, reads go on, and \
             writes resume by themselves once space is freed. 0: no reserve (a write then meets \
             the full disk, and the store is reopened to recover, answering reads 503 \
             meanwhile).";
        scan_limit: u64 = 200000, env "WHOOT_SCAN_LIMIT",
            "Most records a SCIM filter or sort that no index serves may examine; past it the list \
             answers 400 tooMany (0 = no limit).";
        max_connections: usize = 0, env "WHOOT_MAX_CONNECTIONS",
            "Most client connections open at once; past it a new one is answered 503 and closed. \
             0: derived from the open-file limit (raised to its hard limit at start) less 256 for \
             the store, webhooks and the admin socket.";
        idle_timeout_secs: u64 = 60, env "WHOOT_IDLE_TIMEOUT_SECS",
            "A connection with no request in flight and no bytes moving for this long is closed \
             (idle keep-alive and HTTP/2 connections).";
        header_timeout_secs: u64 = 30, env "WHOOT_HEADER_TIMEOUT_SECS",
            "A request's headers must arrive within this (a new connection's first request too).";
        body_timeout_secs: u64 = 60, env "WHOOT_BODY_TIMEOUT_SECS",
            "A request body must arrive within this; a slower one is answered 408.";
        max_body_bytes: usize = 1048576, env "WHOOT_MAX_BODY_BYTES",
            "Largest request body accepted, in bytes.";
        rate_limit: u32 = 600, env "WHOOT_RATE_LIMIT",
            "Requests per minute per API key, unless the tenant overrides it (0 = unlimited).";
        auth_failures_per_minute: u32 = 30, env "WHOOT_AUTH_FAILURES_PER_MINUTE",
            "Failed authentications allowed per minute per client address (0 = unlimited). A \
             request with a valid key is always served.";
        trusted_proxies: Vec<IpNet> = [], env "WHOOT_TRUSTED_PROXIES",
            "Reverse proxies whose Forwarded / X-Forwarded-For header names the client, for the \
             failure limit and the logs (e.g. 127.0.0.1/32 for a proxy on this host). As a flag or \
             variable: comma-separated.",
            clap(value_delimiter = ',', value_name = "CIDR");
        webhook_timeout_secs: u64 = 10, env "WHOOT_WEBHOOK_TIMEOUT_SECS",
            "Seconds a webhook receiver gets to answer.";
        webhook_log_retention_days: u64 = 30, env "WHOOT_WEBHOOK_LOG_RETENTION_DAYS",
            "Days finished webhook deliveries stay in the delivery log.";
        webhook_disable_after_secs: u64 = 259200, env "WHOOT_WEBHOOK_DISABLE_AFTER_SECS",
            "A registration whose deliveries have all failed for this long is disabled (and shown \
             with why); 259200 is 3 days. Only time between failed attempts while the server runs \
             counts, not time it was stopped.";
        event_retention_days: u64 = 30, env "WHOOT_EVENT_RETENTION_DAYS",
            "Days events stay in the change stream (GET /events); a consumer asking for older ones \
             is told (410) to resynchronise.";
        max_async_requests: usize = 64, env "WHOOT_MAX_ASYNC_REQUESTS",
            "SCIM requests sent with `Prefer: respond-async` that may wait or run in the \
             background at once; past this, such a request is answered when done, as if it had \
             not asked.";
        set_key_retired_days: u64 = 7, env "WHOOT_SET_KEY_RETIRED_DAYS",
            "Days a replaced SET signing key stays published at /.well-known/jwks.json (after \
             `set-key rotate`), so SETs it signed still verify; older retired keys are removed \
             when the server starts.";
        audit_retention_days: u64 = 365, env "WHOOT_AUDIT_RETENTION_DAYS",
            "Days audit log entries (who changed what through the CLI, the key API, webhook \
             registrations) are kept.";
        provisioning_log: bool = true, env "WHOOT_PROVISIONING_LOG",
            "Keep the provisioning log: an entry for every request to a provisioning endpoint \
             (SCIM, native users and rooms) that changed something or failed, with the reason.";
        provisioning_log_reads: bool = false, env "WHOOT_PROVISIONING_LOG_READS",
            "Log successful reads one by one too (else they are only counted).";
        provisioning_log_flush_ms: u64 = 1000, env "WHOOT_PROVISIONING_LOG_FLUSH_MS",
            "A failure's entry rides with the next write; with none coming, it is committed \
             within this many milliseconds. A crash loses at most this window of failure entries \
             (a change's entry is in the change's own commit).";
        provisioning_log_days: u64 = 30, env "WHOOT_PROVISIONING_LOG_DAYS",
            "Days provisioning log entries are kept.";
        provisioning_log_max_entries: u64 = 1000000, env "WHOOT_PROVISIONING_LOG_MAX_ENTRIES",
            "Most provisioning log entries kept per tenant; the oldest go first.";
        provisioning_log_queue: usize = 10000, env "WHOOT_PROVISIONING_LOG_QUEUE",
            "Most failure entries waiting for the store's writer; past it they are dropped and \
             counted (whoot_provisioning_log_dropped_total).";
        console: bool = true, env "WHOOT_CONSOLE",
            "Serve the organisation admin's web console at /console/ (sign-in needs a key holding \
             api_keys.manage, or a link from `whoot-mgmt console login`).";
        console_idle_minutes: u64 = 30, env "WHOOT_CONSOLE_IDLE_MINUTES",
            "A console session unused for this long is closed.";
        console_link_minutes: u64 = 10, env "WHOOT_CONSOLE_LINK_MINUTES",
            "How long a one-time sign-in link from `whoot-mgmt console login` stays valid.";
        console_link_key_hours: u64 = 12, env "WHOOT_CONSOLE_LINK_KEY_HOURS",
            "A sign-in link opens its session with a key of its own (shown on the API Keys page, \
             revocable there); the key expires after this many hours.";
        console_max_sessions: usize = 1000, env "WHOOT_CONSOLE_MAX_SESSIONS",
            "Most console sessions open at once, all tenants together; past it the session idle \
             longest of the tenant with the most is closed.";
        console_max_sessions_per_tenant: usize = 100, env "WHOOT_CONSOLE_MAX_SESSIONS_PER_TENANT",
            "Most console sessions one tenant may have open; past it that tenant's session idle \
             longest is closed (one tenant's sign-ins never sign another's admins out).";
        console_max_sessions_per_key: usize = 10, env "WHOOT_CONSOLE_MAX_SESSIONS_PER_KEY",
            "Most console sessions open with one key; past it that key's session idle longest \
             is closed.";
        webhook_ca_file: PathBuf = "", env "WHOOT_WEBHOOK_CA_FILE",
            "PEM file of CA certificates trusted for https webhook receivers, besides the public \
             roots (an internal PKI). Empty: the public roots only.";
        webhook_deny_networks: Vec<IpNet> = ["127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128", "169.254.0.0/16", "fe80::/10", "fd00:ec2::/32"],
            env "WHOOT_WEBHOOK_DENY_NETWORKS",
            "Networks webhooks may not target, checked on every address a receiver's name resolves \
             to (the default: loopback, unspecified, link-local and the cloud metadata addresses; \
             add your private networks to keep tenants off them). As a flag or variable: \
             comma-separated.",
            clap(value_delimiter = ',', value_name = "CIDR");
        webhook_allow_networks: Vec<IpNet> = [],
            env "WHOOT_WEBHOOK_ALLOW_NETWORKS",
            "Networks webhooks may target even though webhook_deny_networks covers them (a receiver \
             on this host: 127.0.0.1/32). As a flag or variable: comma-separated.",
            clap(value_delimiter = ',', value_name = "CIDR");
    }
}

impl Config {
    pub fn public_url(&self) -> Option<String> {
        non_empty(&self.public_url).map(str::to_owned)
    }

    pub fn metrics_listen(&self) -> Option<&str> {
        non_empty(&self.metrics_listen)
    }

    /// Both TLS paths, or neither; one without the other is a mistake worth stopping for.
    pub fn tls(&self) -> Result<Option<(&Path, &Path)>, String> {
        let cert = self.tls_cert.as_os_str().is_empty();
        let key = self.tls_key.as_os_str().is_empty();
        match (cert, key) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some((&self.tls_cert, &self.tls_key))),
            _ => Err("tls_cert and tls_key go together: set both, or neither".into()),
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// Resolves the settings: flags (which clap already filled from `WHOOT_*` variables), then the
/// config file at `path`, then the defaults.
pub fn load(
    path: Option<&Path>,
    global: &GlobalFlags,
    serve: &ServeFlags,
) -> Result<Config, String> {
    let mut file = match path {
        Some(path) => read(path)?,
        None => File::default(),
    };
    // systemd's StateDirectory= tells us where our state belongs; a configured one still wins.
    if file.data_dir.is_none()
        && let Some(dirs) = std::env::var_os("STATE_DIRECTORY")
        && let Some(first) = std::env::split_paths(&dirs).next()
    {
        file.data_dir = Some(first);
    }
    merge(global, serve, file, defaults()?)
}

fn read(path: &Path) -> Result<File, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let file = parse(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
    Ok(file)
}

fn parse(text: &str) -> Result<File, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    match file.version {
        Some(CONFIG_VERSION) => Ok(file),
        None => Err(format!("no `version` key: add `version = {CONFIG_VERSION}` at the top")),
        Some(v) if v > CONFIG_VERSION => Err(format!(
            "written for a newer whoot-mgmt (config version {v}); this one reads version \
             {CONFIG_VERSION}"
        )),
        Some(v) => {
            Err(format!("config version {v} is not supported; this one reads {CONFIG_VERSION}"))
        }
    }
}

fn defaults() -> Result<File, String> {
    let mut text = format!("version = {CONFIG_VERSION}\n");
    for key in KEYS {
        let _ = writeln!(text, "{} = {}", key.name, key.default);
    }
    parse(&text).map_err(|e| format!("built-in defaults: {e}"))
}

/// A commented config file with every key at its default: `whoot-mgmt config example`, and the
/// file the Debian package installs.
/// Where the packaged config lives; admin commands read it when no `--config` is given.
pub const PACKAGED_CONFIG: &str = "/etc/whoot-mgmt/config.toml";
/// The data directory of the packaged service (systemd's `StateDirectory=whoot-mgmt`).
pub const PACKAGED_DATA_DIR: &str = "/var/lib/whoot-mgmt";

/// The config file a command reads: the one named (`--config`, `WHOOT_CONFIG`), else the
/// packaged one where it exists, else none.
pub fn config_path(named: Option<&Path>, packaged: &Path) -> Option<PathBuf> {
    match named {
        Some(path) => Some(path.to_owned()),
        None => packaged.is_file().then(|| packaged.to_owned()),
    }
}

/// The commented example; `packaged` sets `data_dir` to the packaged service's directory, so
/// admin commands reading the installed file find the service's store.
pub fn example_for(packaged: bool) -> String {
    let text = example();
    if !packaged {
        return text;
    }
    text.replacen("#data_dir = \"./data\"", &format!("data_dir = \"{PACKAGED_DATA_DIR}\""), 1)
}

pub fn example() -> String {
    let mut out = String::new();
    out.push_str(
        "# whoot-mgmt configuration (generated by `whoot-mgmt config example`).\n\
         #\n\
         # Every key is shown at its default, commented out. Each can also be set by its\n\
         # environment variable or its flag; a flag wins over the variable, the variable over\n\
         # this file, and this file over the default. Unknown keys are errors.\n\n",
    );
    let _ = writeln!(out, "version = {CONFIG_VERSION}");
    for key in KEYS {
        out.push('\n');
        for line in wrap(key.help, 94) {
            let _ = writeln!(out, "# {line}");
        }
        let scope = if key.global { "" } else { " (serve)" };
        let _ = writeln!(out, "# Variable {}, flag {}{scope}.", key.env, key.flag());
        let _ = writeln!(out, "#{} = {}", key.name, one_line(key.default));
    }
    out
}

/// Every setting as a Markdown table (key, variable, flag, default, meaning): the one in
/// docs/operating.md, which a test keeps equal to this.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| key | variable | flag | default | meaning |\n|---|---|---|---|---|\n");
    for key in KEYS {
        let default = match one_line(key.default).as_str() {
            "\"\"" | "[]" => "empty".to_owned(),
            d => format!("`{}`", d.trim_matches('"')),
        };
        let scope = if key.global { "" } else { " (serve)" };
        let help = one_line(key.help).replace('|', "\\|");
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{}`{scope} | {default} | {help} |",
            key.name,
            key.env,
            key.flag()
        );
    }
    out
}

/// A default as written in the source (`stringify!` may break a long one over lines).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The settings in force, as a config file would state them (`config show`).
pub fn render(config: &Config) -> Result<String, String> {
    let body = toml::to_string(config).map_err(|e| e.to_string())?;
    Ok(format!("version = {CONFIG_VERSION}\n{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_commands_read_the_packaged_config_unless_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let packaged = dir.path().join("config.toml");
        assert_eq!(config_path(None, &packaged), None, "not installed: no file");
        std::fs::write(&packaged, example_for(true)).unwrap();
        assert_eq!(config_path(None, &packaged), Some(packaged.clone()));
        let named = Path::new("/elsewhere.toml");
        assert_eq!(config_path(Some(named), &packaged), Some(named.to_owned()));
        let file = parse(&example_for(true)).unwrap();
        assert_eq!(file.data_dir.as_deref(), Some(Path::new(PACKAGED_DATA_DIR)));
    }

    #[test]
    fn defaults_parse_and_every_key_is_documented_once() {
        let config = merge(
            &GlobalFlags::default(),
            &ServeFlags::default(),
            File::default(),
            defaults().unwrap(),
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.webhook_deny_networks.len(), 7);
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        for key in KEYS {
            assert_eq!(
                key.env,
                format!("WHOOT_{}", key.name.to_uppercase())
                    .replace("WHOOT_LOG_LEVEL", "WHOOT_LOG")
            );
        }
    }

    #[test]
    fn the_example_parses_and_names_every_key() {
        let text = example();
        parse(&text).unwrap();
        for key in KEYS {
            let line = format!("#{} = {}", key.name, one_line(key.default));
            assert!(text.contains(&line), "{}", key.name);
            assert!(text.contains(key.env));
        }
        // Uncommenting every line gives a file that parses to the defaults.
        let uncommented: String = text
            .lines()
            .map(|l| {
                if KEYS.iter().any(|k| l.starts_with(&format!("#{} =", k.name))) {
                    &l[1..]
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        parse(&uncommented).unwrap();
    }

    #[test]
    fn unknown_keys_missing_and_newer_versions_are_refused() {
        let e = parse("version = 1\nlisten_addr = \"0.0.0.0:80\"\n").unwrap_err();
        assert!(e.contains("unknown field `listen_addr`"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(parse("listen = \"x\"\n").unwrap_err().contains("add `version = 1`"));
        assert!(parse("version = 2\n").unwrap_err().contains("newer whoot-mgmt"));
        let e = parse("version = 1\nrate_limit = \"many\"\n").unwrap_err();
        assert!(e.contains("rate_limit"), "{e}");
    }
}
