//! Webhook registrations (scope `webhooks`): create (the signing secret is shown once), list,
//! get, update, delete, send a test event, and the delivery log with redelivery.

use hyper::StatusCode;
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::{Ctx, body, path_uuid, response};
use crate::repr::webhooks::{delivery_json, hook_json};
use crate::store::webhooks::{self as hooks, Delivery, DeliveryStatus, EVENT_TYPES, Webhook};
use crate::time::now_ms;
use crate::webhooks::send;

async fn object(ctx: &Ctx<'_>, body: Incoming) -> Result<Map<String, Value>, ApiError> {
    match body::json(&ctx.parts.headers, body, ctx.body_limit()).await? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

fn url_field(v: &Value) -> Result<String, ApiError> {
    let url = v.as_str().ok_or_else(|| ApiError::bad_request("url must be a string"))?.trim();
    send::check_url(url).map_err(ApiError::bad_request)?;
    Ok(url.to_owned())
}

fn events_field(v: &Value) -> Result<Vec<String>, ApiError> {
    let list = v.as_array().ok_or_else(|| ApiError::bad_request("events must be an array"))?;
    let mut events = Vec::new();
    for e in list {
        let name = e.as_str().ok_or_else(|| ApiError::bad_request("events must be strings"))?;
        if name != "*" && !EVENT_TYPES.contains(&name) {
            return Err(ApiError::bad_request(format!(
                "unknown event {name:?}; known: *, {}",
                EVENT_TYPES.join(", ")
            )));
        }
        events.push(name.to_owned());
    }
    if events.is_empty() {
        return Err(ApiError::bad_request("events must name at least one event type (or *)"));
    }
    Ok(events)
}

fn bool_field(v: &Value, name: &str) -> Result<bool, ApiError> {
    v.as_bool().ok_or_else(|| ApiError::bad_request(format!("{name} must be true or false")))
}

pub async fn create(ctx: &Ctx<'_>, body: Incoming) -> Result<HttpResponse, ApiError> {
    let input = object(ctx, body).await?;
    let url = url_field(input.get("url").unwrap_or(&Value::Null))?;
    let events = events_field(input.get("events").unwrap_or(&json!(["*"])))?;
    let description = input.get("description").and_then(Value::as_str).unwrap_or("").to_owned();
    let active = match input.get("active") {
        Some(v) => bool_field(v, "active")?,
        None => true,
    };
    let now = now_ms();
    let hook = Webhook {
        id: Uuid::now_v7(),
        url,
        events,
        description,
        active,
        secret: send::new_secret().map_err(|_| ApiError::Internal)?,
        disabled_reason: None,
        failing_since: None,
        failing_for_ms: 0,
        last_failure_at: None,
        created_at: now,
        updated_at: now,
    };
    let (tenant, stored) = (ctx.tenant, hook.clone());
    ctx.store().write(move |txn| hooks::create(txn, tenant, &stored)).await?;
    let mut out = hook_json(&hook);
    crate::repr::input::set_field(&mut out, "secret", json!(hook.secret));
    Ok(response::json(StatusCode::CREATED, &out))
}

pub async fn list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let tenant = ctx.tenant;
    let all = ctx.store().read(move |tx| hooks::list(tx, tenant)).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"webhooks": all.iter().map(hook_json).collect::<Vec<_>>()}),
    ))
}

pub async fn get(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (ctx.tenant, path_uuid(raw)?);
    let hook = ctx.store().read(move |tx| hooks::get(tx, tenant, id)).await?;
    Ok(response::json(StatusCode::OK, &hook_json(&hook)))
}

