//! Users and everything that must change with them in one transaction: the unique indexes
//! (userName and email case-insensitive, externalId exact), the seat counter and the
//! visible-user counter, the owner rule, and (later) room memberships.

use std::borrow::Cow;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::positions::Space;
use super::tables::{DELETED_USERS, USER_ATTRS, USER_INDEX, USERS};
use super::{
    Error, Indexed, Refusal, Result, Tx, WriteTxn, check_version, codec, counters, events,
    positions, tenants,
};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub admin: bool,
    pub member: bool,
    pub editor: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles { admin: false, member: true, editor: false }
    }
}

/// One of a user's email addresses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub value: String,
    /// `work`, `home`…, as the client named it.
    pub kind: Option<String>,
    pub primary: Option<bool>,
    pub display: Option<String>,
}

/// A user, typed: everything the store indexes and the APIs derive is a field, so no read has
/// to parse JSON for it. `extra` keeps what else a client sent to be shown back, opaque here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct User {
    pub id: Uuid,
    pub user_name: String,
    pub external_id: Option<String>,
    /// The primary email.
    pub email: Option<String>,
    /// `display_name` / `full_name` natively, `name.formatted` in SCIM.
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub roles: Roles,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped on every change; the ETag.
    pub version: u64,
    pub deleted_at: Option<i64>,
    /// Every email address (the primary one is also `email`).
    pub emails: Vec<Email>,
    /// A name to show that the client set apart from the name itself (SCIM's `displayName`).
    pub label: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
    /// The other attributes a client sent that are kept and shown back, as a JSON object; the
    /// store never reads it.
    pub extra: String,
}

/// A user's attributes by their SCIM names, each as text (None: not set), in one fixed order:
/// what the provisioning log compares and a SET's notice lists. Borrowed where the record holds
/// the text: this runs on the writer's thread for every change.
pub fn scim_values(u: &User) -> [(&'static str, Option<Cow<'_, str>>); 14] {
    fn text(v: &Option<String>) -> Option<Cow<'_, str>> {
        v.as_deref().map(Cow::Borrowed)
    }
    let r = &u.roles;
    let named = [(r.admin, "admin"), (r.member, "member"), (r.editor, "editor")];
    let roles = named.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
    [
        ("userName", Some(Cow::Borrowed(u.user_name.as_str()))),
        ("externalId", text(&u.external_id)),
        ("active", Some(Cow::Borrowed(if u.active { "true" } else { "false" }))),
        ("email", text(&u.email)),
        (
            "emails",
            (!u.emails.is_empty()).then(|| {
                let all: Vec<&str> = u.emails.iter().map(|e| e.value.as_str()).collect();
                Cow::Owned(all.join(", "))
            }),
        ),
        ("name.formatted", text(&u.display_name)),
        ("displayName", text(&u.label)),
        ("name.givenName", text(&u.given_name)),
        ("name.familyName", text(&u.family_name)),
        ("name.middleName", text(&u.middle_name)),
        ("name.honorificPrefix", text(&u.honorific_prefix)),
        ("name.honorificSuffix", text(&u.honorific_suffix)),
        ("roles", Some(Cow::Owned(roles))),
        (
            "other attributes",
            (u.extra != "{}" && !u.extra.is_empty()).then(|| Cow::Owned(cut(&u.extra))),
        ),
    ]
}

