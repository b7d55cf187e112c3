//! SET receivers (scope `webhooks`): registrations that get the change stream as SCIM security
//! events (RFC 9967), pushed (RFC 8935) through the webhook outbox, retries, per-resource order
//! and delivery log, or polled (RFC 8936) at `POST /events/poll`.

use std::time::Duration;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::{Id, Json, OptionalJson, Query};
use crate::http::response::Reply;
use crate::repr::sets::{self, short_uris};
use crate::repr::webhooks::{delivery_json, receiver_json};
use crate::store::webhooks::{self as hooks, Webhook};
use crate::time::now_ms;
use crate::webhooks::send;

/// A receiver's fields as a request sends them; omitted ones take their defaults (create) or
/// stay as they are (update).
#[derive(Deserialize)]
pub struct ReceiverInput {
    /// `push` (the default) or `poll`.
    delivery: Option<String>,
    /// Where pushed SETs go (push only).
    url: Option<String>,
    /// The SETs' `aud` (default: the URL, or the receiver's id when polled).
    audience: Option<String>,
    /// Event URIs (`urn:ietf:params:scim:event:prov:create`, or short: `prov:create`).
    events: Option<Vec<String>>,
    /// `notice` (the default: changed attribute names) or `full` (the resource).
    format: Option<String>,
    description: Option<String>,
    active: Option<bool>,
}

fn format_full(name: &str) -> Result<bool, ApiError> {
    sets::parse_format(name).map_err(ApiError::bad_request)
}

fn checked_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    send::check_url(url).map_err(ApiError::bad_request)?;
    Ok(url.to_owned())
}

/// A registration that is a SET receiver, else 404 (webhooks are not receivers).
pub fn receiver(ctx: &Ctx<'_>, id: Uuid) -> Result<Webhook, ApiError> {
    let tenant = ctx.tenant;
    let hook = ctx.lookup(|tx| hooks::get(tx, tenant, id))?;
    match hook.set {
        Some(_) => Ok(hook),
        None => Err(ApiError::NotFound),
    }
}

pub async fn create(ctx: &Ctx<'_>, Json(input): Json<ReceiverInput>) -> Result<Reply, ApiError> {
    let poll = match input.delivery.as_deref().map(str::trim) {
        None | Some("push") => false,
        Some("poll") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("delivery {other:?}: use push or poll")));
        }
    };
    let url = match (poll, input.url.as_deref()) {
        (false, Some(url)) => checked_url(url)?,
        _ => input.url.clone().unwrap_or_default(),
    };
    let new = sets::NewReceiver {
        url,
        poll,
        audience: input.audience,
        events: input.events,
        full: input.format.as_deref().map(format_full).transpose()?.unwrap_or(false),
        description: input.description.unwrap_or_default(),
        active: input.active.unwrap_or(true),
    };
    let hook = sets::receiver(Uuid::now_v7(), new, now_ms()).map_err(ApiError::bad_request)?;
    let (tenant, stored, actor) = (ctx.tenant, hook.clone(), ctx.actor());
    let hook = ctx
        .write(move |txn| -> crate::store::Result<_> {
            let mut hook = stored.clone();
            // A polled receiver starts at the stream's end: what changed before it is no news.
            if let Some(poll) = hook.set.as_mut().and_then(|s| s.poll.as_mut()) {
                poll.acked_through = crate::store::events::bounds(txn, tenant)?.0;
            }
            hooks::register(txn, tenant, &hook, &actor)?;
            Ok(hook)
        })
        .await?;
    Ok(Reply::json(StatusCode::CREATED, &receiver_json(&hook)))
}

pub async fn list(ctx: &Ctx<'_>, (): ()) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant;
    let all = ctx.read(move |tx| hooks::receivers(tx, tenant)).await?;
    let receivers: Vec<Value> = all.iter().map(receiver_json).collect();
    Ok(Reply::json(StatusCode::OK, &json!({ "receivers": receivers })))
}

pub async fn get(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    Ok(Reply::json(StatusCode::OK, &receiver_json(&receiver(ctx, id)?)))
}

pub async fn update(
    ctx: &Ctx<'_>,
    (Id(id), Json(input)): (Id, Json<ReceiverInput>),
) -> Result<Reply, ApiError> {
    let before = receiver(ctx, id)?;
    if input.delivery.is_some() {
        return Err(ApiError::bad_request("delivery cannot change: register a new receiver"));
    }
    let mut set = before.set.clone().ok_or(ApiError::NotFound)?;
    let url = match (&set.poll, input.url.as_deref()) {
        (None, Some(url)) => Some(checked_url(url)?),
        (Some(_), Some(_)) => return Err(ApiError::bad_request("a polled receiver has no url")),
        (_, None) => None,
    };
    if let Some(events) = &input.events {
        set.uris = short_uris(events).map_err(ApiError::bad_request)?;
    }
    if let Some(audience) = input.audience.map(|a| a.trim().to_owned()) {
        if audience.is_empty() {
            return Err(ApiError::bad_request("audience must not be empty"));
        }
        set.audience = audience;
    }
    if let Some(format) = input.format.as_deref() {
        set.full = format_full(format)?;
    }
    let change = hooks::Change {
        url,
        events: Some(sets::subscribed_types(&set.uris)),
        description: input.description,
        active: input.active,
        thin: None,
    };
    let (tenant, now, actor) = (ctx.tenant, now_ms(), ctx.actor());
    let hook = ctx
        .write(move |txn| {
            hooks::change(txn, tenant, id, &change, &actor, now)?;
            hooks::set_receiver(txn, tenant, id, &set)
        })
        .await?;
    Ok(Reply::json(StatusCode::OK, &receiver_json(&hook)))
}

