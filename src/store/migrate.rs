//! Schema upgrades. A store records the schema version that wrote it; opening an older one
//! first copies it aside (`whoot-schema-v{N}-{unix ms}.redb` in the data directory), then runs
//! every step from its version to ours in one write transaction, so a crash mid-upgrade leaves
//! the old store as it was. A newer store is refused before anything is written.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, WriteTransaction};

use std::collections::HashMap;

use redb::ReadableTable;
use uuid::Uuid;

use super::error::{Error, Failure, Result};
use super::files::copy_into_new_file;
use super::legacy::{
    DeliveryV3, EventDataV4, EventV3, EventV4, EventV12, UserV4, WebhookV3, WebhookV10, WebhookV12,
};
use super::tables::SCHEMA_VERSION;
use super::users::User;
use super::webhooks::{self, Delivery, DeliveryStatus, Webhook};
use super::{codec, counters, tables};
use crate::time::now_ms;

/// `STEPS[i]` takes a store from version `i + 1` to `i + 2`.
const STEPS: &[fn(&WriteTransaction) -> Result<()>] = &[
    v1_to_v2, v2_to_v3, v3_to_v4, v4_to_v5, v5_to_v6, v6_to_v7, v7_to_v8, v8_to_v9, v9_to_v10,
    v10_to_v11, v11_to_v12, v12_to_v13, v13_to_v14,
];

/// Schema 14 keeps positions in userName order and in modification order too (`NAME_BLOCKS`,
/// `MODIFIED_BLOCKS`, created with every table), so a deep page sorted by userName need not
/// sort every user, nor one of `meta.lastModified ge` step over the users before it: built
/// here from the indexes.
fn v13_to_v14(txn: &WriteTransaction) -> Result<()> {
    super::positions::rebuild_all_derived(txn)
}

/// Schema 13 sends changes as SCIM security events too: each event records the request that
/// made it and the attributes it set (none for older events), a registration may be a SET
/// receiver, and the server's SET signing keys get a table (filled when the server starts).
fn v12_to_v13(txn: &WriteTransaction) -> Result<()> {
    let mut hooks = Vec::new();
    for row in txn.open_table(tables::WEBHOOKS)?.iter()? {
        let (key, bytes) = row?;
        let old: WebhookV12 = codec::decode(bytes.value())?;
        hooks.push((key.value(), codec::encode(&Webhook::from(old))?));
    }
    let mut table = txn.open_table(tables::WEBHOOKS)?;
    for (key, bytes) in hooks {
        table.insert(key, bytes.as_slice())?;
    }
    drop(table);
    // Whether each room is a SCIM group: what a membership's SET needs (old events are read as
    // of the room today).
    let mut groups = std::collections::HashSet::new();
    for row in txn.open_table(tables::ROOMS)?.iter()? {
        let (key, bytes) = row?;
        let room: super::rooms::Room = codec::decode(bytes.value())?;
        if room.mapped {
            groups.insert(key.value());
        }
    }
    let mut events = txn.open_table(tables::EVENT_LOG)?;
    let mut next = Some((0u128, 0u64));
    // In chunks: a million events need not be held at once.
    while let Some(from) = next.take() {
        let mut rows = Vec::new();
        for row in events.range(from..)?.take(4096) {
            let (key, bytes) = row?;
            let old: EventV12 = codec::decode(bytes.value())?;
            let tenant = key.value().0;
            let event = old.upgraded(|room| groups.contains(&(tenant, room.as_u128())));
            rows.push((key.value(), codec::encode(&event)?));
        }
        if rows.len() == 4096 {
            next = rows.last().map(|((t, seq), _)| (*t, seq.saturating_add(1)));
        }
        for (key, bytes) in rows {
            events.insert(key, bytes.as_slice())?;
        }
    }
    drop(events);
    txn.open_table(tables::SET_KEYS)?;
    Ok(())
}

/// Schema 12 adds the provisioning log (its tables start empty; creating every table at the
/// end of an upgrade makes them).
fn v11_to_v12(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(tables::PROVISIONING_LOG)?;
    txn.open_table(tables::PROVISIONING_INDEX)?;
    Ok(())
}

/// Schema 11 lets a registration keep its previous signing secret through a rotation's overlap,
/// and choose thin payloads (full, as before, unless changed).
fn v10_to_v11(txn: &WriteTransaction) -> Result<()> {
    let mut hooks = Vec::new();
    for row in txn.open_table(tables::WEBHOOKS)?.iter()? {
        let (key, bytes) = row?;
        let old: WebhookV10 = codec::decode(bytes.value())?;
        let hook = WebhookV12 {
            id: old.id,
            url: old.url,
            events: old.events,
            description: old.description,
            active: old.active,
            secret: old.secret,
            disabled_reason: old.disabled_reason,
            failing_since: old.failing_since,
            failing_for_ms: old.failing_for_ms,
            last_failure_at: old.last_failure_at,
            created_at: old.created_at,
            updated_at: old.updated_at,
            previous_secret: None,
            thin: false,
        };
        hooks.push((key.value(), codec::encode(&hook)?));
    }
    let mut table = txn.open_table(tables::WEBHOOKS)?;
    for (key, bytes) in hooks {
        table.insert(key, bytes.as_slice())?;
    }
    Ok(())
}

