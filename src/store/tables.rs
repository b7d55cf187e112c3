//! Table layout. UUIDs are stored as u128; ids are UUIDv7, so a range scan in key order is
//! creation order. Values are `codec` records unless the type says otherwise.
//!
//! Every change writes one event row (and, when registrations want it, one outbox row) in its own
//! transaction; the webhook worker records one delivery row per subscribed registration and, in
//! the commit of the last one, removes the outbox row.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::error::Result;

/// Schema version this build reads and writes (recorded in the `meta` table).
pub const SCHEMA_VERSION: u64 = 14;

/// File name of the store inside the data directory.
pub const STORE_FILE: &str = "whoot.redb";

/// name -> value: the schema version, and `wal::META_WAL_SEQ` (the last log record the file holds)
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const META_SCHEMA_VERSION: &str = "schema_version";
/// `META` key: when a loss of logged writes was last accepted (Unix ms; `recover --accept-loss`).
pub(super) const META_LOSS_AT: &str = "log_loss_at";

/// tenant id -> Tenant
pub(super) const TENANTS: TableDefinition<u128, &[u8]> = TableDefinition::new("tenants");
/// slug -> tenant id
pub(super) const TENANT_SLUGS: TableDefinition<&str, u128> = TableDefinition::new("tenant_slugs");
/// key id -> ApiKey
pub(super) const KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("api_keys");
/// (tenant id, counter name) -> value
pub(super) const COUNTERS: TableDefinition<(u128, &str), u64> = TableDefinition::new("counters");
/// (tenant id, user id) -> User, for users the APIs can see (active or not)
pub(super) const USERS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("users");
/// (tenant id, user id) -> User, SCIM-deleted users kept for audit
pub(super) const DELETED_USERS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("deleted_users");
/// (tenant id, "u:" lowercased userName | "x:" externalId | "e:" lowercased email) -> user id
pub(super) const USER_INDEX: TableDefinition<(u128, &str), u128> =
    TableDefinition::new("user_index");
/// Users by attribute, for the filters sync tools send: (tenant, family, value, user id), family
/// `ATTR_ACTIVE` (0 or 1), family `ATTR_MODIFIED` (Unix ms). See `users::Walk`.
pub(super) const USER_ATTRS: TableDefinition<(u128, u8, u64, u128), ()> =
    TableDefinition::new("user_attributes");
pub(super) const ATTR_ACTIVE: u8 = 0;
pub(super) const ATTR_MODIFIED: u8 = 1;
/// (tenant id, sequence, first user id of a block) -> users in the block: positions for deep
/// pages, see `positions`. Since schema 8.
pub(super) const USER_BLOCKS: TableDefinition<(u128, u8, u128), u64> =
    TableDefinition::new("user_blocks");
/// (tenant id, sequence, `USER_INDEX` userName key a block starts at) -> users in the block: the
/// same positions in userName order, for deep sorted pages (derived from `USER_INDEX`: rebuilt,
/// not moved, with a tenant). Since schema 14.
pub(super) const NAME_BLOCKS: TableDefinition<(u128, u8, &str), u64> =
    TableDefinition::new("user_name_blocks");
/// (tenant id, last modification and id of the user a block starts at) -> users in the block:
/// the same positions in modification order (`USER_ATTRS` family `ATTR_MODIFIED`), so a deep page
/// of `meta.lastModified ge` neither steps over the users before it nor counts those after it
/// (derived: rebuilt, not moved, with a tenant). Since schema 14.
pub(super) const MODIFIED_BLOCKS: TableDefinition<(u128, u64, u128), u64> =
    TableDefinition::new("user_modified_blocks");
/// (tenant id, room id) -> Room
pub(super) const ROOMS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("rooms");
/// (tenant id, "n:" lowercased name | "x:" externalId) -> room id
pub(super) const ROOM_INDEX: TableDefinition<(u128, &str), u128> =
    TableDefinition::new("room_index");
/// (tenant id, room id, user id) -> tx_permission: a room's members in one range
pub(super) const ROOM_MEMBERS: TableDefinition<(u128, u128, u128), bool> =
    TableDefinition::new("room_members");
/// (tenant id, user id, room id) -> (): a user's rooms in one range
pub(super) const USER_ROOMS: TableDefinition<(u128, u128, u128), ()> =
    TableDefinition::new("user_rooms");
/// (tenant id, seq) -> Event: the change stream, one row per committed change, in the change's
/// transaction; `seq` is the tenant's counter `event_seq`. Since schema 4.
pub(super) const EVENT_LOG: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("event_log");
/// (tenant id, seq) -> the registrations (codec `Vec<Uuid>`) that wanted the event when it
/// happened and have no delivery of it on record yet. Since schema 4.
pub(super) const OUTBOX: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("event_outbox");
/// (tenant id, webhook id, resource id, seq) -> delivery id: a registration's pending deliveries
/// about one resource, in `seq` order; only the first is ever due (per-resource order). Since
/// schema 4.
pub(super) const LANES: TableDefinition<(u128, u128, u128, u64), u128> =
    TableDefinition::new("delivery_lanes");
/// Schema 3's outbox ((occurred at, event id) -> event with its registrations) and event log;
/// schema 4 moved their events to `EVENT_LOG`. Kept so that upgrading and backing up an older
/// store work.
pub(super) const OUTBOX_V3: TableDefinition<(i64, u128), &[u8]> =
    TableDefinition::new("webhook_outbox");
pub(super) const EVENTS_V3: TableDefinition<(i64, u128), &[u8]> =
    TableDefinition::new("webhook_events");
