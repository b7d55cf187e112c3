//! Rooms (channels) and their members. Membership is stored both ways, room→users and
//! user→rooms, so either side is one range read; `member_count` lives in the room record and
//! changes in the same transaction as the membership. A room may carry a SCIM group mapping
//! (externalId + displayName); only mapped rooms are SCIM Groups.

use std::collections::{BTreeMap, HashMap};

use redb::ReadableTable;
use uuid::Uuid;

use super::error::{Error, Refusal, Result};
use super::record::{Indexed, check_version};
use super::records::display_name_prefix;
pub use super::records::{Room, SyncCounts, external_id_key, name_key};
use super::tables::{ROOM_INDEX, ROOM_MEMBERS, ROOMS, USER_ROOMS};
use super::txn::{Tx, WriteTxn};
use super::{codec, counters, events, users};

/// The rooms whose display name is `display_name`, in any case (SCIM's `displayName eq`). A
/// name holding NUL may bring rooms with longer names along: callers still apply their filter.
pub fn with_display_name(tx: &impl Tx, tenant: Uuid, display_name: &str) -> Result<Vec<Room>> {
    let prefix = display_name_prefix(display_name);
    let end = format!("{prefix}\u{10FFFF}");
    let t = tenant.as_u128();
    let mut ids = Vec::new();
    for row in tx.table(ROOM_INDEX)?.range((t, prefix.as_str())..(t, end.as_str()))? {
        ids.push(Uuid::from_u128(row?.1.value()));
    }
    ids.into_iter().map(|id| get(tx, tenant, id)).collect()
}

/// What adding a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    Updated,
    Unchanged,
}

pub fn get(tx: &impl Tx, tenant: Uuid, id: Uuid) -> Result<Room> {
    let table = tx.table(ROOMS)?;
    let bytes = table.get((tenant.as_u128(), id.as_u128()))?.ok_or(Error::not_found("room"))?;
    codec::decode(bytes.value())
}

pub fn find(tx: &impl Tx, tenant: Uuid, index_key: &str) -> Result<Option<Room>> {
    let id = tx.table(ROOM_INDEX)?.get((tenant.as_u128(), index_key))?.map(|v| v.value());
    match id {
        Some(id) => get(tx, tenant, Uuid::from_u128(id)).map(Some),
        None => Ok(None),
    }
}

/// Visits rooms in creation order from the `skip`th on, until `visit` says stop.
pub fn scan(
    tx: &impl Tx,
    tenant: Uuid,
    skip: u64,
    mut visit: impl FnMut(Room) -> Result<bool>,
) -> Result<()> {
    let table = tx.table(ROOMS)?;
    let t = tenant.as_u128();
    for row in
        table.range((t, 0)..=(t, u128::MAX))?.skip(usize::try_from(skip).unwrap_or(usize::MAX))
    {
        if !visit(codec::decode(row?.1.value())?)? {
            break;
        }
    }
    Ok(())
}

pub fn create(txn: &WriteTxn, tenant: Uuid, room: &Room) -> Result<()> {
    if room.name.trim().is_empty() {
        return Err(Error::invalid("a room needs a name"));
    }
    super::record::claim_unique(txn, ROOM_INDEX, tenant, room, None)?;
    counters::add(txn, tenant, counters::ROOMS, 1)?;
    if room.mapped {
        counters::add(txn, tenant, counters::GROUPS, 1)?;
    }
    put(txn, tenant, room)?;
    let set = room.scim_attributes();
    events::room(txn, tenant, "room.created", (room, set), None, room.created_at)
}

/// Replaces a room's own fields (name, display name, mapping); members are untouched.
pub fn update(
    txn: &WriteTxn,
    tenant: Uuid,
    mut next: Room,
    if_match: Option<u64>,
    now: i64,
) -> Result<Room> {
    let prev = get(txn, tenant, next.id)?;
    check_version(if_match, prev.version)?;
    if next.name.trim().is_empty() {
        return Err(Error::invalid("a room needs a name"));
    }
    super::record::claim_unique(txn, ROOM_INDEX, tenant, &next, Some(&prev))?;
    match (prev.mapped, next.mapped) {
        (false, true) => {
            counters::add(txn, tenant, counters::GROUPS, 1)?;
        }
        (true, false) => {
            counters::add(txn, tenant, counters::GROUPS, -1)?;
        }
        _ => {}
    }
    next.member_count = prev.member_count;
    next.created_at = prev.created_at;
    if next != prev {
        next.version = prev.version + 1;
        next.updated_at = now;
    }
    put(txn, tenant, &next)?;
    let mapping_changed = next.mapped != prev.mapped
        || next.external_id != prev.external_id
        || next.display_name != prev.display_name;
    if prev.mapped && !next.mapped {
        events::room(txn, tenant, "room.mapping_removed", (&next, Vec::new()), None, now)?;
    } else if next.mapped && mapping_changed {
        let mut set = Vec::new();
        if next.display_name != prev.display_name || !prev.mapped {
            set.push("displayName".to_owned());
        }
        if next.external_id != prev.external_id {
            set.push("externalId".to_owned());
        }
        events::room(txn, tenant, "room.mapping_updated", (&next, set), None, now)?;
    }
    Ok(next)
}

