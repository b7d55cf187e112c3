//! Every tenant and key, in memory. Authentication is a hash-map lookup under a read lock;
//! changes made through the admin socket update the registry right after their commit, so a
//! revoked key fails on the very next request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use crate::store::keys::ScimProfile;

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::ratelimit::Bucket;
use super::scopes::ScopeSet;
use crate::store::{keys::ApiKey, tenants::Tenant};

/// `rate_override` value meaning "use the server default".
const NO_OVERRIDE: u32 = u32::MAX;

#[derive(Debug)]
pub struct TenantState {
    pub id: Uuid,
    pub slug: String,
    rate_override: AtomicU32,
    /// Whether keys without a profile of their own are held to the strict SCIM profile.
    strict_by_default: AtomicBool,
    /// Provisioning writes are refused while it is moved.
    maintenance: AtomicBool,
}

impl TenantState {
    /// Requests per minute per key for this tenant (0 = unlimited).
    pub fn rate_limit(&self, default: u32) -> u32 {
        match self.rate_override.load(Ordering::Relaxed) {
            NO_OVERRIDE => default,
            n => n,
        }
    }

    pub fn in_maintenance(&self) -> bool {
        self.maintenance.load(Ordering::Relaxed)
    }

    pub fn scim_profile(&self) -> ScimProfile {
        match self.strict_by_default.load(Ordering::Relaxed) {
            true => ScimProfile::Strict,
            false => ScimProfile::Compatible,
        }
    }

    fn set_override(&self, limit: Option<u32>) {
        self.rate_override.store(limit.unwrap_or(NO_OVERRIDE), Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct KeyState {
    pub id: Uuid,
    pub tenant: Arc<TenantState>,
    pub scopes: ScopeSet,
    pub description: String,
    pub expires_at: Option<i64>,
    /// None: the tenant's default.
    pub own_scim_profile: Option<ScimProfile>,
    revoked: AtomicBool,
    /// Unix ms of the last authenticated request, 0 if none since startup.
    last_used: AtomicI64,
    last_used_dirty: AtomicBool,
    pub bucket: Bucket,
    /// SCIM quirks this key's requests needed, by name, since the server started: whether its
    /// client could move to the strict profile.
    quirks: Mutex<BTreeMap<&'static str, u64>>,
}

impl KeyState {
    pub fn note_quirk(&self, name: &'static str) {
        *self.quirks.lock().entry(name).or_insert(0) += 1;
    }

    pub fn quirks(&self) -> BTreeMap<&'static str, u64> {
        self.quirks.lock().clone()
    }

    /// The SCIM rules this key's requests are held to.
    pub fn scim_profile(&self) -> ScimProfile {
        self.own_scim_profile.unwrap_or_else(|| self.tenant.scim_profile())
    }

    /// Active means neither revoked nor past its expiry at `now` (unix ms).
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked.load(Ordering::Acquire) && self.expires_at.is_none_or(|at| now < at)
    }

    /// Notes a use; only the flush writes it to disk. Resolution is one second so a busy key
    /// does not write the shared atomics on every request.
    pub fn touch(&self, now: i64) {
        if now - self.last_used.load(Ordering::Relaxed) >= 1000 {
            self.last_used.store(now, Ordering::Relaxed);
            self.last_used_dirty.store(true, Ordering::Release);
        }
    }

    pub fn last_used(&self) -> Option<i64> {
        Some(self.last_used.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }
}

#[derive(Default)]
struct Maps {
    tenants: HashMap<Uuid, Arc<TenantState>>,
    by_hash: HashMap<[u8; 32], Arc<KeyState>>,
    by_id: HashMap<Uuid, Arc<KeyState>>,
}

#[derive(Default)]
pub struct Registry {
    maps: RwLock<Maps>,
}

impl Registry {
    pub fn new(tenants: &[Tenant], keys: &[ApiKey]) -> Registry {
        let registry = Registry::default();
        for t in tenants {
            registry.upsert_tenant(t);
        }
        for k in keys {
            registry.upsert_key(k);
        }
        registry
    }

    pub fn upsert_tenant(&self, t: &Tenant) {
        let mut maps = self.maps.write();
        let state = maps.tenants.entry(t.id).or_insert_with(|| {
            Arc::new(TenantState {
                id: t.id,
                slug: t.slug.clone(),
                rate_override: AtomicU32::new(NO_OVERRIDE),
                strict_by_default: AtomicBool::new(false),
                maintenance: AtomicBool::new(false),
            })
        });
        state.maintenance.store(t.maintenance, Ordering::Relaxed);
        state.set_override(t.rate_limit_per_minute);
        state.strict_by_default.store(t.scim_profile == ScimProfile::Strict, Ordering::Relaxed);
    }

    /// Adds or replaces a key; a key of an unknown tenant is ignored (cannot authenticate).
    pub fn upsert_key(&self, k: &ApiKey) {
        let mut maps = self.maps.write();
        let Some(tenant) = maps.tenants.get(&k.tenant_id).cloned() else {
            return;
        };
        let state = Arc::new(KeyState {
            id: k.id,
            tenant,
            scopes: ScopeSet::from_stored(&k.scopes),
            description: k.description.clone(),
            expires_at: k.expires_at,
            own_scim_profile: k.scim_profile,
            revoked: AtomicBool::new(k.revoked_at.is_some()),
            last_used: AtomicI64::new(k.last_used_at.unwrap_or(0)),
            last_used_dirty: AtomicBool::new(false),
            bucket: Bucket::default(),
            quirks: Mutex::new(BTreeMap::new()),
        });
        if let Some(old) = maps.by_id.insert(k.id, state.clone()) {
            // Keep in-memory use the store has not seen yet.
            state.last_used.fetch_max(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
            *state.quirks.lock() = old.quirks();
        }
        maps.by_hash.insert(k.hash, state);
    }

    /// Forgets a deleted tenant and its keys: they authenticate no more.
    pub fn remove_tenant(&self, id: Uuid) {
        let mut maps = self.maps.write();
        maps.tenants.remove(&id);
        maps.by_id.retain(|_, k| k.tenant.id != id);
        maps.by_hash.retain(|_, k| k.tenant.id != id);
    }

    pub fn revoke(&self, id: Uuid) {
        if let Some(key) = self.maps.read().by_id.get(&id) {
            key.revoked.store(true, Ordering::Release);
        }
    }

    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<Arc<KeyState>> {
        self.maps.read().by_hash.get(hash).cloned()
    }

    pub fn by_id(&self, id: Uuid) -> Option<Arc<KeyState>> {
        self.maps.read().by_id.get(&id).cloned()
    }

    /// Last-used times not yet written to the store; clears their dirty marks.
    pub fn take_last_used(&self) -> Vec<(Uuid, i64)> {
        let maps = self.maps.read();
        maps.by_id
            .values()
            .filter(|k| k.last_used_dirty.swap(false, Ordering::AcqRel))
            .filter_map(|k| k.last_used().map(|t| (k.id, t)))
            .collect()
    }
}
