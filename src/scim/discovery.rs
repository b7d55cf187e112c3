//! Discovery (RFC 7644 §4): what this server supports, stated exactly; validators and IdPs
//! read it. The schema attribute lists mirror what `user` reads and renders.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::filter::{CORE_GROUP_URN, CORE_USER_URN};
use super::list::{LIST_RESPONSE, MAX_RESULTS};
use super::users::ENTERPRISE_URN;
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
    Ok(scim(&json!({
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
    })))
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

/// One attribute definition (RFC 7643 §7). `uniqueness` and `case_exact` say what the server
/// enforces, not what the RFC suggests.
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    description: &'static str,
    canonical: &'static [&'static str],
    reference_types: &'static [&'static str],
    sub: Vec<Attr>,
}

fn attr(name: &'static str, kind: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        description,
        canonical: &[],
        reference_types: &["external"],
        sub: Vec::new(),
    }
}

impl Attr {
    fn multi(mut self) -> Attr {
        self.multi = true;
        self
    }
    fn required(mut self) -> Attr {
        self.required = true;
        self
    }
    fn unique(mut self) -> Attr {
        self.uniqueness = "server";
        self
    }
    fn case_exact(mut self) -> Attr {
        self.case_exact = true;
        self
    }
    fn sub(mut self, sub: Vec<Attr>) -> Attr {
        self.sub = sub;
        self
    }
    fn mutability(mut self, m: &'static str) -> Attr {
        self.mutability = m;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Attr {
        self.canonical = values;
        self
    }
    fn references(mut self, types: &'static [&'static str]) -> Attr {
        self.reference_types = types;
        self
    }
    fn json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability,
            "returned": self.returned,
        });
        if matches!(self.kind, "string" | "reference") {
            crate::repr::input::set_field(&mut v, "caseExact", json!(self.case_exact));
            crate::repr::input::set_field(&mut v, "uniqueness", json!(self.uniqueness));
        }
        if self.kind == "reference" {
            crate::repr::input::set_field(&mut v, "referenceTypes", json!(self.reference_types));
        }
        if !self.canonical.is_empty() {
            crate::repr::input::set_field(&mut v, "canonicalValues", json!(self.canonical));
        }
        if !self.sub.is_empty() {
            crate::repr::input::set_field(
                &mut v,
                "subAttributes",
                Value::Array(self.sub.iter().map(Attr::json).collect()),
            );
        }
        v
    }
}

/// A multi-valued attribute with RFC 7643's sub-attributes; `types` are the canonical values
/// of its `type` (the interop profiles want them declared).
fn multi_valued(
    name: &'static str,
    description: &'static str,
    types: &'static [&'static str],
) -> Attr {
    attr(name, "complex", description).multi().sub(vec![
        attr("value", "string", "The value."),
        attr("display", "string", "A human-readable name."),
        attr("type", "string", "A label; other labels are kept as sent.").canonical(types),
        attr("primary", "boolean", "Whether this is the primary value; at most one is."),
    ])
}

