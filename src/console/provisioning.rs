//! The Provisioning page: what identity providers asked of this tenant and why what failed
//! failed. Each client's day (requests, failures, the quirks it needs), the last 24 hours'
//! failures grouped by client, operation and reason, the entries newest first with filters,
//! and one entry in full.

use std::collections::BTreeMap;

use askama::Template;
use uuid::Uuid;

use super::Console;
use super::view::{Answer, Failure, when};
use crate::http::error::ApiError;
use crate::provisioning::read_filter;
use crate::store::provisioning::{self as log, Direction, Entry, Filter};
use crate::time::now_ms;

const PAGE: usize = 50;
/// The most entries one page looks through for a filter the indexes do not answer.
const SCAN: usize = 20_000;
/// The most failures the 24-hour groups count (the newest).
const GROUP_SCAN: usize = 10_000;
const DAY_MS: i64 = 86_400_000;

/// A quirk as the client card says it.
fn quirk_words(quirk: &str) -> &str {
    match quirk {
        "capitalised_op" => "capitalised ops",
        "string_boolean" => "string booleans",
        "pathless_patch" => "path-less replaces",
        "remove_with_value" => "removes with a value",
        "filter_without_sub_attribute" => "filters without a sub-attribute",
        "unknown_attribute" => "attributes /Schemas does not declare",
        "unknown_schema" => "unknown schema URIs",
        "unknown_filter_attribute" => "filters on undeclared attributes",
        other => other,
    }
}

pub struct Row {
    pub seq: u64,
    pub at: String,
    pub client: String,
    pub operation: String,
    pub resource: String,
    /// A console page about it (a user's, a room's).
    pub resource_link: Option<String>,
    pub failed: bool,
    pub outcome: String,
    pub reason: String,
}

fn resource_link(base: &str, e: &Entry) -> Option<String> {
    let s = e.subject.as_ref()?;
    let id = s.id?;
    match s.kind.as_str() {
        "user" => Some(format!("{base}/users/{id}")),
        "group" | "room" => Some(format!("{base}/rooms/{id}")),
        _ => None,
    }
}

fn resource_text(e: &Entry) -> String {
    match &e.subject {
        Some(s) => match (&s.name, s.id) {
            (Some(name), _) => format!("{} {name}", s.kind),
            (None, Some(id)) => format!("{} {id}", s.kind),
            (None, None) => s.kind.clone(),
        },
        None => String::new(),
    }
}

pub fn row(base: &str, e: &Entry) -> Row {
    let outcome = match (&e.code, e.failed()) {
        (Some(code), true) => format!("{} {code}", e.status),
        _ => e.status.to_string(),
    };
    Row {
        seq: e.seq,
        at: when(Some(e.at)),
        client: e.client(),
        operation: e.operation.clone(),
        resource: resource_text(e),
        resource_link: resource_link(base, e),
        failed: e.failed(),
        outcome,
        reason: e.reason.clone().or(e.detail.clone()).unwrap_or_default(),
    }
}

pub struct ClientCard {
    pub client: String,
    pub requests: u64,
    pub failed: u64,
    /// "sends capitalised ops and string booleans", or empty.
    pub quirks: String,
}

pub struct Group {
    pub client: String,
    pub operation: String,
    pub code: String,
    pub count: u64,
    pub latest: Row,
}

/// What the filters ask, as the form shows them.
#[derive(Clone, Default)]
pub struct Filters {
    pub outcome: String,
    pub client: String,
    pub key: String,
    pub resource: String,
    pub operation: String,
    pub since: String,
}

impl Filters {
    fn query(&self) -> String {
        super::view::query_of(&[
            ("outcome", &self.outcome),
            ("client", &self.client),
            ("key", &self.key),
            ("resource", &self.resource),
            ("operation", &self.operation),
            ("since", &self.since),
        ])
    }
}

/// The clients a filter offers, by label and name, the known ones first.
fn clients() -> Vec<(&'static str, String)> {
    let known = log::CLIENT_LABELS.iter().filter(|l| **l != "other");
    let mut out: Vec<_> = known.map(|l| (*l, log::client_name(l, ""))).collect();
    out.push(("other", "Other clients".to_owned()));
    out
}

