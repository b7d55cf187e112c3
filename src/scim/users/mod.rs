//! SCIM `/Users`: list (with filter, sort, paging, projection), `.search`, get by id or
//! externalId, create, replace, patch and delete. Deleted users are 404 for everything.

pub(crate) mod resource;

use hyper::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use super::filter::{self, IndexedAttr};
use super::list::{CursorPage, Hits, ListParams, Search};
use super::patch;
use super::patch::PatchRequest;
use super::strict::{self, Resource};
use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{IfMatch, Json, Ref};
use crate::http::response::Reply;
use crate::store::users::{self, User};
use crate::store::{self, Tx, lifecycle};
use crate::time::now_ms;
use resource as user;
pub use resource::ENTERPRISE_URN;

fn users_url(ctx: &Ctx<'_>) -> String {
    format!("{}/scim/v2/Users", ctx.base_url())
}

/// A user by id, or else by externalId (`GET /Users/{id}` accepts either).
fn resolve(tx: &impl Tx, tenant: Uuid, raw: &str) -> store::Result<User> {
    if let Ok(id) = Uuid::parse_str(raw) {
        match users::get(tx, tenant, id) {
            Err(store::Error::Refused(store::Refusal::NotFound(_))) => {}
            other => return other,
        }
    }
    users::find(tx, tenant, &users::external_id_key(raw))?.ok_or(store::Error::not_found("user"))
}

/// One user as written: status, document, `Location` and `ETag`.
fn written(status: StatusCode, u: &User, base: &str, projected: Option<&ListParams>) -> Reply {
    let location = format!("{base}/{}", u.id);
    let reply = match projected.filter(|p| !p.shows_whole()) {
        // The whole resource: straight from the record to the bytes.
        None => Reply::json(status, &user::Shown::new(u, &location)),
        Some(p) => {
            let mut doc = user::render(u, &location);
            super::list::project(&mut doc, &p.attributes, &p.excluded);
            Reply::json(status, &doc)
        }
    };
    reply.with_location(location).with_etag(user::etag(u))
}

pub async fn list(ctx: &Ctx<'_>, params: ListParams) -> Result<Reply, ApiError> {
    run_list(ctx, params).await
}

pub async fn search(ctx: &Ctx<'_>, Search(params): Search) -> Result<Reply, ApiError> {
    run_list(ctx, params).await
}

async fn run_list(ctx: &Ctx<'_>, params: ListParams) -> Result<Reply, ApiError> {
    if let Some(f) = &params.filter {
        strict::enforce(ctx, strict::of_filter(f, Resource::User))?;
    }
    let (tenant, base, limit) = (ctx.tenant, users_url(ctx), ctx.state.settings.scan_limit);
    // An index lookup reads a record or two: here, not through the blocking pool.
    if params.cursor.is_none()
        && params.filter.as_ref().and_then(filter::indexed_equality).is_some()
    {
        let filter = params.filter.as_ref();
        if filter.is_some_and(filter::is_exactly_indexed)
            && params.sort_by.is_none()
            && params.shows_whole()
        {
            // The index found exactly the matches: their page, straight to bytes.
            return ctx.lookup(|tx| -> crate::store::Result<_> {
                let found = candidates(tx, tenant, filter, u64::MAX)?.unwrap_or_default();
                let skip = usize::try_from(params.start_index - 1).unwrap_or(usize::MAX);
                let take = usize::try_from(params.count).unwrap_or(usize::MAX);
                let located: Vec<(&User, String)> = found
                    .iter()
                    .skip(skip)
                    .take(take)
                    .map(|u| (u, format!("{base}/{}", u.id)))
                    .collect();
                let shown: Vec<_> = located.iter().map(|(u, l)| user::Shown::new(u, l)).collect();
                let total = found.len() as u64;
                Ok(Reply::json(StatusCode::OK, &params.page(total, &shown)))
            });
        }
        let answer = ctx
            .lookup(|tx| Hits::gather(&params, |hits| matching(tx, tenant, filter, &base, hits)))?;
        return Ok(Reply::json(StatusCode::OK, &answer));
    }
    if let Some(walk) = walk_of(&params) {
        return ctx.read(move |tx| walk_page(tx, tenant, walk, &params, &base)).await;
    }
    let reply = ctx
        .read(move |tx| -> Result<_, crate::http::error::ApiError> {
            let answer = if params.cursor.is_some() {
                cursor_page(tx, tenant, &params, &base, limit)?
            } else if params.filter.is_none() && params.sort_by.is_none() {
                // The common case: a page in creation order, without reading the rest.
                let mut page = Vec::new();
                if params.count > 0 {
                    users::scan(tx, tenant, params.start_index - 1, |u| {
                        let location = format!("{base}/{}", u.id);
                        page.push((u, location));
                        Ok((page.len() as u64) < params.count)
                    })?;
                }
                let total = users::count(tx, tenant)?;
                if params.shows_whole() {
                    // Straight from the records to the bytes.
                    let shown: Vec<_> = page.iter().map(|(u, l)| user::Shown::new(u, l)).collect();
                    return Ok(Reply::json(StatusCode::OK, &params.page(total, &shown)));
                }
                params.respond(total, page.iter().map(|(u, l)| user::render(u, l)).collect())
            } else {
                within_budget(tx, tenant, &params, limit)?;
                Hits::gather(&params, |hits| {
                    matching(tx, tenant, params.filter.as_ref(), &base, hits)
                })?
            };
            Ok(Reply::json(StatusCode::OK, &answer))
        })
        .await?;
    Ok(reply)
}

