//! Signing in and out. A session opens with a pasted key that holds `api_keys.manage`, or with
//! a one-time link from `whoot-mgmt console login` (which opens it with a key of its own, so
//! the API Keys page shows it and can revoke it). Every failed attempt counts toward the
//! per-address failure limit the API uses. The login form carries a token that must match a
//! cookie set with it, so another site cannot sign a browser in.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use hyper::StatusCode;

use super::view::{Answer, Failure, cookie, cookie_value, same};
use super::{Console, Request};
use crate::auth::sessions::{Session, token};
use crate::auth::{KeyState, Scope, ScopeSet, secret};
use crate::http::error::ApiError;
use crate::store::audit::Actor;
use crate::store::operator;
use crate::time::now_ms;

pub const SESSION_COOKIE: &str = "whoot_console";
const LOGIN_COOKIE: &str = "whoot_console_login";

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    base: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/link.html")]
struct LinkPage<'a> {
    base: &'a str,
    csrf: &'a str,
    token: &'a str,
}

/// The form, with a fresh token in it and in its cookie.
pub fn login_form(req: &Request<'_>, error: Option<&str>, status: StatusCode) -> Answered {
    let Ok(csrf) = token() else { return failed(ApiError::Internal) };
    let page = LoginPage { base: &req.base, csrf: &csrf, error };
    let cookies = vec![cookie(LOGIN_COOKIE, &csrf, Some(600), req.secure())];
    (Answer::with_status(status, &page), cookies)
}

pub fn link_form(req: &Request<'_>) -> Answered {
    let Ok(csrf) = token() else { return failed(ApiError::Internal) };
    let link = req.params.first().copied().unwrap_or_default();
    let page = LinkPage { base: &req.base, csrf: &csrf, token: link };
    (Answer::page(&page), vec![cookie(LOGIN_COOKIE, &csrf, Some(600), req.secure())])
}

/// An answer and the cookies to set with it.
pub type Answered = (Result<Answer, Failure>, Vec<String>);

fn failed(e: ApiError) -> Answered {
    (Err(Failure::Api(e)), Vec::new())
}

/// `POST /console/login`: a pasted key.
pub async fn login(req: &Request<'_>) -> Answered {
    if !login_token_matches(req) {
        return login_form(req, Some("The form expired; try again."), StatusCode::FORBIDDEN);
    }
    let pasted = req.form.get("key").unwrap_or_default();
    let key = secret::well_formed(pasted)
        .then(|| req.state.app.registry.by_hash(&secret::hash(pasted)))
        .flatten()
        .filter(|k| k.is_active(now_ms()) && k.scopes.contains(Scope::ApiKeysManage))
        .filter(|k| req.tenant_slug.is_none_or(|slug| slug == k.tenant.slug));
    // As in the API: a valid key is always served; the address's failures only slow guessing.
    let Some(key) = key else {
        if let Some(answer) = blocked(req) {
            return answer;
        }
        record_failure(req);
        let why = "That key is not valid here, or it does not hold api_keys.manage.";
        return login_form(req, Some(why), StatusCode::UNAUTHORIZED);
    };
    open(req, key, false).await
}

/// `POST /console/login/{token}`: a one-time link.
pub async fn link(req: &Request<'_>) -> Answered {
    if !login_token_matches(req) {
        return login_form(
            req,
            Some("The form expired; open the link again."),
            StatusCode::FORBIDDEN,
        );
    }
    let (state, now) = (req.state, now_ms());
    let settings = &state.settings.console;
    let link = req.params.first().copied().unwrap_or_default();
    let ttl = i64::try_from(settings.link_ttl.as_millis()).unwrap_or(i64::MAX);
    let tenant = state.app.sessions.redeem_link(link, now, ttl);
    let Some(tenant) = tenant.filter(|t| req.tenant_slug.is_none_or(|slug| slug == t)) else {
        if let Some(answer) = blocked(req) {
            return answer;
        }
        record_failure(req);
        let why = "That sign-in link is used, expired or not for this console. Ask for a new one \
            (whoot-mgmt console login), or paste a key.";
        return login_form(req, Some(why), StatusCode::UNAUTHORIZED);
    };
    let life = i64::try_from(settings.link_key_life.as_millis()).unwrap_or(i64::MAX);
    let all = ScopeSet::resolve_all(&["all"]).unwrap_or_default();
    let description = "console sign-in link";
    let made = state.app.create_key(
        &tenant,
        all,
        description,
        Some(now.saturating_add(life)),
        &Actor::Cli,
    );
    let issued = match made.await {
        Ok(issued) => issued,
        Err(e) => return failed(e.into()),
    };
    match state.app.registry.by_id(issued.key.id) {
        Some(key) => open(req, key, true).await,
        None => failed(ApiError::Internal),
    }
}

