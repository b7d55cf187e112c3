//! Users as the native API, webhooks and the admin commands show them, and the parts of a user
//! both faces derive: the display name, and the primary email kept in step with `emails`.

use serde_json::{Map, Value, json};

use super::input::{as_bool, field, roles_to_native};
use crate::store::users::User;
use crate::time::format_ms;

/// The native form (`{"user": …}` bodies, webhook and feed payloads, `user list`).
/// `full_name` and `display_name` are the same field.
pub fn user_json(u: &User) -> Value {
    // The native display name is SCIM's name.formatted, or its displayName when that is all an
    // IdP sent (Entra does), or else made of the name's parts (Okta sends only those).
    let display = display_name(u);
    json!({
        "id": u.id,
        "email": u.email,
        "user_name": u.user_name,
        "display_name": display,
        "full_name": display,
        "external_id": u.external_id,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "active": u.active,
        "roles": roles_to_native(u.roles),
        "created_at": format_ms(u.created_at),
        "updated_at": format_ms(u.updated_at),
    })
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
