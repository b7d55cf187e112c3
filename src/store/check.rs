//! `whoot-mgmt check`: verifies the store on one read transaction and reports every problem it
//! finds, changing nothing. Every index entry points at a record that claims it, and every
//! record's entries exist; counters equal recounts; memberships are stored both ways; the
//! webhook due index matches the pending deliveries, whose events are on record; every tenant's
//! change stream holds each `seq` from its floor to its counter exactly once, with unique ids.
//! A store of an older schema is checked as far as its layout is this build's (the webhook and
//! event tables are checked once it is upgraded).

use std::collections::HashSet;

use redb::{ReadTransaction, ReadableTable};
use uuid::Uuid;

use super::error::Result;
use super::positions::{Order, Space};
use super::record::Indexed;
use super::tables::SCHEMA_VERSION;
use super::tables::*;
use super::{codec, counters, events, positions, rooms, users, webhooks};

/// What was looked at, and what is wrong (empty: the store is consistent).
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub tenants: u64,
    pub users: u64,
    pub rooms: u64,
    pub memberships: u64,
    pub deliveries: u64,
    pub events: u64,
    pub problems: Vec<String>,
}

pub fn run(tx: &ReadTransaction) -> Result<Report> {
    let mut r = Report::default();
    let tenants = tenant_ids(tx, &mut r)?;
    for &t in &tenants {
        check_users(tx, t, &mut r)?;
        check_rooms(tx, t, &mut r)?;
    }
    check_keys(tx, &tenants, &mut r)?;
    check_memberships(tx, &mut r)?;
    let version = super::tables::meta(tx, META_SCHEMA_VERSION)?;
    if version == Some(SCHEMA_VERSION) {
        for &t in &tenants {
            check_stream(tx, t, &mut r)?;
        }
        check_outbox(tx, &mut r)?;
        check_deliveries(tx, &mut r)?;
        check_subscriptions(tx, &mut r)?;
    }
    Ok(r)
}

fn tenant_ids(tx: &ReadTransaction, r: &mut Report) -> Result<Vec<u128>> {
    let (tenants, slugs) = (tx.open_table(TENANTS)?, tx.open_table(TENANT_SLUGS)?);
    let mut ids = Vec::new();
    for row in tenants.iter()? {
        let (id, bytes) = row?;
        let t: super::tenants::Tenant = codec::decode(bytes.value())?;
        r.tenants += 1;
        match slugs.get(t.slug.as_str())? {
            Some(v) if v.value() == id.value() => {}
            _ => {
                r.problems.push(format!("tenant {}: slug {:?} does not point at it", t.id, t.slug))
            }
        }
        ids.push(id.value());
    }
    for row in slugs.iter()? {
        let (slug, id) = row?;
        if tenants.get(id.value())?.is_none() {
            r.problems.push(format!("tenant slug {:?} points at a missing tenant", slug.value()));
        }
    }
    Ok(ids)
}

