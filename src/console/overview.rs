//! The Overview page (seats, keys about to expire, failing webhooks, the latest audit entries)
//! and the Audit log page.

use askama::Template;

use crate::http::error::ApiError;

use super::Console;
use super::keys::{KeyRow, row};
use super::view::{Answer, Chrome, Failure, when};
use crate::store::audit::{self, Actor, AuditEntry};
use crate::store::webhooks::{self as hooks, Webhook};
use crate::store::{counters, tenants};
use crate::time::now_ms;

/// How far ahead "expiring soon" looks.
const EXPIRING_WITHIN_MS: i64 = 14 * 86_400_000;
const RECENT: usize = 10;
const AUDIT_PAGE: usize = 50;

pub struct AuditRow {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub changes: String,
}

pub fn audit_row(e: &AuditEntry) -> AuditRow {
    let actor = match &e.actor {
        Actor::Cli => "cli".to_owned(),
        Actor::System => "system".to_owned(),
        Actor::Key { id, description } => format!("key “{description}” ({id})"),
    };
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let changes: Vec<String> = e
        .fields
        .iter()
        .map(|f| format!("{}: {} → {}", f.name, show(&f.old), show(&f.new)))
        .collect();
    AuditRow {
        seq: e.seq,
        at: when(Some(e.at)),
        actor,
        action: e.action.clone(),
        target: e.target.clone(),
        changes: changes.join("; "),
    }
}

pub struct HookRow {
    pub id: String,
    pub url: String,
    pub state: String,
}

pub fn hook_state(h: &Webhook) -> String {
    match (&h.disabled_reason, h.failing_since, h.active) {
        (Some(why), _, false) => format!("disabled: {why}"),
        (None, _, false) => "paused".into(),
        (_, Some(since), true) => format!("failing since {}", when(Some(since))),
        (_, None, true) => "delivering".into(),
    }
}

/// Activity kinds the chart stacks, in order from the bottom: (class, legend, event prefix).
const KINDS: [(&str, &str, &[&str]); 4] = [
    ("k-users", "Users", &["user."]),
    ("k-members", "Memberships", &["room.member"]),
    ("k-rooms", "Rooms", &["room.created", "room.deleted", "room.mapping"]),
    ("k-seats", "Seat changes", &["seats."]),
];
/// The most events the chart reads (the newest ones).
const CHART_SCAN: usize = 200_000;
const HOUR_MS: i64 = 3_600_000;
const BAR_SPACE: u32 = 30;
const CHART_HEIGHT: u32 = 160;

pub struct Segment {
    pub y: u32,
    pub height: u32,
    pub class: &'static str,
}

pub struct Bar {
    pub x: u32,
    /// `14:00`, the hour it starts (UTC).
    pub hour: String,
    pub total: u64,
    pub counts: [u64; 4],
    pub segments: Vec<Segment>,
}

/// The last 24 hours' changes, per hour and kind, drawn as stacked bars (SVG, on the server).
pub struct Chart {
    pub bars: Vec<Bar>,
    pub legend: Vec<(&'static str, &'static str, u64)>,
    pub total: u64,
    pub max: u64,
    /// Only the newest `CHART_SCAN` changes were counted.
    pub cut: bool,
    pub width: u32,
    pub height: u32,
}

