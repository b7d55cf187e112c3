//! The store paired with the in-memory key registry, and the operations that must change both
//! together (a key created or revoked is usable or dead the moment its commit lands).
//! The admin socket and the offline CLI both call these.

use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use super::grant::{self, GrantError, Issuer};
use super::{Registry, ScopeSet, secret};
use crate::store::audit::{self, Actor, Field};
use crate::store::keys::{ApiKey, ScimProfile};
use crate::store::{self, Store, counters, keys, tenants, tenants::Tenant};
use crate::time::{format_ms, now_ms};

pub type Result<T> = std::result::Result<T, store::Error>;

/// A key asked for: what `App::issue_key` checks against its issuer.
pub struct KeyOrder<'a> {
    pub scopes: ScopeSet,
    pub description: &'a str,
    /// None: never expires (a key issuer's own expiry when it has one).
    pub expires_at: Option<i64>,
    /// None: the tenant's default.
    pub scim_profile: Option<ScimProfile>,
}

/// Why a key was not issued: its issuer may not grant it, or the store said no.
#[derive(Debug)]
pub enum Refused {
    Grant(GrantError),
    Store(store::Error),
}

impl From<GrantError> for Refused {
    fn from(e: GrantError) -> Refused {
        Refused::Grant(e)
    }
}

/// For the admin socket, whose errors are the store's: root is refused only an expiry past.
impl From<Refused> for store::Error {
    fn from(e: Refused) -> store::Error {
        match e {
            Refused::Grant(e) => store::Error::invalid(e.to_string()),
            Refused::Store(e) => e,
        }
    }
}

impl From<store::Error> for Refused {
    fn from(e: store::Error) -> Refused {
        Refused::Store(e)
    }
}

/// A key just created, with the only copy of its secret.
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

pub struct App {
    pub store: Store,
    pub registry: Registry,
    /// The web console's sessions and sign-in links (the admin socket issues links).
    pub sessions: super::sessions::Sessions,
    /// The SET signing keys (`load`ed when the server starts).
    pub signing: super::signing::Keyring,
}

impl App {
    pub fn open(data_dir: &Path) -> Result<Arc<App>> {
        App::open_with_cache(data_dir, crate::store::DEFAULT_CACHE_BYTES)
    }

    /// `open` with a store page cache of `cache_bytes`.
    pub fn open_with_cache(data_dir: &Path, cache_bytes: usize) -> Result<Arc<App>> {
        App::with_store(Store::open_with_cache(data_dir, cache_bytes)?)
    }

