//! Input coercions both faces accept: the forms of booleans and roles IdPs send, a loose email
//! check, and small JSON helpers.

use serde_json::{Value, json};

use crate::store::users::Roles;

/// Finds `name` in a JSON object, ignoring case, as SCIM attribute names must be.
pub fn field<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The key of `obj` that is `name` but for case, as it is spelled there.
pub fn key_named(obj: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// `true`/`false`, or the strings IdPs send for them (`"False"`, `"true"`).
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Roles in any accepted form: `{"admin": true, …}` (omitted roles are false), `["admin"]`, or
/// `[{"value": "admin"}]`. Unknown role names are an error, so typos do not pass silently.
pub fn roles_from_json(v: &Value) -> Result<Roles, String> {
    let mut roles = Roles { admin: false, member: false, editor: false };
    let mut grant = |name: &str, on: bool| -> Result<(), String> {
        match name.to_ascii_lowercase().as_str() {
            "admin" => roles.admin = on,
            "member" => roles.member = on,
            "editor" => roles.editor = on,
            other => {
                return Err(format!("unknown role {other:?}: roles are admin, member and editor"));
            }
        }
        Ok(())
    };
    match v {
        Value::Null => return Ok(Roles::default()),
        Value::Object(map) => {
            for (name, on) in map {
                let on =
                    as_bool(on).ok_or_else(|| format!("role {name:?} must be true or false"))?;
                grant(name, on)?;
            }
        }
        // Entra sends "roles": [] when it assigns none: that is no choice, so the default.
        Value::Array(items) if items.is_empty() => return Ok(Roles::default()),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(name) => grant(name, true)?,
                    Value::Object(_) => {
                        let name = field(item, "value")
                            .and_then(Value::as_str)
                            .ok_or("a role object needs a string \"value\"")?;
                        grant(name, true)?;
                    }
                    _ => return Err("roles must be strings or {\"value\": …} objects".into()),
                }
            }
        }
        _ => return Err("roles must be an object or an array".into()),
    }
    Ok(roles)
}

/// Native form: `{"admin": false, "member": true, "editor": false}`.
pub fn roles_to_native(r: Roles) -> Value {
    json!({"admin": r.admin, "member": r.member, "editor": r.editor})
}

/// A loose check for native input: something@something, no spaces. (SCIM does not validate.)
pub fn plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Sets `key` in a JSON object (nothing happens to anything else: no panic on a non-object).
pub fn set_field(doc: &mut Value, key: &str, value: Value) {
    if let Some(fields) = doc.as_object_mut() {
        fields.insert(key.to_owned(), value);
    }
}

/// A boolean as IdPs send it: `true`/`false`, or those words as strings in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> serde::Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        let v = Value::deserialize(d)?;
        as_bool(&v).map(Flag).ok_or_else(|| serde::de::Error::custom("must be true or false"))
    }
}

/// A text field that may be cleared: a string (trimmed; empty clears it) or null. Read with
/// `#[serde(default, deserialize_with = "present")]` so that null and absent differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NullableText(Option<String>);

impl NullableText {
    pub fn into_option(self) -> Option<String> {
        self.0
    }
}

impl<'de> serde::Deserialize<'de> for NullableText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NullableText, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        Ok(NullableText(text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())))
    }
}

/// For a field whose null means something: present (null included) is Some.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
