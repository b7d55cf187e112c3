//! JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the forms this module renders and the
//! native inputs the handlers read. They sit beside the forms so a changed form and its schema
//! change together; an integration test checks real responses of every endpoint against them,
//! and a response schema allows no field it does not name.

use serde_json::{Value, json};

use super::input::set_field;

fn text() -> Value {
    json!({"type": "string"})
}
fn text_or_null() -> Value {
    json!({"type": ["string", "null"]})
}
fn id() -> Value {
    json!({"type": "string", "format": "uuid"})
}
fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}
fn time_or_null() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}
fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}
fn count_or_null() -> Value {
    json!({"type": ["integer", "null"], "minimum": 0})
}
fn flag() -> Value {
    json!({"type": "boolean"})
}
/// A boolean as IdPs send it (`Flag`): true/false, or those words in any case.
fn loose_flag() -> Value {
    json!({"oneOf": [{"type": "boolean"}, {"type": "string", "pattern": "^(?i:true|false)$"}]})
}
fn list_of(schema: &str) -> Value {
    json!({"type": "array", "items": reference(schema)})
}
pub fn reference(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

/// A response object: exactly these fields, all present unless named in `optional`.
fn reply(fields: Value, optional: &[&str]) -> Value {
    let required: Vec<&String> = fields
        .as_object()
        .map(|f| f.keys().filter(|k| !optional.contains(&k.as_str())).collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": fields, "required": required,
        "additionalProperties": false})
}

/// An input object: these fields, `required` of them needed; others are ignored.
fn input(fields: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": fields, "required": required})
}

fn user() -> Value {
    reply(
        json!({
            "id": id(), "email": text_or_null(), "user_name": text(),
            "display_name": text_or_null(), "full_name": text_or_null(),
            "external_id": text_or_null(), "given_name": text_or_null(),
            "family_name": text_or_null(), "active": flag(), "roles": reference("Roles"),
            "created_at": time(), "updated_at": time(),
        }),
        &[],
    )
}

fn roles() -> Value {
    reply(json!({"admin": flag(), "member": flag(), "editor": flag()}), &[])
}

/// Roles as input: `{"admin": true}`, `["admin"]` or `[{"value": "admin"}]`.
fn roles_input() -> Value {
    let name = json!({"type": "string", "pattern": "^(?i:admin|member|editor)$"});
    json!({"oneOf": [
        {"type": "object", "propertyNames": name, "additionalProperties": loose_flag()},
        {"type": "array", "items": {"oneOf": [name,
            {"type": "object", "properties": {"value": name}, "required": ["value"]}]}},
        {"type": "null"},
    ]})
}

fn user_input() -> Value {
    let mut schema = input(
        json!({
            "email": {"type": "string", "description": "Required on create and replace."},
            "user_name": {"type": "string", "description": "Defaults to the email."},
            "full_name": text_or_null(), "display_name": text_or_null(),
            "external_id": text_or_null(), "given_name": text_or_null(),
            "family_name": text_or_null(), "active": loose_flag(), "roles": roles_input(),
        }),
        &[],
    );
    let about = "POST and PUT need `email`; fields left out of a PUT are cleared, of a PATCH kept.";
    set_field(&mut schema, "description", json!(about));
    schema
}

fn room() -> Value {
    reply(room_fields(), &[])
}

fn room_fields() -> Value {
    json!({
        "id": id(), "name": text(), "display_name": text(), "external_id": text_or_null(),
        "mapped": flag(), "member_count": count(), "created_at": time(), "updated_at": time(),
    })
}

fn member() -> Value {
    reply(
        json!({"user_id": id(), "tx_permission": flag(), "email": text_or_null(),
            "display_name": text_or_null()}),
        &[],
    )
}

fn member_input() -> Value {
    input(json!({"user_id": id(), "tx_permission": loose_flag()}), &["user_id"])
}

fn webhook_fields() -> Value {
    json!({
        "id": id(), "url": text(), "events": {"type": "array", "items": text()},
        "description": text(), "active": flag(), "disabled_reason": text_or_null(),
        "failing_since": time_or_null(), "failing_for_secs": count(), "created_at": time(),
        "updated_at": time(), "previous_secret_until": time_or_null(),
        "payload": {"enum": ["full", "thin"]},
    })
}