/// The SCIM names of the attributes `next` sets that `prev` did not have so (all it sets, for a
/// new user). `email` is the primary of `emails`, and `other attributes` the extension ones: a
/// SET names them `emails` and by their top-level names.
pub fn changed_attributes(prev: Option<&User>, next: &User) -> Vec<String> {
    let old = prev.map(scim_values);
    let mut out: Vec<String> = Vec::new();
    for (i, (name, value)) in scim_values(next).into_iter().enumerate() {
        let was = old.as_ref().and_then(|o| o.get(i)).and_then(|(_, v)| v.as_ref());
        if was == value.as_ref() || (prev.is_none() && value.is_none()) {
            continue;
        }
        match name {
            "email" => out.push("emails".to_owned()),
            "other attributes" => {
                let keys = |extra: &str| -> Vec<String> {
                    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(extra)
                    {
                        Ok(map) => map.into_iter().map(|(k, _)| k).collect(),
                        Err(_) => Vec::new(),
                    }
                };
                let mut names = keys(&next.extra);
                names.extend(prev.map(|p| keys(&p.extra)).unwrap_or_default());
                out.extend(names);
            }
            _ => out.push(name.to_owned()),
        }
    }
    if prev.is_none() {
        out.insert(0, "id".to_owned());
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A long value, cut to 500 bytes on a character boundary.
pub fn cut(s: &str) -> String {
    let end = (0..=s.len().min(500)).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    match s.get(..end) {
        Some(head) if head.len() < s.len() => format!("{head}…"),
        _ => s.to_owned(),
    }
}

impl User {
    pub fn new(id: Uuid, user_name: String, now: i64) -> User {
        let extra = "{}".into();
        User {
            id,
            user_name,
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
            extra,
            ..User::default()
        }
    }
}

impl Indexed for User {
    const WHAT: &'static str = "user";

    fn id(&self) -> Uuid {
        self.id
    }

    /// The index entries this user owns.
    fn index_keys(&self) -> Vec<(String, &'static str)> {
        let mut keys = vec![(user_name_key(&self.user_name), "user name")];
        if let Some(x) = &self.external_id {
            keys.push((external_id_key(x), "external id"));
        }
        if let Some(e) = &self.email {
            keys.push((email_key(e), "email"));
        }
        keys
    }
}

pub fn user_name_key(user_name: &str) -> String {
    format!("u:{}", user_name.to_lowercase())
}

pub fn external_id_key(external_id: &str) -> String {
    format!("x:{external_id}")
}

pub fn email_key(email: &str) -> String {
    format!("e:{}", email.to_lowercase())
}

/// Non-unique entries for every email the user has (primary or not): `m:{email}\n{id}`.
fn any_email_prefix(email: &str) -> String {
    format!("m:{}\n", email.to_lowercase())
}

/// A walk of the users by attribute (`USER_ATTRS`), in that attribute's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Users with this `active`, in creation order.
    Active(bool),
    /// Users last modified at this Unix millisecond or later, oldest change first.
    ModifiedFrom(i64),
}

const ACTIVE: u8 = 0;
const MODIFIED: u8 = 1;

/// The user's `USER_ATTRS` rows: (family, value).
pub(super) fn attribute_rows(user: &User) -> [(u8, u64); 2] {
    [(ACTIVE, u64::from(user.active)), (MODIFIED, u64::try_from(user.updated_at).unwrap_or(0))]
}

/// Visits the ids of the users `walk` names, in its order, from the `skip`th on, until `visit`
/// says stop. Reads no user record. Returns how many it skipped (fewer than `skip` when there
/// are fewer users): an `Active` walk skips by the block counts (`positions`), a
/// `ModifiedFrom` one steps over them.
pub fn walk(
    tx: &impl Tx,
    tenant: Uuid,
    walk: Walk,
    skip: u64,
    mut visit: impl FnMut(Uuid) -> Result<bool>,
) -> Result<u64> {
    let t = tenant.as_u128();
    let (family, from, to, first, rest) = match walk {
        Walk::Active(on) => {
            let Some((first, rest)) = positions::locate(tx, tenant, Space::Active(on), skip)?
            else {
                // Fewer users than `skip`: all of them skipped.
                let all = counters::get(tx, tenant, counters::SEATS_PROVISIONED)?;
                let total = if on { all } else { count(tx, tenant)?.saturating_sub(all) };
                return Ok(total.min(skip));
            };
            (ACTIVE, u64::from(on), u64::from(on), first, rest)
        }
        Walk::ModifiedFrom(ms) => (MODIFIED, u64::try_from(ms).unwrap_or(0), u64::MAX, 0, skip),
    };
    let table = tx.table(USER_ATTRS)?;
    let mut skipped = skip - rest;
    for row in table.range((t, family, from, first)..=(t, family, to, u128::MAX))? {
        let (key, _) = row?;
        if skipped < skip {
            skipped += 1;
            continue;
        }
        if !visit(Uuid::from_u128(key.value().3))? {
            break;
        }
    }
    Ok(skipped)
}

/// Whether the tenant has the row `(family, value)` for `user`.
pub(super) fn has_attribute_row(
    tx: &impl Tx,
    tenant: Uuid,
    user: Uuid,
    (family, value): (u8, u64),
) -> Result<bool> {
    let key = (tenant.as_u128(), family, value, user.as_u128());
    Ok(tx.table(USER_ATTRS)?.get(key)?.is_some())
}

pub(super) fn any_email_keys(user: &User) -> Vec<String> {
    let all = user.emails.iter().map(|e| e.value.as_str()).chain(user.email.as_deref());
    let mut keys: Vec<String> =
        all.map(|e| format!("{}{}", any_email_prefix(e), user.id.simple())).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Visits the ids of the tenant's `USER_INDEX` entries whose key starts with `prefix`, in key
/// order, until `visit` says stop. The range ends where the prefix does (`after_prefix`), so
/// it never reaches the next tenant's keys, which sort right after and may start the same way,
/// and redb seeks its end next to its start rather than at the end of the table.
fn visit_prefix(
    tx: &impl Tx,
    tenant: Uuid,
    prefix: &str,
    mut visit: impl FnMut(u128) -> Result<bool>,
) -> Result<()> {
    let t = tenant.as_u128();
    let table = tx.table(USER_INDEX)?;
    let rows = match after_prefix(prefix) {
        Some(end) => table.range((t, prefix)..(t, end.as_str()))?,
        None => table.range((t, prefix)..)?,
    };
    for row in rows {
        let (key, id) = row?;
        let (kt, key) = key.value();
        // Only the open-ended range (a prefix of nothing but U+10FFFF) can reach other keys.
        if kt != t || !key.starts_with(prefix) || !visit(id.value())? {
            break;
        }
    }
    Ok(())
}

/// The least string above every string that starts with `prefix`: its last character that
/// has a successor, stepped up (UTF-8 sorts as code points do). None when there is none.
fn after_prefix(prefix: &str) -> Option<String> {
    let mut end = prefix.to_owned();
    while let Some(last) = end.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            end.push(next);
            return Some(end);
        }
    }
    None
}

