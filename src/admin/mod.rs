//! Admin operations. The CLI builds a `Request`; it is executed by the running server (over the
//! unix socket, so in-memory state changes at once) or, when no server runs, directly on the
//! store. Both paths call `execute`, and answer the same JSON.

pub mod socket;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::ScopeSet;
use crate::auth::app::KeyOrder;
use crate::auth::grant::Issuer;
use crate::auth::{App, IssuedKey};
use crate::repr::keys::{key_json, tenant_json};
use crate::repr::timestamp;
use crate::store::audit::{self, Actor};
use crate::store::keys::{ApiKey, ScimProfile};
use crate::store::{self, operator};
use crate::time::{in_from, now_ms};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    TenantCreate {
        slug: String,
        name: String,
        seats: u32,
    },
    TenantList,
    TenantShow {
        slug: String,
    },
    TenantSetSeats {
        slug: String,
        seats: u32,
    },
    /// None restores the server default; Some(0) is unlimited.
    TenantSetRateLimit {
        slug: String,
        per_minute: Option<u32>,
    },
    /// Provisioning writes answer 503 while on (the tenant is being moved).
    TenantSetMaintenance {
        slug: String,
        on: bool,
    },
    /// Writes the tenant into a new file (absolute path), to import on another instance.
    TenantExport {
        slug: String,
        to: std::path::PathBuf,
    },
    /// Loads a tenant export (absolute path) as a new tenant, renamed to `slug` if given.
    TenantImport {
        from: std::path::PathBuf,
        slug: Option<String>,
    },
    /// Deletes a tenant in maintenance with everything of it (after moving it away).
    TenantDelete {
        slug: String,
    },
    /// The tenant's keys without a profile of their own follow it.
    TenantSetScimProfile {
        slug: String,
        profile: ScimProfile,
    },
    KeyCreate {
        tenant: String,
        scopes: Vec<String>,
        description: String,
        expires_in: Option<String>,
        /// None: the tenant's default.
        #[serde(default)]
        scim_profile: Option<ScimProfile>,
    },
    /// None: follow the tenant's default.
    KeySetScimProfile {
        key_id: Uuid,
        profile: Option<ScimProfile>,
    },
    KeyList {
        tenant: String,
    },
    KeyRevoke {
        key_id: Uuid,
    },
    KeyRotate {
        key_id: Uuid,
    },
    /// Makes a user the tenant's account owner, whom no API may deactivate or delete.
    UserSetOwner {
        tenant: String,
        user_id: Uuid,
    },
    /// Users of a tenant; with `deleted`, those deleted through SCIM (kept for audit).
    UserList {
        tenant: String,
        deleted: bool,
    },
    RoomCreate {
        tenant: String,
        name: String,
    },
    RoomList {
        tenant: String,
    },
    /// Deletes the room and all its memberships (unlike the APIs, which only unmap).
    RoomDelete {
        tenant: String,
        room_id: Uuid,
    },
    /// Copies the store, consistently, into a new file (absolute path: the server's cwd differs).
    Backup {
        to: std::path::PathBuf,
    },
    /// The tenant's SET receivers, with how many events each has queued.
    ReceiverList {
        tenant: String,
    },
    /// The SET signing keys.
    SetKeyList,
    /// Makes a new SET signing key current (the old one stays published a while).
    SetKeyRotate,
    /// Verifies indexes, counters and memberships; changes nothing.
    Check,
    /// Version, schema, store size, tenants, users, webhook backlog, last commit.
    Status,
    /// A one-time console sign-in link for the tenant (the running server keeps it).
    ConsoleLogin {
        tenant: String,
    },
    /// The tenant's audit log after `after`, at most `limit` entries.
    AuditList {
        tenant: String,
        after: u64,
        limit: u64,
    },
    /// The tenant's provisioning log after `after`: failed entries only when `failed`, those at
    /// or after `since_ms` when set; at most `limit`.
    ProvisioningLog {
        tenant: String,
        after: u64,
        failed: bool,
        since_ms: Option<i64>,
        limit: u64,
    },
    /// The tenant's webhook registrations, with how many events each has queued.
    WebhookList {
        tenant: String,
    },
    /// A registration's deliveries, newest first (queued events first), at most `limit`.
    WebhookDeliveries {
        tenant: String,
        webhook_id: Uuid,
        limit: u64,
    },
    /// A new signing secret; the replaced one signs beside it for `overlap_ms`.
    WebhookRotateSecret {
        tenant: String,
        webhook_id: Uuid,
        overlap_ms: i64,
    },
    /// Stop signing with a rotation's replaced secret now.
    WebhookEndOverlap {
        tenant: String,
        webhook_id: Uuid,
    },
}

