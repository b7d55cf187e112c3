//! The HTTP front: one handler that parses the route, authorizes, dispatches to the native or
//! SCIM handlers, and stamps the shared headers.

pub mod auth;
pub mod body;
pub mod client;
pub mod error;
pub mod listener;
pub mod response;
pub mod router;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::http::request::Parts;
use hyper::{Request, StatusCode};
use uuid::Uuid;

use crate::app::App;
use crate::auth::ratelimit::FailureLimiter;
use crate::{native, scim};
use auth::Caller;
use error::ApiError;
use listener::{Handler, HttpResponse};
use router::{Access, Endpoint, RouteError, Style};

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
    request_ids: RequestIds,
}

impl State {
    pub fn new(app: Arc<App>, settings: Settings, webhooks: crate::webhooks::Settings) -> State {
        State {
            webhooks: Arc::new(webhooks),
            auth_failures: FailureLimiter::new(settings.auth_failures_per_minute),
            app,
            settings,
            shutting_down: AtomicBool::new(false),
            request_ids: RequestIds::new(),
        }
    }
}

/// The public API.
pub struct Api(pub Arc<State>);

impl Handler for Api {
    async fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> HttpResponse {
        let started = Instant::now();
        let state = &self.0;
        let request_id = state.request_ids.for_request(req.headers());
        let client =
            client::address(peer.map(|p| p.ip()), req.headers(), &state.settings.trusted_proxies);
        let method = req.method().clone();
        // Which client is calling (Okta, Entra…): worth a field in every request line.
        // A shared-buffer clone, not a copy: nothing is allocated for it per request.
        let user_agent = req.headers().get(hyper::header::USER_AGENT).cloned();
        let mut seen = Seen { endpoint: "unmatched", caller: None };
        let mut code = None;
        let mut resp = match dispatch(state, req, client, &mut seen).await {
            Ok(resp) => resp,
            Err((err, style)) => {
                code = Some(err.code());
                err.into_response(style)
            }
        };
        let took = started.elapsed();
        let status = resp.status().as_u16();
        crate::metrics::get().request(seen.endpoint, status, took);
        let key = seen.caller.as_deref();
        tracing::info!(
            target: "whoot_mgmt::request",
            request_id = request_id.to_str().unwrap_or(""),
            method = method.as_str(),
            endpoint = seen.endpoint,
            status,
            duration_ms = (took.as_secs_f64() * 100_000.0).round() / 100.0,
            code,
            user_agent = user_agent.as_ref().and_then(|v| v.to_str().ok()).map(|ua| {
                // At most 200 bytes, cut on a character boundary.
                let end = (0..=ua.len().min(200)).rev().find(|&i| ua.is_char_boundary(i));
                ua.get(..end.unwrap_or(0)).unwrap_or("")
            }),
            tenant = key.map(|k| k.tenant.slug.as_str()),
            key_id = key.map(|k| tracing::field::display(k.id)),
            peer = client.map(tracing::field::display),
        );
        resp.headers_mut().insert(response::X_REQUEST_ID.clone(), request_id);
        resp
    }
}

/// What the request log and metrics learn while a request is dispatched.
struct Seen {
    endpoint: &'static str,
    /// The authenticated key (never its secret).
    caller: Option<Arc<crate::auth::KeyState>>,
}

/// `/metrics` alone, for a listener of its own (`metrics_listen`).
pub struct MetricsOnly(pub Arc<State>);

impl Handler for MetricsOnly {
    async fn call(self: Arc<Self>, req: Request<Incoming>, _: Option<SocketAddr>) -> HttpResponse {
        match (req.method(), req.uri().path()) {
            (&hyper::Method::GET, "/metrics") => metrics(&self.0, true).await,
            _ => ApiError::NotFound.into_response(Style::Native),
        }
    }
}

