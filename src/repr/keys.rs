//! Tenants and API keys as the admin commands show them (a key never with its hash; its secret
//! only in the answer that issued it).

use serde_json::{Value, json};

use super::timestamp;
use crate::store::audit::{Actor, AuditEntry};
use crate::store::{keys::ApiKey, tenants::Tenant};
use crate::time::format_ms;

pub fn tenant_json(t: &Tenant, used: u64) -> Value {
    json!({
        "id": t.id,
        "slug": t.slug,
        "name": t.name,
        "seat_capacity": t.seat_capacity,
        "seats_provisioned": used,
        "seats_available": u64::from(t.seat_capacity).saturating_sub(used),
        "rate_limit_per_minute": t.rate_limit_per_minute,
        "owner_user_id": t.owner_user_id,
        "created_at": format_ms(t.created_at),
        "scim_profile": t.scim_profile.name(),
        "maintenance": t.maintenance,
    })
}

/// `active`, `expired` or `revoked`, as listings show it.
pub fn key_status(key: &ApiKey, now: i64) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

pub fn key_json(k: &ApiKey, tenant_slug: &str, now: i64) -> Value {
    json!({
        "key_id": k.id,
        "tenant": tenant_slug,
        "prefix": k.prefix,
        "description": k.description,
        "scopes": k.scopes,
        "status": key_status(k, now),
        "created_at": format_ms(k.created_at),
        "expires_at": timestamp(k.expires_at),
        "revoked_at": timestamp(k.revoked_at),
        "last_used_at": timestamp(k.last_used_at),
        "scim_profile": k.scim_profile.map(|p| p.name()),
    })
}

/// A key just issued: its form plus the secret, shown this once.
pub fn issued_json(key: &ApiKey, tenant_slug: &str, secret: &str, now: i64) -> Value {
    let mut out = key_json(key, tenant_slug, now);
    super::input::set_field(&mut out, "secret", json!(secret));
    out
}

/// An audit log entry: `{seq, at, actor, action, target, fields: [{name, old, new}]}`; the
/// actor is `cli`, `system`, or `{"key_id", "description"}`.
pub fn audit_json(e: &AuditEntry) -> Value {
    let actor = match &e.actor {
        Actor::Cli => json!("cli"),
        Actor::System => json!("system"),
        Actor::Key { id, description } => json!({"key_id": id, "description": description}),
    };
    let fields: Vec<Value> =
        e.fields.iter().map(|f| json!({"name": f.name, "old": f.old, "new": f.new})).collect();
    json!({"seq": e.seq, "at": format_ms(e.at), "actor": actor, "action": e.action,
        "target": e.target, "fields": fields})
}
