//! The provisioning log: what identity providers asked of the provisioning endpoints and how it
//! went, per tenant, numbered in order (`seq`: one more than the tenant's newest). A change's
//! entry is written in the change's own transaction; a failure's is handed to the writer and
//! committed with a later batch (`Store::log_deferred`). Entries are pruned from the oldest
//! only, and a tenant's newest is always kept (its numbering goes on from it), so a tenant's
//! entries are `seq`s without gaps from its oldest to its newest.
//!
//! Beside each entry, `PROVISIONING_INDEX` rows let the reader find one resource's entries, and
//! the failed ones (all, one client's, one key's) without a scan; other filters look through
//! the log. An entry is written with every provisioning change, on the writer's thread: a
//! success has one index row, fixed-size.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::Field;
use super::codec;
use super::error::Result;
use super::tables::{PROVISIONING_INDEX, PROVISIONING_LOG};
use super::txn::{Tx, WriteTxn};

/// `PROVISIONING_INDEX` families: (tenant, family, value, seq).
const BY_KEY: u8 = 0;
const BY_RESOURCE: u8 = 1;
/// Failed entries (value 0), and failed entries of one client (value: `client_code`).
const FAILED: u8 = 2;
const FAILED_BY_CLIENT: u8 = 3;

/// The client labels entries carry (`http::client::identity_provider`'s), in index order.
pub const CLIENT_LABELS: [&str; 7] =
    ["other", "okta", "entra", "onelogin", "jumpcloud", "google", "workday"];

/// A client label's number in the index (None: not a label the log records).
fn client_code(label: &str) -> Option<u128> {
    CLIENT_LABELS.iter().position(|l| l.eq_ignore_ascii_case(label)).map(|i| i as u128)
}

/// The resource an entry is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `user`, `group` or `room`.
    pub kind: String,
    pub id: Option<Uuid>,
    /// Its userName or displayName, when known.
    pub name: Option<String>,
}

/// One request (or one Bulk operation) to a provisioning endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// Given when it is recorded.
    pub seq: u64,
    /// Unix milliseconds: when the request arrived.
    pub at: i64,
    pub request_id: String,
    /// For a Bulk operation: `bulkId x` (else its method and path); the entry's `request_id`
    /// is the Bulk request's.
    pub bulk_operation: Option<String>,
    pub key_id: Uuid,
    pub key_description: String,
    /// The User-Agent of a client not recognised (cut to 200 bytes); empty for one that was,
    /// which `client_label` names (see `client`).
    pub agent: String,
    /// The metric label of `client` (`entra`, `other`): what `client=` filters on.
    pub client_label: String,
    pub source: Option<String>,
    pub method: String,
    /// The endpoint's path template (`/scim/v2/Users/{id}`).
    pub path: String,
    /// In words: `create user`, `add 3 members`…
    pub operation: String,
    pub subject: Option<Subject>,
    pub status: u16,
    /// The error's `scimType`, else its `code`.
    pub code: Option<String>,
    pub detail: Option<String>,
    /// Why it failed, in an operator's words, and what to do.
    pub reason: Option<String>,
    /// Attributes changed, old and new (secrets by name only).
    pub changes: Vec<Field>,
    /// The identity provider quirks normalised to accept it.
    pub quirks: Vec<String>,
    pub duration_us: u64,
}

/// How a client is shown: the identity provider's name for a recognised label, else its
/// User-Agent (`unknown client` without one).
pub fn client_name(label: &str, agent: &str) -> String {
    let known = match label {
        "okta" => "Okta",
        "entra" => "Microsoft Entra",
        "onelogin" => "OneLogin",
        "jumpcloud" => "JumpCloud",
        "google" => "Google",
        "workday" => "Workday",
        _ if agent.is_empty() => "unknown client",
        _ => agent,
    };
    known.to_owned()
}

impl Entry {
    /// The client, as shown.
    pub fn client(&self) -> String {
        client_name(&self.client_label, &self.agent)
    }

    pub fn failed(&self) -> bool {
        self.status >= 400
    }

    /// The index rows it has: (family, value). A success, written with every change, has only
    /// its resource's (each row is a B-tree insert on the writer's thread, in every commit); a
    /// failure, rare, is found by key and by client too.
    fn index_keys(&self) -> Vec<(u8, u128)> {
        let mut keys = Vec::with_capacity(4);
        if let Some(id) = self.subject.as_ref().and_then(|s| s.id) {
            keys.push((BY_RESOURCE, id.as_u128()));
        }
        if self.failed() {
            keys.push((BY_KEY, self.key_id.as_u128()));
            keys.push((FAILED, 0));
            keys.push((FAILED_BY_CLIENT, client_code(&self.client_label).unwrap_or(0)));
        }
        keys
    }
}