/// Schema 10 indexes rooms by display name (SCIM's `displayName eq`): the entries are built
/// here for every room.
fn v9_to_v10(txn: &WriteTransaction) -> Result<()> {
    use super::record::Indexed;
    let mut entries = Vec::new();
    for row in txn.open_table(tables::ROOMS)?.iter()? {
        let (key, bytes) = row?;
        let room: super::rooms::Room = codec::decode(bytes.value())?;
        for (index_key, attribute) in room.index_keys() {
            if attribute == "display name" {
                entries.push((key.value().0, index_key, room.id.as_u128()));
            }
        }
    }
    let mut index = txn.open_table(tables::ROOM_INDEX)?;
    for (tenant, key, id) in entries {
        index.insert((tenant, key.as_str()), id)?;
    }
    Ok(())
}

/// Schema 9 gives keys a SCIM profile (none: the tenant's) and tenants a default one
/// (compatible, what every key had before).
fn v8_to_v9(txn: &WriteTransaction) -> Result<()> {
    use super::keys::{ApiKey, ScimProfile};
    use super::legacy::{ApiKeyV8, TenantV8};
    use super::tenants::Tenant;
    let mut keys = txn.open_table(tables::KEYS)?;
    let mut rows = Vec::new();
    for row in keys.iter()? {
        let (id, bytes) = row?;
        let k: ApiKeyV8 = codec::decode(bytes.value())?;
        let key = ApiKey {
            id: k.id,
            tenant_id: k.tenant_id,
            hash: k.hash,
            prefix: k.prefix,
            description: k.description,
            scopes: k.scopes,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            scim_profile: None,
        };
        rows.push((id.value(), codec::encode(&key)?));
    }
    for (id, bytes) in rows.drain(..) {
        keys.insert(id, bytes.as_slice())?;
    }
    let mut tenants = txn.open_table(tables::TENANTS)?;
    for row in tenants.iter()? {
        let (id, bytes) = row?;
        let t: TenantV8 = codec::decode(bytes.value())?;
        let tenant = Tenant {
            id: t.id,
            slug: t.slug,
            name: t.name,
            seat_capacity: t.seat_capacity,
            rate_limit_per_minute: t.rate_limit_per_minute,
            owner_user_id: t.owner_user_id,
            created_at: t.created_at,
            scim_profile: ScimProfile::Compatible,
            maintenance: false,
        };
        rows.push((id.value(), codec::encode(&tenant)?));
    }
    for (id, bytes) in rows {
        tenants.insert(id, bytes.as_slice())?;
    }
    Ok(())
}

/// Schema 8 keeps positions in the users (`USER_BLOCKS`, created with every table), so a deep
/// `startIndex` page need not step over every user before it. It also rebuilds schema 7's
/// `USER_ATTRS`: schema 7 left a deleted active user's `active` row behind.
fn v7_to_v8(txn: &WriteTransaction) -> Result<()> {
    super::positions::rebuild(txn)?;
    txn.delete_table(tables::USER_ATTRS)?;
    v6_to_v7(txn)
}

/// Schema 7 indexes users by `active` and by last modification (`USER_ATTRS`, created with
/// every table), for the filters sync tools send: the rows are built here for every user.
fn v6_to_v7(txn: &WriteTransaction) -> Result<()> {
    let mut rows = Vec::new();
    for row in txn.open_table(tables::USERS)?.iter()? {
        let (key, bytes) = row?;
        let (tenant, id) = key.value();
        let user: super::users::User = codec::decode(bytes.value())?;
        for (family, value) in super::users::attribute_rows(&user) {
            rows.push((tenant, family, value, id));
        }
    }
    let mut attrs = txn.open_table(tables::USER_ATTRS)?;
    for key in rows {
        attrs.insert(key, ())?;
    }
    Ok(())
}

/// Schema 2 added `SUBSCRIPTIONS`, built here from the registrations.
fn v1_to_v2(txn: &WriteTransaction) -> Result<()> {
    let (hooks, mut table) =
        (txn.open_table(tables::WEBHOOKS)?, txn.open_table(tables::SUBSCRIPTIONS)?);
    for row in hooks.iter()? {
        let (key, bytes) = row?;
        let hook: WebhookV3 = codec::decode(bytes.value())?;
        if let Some(mask) = super::events::subscription_mask(hook.active, &hook.events) {
            table.insert(key.value(), mask)?;
        }
    }
    Ok(())
}

