//! The organisation admin's web console, at `/console/` and `/v1/{slug}/console/`: HTML
//! rendered on the server from templates checked at compile time (askama), htmx for in-place
//! updates, every asset embedded in the binary and no inline script (a strict CSP). The pages
//! call the domain operations the API calls (`App` for keys, the store's users, rooms and
//! webhooks operations), as the session's key, so the audit log names it.
//!
//! A face like `native` and `scim`: the endpoint table routes its rows here by `Page`.

mod assets;
mod keys;
mod overview;
mod provisioning;
mod receivers;
mod rooms;
mod session;
mod users;
mod view;
mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;

use hyper::Method;
use hyper::body::Incoming;
use hyper::http::request::Parts;

use crate::auth::{KeyState, Scope};
use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::{Caller, Ctx, State, Style, body, path_uuid};
use view::{Answer, Chrome, Failure, Form};

/// A console page, as the endpoint table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    Overview,
    Asset,
    LoginForm,
    Login,
    LinkForm,
    Link,
    Logout,
    Keys,
    KeyCreate,
    KeyRevokeForm,
    KeyRevoke,
    KeyRotate,
    KeyScimProfile,
    Users,
    User,
    UserActiveForm,
    UserActive,
    Rooms,
    RoomCreate,
    Room,
    RoomUpdate,
    RoomDeleteForm,
    RoomDelete,
    MemberAdd,
    MemberTx,
    MemberRemoveForm,
    MemberRemove,
    Webhooks,
    WebhookCreate,
    Webhook,
    WebhookUpdate,
    WebhookActive,
    WebhookRotateSecret,
    WebhookRedeliverFailed,
    WebhookEndOverlap,
    WebhookDeleteForm,
    WebhookDelete,
    ReceiverCreate,
    ReceiverDelete,
    WebhookTest,
    Delivery,
    Redeliver,
    Audit,
    Provisioning,
    ProvisioningEntry,
}

impl Page {
    /// The scope its API twin needs: the console acts as its key (None: any signed-in key, which
    /// holds `api_keys.manage`; the Overview shows only the parts the key may see).
    fn scope(self) -> Option<Scope> {
        match self {
            Page::Users | Page::User => Some(Scope::ApiUsersRead),
            Page::UserActiveForm | Page::UserActive => Some(Scope::ApiUsersWrite),
            Page::Rooms | Page::Room => Some(Scope::ApiRoomsRead),
            Page::RoomCreate
            | Page::RoomUpdate
            | Page::RoomDeleteForm
            | Page::RoomDelete
            | Page::MemberAdd
            | Page::MemberTx
            | Page::MemberRemoveForm
            | Page::MemberRemove => Some(Scope::ApiRoomsWrite),
            Page::Webhooks
            | Page::WebhookCreate
            | Page::Webhook
            | Page::WebhookUpdate
            | Page::WebhookActive
            | Page::WebhookRotateSecret
            | Page::WebhookRedeliverFailed
            | Page::WebhookEndOverlap
            | Page::WebhookDeleteForm
            | Page::WebhookDelete
            | Page::ReceiverCreate
            | Page::ReceiverDelete
            | Page::WebhookTest
            | Page::Delivery
            | Page::Redeliver => Some(Scope::Webhooks),
            Page::Keys
            | Page::KeyCreate
            | Page::KeyRevokeForm
            | Page::KeyRevoke
            | Page::KeyRotate
            | Page::KeyScimProfile
            | Page::Audit
            | Page::Provisioning
            | Page::ProvisioningEntry => Some(Scope::ApiKeysManage),
            Page::Overview
            | Page::Asset
            | Page::LoginForm
            | Page::Login
            | Page::LinkForm
            | Page::Link
            | Page::Logout => None,
        }
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
    tenant_slug: Option<&str>,
    client: Option<IpAddr>,
    body: Incoming,
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
        _ => signed_in(&req, page).await,
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

async fn signed_in(req: &Request<'_>, page: Page) -> Served {
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
        page => match page.scope().filter(|s| !key.scopes.contains(*s)) {
            // The page its key may not see says which scope it lacks, and shows nothing else.
            Some(lacking) => {
                let e = ApiError::Refused(format!(
                    "This needs the scope {}, which the key you signed in with (“{}”) does not \
                     hold: sign in with a key that holds it.",
                    lacking.name(),
                    key.description
                ));
                (Err(Failure::Api(e)), Vec::new())
            }
            None => (dispatch(&c, page).await, Vec::new()),
        },
    };
    (answer, cookies, Some(key))
}

async fn dispatch(c: &Console<'_>, page: Page) -> Result<Answer, Failure> {
    match page {
        Page::Overview => overview::overview(c).await,
        Page::Audit => overview::audit(c).await,
        Page::Provisioning => provisioning::list(c).await,
        Page::ProvisioningEntry => provisioning::entry(c).await,
        Page::Keys => keys::list(c, None).await,
        Page::KeyCreate => keys::create(c).await,
        Page::KeyRevokeForm => keys::revoke_form(c).await,
        Page::KeyRevoke => keys::revoke(c).await,
        Page::KeyRotate => keys::rotate(c).await,
        Page::KeyScimProfile => keys::set_profile(c).await,
        Page::Users => users::list(c).await,
        Page::User => users::show(c).await,
        Page::UserActiveForm => users::confirm(c).await,
        Page::UserActive => users::set_active(c).await,
        Page::Rooms => rooms::list(c).await,
        Page::RoomCreate => rooms::create(c).await,
        Page::Room => rooms::show(c).await,
        Page::RoomUpdate => rooms::update(c).await,
        Page::RoomDeleteForm => rooms::delete_form(c).await,
        Page::RoomDelete => rooms::delete(c).await,
        Page::MemberRemoveForm => rooms::remove_form(c).await,
        Page::MemberAdd => rooms::add_member(c).await,
        Page::MemberTx => rooms::set_tx(c).await,
        Page::MemberRemove => rooms::remove_member(c).await,
        Page::Webhooks => webhooks::list(c).await,
        Page::WebhookCreate => webhooks::create(c).await,
        Page::Webhook => webhooks::show(c, None).await,
        Page::WebhookUpdate => webhooks::update(c).await,
        Page::WebhookActive => webhooks::set_active(c).await,
        Page::WebhookRotateSecret => webhooks::rotate_secret(c).await,
        Page::WebhookRedeliverFailed => webhooks::redeliver_failed(c).await,
        Page::WebhookEndOverlap => webhooks::end_overlap(c).await,
        Page::WebhookDeleteForm => webhooks::delete_form(c).await,
        Page::WebhookDelete => webhooks::delete(c).await,
        Page::ReceiverCreate => webhooks::create_receiver(c).await,
        Page::ReceiverDelete => webhooks::delete_receiver(c).await,
        Page::Delivery => webhooks::delivery(c).await,
        Page::WebhookTest => webhooks::test(c).await,
        Page::Redeliver => webhooks::redeliver(c).await,
        Page::Asset
        | Page::LoginForm
        | Page::Login
        | Page::LinkForm
        | Page::Link
        | Page::Logout => Err(Failure::Api(ApiError::NotFound)),
    }
}