pub async fn delete(ctx: &Ctx<'_>, Id(id): Id) -> Result<Reply, ApiError> {
    receiver(ctx, id)?;
    let (tenant, now, actor) = (ctx.tenant, now_ms(), ctx.actor());
    ctx.write(move |txn| hooks::unregister(txn, tenant, id, &actor, now)).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub async fn deliveries(ctx: &Ctx<'_>, (Id(id), query): (Id, Query)) -> Result<Reply, ApiError> {
    receiver(ctx, id)?;
    let limit = query.u64("limit")?.unwrap_or(50).clamp(1, 500);
    let tenant = ctx.tenant;
    let list = ctx.read(move |tx| hooks::recent_deliveries(tx, tenant, id, limit)).await?;
    let shown: Vec<Value> = list.iter().map(delivery_json).collect();
    Ok(Reply::json(StatusCode::OK, &json!({ "deliveries": shown })))
}

/// RFC 8936's poll request.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    #[serde(default)]
    ack: Vec<String>,
    /// jti -> {err, description}: SETs the receiver could not process (acknowledged all the same).
    #[serde(default)]
    set_errs: Map<String, Value>,
    max_events: Option<u64>,
    #[serde(default)]
    return_immediately: bool,
}

/// Most SETs one poll returns.
const MAX_EVENTS: u64 = 1000;
/// How long a poll without `returnImmediately` waits for a SET.
const POLL_WAIT: Duration = Duration::from_secs(30);

/// `POST /events/poll` (RFC 8936): records the acknowledgements, then answers the SETs not
/// acknowledged yet, waiting for one (up to 30 s) unless `returnImmediately`. The receiver is
/// `?receiver=ID`, or the tenant's only polled one.
pub async fn poll(
    ctx: &Ctx<'_>,
    (query, OptionalJson(request)): (Query, OptionalJson<PollRequest>),
) -> Result<Reply, ApiError> {
    let request = request.unwrap_or_default();
    let hook = polled(ctx, query.get("receiver")).await?;
    let Some(sets_) = ctx.state.webhooks.sets.clone() else {
        return Err(ApiError::bad_request("this server does not sign SETs"));
    };
    let (tenant, id) = (ctx.tenant, hook.id);
    let set = hook.set.clone().ok_or(ApiError::NotFound)?;
    let mut acked: Vec<Uuid> = Vec::new();
    for jti in request.ack.iter().chain(request.set_errs.keys()) {
        match Uuid::try_parse(jti.trim()) {
            Ok(u) => acked.push(u),
            Err(_) => return Err(ApiError::bad_request(format!("{jti:?} is not a jti we issued"))),
        }
    }
    for (jti, err) in &request.set_errs {
        tracing::warn!(receiver = %id, jti, error = %err, "a SET receiver reported an error");
    }
    let hook = if acked.is_empty() {
        hook
    } else {
        let wants = set.clone();
        ctx.write(move |txn| {
            hooks::poll_ack(txn, tenant, id, &acked, |e| crate::scim::events::wants(e, &wants))?;
            hooks::get(txn, tenant, id)
        })
        .await?
    };
    let max = request.max_events.unwrap_or(100).min(MAX_EVENTS);
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let deadline = tokio::time::Instant::now()
        + if request.return_immediately || max == 0 { Duration::ZERO } else { POLL_WAIT };
    let mut commits = ctx.store().commits();
    loop {
        commits.borrow_and_update();
        let (reading, wants) = (hook.clone(), set.clone());
        let (events, more) = match limit {
            0 => (Vec::new(), false),
            _ => {
                ctx.read(move |tx| {
                    hooks::poll_pending(tx, tenant, &reading, limit, |e| {
                        crate::scim::events::wants(e, &wants)
                    })
                })
                .await?
            }
        };
        let done = !events.is_empty() || tokio::time::Instant::now() >= deadline;
        if done || ctx.state.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
            let mut out = Map::new();
            for event in &events {
                if let Some(jwt) = sets_.render(event, &hook) {
                    let jwt = jwt.map_err(|_| ApiError::Internal)?;
                    out.insert(event.id.simple().to_string(), json!(jwt));
                }
            }
            return Ok(Reply::json(StatusCode::OK, &json!({"sets": out, "moreAvailable": more})));
        }
        let _ = tokio::time::timeout_at(deadline, commits.changed()).await;
    }
}

/// The polled receiver a poll names, or the tenant's only one.
async fn polled(ctx: &Ctx<'_>, named: Option<&str>) -> Result<Webhook, ApiError> {
    let tenant = ctx.tenant;
    let all = ctx.read(move |tx| hooks::receivers(tx, tenant)).await?;
    let mut polled = all.into_iter().filter(|h| h.polled() && h.active);
    match named {
        Some(raw) => {
            let id = Uuid::try_parse(raw.trim())
                .map_err(|_| ApiError::bad_request("receiver must be a receiver's id"))?;
            polled.find(|h| h.id == id).ok_or(ApiError::NotFound)
        }
        None => match (polled.next(), polled.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err(ApiError::NotFound),
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "this tenant has several polled receivers: name one with ?receiver=ID",
            )),
        },
    }
}
