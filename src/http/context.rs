//! What a handler knows: the server's shared state and settings, the authenticated caller, and
//! the request's context (tenant, style, URL base, headers).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hyper::http::request::Parts;
use uuid::Uuid;

use super::Style;
use super::body;
use super::error::ApiError;
use crate::auth::ratelimit::FailureLimiter;
use crate::auth::{App, KeyState};
use crate::store::tenants;

/// An authenticated caller and its rate-limit standing (for the response headers).
pub struct Caller {
    pub key: Arc<KeyState>,
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u32,
}

/// Request-handling settings fixed at startup.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per minute per key unless the tenant overrides it (0 = unlimited).
    pub default_rate_limit: u32,
    /// Failed authentications allowed per minute per client address (0 = unlimited).
    pub auth_failures_per_minute: u32,
    pub max_body_bytes: usize,
    /// Most records a SCIM list may examine one by one (0 = no limit).
    pub scan_limit: u64,
    /// Longest a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// The address clients reach us at (`https://idm.example.com`), for `Location` and
    /// `meta.location`; when unset, built from the request's `Host`.
    pub public_url: Option<String>,
    /// Asynchronous SCIM requests in the background at once (`max_async_requests`).
    pub max_async_requests: usize,
    /// How long a retired SET signing key stays published (`set_key_retired_days`).
    pub set_key_retired: std::time::Duration,
    /// Whether `/metrics` is served on the API's address (else only on its own listener).
    pub metrics_on_api: bool,
    /// Whether the API address's `/metrics` carries per-tenant series (they name tenants).
    pub metrics_per_tenant: bool,
    /// The API speaks HTTPS itself (for URLs built from `Host`).
    pub https: bool,
    /// Peers whose `Forwarded` / `X-Forwarded-For` names the client (reverse proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub console: ConsoleSettings,
    pub provisioning: crate::provisioning::Settings,
}

/// The web console's limits.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub enabled: bool,
    pub idle: std::time::Duration,
    /// How long a sign-in link is valid.
    pub link_ttl: std::time::Duration,
    /// The life of the key a sign-in link's session is opened with.
    pub link_key_life: std::time::Duration,
    /// Sessions open at once: in all, per tenant, per key.
    pub sessions: crate::auth::sessions::Limits,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            idle: std::time::Duration::from_secs(30 * 60),
            link_ttl: std::time::Duration::from_secs(10 * 60),
            link_key_life: std::time::Duration::from_secs(12 * 3600),
            sessions: crate::auth::sessions::Limits { total: 1000, per_tenant: 100, per_key: 10 },
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_rate_limit: 600,
            auth_failures_per_minute: 30,
            max_body_bytes: 1 << 20,
            scan_limit: 200_000,
            body_timeout: std::time::Duration::from_secs(60),
            public_url: None,
            set_key_retired: std::time::Duration::from_secs(7 * 86_400),
            max_async_requests: 64,
            metrics_on_api: true,
            metrics_per_tenant: false,
            https: false,
            trusted_proxies: Vec::new(),
            console: ConsoleSettings::default(),
            provisioning: crate::provisioning::Settings::default(),
        }
    }
}

pub struct State {
    pub app: Arc<App>,
    pub settings: Settings,
    pub webhooks: Arc<crate::webhooks::Settings>,
    pub auth_failures: FailureLimiter,
    pub shutting_down: AtomicBool,
    /// Today's provisioning requests per tenant and client.
    pub tally: crate::provisioning::tally::Tally,
    /// Room for asynchronous SCIM requests in the background (`max_async_requests`).
    pub async_requests: Arc<tokio::sync::Semaphore>,
}

impl State {
    pub fn new(app: Arc<App>, settings: Settings, webhooks: crate::webhooks::Settings) -> State {
        State {
            webhooks: Arc::new(webhooks),
            auth_failures: FailureLimiter::new(settings.auth_failures_per_minute),
            app,
            shutting_down: AtomicBool::new(false),
            tally: crate::provisioning::tally::Tally::default(),
            async_requests: Arc::new(tokio::sync::Semaphore::new(settings.max_async_requests)),
            settings,
        }
    }
}

/// What a handler knows about the request it serves.
pub struct Ctx<'a> {
    pub state: &'a Arc<State>,
    pub caller: &'a Caller,
    pub tenant: Uuid,
    pub style: Style,
    pub parts: &'a Parts,
    /// Set for `/v1/{slug}/…` requests.
    pub tenant_slug: Option<&'a str>,
    /// Set for requests to provisioning endpoints: their changes are logged (`provisioning`).
    pub journal: Option<&'a crate::provisioning::Journal>,
    /// The request its changes' events name (SETs' `txn`; a Bulk operation's own), if any.
    pub cause: Option<&'a crate::store::events::Cause>,
}

