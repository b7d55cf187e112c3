//! The organisation admin's web console, at `/console/` and `/v1/{slug}/console/`: HTML
//! rendered on the server from templates checked at compile time (askama), htmx for in-place
//! updates, every asset embedded in the binary and no inline script (a strict CSP). The pages
//! call the domain operations the API calls (`App` for keys, the store's users, rooms and
//! webhooks operations), as the session's key, so the audit log names it.
//!
//! A face like `native` and `scim`: the endpoint table routes its rows here by `Page`.

mod assets;
pub mod keys;
pub mod overview;
pub mod provisioning;
mod receivers;
pub mod rooms;
mod session;
pub mod users;
mod view;
pub mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;

use hyper::Method;
use hyper::body::Incoming;
use hyper::http::request::Parts;

use crate::auth::{KeyState, Scope};
use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::{Caller, Ctx, State, Style, body, path_uuid};
pub use view::{Answer, Failure};
use view::{Chrome, Form};

/// A console row of the endpoint table: a step before a session (the assets, signing in),
/// signing out, or a page behind a session that needs the scope its API twin needs (None: any
/// signed-in key, which holds `api_keys.manage`; the Overview shows only what the key may see).
/// The table names each page's handler (`api::table::console_page`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    Asset,
    LoginForm,
    Login,
    LinkForm,
    Link,
    Logout,
    Session(Option<Scope>),
}

/// The scope the page a navigation entry leads to needs, as its row in the endpoint table
/// says (a test there keeps the two the same): the navigation shows only what the key may open.
pub fn navigation_scope(entry: &str) -> Option<Scope> {
    match entry {
        "users" => Some(Scope::ApiUsersRead),
        "rooms" => Some(Scope::ApiRoomsRead),
        "webhooks" => Some(Scope::Webhooks),
        "keys" | "audit" | "provisioning" => Some(Scope::ApiKeysManage),
        _ => None,
    }
}

/// A console request as the table parsed it.
pub struct Request<'a> {
    pub state: &'a std::sync::Arc<State>,
    pub parts: &'a Parts,
    /// The path's ids, still percent-encoded.
    pub params: &'a [&'a str],
    pub tenant_slug: Option<&'a str>,
    pub client: Option<IpAddr>,
    /// `/console` or `/v1/{slug}/console`.
    base: String,
    /// The posted form, or the query string of a GET.
    form: Form,
}

impl Request<'_> {
    fn secure(&self) -> bool {
        self.state.settings.https
            || self.state.settings.public_url.as_deref().is_some_and(|u| u.starts_with("https:"))
    }
}

/// A signed-in request: the session, its key, and a handler context acting as that key.
pub struct Console<'a> {
    req: &'a Request<'a>,
    ctx: Ctx<'a>,
    session_id: String,
    csrf: String,
    /// Opened by a `console login` link (see `Session::by_link`).
    by_link: bool,
}

impl Console<'_> {
    fn key(&self) -> &Arc<KeyState> {
        &self.ctx.caller.key
    }

    /// The latest expiry a key made or rotated here may have: the session key's, unless the
    /// session came from a `console login` link (the server admin's authority, as the CLI's).
    fn grant_bound(&self) -> Option<i64> {
        if self.by_link { None } else { self.key().expires_at }
    }

    /// Who keys made in this session are issued by.
    fn issuer(&self) -> crate::auth::grant::Issuer<'_> {
        use crate::auth::grant::Issuer;
        if self.by_link { Issuer::Link(self.key()) } else { Issuer::Key(self.key()) }
    }

    fn chrome(&self, at: &'static str) -> Chrome {
        let key = self.key();
        Chrome {
            base: self.req.base.clone(),
            csrf: self.csrf.clone(),
            tenant: key.tenant.slug.clone(),
            who: key.description.clone(),
            scopes: key.scopes,
            at,
        }
    }

    /// The `i`th path id as a UUID (404 otherwise).
    fn id(&self, i: usize) -> Result<uuid::Uuid, Failure> {
        let raw = self.req.params.get(i).ok_or(ApiError::NotFound)?;
        Ok(path_uuid(raw)?)
    }

    fn form(&self) -> &Form {
        &self.req.form
    }

    /// Back to a page after a change.
    fn back(&self, path: &str) -> Result<Answer, Failure> {
        Ok(Answer::SeeOther(format!("{}{path}", self.req.base)))
    }
}