/// A page of what an index walk answers exactly (`filter::indexed_range`, or a sort by
/// userName): the block counts find `startIndex`, counted from the last user when descending,
/// and the total; only the page's users are read.
fn walk_page(
    tx: &impl Tx,
    tenant: Uuid,
    walk: users::Walk,
    params: &ListParams,
    base: &str,
) -> Result<Reply, ApiError> {
    let total = match walk {
        users::Walk::Active(on) => total_of(tx, tenant, Some(on))?,
        users::Walk::Named(active) => total_of(tx, tenant, active)?,
        users::Walk::ModifiedFrom(ms) => users::modified_from_count(tx, tenant, ms)?,
    };
    let (start, count) = (params.start_index - 1, params.count);
    let descending = params.descending && params.sort_by.is_some();
    // Descending, the page is the ascending one that ends `start` users before the last. Past
    // the end (as when nothing changed since a sync tool last asked), no walk at all.
    let (skip, take) = match descending {
        false => (start, count.min(total.saturating_sub(start))),
        true => {
            let end = total.saturating_sub(start);
            (end.saturating_sub(count), count.min(end))
        }
    };
    let mut ids = Vec::new();
    if take > 0 {
        users::walk(tx, tenant, walk, skip, |id| {
            ids.push(id);
            Ok((ids.len() as u64) < take)
        })?;
    }
    if descending {
        ids.reverse();
    }
    let found: Vec<User> =
        ids.iter().map(|id| users::get(tx, tenant, *id)).collect::<Result<_, _>>()?;
    let located: Vec<(&User, String)> =
        found.iter().map(|u| (u, format!("{base}/{}", u.id))).collect();
    if params.shows_whole() {
        let shown: Vec<_> = located.iter().map(|(u, l)| user::Shown::new(u, l)).collect();
        return Ok(Reply::json(StatusCode::OK, &params.page(total, &shown)));
    }
    let page = located.iter().map(|(u, l)| user::render(u, l)).collect();
    Ok(Reply::json(StatusCode::OK, &params.respond(total, page)))
}

/// How many users there are (None), or with this `active`: from the counters.
fn total_of(tx: &impl Tx, tenant: Uuid, active: Option<bool>) -> store::Result<u64> {
    let all = users::count(tx, tenant)?;
    let Some(on) = active else { return Ok(all) };
    let provisioned =
        crate::store::counters::get(tx, tenant, crate::store::counters::SEATS_PROVISIONED)?;
    Ok(if on { provisioned } else { all.saturating_sub(provisioned) })
}

/// The index walk that answers the list exactly, in its order, if one does: a whole filter of
/// `active eq` or `meta.lastModified gt|ge` unsorted, and userName order over every user or
/// over an `active eq`. None for any other sort or filter, and with a cursor.
fn walk_of(params: &ListParams) -> Option<users::Walk> {
    if params.cursor.is_some() {
        return None;
    }
    let range = match &params.filter {
        Some(f) => Some(filter::indexed_range(f)?),
        None => None,
    };
    let Some(path) = &params.sort_by else {
        return match range? {
            filter::IndexedRange::Active(on) => Some(users::Walk::Active(on)),
            filter::IndexedRange::ModifiedFrom(ms) => Some(users::Walk::ModifiedFrom(ms)),
        };
    };
    let core = path.uri.as_deref().is_none_or(filter::is_core_urn);
    if !core || path.sub.is_some() || !path.name.eq_ignore_ascii_case("userName") {
        return None;
    }
    match range {
        None => Some(users::Walk::Named(None)),
        Some(filter::IndexedRange::Active(on)) => Some(users::Walk::Named(Some(on))),
        Some(filter::IndexedRange::ModifiedFrom(_)) => None,
    }
}

