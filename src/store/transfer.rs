//! A tenant as one file, to move it between instances (`tenant export` / `tenant import`).
//!
//! The file holds the tenant's rows of every table, keyed without the tenant, so a file can only
//! ever write the one tenant it names. Its shape: a magic and format version, then frames (a
//! little-endian u32 length and a postcard `Frame`): the header, rows in chunks, an end mark with
//! the row count; then a blake3 digest of every byte before it. A truncated or damaged file, one
//! of another format or schema, is refused before anything is written: `inspect` reads it whole
//! first, and `import` checks the same again while it writes (an error aborts its transaction).
//! Records keep their codec bytes, so export and import need the same schema on both sides.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec;
use super::error::{Error, Failure, Result};
use super::keys::ApiKey;
use super::tables::SCHEMA_VERSION;
use super::tables::*;
use super::tenants::{self, Tenant};
use super::txn::WriteTxn;

const MAGIC: &[u8; 12] = b"whoot-tenant";
/// The file layout this build writes and reads.
pub(super) const FORMAT: u32 = 1;
const ROWS_PER_FRAME: usize = 1024;
/// No frame this build writes comes near it; a larger length is damage, not a reason to
/// allocate.
const MAX_FRAME: u32 = 64 << 20;

/// What the file is of: read before any row.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Header {
    pub schema: u64,
    pub tenant: Uuid,
    pub slug: String,
    /// Unix ms.
    pub exported_at: i64,
    /// The exporting build's version.
    pub version: String,
}

#[derive(Serialize, Deserialize)]
enum Frame {
    Header(Header),
    Rows(Vec<Row>),
    End { rows: u64 },
}

/// One row of one table, its key without the tenant (values as the store keeps them).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Row {
    Tenant(Vec<u8>),
    Key(Vec<u8>),
    Counter(String, u64),
    User(u128, Vec<u8>),
    DeletedUser(u128, Vec<u8>),
    UserIndex(String, u128),
    UserAttribute(u8, u64, u128),
    UserBlock(u8, u128, u64),
    Room(u128, Vec<u8>),
    RoomIndex(String, u128),
    RoomMember(u128, u128, bool),
    UserRoom(u128, u128),
    Event(u64, Vec<u8>),
    Outbox(u64, Vec<u8>),
    Lane(u128, u128, u64, u128),
    Audit(u64, Vec<u8>),
    Provisioning(u64, Vec<u8>),
    ProvisioningIndex(u8, u128, u64),
    Webhook(u128, Vec<u8>),
    Subscription(u128, u64),
    Delivery(u128, u128, Vec<u8>),
    DeliveryDue(i64, u128, u128),
}

impl Row {
    /// What the summary counts it as (None: an index or bookkeeping row).
    fn counted_as(&self) -> Option<&'static str> {
        Some(match self {
            Row::Key(_) => "keys",
            Row::User(..) => "users",
            Row::DeletedUser(..) => "deleted_users",
            Row::Room(..) => "rooms",
            Row::RoomMember(..) => "memberships",
            Row::Event(..) => "events",
            Row::Audit(..) => "audit_entries",
            Row::Provisioning(..) => "provisioning_entries",
            Row::Webhook(..) => "webhooks",
            Row::Delivery(..) => "deliveries",
            _ => return None,
        })
    }
}

/// The tables an export holds rows of: every table but `META` (the store's own bookkeeping),
/// `SET_KEYS` (the server's own signing keys, of no tenant), `NAME_BLOCKS` and `MODIFIED_BLOCKS`
/// (rebuilt from the indexes by `import`, so a file written before schema 14 loads whole too).
/// A test checks this against `each_table!`, so a new table cannot be left out of a move.
#[cfg(test)]
const EXPORTED: &[&str] = &[
    "tenants",
    "tenant_slugs",
    "api_keys",
    "counters",
    "users",
    "deleted_users",
    "user_index",
    "user_attributes",
    "user_blocks",
    "rooms",
    "room_index",
    "room_members",
    "user_rooms",
    "event_log",
    "audit_log",
    "provisioning_log",
    "provisioning_index",
    "event_outbox",
    "delivery_lanes",
    "webhooks",
    "webhook_subscriptions",
    "deliveries",
    "deliveries_due",
];

