//! SCIM `/Groups`: rooms with a group mapping. Members are rooms' memberships; SCIM adds them
//! with tx_permission false and never changes an existing member's permission.
//!
//! Member lists can be large, so nothing here reads one unless the answer shows it: lists with
//! `excludedAttributes=members` read only room records, and PATCH works on membership rows
//! directly and answers 204 (unless the client asks for `attributes`).

use std::collections::HashMap;

use hyper::StatusCode;
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Written;
use super::filter::{self, CORE_GROUP_URN, CompValue, Filter, Op};
use super::list::{CursorPage, Hits, ListParams};
use super::patch::{self, Kind, Operation};
use crate::auth::Scope;
use crate::http::Style;
use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::{Ctx, body, path_id, response};
use crate::repr::input::field;
use crate::store::rooms::{self, Eligible, Room};
use crate::store::{self, Tx, counters, users};
use crate::time::{format_ms, now_ms};

fn etag(r: &Room) -> String {
    format!("W/\"{}\"", r.version)
}

/// A mapped room by id, or else by externalId.
fn resolve(tx: &impl Tx, tenant: Uuid, raw: &str) -> store::Result<Room> {
    if let Ok(id) = Uuid::parse_str(raw) {
        match rooms::get(tx, tenant, id) {
            Ok(r) if r.mapped => return Ok(r),
            Ok(_) | Err(store::Error::Refused(store::Refusal::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
    }
    match rooms::find(tx, tenant, &rooms::external_id_key(raw))? {
        Some(r) if r.mapped => Ok(r),
        _ => Err(store::Error::not_found("group")),
    }
}

struct Urls {
    groups: String,
    users: String,
}

fn urls(ctx: &Ctx<'_>) -> Urls {
    Urls {
        groups: format!("{}/scim/v2/Groups", ctx.base_url()),
        users: format!("{}/scim/v2/Users", ctx.base_url()),
    }
}

/// The group as SCIM shows it; `with_members` reads the member list (and each member's name).
fn render(
    tx: &impl Tx,
    tenant: Uuid,
    r: &Room,
    urls: &Urls,
    with_members: bool,
) -> store::Result<Value> {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([CORE_GROUP_URN]));
    out.insert("id".into(), json!(r.id));
    if let Some(x) = &r.external_id {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("displayName".into(), json!(r.display_name));
    if with_members {
        let mut members = Vec::new();
        for id in rooms::member_ids(tx, tenant, r.id)?.into_keys() {
            let id = Uuid::from_u128(id);
            let display = match users::get(tx, tenant, id) {
                Ok(u) => crate::repr::users::display_of(&u),
                Err(store::Error::Refused(store::Refusal::NotFound(_))) => continue,
                Err(e) => return Err(e),
            };
            members.push(json!({"value": id, "display": display,
                "type": "User", "$ref": format!("{}/{id}", urls.users)}));
        }
        out.insert("members".into(), Value::Array(members));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": format_ms(r.created_at),
            "lastModified": format_ms(r.updated_at),
            "location": format!("{}/{}", urls.groups, r.id),
            "version": etag(r),
        }),
    );
    Ok(Value::Object(out))
}

/// Whether the answer will show members (so they must be read).
fn shows_members(p: &ListParams) -> bool {
    let named =
        |list: &[filter::AttrPath]| list.iter().any(|a| a.name.eq_ignore_ascii_case("members"));
    !named(&p.excluded) && (p.attributes.is_empty() || named(&p.attributes))
}

fn written(status: StatusCode, doc: Option<Value>, r: &Room, urls: &Urls) -> Written {
    let location = Some(format!("{}/{}", urls.groups, r.id));
    Written { status, body: doc, location, etag: Some(etag(r)) }
}

pub async fn list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(ctx)?;
    run_list(ctx, params).await
}

pub async fn search(ctx: &Ctx<'_>, body: Incoming) -> Result<HttpResponse, ApiError> {
    let request: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    run_list(ctx, ListParams::from_search(&request)?).await
}

