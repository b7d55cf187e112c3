//! The JSON forms of users, rooms, tenants, keys, webhooks and events, and the input coercions,
//! shared by the native face, the webhook worker and the admin commands (SCIM has its own
//! resource forms in `scim/`). Below the faces: it imports only the store's records.

pub mod input;
pub mod keys;
pub mod provisioning;
pub mod rooms;
pub mod schema;
pub mod sets;
pub mod users;
pub mod webhooks;

use serde_json::{Value, json};

/// An optional time as RFC 3339, or null.
pub fn timestamp(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| json!(crate::time::format_ms(ms)))
}