/// Records `entry` in `tenant`'s log (its `seq` is given here); returns the `seq`.
pub fn record(txn: &WriteTxn, tenant: Uuid, mut entry: Entry) -> Result<u64> {
    let t = tenant.as_u128();
    let mut log = txn.open_table(PROVISIONING_LOG)?;
    let newest = log.range((t, 0)..=(t, u64::MAX))?.next_back().transpose()?;
    let seq = newest.map_or(0, |(k, _)| k.value().1) + 1;
    entry.seq = seq;
    let bytes = codec::encode(&entry)?;
    log.insert((t, seq), bytes.as_slice())?;
    let mut index = txn.open_table(PROVISIONING_INDEX)?;
    for (family, value) in entry.index_keys() {
        index.insert((t, family, value, seq), ())?;
    }
    Ok(seq)
}

/// What a reader asks for; every field set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Some(true): failed only; Some(false): succeeded only.
    pub failed: Option<bool>,
    /// A client label (`okta`, `entra`, `other`…).
    pub client: Option<String>,
    pub key: Option<Uuid>,
    pub resource: Option<Uuid>,
    /// Entries whose operation contains this (case-insensitive).
    pub operation: Option<String>,
    /// Unix ms: entries at or after.
    pub since: Option<i64>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.failed.is_none_or(|f| e.failed() == f)
            && self.client.as_ref().is_none_or(|c| e.client_label.eq_ignore_ascii_case(c))
            && self.key.is_none_or(|k| e.key_id == k)
            && self.resource.is_none_or(|r| e.subject.as_ref().and_then(|s| s.id) == Some(r))
            && self
                .operation
                .as_ref()
                .is_none_or(|o| e.operation.to_ascii_lowercase().contains(&o.to_ascii_lowercase()))
            && self.since.is_none_or(|s| e.at >= s)
    }

    /// The index that holds every entry this filter can match, the narrowest first; None: the
    /// log itself.
    fn index(&self) -> Option<(u8, u128)> {
        if let Some(r) = self.resource {
            return Some((BY_RESOURCE, r.as_u128()));
        }
        if self.failed == Some(true) {
            if let Some(k) = self.key {
                return Some((BY_KEY, k.as_u128()));
            }
            return Some(match self.client.as_deref() {
                // A label the log never records matches nothing: the family's value past them all.
                Some(c) => (FAILED_BY_CLIENT, client_code(c).unwrap_or(u128::MAX)),
                None => (FAILED, 0),
            });
        }
        None
    }
}

/// Which way a page goes from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, from after `seq`.
    After(u64),
    /// Newest first, from before `seq` (u64::MAX: the newest).
    Before(u64),
}

/// A page of entries.
#[derive(Debug, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Where the next page starts, when there may be more: the last `seq` looked at (matched or
    /// not, so a page that examined `examine` entries without filling up goes on from there).
    pub next: Option<u64>,
}

/// Up to `limit` matching entries from `from`, examining at most `examine` entries.
pub fn page(
    tx: &impl Tx,
    tenant: Uuid,
    filter: &Filter,
    from: Direction,
    limit: usize,
    examine: usize,
) -> Result<Page> {
    let t = tenant.as_u128();
    let log = tx.table(PROVISIONING_LOG)?;
    let index = tx.table(PROVISIONING_INDEX)?;
    // `since` bounds an oldest-first walk from below (entries are in time order), and ends a
    // newest-first one at the first older entry.
    let floor = match (from, filter.since) {
        (Direction::After(after), Some(since)) => after.max(first_at_or_after(&log, t, since)?),
        (Direction::After(after), None) => after,
        (Direction::Before(_), _) => 0,
    };
    let in_index = |(family, value): (u8, u128)| (t, family, value, floor.saturating_add(1));
    let seqs: Box<dyn Iterator<Item = Result<u64>> + '_> = match (filter.index(), from) {
        (Some(ix), Direction::After(_)) => Box::new(
            index.range(in_index(ix)..=(t, ix.0, ix.1, u64::MAX))?.map(|r| Ok(r?.0.value().3)),
        ),
        (Some((family, value)), Direction::Before(before)) => Box::new(
            index
                .range((t, family, value, 0)..(t, family, value, before))?
                .rev()
                .map(|r| Ok(r?.0.value().3)),
        ),
        (None, Direction::After(_)) => Box::new(
            log.range((t, floor.saturating_add(1))..=(t, u64::MAX))?.map(|r| Ok(r?.0.value().1)),
        ),
        (None, Direction::Before(before)) => {
            Box::new(log.range((t, 0)..(t, before))?.rev().map(|r| Ok(r?.0.value().1)))
        }
    };
    let newest_first = matches!(from, Direction::Before(_));
    let (mut out, mut looked, mut more) = (Page::default(), 0usize, false);
    for seq in seqs {
        let seq = seq?;
        let Some(bytes) = log.get((t, seq))? else { continue };
        let entry: Entry = codec::decode(bytes.value())?;
        if newest_first && filter.since.is_some_and(|since| entry.at < since) {
            break;
        }
        looked += 1;
        out.next = Some(seq);
        if filter.matches(&entry) {
            out.entries.push(entry);
        }
        if out.entries.len() >= limit || looked >= examine {
            more = true;
            break;
        }
    }
    if !more {
        out.next = None;
    }
    Ok(out)
}