impl Request {
    /// Whether running it on a data directory without a store makes sense (else it is a typo).
    pub fn may_create_store(&self) -> bool {
        matches!(self, Request::TenantCreate { .. } | Request::TenantImport { .. })
    }

    /// `e` as the operator reads it: what was not found is named as they typed it (`tenant acme
    /// not found`).
    pub fn message(&self, e: &store::Error) -> String {
        let store::Error::Refused(store::Refusal::NotFound(what)) = e else { return e.to_string() };
        let named = match (self, *what) {
            (
                Request::TenantShow { slug }
                | Request::TenantSetSeats { slug, .. }
                | Request::TenantSetRateLimit { slug, .. }
                | Request::TenantSetScimProfile { slug, .. }
                | Request::TenantSetMaintenance { slug, .. }
                | Request::TenantExport { slug, .. }
                | Request::TenantDelete { slug },
                "tenant",
            ) => slug.clone(),
            (
                Request::KeyCreate { tenant, .. }
                | Request::KeyList { tenant }
                | Request::UserSetOwner { tenant, .. }
                | Request::UserList { tenant, .. }
                | Request::RoomCreate { tenant, .. }
                | Request::RoomList { tenant }
                | Request::RoomDelete { tenant, .. }
                | Request::ConsoleLogin { tenant }
                | Request::AuditList { tenant, .. }
                | Request::ProvisioningLog { tenant, .. }
                | Request::WebhookList { tenant }
                | Request::ReceiverList { tenant }
                | Request::WebhookDeliveries { tenant, .. }
                | Request::WebhookRotateSecret { tenant, .. }
                | Request::WebhookEndOverlap { tenant, .. },
                "tenant",
            ) => tenant.clone(),
            (
                Request::KeyRevoke { key_id }
                | Request::KeyRotate { key_id, .. }
                | Request::KeySetScimProfile { key_id, .. },
                _,
            ) => key_id.to_string(),
            (Request::UserSetOwner { user_id, .. }, "user") => user_id.to_string(),
            (Request::RoomDelete { room_id, .. }, "room") => room_id.to_string(),
            (
                Request::WebhookDeliveries { webhook_id, .. }
                | Request::WebhookRotateSecret { webhook_id, .. }
                | Request::WebhookEndOverlap { webhook_id, .. },
                "webhook",
            ) => webhook_id.to_string(),
            _ => return e.to_string(),
        };
        format!("{what} {named} not found")
    }
}

/// An admin command's failure: what went wrong, and the stable code the API gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub message: String,
    pub code: String,
}

impl From<String> for Failed {
    fn from(message: String) -> Failed {
        Failed { message, code: "FAILED".into() }
    }
}