/// `members[value eq "id"]` or `members.value eq "id"`: answered from the user→rooms index.
fn member_equality(f: &Filter) -> Option<&str> {
    match f {
        Filter::Has(p, inner) if p.name.eq_ignore_ascii_case("members") => match &**inner {
            Filter::Compare(v, Op::Eq, CompValue::Str(id))
                if v.name.eq_ignore_ascii_case("value") && v.sub.is_none() =>
            {
                Some(id)
            }
            _ => None,
        },
        Filter::Compare(p, Op::Eq, CompValue::Str(id))
            if p.name.eq_ignore_ascii_case("members")
                && p.sub.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("value")) =>
        {
            Some(id)
        }
        _ => None,
    }
}

async fn run_list(ctx: &Ctx<'_>, params: ListParams) -> Result<HttpResponse, ApiError> {
    let (tenant, urls, limit) = (ctx.tenant, urls(ctx), ctx.state.settings.scan_limit);
    let answer = ctx
        .store()
        .read(move |tx| {
            let with_members = shows_members(&params);
            if params.cursor.is_some() {
                return cursor_page(tx, tenant, &params, &urls, with_members, limit);
            }
            if params.filter.is_none() && params.sort_by.is_none() {
                // A page in creation order, reading only the rooms it shows.
                let mut page = Vec::new();
                let mut seen = 0u64;
                rooms::scan(tx, tenant, 0, |r| {
                    if r.mapped {
                        seen += 1;
                        if seen >= params.start_index && (page.len() as u64) < params.count {
                            page.push(render(tx, tenant, &r, &urls, with_members)?);
                        }
                    }
                    Ok((page.len() as u64) < params.count)
                })?;
                return Ok(Ok(params.respond(counters::get(tx, tenant, counters::GROUPS)?, page)));
            }
            if let Err(e) = within_budget(tx, tenant, &params, limit)? {
                return Ok(Err(e));
            }
            let mut hits = Hits::new(&params);
            matching(tx, tenant, params.filter.as_ref(), &urls, with_members, &mut hits)?;
            Ok(Ok(hits.respond()))
        })
        .await??;
    Ok(response::json_in_style(StatusCode::OK, &answer, Style::Scim))
}

/// A cursor walk's page of groups (RFC 9865): after the cursor, in creation order.
fn cursor_page(
    tx: &impl Tx,
    tenant: Uuid,
    params: &ListParams,
    urls: &Urls,
    with_members: bool,
    limit: u64,
) -> store::Result<Result<Value, ApiError>> {
    let (after, fingerprint) = match params.cursor_start("scim groups") {
        Ok(start) => start,
        Err(e) => return Ok(Err(e)),
    };
    let filter = params.filter.as_ref();
    let reads_members = filter.is_some_and(|f| filter::mentions(f, "members"));
    let doc_of = |r: &Room| -> store::Result<Option<Value>> {
        if !r.mapped {
            return Ok(None);
        }
        let doc = render(tx, tenant, r, urls, reads_members)?;
        if !filter.is_none_or(|f| filter::matches(f, &doc)) {
            return Ok(None);
        }
        Ok(Some(if with_members && !reads_members {
            render(tx, tenant, r, urls, true)?
        } else {
            doc
        }))
    };
    let mut page = CursorPage::new(params, fingerprint, limit);
    let total = match group_candidates(tx, tenant, filter)? {
        Some(list) => {
            let mut hits = Vec::new();
            for r in &list {
                if let Some(doc) = doc_of(r)? {
                    hits.push((r.id.as_u128(), doc));
                }
            }
            Some(page.offer_found(hits, after))
        }
        None => {
            rooms::scan_after(tx, tenant, after, |r| Ok(page.offer(r.id.as_u128(), doc_of(&r)?)))?;
            match filter {
                None => Some(counters::get(tx, tenant, counters::GROUPS)?),
                Some(_) => None,
            }
        }
    };
    Ok(Ok(page.respond(total)))
}

/// The rooms an index lookup finds for `filter` (`externalId eq`, `members[value eq …]`), or
/// None when the filter needs a scan.
fn group_candidates(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&Filter>,
) -> store::Result<Option<Vec<Room>>> {
    Ok(match (filter.and_then(filter::indexed_equality), filter.and_then(member_equality)) {
        (Some((filter::IndexedAttr::ExternalId, x)), _) => {
            Some(rooms::find(tx, tenant, &rooms::external_id_key(x))?.into_iter().collect())
        }
        (_, Some(user)) => match Uuid::parse_str(user) {
            Ok(user) => Some(
                rooms::rooms_of(tx, tenant, user)?
                    .into_iter()
                    .map(|id| rooms::get(tx, tenant, id))
                    .collect::<store::Result<_>>()?,
            ),
            Err(_) => Some(Vec::new()),
        },
        _ => None,
    })
}