/// Serves a console request; the key it acted as, for the request log.
pub async fn serve(
    state: &std::sync::Arc<State>,
    parts: &Parts,
    page: Page,
    params: &[&str],
    (tenant_slug, client): (Option<&str>, Option<IpAddr>),
    body: Incoming,
    handler: impl AsyncFn(&Console<'_>) -> Result<Answer, Failure>,
) -> (HttpResponse, Option<Arc<KeyState>>) {
    let base = match tenant_slug {
        Some(slug) => format!("/v1/{slug}/console"),
        None => "/console".to_owned(),
    };
    if !state.settings.console.enabled {
        return (view::error_page(&base, &ApiError::NotFound), None);
    }
    if page == Page::Asset {
        return (assets::serve(params.first().copied().unwrap_or_default()), None);
    }
    let form = match parts.method == Method::POST {
        true => {
            let limits = body::Limits {
                bytes: state.settings.max_body_bytes,
                time: state.settings.body_timeout,
            };
            match body::read(&parts.headers, body, limits).await {
                Ok(bytes) => Form::parse(&bytes),
                Err(e) => return (view::error_page(&base, &e), None),
            }
        }
        false => Form::query(parts.uri.query()),
    };
    let req = Request { state, parts, params, tenant_slug, client, base, form };
    let (answer, cookies, key) = match page {
        Page::LoginForm => with_no_key(session::login_form(&req, None, hyper::StatusCode::OK)),
        Page::Login => with_no_key(session::login(&req).await),
        Page::LinkForm => with_no_key(session::link_form(&req)),
        Page::Link => with_no_key(session::link(&req).await),
        _ => signed_in(&req, page, handler).await,
    };
    let resp = match answer {
        Ok(answer) => answer.into_response(&cookies),
        Err(Failure::SignIn) => {
            Answer::SeeOther(format!("{}/login", req.base)).into_response(&cookies)
        }
        Err(Failure::Forged) => view::error_page(
            &req.base,
            &ApiError::Refused(
                "the form's security token is missing or stale; reload the page \
                and try again"
                    .into(),
            ),
        ),
        Err(Failure::Api(e)) => view::error_page(&req.base, &e),
    };
    (after_post(&req, resp), key)
}

/// A page answering a form post stays at the page the form was on: htmx would otherwise show
/// the post's URL, which a reload would then GET.
fn after_post(req: &Request<'_>, mut resp: HttpResponse) -> HttpResponse {
    if req.parts.method == Method::POST && resp.status() != hyper::StatusCode::SEE_OTHER {
        resp.headers_mut().insert("hx-push-url", hyper::header::HeaderValue::from_static("false"));
    }
    resp
}

/// Whether `path` is a console path (`/console…` or `/v1/{slug}/console…`): its routing errors
/// are pages too.
pub fn is_console_path(path: &str) -> Option<String> {
    let mut segments = path.split('/').skip(1);
    match (segments.next(), segments.next(), segments.next()) {
        (Some("console"), _, _) => Some("/console".to_owned()),
        (Some("v1"), Some(slug), Some("console")) => Some(format!("/v1/{slug}/console")),
        _ => None,
    }
}

/// A routing error (unknown page, wrong method) on a console path, as a page.
pub fn routing_error(base: &str, e: &ApiError) -> HttpResponse {
    view::error_page(base, e)
}

type Served = (Result<Answer, Failure>, Vec<String>, Option<Arc<KeyState>>);

fn with_no_key((answer, cookies): session::Answered) -> Served {
    (answer, cookies, None)
}

async fn signed_in(
    req: &Request<'_>,
    page: Page,
    handler: impl AsyncFn(&Console<'_>) -> Result<Answer, Failure>,
) -> Served {
    let (session_id, session, key) = match session::signed_in(req) {
        Ok(found) => found,
        Err(e) => return (Err(e), Vec::new(), None),
    };
    if req.parts.method == Method::POST
        && let Err(e) = session::check_csrf(req, &session)
    {
        return (Err(e), Vec::new(), Some(key));
    }
    let caller = Caller { key: key.clone(), limit: 0, remaining: 0, reset_secs: 0 };
    let ctx = Ctx {
        state: req.state,
        caller: &caller,
        tenant: key.tenant.id,
        style: Style::Native,
        parts: req.parts,
        tenant_slug: req.tenant_slug,
        journal: None,
        cause: None,
    };
    let c = Console { req, ctx, session_id, csrf: session.csrf, by_link: session.by_link };
    let (answer, cookies) = match page {
        Page::Logout => session::logout(&c).await,
        Page::Session(Some(lacking)) if !key.scopes.contains(lacking) => {
            // The page its key may not see says which scope it lacks, and shows nothing else.
            let e = ApiError::Refused(format!(
                "This needs the scope {}, which the key you signed in with (“{}”) does not \
                 hold: sign in with a key that holds it.",
                lacking.name(),
                key.description
            ));
            (Err(Failure::Api(e)), Vec::new())
        }
        Page::Session(_) => (handler(&c).await, Vec::new()),
        _ => (Err(Failure::Api(ApiError::NotFound)), Vec::new()),
    };
    (answer, cookies, Some(key))
}
