//! The OpenAPI 3.1 document of the native API, served at `/openapi.json` and printed by
//! `whoot-mgmt openapi`. Paths, methods, path ids and the scope each operation needs come from
//! the endpoint table's rows; whether a request has a body, reads the page parameters or takes
//! `If-Match` comes from the handler's request type; the schemas sit beside the JSON forms in
//! `repr::schema`. What is left to say by hand (a summary, the query parameters a handler reads
//! itself, the schemas' names) is one `doc` arm per endpoint, and the match has no wildcard, so a
//! new row does not build until it is described. SCIM is described by its own discovery
//! endpoints (RFC 7644 §4), not here.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::authorize::Access;
use super::table::{Endpoint, ROWS, Row, request_shape};
use crate::http::request::RequestShape;
use crate::repr::input::set_field;
use crate::repr::schema::{components, reference};

/// What a response carries.
enum Out {
    Empty,
    Json(&'static str),
    /// Any JSON object (the document itself).
    Object,
    /// Prometheus' text format.
    Metrics,
}

enum Body {
    None,
    Required(&'static str),
    /// An empty body means the defaults.
    Optional(&'static str),
}

/// What a row does not say of itself.
struct Doc {
    summary: &'static str,
    /// Query parameters the handler reads itself (a `Page`'s come from its type).
    query: &'static [(&'static str, &'static str)],
    body: Body,
    status: u16,
    /// Another success status with the same body.
    also: Option<u16>,
    out: Out,
}

const fn doc(summary: &'static str, body: Body, status: u16, out: Out) -> Doc {
    Doc { summary, query: &[], body, status, also: None, out }
}

const AFTER: (&str, &str) = ("after", "Entries after this `seq` (the last answer's `next_after`).");
const LIMIT: (&str, &str) = ("limit", "At most this many (default 100, at most 1000).");

/// The hand-written part of each native endpoint; None for SCIM's.
fn describe(endpoint: Endpoint) -> Option<Doc> {
    use Body::{None as NoBody, Optional, Required};
    use Endpoint as E;
    use Out::{Empty, Json};
    Some(match endpoint {
        E::Healthz => doc("Liveness: the process answers", NoBody, 200, Json("Health")),
        E::Readyz => doc(
            "Readiness: 503 while stopping or when the disk refuses writes",
            NoBody,
            200,
            Json("Health"),
        ),
        E::Metrics => {
            doc("Prometheus metrics (when served on the API's address)", NoBody, 200, Out::Metrics)
        }
        E::OpenApi => doc("This document", NoBody, 200, Out::Object),
        E::Me => doc("The calling key: its tenant and scopes", NoBody, 200, Json("Me")),
        E::Usage => doc("Seats: capacity, provisioned, available", NoBody, 200, Json("Usage")),
        E::UsersList => doc("List users, by offset or cursor", NoBody, 200, Json("UserList")),
        E::UsersCreate => {
            doc("Create a user (takes a seat)", Required("UserInput"), 201, Json("UserReply"))
        }
        E::UserGet => doc("Get a user", NoBody, 200, Json("UserReply")),
        E::UserReplace => doc(
            "Replace a user: fields left out are cleared",
            Required("UserInput"),
            200,
            Json("UserReply"),
        ),
        E::UserPatch => doc(
            "Change some of a user's fields (`active: false` frees its seat)",
            Required("UserInput"),
            200,
            Json("UserReply"),
        ),
        E::UserDeactivate => doc("Deactivate a user (frees its seat)", NoBody, 204, Empty),
        E::RoomsList => doc("List rooms", NoBody, 200, Json("RoomList")),
        E::RoomGet => doc("Get a room", NoBody, 200, Json("Room")),
        E::RoomPatch => {
            doc("Rename a room or set its externalId", Required("RoomChange"), 200, Json("Room"))
        }
        E::RoomUnmap => doc("Unmap a room from its SCIM group", NoBody, 204, Empty),
        E::RoomMembers => doc("List a room's members", NoBody, 200, Json("MemberPage")),
        E::RoomMemberAdd => Doc {
            also: Some(200),
            ..doc(
                "Add a member, or set its tx_permission (201 when new, 200 when it was one)",
                Required("MemberInput"),
                201,
                Json("MemberAdded"),
            )
        },
        E::RoomMembersSync => doc(
            "Replace the room's members with this list",
            Required("MemberSync"),
            200,
            Json("MemberSyncResult"),
        ),
        E::RoomMemberRemoveByBody => {
            doc("Remove the member named in the body", Required("MemberInput"), 204, Empty)
        }
        E::RoomMember => {
            doc("One member (404 when the user is not in the room)", NoBody, 200, Json("Member"))
        }
        E::RoomMemberRemove => doc("Remove a member", NoBody, 204, Empty),
        E::WebhooksList => doc("List webhook registrations", NoBody, 200, Json("WebhookList")),
        E::WebhooksCreate => doc(
            "Register a webhook; the signing secret is in this answer only",
            Required("WebhookInput"),
            201,
            Json("WebhookCreated"),
        ),
        E::WebhookGet => doc("Get a registration", NoBody, 200, Json("Webhook")),
        E::WebhookUpdate => doc(
            "Change a registration (`active: true` re-enables a disabled one)",
            Required("WebhookInput"),
            200,
            Json("Webhook"),
        ),
        E::WebhookDelete => doc("Delete a registration", NoBody, 204, Empty),
        E::WebhookRotateSecret => doc(
            "A new signing secret, in this answer only; the replaced one keeps signing beside it \
             for the overlap (default 24h)",
            Optional("SecretRotation"),
            200,
            Json("WebhookCreated"),
        ),
        E::WebhookEndOverlap => {
            doc("Stop signing with the replaced secret now", NoBody, 200, Json("Webhook"))
        }
        E::WebhookRedeliverFailed => doc(
            "Queue again every delivery whose last attempt failed at or after `since` (among the \
             registration's newest 100,000)",
            Required("RedeliverFailed"),
            202,
            Json("RedeliveredCount"),
        ),
        E::WebhookTest => {
            doc("Send a signed test event now", NoBody, 200, Json("WebhookTestResult"))
        }
        E::WebhookDeliveries => Doc {
            query: &[("limit", "At most this many, newest first (default 100, at most 1000).")],
            ..doc("A registration's deliveries", NoBody, 200, Json("DeliveryList"))
        },
        E::WebhookRedeliver => doc("Deliver again, now", NoBody, 202, Json("Delivery")),
        E::Events => Doc {
            query: &[
                AFTER,
                LIMIT,
                ("wait", "Seconds to wait for an event when there is none yet (at most 30)."),
            ],
            ..doc("The change stream, in commit order", NoBody, 200, Json("EventList"))
        },
        E::Jwks => doc(
            "The keys that sign SCIM security events (a JWK Set, RFC 7517)",
            NoBody,
            200,
            Json("Jwks"),
        ),
        E::EventsPoll => Doc {
            query: &[("receiver", "The polled receiver's id (needed when there are several).")],
            ..doc(
                "Poll SCIM security events (RFC 8936): acknowledge, then get what is not yet",
                Optional("PollRequest"),
                200,
                Json("PollAnswer"),
            )
        },
        E::ReceiversList => doc("List the SET receivers", NoBody, 200, Json("ReceiverList")),
        E::ReceiversCreate => doc(
            "Register a SET receiver (RFC 9967 events, pushed or polled)",
            Required("ReceiverInput"),
            201,
            Json("Receiver"),
        ),
        E::ReceiverGet => doc("Get a SET receiver", NoBody, 200, Json("Receiver")),
        E::ReceiverUpdate => doc(
            "Change a SET receiver (not its delivery)",
            Required("ReceiverInput"),
            200,
            Json("Receiver"),
        ),
        E::ReceiverDelete => doc("Delete a SET receiver", NoBody, 204, Empty),
        E::ReceiverDeliveries => Doc {
            query: &[("limit", "At most this many, newest first (default 50, at most 500).")],
            ..doc("A pushed receiver's deliveries", NoBody, 200, Json("DeliveryList"))
        },
        E::ApiKeysList => {
            doc("List the tenant's keys (never a secret)", NoBody, 200, Json("ApiKeyList"))
        }
        E::ApiKeysCreate => doc(
            "Create a key with scopes the caller holds; the secret is in this answer only",
            Required("NewApiKey"),
            201,
            Json("ApiKeyIssued"),
        ),
        E::ApiKeyGet => doc("Get a key", NoBody, 200, Json("ApiKey")),
        E::ApiKeyPatch => doc(
            "Set a key's SCIM profile (null: the tenant's default)",
            Required("ApiKeyChange"),
            200,
            Json("ApiKey"),
        ),
        E::ApiKeyRevoke => {
            doc("Revoke a key: refused from the next request", NoBody, 200, Json("ApiKey"))
        }
        E::ApiKeyRotate => doc(
            "A new key with the same scopes; the old one may stop after an overlap",
            Optional("Rotation"),
            201,
            Json("ApiKeyIssued"),
        ),
        E::AuditLog => Doc {
            query: &[AFTER, LIMIT],
            ..doc("Who changed what, oldest first", NoBody, 200, Json("AuditList"))
        },
        E::ProvisioningLog => Doc {
            query: &[
                AFTER,
                ("limit", "At most this many (default 100, at most 1000; 10,000 with jsonl)."),
                ("outcome", "`failed` or `succeeded`."),
                ("client", "A client: okta, entra, onelogin, jumpcloud, google, workday, other."),
                ("key", "A key's id, or `me`: the caller's own entries (any key may ask)."),
                ("resource", "A user's or room's id."),
                ("operation", "Entries whose operation contains this (`create user`)."),
                ("since", "A duration back from now (`1h`, `7d`) or an RFC 3339 time."),
                ("format", "`json` (default) or `jsonl`: one entry per line, an export."),
            ],
            ..doc(
                "What identity providers asked of the provisioning endpoints, and why what \
                 failed failed, oldest first (scope api_keys.manage, or key=me)",
                NoBody,
                200,
                Json("ProvisioningLog"),
            )
        },
        E::ScimUsersList
        | E::ScimUsersCreate
        | E::ScimUsersSearch
        | E::ScimUserGet
        | E::ScimUserReplace
        | E::ScimUserPatch
        | E::ScimUserDelete
        | E::ScimGroupsList
        | E::ScimGroupsCreate
        | E::ScimGroupsSearch
        | E::ScimGroupGet
        | E::ScimGroupReplace
        | E::ScimGroupPatch
        | E::ScimGroupDelete
        | E::ScimSearch
        | E::ScimBulk
        | E::ScimServiceProviderConfig
        | E::ScimResourceTypes
        | E::ScimResourceType
        | E::ScimSchemas
        | E::ScimSchema => return None,
        // HTML for people, not an API.
        E::ConsoleOverview
        | E::ConsoleAsset
        | E::ConsoleLoginForm
        | E::ConsoleLogin
        | E::ConsoleLinkForm
        | E::ConsoleLink
        | E::ConsoleLogout
        | E::ConsoleKeys
        | E::ConsoleKeyCreate
        | E::ConsoleKeyRevokeForm
        | E::ConsoleKeyRevoke
        | E::ConsoleKeyRotate
        | E::ConsoleKeyScimProfile
        | E::ConsoleUsers
        | E::ConsoleProvisioning
        | E::ConsoleProvisioningEntry
        | E::ConsoleUser
        | E::ConsoleWebhookCreate
        | E::ConsoleWebhookUpdate
        | E::ConsoleWebhookActive
        | E::ConsoleWebhookRotateSecret
        | E::ConsoleWebhookEndOverlap
        | E::ConsoleWebhookRedeliverFailed
        | E::ConsoleWebhookDeleteForm
        | E::ConsoleWebhookDelete
        | E::ConsoleReceiverCreate
        | E::ConsoleReceiverDelete
        | E::ConsoleDelivery
        | E::ConsoleRoomCreate
        | E::ConsoleRoomUpdate
        | E::ConsoleRoomDeleteForm
        | E::ConsoleRoomDelete
        | E::ConsoleMemberRemoveForm
        | E::ConsoleUserActiveForm
        | E::ConsoleUserActive
        | E::ConsoleRooms
        | E::ConsoleRoom
        | E::ConsoleMemberAdd
        | E::ConsoleMemberTx
        | E::ConsoleMemberRemove
        | E::ConsoleWebhooks
        | E::ConsoleWebhook
        | E::ConsoleWebhookTest
        | E::ConsoleRedeliver
        | E::ConsoleAudit => return None,
    })
}

static DOCUMENT: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec_pretty(&document()).unwrap_or_default());

/// The document, rendered once.
pub fn bytes() -> &'static [u8] {
    &DOCUMENT
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for row in ROWS {
        let Some(doc) = describe(row.endpoint) else { continue };
        let shape = request_shape(row.endpoint).unwrap_or(RequestShape {
            body: false,
            paged: false,
            if_match: false,
        });
        for (i, path) in spellings(row.path).into_iter().enumerate() {
            let suffix = if i == 0 { "" } else { "ViaChannels" };
            let mut op = operation(row, &doc, shape);
            op.insert("operationId".into(), json!(format!("{:?}{suffix}", row.endpoint)));
            let item = paths.entry(path).or_insert_with(|| json!({}));
            if row.endpoint == Endpoint::Metrics {
                // The server's, not a tenant's: never under /v1/{tenantSlug}.
                set_field(item, "servers", json!([{"url": "/"}]));
            }
            set_field(item, &row.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "whoot-mgmt native API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Users, rooms (also at /channels), members, webhooks, the change \
                stream, API keys and the audit log. Every path works at the root (the key's \
                tenant) and under /v1/{tenantSlug}. The SCIM 2.0 service provider at /scim/v2 \
                is described by its own /ServiceProviderConfig, /ResourceTypes and /Schemas.",
        },
        "servers": [
            {"url": "/", "description": "The calling key's tenant"},
            {"url": "/v1/{tenantSlug}", "description": "A tenant named in the path (it must \
                be the key's)", "variables": {"tenantSlug": {"default": "acme"}}},
        ],
        "paths": paths,
        "webhooks": crate::repr::schema::event_catalog(),
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key \
                    (`whoot_…`); each operation lists the scope it needs."},
            },
        },
    })
}