/// Deletes a room and every membership in it (the admin's `room delete`): one
/// `room.member_removed` per member, then `room.deleted`, all at the room's last version.
pub fn delete(txn: &WriteTxn, tenant: Uuid, id: Uuid, now: i64) -> Result<Room> {
    let mut room = get(txn, tenant, id)?;
    let members: Vec<u128> = member_ids(txn, tenant, id)?.into_keys().collect();
    room.version += 1;
    room.updated_at = now;
    room.member_count = 0;
    {
        let mut by_room = txn.open_table(ROOM_MEMBERS)?;
        let mut by_user = txn.open_table(USER_ROOMS)?;
        let (t, r) = (tenant.as_u128(), id.as_u128());
        for &u in &members {
            by_room.remove((t, r, u))?;
            by_user.remove((t, u, r))?;
        }
    }
    for &u in &members {
        events::member(txn, tenant, "room.member_removed", &room, Uuid::from_u128(u), false, now)?;
    }
    let removed = members.len() as u64;
    let counts = SyncCounts { added: 0, updated: 0, removed };
    events::room(txn, tenant, "room.deleted", (&room, Vec::new()), Some(counts), now)?;
    {
        let mut index = txn.open_table(ROOM_INDEX)?;
        for (key, _) in room.index_keys() {
            index.remove((tenant.as_u128(), key.as_str()))?;
        }
    }
    txn.open_table(ROOMS)?.remove((tenant.as_u128(), id.as_u128()))?;
    counters::add(txn, tenant, counters::ROOMS, -1)?;
    if room.mapped {
        counters::add(txn, tenant, counters::GROUPS, -1)?;
    }
    Ok(room)
}

fn put(txn: &WriteTxn, tenant: Uuid, room: &Room) -> Result<()> {
    super::record::put_record(txn, ROOMS, (tenant, room.id), room)
}

/// A room's members with their transmit permission, in user-id (creation) order.
pub fn member_ids(tx: &impl Tx, tenant: Uuid, room: Uuid) -> Result<BTreeMap<u128, bool>> {
    let table = tx.table(ROOM_MEMBERS)?;
    let (t, r) = (tenant.as_u128(), room.as_u128());
    let mut out = BTreeMap::new();
    for row in table.range((t, r, 0)..=(t, r, u128::MAX))? {
        let (k, v) = row?;
        out.insert(k.value().2, v.value());
    }
    Ok(out)
}

/// Where a page of a room's members starts: after skipping some, or after a member (a cursor).
#[derive(Debug, Clone, Copy)]
pub enum From {
    Skip(u64),
    After(Option<u128>),
}

/// Up to `limit` of a room's members with their transmit permission, in user-id order.
pub fn members(
    tx: &impl Tx,
    tenant: Uuid,
    room: Uuid,
    from: From,
    limit: u64,
) -> Result<Vec<(Uuid, bool)>> {
    let table = tx.table(ROOM_MEMBERS)?;
    let (t, r) = (tenant.as_u128(), room.as_u128());
    let (start, skip) = match from {
        From::Skip(n) => (0, usize::try_from(n).unwrap_or(usize::MAX)),
        From::After(after) => match super::record::first_after(after) {
            Some(start) => (start, 0),
            None => return Ok(Vec::new()),
        },
    };
    let rows = table.range((t, r, start)..=(t, r, u128::MAX))?.skip(skip);
    let mut out = Vec::new();
    for row in rows.take(usize::try_from(limit).unwrap_or(usize::MAX)) {
        let (k, v) = row?;
        out.push((Uuid::from_u128(k.value().2), v.value()));
    }
    Ok(out)
}

/// Visits rooms in creation order after the room `after` (from the first when None).
pub fn scan_after(
    tx: &impl Tx,
    tenant: Uuid,
    after: Option<u128>,
    visit: impl FnMut(Room) -> Result<bool>,
) -> Result<()> {
    super::record::scan_after(tx, ROOMS, tenant, after, visit)
}

pub fn membership(tx: &impl Tx, tenant: Uuid, room: Uuid, user: Uuid) -> Result<Option<bool>> {
    Ok(tx
        .table(ROOM_MEMBERS)?
        .get((tenant.as_u128(), room.as_u128(), user.as_u128()))?
        .map(|v| v.value()))
}