fn receiver() -> Value {
    reply(
        json!({
            "id": id(), "delivery": {"enum": ["push", "poll"]}, "url": text_or_null(),
            "audience": text(), "events": {"type": "array", "items": text()},
            "format": {"enum": ["notice", "full"]}, "description": text(), "active": flag(),
            "disabled_reason": text_or_null(), "failing_since": time_or_null(),
            "acknowledged_through": count_or_null(), "created_at": time(), "updated_at": time(),
        }),
        &[],
    )
}

fn receiver_input() -> Value {
    input(
        json!({
            "delivery": {"enum": ["push", "poll"], "description": "push (default, RFC 8935) \
                or poll (RFC 8936, at POST /events/poll); fixed once registered"},
            "url": text(),
            "audience": {"type": "string", "description": "The SETs' aud (default: the url, \
                or the receiver's id when polled)"},
            "events": {"type": "array", "items": text(), "description": "RFC 9967 event URIs \
                (urn:ietf:params:scim:event:prov:create, or prov:create); default: all"},
            "format": {"enum": ["notice", "full"], "description": "notice (default): the \
                changed attributes' names; full: the resource"},
            "description": text(), "active": flag(),
        }),
        &[],
    )
}

fn poll_request() -> Value {
    input(
        json!({
            "ack": {"type": "array", "items": text()},
            "setErrs": {"type": "object", "additionalProperties": {"type": "object"}},
            "maxEvents": count(),
            "returnImmediately": flag(),
        }),
        &[],
    )
}

fn with(mut fields: Value, name: &str, schema: Value) -> Value {
    set_field(&mut fields, name, schema);
    fields
}

fn delivery() -> Value {
    reply(
        json!({
            "id": id(), "event_id": id(), "seq": count(), "event_type": text(),
            "status": {"enum": ["pending", "succeeded", "failed"]}, "attempts": count(),
            "last_status_code": count_or_null(), "last_error": text_or_null(),
            "last_duration_ms": count_or_null(), "next_attempt_at": time_or_null(),
            "created_at": time(), "updated_at": time(),
        }),
        &[],
    )
}

fn event() -> Value {
    reply(
        json!({
            "id": id(), "seq": count(), "type": text(), "tenant_id": id(),
            "occurred_at": time(), "version": count(),
            "data": {"type": "object", "description":
                "The resource as the native API shows it (a user, a room, a membership, seats)."},
        }),
        &[],
    )
}

fn key_fields() -> Value {
    json!({
        "key_id": id(), "tenant": text(), "prefix": text(), "description": text(),
        "scopes": {"type": "array", "items": text()},
        "status": {"enum": ["active", "expired", "revoked"]}, "created_at": time(),
        "expires_at": time_or_null(), "revoked_at": time_or_null(),
        "last_used_at": time_or_null(),
        "scim_profile": scim_profile_or_null(),
    })
}

/// A key's own SCIM profile; null: the tenant's default.
fn scim_profile_or_null() -> Value {
    json!({"enum": ["compatible", "strict", null]})
}

fn audit_entry() -> Value {
    let actor = json!({"oneOf": [{"enum": ["cli", "system"]},
        reply(json!({"key_id": id(), "description": text()}), &[])]});
    let field = reply(json!({"name": text(), "old": text_or_null(), "new": text_or_null()}), &[]);
    reply(
        json!({"seq": count(), "at": time(), "actor": actor, "action": text(), "target": text(),
            "fields": {"type": "array", "items": field}}),
        &[],
    )
}

fn provisioning_entry() -> Value {
    let field = reply(json!({"name": text(), "old": text_or_null(), "new": text_or_null()}), &[]);
    let resource = json!({"oneOf": [{"type": "null"}, reply(json!({
        "type": {"enum": ["user", "group", "room", ""]}, "id": {"type": ["string", "null"],
        "format": "uuid"}, "name": text_or_null()}), &[])]});
    reply(
        json!({"seq": count(), "at": time(), "request_id": text(),
            "bulk_operation": text_or_null(),
            "key": reply(json!({"id": id(), "description": text()}), &[]),
            "client": text(), "client_label": text(), "source": text_or_null(),
            "method": text(), "path": text(), "operation": text(), "resource": resource,
            "outcome": {"enum": ["succeeded", "failed"]}, "status": count(),
            "code": text_or_null(), "detail": text_or_null(), "reason": text_or_null(),
            "changes": {"type": "array", "items": field},
            "quirks": {"type": "array", "items": text()},
            "duration_ms": {"type": "number", "minimum": 0}}),
        &[],
    )
}