/// Every spelling of a row's path (`/rooms|channels/{id}` is `/rooms/{id}` and
/// `/channels/{id}`), the first name first.
fn spellings(pattern: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for segment in pattern.split('/').skip(1) {
        let names: Vec<&str> = segment.split('|').collect();
        out = names
            .iter()
            .flat_map(|name| out.iter().map(move |prefix| format!("{prefix}/{name}")))
            .collect();
    }
    out
}

fn operation(row: &Row, doc: &Doc, shape: RequestShape) -> Map<String, Value> {
    let mut parameters: Vec<Value> = row
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                "schema": {"type": "string", "format": "uuid"}})
        })
        .collect();
    let query = |(name, description): (&str, &str)| {
        json!({"name": name, "in": "query", "description": description,
            "schema": {"type": "string"}})
    };
    if shape.paged {
        parameters.extend(
            [
                ("limit", "At most this many (default 50, at most 1000)."),
                ("offset", "Skip this many."),
                ("cursor", "Continue after the last page (its `next_cursor`)."),
            ]
            .map(query),
        );
    }
    parameters.extend(doc.query.iter().copied().map(query));
    if shape.if_match {
        parameters.push(json!({"name": "If-Match", "in": "header", "schema": {"type": "string"},
            "description": "Change only if the resource is at this version (its ETag)."}));
    }
    let mut responses = Map::new();
    for status in std::iter::once(doc.status).chain(doc.also) {
        responses.insert(status.to_string(), response(&doc.out));
    }
    responses.insert(
        "default".into(),
        json!({"description": "An error", "content": {"application/json":
            {"schema": reference("Error")}}}),
    );
    let mut op = Map::new();
    op.insert("summary".into(), json!(doc.summary));
    op.insert("tags".into(), json!([tag(row.path)]));
    op.insert("responses".into(), Value::Object(responses));
    if !parameters.is_empty() {
        op.insert("parameters".into(), json!(parameters));
    }
    match (&doc.body, shape.body) {
        (Body::Required(schema), true) => op.insert("requestBody".into(), body(schema, true)),
        (Body::Optional(schema), true) => op.insert("requestBody".into(), body(schema, false)),
        _ => None,
    };
    let security = match row.access {
        Access::Public => json!([]),
        Access::Scope(scope) => json!([{"apiKey": [scope.name()]}]),
        Access::AnyKey | Access::ScimRead | Access::ScimWrite | Access::Console(_) => {
            json!([{"apiKey": []}])
        }
    };
    op.insert("security".into(), security);
    if let Access::Scope(scope) = row.access {
        op.insert("description".into(), json!(format!("Needs the scope `{}`.", scope.name())));
    }
    op
}

