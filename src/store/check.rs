//! `whoot-mgmt check`: verifies the store on one read transaction and reports every problem it
//! finds, changing nothing. Every index entry points at a record that claims it, and every
//! record's entries exist; counters equal recounts; memberships are stored both ways; the
//! webhook due index matches the pending deliveries, whose events are on record.

use std::collections::HashSet;

use redb::{ReadTransaction, ReadableTable};
use uuid::Uuid;

use super::tables::*;
use super::{Result, codec, counters, rooms, users, webhooks};

/// What was looked at, and what is wrong (empty: the store is consistent).
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub tenants: u64,
    pub users: u64,
    pub rooms: u64,
    pub memberships: u64,
    pub deliveries: u64,
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
    check_events(tx, &mut r)?;
    check_deliveries(tx, &mut r)?;
    check_subscriptions(tx, &mut r)?;
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

fn check_users(tx: &ReadTransaction, t: u128, r: &mut Report) -> Result<()> {
    let tenant = Uuid::from_u128(t);
    let (table, index) = (tx.open_table(USERS)?, tx.open_table(USER_INDEX)?);
    let mut owned: HashSet<String> = HashSet::new();
    for row in table.range((t, 0)..=(t, u128::MAX))? {
        let u: users::User = codec::decode(row?.1.value())?;
        r.users += 1;
        let keys = u.index_keys().into_iter().map(|(k, _)| k).chain(users::any_email_keys(&u));
        for key in keys {
            match index.get((t, key.as_str()))? {
                Some(v) if v.value() == u.id.as_u128() => {}
                _ => r
                    .problems
                    .push(format!("user {}: index entry {key:?} missing or elsewhere", u.id)),
            }
            owned.insert(key);
        }
    }
    for row in index.range((t, "")..)? {
        let (key, id) = row?;
        let (kt, key) = key.value();
        if kt != t {
            break;
        }
        if !owned.contains(key) {
            let id = Uuid::from_u128(id.value());
            r.problems.push(format!(
                "tenant {tenant}: user index entry {key:?} -> {id} has no user claiming it"
            ));
        }
    }
    let (all, active) = users::recount(tx, tenant)?;
    compare(r, tenant, counters::USERS, counters::get(tx, tenant, counters::USERS)?, all);
    let provisioned = counters::get(tx, tenant, counters::SEATS_PROVISIONED)?;
    compare(r, tenant, counters::SEATS_PROVISIONED, provisioned, active);
    Ok(())
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
            match index.get((t, key.as_str()))? {
                Some(v) if v.value() == room.id.as_u128() => {}
                _ => r
                    .problems
                    .push(format!("room {}: index entry {key:?} missing or elsewhere", room.id)),
            }
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
    for row in index.range((t, "")..)? {
        let (key, _) = row?;
        let (kt, key) = key.value();
        if kt != t {
            break;
        }
        if !owned.contains(key) {
            r.problems
                .push(format!("tenant {tenant}: room index entry {key:?} has no room claiming it"));
        }
    }
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
            r.problems.push(format!(
                "subscription index entry for missing webhook {}",
                Uuid::from_u128(w)
            ));
        }
    }
    Ok(())
}

/// An event is in the outbox or in the event log, not both. (A store older than schema 3 has
/// no such outbox: all its events are in the log.)
fn check_events(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    let Some(outbox) = open_if_present(tx, OUTBOX)? else { return Ok(()) };
    let events = tx.open_table(EVENTS)?;
    for row in outbox.iter()? {
        let key = row?.0.value();
        if events.get(key)?.is_some() {
            r.problems.push(format!(
                "webhook event {} is both in the outbox and in the event log",
                Uuid::from_u128(key.1)
            ));
        }
    }
    Ok(())
}

/// Deliveries belong to registrations; the due index lists exactly the pending ones, whose events
/// are on record (a retry renders its body from its event).
fn check_deliveries(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    let (deliveries, due) = (tx.open_table(DELIVERIES)?, tx.open_table(DELIVERIES_DUE)?);
    let (hooks, events) = (tx.open_table(WEBHOOKS)?, tx.open_table(EVENTS)?);
    let outbox = open_if_present(tx, OUTBOX)?;
    for row in deliveries.iter()? {
        let (key, bytes) = row?;
        let (t, w, id) = key.value();
        let d: webhooks::Delivery = codec::decode(bytes.value())?;
        r.deliveries += 1;
        if hooks.get((t, w))?.is_none() {
            r.problems.push(format!("delivery {}: its registration is missing", d.id));
        }
        let event = (d.created_at, d.event_id.as_u128());
        if d.status == webhooks::DeliveryStatus::Pending && events.get(event)?.is_none() {
            let in_outbox = match &outbox {
                Some(outbox) => outbox.get(event)?.is_some(),
                None => false,
            };
            if !in_outbox {
                r.problems.push(format!("delivery {}: pending, but its event is missing", d.id));
            }
        }
        if let (webhooks::DeliveryStatus::Pending, Some(at)) = (d.status, d.next_attempt_at)
            && due.get((at, t, w, id))?.is_none()
        {
            r.problems.push(format!("delivery {}: pending but not in the due index", d.id));
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
            r.problems.push(format!(
                "due index entry for delivery {} matches no pending delivery",
                Uuid::from_u128(id)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    #[test]
    fn an_event_in_two_places_and_a_pending_delivery_without_its_event_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("store.redb")).unwrap();
        super::super::migrate::to_current(&db, dir.path()).unwrap();
        let (tenant, hook) = (Uuid::now_v7(), Uuid::now_v7());
        let event = |id: u128| webhooks::OutboxEvent {
            tenant,
            event_id: Uuid::from_u128(id),
            event_type: "user.created".into(),
            occurred_at: 1_000,
            data: webhooks::EventData::SeatsExhausted { capacity: 1 },
            webhooks: vec![hook],
        };
        let (twice, gone) = (event(1), event(2));
        let txn = db.begin_write().unwrap();
        {
            let bytes = codec::encode(&twice).unwrap();
            txn.open_table(OUTBOX).unwrap().insert(twice.key(), bytes.as_slice()).unwrap();
            txn.open_table(EVENTS).unwrap().insert(twice.key(), bytes.as_slice()).unwrap();
        }
        let registration = webhooks::Webhook {
            id: hook,
            url: "http://127.0.0.1:9/".into(),
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            secret: "whsec_x".into(),
            disabled_reason: None,
            failing_since: None,
            created_at: 1_000,
            updated_at: 1_000,
        };
        webhooks::put(&txn, tenant, &registration).unwrap();
        // A retry pending for an event that is nowhere.
        webhooks::put_delivery(&txn, tenant, &gone.delivery(hook)).unwrap();
        txn.commit().unwrap();

        let report = run(&db.begin_read().unwrap()).unwrap();
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems[0].contains("both in the outbox and in the event log"));
        assert!(report.problems[1].contains("pending, but its event is missing"));
    }
}
