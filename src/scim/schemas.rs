//! The attributes the server declares (RFC 7643 §7), as `/Schemas` serves them and as the
//! strict profile checks requests against them: one definition for both.

use serde_json::{Value, json};

use super::filter::{CORE_GROUP_URN, CORE_USER_URN, ENTERPRISE_URN};

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

pub(crate) fn user_schema() -> Value {
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

pub(crate) fn enterprise_schema() -> Value {
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

pub(crate) fn group_schema() -> Value {
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
