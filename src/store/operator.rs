//! What an operator does by hand, in the console or through the admin socket: each change (and
//! a console sign-in) with its audit entry, in the same transaction. The APIs' changes are not
//! audited one by one (the provisioning log has them); these are, whoever of the two makes them.

use uuid::Uuid;

use super::audit::{self, Actor, Field};
use super::error::{Error, Result};
use super::lifecycle;
use super::rooms::{self, Eligible, Room};
use super::tenants::{self, Tenant};
use super::txn::WriteTxn;
use super::users::{self, User};

/// Creates a room named `name` (trimmed).
pub fn create_room(
    txn: &WriteTxn,
    tenant: Uuid,
    (id, name): (Uuid, &str),
    actor: &Actor,
    now: i64,
) -> Result<Room> {
    let room = Room::new(id, name.trim(), now);
    rooms::create(txn, tenant, &room)?;
    let fields = vec![Field::set("name", &room.name)];
    audit::record(txn, tenant, actor, ("room.created", &id.to_string()), fields, now)?;
    Ok(room)
}

/// A room's settings as an operator sets them.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// Empty: unchanged. A rename renames the name people see too (a SCIM group's displayName).
    pub name: String,
    pub mapped: bool,
    /// Kept only for a mapped room.
    pub external_id: Option<String>,
}

pub fn update_room(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    settings: &RoomSettings,
    actor: &Actor,
    now: i64,
) -> Result<Room> {
    let prev = rooms::get(txn, tenant, id)?;
    let mut next = prev.clone();
    let name = settings.name.trim();
    if !name.is_empty() && name != prev.name {
        next.display_name = name.to_owned();
        next.name = name.to_owned();
    }
    next.mapped = settings.mapped;
    next.external_id = settings.external_id.clone().filter(|_| settings.mapped);
    let next = rooms::update(txn, tenant, next, None, now)?;
    let show = |x: &Option<String>| x.clone().unwrap_or_default();
    let fields = vec![
        Field::new("name", Some(prev.name), Some(next.name.clone())),
        Field::new("mapped", Some(prev.mapped.to_string()), Some(next.mapped.to_string())),
        Field::new("external_id", Some(show(&prev.external_id)), Some(show(&next.external_id))),
    ];
    if fields.iter().any(|f| f.old != f.new) {
        audit::record(txn, tenant, actor, ("room.updated", &id.to_string()), fields, now)?;
    }
    Ok(next)
}

/// Deletes a room and its memberships.
pub fn delete_room(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    actor: &Actor,
    now: i64,
) -> Result<Room> {
    let room = rooms::delete(txn, tenant, id, now)?;
    let fields = vec![Field::new("name", Some(room.name.clone()), None)];
    audit::record(txn, tenant, actor, ("room.deleted", &id.to_string()), fields, now)?;
    Ok(room)
}

/// Makes an active user a member of a room with this transmit permission, or changes a
/// member's (`must_be_member`: only that, 404 when the user is no member).
pub fn set_member(
    txn: &WriteTxn,
    tenant: Uuid,
    (room, user, must_be_member): (Uuid, Uuid, bool),
    tx_permission: bool,
    actor: &Actor,
    now: i64,
) -> Result<()> {
    let before = rooms::membership(txn, tenant, room, user)?;
    if must_be_member && before.is_none() {
        return Err(Error::not_found("member"));
    }
    rooms::add_member(txn, tenant, room, user, Some(tx_permission), Eligible::Active, now)?;
    let (action, was) = match before {
        None => ("room.member_added", None),
        Some(was) => ("room.member_updated", Some(was.to_string())),
    };
    let field = Field::new("tx_permission", was, Some(tx_permission.to_string()));
    member_entry(txn, (tenant, room, user), actor, (action, field), now)
}

/// Takes a member out of a room (404 when the user is none).
pub fn remove_member(
    txn: &WriteTxn,
    tenant: Uuid,
    (room, user): (Uuid, Uuid),
    actor: &Actor,
    now: i64,
) -> Result<()> {
    if !rooms::remove_member(txn, tenant, room, user, now)? {
        return Err(Error::not_found("member"));
    }
    let field = Field::new("member", Some(user.to_string()), None);
    member_entry(txn, (tenant, room, user), actor, ("room.member_removed", field), now)
}

fn member_entry(
    txn: &WriteTxn,
    (tenant, room, user): (Uuid, Uuid, Uuid),
    actor: &Actor,
    (action, field): (&str, Field),
    now: i64,
) -> Result<()> {
    let target = format!("room {room} member {user}");
    audit::record(txn, tenant, actor, (action, &target), vec![field], now)
}

/// Deactivates or reactivates a user, with everything that follows (`lifecycle`).
pub fn set_active(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    active: bool,
    actor: &Actor,
    now: i64,
) -> Result<User> {
    let mut user = users::get(txn, tenant, id)?;
    let before = user.active;
    user.active = active;
    let (user, _) = lifecycle::update_user(txn, tenant, user, None, now)?;
    if before != active {
        let action = if active { "user.reactivated" } else { "user.deactivated" };
        let field = Field::new("active", Some(before.to_string()), Some(active.to_string()));
        let target = format!("{} ({})", user.user_name, user.id);
        audit::record(txn, tenant, actor, (action, &target), vec![field], now)?;
    }
    Ok(user)
}

/// Names the tenant's account owner (an active user), whom deactivation and deletion spare.
pub fn set_owner(
    txn: &WriteTxn,
    slug: &str,
    user: Uuid,
    actor: &Actor,
    now: i64,
) -> Result<Tenant> {
    let before = tenants::get_by_slug(txn, slug)?.owner_user_id;
    let t = tenants::set_owner(txn, slug, user)?;
    let field = Field::new("owner_user_id", before.map(|u| u.to_string()), Some(user.to_string()));
    audit::record(txn, t.id, actor, ("tenant.owner_changed", &t.slug), vec![field], now)?;
    Ok(t)
}

/// A console sign-in with key `key` from `address` (`by_link`: a `console login` link's).
pub fn signed_in(
    txn: &WriteTxn,
    (tenant, key): (Uuid, Uuid),
    (actor, by_link): (&Actor, bool),
    address: &str,
    now: i64,
) -> Result<()> {
    let action = if by_link { "console.signed_in_by_link" } else { "console.signed_in" };
    let fields = vec![Field::set("address", address)];
    audit::record(txn, tenant, actor, (action, &key.to_string()), fields, now)
}
