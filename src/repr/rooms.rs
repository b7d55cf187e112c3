//! Rooms (channels) as the native API, webhooks and `room list` show them.

use serde_json::{Value, json};

use crate::store::rooms::Room;
use crate::time::format_ms;

pub fn room_json(r: &Room) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "display_name": r.display_name,
        "external_id": r.external_id,
        "mapped": r.mapped,
        "member_count": r.member_count,
        "created_at": format_ms(r.created_at),
        "updated_at": format_ms(r.updated_at),
    })
}
