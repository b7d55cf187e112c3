//! The records the domain tables hold and the event log quotes: users and rooms, with the keys of
//! their index entries. Below every module that changes them, so that the log (`events`) and the
//! operations (`users`, `rooms`, `lifecycle`) share the types without importing each other.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::record::Indexed;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub admin: bool,
    pub member: bool,
    pub editor: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles { admin: false, member: true, editor: false }
    }
}

/// One of a user's email addresses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub value: String,
    /// `work`, `home`…, as the client named it.
    pub kind: Option<String>,
    pub primary: Option<bool>,
    pub display: Option<String>,
}

/// A user, typed: everything the store indexes and the APIs derive is a field, so no read has
/// to parse JSON for it. `extra` keeps what else a client sent to be shown back, opaque here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct User {
    pub id: Uuid,
    pub user_name: String,
    pub external_id: Option<String>,
    /// The primary email.
    pub email: Option<String>,
    /// `display_name` / `full_name` natively, `name.formatted` in SCIM.
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub roles: Roles,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped on every change; the ETag.
    pub version: u64,
    pub deleted_at: Option<i64>,
    /// Every email address (the primary one is also `email`).
    pub emails: Vec<Email>,
    /// A name to show that the client set apart from the name itself (SCIM's `displayName`).
    pub label: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
    /// The other attributes a client sent that are kept and shown back, as a JSON object; the
    /// store never reads it.
    pub extra: String,
}

/// A user's attributes by their SCIM names, each as text (None: not set), in one fixed order:
/// what the provisioning log compares and a SET's notice lists. Borrowed where the record holds
/// the text: this runs on the writer's thread for every change.
pub fn scim_values(u: &User) -> [(&'static str, Option<Cow<'_, str>>); 14] {
    fn text(v: &Option<String>) -> Option<Cow<'_, str>> {
        v.as_deref().map(Cow::Borrowed)
    }
    let r = &u.roles;
    let named = [(r.admin, "admin"), (r.member, "member"), (r.editor, "editor")];
    let roles = named.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
    [
        ("userName", Some(Cow::Borrowed(u.user_name.as_str()))),
        ("externalId", text(&u.external_id)),
        ("active", Some(Cow::Borrowed(if u.active { "true" } else { "false" }))),
        ("email", text(&u.email)),
        (
            "emails",
            (!u.emails.is_empty()).then(|| {
                let all: Vec<&str> = u.emails.iter().map(|e| e.value.as_str()).collect();
                Cow::Owned(all.join(", "))
            }),
        ),
        ("name.formatted", text(&u.display_name)),
        ("displayName", text(&u.label)),
        ("name.givenName", text(&u.given_name)),
        ("name.familyName", text(&u.family_name)),
        ("name.middleName", text(&u.middle_name)),
        ("name.honorificPrefix", text(&u.honorific_prefix)),
        ("name.honorificSuffix", text(&u.honorific_suffix)),
        ("roles", Some(Cow::Owned(roles))),
        (
            "other attributes",
            (u.extra != "{}" && !u.extra.is_empty()).then(|| Cow::Owned(cut(&u.extra))),
        ),
    ]
}

/// The SCIM names of the attributes `next` sets that `prev` did not have so (all it sets, for a
/// new user). `email` is the primary of `emails`, and `other attributes` the extension ones: a
/// SET names them `emails` and by their top-level names.
pub fn changed_attributes(prev: Option<&User>, next: &User) -> Vec<String> {
    let old = prev.map(scim_values);
    let mut out: Vec<String> = Vec::new();
    for (i, (name, value)) in scim_values(next).into_iter().enumerate() {
        let was = old.as_ref().and_then(|o| o.get(i)).and_then(|(_, v)| v.as_ref());
        if was == value.as_ref() || (prev.is_none() && value.is_none()) {
            continue;
        }
        match name {
            "email" => out.push("emails".to_owned()),
            "other attributes" => {
                let keys = |extra: &str| -> Vec<String> {
                    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(extra)
                    {
                        Ok(map) => map.into_iter().map(|(k, _)| k).collect(),
                        Err(_) => Vec::new(),
                    }
                };
                let mut names = keys(&next.extra);
                names.extend(prev.map(|p| keys(&p.extra)).unwrap_or_default());
                out.extend(names);
            }
            _ => out.push(name.to_owned()),
        }
    }
    if prev.is_none() {
        out.insert(0, "id".to_owned());
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A long value, cut to 500 bytes on a character boundary.
pub fn cut(s: &str) -> String {
    let end = (0..=s.len().min(500)).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    match s.get(..end) {
        Some(head) if head.len() < s.len() => format!("{head}…"),
        _ => s.to_owned(),
    }
}

impl User {
    pub fn new(id: Uuid, user_name: String, now: i64) -> User {
        let extra = "{}".into();
        User {
            id,
            user_name,
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
            extra,
            ..User::default()
        }
    }
}

impl Indexed for User {
    const WHAT: &'static str = "user";

    fn id(&self) -> Uuid {
        self.id
    }

    /// The index entries this user owns.
    fn index_keys(&self) -> Vec<(String, &'static str)> {
        let mut keys = vec![(user_name_key(&self.user_name), "user name")];
        if let Some(x) = &self.external_id {
            keys.push((external_id_key(x), "external id"));
        }
        if let Some(e) = &self.email {
            keys.push((email_key(e), "email"));
        }
        keys
    }
}

pub fn user_name_key(user_name: &str) -> String {
    format!("u:{}", user_name.to_lowercase())
}

/// A user's or a room's externalId entry (case-exact), in its own index.
pub fn external_id_key(external_id: &str) -> String {
    format!("x:{external_id}")
}

pub fn email_key(email: &str) -> String {
    format!("e:{}", email.to_lowercase())
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Room {
    pub id: Uuid,
    /// Unique per tenant (case-insensitive).
    pub name: String,
    pub display_name: String,
    /// The SCIM group's externalId (unique per tenant, case-exact).
    pub external_id: Option<String>,
    /// Whether the room is a SCIM group.
    pub mapped: bool,
    pub member_count: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub version: u64,
}

impl Room {
    pub fn new(id: Uuid, name: &str, now: i64) -> Room {
        Room {
            id,
            name: name.to_owned(),
            display_name: name.to_owned(),
            external_id: None,
            mapped: false,
            member_count: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The SCIM attributes a new room has set.
    pub fn scim_attributes(&self) -> Vec<String> {
        let mut set = vec!["id".to_owned(), "displayName".to_owned()];
        if self.external_id.is_some() {
            set.push("externalId".to_owned());
        }
        set
    }
}

impl Indexed for Room {
    const WHAT: &'static str = "room";

    fn id(&self) -> Uuid {
        self.id
    }

    fn index_keys(&self) -> Vec<(String, &'static str)> {
        let mut keys = vec![
            (name_key(&self.name), "name"),
            (display_name_key(&self.display_name, self.id), "display name"),
        ];
        if let Some(x) = &self.external_id {
            keys.push((external_id_key(x), "external id"));
        }
        keys
    }
}

pub fn name_key(name: &str) -> String {
    format!("n:{}", name.to_lowercase())
}

/// Display names need not be unique: each room's entry ends with its id, so the entries of one
/// name are a range (`with_display_name`).
fn display_name_key(display_name: &str, id: Uuid) -> String {
    format!("{}{}", display_name_prefix(display_name), id.simple())
}

pub(super) fn display_name_prefix(display_name: &str) -> String {
    format!("d:{}\0", display_name.to_lowercase())
}

/// The counts a full-replace sync reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncCounts {
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}