    /// The keys and tenants of an open store.
    pub fn with_store(store: Store) -> Result<Arc<App>> {
        let (tenants, keys) = store.read_here(|tx| {
            Ok::<_, crate::store::Error>((tenants::list(tx)?, keys::list_all(tx)?))
        })?;
        let registry = Registry::new(&tenants, &keys);
        Ok(Arc::new(App {
            store,
            registry,
            sessions: Default::default(),
            signing: Default::default(),
        }))
    }

    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        seats: u32,
        actor: &Actor,
    ) -> Result<Tenant> {
        tenants::validate_slug(slug)?;
        let tenant = Tenant::new(Uuid::now_v7(), (slug, name), seats, now_ms());
        let (t, actor) = (tenant.clone(), actor.clone());
        self.store
            .write(move |txn| {
                tenants::create(txn, &t)?;
                let fields = vec![Field::set("name", &t.name), Field::set("seat_capacity", seats)];
                audit_tenant(txn, &t, &actor, "tenant.created", fields, t.created_at)
            })
            .await?;
        self.registry.upsert_tenant(&tenant);
        Ok(tenant)
    }

    /// A tenant with its seats in use.
    pub async fn tenant(&self, slug: &str) -> Result<(Tenant, u64)> {
        let slug = slug.to_owned();
        self.store
            .read(move |tx| {
                let t = tenants::get_by_slug(tx, &slug)?;
                let used = counters::get(tx, t.id, counters::SEATS_PROVISIONED)?;
                Ok((t, used))
            })
            .await
    }

    pub async fn tenants(&self) -> Result<Vec<(Tenant, u64)>> {
        self.store
            .read(|tx| {
                let mut out = Vec::new();
                for t in tenants::list(tx)? {
                    let used = counters::get(tx, t.id, counters::SEATS_PROVISIONED)?;
                    out.push((t, used));
                }
                Ok(out)
            })
            .await
    }

    /// Sets (None: the server default) a tenant's per-key rate limit.
    pub async fn set_rate_limit(
        &self,
        slug: &str,
        per_minute: Option<u32>,
        actor: &Actor,
    ) -> Result<Tenant> {
        self.change_tenant(slug, actor, "tenant.rate_limit_changed", move |t| {
            let shown = |v: Option<u32>| Some(v.map_or("default".into(), |n| n.to_string()));
            let field = Field::new("rate_limit", shown(t.rate_limit_per_minute), shown(per_minute));
            t.rate_limit_per_minute = per_minute;
            field
        })
        .await
    }

    /// Sets the SCIM profile of a tenant's keys that do not choose their own.
    pub async fn set_tenant_scim_profile(
        &self,
        slug: &str,
        profile: ScimProfile,
        actor: &Actor,
    ) -> Result<Tenant> {
        self.change_tenant(slug, actor, "tenant.scim_profile_changed", move |t| {
            let before = std::mem::replace(&mut t.scim_profile, profile);
            Field::new("scim_profile", Some(before.name().into()), Some(profile.name().into()))
        })
        .await
    }

    /// Puts a tenant in maintenance (provisioning writes answer 503) or takes it out.
    pub async fn set_maintenance(&self, slug: &str, on: bool, actor: &Actor) -> Result<Tenant> {
        self.change_tenant(slug, actor, "tenant.maintenance_changed", move |t| {
            let before = std::mem::replace(&mut t.maintenance, on);
            Field::new("maintenance", Some(before.to_string()), Some(on.to_string()))
        })
        .await
    }

    /// Writes tenant `slug` (one consistent state of it) into the new file `to`, and notes the
    /// export in its audit log: the file holds its webhooks' signing secrets.
    pub async fn export_tenant(
        &self,
        slug: &str,
        to: &Path,
        actor: &Actor,
    ) -> Result<store::transfer::Summary> {
        let (slug, to_owned, now) = (slug.to_owned(), to.to_owned(), now_ms());
        let summary =
            self.store.read(move |tx| store::transfer::export(tx, &slug, &to_owned, now)).await?;
        let (tenant, actor, rows) = (summary.header.tenant, actor.clone(), summary.rows);
        let file = to.display().to_string();
        self.store
            .write(move |txn| {
                let fields = vec![Field::set("file", &file), Field::set("rows", rows)];
                let target = tenants::get(txn, tenant)?.slug;
                audit::record(txn, tenant, &actor, ("tenant.exported", &target), fields, now)
            })
            .await?;
        Ok(summary)
    }

    /// Loads a tenant export (`tenant export`) as a new tenant, renamed to `slug` if given: its
    /// keys authenticate at once. Checked whole before anything is written.
    pub async fn import_tenant(
        &self,
        from: &Path,
        slug: Option<String>,
        actor: &Actor,
    ) -> Result<(Tenant, store::transfer::Summary)> {
        if let Some(slug) = &slug {
            tenants::validate_slug(slug)?;
        }
        let from = from.to_owned();
        let checked = from.clone();
        tokio::task::spawn_blocking(move || store::transfer::inspect(&checked))
            .await
            .map_err(|_| store::Error::Failed(store::Failure::Unavailable))??;
        let (actor, now) = (actor.clone(), now_ms());
        let (tenant, summary, keys) = self
            .store
            .write_whole(move |txn| {
                let (tenant, summary, keys) = store::transfer::import(txn, &from, slug.as_deref())?;
                let fields = vec![
                    Field::set("from", &summary.header.slug),
                    Field::set("exported_at", format_ms(summary.header.exported_at)),
                    Field::set("rows", summary.rows),
                ];
                audit_tenant(txn, &tenant, &actor, "tenant.imported", fields, now)?;
                Ok((tenant, summary, keys))
            })
            .await?;
        self.registry.upsert_tenant(&tenant);
        for key in &keys {
            self.registry.upsert_key(key);
        }
        Ok((tenant, summary))
    }

    /// Deletes tenant `slug` with every user, room, key, webhook and log of it: the last step of
    /// moving it away. Refused unless it is in maintenance (no identity provider is writing to
    /// it). Returns the rows removed.
    pub async fn delete_tenant(&self, slug: &str) -> Result<(Tenant, u64)> {
        let slug = slug.to_owned();
        let (tenant, rows) = self
            .store
            .write_whole(move |txn| {
                let tenant = tenants::get_by_slug(txn, &slug)?;
                if !tenant.maintenance {
                    return Err(store::Error::invalid(format!(
                        "tenant {slug} is not in maintenance: put it in maintenance first \
                         (tenant set-maintenance {slug} on), and delete it only once it has \
                         been moved or is no longer needed"
                    )));
                }
                let rows = store::transfer::remove(txn, &tenant)?;
                Ok((tenant, rows))
            })
            .await?;
        self.registry.remove_tenant(tenant.id);
        // Its audit log goes with it: the deletion is recorded in the server's log instead.
        tracing::warn!(tenant = %tenant.slug, id = %tenant.id, rows, "tenant deleted");
        Ok((tenant, rows))
    }

    /// Applies `change` to tenant `slug` (it says what changed), audited as `action`, and
    /// tells the registry.
    async fn change_tenant(
        &self,
        slug: &str,
        actor: &Actor,
        action: &'static str,
        change: impl Fn(&mut Tenant) -> Field + Send + Sync + 'static,
    ) -> Result<Tenant> {
        let (slug, now, actor) = (slug.to_owned(), now_ms(), actor.clone());
        let tenant = self
            .store
            .write(move |txn| -> crate::store::Result<_> {
                let mut t = tenants::get_by_slug(txn, &slug)?;
                let field = change(&mut t);
                tenants::put(txn, &t)?;
                audit_tenant(txn, &t, &actor, action, vec![field], now)?;
                Ok(t)
            })
            .await?;
        self.registry.upsert_tenant(&tenant);
        Ok(tenant)
    }

    /// Sets one key's SCIM profile (None: follow the tenant's default).
    pub async fn set_key_scim_profile(
        &self,
        id: Uuid,
        profile: Option<ScimProfile>,
        actor: &Actor,
    ) -> Result<ApiKey> {
        let actor = actor.clone();
        let key = self
            .store
            .write(move |txn| -> crate::store::Result<_> {
                let mut key = keys::get(txn, id)?;
                let shown =
                    |p: Option<ScimProfile>| Some(p.map_or("tenant default", |p| p.name()).into());
                let field = Field::new("scim_profile", shown(key.scim_profile), shown(profile));
                key.scim_profile = profile;
                keys::insert(txn, &key)?;
                audit_key(txn, &actor, "api_key.scim_profile_changed", &key, vec![field])?;
                Ok(key)
            })
            .await?;
        self.registry.upsert_key(&key);
        Ok(key)
    }

    /// Sets a tenant's seat capacity; a change is an event (`seats.capacity_changed`).
    pub async fn set_seats(&self, slug: &str, seats: u32, actor: &Actor) -> Result<Tenant> {
        let (slug, now, actor) = (slug.to_owned(), now_ms(), actor.clone());
        let tenant = self
            .store
            .write(move |txn| -> crate::store::Result<_> {
                let before = tenants::get_by_slug(txn, &slug)?.seat_capacity;
                let t = tenants::set_seats(txn, &slug, seats, now)?;
                let field =
                    Field::new("seat_capacity", Some(before.to_string()), Some(seats.to_string()));
                audit_tenant(txn, &t, &actor, "tenant.seats_changed", vec![field], now)?;
                Ok(t)
            })
            .await?;
        self.registry.upsert_tenant(&tenant);
        Ok(tenant)
    }

    /// A key of the admin's own (root): the bootstrap, a console sign-in link's session key.
    pub async fn create_key(
        &self,
        tenant_slug: &str,
        scopes: ScopeSet,
        description: &str,
        expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<IssuedKey> {
        let order = KeyOrder { scopes, description, expires_at, scim_profile: None };
        Ok(self.issue_key(tenant_slug, order, Issuer::Root, actor).await?)
    }

    /// Issues a key of the tenant `tenant_slug` as `issuer` may (the scopes it may grant, the
    /// life it may give: `grant::order`), with its audit entry: the one way the key API, the
    /// console and the admin socket make a key.
    pub async fn issue_key(
        &self,
        tenant_slug: &str,
        order: KeyOrder<'_>,
        issuer: Issuer<'_>,
        actor: &Actor,
    ) -> std::result::Result<IssuedKey, Refused> {
        let expires_at = grant::order(issuer, order.scopes, order.expires_at, now_ms())?;
        let mut issued = new_key(Uuid::nil(), order.scopes, order.description, expires_at)?;
        issued.key.scim_profile = order.scim_profile;
        let (slug, actor) = (tenant_slug.to_owned(), actor.clone());
        let draft = issued.key.clone();
        let key = self
            .store
            .write(move |txn| -> crate::store::Result<_> {
                let tenant = tenants::get_by_slug(txn, &slug)?;
                let key = ApiKey { tenant_id: tenant.id, ..draft.clone() };
                keys::insert(txn, &key)?;
                audit_key(txn, &actor, "api_key.created", &key, key_fields(&key))?;
                Ok(key)
            })
            .await?;
        self.registry.upsert_key(&key);
        Ok(IssuedKey { key, secret: issued.secret })
    }

    /// A tenant's keys, oldest first, with last-used times as the running server knows them.
    pub async fn keys(&self, tenant_slug: &str) -> Result<(Tenant, Vec<ApiKey>)> {
        let slug = tenant_slug.to_owned();
        let (tenant, mut list) = self
            .store
            .read(move |tx| -> crate::store::Result<_> {
                let tenant = tenants::get_by_slug(tx, &slug)?;
                let mut list = keys::list_all(tx)?;
                list.retain(|k| k.tenant_id == tenant.id);
                Ok((tenant, list))
            })
            .await?;
        for key in &mut list {
            if let Some(live) = self.registry.by_id(key.id).and_then(|k| k.last_used()) {
                key.last_used_at = key.last_used_at.max(Some(live));
            }
        }
        Ok((tenant, list))
    }

    pub async fn key(&self, id: Uuid) -> Result<ApiKey> {
        self.store.read(move |tx| keys::get(tx, id)).await
    }

    /// A key of `tenant` (another tenant's is not found, as an unknown one), with its live
    /// last use.
    pub async fn tenant_key(&self, tenant: Uuid, id: Uuid) -> Result<ApiKey> {
        let mut key = self.key(id).await?;
        if key.tenant_id != tenant {
            return Err(store::Error::not_found("API key"));
        }
        if let Some(live) = self.registry.by_id(id).and_then(|k| k.last_used()) {
            key.last_used_at = key.last_used_at.max(Some(live));
        }
        Ok(key)
    }

    pub async fn revoke_key(&self, id: Uuid, actor: &Actor) -> Result<ApiKey> {
        let (now, actor) = (now_ms(), actor.clone());
        let key = self
            .store
            .write(move |txn| -> crate::store::Result<_> {
                let before = keys::get(txn, id)?;
                let key = keys::revoke(txn, id, now)?;
                let field = Field::new("revoked_at", when(before.revoked_at), when(key.revoked_at));
                audit_key(txn, &actor, "api_key.revoked", &key, vec![field])?;
                Ok(key)
            })
            .await?;
        self.registry.revoke(id);
        Ok(key)
    }

    /// Issues a new key with the same tenant, scopes and description, expiring when the old one
    /// does but never after the life `issuer` may give (`grant::renewal`). The old one stays
    /// valid until it is revoked, or until `old_expires_at` when given (an overlap for the
    /// switch), so an integration can switch without downtime.
    pub async fn rotate_key(
        &self,
        id: Uuid,
        issuer: Issuer<'_>,
        old_expires_at: Option<i64>,
        actor: &Actor,
    ) -> std::result::Result<IssuedKey, Refused> {
        let old = self.key(id).await?;
        if old.revoked_at.is_some() {
            return Err(store::Error::invalid("the key is revoked; create a new one").into());
        }
        let scopes = ScopeSet::from_stored(&old.scopes);
        // A fresh secret for scopes the issuer lacks would be an escalation.
        let bound = grant::renewal(issuer, scopes, old.expires_at)?;
        let expires_at = match (old.expires_at, bound) {
            (Some(at), Some(limit)) => Some(at.min(limit)),
            (at, limit) => at.or(limit),
        };
        let mut issued = new_key(old.tenant_id, scopes, &old.description, expires_at)?;
        issued.key.scim_profile = old.scim_profile;
        let (key, actor) = (issued.key.clone(), actor.clone());
        let old = self
            .store
            .write(move |txn| {
                let mut old = keys::get(txn, id)?;
                // Checked again here: a revoke may have committed since the read above.
                if old.revoked_at.is_some() {
                    return Err(store::Error::invalid("the key is revoked; create a new one"));
                }
                keys::insert(txn, &key)?;
                let before = old.expires_at;
                // The overlap never lengthens the old key's life.
                old.expires_at = match (old_expires_at, before) {
                    (Some(at), Some(was)) => Some(at.min(was)),
                    (at, was) => at.or(was),
                };
                keys::insert(txn, &old)?;
                let fields = vec![
                    Field::set("replacement", key.id),
                    Field::new("expires_at", when(before), when(old.expires_at)),
                ];
                audit_key(txn, &actor, "api_key.rotated", &old, fields)?;
                audit_key(txn, &actor, "api_key.created", &key, key_fields(&key))?;
                Ok(old)
            })
            .await?;
        self.registry.upsert_key(&old);
        self.registry.upsert_key(&issued.key);
        Ok(issued)
    }

    /// Writes the last-used times gathered since the previous flush, in one mutation.
    pub async fn flush_last_used(&self) -> Result<usize> {
        let seen = self.registry.take_last_used();
        if seen.is_empty() {
            return Ok(0);
        }
        let n = seen.len();
        self.store.write(move |txn| keys::record_last_used(txn, &seen)).await?;
        Ok(n)
    }

    /// On an empty store: tenant `default` (100 seats) and one key holding every scope.
    pub async fn bootstrap(&self) -> Result<Option<(Tenant, IssuedKey)>> {
        let tenant = Tenant::new(Uuid::now_v7(), ("default", "Default"), 100, now_ms());
        let all = ScopeSet::resolve_all(&["all"]).map_err(store::Error::invalid)?;
        let issued = new_key(tenant.id, all, "bootstrap key (all scopes)", None)?;
        let (t, k) = (tenant.clone(), issued.key.clone());
        let created = self
            .store
            .write(move |txn| -> crate::store::Result<_> {
                if !tenants::is_new(txn)? {
                    return Ok(false);
                }
                tenants::mark_bootstrapped(txn, t.created_at)?;
                tenants::create(txn, &t)?;
                keys::insert(txn, &k)?;
                let fields = vec![Field::set("name", &t.name), Field::set("seat_capacity", 100)];
                audit_tenant(txn, &t, &Actor::System, "tenant.created", fields, t.created_at)?;
                audit_key(txn, &Actor::System, "api_key.created", &k, key_fields(&k))?;
                Ok(true)
            })
            .await?;
        if !created {
            return Ok(None);
        }
        self.registry.upsert_tenant(&tenant);
        self.registry.upsert_key(&issued.key);
        Ok(Some((tenant, issued)))
    }
}

