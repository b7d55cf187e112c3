//! The HTTP front: one handler that parses the route, authorizes, dispatches to the native or
//! SCIM handlers, and stamps the shared headers.

pub mod auth;
pub mod body;
pub mod error;
pub mod listener;
pub mod response;
pub mod router;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};

use crate::app::App;
use crate::auth::ratelimit::FailureLimiter;
use crate::native;
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings { default_rate_limit: 600, auth_failures_per_minute: 30, max_body_bytes: 1 << 20 }
    }
}

pub struct State {
    pub app: Arc<App>,
    pub settings: Settings,
    pub auth_failures: FailureLimiter,
    pub shutting_down: AtomicBool,
    request_ids: RequestIds,
}

impl State {
    pub fn new(app: Arc<App>, settings: Settings) -> State {
        State {
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
        let state = &self.0;
        let request_id = state.request_ids.for_request(&req);
        let mut resp = match dispatch(state, req, peer).await {
            Ok(resp) => resp,
            Err((err, style)) => err.into_response(style),
        };
        resp.headers_mut().insert(response::X_REQUEST_ID.clone(), request_id);
        resp
    }
}

async fn dispatch(
    state: &State,
    req: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Result<HttpResponse, (ApiError, Style)> {
    let route = router::parse(req.method(), req.uri().path()).map_err(|e| match e {
        RouteError::NotFound(style) => (ApiError::NotFound, style),
        RouteError::MethodNotAllowed { style, allow } => {
            (ApiError::MethodNotAllowed { allow }, style)
        }
    })?;
    let style = route.style;
    let access = route.endpoint.access();
    if access == Access::Public {
        return Ok(match route.endpoint {
            Endpoint::Readyz if state.shutting_down.load(Ordering::Relaxed) => {
                return Err((ApiError::Unavailable, style));
            }
            _ => response::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        });
    }
    let caller =
        auth::authorize(state, req.headers(), peer, &route, access).map_err(|e| (e, style))?;
    let result = match route.endpoint {
        Endpoint::Me => Ok(native::account::me(&caller)),
        Endpoint::Usage => native::account::usage(state, &caller).await,
        Endpoint::Healthz | Endpoint::Readyz => Err(ApiError::NotFound),
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
        RequestIds { process: uuid::Uuid::new_v4().as_u128() as u32, next: AtomicU64::new(1) }
    }

    fn for_request(&self, req: &Request<Incoming>) -> HeaderValue {
        if let Some(id) = req.headers().get(&response::X_REQUEST_ID) {
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