#[derive(Template)]
#[template(path = "console/provisioning.html")]
struct ProvisioningPage {
    chrome: super::view::Chrome,
    cards: Vec<ClientCard>,
    groups: Vec<Group>,
    groups_cut: bool,
    filters: Filters,
    clients: Vec<(&'static str, String)>,
    entries: Vec<Row>,
    older: Option<String>,
    filtered: bool,
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    let form = c.form();
    let text = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let filters = Filters {
        outcome: text("outcome"),
        client: text("client"),
        key: text("key"),
        resource: text("resource"),
        operation: text("operation"),
        since: text("since"),
    };
    let now = now_ms();
    let filter =
        read_filter(|name| form.get(name), c.key().id, now).map_err(ApiError::bad_request)?;
    let before = match form.get("before") {
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request("before must be an entry's number"))?,
        None => u64::MAX,
    };
    let tenant = c.ctx.tenant;
    let (page, failures) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let page = log::page(tx, tenant, &filter, Direction::Before(before), PAGE, SCAN)?;
            let day = Filter { failed: Some(true), since: Some(now - DAY_MS), ..Filter::default() };
            let failures =
                log::page(tx, tenant, &day, Direction::Before(u64::MAX), GROUP_SCAN, GROUP_SCAN)?;
            Ok((page, failures))
        })
        .await?;
    let base = c.req.base.clone();
    let groups_cut = failures.next.is_some();
    let mut grouped: BTreeMap<(String, String, String), Group> = BTreeMap::new();
    // Newest first: the first of a group is its latest example.
    for e in &failures.entries {
        let code = e.code.clone().unwrap_or_default();
        grouped
            .entry((e.client(), e.operation.clone(), code.clone()))
            .and_modify(|g| g.count += 1)
            .or_insert_with(|| Group {
                client: e.client(),
                operation: e.operation.clone(),
                code,
                count: 1,
                latest: row(&base, e),
            });
    }
    let mut groups: Vec<Group> = grouped.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.latest.seq.cmp(&a.latest.seq)));
    let cards = c
        .ctx
        .state
        .tally
        .today(tenant, now)
        .into_iter()
        .map(|(_, day)| {
            let quirks: Vec<&str> = day.quirks.keys().map(|q| quirk_words(q)).collect();
            let quirks = match quirks.as_slice() {
                [] => String::new(),
                [one] => format!("sends {one}"),
                [rest @ .., last] => format!("sends {} and {last}", rest.join(", ")),
            };
            ClientCard { client: day.client, requests: day.requests, failed: day.failed, quirks }
        })
        .collect();
    let query = filters.query();
    let older = page.next.map(|seq| match query.is_empty() {
        true => format!("before={seq}"),
        false => format!("before={seq}&{query}"),
    });
    let entries = page.entries.iter().map(|e| row(&base, e)).collect();
    let out = ProvisioningPage {
        chrome: c.chrome("provisioning"),
        cards,
        groups,
        groups_cut,
        filtered: !query.is_empty(),
        filters,
        clients: clients(),
        entries,
        older,
    };
    Answer::page(&out)
}

pub struct Change {
    pub name: String,
    pub old: String,
    pub new: String,
}

#[derive(Template)]
#[template(path = "console/provisioning-entry.html")]
struct EntryPage {
    chrome: super::view::Chrome,
    row: Row,
    e: Entry,
    source: String,
    duration: String,
    changes: Vec<Change>,
}

pub async fn entry(c: &Console<'_>) -> Result<Answer, Failure> {
    let raw = c.req.params.first().ok_or(ApiError::NotFound)?;
    let seq: u64 = raw.parse().map_err(|_| ApiError::NotFound)?;
    let tenant = c.ctx.tenant;
    let e = c.ctx.read(move |tx| log::get(tx, tenant, seq)).await?.ok_or(ApiError::NotFound)?;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let changes = e
        .changes
        .iter()
        .map(|f| Change { name: f.name.clone(), old: show(&f.old), new: show(&f.new) })
        .collect();
    let page = EntryPage {
        chrome: c.chrome("provisioning"),
        row: row(&c.req.base, &e),
        source: e.source.clone().unwrap_or_else(|| "—".into()),
        duration: format!("{:.1} ms", e.duration_us as f64 / 1000.0),
        changes,
        e,
    };
    Answer::page(&page)
}

/// The Overview's box: the latest failures of the last 24 hours.
pub fn recent_failures(
    tx: &crate::store::ReadTxn,
    tenant: Uuid,
    base: &str,
    now: i64,
) -> crate::store::Result<Vec<Row>> {
    let day = Filter { failed: Some(true), since: Some(now - DAY_MS), ..Filter::default() };
    let page = log::page(tx, tenant, &day, Direction::Before(u64::MAX), 5, 5)?;
    Ok(page.entries.iter().map(|e| row(base, e)).collect())
}
