//! The provisioning log's recording side: what a request to a provisioning endpoint (SCIM
//! Users, Groups, Bulk, searches; the native users, rooms and members) did, seen from here.
//!
//! A request carries a `Journal` (who, from where, which endpoint, the quirks it needed). A
//! change's entry is written by `Ctx::change` in the change's own transaction, from the events
//! the change emitted (`Change::after`); a failure's (and, with `reads`, a read's) is handed to
//! the store's writer to ride with the next batch (`Store::log_deferred`). The reader side is
//! `store::provisioning`; the reasons in an operator's words are `api::reason`.

pub mod tally;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use uuid::Uuid;

use crate::store::audit::Field;
use crate::store::events::{Event, EventData};
use crate::store::provisioning::{Entry, Subject};
use crate::store::{self, Tx, WriteTxn, counters, rooms, users};

/// The log's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub enabled: bool,
    /// Store successful reads one by one too (else they are only counted).
    pub reads: bool,
    pub flush: Duration,
    pub retention: Duration,
    /// Most entries kept per tenant.
    pub max_entries: u64,
    /// Most failure entries waiting for the writer.
    pub queue: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            reads: false,
            flush: Duration::from_millis(1000),
            retention: Duration::from_secs(30 * 86_400),
            max_entries: 1_000_000,
            queue: 10_000,
        }
    }
}

/// What an endpoint is, for the log: the operation in words, the kind of resource, whether it
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub words: &'static str,
    /// `user`, `group`, `room`, or `` (several).
    pub kind: &'static str,
    pub writes: bool,
}

/// What an entry keeps of a client's User-Agent: nothing for a recognised identity provider
/// (its label names it), else the first 200 bytes, cut on a character boundary.
pub fn agent_kept(label: &str, user_agent: Option<&str>) -> String {
    if label != "other" {
        return String::new();
    }
    let ua = user_agent.unwrap_or("");
    let end = (0..=ua.len().min(200)).rev().find(|&i| ua.is_char_boundary(i)).unwrap_or(0);
    ua.get(..end).unwrap_or("").to_owned()
}

/// Who asked what, for every entry one request (or Bulk operation) leaves.
#[derive(Debug, Clone)]
pub struct Meta {
    pub tenant: Uuid,
    pub started: Instant,
    /// The client's metric label (`okta`, `other`).
    pub client_label: &'static str,
    pub operation: Operation,
    /// The resource the path names, if it names one.
    pub target: Option<Uuid>,
    /// What each of its entries says of the request: time, request id, key, client, source,
    /// method and path template (the rest is filled in when it is answered or applied).
    pub request: Entry,
}

/// A request's journal: its `Meta`, and the quirks noted while it is parsed.
#[derive(Debug)]
pub struct Journal {
    pub meta: Meta,
    quirks: Mutex<Vec<&'static str>>,
    /// The name of the resource a create asked for (its userName, displayName): what a failed
    /// create's entry says it was about, as it has no id yet.
    named: Mutex<Option<String>>,
}

impl Journal {
    pub fn new(meta: Meta) -> Journal {
        Journal { meta, quirks: Mutex::new(Vec::new()), named: Mutex::new(None) }
    }

    pub fn note_quirk(&self, quirk: &'static str) {
        let mut quirks = self.quirks.lock();
        if !quirks.contains(&quirk) {
            quirks.push(quirk);
        }
    }

    pub fn note_name(&self, name: &str) {
        *self.named.lock() = Some(name.to_owned());
    }

    pub fn quirk_names(&self) -> Vec<&'static str> {
        self.quirks.lock().clone()
    }

    fn quirks(&self) -> Vec<String> {
        self.quirks.lock().iter().map(|q| (*q).to_owned()).collect()
    }

    /// What a change made under this journal records (taken when the change is queued).
    pub fn change(&self) -> Change {
        let status = match self.meta.request.method.as_str() {
            "POST" if self.meta.target.is_none() => 201,
            "DELETE" => 204,
            _ => 200,
        };
        let template = Entry { status, quirks: self.quirks(), ..blank(&self.meta) };
        Change { meta: self.meta.clone(), template }
    }

    /// The entry of a request that did not change anything: a failure, or a read.
    pub fn entry(&self, status: u16, failure: Option<Failure>) -> Entry {
        let (code, detail, reason) = match failure {
            Some(f) => (Some(f.code), Some(f.detail), f.reason),
            None => (None, None, None),
        };
        let name = self.named.lock().clone();
        let subject = (self.meta.target.is_some() || name.is_some()).then(|| Subject {
            kind: self.meta.operation.kind.to_owned(),
            id: self.meta.target,
            name,
        });
        Entry {
            operation: self.meta.operation.words.to_owned(),
            subject,
            status,
            code,
            detail,
            reason,
            quirks: self.quirks(),
            ..blank(&self.meta)
        }
    }
}