pub async fn update(ctx: &Ctx<'_>, raw: &str, body: Incoming) -> Result<HttpResponse, ApiError> {
    let input = object(ctx, body).await?;
    let url = input.get("url").map(url_field).transpose()?;
    let events = input.get("events").map(events_field).transpose()?;
    let description = input.get("description").map(|d| d.as_str().unwrap_or("").to_owned());
    let active = input.get("active").map(|v| bool_field(v, "active")).transpose()?;
    let (tenant, id, now) = (ctx.tenant, path_uuid(raw)?, now_ms());
    let hook = ctx
        .store()
        .write(move |txn| {
            let mut h = hooks::get(txn, tenant, id)?;
            if let Some(u) = &url {
                h.url = u.clone();
            }
            if let Some(e) = &events {
                h.events = e.clone();
            }
            if let Some(d) = &description {
                h.description = d.clone();
            }
            if let Some(a) = active {
                h.active = a;
                if a {
                    // Re-enabling starts afresh.
                    h.disabled_reason = None;
                    h.failing_since = None;
                    h.failing_for_ms = 0;
                    h.last_failure_at = None;
                }
            }
            h.updated_at = now;
            hooks::put(txn, tenant, &h)?;
            Ok(h)
        })
        .await?;
    Ok(response::json(StatusCode::OK, &hook_json(&hook)))
}

pub async fn delete(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (ctx.tenant, path_uuid(raw)?);
    ctx.store().write(move |txn| hooks::delete(txn, tenant, id)).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// Sends a `webhook.test` event now, outside the outbox, and reports what the receiver said.
pub async fn test(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (ctx.tenant, path_uuid(raw)?);
    let hook = ctx.store().read(move |tx| hooks::get(tx, tenant, id)).await?;
    let event_id = Uuid::now_v7();
    let data = json!({ "webhook_id": id });
    let payload = crate::repr::webhooks::envelope(event_id, "webhook.test", tenant, now_ms(), data)
        .to_string();
    let target = send::Target { url: &hook.url, secret: &hook.secret };
    let outcome =
        send::post(&target, &event_id.to_string(), &payload, &ctx.state.webhooks, &mut None).await;
    // Delivered or not, and the receiver's status: no timing, and network errors only as
    // `send::NO_ANSWER`, so the endpoint cannot map the networks the server reaches.
    Ok(response::json(
        StatusCode::OK,
        &json!({"delivered": outcome.succeeded(), "status_code": outcome.status,
            "error": outcome.error}),
    ))
}

pub async fn deliveries(ctx: &Ctx<'_>, raw: &str) -> Result<HttpResponse, ApiError> {
    let limit = ctx.param_u64("limit")?.unwrap_or(100).min(1000);
    let (tenant, id) = (ctx.tenant, path_uuid(raw)?);
    let list = ctx
        .store()
        .read(move |tx| {
            hooks::get(tx, tenant, id)?;
            // Events not attempted yet are pending deliveries too, newest first like the rest.
            let mut list: Vec<Delivery> = hooks::outbox_for(tx, tenant, id)?
                .iter()
                .rev()
                .map(|e| hooks::new_delivery(e, id))
                .collect();
            list.truncate(limit as usize);
            let room = limit.saturating_sub(list.len() as u64);
            list.extend(hooks::deliveries(tx, tenant, id, room)?);
            Ok(list)
        })
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"deliveries": list.iter().map(delivery_json).collect::<Vec<_>>()}),
    ))
}

/// Queues a delivery again, now (same event, same `webhook-id`).
pub async fn redeliver(
    ctx: &Ctx<'_>,
    raw: &str,
    raw_delivery: &str,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id, delivery, now) =
        (ctx.tenant, path_uuid(raw)?, path_uuid(raw_delivery)?, now_ms());
    let d = ctx
        .store()
        .write(move |txn| {
            let mut d = hooks::get_delivery(txn, tenant, id, delivery)?;
            d.status = DeliveryStatus::Pending;
            d.next_attempt_at = Some(now);
            d.updated_at = now;
            hooks::put_delivery(txn, tenant, &d)?;
            Ok(d)
        })
        .await?;
    Ok(response::json(StatusCode::ACCEPTED, &delivery_json(&d)))
}