fn body(schema: &str, required: bool) -> Value {
    json!({"required": required,
        "content": {"application/json": {"schema": reference(schema)}}})
}

fn response(out: &Out) -> Value {
    match out {
        Out::Empty => json!({"description": "Done; no body"}),
        Out::Json(schema) => json!({"description": "OK",
            "content": {"application/json": {"schema": reference(schema)}}}),
        Out::Object => json!({"description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}}}),
        Out::Metrics => json!({"description": "OK",
            "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}),
    }
}

/// An operation's group: its path's first segment (`/rooms/{id}/members` is `rooms`).
fn tag(path: &str) -> &str {
    let first = path.split('/').nth(1).unwrap_or_default();
    first.split('|').next().unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_described_exactly_when_the_handler_reads_one() {
        for row in ROWS {
            let (Some(doc), Some(shape)) = (describe(row.endpoint), request_shape(row.endpoint))
            else {
                continue;
            };
            let described = !matches!(doc.body, Body::None);
            assert_eq!(described, shape.body, "{:?}", row.endpoint);
        }
    }

    #[test]
    fn every_native_row_is_in_the_document_under_each_spelling() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for row in ROWS {
            if describe(row.endpoint).is_none() {
                let elsewhere = row.path.starts_with("/scim/") || row.path.starts_with("/console");
                assert!(elsewhere, "{:?} undocumented", row.endpoint);
                continue;
            }
            for path in spellings(row.path) {
                let op = &doc["paths"][&path][row.method.as_str().to_ascii_lowercase()];
                assert!(op.is_object(), "{} {path}", row.method);
            }
        }
        assert_eq!(spellings("/rooms|channels/{id}"), ["/rooms/{id}", "/channels/{id}"]);
        // Every reference names a schema that exists.
        let text = doc.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(schemas.get(name).is_some(), "{name} is referenced but not defined");
        }
    }
}