/// The users an index lookup finds for `filter` (a superset of the matches), or None when the
/// filter needs a scan: equality on userName, externalId or an email; `sw` on userName or
/// externalId when at most `cap` users start so (past that, a scan within the scan budget).
fn candidates(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&filter::Filter>,
    cap: u64,
) -> store::Result<Option<Vec<User>>> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    Ok(match filter.and_then(filter::indexed_equality) {
        Some((IndexedAttr::UserName, v)) => {
            Some(users::find(tx, tenant, &users::user_name_key(v))?.into_iter().collect())
        }
        Some((IndexedAttr::ExternalId, v)) => {
            Some(users::find(tx, tenant, &users::external_id_key(v))?.into_iter().collect())
        }
        Some((IndexedAttr::Email, v)) => Some(users::find_by_any_email(tx, tenant, v)?),
        None => match filter.and_then(filter::indexed_prefix) {
            Some((IndexedAttr::UserName, v)) => {
                users::with_index_prefix(tx, tenant, &users::user_name_key(v), cap)?
            }
            Some((IndexedAttr::ExternalId, v)) => {
                users::with_index_prefix(tx, tenant, &users::external_id_key(v), cap)?
            }
            _ => None,
        },
    })
}

/// Whether a list may run: an index lookup always may; a scan only over at most `limit` users.
pub(crate) fn within_budget(
    tx: &impl Tx,
    tenant: Uuid,
    params: &ListParams,
    limit: u64,
) -> Result<(), ApiError> {
    let filter = params.filter.as_ref();
    if filter.and_then(filter::indexed_equality).is_some() {
        return Ok(());
    }
    // A prefix walk may run when few enough users start so (counted on the index alone).
    let cap = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let prefix_key = match filter.and_then(filter::indexed_prefix) {
        Some((IndexedAttr::UserName, v)) => Some(users::user_name_key(v)),
        Some((IndexedAttr::ExternalId, v)) => Some(users::external_id_key(v)),
        _ => None,
    };
    if let Some(key) = prefix_key
        && users::ids_with_index_prefix(tx, tenant, &key, cap)?.is_some()
    {
        return Ok(());
    }
    params.within_budget(users::count(tx, tenant)?, limit, "users")
}

/// Every user matching `filter` (all users without one), as SCIM shows them, in creation order,
/// into `hits`. Equality on userName, externalId or an email is an index lookup; anything else
/// is a scan.
pub(crate) fn matching(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&filter::Filter>,
    base: &str,
    hits: &mut Hits<'_>,
) -> store::Result<()> {
    let render = |u: &User| user::render(u, &format!("{base}/{}", u.id));
    let candidates = candidates(tx, tenant, filter, u64::MAX)?;
    let keep = |doc: &Value| filter.is_none_or(|f| filter::matches(f, doc));
    match candidates {
        Some(list) => list.iter().map(render).filter(keep).for_each(|doc| hits.push(doc)),
        None => users::scan(tx, tenant, 0, |u| {
            let doc = render(&u);
            if keep(&doc) {
                hits.push(doc);
            }
            Ok(true)
        })?,
    }
    Ok(())
}

/// A cursor walk's page (RFC 9865): after the cursor, in creation order.
fn cursor_page(
    tx: &impl Tx,
    tenant: Uuid,
    params: &ListParams,
    base: &str,
    limit: u64,
) -> Result<Value, ApiError> {
    let (after, fingerprint) = params.cursor_start("scim users")?;
    let filter = params.filter.as_ref();
    let render = |u: &User| user::render(u, &format!("{base}/{}", u.id));
    let keep = |doc: &Value| filter.is_none_or(|f| filter::matches(f, doc));
    let mut page = CursorPage::new(params, fingerprint, limit);
    let total = match candidates(tx, tenant, filter, limit.max(1))? {
        Some(list) => {
            // An index lookup: few users.
            let hits = list.iter().map(|u| (u.id.as_u128(), render(u)));
            Some(page.offer_found(hits.filter(|(_, doc)| keep(doc)).collect(), after))
        }
        None => {
            users::scan_after(tx, tenant, after, |u| {
                let doc = render(&u);
                Ok(page.offer(u.id.as_u128(), keep(&doc).then_some(doc)))
            })?;
            filter.is_none().then(|| users::count(tx, tenant)).transpose()?
        }
    };
    Ok(page.respond(total))
}

pub async fn get(ctx: &Ctx<'_>, (Ref(raw), params): (Ref, ListParams)) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let u = ctx.lookup(|tx| resolve(tx, tenant, &raw))?;
    Ok(written(StatusCode::OK, &u, &users_url(ctx), Some(&params)))
}