fn chart(events: &[(i64, String)], cut: bool, now: i64) -> Chart {
    let this_hour = now - now.rem_euclid(HOUR_MS);
    let first = this_hour - 23 * HOUR_MS;
    let mut counts = [[0u64; 4]; 24];
    for (at, kind) in events {
        let (Ok(hour), Some(k)) = (
            usize::try_from((at - first).div_euclid(HOUR_MS)),
            KINDS.iter().position(|(_, _, prefixes)| prefixes.iter().any(|p| kind.starts_with(p))),
        ) else {
            continue;
        };
        if let Some(cell) = counts.get_mut(hour).and_then(|c| c.get_mut(k)) {
            *cell += 1;
        }
    }
    let max = counts.iter().map(|c| c.iter().sum::<u64>()).max().unwrap_or(0);
    let scale = |n: u64| -> u32 {
        let h = n.saturating_mul(u64::from(CHART_HEIGHT)).checked_div(max).unwrap_or(0);
        u32::try_from(h).unwrap_or(CHART_HEIGHT)
    };
    let bars = counts
        .iter()
        .zip(0u32..)
        .map(|(c, i)| {
            let mut top = CHART_HEIGHT;
            let segments = c
                .iter()
                .zip(KINDS)
                .filter(|(n, _)| **n > 0)
                .map(|(n, (class, _, _))| {
                    let height = scale(*n).max(1);
                    top = top.saturating_sub(height);
                    Segment { y: top, height, class }
                })
                .collect();
            let start = first + i64::from(i) * HOUR_MS;
            let hour = jiff::Timestamp::from_millisecond(start)
                .map(|t| t.strftime("%H:00").to_string())
                .unwrap_or_default();
            Bar { x: i * BAR_SPACE, hour, total: c.iter().sum(), counts: *c, segments }
        })
        .collect();
    let legend = KINDS
        .iter()
        .enumerate()
        .map(|(k, (class, label, _))| {
            (*class, *label, counts.iter().filter_map(|c| c.get(k)).sum())
        })
        .collect();
    Chart {
        bars,
        legend,
        total: counts.iter().flatten().sum(),
        max,
        cut,
        width: 24 * BAR_SPACE,
        height: CHART_HEIGHT + 20,
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    show_seats: bool,
    show_hooks: bool,
    used: u64,
    capacity: u64,
    percent: u64,
    expiring: Vec<KeyRow>,
    failing: Vec<HookRow>,
    recent: Vec<AuditRow>,
    chart: Chart,
    show_provisioning: bool,
    failures: Vec<super::provisioning::Row>,
}

pub async fn overview(c: &Console<'_>) -> Result<Answer, Failure> {
    let tenant = c.ctx.tenant;
    // Each part only for a key that may read it through the API (`usage`, `webhooks`).
    let chrome = c.chrome("overview");
    let (show_seats, show_hooks) = (chrome.shows("usage"), chrome.shows("webhooks"));
    let show_provisioning = chrome.shows("provisioning");
    let now = now_ms();
    let base = c.req.base.clone();
    let since = now - now.rem_euclid(HOUR_MS) - 23 * HOUR_MS;
    let (capacity, used, failing, recent, (activity, cut), failures) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let failures = match show_provisioning {
                true => super::provisioning::recent_failures(tx, tenant, &base, now)?,
                false => Vec::new(),
            };
            // The change stream's counts, for a key that may read the stream (`webhooks`).
            let activity = match show_hooks {
                true => crate::store::events::activity(tx, tenant, since, CHART_SCAN)?,
                false => (Vec::new(), false),
            };
            let capacity = u64::from(tenants::get(tx, tenant)?.seat_capacity);
            let used = counters::get(tx, tenant, counters::SEATS_PROVISIONED)?;
            let failing: Vec<Webhook> = match show_hooks {
                true => hooks::list(tx, tenant)?
                    .into_iter()
                    .filter(|h| h.failing_since.is_some() || h.disabled_reason.is_some())
                    .collect(),
                false => Vec::new(),
            };
            let recent = audit::before(tx, tenant, None, RECENT)?;
            Ok((capacity, used, failing, recent, activity, failures))
        })
        .await?;
    let key = c.key();
    let (_, keys) = c.ctx.state.app.keys(&key.tenant.slug).await?;
    let expiring = keys
        .iter()
        // The key this session signed in with is the console's own, not a key to renew.
        .filter(|k| k.revoked_at.is_none() && k.id != key.id)
        .filter(|k| k.expires_at.is_some_and(|at| at > now && at <= now + EXPIRING_WITHIN_MS))
        .map(|k| row(k, now, key.id))
        .collect();
    let page = OverviewPage {
        chrome,
        show_seats,
        show_hooks,
        used,
        capacity,
        percent: (used.saturating_mul(100)).checked_div(capacity).unwrap_or(0),
        expiring,
        failing: failing
            .iter()
            .map(|h| HookRow { id: h.id.to_string(), url: h.url.clone(), state: hook_state(h) })
            .collect(),
        recent: recent.iter().map(audit_row).collect(),
        show_provisioning,
        failures,
        chart: chart(&activity, cut, now),
    };
    Answer::page(&page)
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditRow>,
    /// The query string of the next (older) page, if there is one.
    older: Option<String>,
    filter: AuditFilter,
    /// The filters are on, and this many entries were looked through.
    searched: Option<u64>,
}

/// The audit page's filters, as the form holds them.
#[derive(Default, Clone)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    pub target: String,
    /// Dates (`2026-12-01`), UTC, both days included.
    pub from: String,
    pub to: String,
}

impl AuditFilter {
    fn is_on(&self) -> bool {
        [&self.actor, &self.action, &self.target, &self.from, &self.to]
            .iter()
            .any(|f| !f.is_empty())
    }

    fn query(&self) -> String {
        super::view::query_of(&[
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ])
    }
}