/// What a failure says.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: String,
    pub detail: String,
    pub reason: Option<String>,
}

fn blank(meta: &Meta) -> Entry {
    Entry { duration_us: elapsed_us(meta.started), ..meta.request.clone() }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A change's recording, run in its transaction around it.
#[derive(Debug, Clone)]
pub struct Change {
    meta: Meta,
    /// The entry as far as the request tells it, built on the request's thread: the writer's
    /// thread only fills in what the change did.
    template: Entry,
}

/// What the transaction held before the change.
pub struct Before {
    event_seq: u64,
    user: Option<users::User>,
    room: Option<rooms::Room>,
}

impl Change {
    pub fn before(&self, txn: &WriteTxn) -> store::Result<Before> {
        let tenant = self.meta.tenant;
        let event_seq = counters::get(txn, tenant, counters::EVENT_SEQ)?;
        let (mut user, mut room) = (None, None);
        if let Some(id) = self.meta.target {
            match self.meta.operation.kind {
                "user" => user = found(users::get(txn, tenant, id))?,
                "group" | "room" => room = found(rooms::get(txn, tenant, id))?,
                _ => {}
            }
        }
        Ok(Before { event_seq, user, room })
    }

    /// Records the entry, if the change changed anything (emitted events).
    pub fn after(&self, txn: &WriteTxn, before: Before) -> store::Result<()> {
        let tenant = self.meta.tenant;
        let now = counters::get(txn, tenant, counters::EVENT_SEQ)?;
        if now <= before.event_seq {
            return Ok(());
        }
        let mut events = Vec::new();
        for seq in before.event_seq + 1..=now {
            if let Some(event) = store::events::get(txn, tenant, seq)? {
                events.push(event);
            }
        }
        let mut entry = self.template.clone();
        entry.duration_us = elapsed_us(self.meta.started);
        describe(&mut entry, &self.meta, &before, &events);
        store::provisioning::record(txn, tenant, entry)?;
        Ok(())
    }
}

/// A record, or None where it is not there.
pub fn found<T>(r: store::Result<T>) -> store::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The operation in words, the subject and the changed attributes, from the events a change
/// emitted and the record as it was.
fn describe(entry: &mut Entry, meta: &Meta, before: &Before, events: &[Event]) {
    let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
    let room_kind = if meta.operation.kind == "group" { "group" } else { "room" };
    let mut words = Vec::new();
    for (event, what) in [
        ("user.created", "create user"),
        ("user.deactivated", "deactivate user"),
        ("user.reactivated", "reactivate user"),
        ("user.deleted", "delete user"),
        ("user.updated", "update user"),
    ] {
        if count(event) > 0 {
            words.push(what.to_owned());
        }
    }
    for (event, what) in [
        ("room.created", "create"),
        ("room.mapping_updated", "map"),
        ("room.mapping_removed", "unmap"),
        ("room.deleted", "delete"),
    ] {
        if count(event) > 0 {
            words.push(format!("{what} {room_kind}"));
        }
    }
    for (event, what) in [
        ("room.member_added", "add"),
        ("room.member_updated", "update"),
        ("room.member_removed", "remove"),
    ] {
        match count(event) {
            0 => {}
            1 => words.push(format!("{what} 1 member")),
            n => words.push(format!("{what} {n} members")),
        }
    }
    if count("room.members_synced") > 0 {
        words.push("sync members".to_owned());
    }
    // `update user` beside `deactivate user` says nothing more.
    if words.len() > 1 {
        words.retain(|w| w != "update user");
    }
    entry.operation = match words.is_empty() {
        true => meta.operation.words.to_owned(),
        false => words.join(", "),
    };
    let mut changes = Vec::new();
    for event in events {
        match &event.data {
            EventData::User(after) => {
                entry.subject = Some(Subject {
                    kind: "user".into(),
                    id: Some(after.id),
                    name: Some(after.user_name.clone()),
                });
                if event.event_type != "user.deleted" {
                    changes = user_changes(before.user.as_ref(), after);
                }
            }
            EventData::Room { room, .. } => {
                entry.subject = Some(Subject {
                    kind: room_kind.into(),
                    id: Some(room.id),
                    name: Some(room.display_name.clone()),
                });
                if event.event_type != "room.deleted" && changes.is_empty() {
                    changes = room_changes(before.room.as_ref(), room);
                }
            }
            EventData::Member { room, user, tx_permission, .. } => {
                if entry.subject.is_none() {
                    let name = before.room.as_ref().map(|r| r.display_name.clone());
                    entry.subject = Some(Subject { kind: room_kind.into(), id: Some(*room), name });
                }
                let (old, new) = match event.event_type.as_str() {
                    "room.member_removed" => (Some(user.to_string()), None),
                    _ => (None, Some(user.to_string())),
                };
                let name = match event.event_type.as_str() {
                    "room.member_updated" => format!("member {user} transmit"),
                    _ => "members".to_owned(),
                };
                let (old, new) = match event.event_type.as_str() {
                    "room.member_updated" => (None, Some(tx_permission.to_string())),
                    _ => (old, new),
                };
                // A push of thousands of members names the first 100 of them.
                if changes.len() < 100 {
                    changes.push(Field { name, old, new });
                }
            }
            EventData::SeatsExhausted { .. }
            | EventData::Seats { .. }
            | EventData::AsyncResponse { .. } => {}
        }
    }
    entry.changes = changes;
}

fn user_changes(before: Option<&users::User>, after: &users::User) -> Vec<Field> {
    let old = before.map(users::scim_values);
    users::scim_values(after)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (name, value))| {
            let was = old.as_ref().and_then(|o| o.get(i)).and_then(|(_, v)| v.as_ref());
            (was != value.as_ref())
                .then(|| Field::new(name, was.map(|w| w.to_string()), value.map(Cow::into_owned)))
        })
        .collect()
}