impl From<store::Error> for Failed {
    /// A refusal has the API's code; a storage failure is named here (the API's mapping would
    /// log it, and the operator sees the message anyway).
    fn from(e: store::Error) -> Failed {
        use store::Failure;
        let message = e.to_string();
        let code = match e {
            store::Error::Refused(r) => crate::http::error::ApiError::from(r).code(),
            store::Error::Failed(Failure::Locked) => "STORE_LOCKED",
            store::Error::Failed(Failure::TooNew { .. }) => "STORE_TOO_NEW",
            store::Error::Failed(Failure::Io { .. }) => "STORE_UNWRITABLE",
            store::Error::Failed(Failure::LogLoss(_)) => "STORE_LOG_LOSS",
            store::Error::Failed(Failure::Unavailable) => "UNAVAILABLE",
            store::Error::Failed(_) => "INTERNAL",
        };
        Failed { message, code: code.to_owned() }
    }
}

/// A tenant's webhooks (or its SET receivers), each with how many events wait in its outbox.
async fn registrations(app: &App, tenant: String, sets: bool) -> Result<Vec<Value>, store::Error> {
    app.store
        .read(move |tx| {
            let t = store::tenants::get_by_slug(tx, &tenant)?;
            let (list, shown): (_, fn(&store::webhooks::Webhook) -> Value) = match sets {
                true => {
                    (store::webhooks::receivers(tx, t.id)?, crate::repr::webhooks::receiver_json)
                }
                false => (store::webhooks::list(tx, t.id)?, crate::repr::webhooks::hook_json),
            };
            let mut all = Vec::new();
            for hook in list {
                let queued = store::webhooks::outbox_for(tx, t.id, hook.id)?.len();
                let mut row = shown(&hook);
                crate::repr::input::set_field(&mut row, "queued", json!(queued));
                all.push(row);
            }
            Ok(all)
        })
        .await
}

/// Who the admin commands act as, in the audit log.
const CLI: Actor = Actor::Cli;