/// Schema 2's outbox: keys of `EVENTS_V3` rows not yet attempted. Schema 3 moved those rows to
/// `OUTBOX_V3`.
pub(super) const OUTBOX_KEYS_V2: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("webhook_outbox_keys");
/// (tenant id, seq) -> AuditEntry: who changed what through an admin path, in the change's own
/// transaction; `seq` is the tenant's counter `audit_seq`. Since schema 6.
pub(super) const AUDIT_LOG: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("audit_log");
/// (tenant id, seq) -> provisioning::Entry: what identity providers asked and how it went;
/// `seq` is one more than the tenant's newest. Since schema 12.
pub(super) const PROVISIONING_LOG: TableDefinition<(u128, u64), &[u8]> =
    TableDefinition::new("provisioning_log");
/// (tenant id, family, value, seq) -> (): the entries of a key (0, key id), of a resource (1,
/// its id), the failed ones (2, 0) and one client's failed ones (3, the client's number). Since
/// schema 12.
pub(super) const PROVISIONING_INDEX: TableDefinition<(u128, u8, u128, u64), ()> =
    TableDefinition::new("provisioning_index");
/// (tenant id, webhook id) -> Webhook
pub(super) const WEBHOOKS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("webhooks");
/// (tenant id, webhook id) -> event mask (`Webhook::subscription`), for active registrations
/// only: recording a change reads these few bytes, not every registration. Since schema 2.
pub(super) const SUBSCRIPTIONS: TableDefinition<(u128, u128), u64> =
    TableDefinition::new("webhook_subscriptions");
/// (tenant id, webhook id, delivery id) -> Delivery: the outbox and the delivery log in one
pub(super) const DELIVERIES: TableDefinition<(u128, u128, u128), &[u8]> =
    TableDefinition::new("deliveries");
/// (next attempt, unix ms; tenant id, webhook id, delivery id) -> (): what the worker sends next
pub(super) const DELIVERIES_DUE: TableDefinition<(i64, u128, u128, u128), ()> =
    TableDefinition::new("deliveries_due");

/// key id -> SigningKey: the server's keys for signing SCIM security events (SETs), of no tenant
pub(super) const SET_KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("set_signing_keys");

/// Calls `$each!(TABLE)` for every table: the one list that creating and copying (backup) go by,
/// so a new table cannot be left out of either.
macro_rules! each_table {
    ($each:ident) => {
        $each!(META);
        $each!(TENANTS);
        $each!(TENANT_SLUGS);
        $each!(KEYS);
        $each!(COUNTERS);
        $each!(USERS);
        $each!(DELETED_USERS);
        $each!(USER_INDEX);
        $each!(USER_ATTRS);
        $each!(USER_BLOCKS);
        $each!(NAME_BLOCKS);
        $each!(MODIFIED_BLOCKS);
        $each!(ROOMS);
        $each!(ROOM_INDEX);
        $each!(ROOM_MEMBERS);
        $each!(USER_ROOMS);
        $each!(EVENT_LOG);
        $each!(AUDIT_LOG);
        $each!(PROVISIONING_LOG);
        $each!(PROVISIONING_INDEX);
        $each!(OUTBOX);
        $each!(LANES);
        $each!(WEBHOOKS);
        $each!(SUBSCRIPTIONS);
        $each!(DELIVERIES);
        $each!(DELIVERIES_DUE);
        $each!(SET_KEYS);
    };
}

pub(super) use each_table;

/// Opening a table in a write transaction creates it; doing so once at startup lets read
/// transactions assume every table exists.
pub(super) fn create_all(txn: &WriteTransaction) -> Result<()> {
    macro_rules! create {
        ($table:ident) => {
            txn.open_table($table)?;
        };
    }
    each_table!(create);
    Ok(())
}

/// Copies every table, row for row (a backup: one read transaction, so one consistent state).
/// Returns the rows copied.
pub(super) fn copy_all(from: &ReadTransaction, to: &WriteTransaction) -> Result<u64> {
    let mut rows = 0;
    macro_rules! copy_table {
        ($table:ident) => {
            rows += copy(from, to, $table)?;
        };
    }
    each_table!(copy_table);
    // Tables of older schemas, present only in stores not yet upgraded.
    rows += copy(from, to, OUTBOX_KEYS_V2)?;
    rows += copy(from, to, OUTBOX_V3)?;
    rows += copy(from, to, EVENTS_V3)?;
    Ok(rows)
}

/// A table that a store of an older schema may lack (one being restored or upgraded, or a
/// backup of one): `None` then, where opening it would fail.
pub(super) fn open_if_present<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match tx.open_table(def) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A value the `META` table holds (None: not set, or a store too new to have the table yet).
pub(super) fn meta(tx: &ReadTransaction, key: &str) -> Result<Option<u64>> {
    match open_if_present(tx, META)? {
        Some(meta) => Ok(meta.get(key)?.map(|v| v.value())),
        None => Ok(None),
    }
}

fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64> {
    // A store of an older schema lacks the tables added since; they start empty.
    let Some(source) = open_if_present(from, def)? else { return Ok(0) };
    let mut target = to.open_table(def)?;
    // The rows come in key order into an empty table: appended through a cursor at its end,
    // they fill pages whole instead of descending the tree once each.
    let mut end = target.upper_bound_mut(std::ops::Bound::<K::SelfType<'_>>::Unbounded)?;
    let mut rows = 0;
    for row in source.iter()? {
        let (k, v) = row?;
        end.insert_before(k.value(), v.value())?;
        rows += 1;
    }
    end.close()?;
    Ok(rows)
}
