//! Record layouts of older schemas, read only by the upgrade steps in `migrate`. postcard is not
//! self-describing, so an old row can only be read with the struct that wrote it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::EventData;
use super::webhooks::DeliveryStatus;

/// A webhook registration up to schema 3 (no failing time).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct WebhookV3 {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub active: bool,
    pub secret: String,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A delivery up to schema 3 (found its event by time and id, no `seq`).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct DeliveryV3 {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<u64>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An event in schema 3's outbox or event log (ids derived from type + time + resource, which
/// could collide; schema 4 numbers events instead). `EventData` kept its first four variants.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct EventV3 {
    pub tenant: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub data: EventData,
    pub webhooks: Vec<Uuid>,
}
