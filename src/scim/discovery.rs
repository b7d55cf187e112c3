//! Discovery (RFC 7644 §4): what this server supports, stated exactly; validators and IdPs
//! read it. The schema attribute lists mirror what `user` reads and renders.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::filter::ENTERPRISE_URN;
use super::filter::{CORE_GROUP_URN, CORE_USER_URN};
use super::list::{LIST_RESPONSE, MAX_RESULTS};
use super::schemas::{enterprise_schema, group_schema, user_schema};
use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::request::Name;
use crate::http::response::Reply;

/// Most operations one Bulk request may hold (advertised as `bulk.maxOperations`).
pub const MAX_BULK_OPERATIONS: usize = 1000;

const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn scim(value: &Value) -> Reply {
    Reply::json(StatusCode::OK, value)
}

fn url(ctx: &Ctx<'_>, rest: &str) -> String {
    format!("{}/scim/v2/{rest}", ctx.base_url())
}

pub async fn service_provider_config(ctx: &Ctx<'_>, (): ()) -> Result<Reply, ApiError> {
    let mut config = json!({
        "schemas": [SPC_URN],
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": MAX_BULK_OPERATIONS, "maxPayloadSize": ctx.body_limit().bytes},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        // RFC 9865: cursors beside startIndex. They are stateless and never expire, so no
        // cursorTimeout is advertised.
        "pagination": {"cursor": true, "index": true, "defaultPaginationMethod": "index",
            "defaultPageSize": super::list::DEFAULT_COUNT, "maxPageSize": MAX_RESULTS},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "API key (Bearer token)",
            "description": "A whoot-mgmt API key sent as `Authorization: Bearer wh_live_…`; create one with `whoot-mgmt key create`.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": url(ctx, "ServiceProviderConfig")},
    });
    // draft-zollner-scim-interop-profile-02: claimed to the keys held to it, and only to them
    // (RFC 7643's model has no such attribute; older clients refuse what they do not know).
    // RFC 9967 §4's securityEvents (the SETs issued to the receivers at /event-receivers)
    // likewise: an attribute RFC 7643's model lacks, for the 2026 profile's clients.
    if ctx.caller.key.scim_profile() == crate::store::keys::ScimProfile::Strict {
        crate::repr::input::set_field(&mut config, "interopProfileConformant", json!(true));
        let events = json!({"asyncRequest": "request", "eventUris": super::events::advertised()});
        crate::repr::input::set_field(&mut config, "securityEvents", events);
    }
    Ok(scim(&config))
}

/// A resource type (RFC 7643 §6): `name` served at `/{name}s`, its schema and extensions.
fn resource_type(
    ctx: &Ctx<'_>,
    name: &str,
    description: &str,
    schema: &str,
    ext: &[&str],
) -> Value {
    let extensions: Vec<Value> =
        ext.iter().map(|s| json!({"schema": s, "required": false})).collect();
    let location = url(ctx, &format!("ResourceTypes/{name}"));
    let mut out = json!({"schemas": [RESOURCE_TYPE_URN], "id": name, "name": name,
        "endpoint": format!("/{name}s"), "description": description, "schema": schema,
        "meta": {"resourceType": "ResourceType", "location": location}});
    if !extensions.is_empty() {
        crate::repr::input::set_field(&mut out, "schemaExtensions", Value::Array(extensions));
    }
    out
}

fn user_resource_type(ctx: &Ctx<'_>) -> Value {
    let about = "A person who can use whoot; an active user takes a seat.";
    resource_type(ctx, "User", about, CORE_USER_URN, &[ENTERPRISE_URN])
}

fn group_resource_type(ctx: &Ctx<'_>) -> Value {
    let about = "A whoot room with a SCIM group mapping; members are the room's members.";
    resource_type(ctx, "Group", about, CORE_GROUP_URN, &[])
}

pub async fn resource_types(ctx: &Ctx<'_>, Name(name): Name) -> Result<Reply, ApiError> {
    let all = vec![user_resource_type(ctx), group_resource_type(ctx)];
    one_or_list(all, name.as_deref(), "id")
}

pub async fn schemas(ctx: &Ctx<'_>, Name(id): Name) -> Result<Reply, ApiError> {
    let id = id.as_deref();
    let mut all = vec![user_schema(), enterprise_schema(), group_schema()];
    for s in &mut all {
        let id = s["id"].as_str().unwrap_or_default().to_owned();
        s["schemas"] = json!([SCHEMA_URN]);
        s["meta"] =
            json!({"resourceType": "Schema", "location": url(ctx, &format!("Schemas/{id}"))});
    }
    one_or_list(all, id, "id")
}

fn one_or_list(all: Vec<Value>, wanted: Option<&str>, key: &str) -> Result<Reply, ApiError> {
    match wanted {
        Some(w) => {
            let w = crate::http::path_id(w);
            all.into_iter()
                .find(|r| r[key].as_str() == Some(w.as_str()))
                .map(|r| scim(&r))
                .ok_or(ApiError::NotFound)
        }
        None => Ok(scim(&json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": all.len(),
            "startIndex": 1,
            "itemsPerPage": all.len(),
            "Resources": all,
        }))),
    }
}