fn provisioning_log() -> Value {
    let fields = json!({"entries": list_of("ProvisioningEntry"), "next_after": count(),
        "more": flag()});
    reply(fields, &[])
}

/// `components.schemas` of the OpenAPI document.
pub fn components() -> Value {
    let page = |items: &str, schema: &str| {
        reply(
            json!({items: list_of(schema), "total": count(), "limit": count(),
                "offset": count(), "next_cursor": text_or_null()}),
            &["offset"],
        )
    };
    let mut schemas = json!({
        "Error": {
            "type": "object",
            "properties": {"error": text(), "code": text(),
                "required_scope": text(), "lacking_scopes": {"type": "array", "items": text()},
                "licensed": count(), "used": count(), "oldest_seq": count()},
            "required": ["error", "code"],
            "description": "Every native error: a message and a stable `code`, with the \
                figures some codes carry."
        },
        "Health": reply(json!({"status": {"const": "ok"}}), &[]),
        "Me": reply(json!({"key_id": id(), "tenant_slug": text(), "tenant_id": id(),
            "scopes": {"type": "array", "items": text()}, "description": text(),
            "scim_profile": {"enum": ["compatible", "strict"]}}), &[]),
        "Usage": reply(json!({"seat_capacity": count(), "seats_provisioned": count(),
            "seats_available": count()}), &[]),
        "Roles": roles(),
        "User": user(),
        "UserReply": reply(json!({"user": reference("User")}), &[]),
        "UserList": page("users", "User"),
        "UserInput": user_input(),
        "Room": room(),
        "RoomList": reply(json!({"rooms": list_of("Room"), "total": count(), "limit": count(),
            "offset": count()}), &[]),
        "RoomChange": input(json!({"display_name": text(), "external_id": text_or_null()}), &[]),
        "Member": member(),
        "MemberPage": reply(json!({"room_id": id(), "members": list_of("Member"),
            "total": count(), "limit": count(), "offset": count(),
            "next_cursor": text_or_null()}), &["offset"]),
        "MemberInput": member_input(),
        "MemberAdded": reply(json!({"ok": {"const": true}, "user_id": id(), "room_id": id(),
            "tx_permission": flag()}), &[]),
        "MemberSync": input(json!({"members": list_of("MemberInput")}), &["members"]),
        "MemberSyncResult": reply(json!({"room_id": id(), "members_added": count(),
            "members_updated": count(), "members_removed": count()}), &[]),
        "Webhook": reply(webhook_fields(), &[]),
        "WebhookCreated": reply(with(webhook_fields(), "secret", text()), &[]),
        "WebhookList": reply(json!({"webhooks": list_of("Webhook")}), &[]),
        "WebhookInput": input(json!({"url": text(), "events": {"type": "array", "items": text()},
            "description": text(), "active": flag(), "payload": {"enum": ["full", "thin"],
            "description": "full (default): the resource as the native API shows it; thin: \
            the event's type, ids, seq and version only, the receiver reads the rest"}}), &[]),
        "SecretRotation": input(json!({"overlap": {"type": "string", "description":
            "How long the replaced secret keeps signing beside the new one (a duration: 24h, \
            30m; 0 for not at all). Default 24h."}}), &[]),
        "RedeliverFailed": input(json!({"since": time()}), &["since"]),
        "RedeliveredCount": reply(json!({"redelivered": count()}), &[]),
        "WebhookTestResult": reply(json!({"delivered": flag(), "status_code": count_or_null(),
            "error": text_or_null()}), &[]),
        "Delivery": delivery(),
        "DeliveryList": reply(json!({"deliveries": list_of("Delivery")}), &[]),
        "Event": event(),
        "EventList": reply(json!({"events": list_of("Event"), "next_after": count()}), &[]),
        "ApiKey": reply(with(key_fields(), "scim_quirks", json!({"type": "object",
            "description": "SCIM quirks this key's requests needed since the server started, \
            by name (capitalised_op, pathless_patch, string_boolean, …): none means its client \
            could move to the strict profile", "additionalProperties": count()})),
            &["scim_quirks"]),
        "ApiKeyIssued": reply(with(with(key_fields(), "secret", text()), "replaces", id()),
            &["replaces"]),
        "ApiKeyList": reply(json!({"keys": list_of("ApiKey")}), &[]),
        "NewApiKey": input(json!({"description": text(), "scopes": {"type": "array",
            "items": text()}, "expires_in": {"type": "string", "description":
            "A duration: 30d, 12h, 90m."}, "expires_at": time(),
            "scim_profile": scim_profile_or_null()}), &["scopes"]),
        "ApiKeyChange": input(json!({"scim_profile": scim_profile_or_null()}), &[]),
        "Rotation": input(json!({"expire_old_in": {"type": "string", "description":
            "Let the old key stop by itself after this long (a duration: 1h, 7d); \
            without it, it keeps its own expiry until revoked."}}),
            &[]),
        "AuditEntry": audit_entry(),
    });
    // One `json!` for all of them outgrows the macro's recursion limit.
    for (name, schema) in [
        ("AuditList", reply(json!({"entries": list_of("AuditEntry"), "next_after": count()}), &[])),
        ("ProvisioningEntry", provisioning_entry()),
        ("ProvisioningLog", provisioning_log()),
        ("Receiver", receiver()),
        (
            "Jwks",
            reply(
                json!({"keys": {"type": "array", "items": {"type": "object",
                "required": ["kty", "crv", "x", "y", "kid", "alg"]}}}),
                &[],
            ),
        ),
        ("ReceiverList", reply(json!({"receivers": list_of("Receiver")}), &[])),
        ("ReceiverInput", receiver_input()),
        ("PollRequest", poll_request()),
        (
            "PollAnswer",
            reply(
                json!({"sets": {"type": "object", "additionalProperties": text(),
                "description": "jti -> the SET (a compact JWS)"}, "moreAvailable": flag()}),
                &[],
            ),
        ),
    ] {
        set_field(&mut schemas, name, schema);
    }
    schemas
}

