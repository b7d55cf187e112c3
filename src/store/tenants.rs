//! Tenants: the unit of isolation. Every other record belongs to exactly one.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{Error, Refusal, Result};
use super::tables::{META, TENANT_SLUGS, TENANTS};
use super::txn::{Tx, WriteTxn};
use super::{codec, counters, events};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub seat_capacity: u32,
    /// Requests per minute per key; None = the server default, Some(0) = unlimited.
    pub rate_limit_per_minute: Option<u32>,
    pub owner_user_id: Option<Uuid>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The SCIM profile of the tenant's keys that do not choose one.
    pub scim_profile: super::keys::ScimProfile,
    /// Provisioning writes are refused (503) while the tenant is moved between instances.
    pub maintenance: bool,
}

impl Tenant {
    /// A new tenant: the server's rate limit, no owner, the compatible SCIM profile.
    pub fn new(id: Uuid, (slug, name): (&str, &str), seat_capacity: u32, now: i64) -> Tenant {
        Tenant {
            id,
            slug: slug.to_owned(),
            name: name.to_owned(),
            seat_capacity,
            rate_limit_per_minute: None,
            owner_user_id: None,
            created_at: now,
            scim_profile: super::keys::ScimProfile::Compatible,
            maintenance: false,
        }
    }
}

/// Slugs appear in URLs: lowercase letters, digits and inner hyphens, 1 to 63 characters.
pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = (1..=63).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && slug != "v1";
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid tenant slug {slug:?}: use 1-63 lowercase letters, digits and inner hyphens"
        )))
    }
}

pub fn create(txn: &WriteTxn, tenant: &Tenant) -> Result<()> {
    validate_slug(&tenant.slug)?;
    let mut slugs = txn.open_table(TENANT_SLUGS)?;
    if slugs.get(tenant.slug.as_str())?.is_some() {
        return Err(Refusal::Conflict { what: "tenant", attribute: "slug", holder: None }.into());
    }
    slugs.insert(tenant.slug.as_str(), tenant.id.as_u128())?;
    put(txn, tenant)
}

/// Overwrites an existing tenant record (the slug never changes).
pub fn put(txn: &WriteTxn, tenant: &Tenant) -> Result<()> {
    let bytes = codec::encode(tenant)?;
    txn.open_table(TENANTS)?.insert(tenant.id.as_u128(), bytes.as_slice())?;
    Ok(())
}

/// Sets the seat capacity; a change is recorded as `seats.capacity_changed`.
pub fn set_seats(txn: &WriteTxn, slug: &str, seats: u32, now: i64) -> Result<Tenant> {
    let mut t = get_by_slug(txn, slug)?;
    if t.seat_capacity != seats {
        t.seat_capacity = seats;
        put(txn, &t)?;
        let used = counters::get(txn, t.id, counters::SEATS_PROVISIONED)?;
        events::seats_changed(txn, t.id, u64::from(seats), used, now)?;
    }
    Ok(t)
}

/// Makes an active user of the tenant its account owner, whom no API may deactivate or delete.
pub fn set_owner(txn: &WriteTxn, slug: &str, user_id: Uuid) -> Result<Tenant> {
    let mut t = get_by_slug(txn, slug)?;
    if !super::users::get(txn, t.id, user_id)?.active {
        return Err(Error::invalid("the account owner must be an active user"));
    }
    t.owner_user_id = Some(user_id);
    put(txn, &t)?;
    Ok(t)
}

pub fn get(tx: &impl Tx, id: Uuid) -> Result<Tenant> {
    let table = tx.table(TENANTS)?;
    let bytes = table.get(id.as_u128())?.ok_or(Error::not_found("tenant"))?;
    codec::decode(bytes.value())
}

/// Whether the tenant's provisioning writes are refused (see `Tenant::maintenance`).
pub fn in_maintenance(tx: &impl Tx, id: Uuid) -> Result<bool> {
    Ok(get(tx, id)?.maintenance)
}

pub fn get_by_slug(tx: &impl Tx, slug: &str) -> Result<Tenant> {
    let id =
        tx.table(TENANT_SLUGS)?.get(slug)?.map(|v| v.value()).ok_or(Error::not_found("tenant"))?;
    get(tx, Uuid::from_u128(id))
}

pub fn list(tx: &impl Tx) -> Result<Vec<Tenant>> {
    let table = tx.table(TENANTS)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, bytes) = row?;
        out.push(codec::decode(bytes.value())?);
    }
    Ok(out)
}

pub(super) fn is_empty(tx: &impl Tx) -> Result<bool> {
    Ok(tx.table(TENANTS)?.first()?.is_none())
}

/// `META` key: set when the store was given its first tenant and key.
const META_BOOTSTRAPPED: &str = "bootstrapped";

/// Whether the store is new, to be given its first tenant and key: no tenant, never
/// bootstrapped, and never a loss of logged writes accepted (that loss may have taken the
/// bootstrap: a new key would then replace the one the admin holds).
pub fn is_new(tx: &impl Tx) -> Result<bool> {
    let meta = tx.table(META)?;
    let marked = |key: &str| -> Result<bool> { Ok(meta.get(key)?.is_some()) };
    Ok(is_empty(tx)? && !marked(META_BOOTSTRAPPED)? && !marked(super::tables::META_LOSS_AT)?)
}

/// Records that the store was given its first tenant and key (see `is_new`).
pub fn mark_bootstrapped(txn: &WriteTxn, at_ms: i64) -> Result<()> {
    txn.open_table(META)?.insert(META_BOOTSTRAPPED, u64::try_from(at_ms).unwrap_or(0))?;
    Ok(())
}