/// One pass over the tenant's users recounts the counters and the position blocks and sums a
/// fingerprint of the index entries and attribute rows they should have; one walk of each of
/// those tables sums what is there. Only when the sums differ does the slow pass run, which
/// looks every entry up to name what is wrong (point lookups and a set of every key: seconds
/// and hundreds of MB at a million users, spent only on a broken store).
fn check_users(tx: &ReadTransaction, t: u128, r: &mut Report) -> Result<()> {
    let tenant = Uuid::from_u128(t);
    let (table, index, attrs) =
        (tx.open_table(USERS)?, tx.open_table(USER_INDEX)?, tx.open_table(USER_ATTRS)?);
    let (mut all, mut active) = (0u64, 0u64);
    let (mut entries, mut rows) = (Fingerprint::default(), Fingerprint::default());
    let [mut everyone, mut inactive, mut active_ones] =
        Space::EVERY.map(|space| BlockCount::of(tx, &positions::by_id(tenant, space), space));
    let [mut named, mut inactive_named, mut active_named] =
        Space::EVERY.map(|space| BlockCount::of(tx, &positions::by_name(tenant, space), space));
    // In id order, so a binary search finds one.
    let mut inactive_ids = Vec::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        let u: users::User = codec::decode(row?.1.value())?;
        let id = u.id.as_u128();
        all += 1;
        active += u64::from(u.active);
        everyone.count(&id);
        if u.active { &mut active_ones } else { &mut inactive }.count(&id);
        if !u.active {
            inactive_ids.push(id);
        }
        for key in user_entries(&u) {
            entries.add(&key, u.id.as_u128());
        }
        for (family, value) in users::attribute_rows(&u) {
            rows.add(&(family, value), u.id.as_u128());
        }
    }
    r.users += all;
    let (mut found_entries, mut found_rows) = (Fingerprint::default(), Fingerprint::default());
    for row in index.range((t, "")..)? {
        let (key, id) = row?;
        let (kt, key) = key.value();
        if kt != t {
            break;
        }
        found_entries.add(&key, id.value());
        // userName entries come in userName order: the order those blocks count.
        if key.starts_with("u:") {
            named.count(key);
            let off = inactive_ids.binary_search(&id.value()).is_ok();
            if off { &mut inactive_named } else { &mut active_named }.count(key);
        }
    }
    let mut modified = BlockCount::of(tx, &positions::by_modification(tenant), Space::All);
    for row in attrs.range((t, 0, 0, 0)..=(t, u8::MAX, u64::MAX, u128::MAX))? {
        let (_, family, value, id) = row?.0.value();
        found_rows.add(&(family, value), id);
        // Modification rows come in modification order: the order those blocks count.
        if family == ATTR_MODIFIED {
            modified.count(&(value, id));
        }
    }
    if entries != found_entries {
        name_index_problems(&table, &index, t, r)?;
    }
    if rows != found_rows {
        name_attribute_problems(tx, &table, t, found_rows.count, all, r)?;
    }
    for blocks in [everyone, inactive, active_ones] {
        blocks.report(tenant, r, |id| Uuid::from_u128(*id).to_string())?;
    }
    for blocks in [named, inactive_named, active_named] {
        blocks.report(tenant, r, |key| format!("userName {key:?}"))?;
    }
    modified.report(tenant, r, |(ms, id)| format!("modification {ms} {}", Uuid::from_u128(*id)))?;
    compare(r, tenant, counters::USERS, counters::get(tx, tenant, counters::USERS)?, all);
    let provisioned = counters::get(tx, tenant, counters::SEATS_PROVISIONED)?;
    compare(r, tenant, counters::SEATS_PROVISIONED, provisioned, active);
    Ok(())
}

/// Every `USER_INDEX` key a user owns.
fn user_entries(u: &users::User) -> impl Iterator<Item = String> {
    u.index_keys().into_iter().map(|(k, _)| k).chain(users::any_email_keys(u))
}

/// An order-free digest of a set of (thing, id) rows: how many, and the wrapping sum of their
/// hashes, so the rows a table should hold and the rows it holds compare without either being
/// kept. Guards against damage, not against an adversary who can write the file.
#[derive(Default, PartialEq, Eq)]
struct Fingerprint {
    count: u64,
    sum: u64,
}

impl Fingerprint {
    fn add(&mut self, thing: &impl std::hash::Hash, id: u128) {
        use std::hash::{Hash, Hasher};
        // Fixed keys: both sides of a comparison must hash alike.
        let mut h = std::hash::DefaultHasher::new();
        thing.hash(&mut h);
        id.hash(&mut h);
        self.count += 1;
        self.sum = self.sum.wrapping_add(h.finish());
    }
}

