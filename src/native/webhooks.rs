//! Webhook registrations (scope `webhooks`): create (the signing secret is shown once), list,
//! get, update, delete, send a test event, and the delivery log with redelivery.

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{Id, Json, OptionalJson, Query, SubId};
use crate::http::response::Reply;
use crate::repr::webhooks::{delivery_json, hook_json};
use crate::store::webhooks::{self as hooks, Webhook};
use crate::time::now_ms;
use crate::webhooks::send;

/// A registration's fields as a request sends them; omitted ones take their defaults (create)
/// or stay as they are (update).
#[derive(Deserialize)]
pub struct HookInput {
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
    active: Option<bool>,
    /// `full` (the default) or `thin`.
    payload: Option<String>,
}

fn checked_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    send::check_url(url).map_err(ApiError::bad_request)?;
    Ok(url.to_owned())
}

/// 404 for a SET receiver's id: it is managed at `/event-receivers`.
fn is_webhook(ctx: &Ctx<'_>, id: Uuid) -> Result<(), ApiError> {
    let tenant = ctx.tenant;
    ctx.lookup(|tx| hooks::webhook(tx, tenant, id).map(|_| ()))
}

fn checked_events(list: Vec<String>) -> Result<Vec<String>, ApiError> {
    Ok(hooks::checked_events(list)?)
}

pub async fn create(ctx: &Ctx<'_>, Json(input): Json<HookInput>) -> Result<Reply, ApiError> {
    let url = checked_url(input.url.as_deref().ok_or(ApiError::bad_request("url is required"))?)?;
    let events = checked_events(input.events.unwrap_or_else(|| vec!["*".into()]))?;
    let description = input.description.unwrap_or_default();
    let active = input.active.unwrap_or(true);
    let thin = input.payload.as_deref().map(hooks::parse_payload).transpose()?.unwrap_or(false);
    let now = now_ms();
    let secret = send::new_secret().map_err(|_| ApiError::Internal)?;
    let hook = Webhook {
        events,
        description,
        active,
        thin,
        ..Webhook::new(Uuid::now_v7(), url, secret, now)
    };
    let (tenant, stored) = (ctx.tenant, hook.clone());
    let actor = ctx.actor();
    ctx.write(move |txn| hooks::register(txn, tenant, &stored, &actor)).await?;
    let mut out = hook_json(&hook);
    crate::repr::input::set_field(&mut out, "secret", json!(hook.secret));
    Ok(Reply::json(StatusCode::CREATED, &out))
}

pub async fn list(ctx: &Ctx<'_>, (): ()) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let all = ctx.read(move |tx| hooks::list(tx, tenant)).await?;
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"webhooks": all.iter().map(hook_json).collect::<Vec<_>>()}),
    ))
}

pub async fn get(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let hook = ctx.lookup(|tx| hooks::webhook(tx, tenant, id))?;
    Ok(Reply::json(StatusCode::OK, &hook_json(&hook)))
}

pub async fn update(
    ctx: &Ctx<'_>,
    (Id(id), Json(input)): (Id, Json<HookInput>),
) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let url = input.url.as_deref().map(checked_url).transpose()?;
    let events = input.events.map(checked_events).transpose()?;
    let thin = input.payload.as_deref().map(hooks::parse_payload).transpose()?;
    let change =
        hooks::Change { url, events, description: input.description, active: input.active, thin };
    let (tenant, now, actor) = (ctx.tenant, now_ms(), ctx.actor());
    let hook = ctx.write(move |txn| hooks::change(txn, tenant, id, &change, &actor, now)).await?;
    Ok(Reply::json(StatusCode::OK, &hook_json(&hook)))
}

