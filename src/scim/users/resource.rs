//! The SCIM User resource: how a stored user is shown (RFC 7643 §4.1 plus the enterprise
//! extension) and how a SCIM document becomes a stored user. POST, PUT and PATCH (after
//! applying its operations to the shown document) all go through `read`.

use serde_json::{Map, Value, json};

use crate::http::error::ApiError;
use crate::repr::input::field;
use crate::repr::input::{as_bool, roles_from_json};
use crate::scim::filter::CORE_USER_URN;
use crate::store::users::{Email, User};
use crate::time::format_ms;

pub use crate::scim::filter::ENTERPRISE_URN;

/// Simple string attributes kept as given.
const STRINGS: &[&str] =
    &["nickName", "profileUrl", "title", "userType", "preferredLanguage", "locale", "timezone"];
/// Multi-valued complex attributes kept as given (objects only); `emails` are typed.
const MULTI: &[&str] = &["phoneNumbers", "addresses", "ims", "photos"];
const ENTERPRISE_STRINGS: &[&str] =
    &["employeeNumber", "costCenter", "organization", "division", "department"];

pub fn etag(user: &User) -> String {
    format!("W/\"{}\"", user.version)
}

/// The User as clients see it: a name.formatted the client did not set is derived from the
/// name's parts (see `users::display_name`).
pub fn render(user: &User, location: &str) -> Value {
    serde_json::to_value(Shown::new(user, location)).unwrap_or(Value::Null)
}

/// The User as stored, nothing derived: what a PATCH applies to, so that re-reading the patched
/// document does not turn a derived name into a set one.
pub fn render_stored(user: &User) -> Value {
    let shown = Shown { user, location: "", derive: false };
    serde_json::to_value(shown).unwrap_or(Value::Null)
}

/// The attributes kept as the client sent them (see `User::extra`); most users have none.
fn extra_of(user: &User) -> Map<String, Value> {
    if user.extra.is_empty() || user.extra == "{}" {
        return Map::new();
    }
    match serde_json::from_str(&user.extra) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A user as its SCIM document, serialized straight from the record: the one renderer, for a
/// page's bytes as for a `Value` to filter or project (`render`).
pub struct Shown<'a> {
    user: &'a User,
    location: &'a str,
    /// Derive `name.formatted` from the parts when the client set none.
    derive: bool,
}

impl<'a> Shown<'a> {
    pub fn new(user: &'a User, location: &'a str) -> Shown<'a> {
        Shown { user, location, derive: true }
    }
}

#[derive(serde::Serialize)]
struct EmailOut<'a> {
    value: &'a str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct Meta<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    created: String,
    #[serde(rename = "lastModified")]
    last_modified: String,
    location: &'a str,
    version: String,
}