/// Users having `email` among their emails, primary or not.
pub fn find_by_any_email(tx: &impl Tx, tenant: Uuid, email: &str) -> Result<Vec<User>> {
    let mut out = Vec::new();
    visit_prefix(tx, tenant, &any_email_prefix(email), |id| {
        out.push(get(tx, tenant, Uuid::from_u128(id))?);
        Ok(true)
    })?;
    Ok(out)
}

/// The ids of the users whose unique index entry starts with `key_prefix` (`user_name_key` or
/// `external_id_key` of a prefix), in creation order; None when there are more than `cap`.
pub fn ids_with_index_prefix(
    tx: &impl Tx,
    tenant: Uuid,
    key_prefix: &str,
    cap: usize,
) -> Result<Option<Vec<u128>>> {
    let (mut ids, mut over) = (Vec::new(), false);
    visit_prefix(tx, tenant, key_prefix, |id| {
        over = ids.len() == cap;
        ids.push(id);
        Ok(!over)
    })?;
    if over {
        return Ok(None);
    }
    ids.sort_unstable();
    Ok(Some(ids))
}

/// The users `ids_with_index_prefix` names.
pub fn with_index_prefix(
    tx: &impl Tx,
    tenant: Uuid,
    key_prefix: &str,
    cap: usize,
) -> Result<Option<Vec<User>>> {
    let Some(ids) = ids_with_index_prefix(tx, tenant, key_prefix, cap)? else { return Ok(None) };
    ids.iter().map(|id| get(tx, tenant, Uuid::from_u128(*id))).collect::<Result<_>>().map(Some)
}

