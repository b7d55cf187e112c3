//! User input and output shared by the native API and SCIM: the accepted forms of roles and
//! booleans, and keeping the primary email and the `emails` list in step.

use serde_json::{Map, Value, json};

use crate::scim::filter::field;
use crate::store::users::{Roles, User};

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

/// RFC 7643 form: `[{"value": "member"}]`.
pub fn roles_to_scim(r: Roles) -> Value {
    let names = [("admin", r.admin), ("member", r.member), ("editor", r.editor)];
    Value::Array(names.iter().filter(|(_, on)| *on).map(|(n, _)| json!({"value": n})).collect())
}

/// Native form: `{"admin": false, "member": true, "editor": false}`.
pub fn roles_to_native(r: Roles) -> Value {
    json!({"admin": r.admin, "member": r.member, "editor": r.editor})
}

pub fn extra_of(user: &User) -> Map<String, Value> {
    match serde_json::from_str(&user.extra) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

pub fn set_extra(user: &mut User, extra: Map<String, Value>) {
    user.extra = Value::Object(extra).to_string();
}

/// Sets the primary email, updating the primary (or first) entry of `emails`.
pub fn set_primary_email(user: &mut User, email: Option<String>) {
    let mut extra = extra_of(user);
    match &email {
        Some(value) => {
            let emails = extra.entry("emails").or_insert_with(|| Value::Array(Vec::new()));
            if !emails.is_array() {
                *emails = Value::Array(Vec::new());
            }
            if let Value::Array(list) = emails {
                let primary = list
                    .iter()
                    .position(|e| field(e, "primary").and_then(as_bool) == Some(true))
                    .or(if list.is_empty() { None } else { Some(0) });
                match primary {
                    Some(i) => {
                        if let Some(obj) = list.get_mut(i).and_then(Value::as_object_mut) {
                            obj.insert("value".into(), json!(value));
                            obj.insert("primary".into(), json!(true));
                        }
                    }
                    None => list.push(json!({"value": value, "type": "work", "primary": true})),
                }
            }
        }
        None => {
            extra.remove("emails");
        }
    }
    user.email = email;
    set_extra(user, extra);
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

/// The display name a user shows: the one a client set (name.formatted natively
/// `display_name`/`full_name`), else SCIM's displayName, else one made of the name's parts
/// ("Given Family", with prefix, middle name and suffix where present). Derived at read time, so
/// it follows the parts until a client sets one.
pub fn display_name(user: &User) -> Option<String> {
    if let Some(d) = &user.display_name {
        return Some(d.clone());
    }
    let extra = extra_of(user);
    if let Some(Value::String(d)) = extra.get("displayName") {
        return Some(d.clone());
    }
    derived_name(user, &extra)
}

/// "Prefix Given Middle Family Suffix", from the parts present; None without any.
pub fn derived_name(user: &User, extra: &Map<String, Value>) -> Option<String> {
    let part = |key: &str| extra.get("name").and_then(|n| n.get(key)).and_then(Value::as_str);
    let parts: Vec<&str> = [
        part("honorificPrefix"),
        user.given_name.as_deref(),
        part("middleName"),
        user.family_name.as_deref(),
        part("honorificSuffix"),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .filter(|p| !p.is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The name to show for a user: its display name, else the userName.
pub fn display_of(user: &User) -> String {
    display_name(user).unwrap_or_else(|| user.user_name.clone())
}

/// Sets `key` in a JSON object (nothing happens to anything else: no panic on a non-object).
pub fn set_field(doc: &mut Value, key: &str, value: Value) {
    if let Some(fields) = doc.as_object_mut() {
        fields.insert(key.to_owned(), value);
    }
}
