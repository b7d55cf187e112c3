//! The API above the faces: the endpoint table, authorization, and the one handler that parses a
//! request, authorizes it, dispatches it to its face and stamps the shared headers.

mod asynchronous;
pub mod authorize;
mod bulk;
mod journal;
pub mod openapi;
mod reason;
pub mod system;
pub mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::HeaderValue;

use crate::http::error::ApiError;
use crate::http::listener::{Handler, HttpResponse};
use crate::http::{Ctx, State, Style, client, response};
use authorize::Access;
use table::{Endpoint, RouteError};

/// The public API.
pub struct Api {
    pub state: Arc<State>,
    request_ids: RequestIds,
}

impl Api {
    pub fn new(state: Arc<State>) -> Api {
        Api { state, request_ids: RequestIds::new() }
    }
}

impl Handler for Api {
    async fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> HttpResponse {
        let started = Instant::now();
        let state = &self.state;
        let request_id = self.request_ids.for_request(req.headers());
        let client =
            client::address(peer.map(|p| p.ip()), req.headers(), &state.settings.trusted_proxies);
        let method = req.method().clone();
        // Which client is calling (Okta, Entra…): worth a field in every request line.
        // A shared-buffer clone, not a copy: nothing is allocated for it per request.
        let user_agent = req.headers().get(hyper::header::USER_AGENT).cloned();
        let mut seen = Seen { endpoint: "unmatched", caller: None };
        let mut code = None;
        let console = crate::console::is_console_path(req.uri().path());
        let asked = (request_id.to_str().unwrap_or(""), started);
        let mut resp = match dispatch(state, req, client, asked, &mut seen).await {
            Ok(resp) => resp,
            Err((err, style)) => {
                code = Some(err.code());
                match &console {
                    // A person at a browser: a page, not JSON.
                    Some(base) => crate::console::routing_error(base, &err),
                    None => err.into_response(style),
                }
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
            (&hyper::Method::GET, "/metrics") => match system::metrics(&self.0, true).await {
                Ok(reply) => reply.into_response(Style::Native),
                Err(e) => e.into_response(Style::Native),
            },
            _ => ApiError::NotFound.into_response(Style::Native),
        }
    }
}

async fn dispatch(
    state: &Arc<State>,
    req: Request<Incoming>,
    client: Option<std::net::IpAddr>,
    (request_id, started): (&str, Instant),
    seen: &mut Seen,
) -> Result<HttpResponse, (ApiError, Style)> {
    let (parts, body) = req.into_parts();
    let route =
        table::parse(&parts.method, parts.uri.path(), parts.uri.query()).map_err(|e| match e {
            RouteError::NotFound(style) => (ApiError::NotFound, style),
            RouteError::MethodNotAllowed { style, allow } => {
                (ApiError::MethodNotAllowed { allow }, style)
            }
        })?;
    let style = route.style;
    seen.endpoint = route.metric;
    if route.access == Access::Public {
        return match route.endpoint {
            Endpoint::Readyz => system::readyz(state),
            Endpoint::Metrics if !state.settings.metrics_on_api => Err(ApiError::NotFound),
            Endpoint::Metrics => system::metrics(state, state.settings.metrics_per_tenant).await,
            Endpoint::OpenApi => Ok(system::openapi()),
            Endpoint::Jwks => Ok(system::jwks(state)),
            _ => Ok(system::healthz()),
        }
        .map(|reply| reply.into_response(style))
        .map_err(|e| (e, style));
    }
    if let Access::Console(page) = route.access {
        let params = route.params();
        let endpoint = route.endpoint;
        let handler =
            async move |c: &crate::console::Console<'_>| table::console_page(endpoint, c).await;
        let (resp, key) = crate::console::serve(
            state,
            &parts,
            page,
            params,
            (route.tenant_slug, client),
            body,
            handler,
        )
        .await;
        seen.caller = key;
        return Ok(resp);
    }
    let caller = match authorize::authorize(
        state,
        &parts.headers,
        client,
        route.tenant_slug,
        route.access,
    ) {
        Ok(caller) => caller,
        Err((e, key)) => {
            if let Some(key) = key {
                seen.caller = Some(key.clone());
                if let Some(spot) = table::spot(&route) {
                    let at = (spot, style, route.tenant_slug);
                    journal::refused(state, at, &parts, key, (client, request_id, started), &e);
                }
            }
            return Err((e, style));
        }
    };
    seen.caller = Some(caller.key.clone());
    let journal = table::spot(&route).map(|spot| {
        let meta = journal::for_request(spot, &parts, &caller.key, client, (request_id, started));
        crate::provisioning::Journal::new(meta)
    });
    let cause = crate::store::events::Cause {
        txn: request_id.to_owned(),
        method: parts.method.to_string(),
    };
    let ctx = Ctx {
        state,
        caller: &caller,
        tenant: caller.key.tenant.id,
        style,
        parts: &parts,
        tenant_slug: route.tenant_slug,
        journal: journal.as_ref(),
        cause: Some(&cause),
    };
    let bulk = route.endpoint == Endpoint::ScimBulk;
    let scim_write = bulk || table::BULK_OPERATIONS.contains(&route.endpoint);
    // Past `max_async_requests` in the background, a request is answered when done (RFC 9967
    // lets the server choose).
    let room = match scim_write && asynchronous::asked(&parts.headers) {
        true => state.async_requests.clone().try_acquire_owned().ok(),
        false => None,
    };
    let result = match room {
        Some(room) => asynchronous::later(&ctx, bulk, body, room).await,
        None => {
            let source = table::Source::Http { headers: &parts.headers, body };
            table::call(&route, &ctx, source).await
        }
    };
    if let Some(journal) = &journal {
        let if_match = parts.headers.get(hyper::header::IF_MATCH).and_then(|v| v.to_str().ok());
        journal::done(&ctx, journal, result.as_ref().map(|r| r.status), if_match);
    }
    let reply = result.map_err(|e| (e, style))?;
    let mut resp = reply.into_response(style);
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