#[derive(serde::Serialize)]
struct RoleOut {
    value: &'static str,
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (user, extra) = (self.user, extra_of(self.user));
        let mut out = s.serialize_map(None)?;
        let enterprise = extra.get(ENTERPRISE_URN);
        match enterprise {
            Some(_) => out.serialize_entry("schemas", &[CORE_USER_URN, ENTERPRISE_URN])?,
            None => out.serialize_entry("schemas", &[CORE_USER_URN])?,
        }
        out.serialize_entry("id", &user.id)?;
        if let Some(x) = &user.external_id {
            out.serialize_entry("externalId", x)?;
        }
        out.serialize_entry("userName", &user.user_name)?;
        let derived = self.derive && user.label.is_none() && user.display_name.is_none();
        let formatted = match &user.display_name {
            Some(n) => Some(n.clone()),
            None if derived => crate::repr::users::derived_name(user),
            None => None,
        };
        let parts = [
            ("formatted", formatted.as_ref()),
            ("familyName", user.family_name.as_ref()),
            ("givenName", user.given_name.as_ref()),
            ("middleName", user.middle_name.as_ref()),
            ("honorificPrefix", user.honorific_prefix.as_ref()),
            ("honorificSuffix", user.honorific_suffix.as_ref()),
        ];
        let name: Vec<(&str, &String)> =
            parts.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        if !name.is_empty() {
            out.serialize_entry("name", &NameOut(&name))?;
        }
        if let Some(d) = &user.label {
            out.serialize_entry("displayName", d)?;
        }
        out.serialize_entry("active", &user.active)?;
        for key in STRINGS {
            if let Some(v) = extra.get(*key) {
                out.serialize_entry(*key, v)?;
            }
        }
        match (user.emails.is_empty(), &user.email) {
            (true, Some(e)) => {
                let only = EmailOut { value: e, kind: None, primary: Some(true), display: None };
                out.serialize_entry("emails", &[only])?;
            }
            (true, None) => {}
            (false, _) => {
                let emails: Vec<EmailOut<'_>> = user
                    .emails
                    .iter()
                    .map(|e| EmailOut {
                        value: &e.value,
                        kind: e.kind.as_deref(),
                        primary: e.primary,
                        display: e.display.as_deref(),
                    })
                    .collect();
                out.serialize_entry("emails", &emails)?;
            }
        }
        for key in MULTI {
            if let Some(v) = extra.get(*key) {
                out.serialize_entry(*key, v)?;
            }
        }
        let r = user.roles;
        let roles: Vec<RoleOut> = [("admin", r.admin), ("member", r.member), ("editor", r.editor)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(value, _)| RoleOut { value })
            .collect();
        if !roles.is_empty() {
            out.serialize_entry("roles", &roles)?;
        }
        if let Some(ext) = enterprise {
            out.serialize_entry(ENTERPRISE_URN, ext)?;
        }
        let meta = Meta {
            resource_type: "User",
            created: format_ms(user.created_at),
            last_modified: format_ms(user.updated_at),
            location: self.location,
            version: etag(user),
        };
        out.serialize_entry("meta", &meta)?;
        out.end()
    }
}

/// `name`'s present parts, in order.
struct NameOut<'a>(&'a [(&'a str, &'a String)]);