/// An audit entry about tenant `t`, in its log.
fn audit_tenant(
    txn: &store::WriteTxn,
    t: &Tenant,
    actor: &Actor,
    action: &str,
    fields: Vec<Field>,
    at: i64,
) -> Result<()> {
    audit::record(txn, t.id, actor, (action, &t.slug), fields, at)
}

/// An audit entry about `key`, in its tenant's log.
fn audit_key(
    txn: &store::WriteTxn,
    actor: &Actor,
    action: &str,
    key: &ApiKey,
    fields: Vec<Field>,
) -> Result<()> {
    let target = key.id.to_string();
    audit::record(txn, key.tenant_id, actor, (action, &target), fields, now_ms())
}

/// What a new key's entry records: never its secret or hash.
fn key_fields(key: &ApiKey) -> Vec<Field> {
    vec![
        Field::set("description", &key.description),
        Field::set("scopes", key.scopes.join(" ")),
        Field::new("expires_at", None, when(key.expires_at)),
    ]
}

fn when(ms: Option<i64>) -> Option<String> {
    ms.map(format_ms)
}

fn new_key(
    tenant_id: Uuid,
    scopes: ScopeSet,
    description: &str,
    expires_at: Option<i64>,
) -> Result<IssuedKey> {
    let fresh = secret::generate().map_err(|e| store::Error::Failed(store::Failure::Storage(e)))?;
    let key = ApiKey {
        id: Uuid::now_v7(),
        tenant_id,
        hash: fresh.hash,
        prefix: fresh.prefix,
        description: description.to_owned(),
        scopes: scopes.names(),
        created_at: now_ms(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
        scim_profile: None,
    };
    Ok(IssuedKey { key, secret: fresh.secret })
}
