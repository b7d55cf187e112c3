//! The Webhooks pages: registrations and their state, a new one (its signing secret shown once),
//! a registration's settings (URL, description, event types), pause and resume, deletion after a
//! confirmation, a signed test event sent now, and the delivery log: each delivery's status,
//! attempts, next retry, event and payload, with redelivery. Changes go through the store's
//! `webhooks` operations, as the API's, and are audited.

use askama::Template;
use uuid::Uuid;

use super::Console;
use super::overview::hook_state;
use super::view::{Answer, Chrome, Failure, when};
use crate::http::Style;
use crate::http::error::ApiError;
use crate::store::events;
use crate::store::webhooks::{
    self as hooks, Change, Delivery, DeliveryStatus, EVENT_TYPES, Webhook,
};
use crate::time::now_ms;

const DELIVERIES: u64 = 50;

pub struct HookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub description: String,
    pub state: String,
    pub active: bool,
    /// Thin payloads (ids only) rather than full ones.
    pub thin: bool,
    /// Until when a rotation's replaced secret still signs, if it does.
    pub overlap_until: Option<String>,
}

fn hook_row(h: &Webhook) -> HookRow {
    HookRow {
        id: h.id.to_string(),
        url: h.url.clone(),
        events: h.events.join(", "),
        description: h.description.clone(),
        state: hook_state(h),
        active: h.active,
        thin: h.thin,
        overlap_until: h.previous_secret.as_ref().map(|(_, until)| super::view::when(Some(*until))),
    }
}

/// An event type in the form, ticked or not.
pub struct EventChoice {
    pub name: &'static str,
    pub on: bool,
}

fn choices(wanted: &[String]) -> Vec<EventChoice> {
    EVENT_TYPES
        .iter()
        .map(|&name| EventChoice { name, on: wanted.iter().any(|w| w == name) })
        .collect()
}

/// What a registration form holds: its URL, description and event types.
struct Fields {
    url: String,
    description: String,
    /// `*`: every type, including those added later.
    all: bool,
    events: Vec<String>,
}

fn fields(c: &Console<'_>) -> Fields {
    let form = c.form();
    Fields {
        url: form.get("url").unwrap_or_default().to_owned(),
        description: form.get("description").unwrap_or_default().to_owned(),
        all: form.get("all") == Some("true"),
        events: form.all("event"),
    }
}

impl Fields {
    /// The checked URL and event list (the API's rules).
    fn checked(&self) -> Result<(String, Vec<String>), ApiError> {
        let url = self.url.trim();
        if url.is_empty() {
            return Err(ApiError::bad_request("give the receiver's URL"));
        }
        crate::webhooks::send::check_url(url).map_err(ApiError::bad_request)?;
        let events = if self.all { vec!["*".to_owned()] } else { self.events.clone() };
        Ok((url.to_owned(), hooks::checked_events(events)?))
    }
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    hooks: Vec<HookRow>,
    error: Option<String>,
    url: String,
    description: String,
    all: bool,
    choices: Vec<EventChoice>,
    receivers: Vec<super::receivers::ReceiverRow>,
    uri_choices: Vec<super::receivers::UriChoice>,
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    list_with(c, None).await
}

pub(super) async fn list_with(
    c: &Console<'_>,
    refused: Option<ApiError>,
) -> Result<Answer, Failure> {
    let tenant = c.ctx.tenant;
    let (all, receivers) = c
        .ctx
        .read(move |tx| {
            Ok::<_, crate::store::Error>((hooks::list(tx, tenant)?, hooks::receivers(tx, tenant)?))
        })
        .await?;
    let status = refused.as_ref().map_or(hyper::StatusCode::OK, |e| e.body(Style::Native).0);
    let posted = fields(c);
    let page = WebhooksPage {
        chrome: c.chrome("webhooks"),
        hooks: all.iter().map(hook_row).collect(),
        error: refused.map(|e| e.message()),
        // A fresh form ticks "every event".
        all: posted.all || refused_none(c),
        choices: choices(&posted.events),
        url: posted.url,
        description: posted.description,
        receivers: receivers.iter().map(super::receivers::row).collect(),
        uri_choices: super::receivers::choices(c),
    };
    Answer::with_status(status, &page)
}

