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
    /// Whether `/metrics` is served on the API's address (else only on its own listener).
    pub metrics_on_api: bool,
    /// Whether the API address's `/metrics` carries per-tenant series (they name tenants).
    pub metrics_per_tenant: bool,
    /// The API speaks HTTPS itself (for URLs built from `Host`).
    pub https: bool,
    /// Peers whose `Forwarded` / `X-Forwarded-For` names the client (reverse proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
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
            metrics_on_api: true,
            metrics_per_tenant: false,
            https: false,
            trusted_proxies: Vec::new(),
        }
    }
}

pub struct State {
    pub app: Arc<App>,
    pub settings: Settings,
    pub webhooks: Arc<crate::webhooks::Settings>,
    pub auth_failures: FailureLimiter,
    pub shutting_down: AtomicBool,
}

impl State {
    pub fn new(app: Arc<App>, settings: Settings, webhooks: crate::webhooks::Settings) -> State {
        State {
            webhooks: Arc::new(webhooks),
            auth_failures: FailureLimiter::new(settings.auth_failures_per_minute),
            app,
            settings,
            shutting_down: AtomicBool::new(false),
        }
    }
}

/// What a handler knows about the request it serves.
pub struct Ctx<'a> {
    pub state: &'a State,
    pub caller: &'a Caller,
    pub tenant: Uuid,
    pub style: Style,
    pub parts: &'a Parts,
    /// Set for `/v1/{slug}/…` requests.
    pub tenant_slug: Option<&'a str>,
}

impl Ctx<'_> {
    /// `{origin}` or `{origin}/v1/{slug}`: where this request's path form starts (built only by
    /// the handlers that answer with URLs).
    pub fn base_url(&self) -> String {
        base_url(self.state, self.parts, self.tenant_slug)
    }

    pub fn store(&self) -> &crate::store::Store {
        &self.state.app.store
    }

    /// Query parameters, percent-decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let q = self.parts.uri.query().unwrap_or("");
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    /// A query parameter by name, ignoring case (IdPs differ on `startIndex` vs `startindex`).
    pub fn param(&self, name: &str) -> Option<String> {
        self.query().into_iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// A non-negative integer parameter; a malformed one is a 400.
    pub fn param_u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.param(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer, not {v:?}"))
            }),
        }
    }

    /// Native `limit`/`offset`: 50 by default, at most 1000.
    pub fn limit_offset(&self) -> Result<(u64, u64), ApiError> {
        const DEFAULT_LIMIT: u64 = 50;
        const MAX_LIMIT: u64 = 1000;
        let limit = self.param_u64("limit")?.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        Ok((limit, self.param_u64("offset")?.unwrap_or(0)))
    }

    /// A native `cursor` for a list whose fingerprint is `fingerprint`: None without one,
    /// Some(None) for the first page, Some(Some(id)) after `id`; a bad one is a 400.
    pub fn cursor(&self, fingerprint: u64) -> Result<Option<Option<u128>>, ApiError> {
        match self.param("cursor") {
            None => Ok(None),
            Some(raw) => crate::cursor::decode(&raw, fingerprint)
                .map(Some)
                .map_err(|e| ApiError::BadRequest { detail: e, scim_type: "invalidCursor" }),
        }
    }

    pub fn body_limit(&self) -> body::Limits {
        body::Limits {
            bytes: self.state.settings.max_body_bytes,
            time: self.state.settings.body_timeout,
        }
    }

    /// The version named by `If-Match`: `None` when absent or `*`; a value that names no
    /// version we could have issued fails the precondition.
    pub fn if_match(&self) -> Result<Option<u64>, ApiError> {
        let Some(v) = self.parts.headers.get(hyper::header::IF_MATCH) else { return Ok(None) };
        let v = v.to_str().map_err(|_| ApiError::PreconditionFailed)?.trim();
        if v == "*" {
            return Ok(None);
        }
        v.trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .map(Some)
            .map_err(|_| ApiError::PreconditionFailed)
    }
}

/// Decodes a path segment (`%40` in an externalId, say).
pub fn path_id(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// A native resource id from the path: a UUID, else it names nothing (404).
pub fn path_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(&path_id(raw)).map_err(|_| ApiError::NotFound)
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