/// Users whose userName or any email starts with `prefix` (ignoring case), in that index's
/// order, at most `limit`: two index range walks, whatever the tenant's size.
pub fn search_prefix(tx: &impl Tx, tenant: Uuid, prefix: &str, limit: usize) -> Result<Vec<User>> {
    let prefix = prefix.to_lowercase();
    let mut ids: Vec<u128> = Vec::new();
    for start in [format!("u:{prefix}"), format!("m:{prefix}")] {
        visit_prefix(tx, tenant, &start, |id| {
            if ids.len() >= limit {
                return Ok(false);
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
            Ok(true)
        })?;
    }
    ids.iter().map(|id| get(tx, tenant, Uuid::from_u128(*id))).collect()
}

/// Users matching `text` for a person searching: userName, any email or externalId starting
/// with it (index walks, whatever the tenant's size), then names containing it (ignoring case),
/// looked for among at most `scan` users in creation order. At most `limit`, the index matches
/// first. Returns the users and whether the name search stopped at `scan` before the end.
pub fn search(
    tx: &impl Tx,
    tenant: Uuid,
    text: &str,
    limit: usize,
    scan: u64,
) -> Result<(Vec<User>, bool)> {
    let mut found = search_prefix(tx, tenant, text, limit)?;
    visit_prefix(tx, tenant, &external_id_key(text), |id| {
        if found.len() >= limit {
            return Ok(false);
        }
        if !found.iter().any(|u| u.id.as_u128() == id) {
            found.push(get(tx, tenant, Uuid::from_u128(id))?);
        }
        Ok(true)
    })?;
    let needle = text.to_lowercase();
    let (mut seen, mut cut) = (0u64, false);
    if found.len() < limit && !needle.is_empty() {
        scan_after(tx, tenant, None, |u| {
            if seen == scan {
                cut = true;
                return Ok(false);
            }
            seen += 1;
            let names = [&u.display_name, &u.label, &u.given_name, &u.family_name];
            let named = names
                .iter()
                .any(|n| n.as_deref().is_some_and(|n| n.to_lowercase().contains(&needle)));
            if named && !found.iter().any(|f| f.id == u.id) {
                found.push(u);
            }
            Ok(found.len() < limit)
        })?;
    }
    Ok((found, cut))
}

/// What a change did to the seat count, for callers that report it (webhooks, later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatChange {
    None,
    Taken,
    Freed,
}

pub fn get(tx: &impl Tx, tenant: Uuid, id: Uuid) -> Result<User> {
    let table = tx.table(USERS)?;
    let bytes = table.get((tenant.as_u128(), id.as_u128()))?.ok_or(Error::not_found("user"))?;
    codec::decode(bytes.value())
}

/// The user owning an index entry (`user_name_key`, `external_id_key`, `email_key`).
pub fn find(tx: &impl Tx, tenant: Uuid, index_key: &str) -> Result<Option<User>> {
    let id = tx.table(USER_INDEX)?.get((tenant.as_u128(), index_key))?.map(|v| v.value());
    match id {
        Some(id) => get(tx, tenant, Uuid::from_u128(id)).map(Some),
        None => Ok(None),
    }
}

pub fn count(tx: &impl Tx, tenant: Uuid) -> Result<u64> {
    counters::get(tx, tenant, counters::USERS)
}

/// Visits the tenant's users in creation order, from the `skip`th on, until `visit` says stop.
/// The block counts (`positions`) find where the `skip`th is, so a deep page costs no more than
/// a first one.
pub fn scan(
    tx: &impl Tx,
    tenant: Uuid,
    skip: u64,
    mut visit: impl FnMut(User) -> Result<bool>,
) -> Result<()> {
    let (from, skip) = match skip {
        0 => (0, 0),
        _ => match positions::locate(tx, tenant, Space::All, skip)? {
            Some(place) => place,
            None => return Ok(()),
        },
    };
    let table = tx.table(USERS)?;
    let t = tenant.as_u128();
    for row in
        table.range((t, from)..=(t, u128::MAX))?.skip(usize::try_from(skip).unwrap_or(usize::MAX))
    {
        let (_, bytes) = row?;
        if !visit(codec::decode(bytes.value())?)? {
            break;
        }
    }
    Ok(())
}

/// Visits the tenant's users in creation order after the one with id `after` (from the first
/// when None), until `visit` says stop: one index seek, wherever the walk is.
pub fn scan_after(
    tx: &impl Tx,
    tenant: Uuid,
    after: Option<u128>,
    visit: impl FnMut(User) -> Result<bool>,
) -> Result<()> {
    super::scan_after(tx, USERS, tenant, after, visit)
}