impl serde::Serialize for NameOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// Reads a SCIM User document into `base` (which supplies id, timestamps and version).
/// Every attribute the document omits is cleared, as PUT requires (omitted `roles` take the
/// default); unknown attributes are ignored.
pub fn read(doc: &Value, mut base: User) -> Result<User, ApiError> {
    if !doc.is_object() {
        return Err(ApiError::bad_request("a User must be a JSON object"));
    }

    let name = field(doc, "name").filter(|n| n.is_object());
    let mut extra = Map::new();

    for key in MULTI.iter().chain(&["emails"]) {
        match field(doc, key) {
            Some(Value::Array(items)) => {
                let kept: Vec<Value> =
                    items.iter().filter(|i| i.is_object()).map(normalize_primary).collect();
                if !kept.is_empty() {
                    extra.insert((*key).into(), Value::Array(kept));
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(ApiError::bad_request(format!("{key} must be an array"))),
        }
    }
    let emails: Vec<Email> = match extra.remove("emails") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|e| {
                Some(Email {
                    value: string(field(e, "value"))?,
                    kind: string(field(e, "type")),
                    primary: field(e, "primary").and_then(Value::as_bool),
                    display: string(field(e, "display")),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let primary_email =
        emails.iter().find(|e| e.primary == Some(true)).or(emails.first()).map(|e| e.value.clone());
    base.emails = emails;

    base.user_name = match string(field(doc, "userName")).or_else(|| primary_email.clone()) {
        Some(u) => u,
        None => return Err(ApiError::bad_request("userName (or a primary email) is required")),
    };
    base.external_id = string(field(doc, "externalId"));
    base.email = primary_email;
    base.given_name = string(name.and_then(|n| field(n, "givenName")));
    base.family_name = string(name.and_then(|n| field(n, "familyName")));
    base.display_name = string(name.and_then(|n| field(n, "formatted")));
    base.label = string(field(doc, "displayName"));
    base.active = match field(doc, "active") {
        None | Some(Value::Null) => true,
        Some(v) => {
            as_bool(v).ok_or_else(|| ApiError::bad_request("active must be true or false"))?
        }
    };
    base.roles = roles_from_json(field(doc, "roles").unwrap_or(&Value::Null))
        .map_err(ApiError::bad_request)?;

    for key in STRINGS {
        if let Some(s) = string(field(doc, key)) {
            extra.insert((*key).into(), json!(s));
        }
    }
    let part = |key: &str| string(name.and_then(|n| field(n, key)));
    base.middle_name = part("middleName");
    base.honorific_prefix = part("honorificPrefix");
    base.honorific_suffix = part("honorificSuffix");
    if let Some(ext) = field(doc, ENTERPRISE_URN).filter(|e| e.is_object()) {
        let mut kept = Map::new();
        for key in ENTERPRISE_STRINGS {
            if let Some(s) = string(field(ext, key)) {
                kept.insert((*key).into(), json!(s));
            }
        }
        // Entra sends the manager as an id string or as {"value": id}.
        let manager = match field(ext, "manager") {
            // Entra's PATCH sends [{"$ref": null, "value": id}].
            Some(Value::Array(items)) => items.first().and_then(|m| match m {
                Value::String(s) if !s.trim().is_empty() => Some(json!({"value": s.trim()})),
                m @ Value::Object(_) => string(field(m, "value")).map(|v| json!({"value": v})),
                _ => None,
            }),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(json!({"value": s.trim()})),
            Some(m @ Value::Object(_)) => string(field(m, "value")).map(|v| {
                let mut o = json!({"value": v});
                if let Some(d) = string(field(m, "displayName")) {
                    crate::repr::input::set_field(&mut o, "displayName", json!(d));
                }
                o
            }),
            _ => None,
        };
        if let Some(m) = manager {
            kept.insert("manager".into(), m);
        }
        if !kept.is_empty() {
            extra.insert(ENTERPRISE_URN.into(), Value::Object(kept));
        }
    }
    base.extra = Value::Object(extra).to_string();
    Ok(base)
}

/// `"primary": "True"` becomes `true`.
fn normalize_primary(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(obj) = item.as_object_mut() {
        let key = obj.keys().find(|k| k.eq_ignore_ascii_case("primary")).cloned();
        if let Some(k) = key {
            match obj.get(&k).and_then(as_bool) {
                Some(b) => {
                    obj.insert(k, json!(b));
                }
                None => {
                    obj.remove(&k);
                }
            }
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn blank() -> User {
        User::new(Uuid::now_v7(), String::new(), 0)
    }

    #[test]
    fn render_then_read_is_stable() {
        let doc = json!({
            "schemas": [CORE_USER_URN, ENTERPRISE_URN],
            "userName": "alex@example.com", "externalId": "00u1",
            "name": {"formatted": "Alex Morgan", "givenName": "Alex", "familyName": "Morgan", "middleName": "J"},
            "emails": [{"value": "alex@example.com", "primary": "True", "type": "work"}],
            "phoneNumbers": [{"value": "+1", "type": "mobile"}],
            "title": "Engineer", "active": "true", "roles": {"admin": true},
            "nonsense": {"ignored": 1},
            ENTERPRISE_URN: {"department": "R&D", "manager": "boss-1"}
        });
        let u = read(&doc, blank()).unwrap();
        assert_eq!(u.email.as_deref(), Some("alex@example.com"));
        assert_eq!(u.display_name.as_deref(), Some("Alex Morgan"));
        assert!(u.active && u.roles.admin && !u.roles.member);
        let shown = render(&u, "http://x/Users/1");
        assert_eq!(shown["roles"], json!([{"value": "admin"}]));
        assert_eq!(shown[ENTERPRISE_URN]["manager"], json!({"value": "boss-1"}));
        assert_eq!(shown["emails"][0]["primary"], json!(true));
        assert!(shown.get("nonsense").is_none());
        let again = read(&shown, u.clone()).unwrap();
        assert_eq!(again, u);
    }

    #[test]
    fn required_and_invalid_values() {
        assert!(read(&json!({"active": true}), blank()).is_err());
        let from_email = read(&json!({"emails": [{"value": "a@b"}]}), blank()).unwrap();
        assert_eq!(from_email.user_name, "a@b");
        assert!(read(&json!({"userName": "a", "active": "maybe"}), blank()).is_err());
        assert!(read(&json!({"userName": "a", "roles": ["owner"]}), blank()).is_err());
        assert!(read(&json!({"userName": "a", "emails": "x"}), blank()).is_err());
        assert!(read(&json!([1]), blank()).is_err());
    }
}