pub async fn execute(app: &App, req: Request) -> Result<Value, store::Error> {
    match req {
        Request::TenantCreate { slug, name, seats } => {
            let t = app.create_tenant(&slug, &name, seats, &CLI).await?;
            Ok(tenant_json(&t, 0))
        }
        Request::SetKeyList | Request::SetKeyRotate => {
            // Offline, nothing has loaded them yet (and a store without any gets its first).
            if app.signing.current().is_none() {
                app.signing.load(&app.store, None).await?;
            }
            let rotated = match req {
                Request::SetKeyRotate => Some(app.signing.rotate(&app.store, now_ms()).await?),
                _ => None,
            };
            let keys: Vec<Value> = app
                .signing
                .describe()
                .into_iter()
                .map(|(id, created, retired)| {
                    json!({"kid": id, "created_at": timestamp(Some(created)),
                        "retired_at": timestamp(retired)})
                })
                .collect();
            Ok(json!({"current": app.signing.current(), "rotated": rotated, "keys": keys}))
        }
        Request::TenantList => {
            let list = app.tenants().await?;
            Ok(
                json!({"tenants": list.iter().map(|(t, used)| tenant_json(t, *used)).collect::<Vec<_>>()}),
            )
        }
        Request::TenantShow { slug } => {
            let (t, used) = app.tenant(&slug).await?;
            Ok(tenant_json(&t, used))
        }
        Request::TenantSetSeats { slug, seats } => {
            app.set_seats(&slug, seats, &CLI).await?;
            let (t, used) = app.tenant(&slug).await?;
            Ok(tenant_json(&t, used))
        }
        Request::TenantSetRateLimit { slug, per_minute } => {
            app.set_rate_limit(&slug, per_minute, &CLI).await?;
            let (t, used) = app.tenant(&slug).await?;
            Ok(tenant_json(&t, used))
        }
        Request::TenantSetMaintenance { slug, on } => {
            app.set_maintenance(&slug, on, &CLI).await?;
            let (t, used) = app.tenant(&slug).await?;
            Ok(tenant_json(&t, used))
        }
        Request::TenantExport { slug, to } => {
            let summary = app.export_tenant(&slug, &to, &CLI).await?;
            let bytes = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
            let mut answer =
                serde_json::to_value(&summary).map_err(|e| store::Error::invalid(e.to_string()))?;
            crate::repr::input::set_field(&mut answer, "file", json!(to));
            crate::repr::input::set_field(&mut answer, "bytes", json!(bytes));
            Ok(answer)
        }
        Request::TenantDelete { slug } => {
            let (t, rows) = app.delete_tenant(&slug).await?;
            Ok(json!({"deleted": t.slug, "id": t.id, "rows": rows}))
        }
        Request::TenantImport { from, slug } => {
            let (t, summary) = app.import_tenant(&from, slug, &CLI).await?;
            let (t, used) = app.tenant(&t.slug).await?;
            let imported =
                serde_json::to_value(&summary).map_err(|e| store::Error::invalid(e.to_string()))?;
            Ok(json!({"tenant": tenant_json(&t, used), "imported": imported}))
        }
        Request::TenantSetScimProfile { slug, profile } => {
            app.set_tenant_scim_profile(&slug, profile, &CLI).await?;
            let (t, used) = app.tenant(&slug).await?;
            Ok(tenant_json(&t, used))
        }
        Request::KeySetScimProfile { key_id, profile } => {
            let key = app.set_key_scim_profile(key_id, profile, &CLI).await?;
            Ok(key_json(&key, &tenant_slug(app, &key).await?, now_ms()))
        }
        Request::KeyCreate { tenant, scopes, description, expires_in, scim_profile } => {
            let scopes = ScopeSet::resolve_all(&scopes).map_err(store::Error::invalid)?;
            let expires_at =
                in_from(expires_in.as_deref(), now_ms()).map_err(store::Error::invalid)?;
            let order = KeyOrder { scopes, description: &description, expires_at, scim_profile };
            let issued = app.issue_key(&tenant, order, Issuer::Root, &CLI).await?;
            Ok(issued_json(&issued, &tenant))
        }
        Request::KeyList { tenant } => {
            let (t, keys) = app.keys(&tenant).await?;
            let now = now_ms();
            Ok(json!({"keys": keys.iter().map(|k| key_json(k, &t.slug, now)).collect::<Vec<_>>()}))
        }
        Request::KeyRevoke { key_id } => {
            let key = app.revoke_key(key_id, &CLI).await?;
            Ok(key_json(&key, &tenant_slug(app, &key).await?, now_ms()))
        }
        Request::UserSetOwner { tenant, user_id } => {
            let now = now_ms();
            let t = app
                .store
                .write(move |txn| operator::set_owner(txn, &tenant, user_id, &CLI, now))
                .await?;
            let (t, used) = app.tenant(&t.slug).await?;
            Ok(tenant_json(&t, used))
        }
        Request::UserList { tenant, deleted } => {
            let list = app
                .store
                .read(move |tx| {
                    let t = store::tenants::get_by_slug(tx, &tenant)?;
                    if deleted {
                        return store::users::list_deleted(tx, t.id);
                    }
                    let mut all = Vec::new();
                    store::users::scan(tx, t.id, 0, |u| {
                        all.push(u);
                        Ok(true)
                    })?;
                    Ok(all)
                })
                .await?;
            Ok(json!({"users": list.iter().map(user_json).collect::<Vec<_>>()}))
        }
        Request::RoomCreate { tenant, name } => {
            let (id, now) = (Uuid::now_v7(), now_ms());
            let room = app
                .store
                .write(move |txn| {
                    let t = store::tenants::get_by_slug(txn, &tenant)?;
                    operator::create_room(txn, t.id, (id, &name), &CLI, now)
                })
                .await?;
            Ok(crate::repr::rooms::room_json(&room))
        }
        Request::RoomList { tenant } => {
            let list = app
                .store
                .read(move |tx| -> crate::store::Result<_> {
                    let t = store::tenants::get_by_slug(tx, &tenant)?;
                    let mut all = Vec::new();
                    store::rooms::scan(tx, t.id, 0, |r| {
                        all.push(crate::repr::rooms::room_json(&r));
                        Ok(true)
                    })?;
                    Ok(all)
                })
                .await?;
            Ok(json!({ "rooms": list }))
        }
        Request::Backup { to } => {
            let started = std::time::Instant::now();
            let rows = app.store.backup(to.clone()).await?;
            let bytes = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
            Ok(json!({"backup": to, "rows": rows, "bytes": bytes,
                "duration_ms": crate::time::elapsed_ms(started)}))
        }
        Request::ConsoleLogin { tenant } => {
            let (t, _) = app.tenant(&tenant).await?;
            let now = now_ms();
            let token = app
                .sessions
                .issue_link(&t.slug, now)
                .map_err(|_| store::Error::Failed(store::Failure::Unavailable))?;
            let path = format!("/console/login/{token}");
            let url = app.sessions.origin().map(|origin| format!("{origin}{path}"));
            Ok(json!({"tenant": t.slug, "path": path, "url": url}))
        }
        Request::WebhookList { tenant } => {
            let list = registrations(app, tenant, false).await?;
            Ok(json!({ "webhooks": list }))
        }
        Request::ReceiverList { tenant } => {
            let list = registrations(app, tenant, true).await?;
            Ok(json!({ "receivers": list }))
        }
        Request::WebhookDeliveries { tenant, webhook_id, limit } => {
            let limit = limit.clamp(1, 10_000);
            let list = app
                .store
                .read(move |tx| {
                    let t = store::tenants::get_by_slug(tx, &tenant)?;
                    store::webhooks::recent_deliveries(tx, t.id, webhook_id, limit)
                })
                .await?;
            let list: Vec<Value> = list.iter().map(crate::repr::webhooks::delivery_json).collect();
            Ok(json!({ "deliveries": list }))
        }
        Request::WebhookRotateSecret { tenant, webhook_id, overlap_ms } => {
            let secret = crate::webhooks::send::new_secret()
                .map_err(|e| store::Error::Failed(store::Failure::Storage(e)))?;
            let fresh = secret.clone();
            let hook = app
                .store
                .write(move |txn| {
                    let t = store::tenants::get_by_slug(txn, &tenant)?;
                    let (id, overlap, now) = (webhook_id, overlap_ms, now_ms());
                    store::webhooks::rotate_secret(txn, t.id, id, &fresh, overlap, &CLI, now)
                })
                .await?;
            let mut out = crate::repr::webhooks::hook_json(&hook);
            crate::repr::input::set_field(&mut out, "secret", json!(secret));
            Ok(out)
        }
        Request::WebhookEndOverlap { tenant, webhook_id } => {
            let hook = app
                .store
                .write(move |txn| {
                    let t = store::tenants::get_by_slug(txn, &tenant)?;
                    store::webhooks::end_overlap(txn, t.id, webhook_id, &CLI, now_ms())
                })
                .await?;
            Ok(crate::repr::webhooks::hook_json(&hook))
        }
        Request::AuditList { tenant, after, limit } => {
            let limit = usize::try_from(limit.clamp(1, 10_000)).unwrap_or(usize::MAX);
            let entries = app
                .store
                .read(move |tx| {
                    let t = store::tenants::get_by_slug(tx, &tenant)?;
                    audit::after(tx, t.id, after, limit)
                })
                .await?;
            let next_after = entries.last().map_or(after, |e| e.seq);
            let entries: Vec<Value> = entries.iter().map(crate::repr::keys::audit_json).collect();
            Ok(json!({"entries": entries, "next_after": next_after}))
        }
        Request::ProvisioningLog { tenant, after, failed, since_ms, limit } => {
            use store::provisioning::{Direction, Filter};
            let limit = usize::try_from(limit.clamp(1, 10_000)).unwrap_or(usize::MAX);
            let filter =
                Filter { failed: failed.then_some(true), since: since_ms, ..Filter::default() };
            let page = app
                .store
                .read(move |tx| {
                    let t = store::tenants::get_by_slug(tx, &tenant)?;
                    // Examining is bounded only by the page: an operator's command may take a while.
                    store::provisioning::page(
                        tx,
                        t.id,
                        &filter,
                        Direction::After(after),
                        limit,
                        usize::MAX,
                    )
                })
                .await?;
            let next_after = page.entries.last().map_or(after, |e| e.seq);
            let entries: Vec<Value> =
                page.entries.iter().map(crate::repr::provisioning::entry_json).collect();
            Ok(json!({"entries": entries, "next_after": next_after}))
        }
        Request::Status => {
            let last =
                app.store.writer_stats().last_commit_at.load(std::sync::atomic::Ordering::Relaxed);
            let age = (last > 0).then(|| now_ms().saturating_sub(last));
            // While the store is being reopened after a failed write, its counts cannot be read:
            // the status says what it knows instead of failing.
            let mut answer = match app.store.read(store::status).await {
                Ok(status) => status_json(Some(&status), app.store.path(), true, age),
                Err(e) if e.is_io() => {
                    let mut known = status_json(None, app.store.path(), true, age);
                    crate::repr::input::set_field(&mut known, "unreadable", json!(e.to_string()));
                    known
                }
                Err(e) => return Err(e),
            };
            if let Some((since, free)) = app.store.refusing_writes() {
                crate::repr::input::set_field(
                    &mut answer,
                    "writes_refused_since",
                    json!(crate::time::format_ms(since)),
                );
                crate::repr::input::set_field(&mut answer, "disk_free_bytes", json!(free));
            }
            Ok(answer)
        }
        Request::Check => {
            let report = app.store.read(store::check::run).await?;
            serde_json::to_value(&report)
                .map_err(|e| store::Error::Failed(store::Failure::Storage(e.to_string())))
        }
        Request::RoomDelete { tenant, room_id } => {
            let now = now_ms();
            let room = app
                .store
                .write(move |txn| {
                    let t = store::tenants::get_by_slug(txn, &tenant)?;
                    operator::delete_room(txn, t.id, room_id, &CLI, now)
                })
                .await?;
            Ok(crate::repr::rooms::room_json(&room))
        }
        Request::KeyRotate { key_id } => {
            let issued = app.rotate_key(key_id, Issuer::Root, None, &CLI).await?;
            let slug = tenant_slug(app, &issued.key).await?;
            let mut out = issued_json(&issued, &slug);
            crate::repr::input::set_field(&mut out, "replaces", json!(key_id));
            Ok(out)
        }
    }
}

