//! The Overview page (seats, keys about to expire, failing webhooks, the latest audit entries)
//! and the Audit log page.

use askama::Template;

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

fn audit_row(e: &AuditEntry) -> AuditRow {
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
}

pub async fn overview(c: &Console<'_>) -> Result<Answer, Failure> {
    let tenant = c.ctx.tenant;
    // Each part only for a key that may read it through the API (`usage`, `webhooks`).
    let chrome = c.chrome("overview");
    let (show_seats, show_hooks) = (chrome.shows("usage"), chrome.shows("webhooks"));
    let (capacity, used, failing, recent) = c
        .ctx
        .read(move |tx| {
            let capacity = u64::from(tenants::get(tx, tenant)?.seat_capacity);
            let used = counters::get(tx, tenant, counters::SEATS_PROVISIONED)?;
            let failing: Vec<Webhook> = match show_hooks {
                true => hooks::list(tx, tenant)?
                    .into_iter()
                    .filter(|h| h.failing_since.is_some() || h.disabled_reason.is_some())
                    .collect(),
                false => Vec::new(),
            };
            Ok((capacity, used, failing, audit::before(tx, tenant, None, RECENT)?))
        })
        .await?;
    let key = c.key();
    let (_, keys) = c.ctx.state.app.keys(&key.tenant.slug).await?;
    let now = now_ms();
    let expiring = keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
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
    };
    Answer::page(&page)
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditRow>,
    /// The `before` of the next (older) page, if there is one.
    older: Option<u64>,
}

pub async fn audit(c: &Console<'_>) -> Result<Answer, Failure> {
    let before = match c.form().get("before") {
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            crate::http::error::ApiError::bad_request("before must be an entry's number")
        })?),
        None => None,
    };
    let tenant = c.ctx.tenant;
    let mut entries =
        c.ctx.read(move |tx| audit::before(tx, tenant, before, AUDIT_PAGE + 1)).await?;
    let more = entries.len() > AUDIT_PAGE;
    entries.truncate(AUDIT_PAGE);
    let older = entries.last().filter(|_| more).map(|e| e.seq);
    let page = AuditPage {
        chrome: c.chrome("audit"),
        entries: entries.iter().map(audit_row).collect(),
        older,
    };
    Answer::page(&page)
}