/// The Unix ms at the start of `date` (UTC), or of the day after it with `next_day`.
fn day_start(date: &str, next_day: bool) -> Result<Option<i64>, ApiError> {
    if date.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::bad_request(format!("{date:?} is not a date (2026-12-01)"));
    let day: jiff::civil::Date = date.parse().map_err(|_| bad())?;
    let day = if next_day { day.tomorrow().map_err(|_| bad())? } else { day };
    let at = day.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| bad())?;
    Ok(Some(at.timestamp().as_millisecond()))
}

/// Whether `e` passes the filters (the time range is checked by the caller).
fn admits(f: &AuditFilter, e: &AuditEntry) -> bool {
    let actor = match &e.actor {
        Actor::Cli => "cli".to_owned(),
        Actor::System => "system".to_owned(),
        Actor::Key { id, description } => format!("{id} {description}"),
    };
    let has = |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
    has(&actor, &f.actor) && has(&e.action, &f.action) && has(&e.target, &f.target)
}

/// How many entries one page may look through when filtering.
const AUDIT_SCAN: usize = 20_000;

/// What the ids in audit targets name (users, rooms, webhooks, keys), for showing beside them.
fn names_of(
    tx: &impl crate::store::Tx,
    tenant: uuid::Uuid,
    entries: &[AuditEntry],
) -> crate::store::Result<std::collections::HashMap<uuid::Uuid, String>> {
    use crate::store::{keys, rooms, users};
    let mut names = std::collections::HashMap::new();
    for id in entries.iter().flat_map(|e| ids_in(&e.target)) {
        if names.contains_key(&id) {
            continue;
        }
        let name = if let Ok(u) = users::get(tx, tenant, id) {
            Some(u.user_name)
        } else if let Ok(r) = rooms::get(tx, tenant, id) {
            Some(format!("room “{}”", r.display_name))
        } else if let Ok(h) = hooks::get(tx, tenant, id) {
            Some(h.url)
        } else {
            keys::get(tx, id)
                .ok()
                .filter(|k| k.tenant_id == tenant)
                .map(|k| format!("key “{}”", k.description))
        };
        if let Some(name) = name {
            names.insert(id, name);
        }
    }
    Ok(names)
}

/// The UUIDs written in `text`.
fn ids_in(text: &str) -> Vec<uuid::Uuid> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| w.len() == 36)
        .filter_map(|w| uuid::Uuid::parse_str(w).ok())
        .collect()
}

pub async fn audit(c: &Console<'_>) -> Result<Answer, Failure> {
    let form = c.form();
    let before = match form.get("before") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request("before must be an entry's number"))?,
        ),
        None => None,
    };
    let text = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let filter = AuditFilter {
        actor: text("actor"),
        action: text("action"),
        target: text("target"),
        from: text("from"),
        to: text("to"),
    };
    let (from, to) = (day_start(&filter.from, false)?, day_start(&filter.to, true)?);
    let (tenant, f) = (c.ctx.tenant, filter.clone());
    let (mut entries, searched, last, names) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            let scan = if f.is_on() { AUDIT_SCAN } else { AUDIT_PAGE + 1 };
            let (mut out, mut searched, mut last) = (Vec::new(), 0u64, None);
            for e in audit::before(tx, tenant, before, scan)? {
                searched += 1;
                last = Some(e.seq);
                if from.is_some_and(|from| e.at < from) {
                    // Older entries are older still.
                    last = None;
                    break;
                }
                if to.is_none_or(|to| e.at < to) && admits(&f, &e) {
                    out.push(e);
                    if out.len() > AUDIT_PAGE {
                        break;
                    }
                }
            }
            let names = names_of(tx, tenant, &out)?;
            Ok((out, searched, last, names))
        })
        .await?;
    let more = entries.len() > AUDIT_PAGE;
    entries.truncate(AUDIT_PAGE);
    // The next page starts below the last entry shown, or below the last one looked through.
    let next_before = match more {
        true => entries.last().map(|e| e.seq),
        false => last.filter(|&seq| filter.is_on() && searched == AUDIT_SCAN as u64 && seq > 1),
    };
    let query = filter.query();
    let older = next_before.map(|seq| match query.is_empty() {
        true => format!("before={seq}"),
        false => format!("before={seq}&{query}"),
    });
    let rows = entries
        .iter()
        .map(|e| {
            let mut row = audit_row(e);
            for id in ids_in(&e.target) {
                if let Some(name) = names.get(&id) {
                    row.target = row.target.replace(&id.to_string(), &format!("{name} ({id})"));
                }
            }
            row
        })
        .collect();
    let page = AuditPage {
        chrome: c.chrome("audit"),
        entries: rows,
        older,
        searched: filter.is_on().then_some(searched),
        filter,
    };
    Answer::page(&page)
}