async fn tenant_slug(app: &App, key: &ApiKey) -> Result<String, store::Error> {
    let id = key.tenant_id;
    app.store.read(move |tx| Ok(store::tenants::get(tx, id)?.slug)).await
}

fn user_json(u: &store::users::User) -> Value {
    let mut v = crate::repr::users::user_json(u);
    crate::repr::input::set_field(&mut v, "deleted_at", timestamp(u.deleted_at));
    v
}

fn issued_json(issued: &IssuedKey, tenant_slug: &str) -> Value {
    crate::repr::keys::issued_json(&issued.key, tenant_slug, &issued.secret, now_ms())
}

/// `status`'s answer; `running` says whether a server answered (else the store was read
/// directly, and there is no last commit to tell).
/// `status`'s answer; without a `status` (the store cannot be read now) its counts are null.
pub fn status_json(
    status: Option<&store::Status>,
    store_file: &std::path::Path,
    running: bool,
    last_commit_age_ms: Option<i64>,
) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "server_running": running,
        "schema_version": status.map(|s| s.schema_version),
        "store_file": store_file,
        "store_bytes": std::fs::metadata(store_file).map(|m| m.len()).unwrap_or(0),
        "tenants": status.map(|s| s.tenants),
        "users": status.map(|s| s.users),
        "webhook_backlog": status.map(|s| s.webhook_backlog),
        "last_commit_age_ms": last_commit_age_ms,
    })
}