fn at_of(log: &impl ReadableTable<(u128, u64), &'static [u8]>, t: u128, seq: u64) -> Option<i64> {
    let bytes = log.get((t, seq)).ok()??;
    codec::decode::<Entry>(bytes.value()).ok().map(|e| e.at)
}

/// The last `seq` before the first entry at or after `since` (0: from the start): a binary
/// search over the tenant's entries, which are in time order.
fn first_at_or_after(
    log: &impl ReadableTable<(u128, u64), &'static [u8]>,
    t: u128,
    since: i64,
) -> Result<u64> {
    let first = log.range((t, 0)..=(t, u64::MAX))?.next().transpose()?.map(|(k, _)| k.value().1);
    let last =
        log.range((t, 0)..=(t, u64::MAX))?.next_back().transpose()?.map(|(k, _)| k.value().1);
    let (Some(mut lo), Some(mut hi)) = (first, last) else { return Ok(0) };
    if at_of(log, t, lo).is_some_and(|at| at >= since) {
        return Ok(lo.saturating_sub(1));
    }
    // Invariant: the entry at `lo` is older than `since`; find the last such.
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match at_of(log, t, mid) {
            Some(at) if at < since => lo = mid,
            _ => hi = mid - 1,
        }
    }
    Ok(lo)
}

