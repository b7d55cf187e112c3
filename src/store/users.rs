//! Users as stored: the record, its unique indexes (userName and email case-insensitive,
//! externalId exact), the attribute rows sync filters walk, the visible-user counter and the
//! positions deep pages use, and every read of them. What follows a user's change across the
//! domain (seats, the owner rule, memberships, events) is `lifecycle`'s.

use redb::ReadableTable;
use uuid::Uuid;

use super::error::{Error, Result};
use super::positions::{self, Space};
use super::record::Indexed;
pub use super::records::{
    Email, Roles, User, changed_attributes, cut, email_key, external_id_key, scim_values,
    user_name_key,
};
use super::tables::{ATTR_ACTIVE, ATTR_MODIFIED, DELETED_USERS, USER_ATTRS, USER_INDEX, USERS};
use super::txn::{Tx, WriteTxn};
use super::{codec, counters};

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
    /// Users in userName order, ignoring case (as sorting compares them): all, or those with
    /// this `active`.
    Named(Option<bool>),
}

/// The user's `USER_ATTRS` rows: (family, value).
pub(super) fn attribute_rows(user: &User) -> [(u8, u64); 2] {
    [(ATTR_ACTIVE, u64::from(user.active)), (ATTR_MODIFIED, modification_key(user).0)]
}

/// Visits the ids of the users `walk` names, in its order, from the `skip`th on, until `visit`
/// says stop. Reads no user record. Returns how many it skipped (fewer than `skip` when there
/// are fewer users), by the block counts (`positions`).
pub fn walk(
    tx: &impl Tx,
    tenant: Uuid,
    walk: Walk,
    skip: u64,
    visit: impl FnMut(Uuid) -> Result<bool>,
) -> Result<u64> {
    let ms = match walk {
        Walk::Active(on) => {
            let order = positions::by_id(tenant, Space::Active(on));
            return positions::walk(tx, &order, &0, skip, visit);
        }
        Walk::Named(active) => {
            let order = positions::by_name(tenant, active.map_or(Space::All, Space::Active));
            return positions::walk(tx, &order, &String::new(), skip, visit);
        }
        Walk::ModifiedFrom(ms) => u64::try_from(ms).unwrap_or(0),
    };
    positions::walk(tx, &positions::by_modification(tenant), &(ms, 0), skip, visit)
}

/// How many users were last modified at `ms` (Unix milliseconds) or later: from the block
/// counts, whatever the tenant's size.
pub fn modified_from_count(tx: &impl Tx, tenant: Uuid, ms: i64) -> Result<u64> {
    let from = (u64::try_from(ms).unwrap_or(0), 0);
    positions::count_from(tx, &positions::by_modification(tenant), &from)
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

/// The user's place in modification order (its `USER_ATTRS` modification row).
fn modification_key(user: &User) -> (u64, u128) {
    (u64::try_from(user.updated_at).unwrap_or(0), user.id.as_u128())
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
pub(super) fn search_prefix(
    tx: &impl Tx,
    tenant: Uuid,
    prefix: &str,
    limit: usize,
) -> Result<Vec<User>> {
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
        _ => match positions::locate(tx, &positions::by_id(tenant, Space::All), &0, skip)? {
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
    super::record::scan_after(tx, USERS, tenant, after, visit)
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

/// Stores a new user: its index entries (a conflict refuses it), the visible-user counter and
/// the positions. Seats and events are the caller's (`lifecycle`).
pub(super) fn add(txn: &WriteTxn, tenant: Uuid, user: &User) -> Result<()> {
    claim_indexes(txn, tenant, user, None)?;
    counters::add(txn, tenant, counters::USERS, 1)?;
    put(txn, tenant, user)?;
    let modified = modification_key(user);
    positions::added(txn, &positions::by_modification(tenant), &modified)?;
    let name = user_name_key(&user.user_name);
    for space in [Space::All, Space::Active(user.active)] {
        positions::added(txn, &positions::by_id(tenant, space), &user.id.as_u128())?;
        positions::added(txn, &positions::by_name(tenant, space), &name)?;
    }
    Ok(())
}

/// Stores `next` in place of `prev` (same id): index entries follow (a conflict refuses it), and
/// the positions when `active` or the userName (ignoring case) changed.
pub(super) fn replace(txn: &WriteTxn, tenant: Uuid, next: &User, prev: &User) -> Result<()> {
    claim_indexes(txn, tenant, next, Some(prev))?;
    put(txn, tenant, next)?;
    let (was_modified, modified) = (modification_key(prev), modification_key(next));
    if was_modified != modified {
        positions::removed(txn, &positions::by_modification(tenant), &was_modified)?;
        positions::added(txn, &positions::by_modification(tenant), &modified)?;
    }
    let (id, before, after) =
        (next.id.as_u128(), user_name_key(&prev.user_name), user_name_key(&next.user_name));
    let (was, is) = (Space::Active(prev.active), Space::Active(next.active));
    if was != is {
        positions::removed(txn, &positions::by_id(tenant, was), &id)?;
        positions::added(txn, &positions::by_id(tenant, is), &id)?;
    }
    if before != after {
        positions::removed(txn, &positions::by_name(tenant, Space::All), &before)?;
        positions::added(txn, &positions::by_name(tenant, Space::All), &after)?;
    }
    if was != is || before != after {
        positions::removed(txn, &positions::by_name(tenant, was), &before)?;
        positions::added(txn, &positions::by_name(tenant, is), &after)?;
    }
    Ok(())
}

/// Moves `stored` (the record as it is in the table) out of sight: its index entries, attribute
/// rows, positions and count go, and `kept` (the deleted form) is stored for audit.
pub(super) fn retire(txn: &WriteTxn, tenant: Uuid, stored: &User, kept: &User) -> Result<()> {
    let (t, id) = (tenant.as_u128(), stored.id);
    {
        let mut index = txn.open_table(USER_INDEX)?;
        for (key, _) in stored.index_keys() {
            index.remove((t, key.as_str()))?;
        }
        for key in any_email_keys(stored) {
            index.remove((t, key.as_str()))?;
        }
        let mut attrs = txn.open_table(USER_ATTRS)?;
        for (family, value) in attribute_rows(stored) {
            attrs.remove((t, family, value, id.as_u128()))?;
        }
    }
    txn.open_table(USERS)?.remove((t, id.as_u128()))?;
    positions::removed(txn, &positions::by_modification(tenant), &modification_key(stored))?;
    let name = user_name_key(&stored.user_name);
    for space in [Space::All, Space::Active(stored.active)] {
        positions::removed(txn, &positions::by_id(tenant, space), &id.as_u128())?;
        positions::removed(txn, &positions::by_name(tenant, space), &name)?;
    }
    counters::add(txn, tenant, counters::USERS, -1)?;
    super::record::put_record(txn, DELETED_USERS, (tenant, id), kept)
}

fn put(txn: &WriteTxn, tenant: Uuid, user: &User) -> Result<()> {
    super::record::put_record(txn, USERS, (tenant, user.id), user)
}

/// Points the user's index entries at it, releasing `prev`'s that it no longer owns (any
/// entry owned by another user is a conflict), and its email entries.
fn claim_indexes(txn: &WriteTxn, tenant: Uuid, user: &User, prev: Option<&User>) -> Result<()> {
    super::record::claim_unique(txn, USER_INDEX, tenant, user, prev)?;
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