/// Schema 3 kept outbox events in `OUTBOX_V3` itself (one row per change, not an event row and
/// a key): the events still in schema 2's outbox move there.
fn v2_to_v3(txn: &WriteTransaction) -> Result<()> {
    let mut keys = Vec::new();
    for row in txn.open_table(tables::OUTBOX_KEYS_V2)?.iter()? {
        keys.push(row?.0.value());
    }
    let (mut events, mut outbox) =
        (txn.open_table(tables::EVENTS_V3)?, txn.open_table(tables::OUTBOX_V3)?);
    for key in keys {
        if let Some(bytes) = events.remove(key)? {
            outbox.insert(key, bytes.value())?;
        }
    }
    drop((events, outbox));
    txn.delete_table(tables::OUTBOX_KEYS_V2)?;
    Ok(())
}

/// Schema 6 adds the audit log (`AUDIT_LOG`, created with every table): nothing to move.
fn v5_to_v6(_: &WriteTransaction) -> Result<()> {
    Ok(())
}

/// Schema 5 types the user record (see `legacy::UserV4`): users, deleted users and the users
/// events carry are rewritten.
fn v4_to_v5(txn: &WriteTransaction) -> Result<()> {
    for table in [tables::USERS, tables::DELETED_USERS] {
        let mut rows = Vec::new();
        for row in txn.open_table(table)?.iter()? {
            let (key, bytes) = row?;
            let old: UserV4 = codec::decode(bytes.value())?;
            rows.push((key.value(), codec::encode(&User::from(old))?));
        }
        let mut table = txn.open_table(table)?;
        for (key, bytes) in rows {
            table.insert(key, bytes.as_slice())?;
        }
    }
    let mut rows = Vec::new();
    for row in txn.open_table(tables::EVENT_LOG)?.iter()? {
        let (key, bytes) = row?;
        let old: EventV4 = codec::decode(bytes.value())?;
        rows.push((key.value(), codec::encode(&EventV12::from(old))?));
    }
    let mut log = txn.open_table(tables::EVENT_LOG)?;
    for (key, bytes) in rows {
        log.insert(key, bytes.as_slice())?;
    }
    Ok(())
}