/// Whether a group list may run: an index lookup always may; a scan only over at most `limit`
/// rooms.
fn within_budget(
    tx: &impl Tx,
    tenant: Uuid,
    params: &ListParams,
    limit: u64,
) -> store::Result<Result<(), ApiError>> {
    let f = params.filter.as_ref();
    let indexed = f
        .and_then(filter::indexed_equality)
        .is_some_and(|(a, _)| a == filter::IndexedAttr::ExternalId)
        || f.and_then(member_equality).is_some();
    if indexed {
        return Ok(Ok(()));
    }
    Ok(params.within_budget(counters::get(tx, tenant, counters::ROOMS)?, limit, "rooms"))
}

/// Every group matching `filter` (all without one), in creation order, into `hits`. Member
/// lists are read only if the filter or the answer needs them; `externalId eq` and
/// `members[value eq …]` are index lookups.
fn matching(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&Filter>,
    urls: &Urls,
    with_members: bool,
    hits: &mut Hits<'_>,
) -> store::Result<()> {
    let filter_reads_members = filter.is_some_and(|f| filter::mentions(f, "members"));
    let candidates = group_candidates(tx, tenant, filter)?;
    let mut consider = |r: Room| -> store::Result<bool> {
        if r.mapped {
            let doc = render(tx, tenant, &r, urls, filter_reads_members)?;
            if filter.is_none_or(|f| filter::matches(f, &doc)) {
                hits.push(if with_members && !filter_reads_members {
                    render(tx, tenant, &r, urls, true)?
                } else {
                    doc
                });
            }
        }
        Ok(true)
    };
    match candidates {
        Some(list) => {
            for r in list {
                consider(r)?;
            }
        }
        None => rooms::scan(tx, tenant, 0, consider)?,
    }
    Ok(())
}

/// `POST /.search` at the root: Users and Groups the key may read, Users first.
pub async fn search_everything(ctx: &Ctx<'_>, body: Incoming) -> Result<HttpResponse, ApiError> {
    let request: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    let params = ListParams::from_search(&request)?;
    let scopes = ctx.caller.key.scopes;
    let (read_users, read_groups) =
        (scopes.contains(Scope::ScimUsersRead), scopes.contains(Scope::ScimGroupsRead));
    let (tenant, urls, limit) = (ctx.tenant, urls(ctx), ctx.state.settings.scan_limit);
    let answer = ctx
        .store()
        .read(move |tx| {
            if read_users && let Err(e) = super::users::within_budget(tx, tenant, &params, limit)? {
                return Ok(Err(e));
            }
            if read_groups && let Err(e) = within_budget(tx, tenant, &params, limit)? {
                return Ok(Err(e));
            }
            let mut hits = Hits::new(&params);
            let filter = params.filter.as_ref();
            if read_users {
                super::users::matching(tx, tenant, filter, &urls.users, &mut hits)?;
            }
            if read_groups {
                matching(tx, tenant, filter, &urls, shows_members(&params), &mut hits)?;
            }
            Ok(Ok(hits.respond()))
        })
        .await??;
    Ok(response::json_in_style(StatusCode::OK, &answer, Style::Scim))
}

pub async fn get(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(ctx)?;
    let (tenant, raw, urls) = (ctx.tenant, path_id(raw), urls(ctx));
    let (room, doc) = ctx
        .store()
        .read(move |tx| {
            let r = resolve(tx, tenant, &raw)?;
            let mut doc = render(tx, tenant, &r, &urls, shows_members(&params))?;
            super::list::project(&mut doc, &params.attributes, &params.excluded);
            Ok((r, doc))
        })
        .await?;
    Ok(written(StatusCode::OK, Some(doc), &room, &self::urls(ctx)).into_response())
}