/// No form was posted (the page, not a refused create).
fn refused_none(c: &Console<'_>) -> bool {
    c.req.parts.method != hyper::Method::POST
}

fn client_error(e: ApiError) -> Result<ApiError, Failure> {
    match e.body(Style::Native).0.is_client_error() {
        true => Ok(e),
        false => Err(Failure::Api(e)),
    }
}

#[derive(Template)]
#[template(path = "console/webhook-secret.html")]
struct SecretPage {
    chrome: Chrome,
    hook: HookRow,
    secret: String,
    /// A rotation's page (else a new registration's).
    rotated: bool,
}

/// `POST /console/webhooks`: a new registration; its secret is shown this once.
pub async fn create(c: &Console<'_>) -> Result<Answer, Failure> {
    let posted = fields(c);
    let (url, events) = match posted.checked() {
        Ok(checked) => checked,
        Err(e) => return list_with(c, Some(e)).await,
    };
    let now = now_ms();
    let secret = crate::webhooks::send::new_secret().map_err(|_| ApiError::Internal)?;
    let hook = Webhook {
        events,
        description: posted.description,
        ..Webhook::new(Uuid::now_v7(), url, secret.clone(), now)
    };
    let (tenant, stored, actor) = (c.ctx.tenant, hook.clone(), c.ctx.actor());
    let made = c.ctx.write(move |txn| hooks::register(txn, tenant, &stored, &actor)).await;
    if let Err(e) = made {
        return list_with(c, Some(client_error(e)?)).await;
    }
    let page =
        SecretPage { chrome: c.chrome("webhooks"), hook: hook_row(&hook), secret, rotated: false };
    Answer::page(&page)
}

pub struct DeliveryRow {
    pub id: String,
    pub seq: u64,
    pub event_type: String,
    pub status: &'static str,
    pub attempts: u32,
    pub answer: String,
    pub next: String,
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
    let next = match (d.status, d.next_attempt_at, d.attempts) {
        (DeliveryStatus::Pending, Some(at), _) => when(Some(at)),
        (DeliveryStatus::Pending, None, 0) => "now (queued)".into(),
        _ => "—".into(),
    };
    DeliveryRow {
        id: d.id.to_string(),
        seq: d.seq,
        event_type: d.event_type.clone(),
        status,
        attempts: d.attempts,
        answer,
        next,
        updated: when(Some(d.updated_at)),
        redeliverable: d.status != DeliveryStatus::Pending && d.attempts > 0,
    }
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    hook: HookRow,
    /// The settings form's fields (`webhook-fields.html`).
    url: String,
    description: String,
    /// The registration's event types as the settings form shows them.
    all: bool,
    choices: Vec<EventChoice>,
    deliveries: Vec<DeliveryRow>,
    tested: Option<String>,
    error: Option<String>,
}

/// `GET /console/webhooks/{id}`.
pub async fn page(c: &Console<'_>) -> Result<Answer, Failure> {
    show(c, None).await
}

async fn show(c: &Console<'_>, tested: Option<String>) -> Result<Answer, Failure> {
    show_with(c, tested, None).await
}

async fn show_with(
    c: &Console<'_>,
    tested: Option<String>,
    refused: Option<ApiError>,
) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let tenant = c.ctx.tenant;
    let (hook, deliveries) = c
        .ctx
        .read(move |tx| -> crate::store::Result<_> {
            Ok((hooks::get(tx, tenant, id)?, hooks::recent_deliveries(tx, tenant, id, DELIVERIES)?))
        })
        .await?;
    let status = refused.as_ref().map_or(hyper::StatusCode::OK, |e| e.body(Style::Native).0);
    let page = WebhookPage {
        chrome: c.chrome("webhooks"),
        all: hook.events.iter().any(|e| e == "*"),
        choices: choices(&hook.events),
        url: hook.url.clone(),
        description: hook.description.clone(),
        hook: hook_row(&hook),
        deliveries: deliveries.iter().map(delivery_row).collect(),
        tested,
        error: refused.map(|e| e.message()),
    };
    Answer::with_status(status, &page)
}