/// Schema 4 numbers events: every event of schema 3's outbox and log joins the tenant's stream
/// (in time order, keeping its id), outbox rows name the registrations still waiting, deliveries
/// carry their event's `seq` and resource and stand in their lanes (only the first pending one
/// about a resource stays due), and registrations count failing time from now on.
fn v3_to_v4(txn: &WriteTransaction) -> Result<()> {
    let mut old: Vec<(EventV3, bool)> = Vec::new();
    for (table, in_outbox) in [(tables::EVENTS_V3, false), (tables::OUTBOX_V3, true)] {
        for row in txn.open_table(table)?.iter()? {
            old.push((codec::decode(row?.1.value())?, in_outbox));
        }
    }
    old.sort_by_key(|(e, _)| (e.occurred_at, e.event_id));
    let mut placed: HashMap<Uuid, (u64, Uuid)> = HashMap::new();
    for (e, in_outbox) in old {
        let seq = counters::add(&super::txn::WriteTxn::new(txn), e.tenant, counters::EVENT_SEQ, 1)?;
        let (resource, version) = match &e.data {
            EventDataV4::User(u) => (u.id, Some(u.version)),
            EventDataV4::Member { room, .. } => (*room, None),
            EventDataV4::Room { room, .. } => (room.id, Some(room.version)),
            EventDataV4::SeatsExhausted { .. } | EventDataV4::Seats { .. } => (e.tenant, None),
        };
        placed.insert(e.event_id, (seq, resource));
        let t = e.tenant.as_u128();
        if in_outbox {
            let deliveries = txn.open_table(tables::DELIVERIES)?;
            let mut waiting = Vec::new();
            for &w in &e.webhooks {
                let id = webhooks::delivery_id(e.event_id, w, e.occurred_at);
                if deliveries.get((t, w.as_u128(), id.as_u128()))?.is_none() {
                    waiting.push(w);
                }
            }
            if !waiting.is_empty() {
                let bytes = codec::encode(&waiting)?;
                txn.open_table(tables::OUTBOX)?.insert((t, seq), bytes.as_slice())?;
            }
        }
        let event = EventV4 {
            tenant: e.tenant,
            seq,
            id: e.event_id,
            event_type: e.event_type,
            occurred_at: e.occurred_at,
            resource,
            version,
            data: e.data,
        };
        let bytes = codec::encode(&event)?;
        txn.open_table(tables::EVENT_LOG)?.insert((t, seq), bytes.as_slice())?;
    }

    let mut rows = Vec::new();
    for row in txn.open_table(tables::DELIVERIES)?.iter()? {
        let (key, bytes) = row?;
        let old: DeliveryV3 = codec::decode(bytes.value())?;
        let (seq, resource) = placed.get(&old.event_id).copied().unwrap_or((0, Uuid::nil()));
        let d = Delivery {
            id: old.id,
            webhook_id: old.webhook_id,
            event_id: old.event_id,
            seq,
            resource,
            event_type: old.event_type,
            status: old.status,
            attempts: old.attempts,
            last_status_code: old.last_status_code,
            last_error: old.last_error,
            last_duration_ms: old.last_duration_ms,
            next_attempt_at: old.next_attempt_at,
            created_at: old.created_at,
            updated_at: old.updated_at,
        };
        rows.push((key.value(), d));
    }
    // Pending deliveries join their lanes in seq order; only each lane's first stays due.
    rows.sort_by_key(|((t, w, _), d)| (*t, *w, d.resource, d.seq));
    let (mut table, mut due, mut lanes) = (
        txn.open_table(tables::DELIVERIES)?,
        txn.open_table(tables::DELIVERIES_DUE)?,
        txn.open_table(tables::LANES)?,
    );
    let mut previous_lane = None;
    for ((t, w, id), mut d) in rows {
        if d.status == DeliveryStatus::Pending && !d.resource.is_nil() {
            let lane = (t, w, d.resource.as_u128());
            if previous_lane == Some(lane)
                && let Some(at) = d.next_attempt_at.take()
            {
                due.remove((at, t, w, id))?;
            }
            previous_lane = Some(lane);
            lanes.insert((lane.0, lane.1, lane.2, d.seq), id)?;
        }
        let bytes = codec::encode(&d)?;
        table.insert((t, w, id), bytes.as_slice())?;
    }
    drop((table, due, lanes));

    let mut hooks = Vec::new();
    for row in txn.open_table(tables::WEBHOOKS)?.iter()? {
        let (key, bytes) = row?;
        let old: WebhookV3 = codec::decode(bytes.value())?;
        hooks.push((key.value(), old));
    }
    let mut table = txn.open_table(tables::WEBHOOKS)?;
    for (key, old) in hooks {
        // Failing time starts at zero: the old layout counted time the server was stopped.
        let hook = WebhookV10 {
            id: old.id,
            url: old.url,
            events: old.events,
            description: old.description,
            active: old.active,
            secret: old.secret,
            disabled_reason: old.disabled_reason,
            failing_since: old.failing_since,
            failing_for_ms: 0,
            last_failure_at: None,
            created_at: old.created_at,
            updated_at: old.updated_at,
        };
        let bytes = codec::encode(&hook)?;
        table.insert(key, bytes.as_slice())?;
    }
    drop(table);
    txn.delete_table(tables::OUTBOX_V3)?;
    txn.delete_table(tables::EVENTS_V3)?;
    Ok(())
}

/// What opening did to the schema.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opened {
    Created,
    Current,
    Upgraded { from: u64, backup: PathBuf },
}

/// Brings the store to `SCHEMA_VERSION`, creating every table.
/// Brings `db` from schema `from` (None: a new or current store) to ours, in one transaction.
pub(super) fn run_steps(db: &Database, from: Option<u64>) -> Result<()> {
    let txn = super::txn::begin_durable(db)?;
    tables::create_all(&txn)?;
    if let Some(from) = from {
        let first = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        for step in STEPS.get(first..).unwrap_or_default() {
            step(&txn)?;
        }
    }
    txn.open_table(tables::META)?.insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION)?;
    txn.commit()?;
    Ok(())
}

/// The schema version `db` records (None: a new store).
fn schema_of(db: &Database) -> Result<Option<u64>> {
    tables::meta(&db.begin_read()?, tables::META_SCHEMA_VERSION)
}

/// Refuses a store written by a newer build before anything (its log too) is touched.
pub(super) fn refuse_newer(db: &Database) -> Result<()> {
    match schema_of(db)? {
        Some(v) if v > SCHEMA_VERSION => {
            Err(Error::Failed(Failure::TooNew { found: v, supported: SCHEMA_VERSION }))
        }
        _ => Ok(()),
    }
}