/// What a file holds (`export` wrote, `inspect` read, `import` loaded).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Summary {
    #[serde(flatten)]
    pub header: Header,
    pub rows: u64,
    /// Users, rooms, memberships, keys, events… by kind.
    pub counts: BTreeMap<&'static str, u64>,
}

fn damaged(from: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{} is damaged: {why}; nothing was imported", from.display()))
}

/// Writes `slug`'s rows as seen by `tx` (one consistent state) into the new file `to` (mode
/// 0600; refused if it exists), durably: written as `to.partial`, synced, then linked.
pub fn export(tx: &ReadTransaction, slug: &str, to: &Path, now: i64) -> Result<Summary> {
    let tenant = tenants::get_by_slug(tx, slug)?;
    if to.exists() {
        return Err(Error::invalid(format!("{} already exists; choose a new file", to.display())));
    }
    let partial = partial_of(to);
    let _ = std::fs::remove_file(&partial);
    let io = |what: &str, e: std::io::Error| {
        Error::Failed(Failure::Storage(format!("{what} {}: {e}", partial.display())))
    };
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial)
    }
    // The operator's path (a missing directory, no permission): their input, so a 4xx.
    .map_err(|e| Error::invalid(format!("cannot create {}: {e}", partial.display())))?;
    let header = Header {
        schema: SCHEMA_VERSION,
        tenant: tenant.id,
        slug: tenant.slug.clone(),
        exported_at: now,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut out = FrameWriter::new(file).map_err(|e| io("writing", e))?;
    let written = out
        .frame(&Frame::Header(header.clone()))
        .and_then(|()| rows_of(tx, &tenant, &mut out))
        .and_then(|()| out.finish());
    let summary = match written {
        Ok(counts) => Summary { header, rows: out.rows, counts },
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    // A link, unlike a rename, never replaces a file that appeared meanwhile.
    let linked = std::fs::hard_link(&partial, to);
    let _ = std::fs::remove_file(&partial);
    linked.map_err(|e| io("naming", e))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing", e))?;
    }
    Ok(summary)
}