/// The slow pass for the user index: each user's entries looked up, then every entry checked
/// against the keys users claim.
fn name_index_problems(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    index: &impl ReadableTable<(u128, &'static str), u128>,
    t: u128,
    r: &mut Report,
) -> Result<()> {
    let mut owned: HashSet<String> = HashSet::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        let u: users::User = codec::decode(row?.1.value())?;
        for key in user_entries(&u) {
            expect_entry(index, (t, &key), ("user", u.id), r)?;
            owned.insert(key);
        }
    }
    unclaimed_entries(index, Uuid::from_u128(t), "user", &owned, r)
}

/// The slow pass for the attribute rows: each user's rows looked up, each row's user, and the
/// count compared.
fn name_attribute_problems(
    tx: &ReadTransaction,
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    t: u128,
    rows: u64,
    users_seen: u64,
    r: &mut Report,
) -> Result<()> {
    let tenant = Uuid::from_u128(t);
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        let u: users::User = codec::decode(row?.1.value())?;
        for attribute in users::attribute_rows(&u) {
            if !users::has_attribute_row(tx, tenant, u.id, attribute)? {
                r.problems.push(format!("user {} lacks its attribute row {attribute:?}", u.id));
            }
        }
    }
    for row in tx.open_table(USER_ATTRS)?.range((t, 0, 0, 0)..=(t, u8::MAX, u64::MAX, u128::MAX))? {
        let (_, family, value, id) = row?.0.value();
        let owner = match table.get((t, id))? {
            Some(bytes) => Some(codec::decode::<users::User>(bytes.value())?),
            None => None,
        };
        if !owner.is_some_and(|u| users::attribute_rows(&u).contains(&(family, value))) {
            let id = Uuid::from_u128(id);
            r.problems
                .push(format!("attribute row {:?} of user {id} matches no user", (family, value)));
        }
    }
    if rows != 2 * users_seen {
        r.problems.push(format!(
            "tenant {tenant} has {rows} user attribute rows for {users_seen} users (2 each)"
        ));
    }
    Ok(())
}

/// The block counts `positions` keeps for one sequence, recounted from its users walked in its
/// order.
struct BlockCount<K> {
    space: Space,
    /// (start, stored count, counted users); or the error reading them, reported at the end.
    blocks: Result<Vec<(K, u64, u64)>>,
    at: usize,
    outside: u64,
}

impl<K: Ord> BlockCount<K> {
    fn of<O: Order<Key = K>>(tx: &ReadTransaction, order: &O, space: Space) -> BlockCount<K> {
        let blocks = order
            .blocks(tx, &order.origin())
            .map(|b| b.into_iter().map(|(s, n)| (s, n, 0)).collect());
        BlockCount { space, blocks, at: 0, outside: 0 }
    }

    /// Counts the next user in the order.
    fn count<Q: Ord + ?Sized>(&mut self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
    {
        let Ok(blocks) = &mut self.blocks else { return };
        while blocks.get(self.at + 1).is_some_and(|(start, ..)| start.borrow() <= key) {
            self.at += 1;
        }
        match blocks.get_mut(self.at) {
            Some((start, _, counted)) if (*start).borrow() <= key => *counted += 1,
            _ => self.outside += 1,
        }
    }

    fn report(self, tenant: Uuid, r: &mut Report, show: impl Fn(&K) -> String) -> Result<()> {
        let space = self.space;
        if self.outside > 0 {
            r.problems.push(format!(
                "tenant {tenant} has {} users before the first position block of {space:?}",
                self.outside
            ));
        }
        for (start, stored, counted) in self.blocks? {
            if stored != counted {
                r.problems.push(format!(
                    "tenant {tenant}: the position block of {space:?} at {} counts {stored} \
                     users, holds {counted}",
                    show(&start)
                ));
            }
        }
        Ok(())
    }
}

fn check_rooms(tx: &ReadTransaction, t: u128, r: &mut Report) -> Result<()> {
    let tenant = Uuid::from_u128(t);
    let (table, index) = (tx.open_table(ROOMS)?, tx.open_table(ROOM_INDEX)?);
    let (mut count, mut mapped) = (0, 0);
    let mut owned: HashSet<String> = HashSet::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        let room: rooms::Room = codec::decode(row?.1.value())?;
        count += 1;
        mapped += u64::from(room.mapped);
        for (key, _) in room.index_keys() {
            expect_entry(&index, (t, &key), ("room", room.id), r)?;
            owned.insert(key);
        }
        let members = rooms::recount(tx, tenant, room.id)?;
        if members != room.member_count {
            r.problems.push(format!(
                "room {}: member_count {} but {members} members stored",
                room.id, room.member_count
            ));
        }
    }
    r.rooms += count;
    unclaimed_entries(&index, tenant, "room", &owned, r)?;
    compare(r, tenant, counters::ROOMS, counters::get(tx, tenant, counters::ROOMS)?, count);
    compare(r, tenant, counters::GROUPS, counters::get(tx, tenant, counters::GROUPS)?, mapped);
    Ok(())
}