/// What a Group document says: displayName, externalId and member ids.
struct GroupInput {
    display_name: String,
    external_id: Option<String>,
    members: Option<Vec<Uuid>>,
}

fn read_group(doc: &Value) -> Result<GroupInput, ApiError> {
    if !doc.is_object() {
        return Err(ApiError::bad_request("a Group must be a JSON object"));
    }
    let display_name = match field(doc, "displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(ApiError::bad_request("displayName is required")),
    };
    let external_id = match field(doc, "externalId") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => return Err(ApiError::bad_request("externalId must be a string")),
    };
    let members = match field(doc, "members") {
        None | Some(Value::Null) => None,
        Some(v) => Some(member_ids(v)?),
    };
    Ok(GroupInput { display_name, external_id, members })
}

/// Member references: `[{"value": id}]`, one `{"value": id}`, or bare id strings.
fn member_ids(v: &Value) -> Result<Vec<Uuid>, ApiError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut ids = Vec::with_capacity(items.len());
    let mut unknown = Vec::new();
    for item in items {
        let raw = match item {
            Value::String(s) => s.as_str(),
            Value::Object(_) => field(item, "value")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("a member needs a \"value\""))?,
            _ => return Err(ApiError::bad_request("members must be objects with a \"value\"")),
        };
        match Uuid::parse_str(raw.trim()) {
            Ok(id) => ids.push(id),
            Err(_) => unknown.push(raw.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!("unknown users: {}", unknown.join(", "))));
    }
    Ok(ids)
}

/// Creates a group: a new room, or the mapping of an existing unmapped room of that name.
pub async fn create(ctx: &Ctx<'_>, body: Incoming) -> Result<HttpResponse, ApiError> {
    let doc: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    Ok(create_doc(ctx, doc).await?.into_response())
}

pub async fn create_doc(ctx: &Ctx<'_>, doc: Value) -> Result<Written, ApiError> {
    let input = read_group(&doc)?;
    let (tenant, now, fresh_id, u) = (ctx.tenant, now_ms(), Uuid::now_v7(), urls(ctx));
    let (room, doc) = ctx
        .store()
        .write(move |txn| {
            let mapping = rooms::GroupMapping {
                display_name: &input.display_name,
                external_id: input.external_id.as_deref(),
            };
            let room = rooms::map_or_create_group(txn, tenant, &mapping, fresh_id, now)?;
            let members = input.members.as_deref().unwrap_or_default();
            rooms::add_members(txn, tenant, room.id, members, None, Eligible::AnyUser, now)?;
            let room = rooms::get(txn, tenant, room.id)?;
            let doc = render(txn, tenant, &room, &u, true)?;
            Ok((room, doc))
        })
        .await?;
    Ok(written(StatusCode::CREATED, Some(doc), &room, &urls(ctx)))
}

pub async fn replace(ctx: &Ctx<'_>, raw: &str, body: Incoming) -> Result<HttpResponse, ApiError> {
    let doc: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    Ok(replace_doc(ctx, &path_id(raw), doc, ctx.if_match()?).await?.into_response())
}

/// `id` is decoded: a group id or an externalId.
pub async fn replace_doc(
    ctx: &Ctx<'_>,
    id: &str,
    doc: Value,
    if_match: Option<u64>,
) -> Result<Written, ApiError> {
    let input = read_group(&doc)?;
    let (tenant, raw, now, u) = (ctx.tenant, id.to_owned(), now_ms(), urls(ctx));
    let (room, doc) = ctx
        .store()
        .write(move |txn| {
            let current = resolve(txn, tenant, &raw)?;
            store::check_version(if_match, current.version)?;
            let mut next = current.clone();
            next.display_name = input.display_name.clone();
            next.external_id = input.external_id.clone();
            rooms::update(txn, tenant, next, None, now)?;
            let wanted: HashMap<Uuid, Option<bool>> =
                input.members.iter().flatten().map(|&id| (id, None)).collect();
            rooms::sync_members(txn, tenant, current.id, &wanted, Eligible::AnyUser, now)?;
            let room = rooms::get(txn, tenant, current.id)?;
            Ok((room.clone(), render(txn, tenant, &room, &u, true)?))
        })
        .await?;
    Ok(written(StatusCode::OK, Some(doc), &room, &urls(ctx)))
}