fn room_changes(before: Option<&rooms::Room>, after: &rooms::Room) -> Vec<Field> {
    let fields = |r: &rooms::Room| {
        [
            ("displayName", Some(r.display_name.clone())),
            ("externalId", r.external_id.clone()),
            ("mapped", Some(r.mapped.to_string())),
        ]
    };
    let new = fields(after);
    let old = before.map(fields);
    new.into_iter()
        .enumerate()
        .filter_map(|(i, (name, value))| {
            let was = old.as_ref().and_then(|o| o.get(i)).and_then(|(_, v)| v.clone());
            (was != value).then(|| Field::new(name, was, value))
        })
        .collect()
}

/// The tenant's first and latest successful entries about a resource: who created it and who
/// changed it last (as far back as the log goes).
pub fn creator_and_changer(
    tx: &impl Tx,
    tenant: Uuid,
    resource: Uuid,
) -> store::Result<(Option<Entry>, Option<Entry>)> {
    store::provisioning::first_and_last(tx, tenant, resource)
}

/// The log's filters from named fields (a query string, the console's form): `outcome`,
/// `client`, `key` (`me`: the caller's, `me`), `resource`, `operation` and `since`; an empty
/// field is no filter.
pub fn read_filter<'a>(
    field: impl Fn(&str) -> Option<&'a str>,
    me: Uuid,
    now: i64,
) -> Result<store::provisioning::Filter, String> {
    let get = |name: &str| field(name).map(str::trim).filter(|v| !v.is_empty());
    let id = |name: &str| {
        get(name)
            .map(|v| v.parse::<Uuid>().map_err(|_| format!("{name} must be an id, not {v:?}")))
            .transpose()
    };
    Ok(store::provisioning::Filter {
        failed: get("outcome").map(parse_outcome).transpose()?,
        client: get("client").map(str::to_ascii_lowercase),
        key: match get("key") {
            Some("me") => Some(me),
            _ => id("key")?,
        },
        resource: id("resource")?,
        operation: get("operation").map(str::to_owned),
        since: get("since").map(|s| parse_since(s, now)).transpose()?,
    })
}

/// `since=`: a duration back from now (`90s`, `15m`, `1h`, `7d`) or an RFC 3339 time.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(ms) = crate::time::parse_duration_ms(text) {
        return Ok(now_ms.saturating_sub(ms));
    }
    text.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| format!("since {text:?} is neither a duration (1h, 7d) nor an RFC 3339 time"))
}

/// `outcome=`: `failed` or `succeeded`.
pub fn parse_outcome(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "failed" | "failure" | "failures" => Ok(true),
        "succeeded" | "success" => Ok(false),
        other => Err(format!("outcome {other:?}: use failed or succeeded")),
    }
}