fn compare(r: &mut Report, tenant: Uuid, name: &str, stored: u64, recounted: u64) {
    if stored != recounted {
        r.problems
            .push(format!("tenant {tenant}: counter {name} is {stored}, recount {recounted}"));
    }
}

fn check_keys(tx: &ReadTransaction, tenants: &[u128], r: &mut Report) -> Result<()> {
    for row in tx.open_table(KEYS)?.iter()? {
        let key: super::keys::ApiKey = codec::decode(row?.1.value())?;
        if !tenants.contains(&key.tenant_id.as_u128()) {
            r.problems.push(format!("api key {}: its tenant is missing", key.id));
        }
    }
    Ok(())
}

/// Room -> user rows and user -> room rows mirror each other, between existing records.
fn check_memberships(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    let (members, user_rooms) = (tx.open_table(ROOM_MEMBERS)?, tx.open_table(USER_ROOMS)?);
    let (rooms, users) = (tx.open_table(ROOMS)?, tx.open_table(USERS)?);
    for row in members.iter()? {
        let (t, room, user) = row?.0.value();
        r.memberships += 1;
        if user_rooms.get((t, user, room))?.is_none() {
            r.problems.push(format!(
                "membership room {} user {}: no user -> room row",
                Uuid::from_u128(room),
                Uuid::from_u128(user)
            ));
        }
        if rooms.get((t, room))?.is_none() || users.get((t, user))?.is_none() {
            r.problems.push(format!(
                "membership room {} user {}: room or user missing",
                Uuid::from_u128(room),
                Uuid::from_u128(user)
            ));
        }
    }
    for row in user_rooms.iter()? {
        let (t, user, room) = row?.0.value();
        if members.get((t, room, user))?.is_none() {
            r.problems.push(format!(
                "membership user {} room {}: no room -> user row",
                Uuid::from_u128(user),
                Uuid::from_u128(room)
            ));
        }
    }
    Ok(())
}

/// Every active registration has its subscription row, with its events; no other rows exist.
/// (A store of schema 1 has no such table; it is built when the store is upgraded.)
fn check_subscriptions(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    let Some(subs) = open_if_present(tx, SUBSCRIPTIONS)? else { return Ok(()) };
    let hooks = tx.open_table(WEBHOOKS)?;
    for row in hooks.iter()? {
        let (key, bytes) = row?;
        let hook: webhooks::Webhook = codec::decode(bytes.value())?;
        let found = subs.get(key.value())?.map(|m| m.value());
        if found != hook.subscription() {
            r.problems.push(format!(
                "webhook {}: subscription index says {found:?}, the registration {:?}",
                hook.id,
                hook.subscription()
            ));
        }
    }
    for row in subs.iter()? {
        let (t, w) = row?.0.value();
        if hooks.get((t, w))?.is_none() {
            let webhook = Uuid::from_u128(w);
            r.problems.push(format!("subscription index entry for missing webhook {webhook}"));
        }
    }
    Ok(())
}