pub async fn patch(ctx: &Ctx<'_>, raw: &str, body: Incoming) -> Result<HttpResponse, ApiError> {
    let request: Value = body::json(&ctx.parts.headers, body, ctx.body_limit()).await?;
    let params = ListParams::from_query(ctx)?;
    Ok(patch_doc(ctx, &path_id(raw), request, ctx.if_match()?, &params).await?.into_response())
}

/// Answers 204, or 200 with the group when `params` asks for attributes.
pub async fn patch_doc(
    ctx: &Ctx<'_>,
    id: &str,
    request: Value,
    if_match: Option<u64>,
    params: &ListParams,
) -> Result<Written, ApiError> {
    let ops = patch::parse_request(&request)?;
    // Check the shapes before queueing, so the writer only meets well-formed operations.
    let changes = coalesce(ops.iter().map(change_of).collect::<Result<Vec<_>, _>>()?);
    let (tenant, raw, now) = (ctx.tenant, id.to_owned(), now_ms());
    let room = ctx
        .store()
        .write(move |txn| {
            let current = resolve(txn, tenant, &raw)?;
            store::check_version(if_match, current.version)?;
            for change in &changes {
                apply_change(txn, tenant, current.id, change, now)?;
            }
            rooms::get(txn, tenant, current.id)
        })
        .await?;
    if params.attributes.is_empty() {
        return Ok(written(StatusCode::NO_CONTENT, None, &room, &urls(ctx)));
    }
    let (tenant, u, id) = (ctx.tenant, urls(ctx), room.id);
    let (attributes, excluded, with_members) =
        (params.attributes.clone(), params.excluded.clone(), shows_members(params));
    let (room, doc) = ctx
        .store()
        .read(move |tx| {
            let room = rooms::get(tx, tenant, id)?;
            let mut doc = render(tx, tenant, &room, &u, with_members)?;
            super::list::project(&mut doc, &attributes, &excluded);
            Ok((room, doc))
        })
        .await?;
    Ok(written(StatusCode::OK, Some(doc), &room, &urls(ctx)))
}

/// One effect of a Group PATCH operation.
#[derive(Clone, Debug)]
enum Change {
    AddMembers(Vec<Uuid>),
    RemoveMembers(Vec<Uuid>),
    RemoveAllMembers,
    ReplaceMembers(Vec<Uuid>),
    DisplayName(String),
    ExternalId(Option<String>),
}

/// The operations' effects with neighbours of one kind joined (Entra sends one operation per
/// member): 200 members added move the group's version by one, whatever the request's shape.
fn coalesce(per_operation: Vec<Vec<Change>>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for change in per_operation.into_iter().flatten() {
        match (out.last_mut(), change) {
            (Some(Change::AddMembers(ids)), Change::AddMembers(more))
            | (Some(Change::RemoveMembers(ids)), Change::RemoveMembers(more)) => ids.extend(more),
            (_, change) => out.push(change),
        }
    }
    out
}

