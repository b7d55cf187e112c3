//! A user's lifecycle: creating, changing and deleting one, with everything that must follow in
//! the same transaction: the seat, the owner rule, the rooms a deactivated user leaves, the
//! event. Above both `users` and `rooms`, so neither calls the other for it.

use uuid::Uuid;

use super::error::{Error, Refusal, Result};
use super::record::check_version;
use super::txn::WriteTxn;
use super::users::{self, User, changed_attributes};
use super::{counters, events, rooms, tenants};

/// What a change did to the seat count, for callers that report it (webhooks, later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatChange {
    None,
    Taken,
    Freed,
}

/// Creates a user; an active one takes a seat or fails with `NoCapacity`.
pub fn create_user(txn: &WriteTxn, tenant: Uuid, user: &User) -> Result<SeatChange> {
    users::add(txn, tenant, user)?;
    let seats = if user.active {
        take_seat(txn, tenant, user.created_at)?;
        SeatChange::Taken
    } else {
        SeatChange::None
    };
    let attributes = changed_attributes(None, user);
    events::user(txn, tenant, "user.created", (user, attributes), user.created_at)?;
    Ok(seats)
}

/// Replaces a user with `next` (same id): indexes, seats and the owner rule follow. `if_match`
/// is the version the client saw, if it sent one. Returns the stored user (version bumped).
pub fn update_user(
    txn: &WriteTxn,
    tenant: Uuid,
    mut next: User,
    if_match: Option<u64>,
    now: i64,
) -> Result<(User, SeatChange)> {
    let prev = users::get(txn, tenant, next.id)?;
    check_version(if_match, prev.version)?;
    if prev.active && !next.active {
        refuse_owner(txn, tenant, prev.id, "deactivated")?;
    }
    let seats = match (prev.active, next.active) {
        (false, true) => {
            take_seat(txn, tenant, now)?;
            SeatChange::Taken
        }
        (true, false) => {
            free_seat(txn, tenant, prev.id, now)?;
            SeatChange::Freed
        }
        _ => SeatChange::None,
    };
    next.created_at = prev.created_at;
    next.deleted_at = None;
    if next != prev {
        next.version = prev.version + 1;
        next.updated_at = now;
    } else {
        next.version = prev.version;
        next.updated_at = prev.updated_at;
    }
    // After the modification time is known: it is an index entry too.
    users::replace(txn, tenant, &next, &prev)?;
    let event = match seats {
        SeatChange::Taken => Some("user.reactivated"),
        SeatChange::Freed => Some("user.deactivated"),
        SeatChange::None if next.version != prev.version => Some("user.updated"),
        SeatChange::None => None,
    };
    if let Some(event) = event {
        events::user(txn, tenant, event, (&next, changed_attributes(Some(&prev), &next)), now)?;
    }
    Ok((next, seats))
}

/// SCIM delete (RFC 7644 §3.6): deactivates, frees the user's unique values, and moves the
/// record out of sight, kept for audit.
pub fn delete_user(
    txn: &WriteTxn,
    tenant: Uuid,
    id: Uuid,
    if_match: Option<u64>,
    now: i64,
) -> Result<User> {
    let stored = users::get(txn, tenant, id)?;
    check_version(if_match, stored.version)?;
    refuse_owner(txn, tenant, id, "deleted")?;
    let mut user = stored.clone();
    if user.active {
        free_seat(txn, tenant, id, now)?;
        user.active = false;
    }
    user.deleted_at = Some(now);
    user.updated_at = now;
    user.version += 1;
    users::retire(txn, tenant, &stored, &user)?;
    events::user(txn, tenant, "user.deleted", (&user, Vec::new()), now)?;
    Ok(user)
}

fn take_seat(txn: &WriteTxn, tenant: Uuid, now: i64) -> Result<()> {
    let licensed = u64::from(tenants::get(txn, tenant)?.seat_capacity);
    let used = counters::get(txn, tenant, counters::SEATS_PROVISIONED)?;
    if used >= licensed {
        return Err(Error::Refused(Refusal::NoCapacity { licensed, used }));
    }
    if counters::add(txn, tenant, counters::SEATS_PROVISIONED, 1)? == licensed {
        events::seats_exhausted(txn, tenant, licensed, now)?;
    }
    Ok(())
}

/// A seat freed: the user stops being active, and leaves every room in the same transaction.
fn free_seat(txn: &WriteTxn, tenant: Uuid, user: Uuid, now: i64) -> Result<()> {
    counters::add(txn, tenant, counters::SEATS_PROVISIONED, -1)?;
    for room in rooms::rooms_of(txn, tenant, user)? {
        rooms::remove_member(txn, tenant, room, user, now)?;
    }
    Ok(())
}

fn refuse_owner(txn: &WriteTxn, tenant: Uuid, user: Uuid, change: &'static str) -> Result<()> {
    if tenants::get(txn, tenant)?.owner_user_id == Some(user) {
        return Err(Refusal::OwnerProtected { change }.into());
    }
    Ok(())
}