/// One entry by `seq`.
pub fn get(tx: &impl Tx, tenant: Uuid, seq: u64) -> Result<Option<Entry>> {
    let log = tx.table(PROVISIONING_LOG)?;
    match log.get((tenant.as_u128(), seq))? {
        Some(bytes) => Ok(Some(codec::decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// A resource's first and latest successful entries (who created it, who last changed it).
pub fn first_and_last(
    tx: &impl Tx,
    tenant: Uuid,
    resource: Uuid,
) -> Result<(Option<Entry>, Option<Entry>)> {
    let (t, r) = (tenant.as_u128(), resource.as_u128());
    let index = tx.table(PROVISIONING_INDEX)?;
    let log = tx.table(PROVISIONING_LOG)?;
    let succeeded = |seq: u64| -> Result<Option<Entry>> {
        let Some(bytes) = log.get((t, seq))? else { return Ok(None) };
        let entry: Entry = codec::decode(bytes.value())?;
        Ok((!entry.failed()).then_some(entry))
    };
    let mut first = None;
    let all = (t, BY_RESOURCE, r, 0)..=(t, BY_RESOURCE, r, u64::MAX);
    for row in index.range(all.clone())?.take(50) {
        if let Some(e) = succeeded(row?.0.value().3)? {
            first = Some(e);
            break;
        }
    }
    let mut last = None;
    for row in index.range(all)?.rev().take(50) {
        if let Some(e) = succeeded(row?.0.value().3)? {
            last = Some(e);
            break;
        }
    }
    Ok((first, last))
}

/// Removes, oldest first and at most `batch` in all, each tenant's entries older than `before`
/// (unix ms) or beyond its newest `max_entries`, but never its newest; returns how many went. A
/// tenant's walk stops at its first entry to keep: no full scan.
pub fn prune(txn: &WriteTxn, before: i64, max_entries: u64, batch: usize) -> Result<u64> {
    let mut log = txn.open_table(PROVISIONING_LOG)?;
    let mut gone: Vec<((u128, u64), Entry)> = Vec::new();
    let mut tenant_from = 0u128;
    'tenants: while gone.len() < batch {
        // The next tenant with entries, its oldest and newest.
        let Some((first, _)) = log.range((tenant_from, 0)..)?.next().transpose()? else { break };
        let (t, oldest) = first.value();
        let newest = match log.range((t, 0)..=(t, u64::MAX))?.next_back().transpose()? {
            Some((k, _)) => k.value().1,
            None => break,
        };
        let keep_from = newest.saturating_sub(max_entries.saturating_sub(1));
        for row in log.range((t, oldest)..=(t, newest))? {
            let (k, v) = row?;
            let seq = k.value().1;
            let entry: Entry = codec::decode(v.value())?;
            if seq == newest || (seq >= keep_from && entry.at >= before) {
                break;
            }
            gone.push(((t, seq), entry));
            if gone.len() >= batch {
                break 'tenants;
            }
        }
        match t.checked_add(1) {
            Some(next) => tenant_from = next,
            None => break,
        }
    }
    let mut index = txn.open_table(PROVISIONING_INDEX)?;
    for ((t, seq), entry) in &gone {
        log.remove((*t, *seq))?;
        for (family, value) in entry.index_keys() {
            index.remove((*t, family, value, *seq))?;
        }
    }
    Ok(gone.len() as u64)
}

/// How many entries the tenant has (its seqs have no gaps).
pub fn count(tx: &impl Tx, tenant: Uuid) -> Result<u64> {
    let t = tenant.as_u128();
    let log = tx.table(PROVISIONING_LOG)?;
    let first = log.range((t, 0)..=(t, u64::MAX))?.next().transpose()?.map(|(k, _)| k.value().1);
    let last =
        log.range((t, 0)..=(t, u64::MAX))?.next_back().transpose()?.map(|(k, _)| k.value().1);
    Ok(match (first, last) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    fn entry(at: i64, status: u16, client: &str, key: u128) -> Entry {
        Entry {
            seq: 0,
            at,
            request_id: "r".into(),
            bulk_operation: None,
            key_id: Uuid::from_u128(key),
            key_description: "k".into(),
            agent: String::new(),
            client_label: client.into(),
            source: None,
            method: "POST".into(),
            path: "/scim/v2/Users".into(),
            operation: "create user".into(),
            subject: Some(Subject {
                kind: "user".into(),
                id: Some(Uuid::from_u128(at as u128)),
                name: None,
            }),
            status,
            code: None,
            detail: None,
            reason: None,
            changes: Vec::new(),
            quirks: Vec::new(),
            duration_us: 1,
        }
    }

    #[test]
    fn pages_follow_the_indexes_and_pruning_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("p.redb")).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let txn = db.begin_write().unwrap();
        let w = WriteTxn::new(&txn);
        for i in 1..=100i64 {
            let status = if i % 10 == 0 { 409 } else { 201 };
            let client = if i % 20 == 0 { "okta" } else { "entra" };
            record(&w, a, entry(i, status, client, (i % 2) as u128)).unwrap();
        }
        record(&w, b, entry(5, 500, "okta", 9)).unwrap();
        let failed = Filter { failed: Some(true), ..Filter::default() };
        let p = page(&w, a, &failed, Direction::After(0), 100, 1000).unwrap();
        assert_eq!(
            p.entries.iter().map(|e| e.at).collect::<Vec<_>>(),
            (1..=10).map(|i| i * 10).collect::<Vec<_>>()
        );
        let okta = Filter { failed: Some(true), client: Some("okta".into()), ..Filter::default() };
        let p = page(&w, a, &okta, Direction::Before(u64::MAX), 2, 1000).unwrap();
        assert_eq!(p.entries.iter().map(|e| e.at).collect::<Vec<_>>(), [100, 80]);
        assert_eq!(p.next, Some(80));
        let since = Filter { since: Some(95), ..Filter::default() };
        let p = page(&w, a, &since, Direction::After(0), 100, 1000).unwrap();
        assert_eq!(p.entries.iter().map(|e| e.at).collect::<Vec<_>>(), [95, 96, 97, 98, 99, 100]);
        let p = page(&w, a, &since, Direction::Before(u64::MAX), 100, 1000).unwrap();
        assert_eq!(p.entries.len(), 6);
        let key = Filter { key: Some(Uuid::from_u128(1)), ..Filter::default() };
        assert_eq!(page(&w, a, &key, Direction::After(0), 1000, 1000).unwrap().entries.len(), 50);
        // Examining stops a page early, with a cursor to go on from.
        let p = page(&w, a, &failed, Direction::After(0), 100, 3).unwrap();
        assert_eq!((p.entries.len(), p.next), (3, Some(30)));

        // Older than 20 or beyond the newest 50: 50 of a's go, in batches; b's one is its
        // newest, kept however old (the numbering goes on from it).
        assert_eq!(prune(&w, 20, 50, 30).unwrap(), 30);
        assert_eq!(prune(&w, 20, 50, 30).unwrap(), 20);
        assert_eq!(prune(&w, 20, 50, 30).unwrap(), 0);
        assert_eq!((count(&w, a).unwrap(), count(&w, b).unwrap()), (50, 1));
        assert_eq!(record(&w, b, entry(6, 201, "okta", 9)).unwrap(), 2);
        let p = page(&w, a, &failed, Direction::After(0), 100, 1000).unwrap();
        assert_eq!(p.entries.len(), 5);
        let index = w.open_table(PROVISIONING_INDEX).unwrap();
        assert_eq!(index.len().unwrap(), 45 + 5 * 4 + 4 + 1);
    }
}
