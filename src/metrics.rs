//! Prometheus metrics. The process has one set (like its one store), so the places that count
//! (the API, the store writer, the webhook worker) reach it through `get()` instead of threading
//! a handle through every layer. A leaf: it imports nothing of ours; the scrape-time gauges
//! (seats, backlog, store size) are read by the caller and handed to `render`.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuirkLabels {
    quirk: &'static str,
    client: &'static str,
    /// `accepted` (a compatible key) or `refused` (a strict one).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProvisioningLabels {
    client: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantProvisioningLabels {
    tenant: String,
    client: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

pub struct Metrics {
    registry: Registry,
    /// The same without the per-tenant series (they name every tenant).
    without_tenants: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RequestLabels, Histogram, fn() -> Histogram>,
    rate_limited: Counter,
    auth_failures: Family<ReasonLabels, Counter>,
    scim_quirks: Family<QuirkLabels, Counter>,
    provisioning: Family<ProvisioningLabels, Counter>,
    provisioning_by_tenant: Family<TenantProvisioningLabels, Counter>,
    provisioning_dropped: Counter,
    commit_batch: Histogram,
    commit_seconds: Histogram,
    deliveries: Family<OutcomeLabels, Counter>,
    seats_used: Family<TenantLabels, Gauge>,
    seats_capacity: Family<TenantLabels, Gauge>,
    store_bytes: Gauge,
    build_info: Family<VersionLabels, Gauge>,
    webhook_backlog: Gauge,
    keys_expiring: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn get() -> &'static Metrics {
    &METRICS
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Registers each metric of `m` by name and help (`in Unit`: with a unit).
macro_rules! register {
    ($r:ident, $m:ident; $( $name:literal $(in $unit:ident)? => $field:ident: $help:expr, )*) => {
        $( register!(@one $r, $name, $help, $m.$field.clone() $(, Unit::$unit)?); )*
    };
    (@one $r:ident, $name:expr, $help:expr, $metric:expr) => {
        $r.register($name, $help, $metric)
    };
    (@one $r:ident, $name:expr, $help:expr, $metric:expr, $unit:expr) => {
        $r.register_with_unit($name, $help, $unit, $metric)
    };
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("whoot"),
            without_tenants: Registry::with_prefix("whoot"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            rate_limited: Counter::default(),
            auth_failures: Family::default(),
            scim_quirks: Family::default(),
            provisioning: Family::default(),
            provisioning_by_tenant: Family::default(),
            provisioning_dropped: Counter::default(),
            commit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            commit_seconds: latency_histogram(),
            deliveries: Family::default(),
            seats_used: Family::default(),
            seats_capacity: Family::default(),
            store_bytes: Gauge::default(),
            build_info: Family::default(),
            webhook_backlog: Gauge::default(),
            keys_expiring: Gauge::default(),
        };
        // Every series an alert may watch exists from the start, at 0: "no data" is not "none".
        for outcome in ["succeeded", "failed", "refused", "deferred"] {
            drop(m.deliveries.get_or_create(&OutcomeLabels { outcome }));
        }
        for reason in ["invalid_key", "blocked", "console"] {
            drop(m.auth_failures.get_or_create(&ReasonLabels { reason }));
        }
        m.build_info.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        let (mut registry, mut without_tenants) =
            (Registry::with_prefix("whoot"), Registry::with_prefix("whoot"));
        const PROVISIONING: &str = "Requests to provisioning endpoints (a Bulk's operations one \
            by one), by client (okta, entra, …, other), operation and outcome (succeeded, failed)";
        registry.register("provisioning_requests", PROVISIONING, m.provisioning_by_tenant.clone());
        without_tenants.register("provisioning_requests", PROVISIONING, m.provisioning.clone());
        for r in [&mut registry, &mut without_tenants] {
            register! { r, m;
                "http_requests" => requests:
                    "API requests answered, by endpoint and status",
                "http_request_duration" in Seconds => request_seconds:
                    "Time to answer an API request, by endpoint and status",
                "provisioning_log_dropped" => provisioning_dropped:
                    "Provisioning log entries of failures dropped because more than \
                    provisioning_log_queue were waiting for the store's writer",
                "rate_limited_requests" => rate_limited:
                    "Requests refused with 429 by a key's rate limit",
                "auth_failures" => auth_failures:
                    "Requests refused for authentication: invalid_key (no, unknown, revoked or \
                    expired key), console (a failed console sign-in) or blocked (too many \
                    failures from the address)",
                "scim_quirks" => scim_quirks:
                    "SCIM requests that needed an identity provider's quirk normalised, by quirk, \
                    client (recognised from the User-Agent) and outcome: accepted (a compatible \
                    key) or refused (a strict one)",
                "store_commit_batch_size" => commit_batch:
                    "Mutations committed together by one group commit",
                "store_commit_duration" in Seconds => commit_seconds:
                    "Time to apply and durably commit one group of mutations",
                "webhook_deliveries" => deliveries:
                    "Webhook delivery attempts by outcome: succeeded (2xx), failed (another status \
                    or no answer), refused (not sent: forbidden target or disabled registration), \
                    deferred (the receiver had too many waiting)",
                "build_info" => build_info:
                    "The running build, by version (always 1)",
                "webhook_backlog" => webhook_backlog:
                    "Webhook work not yet done: events in the outbox not yet attempted, retries \
                    due, and deliveries waiting behind an earlier one about the same resource",
                "api_keys_expiring" => keys_expiring:
                    "Active API keys that expire within 14 days",
                "store_size" in Bytes => store_bytes:
                    "Size of the store file",
            }
        }
        let r = &mut registry;
        register! { r, m;
            "tenant_seats_used" => seats_used: "Seats in use, by tenant slug",
            "tenant_seats_capacity" => seats_capacity: "Seat capacity, by tenant slug",
        }
        (m.registry, m.without_tenants) = (registry, without_tenants);
        m
    }

    pub fn request(&self, endpoint: &'static str, status: u16, took: Duration) {
        let labels = RequestLabels { endpoint, status };
        self.requests.get_or_create(&labels).inc();
        self.request_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// `invalid_key`, `console` or `blocked`.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub fn scim_quirk(&self, quirk: &'static str, client: &'static str, accepted: bool) {
        let outcome = if accepted { "accepted" } else { "refused" };
        self.scim_quirks.get_or_create(&QuirkLabels { quirk, client, outcome }).inc();
    }

    /// A provisioning request (`tenant`: its slug, for the per-tenant series).
    pub fn provisioning(
        &self,
        tenant: &str,
        (client, operation): (&'static str, &'static str),
        failed: bool,
    ) {
        let outcome = if failed { "failed" } else { "succeeded" };
        self.provisioning.get_or_create(&ProvisioningLabels { client, operation, outcome }).inc();
        let tenant = tenant.to_owned();
        let labels = TenantProvisioningLabels { tenant, client, operation, outcome };
        self.provisioning_by_tenant.get_or_create(&labels).inc();
    }

    pub fn provisioning_dropped(&self) {
        self.provisioning_dropped.inc();
    }

    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub fn commit(&self, mutations: usize, took: Duration) {
        self.commit_batch.observe(mutations as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The text exposition, with the scrape-time gauges set from `now` first. Per-tenant series
    /// only where `per_tenant`: they name every tenant.
    pub fn render(&self, now: &Gauges, per_tenant: bool) -> String {
        self.webhook_backlog.set(saturating(now.webhook_backlog));
        self.keys_expiring.set(saturating(now.keys_expiring));
        for seats in now.seats.iter().filter(|_| per_tenant) {
            let labels = TenantLabels { tenant: seats.tenant.clone() };
            self.seats_used.get_or_create(&labels).set(saturating(seats.used));
            self.seats_capacity.get_or_create(&labels).set(saturating(seats.capacity));
        }
        self.store_bytes.set(saturating(now.store_bytes));
        let mut out = String::new();
        let registry = if per_tenant { &self.registry } else { &self.without_tenants };
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, registry);
        out
    }
}

/// What is read at scrape time (by the caller, from the store), so it is never stale.
#[derive(Debug, Default)]
pub struct Gauges {
    pub seats: Vec<TenantSeats>,
    pub webhook_backlog: u64,
    pub keys_expiring: u64,
    pub store_bytes: u64,
}

#[derive(Debug)]
pub struct TenantSeats {
    pub tenant: String,
    pub used: u64,
    pub capacity: u64,
}

fn saturating(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