/// Users deleted through SCIM, kept for audit.
pub fn list_deleted(tx: &impl Tx, tenant: Uuid) -> Result<Vec<User>> {
    let table = tx.table(DELETED_USERS)?;
    let t = tenant.as_u128();
    let mut out = Vec::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Creates a user; an active one takes a seat or fails with `NoCapacity`.
pub fn create(txn: &WriteTxn, tenant: Uuid, user: &User) -> Result<SeatChange> {
    claim_indexes(txn, tenant, user, None)?;
    let seats = if user.active {
        take_seat(txn, tenant, user.created_at)?;
        SeatChange::Taken
    } else {
        SeatChange::None
    };
    counters::add(txn, tenant, counters::USERS, 1)?;
    put(txn, tenant, user)?;
    positions::added(txn, tenant, Space::All, user.id)?;
    positions::added(txn, tenant, Space::Active(user.active), user.id)?;
    events::user(
        txn,
        tenant,
        "user.created",
        (user, changed_attributes(None, user)),
        user.created_at,
    )?;
    Ok(seats)
}

/// Replaces a user with `next` (same id): indexes, seats and the owner rule follow. `if_match`
/// is the version the client saw, if it sent one. Returns the stored user (version bumped).
pub fn update(
    txn: &WriteTxn,
    tenant: Uuid,
    mut next: User,
    if_match: Option<u64>,
    now: i64,
) -> Result<(User, SeatChange)> {
    let prev = get(txn, tenant, next.id)?;
    check_version(if_match, prev.version)?;
    if prev.active && !next.active {
        refuse_owner(txn, tenant, prev.id, "deactivated")?;
    }
    let seats = match (prev.active, next.active) {
        (false, true) => {
            take_seat(txn, tenant, now)?;
            SeatChange::Taken
        }
        (true, false) => {
            free_seat(txn, tenant, prev.id, now)?;
            SeatChange::Freed
        }
        _ => SeatChange::None,
    };
    next.created_at = prev.created_at;
    next.deleted_at = None;
    if next != prev {
        next.version = prev.version + 1;
        next.updated_at = now;
    } else {
        next.version = prev.version;
        next.updated_at = prev.updated_at;
    }
    // After the modification time is known: it is an index entry too.
    claim_indexes(txn, tenant, &next, Some(&prev))?;
    put(txn, tenant, &next)?;
    if prev.active != next.active {
        positions::removed(txn, tenant, Space::Active(prev.active), prev.id)?;
        positions::added(txn, tenant, Space::Active(next.active), next.id)?;
    }
    let event = match seats {
        SeatChange::Taken => Some("user.reactivated"),
        SeatChange::Freed => Some("user.deactivated"),
        SeatChange::None if next.version != prev.version => Some("user.updated"),
        SeatChange::None => None,
    };
    if let Some(event) = event {
        events::user(txn, tenant, event, (&next, changed_attributes(Some(&prev), &next)), now)?;
    }
    Ok((next, seats))
}

/// SCIM delete (RFC 7644 §3.6): deactivates, frees the user's unique values, and moves the
/// record out of sight, kept for audit.
pub fn delete(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    if_match: Option<u64>,
    now: i64,
) -> Result<User> {
    let mut user = get(txn, tenant, id)?;
    check_version(if_match, user.version)?;
    refuse_owner(txn, tenant, id, "deleted")?;
    // The rows and the sequence as stored, before `active` changes below.
    let (attributes, was_active) = (attribute_rows(&user), user.active);
    if user.active {
        free_seat(txn, tenant, id, now)?;
        user.active = false;
    }
    {
        let mut index = txn.open_table(USER_INDEX)?;
        for (key, _) in user.index_keys() {
            index.remove((tenant.as_u128(), key.as_str()))?;
        }
        for key in any_email_keys(&user) {
            index.remove((tenant.as_u128(), key.as_str()))?;
        }
        let mut attrs = txn.open_table(USER_ATTRS)?;
        for (family, value) in attributes {
            attrs.remove((tenant.as_u128(), family, value, id.as_u128()))?;
        }
    }
    txn.open_table(USERS)?.remove((tenant.as_u128(), id.as_u128()))?;
    positions::removed(txn, tenant, Space::All, id)?;
    positions::removed(txn, tenant, Space::Active(was_active), id)?;
    counters::add(txn, tenant, counters::USERS, -1)?;
    user.deleted_at = Some(now);
    user.updated_at = now;
    user.version += 1;
    super::put_record(txn, DELETED_USERS, (tenant, id), &user)?;
    events::user(txn, tenant, "user.deleted", (&user, Vec::new()), now)?;
    Ok(user)
}

fn put(txn: &WriteTxn, tenant: Uuid, user: &User) -> Result<()> {
    super::put_record(txn, USERS, (tenant, user.id), user)
}

/// Points the user's index entries at it, releasing `prev`'s that it no longer owns (any
/// entry owned by another user is a conflict), and its email entries.
fn claim_indexes(txn: &WriteTxn, tenant: Uuid, user: &User, prev: Option<&User>) -> Result<()> {
    super::claim_unique(txn, USER_INDEX, tenant, user, prev)?;
    // Every email, primary or not: entries of their own, shared by the users who have it.
    let (t, mut index) = (tenant.as_u128(), txn.open_table(USER_INDEX)?);
    for key in prev.map(any_email_keys).into_iter().flatten() {
        index.remove((t, key.as_str()))?;
    }
    for key in any_email_keys(user) {
        index.insert((t, key.as_str()), user.id.as_u128())?;
    }
    // And the attributes sync filters walk.
    let mut attrs = txn.open_table(USER_ATTRS)?;
    for (family, value) in prev.map(attribute_rows).into_iter().flatten() {
        attrs.remove((t, family, value, user.id.as_u128()))?;
    }
    for (family, value) in attribute_rows(user) {
        attrs.insert((t, family, value, user.id.as_u128()), ())?;
    }
    Ok(())
}

fn take_seat(txn: &WriteTxn, tenant: Uuid, now: i64) -> Result<()> {
    let licensed = u64::from(tenants::get(txn, tenant)?.seat_capacity);
    let used = counters::get(txn, tenant, counters::SEATS_PROVISIONED)?;
    if used >= licensed {
        return Err(Error::Refused(Refusal::NoCapacity { licensed, used }));
    }
    if counters::add(txn, tenant, counters::SEATS_PROVISIONED, 1)? == licensed {
        events::seats_exhausted(txn, tenant, licensed, now)?;
    }
    Ok(())
}

fn free_seat(txn: &WriteTxn, tenant: Uuid, user: Uuid, now: i64) -> Result<()> {
    counters::add(txn, tenant, counters::SEATS_PROVISIONED, -1)?;
    on_deactivated(txn, tenant, user, now)
}

/// Everything that goes when a user stops being active, in the same transaction.
fn on_deactivated(txn: &WriteTxn, tenant: Uuid, user: Uuid, now: i64) -> Result<()> {
    super::rooms::remove_user_everywhere(txn, tenant, user, now)
}

fn refuse_owner(txn: &WriteTxn, tenant: Uuid, user: Uuid, change: &'static str) -> Result<()> {
    if tenants::get(txn, tenant)?.owner_user_id == Some(user) {
        return Err(Refusal::OwnerProtected { change }.into());
    }
    Ok(())
}

/// Recounts from the records: (visible users, active users). For checks and tests.
pub fn recount(tx: &impl Tx, tenant: Uuid) -> Result<(u64, u64)> {
    let (mut all, mut active) = (0, 0);
    scan(tx, tenant, 0, |u| {
        all += 1;
        active += u64::from(u.active);
        Ok(true)
    })?;
    Ok((all, active))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::after_prefix;

    proptest! {
        /// The range `prefix..after_prefix(prefix)` holds exactly the strings that start with
        /// `prefix`: checked on short strings over a few characters at the edges that matter
        /// (the last ASCII, the surrogate gap, the last code point).
        #[test]
        fn the_range_after_a_prefix_holds_exactly_its_strings(
            prefix in "[a\\n\\x7f\\u{80}\\u{d7ff}\\u{e000}\\u{10ffff}]{0,3}",
            key in "[a\\n\\x0b\\x7f\\u{80}\\u{d7ff}\\u{e000}\\u{10ffff}]{0,4}",
        ) {
            let inside = match after_prefix(&prefix) {
                Some(end) => prefix.as_str() <= key.as_str() && key.as_str() < end.as_str(),
                None => prefix.as_str() <= key.as_str(),
            };
            prop_assert_eq!(inside, key.starts_with(&prefix), "prefix {:?}, key {:?}", prefix, key);
        }
    }

    #[test]
    fn prefixes_step_up_their_last_character() {
        assert_eq!(after_prefix("m:a@b\n").as_deref(), Some("m:a@b\u{b}"));
        assert_eq!(after_prefix("u:\u{d7ff}").as_deref(), Some("u:\u{e000}"));
        assert_eq!(after_prefix("u:a\u{10ffff}").as_deref(), Some("u:b"));
        assert_eq!(after_prefix("\u{10ffff}"), None);
        assert_eq!(after_prefix(""), None);
    }
}