pub(super) fn partial_of(to: &Path) -> PathBuf {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// Visits every row of a range of `$table` as `|key, value|` values.
macro_rules! each_row {
    ($tx:expr, $table:expr, $range:expr, |$k:pat_param, $v:pat_param| $body:expr) => {
        for row in $tx.open_table($table)?.range($range)? {
            let (k, v) = row?;
            let ($k, $v) = (k.value(), v.value());
            $body;
        }
    };
}

/// The tenant's rows of every table, in an order `import` can write them in (the tenant first).
fn rows_of(tx: &ReadTransaction, tenant: &Tenant, out: &mut FrameWriter) -> Result<()> {
    let t = tenant.id.as_u128();
    let all = u128::MAX;
    out.row(Row::Tenant(codec::encode(tenant)?))?;
    for row in tx.open_table(KEYS)?.iter()? {
        let bytes = row?.1;
        let key: ApiKey = codec::decode(bytes.value())?;
        if key.tenant_id == tenant.id {
            out.row(Row::Key(bytes.value().to_vec()))?;
        }
    }
    // Tables keyed by a tenant and a string: from its first key until the next tenant's.
    for row in tx.open_table(COUNTERS)?.range((t, "")..)? {
        let (k, v) = row?;
        let ((owner, name), value) = (k.value(), v.value());
        if owner != t {
            break;
        }
        out.row(Row::Counter(name.to_owned(), value))?;
    }
    for (table, wrap) in
        [(USER_INDEX, Row::UserIndex as fn(String, u128) -> Row), (ROOM_INDEX, Row::RoomIndex)]
    {
        for row in tx.open_table(table)?.range((t, "")..)? {
            let (k, v) = row?;
            let ((owner, key), id) = (k.value(), v.value());
            if owner != t {
                break;
            }
            out.row(wrap(key.to_owned(), id))?;
        }
    }
    for (table, wrap) in [
        (USERS, Row::User as fn(u128, Vec<u8>) -> Row),
        (DELETED_USERS, Row::DeletedUser),
        (ROOMS, Row::Room),
        (WEBHOOKS, Row::Webhook),
    ] {
        each_row!(tx, table, (t, 0)..=(t, all), |(_, id), bytes| out
            .row(wrap(id, bytes.to_vec()))?);
    }
    each_row!(tx, USER_ATTRS, (t, 0, 0, 0)..=(t, u8::MAX, u64::MAX, all), |(_, f, v, id), ()| {
        out.row(Row::UserAttribute(f, v, id))?
    });
    each_row!(tx, USER_BLOCKS, (t, 0, 0)..=(t, u8::MAX, all), |(_, s, first), n| {
        out.row(Row::UserBlock(s, first, n))?
    });
    each_row!(tx, ROOM_MEMBERS, (t, 0, 0)..=(t, all, all), |(_, room, user), tx_ok| {
        out.row(Row::RoomMember(room, user, tx_ok))?
    });
    each_row!(tx, USER_ROOMS, (t, 0, 0)..=(t, all, all), |(_, user, room), ()| {
        out.row(Row::UserRoom(user, room))?
    });
    for (table, wrap) in [
        (EVENT_LOG, Row::Event as fn(u64, Vec<u8>) -> Row),
        (OUTBOX, Row::Outbox),
        (AUDIT_LOG, Row::Audit),
        (PROVISIONING_LOG, Row::Provisioning),
    ] {
        each_row!(tx, table, (t, 0)..=(t, u64::MAX), |(_, seq), bytes| out
            .row(wrap(seq, bytes.to_vec()))?);
    }
    each_row!(tx, PROVISIONING_INDEX, (t, 0, 0, 0)..=(t, u8::MAX, all, u64::MAX), |k, ()| {
        out.row(Row::ProvisioningIndex(k.1, k.2, k.3))?
    });
    each_row!(tx, LANES, (t, 0, 0, 0)..=(t, all, all, u64::MAX), |(_, hook, res, seq), id| {
        out.row(Row::Lane(hook, res, seq, id))?
    });
    each_row!(tx, SUBSCRIPTIONS, (t, 0)..=(t, all), |(_, hook), mask| {
        out.row(Row::Subscription(hook, mask))?
    });
    each_row!(tx, DELIVERIES, (t, 0, 0)..=(t, all, all), |(_, hook, id), bytes| {
        out.row(Row::Delivery(hook, id, bytes.to_vec()))?
    });
    // Ordered by time first: the one table read whole (it holds only what is queued).
    for row in tx.open_table(DELIVERIES_DUE)?.iter()? {
        let (at, owner, hook, id) = row?.0.value();
        if owner == t {
            out.row(Row::DeliveryDue(at, hook, id))?;
        }
    }
    Ok(())
}

struct FrameWriter {
    out: BufWriter<std::fs::File>,
    hash: blake3::Hasher,
    pending: Vec<Row>,
    rows: u64,
    counts: BTreeMap<&'static str, u64>,
}

fn write_failed(e: std::io::Error) -> Error {
    Error::Failed(Failure::Storage(format!("writing the tenant export: {e}")))
}

impl FrameWriter {
    fn new(file: std::fs::File) -> std::io::Result<FrameWriter> {
        let mut w = FrameWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            hash: blake3::Hasher::new(),
            pending: Vec::with_capacity(ROWS_PER_FRAME),
            rows: 0,
            counts: BTreeMap::new(),
        };
        w.put(MAGIC)?;
        w.put(&FORMAT.to_le_bytes())?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }

    fn frame(&mut self, frame: &Frame) -> Result<()> {
        let bytes = postcard::to_allocvec(frame)
            .map_err(|e| Error::Failed(Failure::Corrupt(format!("encoding an export: {e}"))))?;
        let len = u32::try_from(bytes.len()).ok().filter(|n| *n <= MAX_FRAME).ok_or_else(|| {
            Error::Failed(Failure::Storage("a row too large for a tenant export".into()))
        })?;
        self.put(&len.to_le_bytes()).and_then(|()| self.put(&bytes)).map_err(write_failed)
    }

    fn row(&mut self, row: Row) -> Result<()> {
        if let Some(kind) = row.counted_as() {
            *self.counts.entry(kind).or_default() += 1;
        }
        self.rows += 1;
        self.pending.push(row);
        if self.pending.len() >= ROWS_PER_FRAME {
            let rows = std::mem::take(&mut self.pending);
            self.frame(&Frame::Rows(rows))?;
        }
        Ok(())
    }

    /// The last rows, the end mark and the digest, on the disk when this returns.
    fn finish(&mut self) -> Result<BTreeMap<&'static str, u64>> {
        if !self.pending.is_empty() {
            let rows = std::mem::take(&mut self.pending);
            self.frame(&Frame::Rows(rows))?;
        }
        self.frame(&Frame::End { rows: self.rows })?;
        let digest = *self.hash.finalize().as_bytes();
        self.out.write_all(&digest).map_err(write_failed)?;
        self.out.flush().map_err(write_failed)?;
        self.out.get_ref().sync_all().map_err(write_failed)?;
        Ok(std::mem::take(&mut self.counts))
    }
}