impl Ctx<'_> {
    /// `{origin}` or `{origin}/v1/{slug}`: where this request's path form starts (built only by
    /// the handlers that answer with URLs).
    pub fn base_url(&self) -> String {
        base_url(self.state, self.parts, self.tenant_slug)
    }

    /// The caller as the audit log names it.
    pub fn actor(&self) -> crate::store::audit::Actor {
        let key = &self.caller.key;
        crate::store::audit::Actor::Key { id: key.id, description: key.description.clone() }
    }

    pub fn store(&self) -> &crate::store::Store {
        &self.state.app.store
    }

    /// The provisioning log's recording of a change this request makes, when it is logged.
    fn logged_change(&self) -> Option<crate::provisioning::Change> {
        let journal = self.journal.filter(|_| self.state.settings.provisioning.enabled)?;
        Some(journal.change())
    }

    /// Notes the name of the resource this request creates (its userName, displayName), for its
    /// provisioning log entry if it fails.
    pub fn note_name(&self, name: &str) {
        if let Some(journal) = self.journal {
            journal.note_name(name);
        }
    }

    /// Notes a quirk this request needed, for its provisioning log entry.
    pub fn note_quirk(&self, quirk: &'static str) {
        if let Some(journal) = self.journal {
            journal.note_quirk(quirk);
        }
    }

    /// Every provisioning write goes through `write`: while the tenant is in
    /// maintenance (moved between instances) they wait, and reads go on.
    fn writable(&self) -> Result<(), ApiError> {
        match self.caller.key.tenant.in_maintenance() {
            true => Err(ApiError::Maintenance),
            false => Ok(()),
        }
    }

    /// A store write (see `Store::write`), journaled; its errors are the store's or the
    /// handler's own.
    pub async fn write<T, E, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError>,
        F: Fn(&crate::store::WriteTxn) -> Result<T, E> + Send + 'static,
    {
        self.writable()?;
        // Checked again in the write's own transaction, in the writer's order: a write that
        // passed the check above while the tenant was being put in maintenance cannot commit
        // after that change, and so cannot miss the export that follows it.
        let (tenant, change) = (self.caller.key.tenant.id, self.logged_change());
        let cause = self.cause.cloned();
        self.state
            .app
            .store
            .write(move |txn| {
                let op = |txn: &crate::store::WriteTxn| op(txn).map_err(Into::into);
                if tenants::in_maintenance(txn, tenant)? {
                    return Err(ApiError::Maintenance);
                }
                // The writer runs several jobs in one transaction: each names its own request.
                txn.set_cause(cause.clone());
                let out = match &change {
                    None => op(txn),
                    Some(change) => change.before(txn).map_err(ApiError::from).and_then(|before| {
                        let out = op(txn)?;
                        change.after(txn, before)?;
                        Ok(out)
                    }),
                };
                txn.set_cause(None);
                out
            })
            .await
    }

    /// A store read of a bounded handful of records (by id, by an index entry), run here on
    /// the async worker: for such a read, handing it to the blocking pool and back costs more
    /// than the read itself. Anything that may walk many records goes through `read`.
    pub fn lookup<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        E: Into<ApiError>,
        F: FnOnce(&crate::store::ReadTxn) -> Result<T, E>,
    {
        self.state.app.store.read_here(|tx| f(tx).map_err(Into::into))
    }

    /// A store read on a read transaction, off the async workers; its errors are the store's or
    /// the handler's own.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
        F: FnOnce(&crate::store::ReadTxn) -> Result<T, E> + Send + 'static,
    {
        self.state.app.store.read(move |tx| f(tx).map_err(Into::into)).await
    }

    pub fn body_limit(&self) -> body::Limits {
        body::Limits {
            bytes: self.state.settings.max_body_bytes,
            time: self.state.settings.body_timeout,
        }
    }
}

fn base_url(state: &State, parts: &Parts, slug: Option<&str>) -> String {
    let origin = match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = parts
                .headers
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(parts.uri.authority().map(|a| a.as_str()))
                .unwrap_or("localhost");
            let scheme = if state.settings.https { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
    };
    match slug {
        Some(slug) => format!("{origin}/v1/{slug}"),
        None => origin,
    }
}