/// `POST /console/webhooks/{id}`: URL, description and event types.
pub async fn update(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let posted = fields(c);
    let (url, events) = match posted.checked() {
        Ok(checked) => checked,
        Err(e) => return show_with(c, None, Some(e)).await,
    };
    let thin = match c.form().get("payload").map(hooks::parse_payload).transpose() {
        Ok(thin) => thin,
        Err(e) => return show_with(c, None, Some(e.into())).await,
    };
    let change = Change {
        url: Some(url),
        events: Some(events),
        description: Some(posted.description),
        active: None,
        thin,
    };
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    let changed =
        c.ctx.write(move |txn| hooks::change(txn, tenant, id, &change, &actor, now)).await;
    match changed {
        Ok(_) => c.back(&format!("/webhooks/{id}")),
        Err(e) => show_with(c, None, Some(client_error(e)?)).await,
    }
}

/// `POST /console/webhooks/{id}/rotate-secret` with `overlap` (`24h`, …, `0`): a new signing
/// secret, shown this once; the replaced one signs beside it for the overlap.
pub async fn rotate_secret(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let overlap = match hooks::overlap_ms(c.form().get("overlap")) {
        Ok(ms) => ms,
        Err(e) => return show_with(c, None, Some(e.into())).await,
    };
    let secret = crate::webhooks::send::new_secret().map_err(|_| ApiError::Internal)?;
    let (tenant, now, actor, fresh) = (c.ctx.tenant, now_ms(), c.ctx.actor(), secret.clone());
    let hook = c
        .ctx
        .write(move |txn| hooks::rotate_secret(txn, tenant, id, &fresh, overlap, &actor, now))
        .await?;
    let page =
        SecretPage { chrome: c.chrome("webhooks"), hook: hook_row(&hook), secret, rotated: true };
    Answer::page(&page)
}

/// `POST /console/webhooks/{id}/end-overlap`: the replaced secret stops signing now.
pub async fn end_overlap(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx.write(move |txn| hooks::end_overlap(txn, tenant, id, &actor, now)).await?;
    c.back(&format!("/webhooks/{id}"))
}

/// `POST /console/webhooks/{id}/active` with `active=true|false`: resume or pause.
pub async fn set_active(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let active = match c.form().get("active") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(ApiError::bad_request("active must be true or false").into()),
    };
    let change = Change { active: Some(active), ..Change::default() };
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx.write(move |txn| hooks::change(txn, tenant, id, &change, &actor, now)).await?;
    c.back(&format!("/webhooks/{id}"))
}

#[derive(Template)]
#[template(path = "console/webhook-delete.html")]
struct DeletePage {
    chrome: Chrome,
    hook: HookRow,
}

/// `GET /console/webhooks/{id}/delete`: a confirmation.
pub async fn delete_form(c: &Console<'_>) -> Result<Answer, Failure> {
    let (id, tenant) = (c.id(0)?, c.ctx.tenant);
    let hook = c.ctx.read(move |tx| hooks::get(tx, tenant, id)).await?;
    Answer::page(&DeletePage { chrome: c.chrome("webhooks"), hook: hook_row(&hook) })
}

/// `POST /console/webhooks/{id}/delete`.
pub async fn delete(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx.write(move |txn| hooks::unregister(txn, tenant, id, &actor, now)).await?;
    c.back("/webhooks")
}

#[derive(Template)]
#[template(path = "console/delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    hook: HookRow,
    delivery: DeliveryRow,
    /// The event as the receiver is sent it (pretty JSON); None once the event was pruned.
    payload: Option<String>,
    resource: String,
}