/// Reads a file's frames, checking its magic, format, frame sizes and, at the end, its digest.
struct FrameReader<'p> {
    from: &'p Path,
    input: BufReader<std::fs::File>,
    hash: blake3::Hasher,
    rows: u64,
    ended: bool,
}

impl<'p> FrameReader<'p> {
    fn open(from: &'p Path) -> Result<FrameReader<'p>> {
        let file = std::fs::File::open(from)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", from.display())))?;
        let mut r = FrameReader {
            from,
            input: BufReader::with_capacity(1 << 20, file),
            hash: blake3::Hasher::new(),
            rows: 0,
            ended: false,
        };
        let mut magic = [0u8; 12];
        let not_export =
            || Error::invalid(format!("{} is not a whoot-mgmt tenant export", from.display()));
        r.take(&mut magic).map_err(|_| not_export())?;
        if &magic != MAGIC {
            return Err(not_export());
        }
        let mut format = [0u8; 4];
        r.take(&mut format).map_err(|_| not_export())?;
        let format = u32::from_le_bytes(format);
        if format != FORMAT {
            return Err(Error::invalid(format!(
                "{} is a tenant export of format {format}; this build reads format {FORMAT} \
                 (export it again with this version)",
                from.display()
            )));
        }
        Ok(r)
    }

    fn take(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.input.read_exact(buf)?;
        self.hash.update(buf);
        Ok(())
    }

    fn cut(&self) -> Error {
        damaged(self.from, "it ends early (truncated? copy it again)")
    }

    /// The next frame; None after the end mark, once the digest is checked.
    fn next(&mut self) -> Result<Option<Frame>> {
        if self.ended {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        self.take(&mut len).map_err(|_| self.cut())?;
        let len = u32::from_le_bytes(len);
        if len > MAX_FRAME {
            return Err(damaged(self.from, format!("a frame of {len} bytes")));
        }
        let mut bytes = vec![0u8; len as usize];
        self.take(&mut bytes).map_err(|_| self.cut())?;
        let frame: Frame = postcard::from_bytes(&bytes)
            .map_err(|e| damaged(self.from, format!("a frame does not decode ({e})")))?;
        match &frame {
            Frame::Rows(rows) => self.rows += rows.len() as u64,
            Frame::End { rows } => {
                if *rows != self.rows {
                    return Err(damaged(self.from, "its row count does not match its rows"));
                }
                let expected = *self.hash.finalize().as_bytes();
                let mut digest = [0u8; 32];
                self.input.read_exact(&mut digest).map_err(|_| self.cut())?;
                if digest != expected {
                    return Err(damaged(self.from, "its checksum does not match its contents"));
                }
                let mut extra = [0u8; 1];
                if !matches!(self.input.read(&mut extra), Ok(0)) {
                    return Err(damaged(self.from, "bytes follow its end"));
                }
                self.ended = true;
            }
            Frame::Header(_) => {}
        }
        Ok(Some(frame))
    }

    /// The header, which must come first, checked against this build's schema.
    fn header(&mut self) -> Result<Header> {
        let Some(Frame::Header(header)) = self.next()? else {
            return Err(damaged(self.from, "it does not start with a header"));
        };
        if header.schema != SCHEMA_VERSION {
            let (found, from) = (header.schema, self.from.display());
            let fix = match found < SCHEMA_VERSION {
                true => "upgrade the exporting instance to this version and export again",
                false => "upgrade this instance first",
            };
            return Err(Error::invalid(format!(
                "{from} was exported by a store of schema {found} (version {}); this build is at \
                 schema {SCHEMA_VERSION}: {fix}",
                header.version
            )));
        }
        Ok(header)
    }
}

/// Reads the whole file, checking everything `import` will (format, schema, frames, digest),
/// and says what it holds. Writes nothing.
pub fn inspect(from: &Path) -> Result<Summary> {
    let mut r = FrameReader::open(from)?;
    let header = r.header()?;
    let mut counts = BTreeMap::new();
    while let Some(frame) = r.next()? {
        match frame {
            Frame::Rows(rows) => {
                for kind in rows.iter().filter_map(Row::counted_as) {
                    *counts.entry(kind).or_default() += 1;
                }
            }
            Frame::Header(_) => return Err(damaged(from, "it has a second header")),
            Frame::End { .. } => {}
        }
    }
    Ok(Summary { header, rows: r.rows, counts })
}

/// Loads the file into the store as a new tenant (renamed to `slug` when given), with the same
/// ids, keys, counters and logs. Refused, with nothing written, when the store already has the
/// tenant, its slug or one of its keys, or when the file is not whole: an error here aborts the
/// transaction, so the caller must not commit `txn` after one. Also returns its keys.
pub fn import(
    txn: &WriteTxn,
    from: &Path,
    slug: Option<&str>,
) -> Result<(Tenant, Summary, Vec<ApiKey>)> {
    let mut r = FrameReader::open(from)?;
    let header = r.header()?;
    let t = header.tenant.as_u128();
    let mut tenant: Option<Tenant> = None;
    let (mut counts, mut keys) = (BTreeMap::new(), Vec::new());
    while let Some(frame) = r.next()? {
        let rows = match frame {
            Frame::Rows(rows) => rows,
            Frame::Header(_) => return Err(damaged(from, "it has a second header")),
            Frame::End { .. } => continue,
        };
        for row in rows {
            if let Some(kind) = row.counted_as() {
                *counts.entry(kind).or_default() += 1;
            }
            match (row, &tenant) {
                (Row::Tenant(bytes), None) => {
                    tenant = Some(add_tenant(txn, &header, &bytes, slug)?);
                }
                (_, None) => return Err(damaged(from, "rows come before the tenant")),
                (Row::Tenant(_), Some(_)) => return Err(damaged(from, "it has a second tenant")),
                (Row::Key(bytes), Some(_)) => keys.push(add_key(txn, t, &bytes, from)?),
                (row, Some(_)) => put(txn, t, row, from)?,
            }
        }
    }
    let tenant = tenant.ok_or_else(|| damaged(from, "it holds no tenant"))?;
    super::positions::rebuild_derived(txn, tenant.id)?;
    Ok((tenant, Summary { header, rows: r.rows, counts }, keys))
}

/// The tenant record, under its new slug if one was asked for; refused when the store has it.
fn add_tenant(txn: &WriteTxn, header: &Header, bytes: &[u8], slug: Option<&str>) -> Result<Tenant> {
    let mut tenant: Tenant = codec::decode(bytes)?;
    if tenant.id != header.tenant {
        return Err(Error::invalid("the export's tenant record is not the tenant it names"));
    }
    match tenants::get(txn, tenant.id) {
        Ok(here) => {
            return Err(Error::invalid(format!(
                "this store already has tenant {} (as {}): it was imported or created here \
                 before; nothing was imported",
                tenant.id, here.slug
            )));
        }
        Err(e) if !e.is_not_found() => return Err(e),
        Err(_) => {}
    }
    if let Some(slug) = slug {
        tenant.slug = slug.to_owned();
    }
    match tenants::get_by_slug(txn, &tenant.slug) {
        Ok(_) => {
            return Err(Error::invalid(format!(
                "this store already has a tenant {}: import under another slug with --slug NEW; \
                 nothing was imported",
                tenant.slug
            )));
        }
        Err(e) if !e.is_not_found() => return Err(e),
        Err(_) => {}
    }
    tenants::create(txn, &tenant)?;
    Ok(tenant)
}

/// One of the tenant's keys, as stored (its hash); refused when the store has its id.
fn add_key(txn: &WriteTxn, t: u128, bytes: &[u8], from: &Path) -> Result<ApiKey> {
    let key: ApiKey = codec::decode(bytes)?;
    if key.tenant_id.as_u128() != t {
        return Err(damaged(from, "it holds a key of another tenant"));
    }
    let mut keys = txn.open_table(KEYS)?;
    if keys.get(key.id.as_u128())?.is_some() {
        return Err(Error::invalid(format!(
            "this store already has API key {}; nothing was imported",
            key.id
        )));
    }
    keys.insert(key.id.as_u128(), bytes)?;
    Ok(key)
}

fn put(txn: &WriteTxn, t: u128, row: Row, from: &Path) -> Result<()> {
    match row {
        Row::Tenant(_) => return Err(damaged(from, "it has a second tenant")),
        Row::Key(bytes) => {
            add_key(txn, t, &bytes, from)?;
        }
        Row::Counter(name, n) => {
            txn.open_table(COUNTERS)?.insert((t, name.as_str()), n)?;
        }
        Row::User(id, bytes) => {
            txn.open_table(USERS)?.insert((t, id), bytes.as_slice())?;
        }
        Row::DeletedUser(id, bytes) => {
            txn.open_table(DELETED_USERS)?.insert((t, id), bytes.as_slice())?;
        }
        Row::UserIndex(key, id) => {
            txn.open_table(USER_INDEX)?.insert((t, key.as_str()), id)?;
        }
        Row::UserAttribute(family, value, id) => {
            txn.open_table(USER_ATTRS)?.insert((t, family, value, id), ())?;
        }
        Row::UserBlock(seq, first, n) => {
            txn.open_table(USER_BLOCKS)?.insert((t, seq, first), n)?;
        }
        Row::Room(id, bytes) => {
            txn.open_table(ROOMS)?.insert((t, id), bytes.as_slice())?;
        }
        Row::RoomIndex(key, id) => {
            txn.open_table(ROOM_INDEX)?.insert((t, key.as_str()), id)?;
        }
        Row::RoomMember(room, user, transmit) => {
            txn.open_table(ROOM_MEMBERS)?.insert((t, room, user), transmit)?;
        }
        Row::UserRoom(user, room) => {
            txn.open_table(USER_ROOMS)?.insert((t, user, room), ())?;
        }
        Row::Event(seq, bytes) => {
            txn.open_table(EVENT_LOG)?.insert((t, seq), bytes.as_slice())?;
        }
        Row::Outbox(seq, bytes) => {
            txn.open_table(OUTBOX)?.insert((t, seq), bytes.as_slice())?;
        }
        Row::Lane(hook, resource, seq, id) => {
            txn.open_table(LANES)?.insert((t, hook, resource, seq), id)?;
        }
        Row::Audit(seq, bytes) => {
            txn.open_table(AUDIT_LOG)?.insert((t, seq), bytes.as_slice())?;
        }
        Row::Provisioning(seq, bytes) => {
            txn.open_table(PROVISIONING_LOG)?.insert((t, seq), bytes.as_slice())?;
        }
        Row::ProvisioningIndex(family, value, seq) => {
            txn.open_table(PROVISIONING_INDEX)?.insert((t, family, value, seq), ())?;
        }
        Row::Webhook(id, bytes) => {
            txn.open_table(WEBHOOKS)?.insert((t, id), bytes.as_slice())?;
        }
        Row::Subscription(hook, mask) => {
            txn.open_table(SUBSCRIPTIONS)?.insert((t, hook), mask)?;
        }
        Row::Delivery(hook, id, bytes) => {
            txn.open_table(DELIVERIES)?.insert((t, hook, id), bytes.as_slice())?;
        }
        Row::DeliveryDue(at, hook, id) => {
            txn.open_table(DELIVERIES_DUE)?.insert((at, t, hook, id), ())?;
        }
    }
    Ok(())
}

/// Removes every row of `tenant` from every table (the last step of a move, on the old home).
/// Returns the rows removed.
pub fn remove(txn: &WriteTxn, tenant: &Tenant) -> Result<u64> {
    let t = tenant.id.as_u128();
    let (all, next) = (u128::MAX, t.checked_add(1).ok_or_else(|| Error::invalid("tenant id"))?);
    let mut removed = 0;
    removed += u64::from(txn.open_table(TENANTS)?.remove(t)?.is_some());
    removed += u64::from(txn.open_table(TENANT_SLUGS)?.remove(tenant.slug.as_str())?.is_some());
    let mut own_keys = Vec::new();
    for row in txn.open_table(KEYS)?.iter()? {
        let (id, bytes) = row?;
        if codec::decode::<ApiKey>(bytes.value())?.tenant_id == tenant.id {
            own_keys.push(id.value());
        }
    }
    let mut keys = txn.open_table(KEYS)?;
    for id in &own_keys {
        removed += u64::from(keys.remove(*id)?.is_some());
    }
    drop(keys);
    removed += txn.open_table(COUNTERS)?.remove_range((t, "")..(next, ""))?;
    removed += txn.open_table(USER_INDEX)?.remove_range((t, "")..(next, ""))?;
    removed += txn.open_table(ROOM_INDEX)?.remove_range((t, "")..(next, ""))?;
    for table in [USERS, DELETED_USERS, ROOMS, WEBHOOKS] {
        removed += txn.open_table(table)?.remove_range((t, 0)..=(t, all))?;
    }
    removed += txn.open_table(SUBSCRIPTIONS)?.remove_range((t, 0)..=(t, all))?;
    for table in [EVENT_LOG, OUTBOX, AUDIT_LOG, PROVISIONING_LOG] {
        removed += txn.open_table(table)?.remove_range((t, 0)..=(t, u64::MAX))?;
    }
    let every = (t, 0, 0, 0)..=(t, u8::MAX, u64::MAX, all);
    removed += txn.open_table(USER_ATTRS)?.remove_range(every)?;
    removed += txn.open_table(USER_BLOCKS)?.remove_range((t, 0, 0)..=(t, u8::MAX, all))?;
    removed += txn.open_table(NAME_BLOCKS)?.remove_range((t, 0, "")..(t, u8::MAX, ""))?;
    removed += txn.open_table(MODIFIED_BLOCKS)?.remove_range((t, 0, 0)..=(t, u64::MAX, all))?;
    removed += txn.open_table(ROOM_MEMBERS)?.remove_range((t, 0, 0)..=(t, all, all))?;
    removed += txn.open_table(USER_ROOMS)?.remove_range((t, 0, 0)..=(t, all, all))?;
    removed += txn.open_table(DELIVERIES)?.remove_range((t, 0, 0)..=(t, all, all))?;
    let facets = (t, 0, 0, 0)..=(t, u8::MAX, all, u64::MAX);
    removed += txn.open_table(PROVISIONING_INDEX)?.remove_range(facets)?;
    removed += txn.open_table(LANES)?.remove_range((t, 0, 0, 0)..=(t, all, all, u64::MAX))?;
    let mut due = Vec::new();
    for row in txn.open_table(DELIVERIES_DUE)?.iter()? {
        let key = row?.0.value();
        if key.1 == t {
            due.push(key);
        }
    }
    let mut table = txn.open_table(DELIVERIES_DUE)?;
    for key in due {
        removed += u64::from(table.remove(key)?.is_some());
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Every table of the store is either exported or the store's own bookkeeping.
    #[test]
    fn every_table_is_exported() {
        let mut names = Vec::new();
        macro_rules! name {
            ($table:ident) => {
                names.push(redb::TableHandle::name(&$table).to_owned());
            };
        }
        each_table!(name);
        let unmoved = ["meta", "set_signing_keys", "user_name_blocks", "user_modified_blocks"];
        names.retain(|n| !unmoved.contains(&n.as_str()));
        let mut exported: Vec<String> = EXPORTED.iter().map(|s| (*s).to_owned()).collect();
        names.sort();
        exported.sort();
        assert_eq!(names, exported);
    }
}
