//! Record layouts of older schemas, read only by the upgrade steps in `migrate`. postcard is not
//! self-describing, so an old row can only be read with the struct that wrote it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use serde_json::{Map, Value};

use super::events::{Event, EventData};
use super::rooms::{Room, SyncCounts};
use super::users::{Email, Roles, User};
use super::webhooks::{DeliveryStatus, Webhook};

/// An API key up to schema 8 (no SCIM profile).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct ApiKeyV8 {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub hash: [u8; 32],
    pub prefix: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A tenant up to schema 8 (no default SCIM profile).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct TenantV8 {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub seat_capacity: u32,
    pub rate_limit_per_minute: Option<u32>,
    pub owner_user_id: Option<Uuid>,
    pub created_at: i64,
}

/// What an event carried from schema 5 to 12 (a membership without whether its room is a group).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) enum EventDataV12 {
    User(User),
    Member { room: Uuid, user: Uuid, tx_permission: bool },
    Room { room: Room, sync: Option<SyncCounts> },
    SeatsExhausted { capacity: u64 },
    Seats { capacity: u64, used: u64 },
}

/// An event from schema 5 to 12 (no cause, no attributes set).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct EventV12 {
    pub tenant: Uuid,
    pub seq: u64,
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub resource: Uuid,
    pub version: Option<u64>,
    pub data: EventDataV12,
}

impl EventV12 {
    /// Today's event; `group`: whether a membership's room is a SCIM group now (what the
    /// upgrade can know of it).
    pub fn upgraded(self, group: impl Fn(Uuid) -> bool) -> Event {
        let data = match self.data {
            EventDataV12::User(u) => EventData::User(u),
            EventDataV12::Member { room, user, tx_permission } => {
                EventData::Member { room, user, tx_permission, group: group(room) }
            }
            EventDataV12::Room { room, sync } => EventData::Room { room, sync },
            EventDataV12::SeatsExhausted { capacity } => EventData::SeatsExhausted { capacity },
            EventDataV12::Seats { capacity, used } => EventData::Seats { capacity, used },
        };
        Event {
            tenant: self.tenant,
            seq: self.seq,
            id: self.id,
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            resource: self.resource,
            version: self.version,
            data,
            cause: None,
            attributes: Vec::new(),
        }
    }
}

/// A webhook registration of schema 11 and 12 (no SET receivers).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct WebhookV12 {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub active: bool,
    pub secret: String,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub failing_for_ms: u64,
    pub last_failure_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub previous_secret: Option<(String, i64)>,
    pub thin: bool,
}

impl From<WebhookV12> for Webhook {
    fn from(old: WebhookV12) -> Webhook {
        Webhook {
            id: old.id,
            url: old.url,
            events: old.events,
            description: old.description,
            active: old.active,
            secret: old.secret,
            disabled_reason: old.disabled_reason,
            failing_since: old.failing_since,
            failing_for_ms: old.failing_for_ms,
            last_failure_at: old.last_failure_at,
            created_at: old.created_at,
            updated_at: old.updated_at,
            previous_secret: old.previous_secret,
            thin: old.thin,
            set: None,
        }
    }
}

/// A webhook registration from schema 4 to 10 (one signing secret, no overlap).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct WebhookV10 {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub active: bool,
    pub secret: String,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub failing_for_ms: u64,
    pub last_failure_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A webhook registration up to schema 3 (no failing time).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct WebhookV3 {
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
pub(super) struct DeliveryV3 {
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
pub(super) struct EventV3 {
    pub tenant: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub data: EventDataV4,
    pub webhooks: Vec<Uuid>,
}

/// A user up to schema 4: the emails, SCIM's displayName and the name's other parts lived in
/// `extra`, a JSON object every read parsed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct UserV4 {
    pub id: Uuid,
    pub user_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub roles: Roles,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: u64,
    pub deleted_at: Option<i64>,
    pub extra: String,
}

/// What an event carried up to schema 4 (a user in its old layout). A frozen copy, like every
/// layout here: today's `EventData` may change, schema 4's rows do not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) enum EventDataV4 {
    User(UserV4),
    Member { room: Uuid, user: Uuid, tx_permission: bool },
    Room { room: Room, sync: Option<SyncCounts> },
    SeatsExhausted { capacity: u64 },
    Seats { capacity: u64, used: u64 },
}

/// An event of schema 4's log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct EventV4 {
    pub tenant: Uuid,
    pub seq: u64,
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: i64,
    pub resource: Uuid,
    pub version: Option<u64>,
    pub data: EventDataV4,
}

impl From<EventV4> for EventV12 {
    fn from(e: EventV4) -> EventV12 {
        let data = match e.data {
            EventDataV4::User(u) => EventDataV12::User(u.into()),
            EventDataV4::Member { room, user, tx_permission } => {
                EventDataV12::Member { room, user, tx_permission }
            }
            EventDataV4::Room { room, sync } => EventDataV12::Room { room, sync },
            EventDataV4::SeatsExhausted { capacity } => EventDataV12::SeatsExhausted { capacity },
            EventDataV4::Seats { capacity, used } => EventDataV12::Seats { capacity, used },
        };
        let (tenant, seq, id, event_type) = (e.tenant, e.seq, e.id, e.event_type);
        EventV12 {
            tenant,
            seq,
            id,
            event_type,
            occurred_at: e.occurred_at,
            resource: e.resource,
            version: e.version,
            data,
        }
    }
}

/// Schema 5 types what schema 4 kept as JSON: `emails`, `displayName` and the name's middle
/// name and honorifics leave `extra` for fields of their own.
impl From<UserV4> for User {
    fn from(old: UserV4) -> User {
        let mut extra: Map<String, Value> = match serde_json::from_str(&old.extra) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let emails = match extra.remove("emails") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|e| {
                    Some(Email {
                        value: text(e.get("value"))?,
                        kind: text(e.get("type")),
                        primary: e.get("primary").and_then(Value::as_bool),
                        display: text(e.get("display")),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let label = text(extra.remove("displayName").as_ref());
        let name = extra.remove("name").unwrap_or(Value::Null);
        User {
            id: old.id,
            user_name: old.user_name,
            external_id: old.external_id,
            email: old.email,
            display_name: old.display_name,
            given_name: old.given_name,
            family_name: old.family_name,
            active: old.active,
            roles: old.roles,
            created_at: old.created_at,
            updated_at: old.updated_at,
            version: old.version,
            deleted_at: old.deleted_at,
            emails,
            label,
            middle_name: text(name.get("middleName")),
            honorific_prefix: text(name.get("honorificPrefix")),
            honorific_suffix: text(name.get("honorificSuffix")),
            extra: Value::Object(extra).to_string(),
        }
    }
}