/// `GET /console/webhooks/{id}/deliveries/{delivery}`: one delivery and its event's payload.
pub async fn delivery(c: &Console<'_>) -> Result<Answer, Failure> {
    let (id, wanted) = (c.id(0)?, c.id(1)?);
    let tenant = c.ctx.tenant;
    let (hook, found, event) = c
        .ctx
        .read(move |tx| {
            let hook = hooks::get(tx, tenant, id)?;
            let found = match hooks::get_delivery(tx, tenant, id, wanted) {
                Ok(d) => d,
                // Not attempted yet: it is an outbox event.
                Err(e) if e.is_not_found() => hooks::outbox_for(tx, tenant, id)?
                    .iter()
                    .map(|event| hooks::new_delivery(event, id))
                    .find(|d| d.id == wanted)
                    .ok_or(crate::store::Error::not_found("delivery"))?,
                Err(e) => return Err(e),
            };
            let event = events::get(tx, tenant, found.seq)?;
            Ok((hook, found, event))
        })
        .await?;
    let payload = event
        .as_ref()
        .map(crate::repr::webhooks::event_json)
        .and_then(|json| serde_json::to_string_pretty(&json).ok());
    let page = DeliveryPage {
        chrome: c.chrome("webhooks"),
        hook: hook_row(&hook),
        resource: event.map(|e| e.resource.to_string()).unwrap_or_else(|| "—".into()),
        delivery: delivery_row(&found),
        payload,
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

/// `POST /console/webhooks/{id}/redeliver-failed` with `within` (`1h`, `24h`, `7d`): what
/// failed in that time goes again now.
pub async fn redeliver_failed(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let now = now_ms();
    let within = match crate::time::parse_duration_ms(c.form().get("within").unwrap_or("24h")) {
        Ok(ms) => ms,
        Err(e) => return show_with(c, None, Some(ApiError::bad_request(e))).await,
    };
    let (tenant, actor, since) = (c.ctx.tenant, c.ctx.actor(), now.saturating_sub(within));
    let found = c.ctx.read(move |tx| hooks::failed_deliveries(tx, tenant, id, since)).await?;
    let count = c
        .ctx
        .write(move |txn| hooks::redeliver_failed(txn, tenant, id, (&found, since), &actor, now))
        .await?;
    let said = match count {
        0 => "Nothing failed in that time.".to_owned(),
        1 => "1 failed delivery goes again now.".to_owned(),
        n => format!("{n} failed deliveries go again now."),
    };
    show(c, Some(said)).await
}

pub async fn redeliver(c: &Console<'_>) -> Result<Answer, Failure> {
    let (id, delivery) = (c.id(0)?, c.id(1)?);
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx.write(move |txn| hooks::redeliver_one(txn, tenant, (id, delivery), &actor, now)).await?;
    c.back(&format!("/webhooks/{id}"))
}

/// `POST /console/event-receivers`: a new SET receiver.
pub async fn create_receiver(c: &Console<'_>) -> Result<Answer, Failure> {
    let form = c.form();
    let poll = form.get("set_delivery") == Some("poll");
    let url = form.get("set_url").unwrap_or_default().trim().to_owned();
    if !poll && let Err(e) = crate::webhooks::send::check_url(&url) {
        return list_with(c, Some(ApiError::bad_request(e))).await;
    }
    let audience = form.get("set_audience").map(str::trim).filter(|a| !a.is_empty());
    let new = crate::repr::sets::NewReceiver {
        url: if poll { String::new() } else { url },
        poll,
        audience: audience.map(str::to_owned),
        events: Some(form.all("set_uri")),
        full: form.get("set_format") == Some("full"),
        description: form.get("set_description").unwrap_or_default().to_owned(),
        active: true,
    };
    let hook = match crate::repr::sets::receiver(Uuid::now_v7(), new, now_ms()) {
        Ok(hook) => hook,
        Err(e) => return list_with(c, Some(ApiError::bad_request(e))).await,
    };
    let (tenant, actor) = (c.ctx.tenant, c.ctx.actor());
    let made = c
        .ctx
        .write(move |txn| {
            let mut hook = hook.clone();
            // A polled receiver starts at the stream's end, as through the API.
            if let Some(poll) = hook.set.as_mut().and_then(|s| s.poll.as_mut()) {
                poll.acked_through = crate::store::events::bounds(txn, tenant)?.0;
            }
            hooks::register(txn, tenant, &hook, &actor)
        })
        .await;
    match made {
        Ok(()) => c.back("/webhooks"),
        Err(e) if e.body(Style::Native).0.is_client_error() => list_with(c, Some(e)).await,
        Err(e) => Err(Failure::Api(e)),
    }
}

/// `POST /console/event-receivers/{id}/delete`.
pub async fn delete_receiver(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| {
            hooks::get(txn, tenant, id)?
                .set
                .ok_or(crate::store::Error::not_found("event receiver"))?;
            hooks::unregister(txn, tenant, id, &actor, now)
        })
        .await?;
    c.back("/webhooks")
}
