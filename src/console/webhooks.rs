//! The Webhooks pages: registrations and their state, a registration's delivery log,
//! redeliver, and a signed test event sent now.

use askama::Template;

use super::Console;
use super::overview::hook_state;
use super::view::{Answer, Chrome, Failure, when};
use crate::store::audit::{self, Field};
use crate::store::webhooks::{self as hooks, Delivery, DeliveryStatus, Webhook};
use crate::time::now_ms;

const DELIVERIES: u64 = 50;

pub struct HookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub description: String,
    pub state: String,
}

fn hook_row(h: &Webhook) -> HookRow {
    HookRow {
        id: h.id.to_string(),
        url: h.url.clone(),
        events: h.events.join(", "),
        description: h.description.clone(),
        state: hook_state(h),
    }
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    hooks: Vec<HookRow>,
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    let tenant = c.ctx.tenant;
    let all = c.ctx.read(move |tx| hooks::list(tx, tenant)).await?;
    Answer::page(&WebhooksPage {
        chrome: c.chrome("webhooks"),
        hooks: all.iter().map(hook_row).collect(),
    })
}

pub struct DeliveryRow {
    pub id: String,
    pub event_type: String,
    pub status: &'static str,
    pub attempts: u32,
    pub answer: String,
    pub updated: String,
    /// Pending ones are queued already.
    pub redeliverable: bool,
}

fn delivery_row(d: &Delivery) -> DeliveryRow {
    let status = match d.status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Failed => "failed",
    };
    let answer = match (&d.last_status_code, &d.last_error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "—".into(),
    };
    DeliveryRow {
        id: d.id.to_string(),
        event_type: d.event_type.clone(),
        status,
        attempts: d.attempts,
        answer,
        updated: when(Some(d.updated_at)),
        redeliverable: d.status != DeliveryStatus::Pending && d.attempts > 0,
    }
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    hook: HookRow,
    deliveries: Vec<DeliveryRow>,
    tested: Option<String>,
}

pub async fn show(c: &Console<'_>, tested: Option<String>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let tenant = c.ctx.tenant;
    let (hook, deliveries) = c
        .ctx
        .read(move |tx| {
            Ok((hooks::get(tx, tenant, id)?, hooks::recent_deliveries(tx, tenant, id, DELIVERIES)?))
        })
        .await?;
    let page = WebhookPage {
        chrome: c.chrome("webhooks"),
        hook: hook_row(&hook),
        deliveries: deliveries.iter().map(delivery_row).collect(),
        tested,
    };
    Answer::page(&page)
}

pub async fn test(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let tenant = c.ctx.tenant;
    let hook = c.ctx.read(move |tx| hooks::get(tx, tenant, id)).await?;
    let outcome = crate::webhooks::send_test(&hook, tenant, &c.ctx.state.webhooks).await;
    let said = match (outcome.succeeded(), outcome.status, outcome.error) {
        (true, Some(code), _) => format!("Delivered: the receiver answered HTTP {code}."),
        (_, Some(code), _) => format!("Not delivered: the receiver answered HTTP {code}."),
        (_, None, Some(e)) => format!("Not delivered: {e}."),
        (_, None, None) => "Not delivered.".into(),
    };
    show(c, Some(said)).await
}

pub async fn redeliver(c: &Console<'_>) -> Result<Answer, Failure> {
    let (id, delivery) = (c.id(0)?, c.id(1)?);
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| {
            let d = hooks::redeliver(txn, tenant, id, delivery, now)?;
            let target = format!("webhook {id} delivery {delivery}");
            let field = Field::set("event", &d.event_type);
            audit::record(txn, tenant, &actor, ("webhook.redelivered", &target), vec![field], now)
        })
        .await?;
    c.back(&format!("/webhooks/{id}"))
}