pub async fn delete(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let (tenant, now, actor) = (ctx.tenant, now_ms(), ctx.actor());
    ctx.write(move |txn| hooks::unregister(txn, tenant, id, &actor, now)).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST /webhooks/{id}/rotate-secret`, optionally.
#[derive(Deserialize)]
pub struct Rotation {
    overlap: Option<String>,
}

/// A new signing secret, shown this once; the old one signs beside it for the overlap.
pub async fn rotate_secret(
    ctx: &Ctx<'_>,
    (Id(id), OptionalJson(rotation)): (Id, OptionalJson<Rotation>),
) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let overlap = hooks::overlap_ms(rotation.and_then(|r| r.overlap).as_deref())?;
    let secret = send::new_secret().map_err(|_| ApiError::Internal)?;
    let (tenant, now, actor, fresh) = (ctx.tenant, now_ms(), ctx.actor(), secret.clone());
    let hook = ctx
        .write(move |txn| hooks::rotate_secret(txn, tenant, id, &fresh, overlap, &actor, now))
        .await?;
    let mut out = hook_json(&hook);
    crate::repr::input::set_field(&mut out, "secret", json!(secret));
    Ok(Reply::json(StatusCode::OK, &out))
}

/// Ends a rotation's overlap: deliveries are signed with the new secret only.
pub async fn end_overlap(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let (tenant, now, actor) = (ctx.tenant, now_ms(), ctx.actor());
    let hook = ctx.write(move |txn| hooks::end_overlap(txn, tenant, id, &actor, now)).await?;
    Ok(Reply::json(StatusCode::OK, &hook_json(&hook)))
}

/// `POST /webhooks/{id}/redeliver-failed`.
#[derive(Deserialize)]
pub struct FailedSince {
    /// RFC 3339.
    since: String,
}

/// Queues again what failed since a time (a receiver that was down is back).
pub async fn redeliver_failed(
    ctx: &Ctx<'_>,
    (Id(id), Json(asked)): (Id, Json<FailedSince>),
) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let since = asked.since.trim().parse::<jiff::Timestamp>().map_err(|e| {
        ApiError::bad_request(format!("since {:?} is not an RFC 3339 time: {e}", asked.since))
    })?;
    let (tenant, now, actor, since) = (ctx.tenant, now_ms(), ctx.actor(), since.as_millisecond());
    let found = ctx.read(move |tx| hooks::failed_deliveries(tx, tenant, id, since)).await?;
    let count = ctx
        .write(move |txn| hooks::redeliver_failed(txn, tenant, id, (&found, since), &actor, now))
        .await?;
    Ok(Reply::json(StatusCode::ACCEPTED, &json!({ "redelivered": count })))
}

/// Sends a `webhook.test` event now, outside the outbox, and reports what the receiver said.
pub async fn test(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let hook = ctx.lookup(|tx| hooks::webhook(tx, tenant, id))?;
    let outcome = crate::webhooks::send_test(&hook, tenant, &ctx.state.webhooks).await;
    // Delivered or not, and the receiver's status: no timing, and network errors only as
    // `send::NO_ANSWER`, so the endpoint cannot map the networks the server reaches.
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"delivered": outcome.succeeded(), "status_code": outcome.status,
            "error": outcome.error}),
    ))
}

pub async fn deliveries(ctx: &Ctx<'_>, (Id(id), query): (Id, Query)) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let limit = query.u64("limit")?.unwrap_or(100).min(1000);
    let tenant = ctx.tenant;
    let list = ctx.read(move |tx| hooks::recent_deliveries(tx, tenant, id, limit)).await?;
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"deliveries": list.iter().map(delivery_json).collect::<Vec<_>>()}),
    ))
}

/// Queues a delivery again, now (same event, same `webhook-id`).
pub async fn redeliver(
    ctx: &Ctx<'_>,
    (Id(id), SubId(delivery)): (Id, SubId),
) -> Result<Reply, ApiError> {
    is_webhook(ctx, id)?;
    let (tenant, now, actor) = (ctx.tenant, now_ms(), ctx.actor());
    let d = ctx
        .write(move |txn| hooks::redeliver_one(txn, tenant, (id, delivery), &actor, now))
        .await?;
    Ok(Reply::json(StatusCode::ACCEPTED, &delivery_json(&d)))
}