/// The rooms a user is in.
pub fn rooms_of(tx: &impl Tx, tenant: Uuid, user: Uuid) -> Result<Vec<Uuid>> {
    let table = tx.table(USER_ROOMS)?;
    let (t, u) = (tenant.as_u128(), user.as_u128());
    let mut out = Vec::new();
    for row in table.range((t, u, 0)..=(t, u, u128::MAX))? {
        out.push(Uuid::from_u128(row?.0.value().2));
    }
    Ok(out)
}

/// Who may become a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eligible {
    /// Native API: active users only.
    Active,
    /// SCIM: any user of the tenant. IdPs push group membership whatever a user's status, and
    /// refusing one member would fail their whole push.
    AnyUser,
}

/// Refuses ids that are not (active, if so asked) users of the tenant, naming all of them.
pub(super) fn check_members(
    tx: &impl Tx,
    tenant: Uuid,
    ids: &[Uuid],
    eligible: Eligible,
) -> Result<()> {
    let mut bad = Vec::new();
    for &id in ids {
        match users::get(tx, tenant, id) {
            Ok(u) if u.active || eligible == Eligible::AnyUser => {}
            Ok(_) | Err(Error::Refused(Refusal::NotFound(_))) => bad.push(id.to_string()),
            Err(e) => return Err(e),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        let what = if eligible == Eligible::Active {
            "unknown or inactive users"
        } else {
            "unknown users"
        };
        Err(Error::invalid(format!("{what}: {}", bad.join(", "))))
    }
}

/// Adds (or updates) one membership. `tx_permission` None keeps an existing member's
/// permission and gives a new one `false` (what SCIM does).
pub fn add_member(
    txn: &WriteTxn,
    tenant: Uuid,
    room: Uuid,
    user: Uuid,
    tx_permission: Option<bool>,
    eligible: Eligible,
    now: i64,
) -> Result<Added> {
    let outcomes = add_members(txn, tenant, room, &[user], tx_permission, eligible, now)?;
    Ok(outcomes.first().map_or(Added::Unchanged, |(_, added)| *added))
}

/// Adds `users` as members in one change: one eligibility check, one room write and one version
/// bump for the lot, one event per member added or changed. `tx_permission` None leaves an
/// existing member's permission alone (a new one gets false).
pub fn add_members(
    txn: &WriteTxn,
    tenant: Uuid,
    room: Uuid,
    users: &[Uuid],
    tx_permission: Option<bool>,
    eligible: Eligible,
    now: i64,
) -> Result<Vec<(Uuid, Added)>> {
    let mut r = get(txn, tenant, room)?;
    check_members(txn, tenant, users, eligible)?;
    let mut outcomes = Vec::with_capacity(users.len());
    for &user in users {
        outcomes.push((user, set_membership(txn, tenant, room, user, tx_permission)?));
    }
    if outcomes.iter().all(|(_, added)| *added == Added::Unchanged) {
        return Ok(outcomes);
    }
    r.member_count += outcomes.iter().filter(|(_, added)| *added == Added::New).count() as u64;
    touch(txn, tenant, &mut r, now)?;
    for &(user, added) in &outcomes {
        let event = match added {
            Added::New => "room.member_added",
            Added::Updated => "room.member_updated",
            Added::Unchanged => continue,
        };
        let tx = membership(txn, tenant, room, user)?.unwrap_or(false);
        events::member(txn, tenant, event, &r, user, tx, now)?;
    }
    Ok(outcomes)
}

fn touch(txn: &WriteTxn, tenant: Uuid, room: &mut Room, now: i64) -> Result<()> {
    room.version += 1;
    room.updated_at = now;
    put(txn, tenant, room)
}

fn set_membership(
    txn: &WriteTxn,
    tenant: Uuid,
    room: Uuid,
    user: Uuid,
    tx_permission: Option<bool>,
) -> Result<Added> {
    let key = (tenant.as_u128(), room.as_u128(), user.as_u128());
    let mut by_room = txn.open_table(ROOM_MEMBERS)?;
    let existing = by_room.get(key)?.map(|v| v.value());
    let outcome = match (existing, tx_permission) {
        (None, tx) => {
            by_room.insert(key, tx.unwrap_or(false))?;
            txn.open_table(USER_ROOMS)?.insert((key.0, key.2, key.1), ())?;
            Added::New
        }
        (Some(old), Some(new)) if old != new => {
            by_room.insert(key, new)?;
            Added::Updated
        }
        (Some(_), _) => Added::Unchanged,
    };
    Ok(outcome)
}

/// Removes one membership; false if the user was not a member.
pub fn remove_member(
    txn: &WriteTxn,
    tenant: Uuid,
    room: Uuid,
    user: Uuid,
    now: i64,
) -> Result<bool> {
    Ok(remove_members(txn, tenant, room, &[user], now)? > 0)
}

/// Removes those of `users` who are members, in one change (one version bump); returns how
/// many were.
pub fn remove_members(
    txn: &WriteTxn,
    tenant: Uuid,
    room: Uuid,
    users: &[Uuid],
    now: i64,
) -> Result<u64> {
    let mut r = get(txn, tenant, room)?;
    let mut removed = Vec::new();
    for &user in users {
        if unset_membership(txn, tenant, room, user)? {
            removed.push(user);
        }
    }
    if removed.is_empty() {
        return Ok(0);
    }
    r.member_count = r.member_count.saturating_sub(removed.len() as u64);
    touch(txn, tenant, &mut r, now)?;
    for user in &removed {
        events::member(txn, tenant, "room.member_removed", &r, *user, false, now)?;
    }
    Ok(removed.len() as u64)
}

/// Removes the SCIM group mapping: the room stays, members and all, but is no Group any more.
pub fn unmap(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    if_match: Option<u64>,
    now: i64,
) -> Result<Room> {
    let mut next = get(txn, tenant, id)?;
    check_version(if_match, next.version)?;
    next.mapped = false;
    next.external_id = None;
    update(txn, tenant, next, None, now)
}

/// What a SCIM Group create names.
pub struct GroupMapping<'a> {
    pub display_name: &'a str,
    pub external_id: Option<&'a str>,
}