fn user_schema() -> Value {
    let attrs = vec![
        attr(
            "userName",
            "string",
            "Unique identifier of the user within the tenant (case-insensitive). Required; on \
             POST only, a missing userName is taken from the primary email.",
        )
        .required()
        .unique(),
        // A common attribute (RFC 7643 §3.1), listed because Entra's schema discovery looks
        // every mapped attribute up here, externalId included.
        attr("externalId", "string", "The identity provider's id for the user (case-exact, unique within the tenant).")
            .case_exact()
            .unique(),
        attr("name", "complex", "The user's name; name.formatted is the native display name (full_name).").sub(vec![
            attr("formatted", "string", "Full name, for display; when not set, derived from the other parts (prefix, given, middle, family, suffix)."),
            attr("familyName", "string", "Family name."),
            attr("givenName", "string", "Given name."),
            attr("middleName", "string", "Middle name."),
            attr("honorificPrefix", "string", "Honorific prefix."),
            attr("honorificSuffix", "string", "Honorific suffix."),
        ]),
        attr("displayName", "string", "Name for display (the native display name when name.formatted is unset)."),
        attr("nickName", "string", "Casual name."),
        attr("profileUrl", "reference", "Profile page."),
        attr("title", "string", "Job title."),
        attr("userType", "string", "Relationship to the organization."),
        attr("preferredLanguage", "string", "Preferred language (RFC 7231 Accept-Language form)."),
        attr("locale", "string", "Locale."),
        attr("timezone", "string", "Time zone (IANA name)."),
        attr("active", "boolean", "Whether the user is active; an active user takes a seat. Always has a value: true when a request omits it.").required(),
        multi_valued(
            "emails",
            "Email addresses; the primary one must be unique within the tenant.",
            &["work", "home", "other"],
        ),
        multi_valued(
            "phoneNumbers",
            "Phone numbers.",
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        attr("addresses", "complex", "Physical addresses.").multi().sub(vec![
            attr("formatted", "string", "Full address."),
            attr("streetAddress", "string", "Street."),
            attr("locality", "string", "City."),
            attr("region", "string", "State or region."),
            attr("postalCode", "string", "Postal code."),
            attr("country", "string", "Country (ISO 3166-1 alpha-2)."),
            attr("type", "string", "work, home or other.").canonical(&["work", "home", "other"]),
            attr("primary", "boolean", "Whether this is the primary address."),
        ]),
        multi_valued(
            "ims",
            "Instant messaging addresses.",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        multi_valued("photos", "Photo URLs.", &["photo", "thumbnail"]),
        attr("roles", "complex", "whoot roles: admin, member, editor (default: member).").multi().sub(vec![
                        attr("value", "string", "The role.").canonical(&["admin", "member", "editor"]),
        ]),
    ];
    schema(CORE_USER_URN, "User", "User account", &attrs)
}

/// A schema resource's body (RFC 7643 §7).
fn schema(id: &str, name: &str, description: &str, attrs: &[Attr]) -> Value {
    let attributes: Vec<Value> = attrs.iter().map(Attr::json).collect();
    json!({"id": id, "name": name, "description": description, "attributes": attributes})
}

fn enterprise_schema() -> Value {
    let attrs = [
        attr("employeeNumber", "string", "Employee number."),
        attr("costCenter", "string", "Cost center."),
        attr("organization", "string", "Organization."),
        attr("division", "string", "Division."),
        attr("department", "string", "Department."),
        attr(
            "manager",
            "complex",
            "The user's manager; accepted as {\"value\": id} or as a plain id.",
        )
        .sub(vec![
            attr("value", "string", "The manager's id."),
            attr("displayName", "string", "The manager's display name."),
        ]),
    ];
    schema(ENTERPRISE_URN, "EnterpriseUser", "Enterprise user extension", &attrs)
}

fn group_schema() -> Value {
    let attrs = [
        attr("displayName", "string", "The group's name (the room's display name).").required(),
        attr(
            "externalId",
            "string",
            "The identity provider's id for the group (case-exact, unique within the tenant).",
        )
        .case_exact()
        .unique(),
        attr(
            "members",
            "complex",
            "Members: users of the tenant. SCIM adds them without transmit permission.",
        )
        .multi()
        .sub(vec![
            attr("value", "string", "The member's user id.").mutability("immutable"),
            attr("display", "string", "The member's display name.").mutability("readOnly"),
            attr("$ref", "reference", "The member's User URI.")
                .mutability("immutable")
                .references(&["User"]),
            attr("type", "string", "The member's resource type.")
                .mutability("immutable")
                .canonical(&["User"]),
        ]),
    ];
    schema(CORE_GROUP_URN, "Group", "Group: a whoot room with a SCIM mapping", &attrs)
}
