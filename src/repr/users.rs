//! Users as the native API, webhooks and the admin commands show them, and the parts of a user
//! both faces derive: the display name, and the primary email kept in step with `emails`.

use serde_json::{Value, json};

use super::input::roles_to_native;
use crate::store::users::{Email, User};
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

/// Sets the primary email, updating the primary (or first) entry of `emails`.
pub fn set_primary_email(user: &mut User, email: Option<String>) {
    match &email {
        Some(value) => {
            let primary = user.emails.iter().position(|e| e.primary == Some(true));
            match primary.or(if user.emails.is_empty() { None } else { Some(0) }) {
                Some(i) => {
                    if let Some(e) = user.emails.get_mut(i) {
                        e.value = value.clone();
                        e.primary = Some(true);
                    }
                }
                None => user.emails.push(Email {
                    value: value.clone(),
                    kind: Some("work".into()),
                    primary: Some(true),
                    display: None,
                }),
            }
        }
        None => user.emails.clear(),
    }
    user.email = email;
}

/// The display name a user shows: the one a client set (name.formatted natively
/// `display_name`/`full_name`), else SCIM's displayName, else one made of the name's parts
/// ("Given Family", with prefix, middle name and suffix where present). Derived at read time, so
/// it follows the parts until a client sets one.
pub fn display_name(user: &User) -> Option<String> {
    user.display_name.clone().or_else(|| user.label.clone()).or_else(|| derived_name(user))
}

/// "Prefix Given Middle Family Suffix", from the parts present; None without any.
pub fn derived_name(user: &User) -> Option<String> {
    let parts: Vec<&str> = [
        &user.honorific_prefix,
        &user.given_name,
        &user.middle_name,
        &user.family_name,
        &user.honorific_suffix,
    ]
    .into_iter()
    .flatten()
    .map(|p| p.trim())
    .filter(|p| !p.is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The name to show for a user: its display name, else the userName.
pub fn display_of(user: &User) -> String {
    display_name(user).unwrap_or_else(|| user.user_name.clone())
}
