//! SCIM `/Users`: list (with filter, sort, paging, projection), `.search`, get by id or
//! externalId, create, replace, patch and delete. Deleted users are 404 for everything.

use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{ETAG, HeaderValue, LOCATION};
use serde_json::Value;
use uuid::Uuid;

use super::filter::{self, IndexedAttr};
use super::list::ListParams;
use super::{patch, user};
use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::router::Style;
use crate::http::{Ctx, body, path_id, response};
use crate::store::users::{self, User};
use crate::store::{self, Tx};
use crate::time::now_ms;

fn users_url(ctx: &Ctx<'_>) -> String {
    format!("{}/scim/v2/Users", ctx.base_url)
}

/// A user by id, or else by externalId (`GET /Users/{id}` accepts either).
fn resolve(tx: &impl Tx, tenant: Uuid, raw: &str) -> store::Result<User> {
    if let Ok(id) = Uuid::parse_str(raw) {
        match users::get(tx, tenant, id) {
            Err(store::Error::NotFound(_)) => {}
            other => return other,
        }
    }
    users::find(tx, tenant, &users::external_id_key(raw))?.ok_or(store::Error::NotFound("user"))
}

/// One user, with `ETag` (and `Location` when created).
fn respond(
    status: StatusCode,
    u: &User,
    base: &str,
    projected: Option<&ListParams>,
) -> HttpResponse {
    let location = format!("{base}/{}", u.id);
    let mut doc = user::render(u, &location);
    if let Some(p) = projected {
        super::list::project(&mut doc, &p.attributes, &p.excluded);
    }
    let mut resp = response::json_in_style(status, &doc, Style::Scim);
    if let Ok(v) = HeaderValue::from_str(&user::etag(u)) {
        resp.headers_mut().insert(ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

pub async fn list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(ctx)?;
    run_list(ctx, params).await
}

pub async fn search(ctx: &Ctx<'_>, body: Incoming) -> Result<HttpResponse, ApiError> {
    let request: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    let params = ListParams::from_search(&request)?;
    run_list(ctx, params).await
}

async fn run_list(ctx: &Ctx<'_>, params: ListParams) -> Result<HttpResponse, ApiError> {
    let (tenant, base) = (ctx.tenant, users_url(ctx));
    let answer = ctx
        .store()
        .read(move |tx| {
            if params.filter.is_none() && params.sort_by.is_none() {
                // The common case: a page in creation order, without reading the rest.
                let mut page = Vec::new();
                if params.count > 0 {
                    users::scan(tx, tenant, params.start_index - 1, |u| {
                        page.push(user::render(&u, &format!("{base}/{}", u.id)));
                        Ok((page.len() as u64) < params.count)
                    })?;
                }
                return Ok(params.respond(users::count(tx, tenant)?, page));
            }
            let mut hits = matching(tx, tenant, params.filter.as_ref(), &base)?;
            params.sort(&mut hits);
            Ok(params.respond(hits.len() as u64, params.page_of(hits)))
        })
        .await?;
    Ok(response::json_in_style(StatusCode::OK, &answer, Style::Scim))
}

/// Every user matching `filter` (all users without one), as SCIM shows them, in creation order.
/// Equality on userName, externalId or an email is an index lookup; anything else is a scan.
pub fn matching(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&filter::Filter>,
    base: &str,
) -> store::Result<Vec<Value>> {
    let render = |u: &User| user::render(u, &format!("{base}/{}", u.id));
    let candidates: Option<Vec<User>> = match filter.and_then(filter::indexed_equality) {
        Some((IndexedAttr::UserName, v)) => {
            Some(users::find(tx, tenant, &users::user_name_key(v))?.into_iter().collect())
        }
        Some((IndexedAttr::ExternalId, v)) => {
            Some(users::find(tx, tenant, &users::external_id_key(v))?.into_iter().collect())
        }
        Some((IndexedAttr::Email, v)) => Some(users::find_by_any_email(tx, tenant, v)?),
        None => None,
    };
    let keep = |doc: &Value| filter.is_none_or(|f| filter::matches(f, doc));
    let mut hits = Vec::new();
    match candidates {
        Some(list) => hits.extend(list.iter().map(render).filter(keep)),
        None => users::scan(tx, tenant, 0, |u| {
            let doc = render(&u);
            if keep(&doc) {
                hits.push(doc);
            }
            Ok(true)
        })?,
    }
    Ok(hits)
}

pub async fn get(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(ctx)?;
    let (tenant, raw) = (ctx.tenant, path_id(raw));
    let u = ctx.store().read(move |tx| resolve(tx, tenant, &raw)).await?;
    Ok(respond(StatusCode::OK, &u, &users_url(ctx), Some(&params)))
}

pub async fn create(ctx: &Ctx<'_>, body: Incoming) -> Result<HttpResponse, ApiError> {
    let doc: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    let now = now_ms();
    let u = user::read(&doc, User::new(Uuid::now_v7(), String::new(), now))?;
    let (tenant, stored) = (ctx.tenant, u.clone());
    ctx.store().write(move |txn| users::create(txn, tenant, &stored)).await?;
    Ok(respond(StatusCode::CREATED, &u, &users_url(ctx), None))
}

pub async fn replace(ctx: &Ctx<'_>, raw: &str, body: Incoming) -> Result<HttpResponse, ApiError> {
    let doc: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    // Refuse a bad document before it reaches the writer.
    user::read(&doc, User::new(Uuid::nil(), String::new(), 0))?;
    let (tenant, raw, if_match, now) = (ctx.tenant, path_id(raw), ctx.if_match()?, now_ms());
    let (u, _) = ctx
        .store()
        .write(move |txn| {
            let current = resolve(txn, tenant, &raw)?;
            let next = user::read(&doc, current).map_err(|e| store::Error::Invalid(e.message()))?;
            users::update(txn, tenant, next, if_match, now)
        })
        .await?;
    Ok(respond(StatusCode::OK, &u, &users_url(ctx), None))
}

pub async fn patch(ctx: &Ctx<'_>, raw: &str, body: Incoming) -> Result<HttpResponse, ApiError> {
    let request: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    let ops = patch::parse_request(&request)
        .map_err(|e| ApiError::BadRequest { detail: e.detail, scim_type: e.scim_type })?;
    let (tenant, raw, if_match, now) = (ctx.tenant, path_id(raw), ctx.if_match()?, now_ms());
    let (u, _) = ctx
        .store()
        .write(move |txn| {
            let current = resolve(txn, tenant, &raw)?;
            let mut doc = user::render(&current, "");
            patch::apply(&mut doc, &ops).map_err(|e| store::Error::Invalid(e.detail))?;
            // Roles removed by the PATCH mean no roles, not the default a new user gets.
            if let Value::Object(obj) = &mut doc
                && !obj.keys().any(|k| k.eq_ignore_ascii_case("roles"))
            {
                obj.insert("roles".into(), Value::Array(Vec::new()));
            }
            let next = user::read(&doc, current).map_err(|e| store::Error::Invalid(e.message()))?;
            users::update(txn, tenant, next, if_match, now)
        })
        .await?;
    Ok(respond(StatusCode::OK, &u, &users_url(ctx), None))
}

pub async fn delete(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (tenant, raw, if_match, now) = (ctx.tenant, path_id(raw), ctx.if_match()?, now_ms());
    ctx.store()
        .write(move |txn| {
            let current = resolve(txn, tenant, &raw)?;
            users::delete(txn, tenant, current.id, if_match, now)
        })
        .await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}