/// The OpenAPI document's `webhooks` section: one entry per event type, its body as
/// `repr::webhooks::payload` builds it, full or thin (`tests/it/openapi.rs` checks real events
/// against it).
pub fn event_catalog() -> Value {
    let mut catalog = serde_json::Map::new();
    for &event_type in crate::store::events::EVENT_TYPES {
        let (full, thin) = event_data(event_type);
        let body = json!({"anyOf": [event_body(event_type, full), event_body(event_type, thin)]});
        catalog.insert(
            event_type.to_owned(),
            json!({"post": {
                "operationId": format!("event_{}", event_type.replace('.', "_")),
                "summary": format!("The {event_type} event (full or thin payload)"),
                "description": "Sent to each registration subscribed to the type, signed \
                    (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature); the \
                    same JSON as the GET /events feed shows (full).",
                "requestBody": {"required": true,
                    "content": {"application/json": {"schema": body}}},
                "responses": {"2XX": {"description": "Received. Any other answer is retried \
                    (410 disables the registration)."}},
            }}),
        );
    }
    Value::Object(catalog)
}

/// An event type's `data`: full, then thin.
fn event_data(event_type: &str) -> (Value, Value) {
    let user_id = || json!({"user_id": id()});
    let room_id = || json!({"room_id": id()});
    let member = || json!({"room_id": id(), "user_id": id()});
    let seats = || {
        reply(
            json!({"seat_capacity": count(), "seats_provisioned": count(),
                "seats_available": count()}),
            &[],
        )
    };
    match event_type {
        t if t.starts_with("user.") => (reference("User"), reply(user_id(), &[])),
        t if t.starts_with("room.member_") => (
            reply(json!({"room_id": id(), "user_id": id(), "tx_permission": flag()}), &[]),
            reply(member(), &[]),
        ),
        // A room with the member counts the change made.
        "room.members_synced" | "room.deleted" => {
            let mut fields = room_fields();
            for counted in ["members_added", "members_updated", "members_removed"] {
                set_field(&mut fields, counted, count());
            }
            (reply(fields, &[]), reply(room_id(), &[]))
        }
        t if t.starts_with("room.") => (reference("Room"), reply(room_id(), &[])),
        "scim.async_response" => {
            let result = json!({"type": "object", "required": ["txn", "method", "status"],
                "properties": {"txn": text(), "method": text(), "status": text(),
                "location": text(), "version": text(), "bulkId": text(),
                "response": {"type": "object"}}});
            (result.clone(), result)
        }
        _ => (seats(), seats()),
    }
}

fn event_body(event_type: &str, data: Value) -> Value {
    reply(
        json!({"id": id(), "seq": count(), "type": {"const": event_type}, "tenant_id": id(),
            "occurred_at": time(), "version": count_or_null(), "data": data}),
        &[],
    )
}
