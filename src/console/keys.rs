//! The API Keys page: each key by description and prefix (never its secret), its status,
//! scopes, last use and expiry; create (only scopes the session's key holds, no longer a life
//! than its own), the secret shown once, revoke after a confirmation, rotate.

use askama::Template;
use hyper::StatusCode;

use super::Console;
use super::view::{Answer, Chrome, Failure, when};
use crate::auth::app::KeyOrder;
use crate::auth::{Scope, ScopeSet};
use crate::http::error::ApiError;
use crate::repr::keys::key_status;
use crate::store::keys::{ApiKey, ScimProfile};
use crate::time::{in_from, now_ms};

pub struct KeyRow {
    pub id: String,
    pub description: String,
    pub prefix: String,
    pub status: &'static str,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub active: bool,
    /// The key this session stands on.
    pub current: bool,
    /// Its own SCIM profile (`compatible`, `strict`), or `default` for the tenant's.
    pub scim_profile: &'static str,
    /// The SCIM quirks its requests needed since the server started (`capitalised_op 3, …`).
    pub quirks: String,
}

pub struct ScopeChoice {
    pub name: &'static str,
    pub about: &'static str,
    /// Only scopes the session's key holds can be given.
    pub grantable: bool,
}

/// The expiry choices offered on create.
pub const EXPIRIES: &[(&str, &str)] =
    &[("", "Never"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("365d", "1 year")];

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    scopes: Vec<ScopeChoice>,
    expiries: &'static [(&'static str, &'static str)],
    notice: Option<&'static str>,
    error: Option<String>,
    /// When keys made here expire at the latest (the session key's expiry), if they must.
    bound: Option<String>,
    /// The tenant's default SCIM profile, for the choice "the tenant's default".
    tenant_profile: &'static str,
}

#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage {
    chrome: Chrome,
    title: &'static str,
    key: KeyRow,
    secret: String,
    old: Option<KeyRow>,
}

#[derive(Template)]
#[template(path = "console/revoke.html")]
struct RevokePage {
    chrome: Chrome,
    key: KeyRow,
}

/// Scopes as people read them: `all scopes`, else families with their rights
/// (`scim:users read/write, usage`).
pub fn summary(scopes: &[String]) -> String {
    if crate::auth::Scope::ALL.iter().all(|s| scopes.iter().any(|n| n == s.name())) {
        return "all scopes".into();
    }
    let mut families: Vec<(String, Vec<&str>)> = Vec::new();
    for scope in scopes {
        let (family, right) = match scope.rsplit_once(':') {
            Some((family, right)) if family.contains(':') => (family.to_owned(), right),
            _ => (scope.clone(), ""),
        };
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, rights)) => rights.push(right),
            None => families.push((family, vec![right])),
        }
    }
    let parts: Vec<String> = families
        .into_iter()
        .map(|(family, rights)| match rights.join("/") {
            joined if joined.is_empty() => family,
            joined => format!("{family} {joined}"),
        })
        .collect();
    parts.join(", ")
}

pub fn row(k: &ApiKey, now: i64, current: uuid::Uuid) -> KeyRow {
    let status = key_status(k, now);
    KeyRow {
        id: k.id.to_string(),
        description: if k.description.is_empty() {
            "(no description)".into()
        } else {
            k.description.clone()
        },
        prefix: format!("{}…", k.prefix),
        status,
        scopes: summary(&k.scopes),
        created: when(Some(k.created_at)),
        last_used: when(k.last_used_at),
        expires: when(k.expires_at),
        active: status == "active",
        current: k.id == current,
        scim_profile: k.scim_profile.map_or("default", |p| p.name()),
        quirks: String::new(),
    }
}

/// `GET /console/keys`.
pub async fn page(c: &Console<'_>) -> Result<Answer, Failure> {
    list(c, None).await
}

pub(super) async fn list(
    c: &Console<'_>,
    error: Option<(StatusCode, String)>,
) -> Result<Answer, Failure> {
    let key = c.key();
    let (_, keys) = c.ctx.state.app.keys(&key.tenant.slug).await?;
    let now = now_ms();
    let notice = match c.form().get("done") {
        Some("revoked") => Some("The key is revoked: requests with it are refused from now on."),
        Some("profile") => Some("The key's SCIM profile is set: it applies from the next request."),
        _ => None,
    };
    let (status, error) = match error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = KeysPage {
        chrome: c.chrome("keys"),
        keys: keys
            .iter()
            .map(|k| {
                let mut shown = row(k, now, key.id);
                if let Some(state) = c.ctx.state.app.registry.by_id(k.id) {
                    let seen = state.quirks().into_iter().map(|(q, n)| format!("{q} {n}"));
                    shown.quirks = seen.collect::<Vec<_>>().join(", ");
                }
                shown
            })
            .collect(),
        scopes: Scope::ALL
            .iter()
            .map(|s| ScopeChoice {
                name: s.name(),
                about: s.about(),
                grantable: key.scopes.contains(*s),
            })
            .collect(),
        expiries: EXPIRIES,
        notice,
        error,
        bound: c.grant_bound().map(|at| when(Some(at))),
        tenant_profile: key.tenant.scim_profile().name(),
    };
    Answer::with_status(status, &page)
}