/// The tenant's events: every `seq` after the floor up to the counter, once, under its own key,
/// each with an id no other event has.
fn check_stream(tx: &ReadTransaction, t: u128, r: &mut Report) -> Result<()> {
    let tenant = Uuid::from_u128(t);
    let (last, floor) = events::bounds(tx, tenant)?;
    let mut ids = HashSet::new();
    let mut expected = floor + 1;
    for row in tx.open_table(EVENT_LOG)?.range((t, 0)..=(t, u64::MAX))? {
        let (key, bytes) = row?;
        let seq = key.value().1;
        let e: events::Event = codec::decode(bytes.value())?;
        r.events += 1;
        if e.seq != seq || e.tenant != tenant {
            r.problems
                .push(format!("tenant {tenant}: event at seq {seq} says {}/{}", e.tenant, e.seq));
        }
        if !ids.insert(e.id) {
            r.problems.push(format!("tenant {tenant}: event id {} is used twice", e.id));
        }
        if seq > last {
            r.problems.push(format!("tenant {tenant}: event seq {seq} is past the counter {last}"));
        }
        if seq < expected {
            continue; // kept below the floor for a pending delivery
        }
        if seq > expected {
            r.problems.push(format!(
                "tenant {tenant}: events {expected}..{} are missing from the stream",
                seq - 1
            ));
        }
        expected = seq + 1;
    }
    if expected <= last {
        r.problems.push(format!(
            "tenant {tenant}: events {expected}..{last} are missing from the stream"
        ));
    }
    Ok(())
}