async fn metrics(state: &State, per_tenant: bool) -> HttpResponse {
    match crate::metrics::get().render(&state.app, per_tenant).await {
        Ok(text) => response::text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        ),
        Err(e) => ApiError::from(e).into_response(Style::Native),
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

async fn dispatch(
    state: &State,
    req: Request<Incoming>,
    client: Option<std::net::IpAddr>,
    seen: &mut Seen,
) -> Result<HttpResponse, (ApiError, Style)> {
    let (parts, body) = req.into_parts();
    let route = router::parse(&parts.method, parts.uri.path()).map_err(|e| match e {
        RouteError::NotFound(style) => (ApiError::NotFound, style),
        RouteError::MethodNotAllowed { style, allow } => {
            (ApiError::MethodNotAllowed { allow }, style)
        }
    })?;
    let style = route.style;
    seen.endpoint = route.endpoint.name();
    let access = route.endpoint.access();
    if access == Access::Public {
        return Ok(match route.endpoint {
            Endpoint::Readyz if state.shutting_down.load(Ordering::Relaxed) => {
                return Err((ApiError::Unavailable, style));
            }
            Endpoint::Readyz if !state.app.store.writable() => {
                return Err((ApiError::StoreUnwritable, style));
            }
            Endpoint::Metrics if !state.settings.metrics_on_api => {
                return Err((ApiError::NotFound, style));
            }
            Endpoint::Metrics => metrics(state, state.settings.metrics_per_tenant).await,
            _ => response::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        });
    }
    let caller =
        auth::authorize(state, &parts.headers, client, &route, access).map_err(|e| (e, style))?;
    seen.caller = Some(caller.key.clone());
    let ctx = Ctx {
        state,
        caller: &caller,
        tenant: caller.key.tenant.id,
        style,
        parts: &parts,
        tenant_slug: route.tenant_slug,
    };
    use Endpoint::*;
    let result = match route.endpoint {
        Me => Ok(native::account::me(&caller)),
        Usage => native::account::usage(&ctx).await,
        UsersList => native::users::list(&ctx).await,
        UsersCreate => native::users::create(&ctx, body).await,
        UserGet(id) => native::users::get(&ctx, id).await,
        UserReplace(id) => native::users::replace(&ctx, id, body).await,
        UserPatch(id) => native::users::patch(&ctx, id, body).await,
        UserDeactivate(id) => native::users::deactivate(&ctx, id).await,
        ScimUsersList => scim::users::list(&ctx).await,
        ScimUsersSearch => scim::users::search(&ctx, body).await,
        ScimUsersCreate => scim::users::create(&ctx, body).await,
        ScimUserGet(id) => scim::users::get(&ctx, id).await,
        ScimUserReplace(id) => scim::users::replace(&ctx, id, body).await,
        ScimUserPatch(id) => scim::users::patch(&ctx, id, body).await,
        ScimUserDelete(id) => scim::users::delete(&ctx, id).await,
        RoomsList => native::rooms::list(&ctx).await,
        RoomGet(id) => native::rooms::get(&ctx, id).await,
        RoomPatch(id) => native::rooms::patch(&ctx, id, body).await,
        RoomUnmap(id) => native::rooms::unmap(&ctx, id).await,
        RoomMembers(id) => native::rooms::members(&ctx, id).await,
        RoomMemberAdd(id) => native::rooms::add_member(&ctx, id, body).await,
        RoomMembersSync(id) => native::rooms::sync_members(&ctx, id, body).await,
        RoomMemberRemove(id, user) => native::rooms::remove_member(&ctx, id, user).await,
        RoomMemberRemoveByBody(id) => native::rooms::remove_member_by_body(&ctx, id, body).await,
        ScimGroupsList => scim::groups::list(&ctx).await,
        ScimGroupsSearch => scim::groups::search(&ctx, body).await,
        ScimGroupsCreate => scim::groups::create(&ctx, body).await,
        ScimGroupGet(id) => scim::groups::get(&ctx, id).await,
        ScimGroupReplace(id) => scim::groups::replace(&ctx, id, body).await,
        ScimGroupPatch(id) => scim::groups::patch(&ctx, id, body).await,
        ScimGroupDelete(id) => scim::groups::delete(&ctx, id).await,
        ScimSearch => scim::groups::search_everything(&ctx, body).await,
        ScimBulk => scim::bulk::bulk(&ctx, body).await,
        WebhooksList => native::webhooks::list(&ctx).await,
        WebhooksCreate => native::webhooks::create(&ctx, body).await,
        WebhookGet(id) => native::webhooks::get(&ctx, id).await,
        WebhookUpdate(id) => native::webhooks::update(&ctx, id, body).await,
        WebhookDelete(id) => native::webhooks::delete(&ctx, id).await,
        WebhookTest(id) => native::webhooks::test(&ctx, id).await,
        WebhookDeliveries(id) => native::webhooks::deliveries(&ctx, id).await,
        WebhookRedeliver(id, d) => native::webhooks::redeliver(&ctx, id, d).await,
        Events => native::events::list(&ctx).await,
        ScimServiceProviderConfig => Ok(scim::discovery::service_provider_config(&ctx)),
        ScimResourceTypes(name) => scim::discovery::resource_types(&ctx, name),
        ScimSchemas(id) => scim::discovery::schemas(&ctx, id),
        Healthz | Readyz | Metrics => Err(ApiError::NotFound),
    };
    let mut resp = result.map_err(|e| (e, style))?;
    if caller.limit > 0 {
        response::rate_limit_headers(
            resp.headers_mut(),
            caller.limit,
            caller.remaining,
            caller.reset_secs,
        );
    }
    Ok(resp)
}

/// `X-Request-Id`: the client's, if it sent a sane one, else `<process>-<counter>`.
struct RequestIds {
    process: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> RequestIds {
        // The low 32 bits of a random id: truncation is the point.
        let process =
            u32::try_from(uuid::Uuid::new_v4().as_u128() & u128::from(u32::MAX)).unwrap_or(0);
        RequestIds { process, next: AtomicU64::new(1) }
    }

    fn for_request(&self, headers: &hyper::HeaderMap) -> HeaderValue {
        if let Some(id) = headers.get(&response::X_REQUEST_ID) {
            let b = id.as_bytes();
            if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic()) {
                return id.clone();
            }
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n:012x}", self.process);
        HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
    }
}