pub async fn create(ctx: &Ctx<'_>, Json(doc): Json<Value>) -> Result<Reply, ApiError> {
    strict::enforce(ctx, strict::of_document(&doc, Resource::User))?;
    let now = now_ms();
    let u = user::read(&doc, User::new(Uuid::now_v7(), String::new(), now))?;
    ctx.note_name(&u.user_name);
    let (tenant, stored) = (ctx.tenant, u.clone());
    ctx.write(move |txn| lifecycle::create_user(txn, tenant, &stored)).await?;
    Ok(written(StatusCode::CREATED, &u, &users_url(ctx), None))
}

/// The id is a user id or an externalId.
pub async fn replace(
    ctx: &Ctx<'_>,
    (Ref(raw), IfMatch(if_match), Json(doc)): (Ref, IfMatch, Json<Value>),
) -> Result<Reply, ApiError> {
    strict::enforce(ctx, strict::of_document(&doc, Resource::User))?;
    // A replacement names its userName (RFC 7643 §4.1.1: required); only a create may fall
    // back to the primary email. Refuse a bad document before it reaches the writer.
    let named = crate::repr::input::field(&doc, "userName").and_then(Value::as_str);
    if named.is_none_or(|u| u.trim().is_empty()) {
        return Err(ApiError::bad_request("userName is required in a replacement (PUT)"));
    }
    user::read(&doc, User::new(Uuid::nil(), String::new(), 0))?;
    rewrite(ctx, raw, if_match, move |current| user::read(&doc, current)).await
}

pub async fn patch(
    ctx: &Ctx<'_>,
    (Ref(raw), IfMatch(if_match), PatchRequest(ops, body)): (Ref, IfMatch, PatchRequest),
) -> Result<Reply, ApiError> {
    strict::enforce(ctx, strict::of_patch(&body, Resource::User))?;
    rewrite(ctx, raw, if_match, move |current| {
        let mut doc = user::render_stored(&current);
        patch::apply(&mut doc, &ops)?;
        // Roles removed by the PATCH mean no roles (`{}`: every role false), not the default a
        // new user gets.
        if let Value::Object(obj) = &mut doc
            && !obj.keys().any(|k| k.eq_ignore_ascii_case("roles"))
        {
            obj.insert("roles".into(), Value::Object(Default::default()));
        }
        user::read(&doc, current)
    })
    .await
}

/// Replaces the user `raw` names with what `next` makes of it, and answers it. `next` (the
/// rendering, patching and re-reading of a document) runs on a read transaction, not on the
/// writer: the write only checks that the user is still the version `next` saw, and the whole
/// is tried again if another change came first.
async fn rewrite<F>(
    ctx: &Ctx<'_>,
    raw: String,
    if_match: Option<u64>,
    next: F,
) -> Result<Reply, ApiError>
where
    F: Fn(User) -> Result<User, ApiError> + Send + Sync + 'static,
{
    const ATTEMPTS: usize = 8;
    let (tenant, next) = (ctx.tenant, std::sync::Arc::new(next));
    for _ in 0..ATTEMPTS {
        let (raw, make) = (raw.clone(), next.clone());
        let (seen, id, wanted) = ctx
            .read(move |tx| -> Result<_, crate::http::error::ApiError> {
                let current = resolve(tx, tenant, &raw)?;
                let (seen, id) = (current.version, current.id);
                Ok((seen, id, make(current)?))
            })
            .await?;
        let now = now_ms();
        let outcome = ctx
            .write(move |txn| match users::get(txn, tenant, id)? {
                current if current.version == seen => {
                    lifecycle::update_user(txn, tenant, wanted.clone(), if_match, now).map(Some)
                }
                // Changed since it was read (If-Match still names the version the client saw).
                current => match if_match {
                    Some(v) if v != current.version => Err(store::Refusal::VersionMismatch.into()),
                    _ => Ok(None),
                },
            })
            .await?;
        if let Some((u, _)) = outcome {
            return Ok(written(StatusCode::OK, &u, &users_url(ctx), None));
        }
    }
    Err(ApiError::Conflict("the user kept changing while this request was applied; retry".into()))
}

pub async fn delete(ctx: &Ctx<'_>, request: (Ref, IfMatch)) -> Result<Reply, ApiError> {
    let collection = users_url(ctx);
    super::delete(ctx, request, collection, |txn, tenant, raw, if_match, now| {
        lifecycle::delete_user(txn, tenant, resolve(txn, tenant, raw)?.id, if_match, now)
            .map(|u| u.id)
    })
    .await
}