pub(super) fn to_current(db: &Database, data_dir: &Path) -> Result<Opened> {
    let opened = match schema_of(db)? {
        None => Opened::Created,
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Error::Failed(Failure::TooNew { found: v, supported: SCHEMA_VERSION }));
        }
        Some(v) if v == SCHEMA_VERSION => Opened::Current,
        Some(0) => {
            return Err(Error::Failed(Failure::Storage(
                "the store records schema version 0".into(),
            )));
        }
        Some(from) => {
            let backup = data_dir.join(format!("whoot-schema-v{from}-{}.redb", now_ms()));
            copy_into_new_file(&backup, |target| tables::copy_all(&db.begin_read()?, target))?;
            Opened::Upgraded { from, backup }
        }
    };
    let from = match &opened {
        Opened::Upgraded { from, .. } => Some(*from),
        Opened::Created | Opened::Current => None,
    };
    run_steps(db, from)?;
    if let Opened::Upgraded { from, backup } = &opened {
        tracing::info!(
            from = *from,
            to = SCHEMA_VERSION,
            backup = %backup.display(),
            "upgraded the store's schema; the store as it was is kept in the backup"
        );
    }
    Ok(opened)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::events::EventData;
    use crate::store::txn::WriteTxn;

    #[test]
    fn there_is_a_step_for_every_older_version() {
        assert_eq!(STEPS.len() as u64, SCHEMA_VERSION - 1);
    }

    /// A schema 13 store has no userName-order blocks: the upgrade cuts them from the index, so a
    /// walk in userName order from any position answers, and `check` finds nothing amiss.
    #[test]
    fn schema_13_users_get_their_user_name_positions() {
        use crate::store::{tenants::Tenant, users};
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join(super::super::tables::STORE_FILE)).unwrap();
        to_current(&db, dir.path()).unwrap();
        let tenant = Uuid::now_v7();
        let txn = db.begin_write().unwrap();
        let w = WriteTxn::new(&txn);
        crate::store::tenants::create(&w, &Tenant::new(tenant, ("t", "t"), 5000, 1)).unwrap();
        let mut names: Vec<String> =
            (0..3000).map(|i| format!("User{}", (i * 7919) % 3000)).collect();
        for (i, name) in names.iter().enumerate() {
            let mut u = User::new(Uuid::now_v7(), name.clone(), 1);
            u.active = i % 4 != 0;
            crate::store::lifecycle::create_user(&w, tenant, &u).unwrap();
        }
        drop(w);
        txn.delete_table(tables::NAME_BLOCKS).unwrap();
        txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 13).unwrap();
        txn.commit().unwrap();
        assert!(matches!(to_current(&db, dir.path()).unwrap(), Opened::Upgraded { from: 13, .. }));

        let read = db.begin_read().unwrap();
        names.sort_by_key(|n| n.to_lowercase());
        for skip in [0usize, 1, 1500, 2999] {
            let mut first = None;
            users::walk(&read, tenant, users::Walk::Named(None), skip as u64, |id| {
                first = Some(users::get(&read, tenant, id).unwrap().user_name);
                Ok(false)
            })
            .unwrap();
            assert_eq!(first.as_ref(), names.get(skip), "skip {skip}");
        }
        let mut inactive = 0;
        users::walk(&read, tenant, users::Walk::Named(Some(false)), 0, |_| {
            inactive += 1;
            Ok(true)
        })
        .unwrap();
        assert_eq!(inactive, 750);
        assert_eq!(crate::store::check::run(&read).unwrap().problems, Vec::<String>::new());
    }

    /// Schema 12's events and registrations read as today's: no cause, no attributes, a
    /// membership's group as its room is now; a registration is no SET receiver.
    #[test]
    fn schema_12_events_and_registrations_are_read_into_schema_13() {
        use super::super::legacy::EventDataV12;
        use crate::store::rooms::Room;
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join(super::super::tables::STORE_FILE)).unwrap();
        to_current(&db, dir.path()).unwrap();
        let tenant = Uuid::now_v7();
        let (mut group, native) =
            (Room::new(Uuid::now_v7(), "g", 1), Room::new(Uuid::now_v7(), "n", 1));
        group.mapped = true;
        let member = |seq: u64, room: Uuid| EventV12 {
            tenant,
            seq,
            id: Uuid::now_v7(),
            event_type: "room.member_added".into(),
            occurred_at: 1,
            resource: room,
            version: Some(1),
            data: EventDataV12::Member { room, user: Uuid::now_v7(), tx_permission: false },
        };
        let hook = WebhookV12 {
            id: Uuid::now_v7(),
            url: "https://example.com/in".into(),
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            secret: "whsec_x".into(),
            disabled_reason: None,
            failing_since: None,
            failing_for_ms: 0,
            last_failure_at: None,
            created_at: 1,
            updated_at: 1,
            previous_secret: None,
            thin: true,
        };
        let txn = db.begin_write().unwrap();
        {
            let mut rooms = txn.open_table(tables::ROOMS).unwrap();
            for r in [&group, &native] {
                let bytes = codec::encode(r).unwrap();
                rooms.insert((tenant.as_u128(), r.id.as_u128()), bytes.as_slice()).unwrap();
            }
            let mut log = txn.open_table(tables::EVENT_LOG).unwrap();
            for (seq, room) in [(1, group.id), (2, native.id)] {
                let bytes = codec::encode(&member(seq, room)).unwrap();
                log.insert((tenant.as_u128(), seq), bytes.as_slice()).unwrap();
            }
            let bytes = codec::encode(&hook).unwrap();
            let key = (tenant.as_u128(), hook.id.as_u128());
            txn.open_table(tables::WEBHOOKS).unwrap().insert(key, bytes.as_slice()).unwrap();
            txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 12).unwrap();
        }
        txn.commit().unwrap();
        assert!(matches!(to_current(&db, dir.path()).unwrap(), Opened::Upgraded { from: 12, .. }));

        let read = db.begin_read().unwrap();
        let groups: Vec<bool> = [1, 2]
            .iter()
            .map(|&seq| {
                let e = super::super::events::get(&read, tenant, seq).unwrap().unwrap();
                assert!(e.cause.is_none() && e.attributes.is_empty());
                match e.data {
                    EventData::Member { group, .. } => group,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(groups, [true, false]);
        let upgraded = webhooks::get(&read, tenant, hook.id).unwrap();
        assert!(upgraded.set.is_none() && upgraded.thin && upgraded.url == hook.url);
    }

    #[test]
    fn schema_6_users_get_their_active_and_modification_entries() {
        use crate::store::users::{self, User};
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join(super::super::tables::STORE_FILE)).unwrap();
        to_current(&db, dir.path()).unwrap();
        let tenant = Uuid::now_v7();
        let mut off = User::new(Uuid::now_v7(), "off@example.com".into(), 5);
        off.active = false;
        off.updated_at = 9;
        let on = User::new(Uuid::now_v7(), "on@example.com".into(), 7);
        let txn = db.begin_write().unwrap();
        for u in [&off, &on] {
            let bytes = codec::encode(u).unwrap();
            let key = (tenant.as_u128(), u.id.as_u128());
            txn.open_table(tables::USERS).unwrap().insert(key, bytes.as_slice()).unwrap();
        }
        txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 6).unwrap();
        txn.commit().unwrap();
        assert!(matches!(to_current(&db, dir.path()).unwrap(), Opened::Upgraded { from: 6, .. }));

        let read = db.begin_read().unwrap();
        let walk = |w: users::Walk| {
            let mut ids = Vec::new();
            users::walk(&read, tenant, w, 0, |id| {
                ids.push(id);
                Ok(true)
            })
            .unwrap();
            ids
        };
        assert_eq!(walk(users::Walk::Active(true)), [on.id]);
        assert_eq!(walk(users::Walk::Active(false)), [off.id]);
        // By modification time: `on` (7) before `off` (9); from 8 on, only `off`.
        assert_eq!(walk(users::Walk::ModifiedFrom(0)), [on.id, off.id]);
        assert_eq!(walk(users::Walk::ModifiedFrom(8)), [off.id]);
    }

    #[test]
    fn schema_7_stores_get_positions_and_lose_the_rows_deleted_users_left() {
        use crate::store::users::{self, User};
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join(super::super::tables::STORE_FILE)).unwrap();
        to_current(&db, dir.path()).unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let txn = db.begin_write().unwrap();
        let mut made = Vec::new();
        for (tenant, n) in [(a, 1500i64), (b, 3)] {
            let record =
                crate::store::tenants::Tenant::new(tenant, (&format!("t{n}"), "t"), 10_000, 1);
            crate::store::tenants::create(&WriteTxn::new(&txn), &record).unwrap();
            crate::store::counters::add(
                &WriteTxn::new(&txn),
                tenant,
                crate::store::counters::USERS,
                n,
            )
            .unwrap();
            let seats = crate::store::counters::SEATS_PROVISIONED;
            crate::store::counters::add(&WriteTxn::new(&txn), tenant, seats, n).unwrap();
            for i in 0..n {
                let u = User::new(Uuid::now_v7(), format!("u{i}"), 5);
                let bytes = codec::encode(&u).unwrap();
                let key = (tenant.as_u128(), u.id.as_u128());
                txn.open_table(tables::USERS).unwrap().insert(key, bytes.as_slice()).unwrap();
                made.push((tenant, u.id));
            }
        }
        // What schema 7 left of a deleted active user: its `active` row.
        let gone = Uuid::now_v7().as_u128();
        txn.open_table(tables::USER_ATTRS).unwrap().insert((a.as_u128(), 0, 1, gone), ()).unwrap();
        txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 7).unwrap();
        txn.commit().unwrap();
        assert!(matches!(to_current(&db, dir.path()).unwrap(), Opened::Upgraded { from: 7, .. }));

        let read = db.begin_read().unwrap();
        let mut active = 0;
        users::walk(&read, a, users::Walk::Active(true), 0, |id| {
            assert_ne!(id.as_u128(), gone);
            active += 1;
            Ok(true)
        })
        .unwrap();
        assert_eq!(active, 1500);
        let nth = |tenant: Uuid, skip: u64| {
            let mut first = None;
            users::scan(&read, tenant, skip, |u| {
                first = Some(u.id);
                Ok(false)
            })
            .unwrap();
            first
        };
        assert_eq!(nth(a, 1234), Some(made[1234].1));
        assert_eq!(nth(a, 1499), Some(made[1499].1));
        assert_eq!(nth(a, 1500), None);
        assert_eq!(nth(b, 2), Some(made[1502].1));
        // Raw rows have no userName entries (one problem each); nothing else is amiss.
        let report = crate::store::check::run(&read).unwrap();
        let (index, other): (Vec<_>, Vec<_>) =
            report.problems.iter().partition(|p| p.contains("index entry"));
        assert_eq!((report.users, index.len()), (1503, 1503));
        assert_eq!(other, Vec::<&String>::new());
    }

    #[test]
    fn schema_4_users_get_typed_emails_and_name_parts_in_their_records_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join(super::super::tables::STORE_FILE)).unwrap();
        to_current(&db, dir.path()).unwrap();
        let tenant = Uuid::now_v7();
        let old = UserV4 {
            id: Uuid::now_v7(),
            user_name: "ada".into(),
            external_id: None,
            email: Some("ada@work.example".into()),
            display_name: None,
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            active: true,
            roles: Default::default(),
            created_at: 1,
            updated_at: 2,
            version: 3,
            deleted_at: None,
            extra: serde_json::json!({
                "emails": [{"value": "ada@work.example", "type": "work", "primary": true},
                    {"value": "ada@home.example"}],
                "displayName": "Countess", "name": {"honorificPrefix": "Lady"},
                "phoneNumbers": [{"value": "+1"}], "title": "Analyst"})
            .to_string(),
        };
        let event = EventV4 {
            tenant,
            seq: 1,
            id: Uuid::now_v7(),
            event_type: "user.created".into(),
            occurred_at: 2,
            resource: old.id,
            version: Some(3),
            data: EventDataV4::User(old.clone()),
        };
        let txn = db.begin_write().unwrap();
        {
            let bytes = codec::encode(&old).unwrap();
            let key = (tenant.as_u128(), old.id.as_u128());
            txn.open_table(tables::USERS).unwrap().insert(key, bytes.as_slice()).unwrap();
            let bytes = codec::encode(&event).unwrap();
            txn.open_table(tables::EVENT_LOG)
                .unwrap()
                .insert((key.0, 1), bytes.as_slice())
                .unwrap();
            txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 4).unwrap();
        }
        txn.commit().unwrap();
        assert!(matches!(to_current(&db, dir.path()).unwrap(), Opened::Upgraded { from: 4, .. }));

        let read = db.begin_read().unwrap();
        let user = super::super::users::get(&read, tenant, old.id).unwrap();
        let emails: Vec<&str> = user.emails.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(emails, ["ada@work.example", "ada@home.example"]);
        assert_eq!(
            (user.emails[0].kind.as_deref(), user.emails[0].primary),
            (Some("work"), Some(true))
        );
        assert_eq!(user.label.as_deref(), Some("Countess"));
        assert_eq!(user.honorific_prefix.as_deref(), Some("Lady"));
        assert_eq!((user.version, user.updated_at), (3, 2));
        let extra: serde_json::Value = serde_json::from_str(&user.extra).unwrap();
        assert_eq!(
            extra,
            serde_json::json!({"phoneNumbers": [{"value": "+1"}], "title": "Analyst"})
        );
        let logged = super::super::events::get(&read, tenant, 1).unwrap().unwrap();
        assert_eq!(logged.data, EventData::User(user));
    }

    #[test]
    fn schema_3_events_join_the_stream_and_the_backup_keeps_the_old_layout() {
        use redb::ReadableTableMetadata;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::tables::STORE_FILE);
        let db = Database::create(&path).unwrap();
        to_current(&db, dir.path()).unwrap();
        // Schema 3's layout: a delivered event in the log, an undelivered one in the outbox.
        let (tenant, hook) = (Uuid::now_v7(), Uuid::now_v7());
        let event = |id: u128, at: i64| EventV3 {
            tenant,
            event_id: Uuid::from_u128(id),
            event_type: "seats.exhausted".into(),
            occurred_at: at,
            data: EventDataV4::SeatsExhausted { capacity: 1 },
            webhooks: vec![hook],
        };
        let (delivered, pending) = (event(2, 4), event(1, 5));
        let registration = WebhookV3 {
            id: hook,
            url: "http://127.0.0.1:9/".into(),
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            secret: "whsec_x".into(),
            disabled_reason: None,
            failing_since: Some(1),
            created_at: 1,
            updated_at: 1,
        };
        let delivery = DeliveryV3 {
            id: webhooks::delivery_id(delivered.event_id, hook, 4),
            webhook_id: hook,
            event_id: delivered.event_id,
            event_type: delivered.event_type.clone(),
            status: DeliveryStatus::Succeeded,
            attempts: 1,
            last_status_code: Some(200),
            last_error: None,
            last_duration_ms: Some(1),
            next_attempt_at: None,
            created_at: 4,
            updated_at: 4,
        };
        let (t, w) = (tenant.as_u128(), hook.as_u128());
        let txn = db.begin_write().unwrap();
        {
            let bytes = codec::encode(&delivered).unwrap();
            txn.open_table(tables::EVENTS_V3).unwrap().insert((4, 2), bytes.as_slice()).unwrap();
            let bytes = codec::encode(&pending).unwrap();
            txn.open_table(tables::OUTBOX_V3).unwrap().insert((5, 1), bytes.as_slice()).unwrap();
            let bytes = codec::encode(&registration).unwrap();
            txn.open_table(tables::WEBHOOKS).unwrap().insert((t, w), bytes.as_slice()).unwrap();
            txn.open_table(tables::SUBSCRIPTIONS).unwrap().insert((t, w), u64::MAX).unwrap();
            let bytes = codec::encode(&delivery).unwrap();
            let key = (t, w, delivery.id.as_u128());
            txn.open_table(tables::DELIVERIES).unwrap().insert(key, bytes.as_slice()).unwrap();
            txn.open_table(tables::META).unwrap().insert(tables::META_SCHEMA_VERSION, 3).unwrap();
        }
        txn.commit().unwrap();

        let Opened::Upgraded { from: 3, backup } = to_current(&db, dir.path()).unwrap() else {
            panic!("not upgraded from 3")
        };
        let read = db.begin_read().unwrap();
        // In time order, ids kept.
        assert_eq!(
            super::super::events::get(&read, tenant, 1).unwrap().unwrap().id,
            delivered.event_id
        );
        assert_eq!(
            super::super::events::get(&read, tenant, 2).unwrap().unwrap().id,
            pending.event_id
        );
        assert_eq!(super::super::events::bounds(&read, tenant).unwrap(), (2, 0));
        let outbox = read.open_table(tables::OUTBOX).unwrap();
        let waiting: Vec<Uuid> =
            codec::decode(outbox.get((t, 2)).unwrap().unwrap().value()).unwrap();
        assert_eq!((outbox.len().unwrap(), waiting), (1, vec![hook]));
        let d = webhooks::get_delivery(&read, tenant, hook, delivery.id).unwrap();
        assert_eq!((d.seq, d.resource), (1, tenant));
        let h = webhooks::get(&read, tenant, hook).unwrap();
        assert_eq!((h.failing_since, h.failing_for_ms, h.last_failure_at), (Some(1), 0, None));
        for old in [tables::OUTBOX_V3, tables::EVENTS_V3] {
            assert!(matches!(read.open_table(old), Err(redb::TableError::TableDoesNotExist(_))));
        }
        let report = super::super::check::run(&read).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);

        let old = Database::open(&backup).unwrap();
        let old = old.begin_read().unwrap();
        assert_eq!(old.open_table(tables::EVENTS_V3).unwrap().len().unwrap(), 1);
        assert_eq!(old.open_table(tables::OUTBOX_V3).unwrap().len().unwrap(), 1);
        let version = old.open_table(tables::META).unwrap();
        assert_eq!(version.get(tables::META_SCHEMA_VERSION).unwrap().unwrap().value(), 3);
    }

    #[test]
    fn a_newer_store_is_refused_untouched_and_a_current_one_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::tables::STORE_FILE);
        {
            let db = Database::create(&path).unwrap();
            assert_eq!(to_current(&db, dir.path()).unwrap(), Opened::Created);
            assert_eq!(to_current(&db, dir.path()).unwrap(), Opened::Current);
            let txn = db.begin_write().unwrap();
            txn.open_table(tables::META)
                .unwrap()
                .insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = super::super::Store::open(dir.path()).err().unwrap();
        assert!(
            matches!(err, Error::Failed(Failure::TooNew { found, .. }) if found == SCHEMA_VERSION + 1)
        );
        assert!(err.to_string().contains("upgrade whoot-mgmt"), "{err}");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "no backup or other file was written");
    }
}