/// Opens a session on `key`; `by_link`: from a `console login` link (the admin's authority).
async fn open(req: &Request<'_>, key: Arc<KeyState>, by_link: bool) -> Answered {
    let (state, now) = (req.state, now_ms());
    let limits = state.settings.console.sessions;
    let Ok((id, _)) = state.app.sessions.open((key.id, key.tenant.id, by_link), now, limits) else {
        return failed(ApiError::Internal);
    };
    let (tenant, key_id) = (key.tenant.id, key.id);
    let actor = Actor::Key { id: key.id, description: key.description.clone() };
    let peer = req.client.map(|ip| ip.to_string()).unwrap_or_default();
    let recorded = state
        .app
        .store
        .write(move |txn| operator::signed_in(txn, (tenant, key_id), (&actor, by_link), &peer, now))
        .await;
    if let Err(e) = recorded {
        state.app.sessions.close(&id);
        return failed(e.into());
    }
    let secure = req.secure();
    let cookies =
        vec![cookie(SESSION_COOKIE, &id, None, secure), cookie(LOGIN_COOKIE, "", Some(0), secure)];
    (Ok(Answer::SeeOther(format!("{}/", req.base))), cookies)
}

/// `POST /console/logout`.
pub async fn logout(c: &Console<'_>) -> Answered {
    let app = &c.req.state.app;
    app.sessions.close(&c.session_id);
    // A link session's all-scopes key is not left behind.
    if c.by_link
        && let Err(e) = app.revoke_key(c.key().id, &c.ctx.actor()).await
    {
        return failed(e.into());
    }
    let cookies = vec![cookie(SESSION_COOKIE, "", Some(0), c.req.secure())];
    (Ok(Answer::SeeOther(format!("{}/login", c.req.base))), cookies)
}

/// The session this request carries and the key it stands on, if both still hold.
pub fn signed_in(req: &Request<'_>) -> Result<(String, Session, Arc<KeyState>), Failure> {
    let sessions = &req.state.app.sessions;
    let id = cookie_value(&req.parts.headers, SESSION_COOKIE).ok_or(Failure::SignIn)?;
    let now = now_ms();
    let idle = i64::try_from(req.state.settings.console.idle.as_millis()).unwrap_or(i64::MAX);
    let session = sessions.get(id, now, idle).ok_or(Failure::SignIn)?;
    // Bound to its key: a revoked or expired key (or one that lost the scope) ends it.
    let key = req
        .state
        .app
        .registry
        .by_id(session.key_id)
        .filter(|k| k.is_active(now) && k.scopes.contains(Scope::ApiKeysManage));
    let Some(key) = key else {
        sessions.close(id);
        return Err(Failure::SignIn);
    };
    // Another tenant's console path answers as an unknown one does.
    if req.tenant_slug.is_some_and(|slug| slug != key.tenant.slug) {
        return Err(Failure::Api(ApiError::NotFound));
    }
    Ok((id.to_owned(), session, key))
}

/// A state-changing request must carry the session's token (form field or `X-CSRF-Token`).
pub fn check_csrf(req: &Request<'_>, session: &Session) -> Result<(), Failure> {
    let header = req.parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let sent = req.form.get("csrf").or(header).unwrap_or_default();
    if same(sent, &session.csrf) { Ok(()) } else { Err(Failure::Forged) }
}

fn login_token_matches(req: &Request<'_>) -> bool {
    let cookie = cookie_value(&req.parts.headers, LOGIN_COOKIE).unwrap_or_default();
    let sent = req.form.get("csrf").unwrap_or_default();
    !cookie.is_empty() && same(cookie, sent)
}

fn address(req: &Request<'_>) -> IpAddr {
    req.client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn blocked(req: &Request<'_>) -> Option<Answered> {
    let retry = req.state.auth_failures.blocked(address(req), Instant::now())?;
    crate::metrics::get().auth_failure("blocked");
    let why = format!("Too many failed sign-ins from this address; try again in {retry} s.");
    Some(login_form(req, Some(&why), StatusCode::TOO_MANY_REQUESTS))
}

fn record_failure(req: &Request<'_>) {
    req.state.auth_failures.record_failure(address(req), Instant::now());
    crate::metrics::get().auth_failure("console");
}