/// Reports the tenant's index entries no record of `what` claims (`owned` holds the claimed).
fn unclaimed_entries(
    index: &impl ReadableTable<(u128, &'static str), u128>,
    tenant: Uuid,
    what: &str,
    owned: &HashSet<String>,
    r: &mut Report,
) -> Result<()> {
    let t = tenant.as_u128();
    for row in index.range((t, "")..)? {
        let (key, id) = row?;
        let (kt, key) = key.value();
        if kt != t {
            break;
        }
        if !owned.contains(key) {
            let id = Uuid::from_u128(id.value());
            r.problems.push(format!(
                "tenant {tenant}: {what} index entry {key:?} -> {id} has no {what} claiming it"
            ));
        }
    }
    Ok(())
}

/// Reports an index entry `key` of tenant `t` that does not point at `owner`.
fn expect_entry(
    index: &impl ReadableTable<(u128, &'static str), u128>,
    (t, key): (u128, &str),
    (what, owner): (&str, Uuid),
    r: &mut Report,
) -> Result<()> {
    if index.get((t, key))?.map(|v| v.value()) != Some(owner.as_u128()) {
        r.problems.push(format!("{what} {owner}: index entry {key:?} missing or elsewhere"));
    }
    Ok(())
}

/// Outbox rows name events in the log.
fn check_outbox(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    let log = tx.open_table(EVENT_LOG)?;
    for row in tx.open_table(OUTBOX)?.iter()? {
        let (t, seq) = row?.0.value();
        if log.get((t, seq))?.is_none() {
            let tenant = Uuid::from_u128(t);
            r.problems.push(format!("tenant {tenant}: outbox event {seq} is not in the event log"));
        }
    }
    Ok(())
}

/// Deliveries belong to registrations; the due index lists exactly the pending ones that are due,
/// and each lane exactly the pending ones about its resource, the first of them due; a pending
/// delivery's event is on record (a retry renders its body from it).
fn check_deliveries(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    let (deliveries, due) = (tx.open_table(DELIVERIES)?, tx.open_table(DELIVERIES_DUE)?);
    let (hooks, lanes) = (tx.open_table(WEBHOOKS)?, tx.open_table(LANES)?);
    for row in deliveries.iter()? {
        let (key, bytes) = row?;
        let (t, w, id) = key.value();
        let d: webhooks::Delivery = codec::decode(bytes.value())?;
        r.deliveries += 1;
        if hooks.get((t, w))?.is_none() {
            r.problems.push(format!("delivery {}: its registration is missing", d.id));
        }
        if d.status != webhooks::DeliveryStatus::Pending {
            continue;
        }
        let event = events::get(tx, Uuid::from_u128(t), d.seq)?;
        if event.is_none_or(|e| e.id != d.event_id) {
            r.problems.push(format!("delivery {}: pending, but its event is missing", d.id));
        }
        match d.next_attempt_at {
            Some(at) if due.get((at, t, w, id))?.is_none() => {
                r.problems.push(format!("delivery {}: pending but not in the due index", d.id));
            }
            Some(_) => {}
            None => {
                let lane = (t, w, d.resource.as_u128());
                let head = lanes
                    .range((lane.0, lane.1, lane.2, 0)..=(lane.0, lane.1, lane.2, u64::MAX))?
                    .next();
                let head = match head {
                    Some(row) => Some(row?.0.value().3),
                    None => None,
                };
                if head.is_none_or(|seq| seq >= d.seq) {
                    r.problems.push(format!(
                        "delivery {}: waits in its lane, but nothing is ahead of it",
                        d.id
                    ));
                }
            }
        }
    }
    for row in lanes.iter()? {
        let ((t, w, resource, seq), id) = {
            let (k, v) = row?;
            (k.value(), v.value())
        };
        let ok = match deliveries.get((t, w, id))? {
            Some(bytes) => {
                let d: webhooks::Delivery = codec::decode(bytes.value())?;
                d.status == webhooks::DeliveryStatus::Pending
                    && d.seq == seq
                    && d.resource.as_u128() == resource
            }
            None => false,
        };
        if !ok {
            let id_id = Uuid::from_u128(id);
            r.problems.push(format!("lane entry for delivery {id_id} matches no pending delivery"));
        }
    }
    for row in due.iter()? {
        let (at, t, w, id) = row?.0.value();
        let pending = match deliveries.get((t, w, id))? {
            Some(bytes) => {
                let d: webhooks::Delivery = codec::decode(bytes.value())?;
                d.status == webhooks::DeliveryStatus::Pending && d.next_attempt_at == Some(at)
            }
            None => false,
        };
        if !pending {
            let id_id = Uuid::from_u128(id);
            r.problems
                .push(format!("due index entry for delivery {id_id} matches no pending delivery"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::lifecycle;
    use crate::store::txn::WriteTxn;
    use redb::{Database, ReadableDatabase};

    fn tenant_of_ten(txn: &redb::WriteTransaction, id: Uuid) {
        let t = super::super::tenants::Tenant::new(id, ("t", "t"), 10, 1);
        super::super::tenants::create(&WriteTxn::new(txn), &t).unwrap();
    }

    #[test]
    fn a_gap_in_the_stream_a_reused_id_and_a_pending_delivery_without_its_event_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("store.redb")).unwrap();
        super::super::migrate::to_current(&db, dir.path()).unwrap();
        let (tenant, hook) = (Uuid::now_v7(), Uuid::now_v7());
        let txn = db.begin_write().unwrap();
        tenant_of_ten(&txn, tenant);
        // Four events recorded; the second is lost and the fourth reuses the first's id.
        for _ in 0..4 {
            events::seats_changed(&WriteTxn::new(&txn), tenant, 10, 0, 1_000).unwrap();
        }
        let first = events::get(&txn, tenant, 1).unwrap().unwrap();
        txn.open_table(EVENT_LOG).unwrap().remove((tenant.as_u128(), 2)).unwrap();
        let mut fourth = events::get(&txn, tenant, 4).unwrap().unwrap();
        fourth.id = first.id;
        events::put(&WriteTxn::new(&txn), &fourth).unwrap();
        let registration =
            webhooks::Webhook::new(hook, "http://127.0.0.1:9/".into(), "whsec_x".into(), 1_000);
        webhooks::put(&WriteTxn::new(&txn), tenant, &registration).unwrap();
        // A retry pending for an event that is not in the log (the lost seq 2).
        let mut gone = first.clone();
        gone.seq = 2;
        gone.id = Uuid::now_v7();
        webhooks::put_delivery(&WriteTxn::new(&txn), tenant, &webhooks::new_delivery(&gone, hook))
            .unwrap();
        txn.commit().unwrap();

        let report = run(&db.begin_read().unwrap()).unwrap();
        let problems = report.problems.join("\n");
        assert_eq!(report.problems.len(), 3, "{problems}");
        assert!(problems.contains("events 2..2 are missing"), "{problems}");
        assert!(problems.contains("is used twice"), "{problems}");
        assert!(problems.contains("pending, but its event is missing"), "{problems}");
    }

    /// A current store of one tenant with one user, ada, that `check` finds clean.
    fn one_user_store() -> (tempfile::TempDir, Database, Uuid, users::User) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("store.redb")).unwrap();
        super::super::migrate::to_current(&db, dir.path()).unwrap();
        let tenant = Uuid::now_v7();
        let txn = db.begin_write().unwrap();
        tenant_of_ten(&txn, tenant);
        let u = users::User::new(Uuid::now_v7(), "ada@example.com".into(), 5);
        lifecycle::create_user(&WriteTxn::new(&txn), tenant, &u).unwrap();
        txn.commit().unwrap();
        assert!(run(&db.begin_read().unwrap()).unwrap().problems.is_empty());
        (dir, db, tenant, u)
    }

    #[test]
    fn a_stray_or_misdirected_user_index_entry_is_reported() {
        let (_dir, db, tenant, u) = one_user_store();

        let (t, other) = (tenant.as_u128(), Uuid::now_v7().as_u128());
        let txn = db.begin_write().unwrap();
        {
            let mut index = txn.open_table(super::super::tables::USER_INDEX).unwrap();
            index.insert((t, users::user_name_key("ghost").as_str()), u.id.as_u128()).unwrap();
            index.insert((t, users::user_name_key("ada@example.com").as_str()), other).unwrap();
        }
        txn.commit().unwrap();
        let problems = run(&db.begin_read().unwrap()).unwrap().problems.join("\n");
        assert!(problems.contains("\"u:ghost\" -> "), "{problems}");
        assert!(problems.contains("has no user claiming it"), "{problems}");
        assert!(problems.contains("\"u:ada@example.com\" missing or elsewhere"), "{problems}");
    }

    #[test]
    fn a_missing_or_stray_user_attribute_row_is_reported() {
        let (_dir, db, tenant, u) = one_user_store();

        // The active row goes missing, and a row for no user appears.
        let txn = db.begin_write().unwrap();
        {
            let mut attrs = txn.open_table(super::super::tables::USER_ATTRS).unwrap();
            attrs.remove((tenant.as_u128(), 0, 1, u.id.as_u128())).unwrap();
            attrs.insert((tenant.as_u128(), 1, 7, Uuid::now_v7().as_u128()), ()).unwrap();
        }
        txn.commit().unwrap();
        let problems = run(&db.begin_read().unwrap()).unwrap().problems.join("\n");
        assert!(problems.contains("lacks its attribute row (0, 1)"), "{problems}");
        assert!(problems.contains("attribute row (1, 7) of user"), "{problems}");
        // With the missing row back, the stray one still shows, and in the count.
        let txn = db.begin_write().unwrap();
        txn.open_table(super::super::tables::USER_ATTRS)
            .unwrap()
            .insert((tenant.as_u128(), 0, 1, u.id.as_u128()), ())
            .unwrap();
        txn.commit().unwrap();
        let problems = run(&db.begin_read().unwrap()).unwrap().problems.join("\n");
        assert!(problems.contains("attribute row (1, 7) of user"), "{problems}");
        assert!(problems.contains("3 user attribute rows for 1 users"), "{problems}");
    }
}