/// A new mapped room (a Group), or the mapping of an existing unmapped room of that name; a
/// mapped room of that name is a conflict. `fresh_id` names the room if one is created.
pub fn map_or_create_group(
    txn: &WriteTxn,
    tenant: Uuid,
    group: &GroupMapping<'_>,
    fresh_id: Uuid,
    now: i64,
) -> Result<Room> {
    let external_id = group.external_id.map(str::to_owned);
    match find(txn, tenant, &name_key(group.display_name))? {
        Some(existing) if existing.mapped => {
            let holder = Some(existing.id);
            Err(Refusal::Conflict { what: "group", attribute: "displayName", holder }.into())
        }
        Some(existing) => {
            let mut next = existing;
            next.mapped = true;
            next.display_name = group.display_name.to_owned();
            next.external_id = external_id;
            update(txn, tenant, next, None, now)
        }
        None => {
            let mut r = Room::new(fresh_id, group.display_name, now);
            r.mapped = true;
            r.external_id = external_id;
            create(txn, tenant, &r)?;
            Ok(r)
        }
    }
}

fn unset_membership(txn: &WriteTxn, tenant: Uuid, room: Uuid, user: Uuid) -> Result<bool> {
    let (t, r, u) = (tenant.as_u128(), room.as_u128(), user.as_u128());
    let removed = txn.open_table(ROOM_MEMBERS)?.remove((t, r, u))?.is_some();
    if removed {
        txn.open_table(USER_ROOMS)?.remove((t, u, r))?;
    }
    Ok(removed)
}

/// Makes the member list exactly `wanted` (user → tx_permission; None keeps an existing
/// member's permission). Every id must be an active user, or nothing changes.
pub fn sync_members(
    txn: &WriteTxn,
    tenant: Uuid,
    room: Uuid,
    wanted: &HashMap<Uuid, Option<bool>>,
    eligible: Eligible,
    now: i64,
) -> Result<SyncCounts> {
    let mut r = get(txn, tenant, room)?;
    let ids: Vec<Uuid> = wanted.keys().copied().collect();
    check_members(txn, tenant, &ids, eligible)?;
    let current = member_ids(txn, tenant, room)?;
    let mut counts = SyncCounts::default();
    for (&user, &tx) in wanted {
        match set_membership(txn, tenant, room, user, tx)? {
            Added::New => counts.added += 1,
            Added::Updated => counts.updated += 1,
            Added::Unchanged => {}
        }
    }
    for &user in current.keys() {
        let user = Uuid::from_u128(user);
        if !wanted.contains_key(&user) && unset_membership(txn, tenant, room, user)? {
            counts.removed += 1;
        }
    }
    r.member_count = (r.member_count + counts.added).saturating_sub(counts.removed);
    if counts != SyncCounts::default() {
        touch(txn, tenant, &mut r, now)?;
        let set = vec!["members".to_owned()];
        events::room(txn, tenant, "room.members_synced", (&r, set), Some(counts), now)?;
    }
    Ok(counts)
}

/// Recounts a room's members from the membership table (for checks and tests).
pub(super) fn recount(tx: &impl Tx, tenant: Uuid, room: Uuid) -> Result<u64> {
    Ok(member_ids(tx, tenant, room)?.len() as u64)
}
