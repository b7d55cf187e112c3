//! SCIM `/Groups`: rooms with a group mapping. Members are rooms' memberships; SCIM adds them
//! with tx_permission false and never changes an existing member's permission.
//!
//! Member lists can be large, so nothing here reads one unless the answer shows it: lists with
//! `excludedAttributes=members` read only room records, and PATCH works on membership rows
//! directly and answers 204 (unless the client asks for `attributes`).

mod changes;
mod resource;

use std::collections::HashMap;

use hyper::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use super::filter::{self, CompValue, Filter, Op};
use super::list::{CursorPage, Hits, ListParams, Search};
use super::patch::PatchRequest;
use super::strict::{self, Resource};
use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{IfMatch, Json, Ref};
use crate::http::response::Reply;
use crate::store::rooms::{self, Eligible, Room};
use crate::store::{self, Tx, counters};
use crate::time::now_ms;
use changes::{apply_change, change_of, coalesce};
pub(crate) use resource::{Urls, shows_members, urls};
use resource::{read_group, render, resolve, written};

pub async fn list(ctx: &Ctx<'_>, params: ListParams) -> Result<Reply, ApiError> {
    run_list(ctx, params).await
}

pub async fn search(ctx: &Ctx<'_>, Search(params): Search) -> Result<Reply, ApiError> {
    run_list(ctx, params).await
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
async fn run_list(ctx: &Ctx<'_>, params: ListParams) -> Result<Reply, ApiError> {
    if let Some(f) = &params.filter {
        strict::enforce(ctx, strict::of_filter(f, Resource::Group))?;
    }
    let (tenant, urls, limit) = (ctx.tenant, urls(ctx), ctx.state.settings.scan_limit);
    let answer = ctx
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
                return Ok(params.respond(counters::get(tx, tenant, counters::GROUPS)?, page));
            }
            within_budget(tx, tenant, &params, limit)?;
            let filter = params.filter.as_ref();
            Hits::gather(&params, |hits| matching(tx, tenant, filter, &urls, with_members, hits))
        })
        .await?;
    Ok(Reply::json(StatusCode::OK, &answer))
}
/// A cursor walk's page of groups (RFC 9865): after the cursor, in creation order.
fn cursor_page(
    tx: &impl Tx,
    tenant: Uuid,
    params: &ListParams,
    urls: &Urls,
    with_members: bool,
    limit: u64,
) -> Result<Value, ApiError> {
    let (after, fingerprint) = params.cursor_start("scim groups")?;
    let filter = params.filter.as_ref();
    let doc_of = |r: &Room| matching_doc(tx, tenant, r.clone(), filter, urls, with_members);
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
    Ok(page.respond(total))
}
/// The rooms an index lookup finds for `filter`, or None when the filter needs a scan. Under
/// `and` the narrowest lookup wins: `id eq` (Entra's membership check pairs it with
/// `members[value eq …]`), then `externalId eq`, `displayName eq`, then the user's rooms.
fn group_candidates(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&Filter>,
) -> store::Result<Option<Vec<Room>>> {
    let Some(lookup) = filter.and_then(group_lookup) else { return Ok(None) };
    let found = |r: store::Result<Room>| match r {
        Ok(r) => Ok(vec![r]),
        Err(store::Error::Refused(store::Refusal::NotFound(_))) => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    Ok(Some(match lookup {
        GroupLookup::Id(id) => match Uuid::parse_str(id) {
            Ok(id) => found(rooms::get(tx, tenant, id))?,
            Err(_) => Vec::new(),
        },
        GroupLookup::ExternalId(x) => {
            rooms::find(tx, tenant, &rooms::external_id_key(x))?.into_iter().collect()
        }
        GroupLookup::DisplayName(name) => rooms::with_display_name(tx, tenant, name)?,
        GroupLookup::Member(user) => match Uuid::parse_str(user) {
            Ok(user) => rooms::rooms_of(tx, tenant, user)?
                .into_iter()
                .map(|id| rooms::get(tx, tenant, id))
                .collect::<store::Result<_>>()?,
            Err(_) => Vec::new(),
        },
    }))
}

/// An index a group filter can be answered from, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GroupLookup<'a> {
    Id(&'a str),
    ExternalId(&'a str),
    DisplayName(&'a str),
    Member(&'a str),
}

fn group_lookup(f: &Filter) -> Option<GroupLookup<'_>> {
    if let Some(user) = member_equality(f) {
        return Some(GroupLookup::Member(user));
    }
    match f {
        Filter::And(a, b) => match (group_lookup(a), group_lookup(b)) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
        Filter::Compare(path, Op::Eq, CompValue::Str(v))
            if path.sub.is_none() && path.uri.as_deref().is_none_or(filter::is_core_urn) =>
        {
            match path.name.to_ascii_lowercase().as_str() {
                "id" => Some(GroupLookup::Id(v)),
                "externalid" => Some(GroupLookup::ExternalId(v)),
                "displayname" => Some(GroupLookup::DisplayName(v)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether a group list may run: an index lookup always may; a scan only over at most `limit`
/// rooms.
pub(crate) fn within_budget(
    tx: &impl Tx,
    tenant: Uuid,
    params: &ListParams,
    limit: u64,
) -> Result<(), ApiError> {
    if params.filter.as_ref().and_then(group_lookup).is_some() {
        return Ok(());
    }
    params.within_budget(counters::get(tx, tenant, counters::ROOMS)?, limit, "rooms")
}

/// A mapped room as a filter sees it. `members[value eq "U"]` is answered from the membership
/// row; only another condition on members reads the member list (once, when first needed).
struct Candidate<'a> {
    room: Room,
    doc: Value,
    with_members: Option<Value>,
    urls: &'a Urls,
}

impl<'a> Candidate<'a> {
    fn new(tx: &impl Tx, tenant: Uuid, room: Room, urls: &'a Urls) -> store::Result<Self> {
        let doc = render(tx, tenant, &room, urls, false)?;
        Ok(Candidate { room, doc, with_members: None, urls })
    }

    fn matches(&mut self, tx: &impl Tx, tenant: Uuid, f: &Filter) -> store::Result<bool> {
        Ok(match f {
            Filter::And(a, b) => self.matches(tx, tenant, a)? && self.matches(tx, tenant, b)?,
            Filter::Or(a, b) => self.matches(tx, tenant, a)? || self.matches(tx, tenant, b)?,
            Filter::Not(inner) => !self.matches(tx, tenant, inner)?,
            f => match member_equality(f) {
                Some(user) => is_listed_member(tx, tenant, self.room.id, user)?,
                None if filter::mentions(f, "members") => {
                    filter::matches(f, self.full(tx, tenant)?)
                }
                None => filter::matches(f, &self.doc),
            },
        })
    }

    fn full(&mut self, tx: &impl Tx, tenant: Uuid) -> store::Result<&Value> {
        let doc = match self.with_members.take() {
            Some(doc) => doc,
            None => render(tx, tenant, &self.room, self.urls, true)?,
        };
        Ok(self.with_members.insert(doc))
    }

    /// The group's representation for the answer.
    fn into_doc(mut self, tx: &impl Tx, tenant: Uuid, with_members: bool) -> store::Result<Value> {
        if !with_members {
            return Ok(self.doc);
        }
        self.full(tx, tenant)?;
        Ok(self.with_members.unwrap_or(self.doc))
    }
}

/// Whether the member list `render` shows would hold `user`: a membership row of a user that
/// exists.
fn is_listed_member(tx: &impl Tx, tenant: Uuid, room: Uuid, user: &str) -> store::Result<bool> {
    let Ok(user) = Uuid::parse_str(user) else { return Ok(false) };
    if rooms::membership(tx, tenant, room, user)?.is_none() {
        return Ok(false);
    }
    match crate::store::users::get(tx, tenant, user) {
        Ok(_) => Ok(true),
        Err(store::Error::Refused(store::Refusal::NotFound(_))) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The answer's form of `room` if it is a mapped group matching `filter`.
fn matching_doc(
    tx: &impl Tx,
    tenant: Uuid,
    room: Room,
    filter: Option<&Filter>,
    urls: &Urls,
    with_members: bool,
) -> store::Result<Option<Value>> {
    if !room.mapped {
        return Ok(None);
    }
    let mut candidate = Candidate::new(tx, tenant, room, urls)?;
    if let Some(f) = filter
        && !candidate.matches(tx, tenant, f)?
    {
        return Ok(None);
    }
    candidate.into_doc(tx, tenant, with_members).map(Some)
}

/// Every group matching `filter` (all without one), in creation order, into `hits`. Member
/// lists are read only if the answer shows them or a filter condition other than
/// `members[value eq …]` needs them; `id`, `externalId`, `displayName` and member equality are
/// index lookups.
pub(crate) fn matching(
    tx: &impl Tx,
    tenant: Uuid,
    filter: Option<&Filter>,
    urls: &Urls,
    with_members: bool,
    hits: &mut Hits<'_>,
) -> store::Result<()> {
    let mut consider = |r: Room| -> store::Result<bool> {
        if let Some(doc) = matching_doc(tx, tenant, r, filter, urls, with_members)? {
            hits.push(doc);
        }
        Ok(true)
    };
    match group_candidates(tx, tenant, filter)? {
        Some(list) => {
            for r in list {
                consider(r)?;
            }
        }
        None => rooms::scan(tx, tenant, 0, consider)?,
    }
    Ok(())
}

pub async fn get(ctx: &Ctx<'_>, (Ref(raw), params): (Ref, ListParams)) -> Result<Reply, ApiError> {
    let (tenant, urls) = (ctx.tenant, urls(ctx));
    let (room, doc, urls) = ctx
        .read(move |tx| -> crate::store::Result<_> {
            let r = resolve(tx, tenant, &raw)?;
            let mut doc = render(tx, tenant, &r, &urls, shows_members(&params))?;
            super::list::project(&mut doc, &params.attributes, &params.excluded);
            Ok((r, doc, urls))
        })
        .await?;
    Ok(written(StatusCode::OK, Some(&doc), &room, &urls))
}

/// Creates a group: a new room, or the mapping of an existing unmapped room of that name.
pub async fn create(ctx: &Ctx<'_>, Json(doc): Json<Value>) -> Result<Reply, ApiError> {
    strict::enforce(ctx, strict::of_document(&doc, Resource::Group))?;
    let input = read_group(&doc)?;
    ctx.note_name(&input.display_name);
    let (tenant, now, fresh_id, u) = (ctx.tenant, now_ms(), Uuid::now_v7(), urls(ctx));
    let (room, doc) = ctx
        .write(move |txn| -> crate::store::Result<_> {
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
    Ok(written(StatusCode::CREATED, Some(&doc), &room, &urls(ctx)))
}

/// The id is a group id or an externalId.
pub async fn replace(
    ctx: &Ctx<'_>,
    (Ref(raw), IfMatch(if_match), Json(doc)): (Ref, IfMatch, Json<Value>),
) -> Result<Reply, ApiError> {
    strict::enforce(ctx, strict::of_document(&doc, Resource::Group))?;
    let input = read_group(&doc)?;
    let (tenant, now, u) = (ctx.tenant, now_ms(), urls(ctx));
    let (room, doc) = ctx
        .write(move |txn| -> crate::store::Result<_> {
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
    Ok(written(StatusCode::OK, Some(&doc), &room, &urls(ctx)))
}

/// Answers 204, or 200 with the group when the query asks for `attributes`.
pub async fn patch(
    ctx: &Ctx<'_>,
    (Ref(raw), IfMatch(if_match), PatchRequest(ops, body), params): (
        Ref,
        IfMatch,
        PatchRequest,
        ListParams,
    ),
) -> Result<Reply, ApiError> {
    strict::enforce(ctx, strict::of_patch(&body, Resource::Group))?;
    // Check the shapes before queueing, so the writer only meets well-formed operations.
    let changes = coalesce(ops.iter().map(change_of).collect::<Result<Vec<_>, _>>()?);
    let (tenant, now) = (ctx.tenant, now_ms());
    let room = ctx
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
    let (u, id) = (urls(ctx), room.id);
    let with_members = shows_members(&params);
    let (room, doc) = ctx
        .read(move |tx| -> crate::store::Result<_> {
            let room = rooms::get(tx, tenant, id)?;
            let mut doc = render(tx, tenant, &room, &u, with_members)?;
            super::list::project(&mut doc, &params.attributes, &params.excluded);
            Ok((room, doc))
        })
        .await?;
    Ok(written(StatusCode::OK, Some(&doc), &room, &urls(ctx)))
}

/// Removes the mapping only: the room and its members stay.
pub async fn delete(ctx: &Ctx<'_>, request: (Ref, IfMatch)) -> Result<Reply, ApiError> {
    let collection = urls(ctx).groups;
    super::delete(ctx, request, collection, |txn, tenant, raw, if_match, now| {
        rooms::unmap(txn, tenant, resolve(txn, tenant, raw)?.id, if_match, now).map(|r| r.id)
    })
    .await
}