fn change_of(op: &Operation) -> Result<Vec<Change>, ApiError> {
    let Some(path) = &op.path else {
        // No path: the value object names attributes.
        let Some(Value::Object(values)) = &op.value else {
            return Err(ApiError::bad_request("without a path, the value must be an object"));
        };
        let mut out = Vec::new();
        for (key, value) in values {
            let single = Operation {
                kind: op.kind,
                path: Some(patch::parse_path(key)?),
                value: Some(value.clone()),
            };
            out.extend(change_of(&single)?);
        }
        return Ok(out);
    };
    let name = path.attr.name.to_ascii_lowercase();
    match (name.as_str(), &path.filter, op.kind) {
        ("members", None, Kind::Add) => {
            Ok(vec![Change::AddMembers(member_ids(op.value.as_ref().unwrap_or(&Value::Null))?)])
        }
        ("members", None, Kind::Replace) => {
            Ok(vec![Change::ReplaceMembers(member_ids(op.value.as_ref().unwrap_or(&json!([])))?)])
        }
        ("members", None, Kind::Remove) => match &op.value {
            // Entra: remove the listed members only.
            Some(v) => Ok(vec![Change::RemoveMembers(member_ids(v)?)]),
            None => Ok(vec![Change::RemoveAllMembers]),
        },
        ("members", Some(f), Kind::Remove) => Ok(vec![Change::RemoveMembers(value_eq_ids(f)?)]),
        ("members", Some(_), _) => Err(ApiError::BadRequest {
            detail: "members[…] paths are supported for remove".into(),
            scim_type: "invalidPath",
        }),
        ("displayname", None, Kind::Add | Kind::Replace) => match &op.value {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Ok(vec![Change::DisplayName(s.trim().to_owned())])
            }
            _ => Err(ApiError::bad_request("displayName must be a non-empty string")),
        },
        ("displayname", None, Kind::Remove) => Err(ApiError::BadRequest {
            detail: "displayName is required and cannot be removed".into(),
            scim_type: "mutability",
        }),
        ("externalid", None, Kind::Add | Kind::Replace) => match &op.value {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Ok(vec![Change::ExternalId(Some(s.trim().to_owned()))])
            }
            Some(Value::Null) => Ok(vec![Change::ExternalId(None)]),
            _ => Err(ApiError::bad_request("externalId must be a string")),
        },
        ("externalid", None, Kind::Remove) => Ok(vec![Change::ExternalId(None)]),
        // id, schemas, meta and unknown attributes: ignored, as for Users.
        _ => Ok(Vec::new()),
    }
}

/// The ids in `value eq "a" or value eq "b"`.
fn value_eq_ids(f: &Filter) -> Result<Vec<Uuid>, ApiError> {
    match f {
        Filter::Compare(p, Op::Eq, CompValue::Str(id)) if p.name.eq_ignore_ascii_case("value") => {
            member_ids(&Value::String(id.clone()))
        }
        Filter::Or(a, b) => Ok([value_eq_ids(a)?, value_eq_ids(b)?].concat()),
        _ => Err(ApiError::BadRequest {
            detail: "member filters must be value eq \"id\" (or several joined by or)".into(),
            scim_type: "invalidFilter",
        }),
    }
}

fn apply_change(
    txn: &store::WriteTxn,
    tenant: Uuid,
    room: Uuid,
    change: &Change,
    now: i64,
) -> store::Result<()> {
    match change {
        Change::AddMembers(ids) => {
            rooms::add_members(txn, tenant, room, ids, None, Eligible::AnyUser, now)?;
        }
        Change::RemoveMembers(ids) => {
            rooms::remove_members(txn, tenant, room, ids, now)?;
        }
        Change::RemoveAllMembers => {
            rooms::sync_members(txn, tenant, room, &HashMap::new(), Eligible::AnyUser, now)?;
        }
        Change::ReplaceMembers(ids) => {
            let wanted: HashMap<Uuid, Option<bool>> = ids.iter().map(|&id| (id, None)).collect();
            rooms::sync_members(txn, tenant, room, &wanted, Eligible::AnyUser, now)?;
        }
        Change::DisplayName(name) => {
            let mut next = rooms::get(txn, tenant, room)?;
            next.display_name = name.clone();
            rooms::update(txn, tenant, next, None, now)?;
        }
        Change::ExternalId(x) => {
            let mut next = rooms::get(txn, tenant, room)?;
            next.external_id = x.clone();
            rooms::update(txn, tenant, next, None, now)?;
        }
    }
    Ok(())
}

/// Removes the mapping only: the room and its members stay.
pub async fn delete(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    Ok(delete_id(ctx, &path_id(raw), ctx.if_match()?).await?.into_response())
}

pub async fn delete_id(
    ctx: &Ctx<'_>,
    id: &str,
    if_match: Option<u64>,
) -> Result<Written, ApiError> {
    let (tenant, raw, now) = (ctx.tenant, id.to_owned(), now_ms());
    let room = ctx
        .store()
        .write(move |txn| {
            let current = resolve(txn, tenant, &raw)?;
            rooms::unmap(txn, tenant, current.id, if_match, now)
        })
        .await?;
    Ok(Written {
        status: StatusCode::NO_CONTENT,
        body: None,
        location: Some(format!("{}/{}", urls(ctx).groups, room.id)),
        etag: None,
    })
}