/// An error the form can show: back to the page with it.
async fn refused(c: &Console<'_>, e: ApiError) -> Result<Answer, Failure> {
    let (status, _) = e.body(crate::http::Style::Native);
    if status.is_client_error() {
        list(c, Some((status, e.message()))).await
    } else {
        Err(Failure::Api(e))
    }
}

pub async fn create(c: &Console<'_>) -> Result<Answer, Failure> {
    match issue(c).await {
        Ok(answer) => Ok(answer),
        Err(e) => refused(c, e).await,
    }
}

async fn issue(c: &Console<'_>) -> Result<Answer, ApiError> {
    let form = c.form();
    let chosen = form.all("scope");
    if chosen.is_empty() {
        return Err(ApiError::bad_request("choose at least one scope"));
    }
    let scopes = ScopeSet::resolve_all(&chosen).map_err(ApiError::bad_request)?;
    let key = c.key();
    let now = now_ms();
    let expires_at = in_from(form.get("expires_in"), now).map_err(ApiError::bad_request)?;
    let description = form.get("description").unwrap_or_default();
    let scim_profile = chosen_profile(form.get("scim_profile"))?;
    let order = KeyOrder { scopes, description, expires_at, scim_profile };
    let issued =
        c.ctx.state.app.issue_key(&key.tenant.slug, order, c.issuer(), &c.ctx.actor()).await?;
    let page = SecretPage {
        chrome: c.chrome("keys"),
        title: "Key created",
        key: row(&issued.key, now, key.id),
        secret: issued.secret,
        old: None,
    };
    Answer::with_status(StatusCode::CREATED, &page).map_err(|_| ApiError::Internal)
}

/// The form's `scim_profile`: `compatible`, `strict`, or `default` (absent: the tenant's).
fn chosen_profile(value: Option<&str>) -> Result<Option<ScimProfile>, ApiError> {
    ScimProfile::parse_choice(value.unwrap_or("default")).map_err(ApiError::bad_request)
}

pub async fn set_profile(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let app = &c.ctx.state.app;
    app.tenant_key(c.ctx.tenant, id).await?;
    let profile = match chosen_profile(c.form().get("scim_profile")) {
        Ok(p) => p,
        Err(e) => return refused(c, e).await,
    };
    if let Err(e) = app.set_key_scim_profile(id, profile, &c.ctx.actor()).await {
        return refused(c, e.into()).await;
    }
    c.back("/keys?done=profile")
}

pub async fn revoke_form(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let key = c.ctx.state.app.tenant_key(c.ctx.tenant, id).await?;
    Answer::page(&RevokePage { chrome: c.chrome("keys"), key: row(&key, now_ms(), c.key().id) })
}

pub async fn revoke(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let app = &c.ctx.state.app;
    app.tenant_key(c.ctx.tenant, id).await?;
    if let Err(e) = app.revoke_key(id, &c.ctx.actor()).await {
        return refused(c, e.into()).await;
    }
    app.sessions.close_for_key(id);
    if id == c.key().id {
        // This session stood on it: signed out with it.
        return Err(Failure::SignIn);
    }
    c.back("/keys?done=revoked")
}

pub async fn rotate(c: &Console<'_>) -> Result<Answer, Failure> {
    match renew(c).await {
        Ok(answer) => Ok(answer),
        Err(e) => refused(c, e).await,
    }
}

async fn renew(c: &Console<'_>) -> Result<Answer, ApiError> {
    let id = c.id(0).map_err(|_| ApiError::NotFound)?;
    let app = &c.ctx.state.app;
    app.tenant_key(c.ctx.tenant, id).await?;
    let key = c.key();
    let now = now_ms();
    let old_expires_at =
        in_from(c.form().get("expire_old_in"), now).map_err(ApiError::bad_request)?;
    let issued = app.rotate_key(id, c.issuer(), old_expires_at, &c.ctx.actor()).await?;
    let old = app.tenant_key(c.ctx.tenant, id).await?;
    let page = SecretPage {
        chrome: c.chrome("keys"),
        title: "Key rotated",
        key: row(&issued.key, now, key.id),
        secret: issued.secret,
        old: Some(row(&old, now, key.id)),
    };
    Answer::with_status(StatusCode::CREATED, &page).map_err(|_| ApiError::Internal)
}
