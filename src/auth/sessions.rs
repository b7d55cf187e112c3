//! Web console sessions and one-time sign-in links, in memory (a restart signs everyone out,
//! which is what an admin expects of a server restart). A session names the key it was opened
//! with; the console checks that key on every request, so revoking it ends the session.

use std::collections::HashMap;

use parking_lot::Mutex;
use uuid::Uuid;

/// An open session.
#[derive(Debug, Clone)]
pub struct Session {
    pub key_id: Uuid,
    pub tenant: Uuid,
    /// Opened by a `console login` link: the server admin's authority (keys made here may be
    /// permanent), on a key of its own that logging out revokes.
    pub by_link: bool,
    /// Sent back with every state-changing request (a form field or `X-CSRF-Token`).
    pub csrf: String,
    last_seen: i64,
}

struct Link {
    tenant_slug: String,
    issued_at: i64,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    links: HashMap<String, Link>,
    /// Where the console is reached, for the links `console login` prints.
    origin: Option<String>,
}

/// How many sessions may be open: in all, per tenant and per key. Past a bound the session idle
/// longest makes room, among the same key's, else the same tenant's, else the largest tenant's:
/// one tenant's sign-ins never sign another tenant's admins out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub total: usize,
    pub per_tenant: usize,
    pub per_key: usize,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

impl Inner {
    /// The session to close before one more opens for `key` of `tenant`, if a bound is reached.
    fn making_room(&self, key: Uuid, tenant: Uuid, limits: Limits) -> Option<String> {
        let oldest = |keep: &dyn Fn(&Session) -> bool| {
            let of = self.sessions.iter().filter(|(_, s)| keep(s));
            of.min_by_key(|(_, s)| s.last_seen).map(|(id, _)| id.clone())
        };
        let count =
            |keep: &dyn Fn(&Session) -> bool| self.sessions.values().filter(|s| keep(s)).count();
        if count(&|s| s.key_id == key) >= limits.per_key.max(1) {
            return oldest(&|s| s.key_id == key);
        }
        if count(&|s| s.tenant == tenant) >= limits.per_tenant.max(1) {
            return oldest(&|s| s.tenant == tenant);
        }
        if self.sessions.len() >= limits.total.max(1) {
            let mut per: HashMap<Uuid, usize> = HashMap::new();
            for s in self.sessions.values() {
                *per.entry(s.tenant).or_default() += 1;
            }
            let largest = per.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t)?;
            return oldest(&|s| s.tenant == largest);
        }
        None
    }
}

/// A random token: 32 bytes, URL-safe base64.
pub fn token() -> Result<String, String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Sessions {
    /// Opens a session for `key_id` of `tenant`, making room within `limits`.
    pub fn open(
        &self,
        (key_id, tenant, by_link): (Uuid, Uuid, bool),
        now: i64,
        limits: Limits,
    ) -> Result<(String, Session), String> {
        let (id, csrf) = (token()?, token()?);
        let session = Session { key_id, tenant, by_link, csrf, last_seen: now };
        let mut inner = self.inner.lock();
        while let Some(victim) = inner.making_room(key_id, tenant, limits) {
            inner.sessions.remove(&victim);
        }
        inner.sessions.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The session `id`, if it was used within `idle_ms`; using it keeps it open.
    pub fn get(&self, id: &str, now: i64, idle_ms: i64) -> Option<Session> {
        let mut inner = self.inner.lock();
        let session = inner.sessions.get_mut(id)?;
        if now - session.last_seen > idle_ms {
            inner.sessions.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    pub fn close(&self, id: &str) {
        self.inner.lock().sessions.remove(id);
    }

    /// Ends every session opened with `key_id`.
    pub fn close_for_key(&self, key_id: Uuid) {
        self.inner.lock().sessions.retain(|_, s| s.key_id != key_id);
    }

    /// A single-use sign-in token for `tenant_slug`.
    pub fn issue_link(&self, tenant_slug: &str, now: i64) -> Result<String, String> {
        let t = token()?;
        let mut inner = self.inner.lock();
        // Unused links do not pile up: those older than a day are gone whatever the setting.
        inner.links.retain(|_, l| now - l.issued_at < 86_400_000);
        inner.links.insert(t.clone(), Link { tenant_slug: tenant_slug.to_owned(), issued_at: now });
        Ok(t)
    }

    /// Uses up `token`: its tenant if it was issued within `ttl_ms`, else None.
    pub fn redeem_link(&self, token: &str, now: i64, ttl_ms: i64) -> Option<String> {
        let link = self.inner.lock().links.remove(token)?;
        (now - link.issued_at <= ttl_ms).then_some(link.tenant_slug)
    }

    pub fn set_origin(&self, origin: String) {
        self.inner.lock().origin = Some(origin);
    }

    pub fn origin(&self) -> Option<String> {
        self.inner.lock().origin.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_sessions_close_and_links_work_once() {
        let s = Sessions::default();
        let key = Uuid::now_v7();
        let limits = Limits { total: 10, per_tenant: 10, per_key: 10 };
        let (id, opened) = s.open((key, Uuid::now_v7(), false), 0, limits).unwrap();
        assert_eq!(s.get(&id, 1_000, 5_000).unwrap().csrf, opened.csrf);
        // Used at 1 s, so still open at 5.9 s; idle past 5 s after that, closed.
        assert!(s.get(&id, 5_900, 5_000).is_some());
        assert!(s.get(&id, 11_000, 5_000).is_none());
        assert!(s.get(&id, 11_001, 5_000).is_none(), "closed for good");

        let link = s.issue_link("acme", 0).unwrap();
        assert_eq!(s.redeem_link(&link, 1, 600_000).as_deref(), Some("acme"));
        assert_eq!(s.redeem_link(&link, 2, 600_000), None, "single use");
        let late = s.issue_link("acme", 0).unwrap();
        assert_eq!(s.redeem_link(&late, 600_001, 600_000), None, "expired");
    }

    #[test]
    fn the_most_idle_session_makes_room_and_a_key_closes_its_own() {
        let s = Sessions::default();
        let (a, b, t) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let limits = Limits { total: 2, per_tenant: 2, per_key: 2 };
        let (first, _) = s.open((a, t, false), 0, limits).unwrap();
        let (second, _) = s.open((b, t, false), 1, limits).unwrap();
        let (third, _) = s.open((b, t, false), 2, limits).unwrap();
        assert!(s.get(&first, 3, 1_000).is_none());
        assert_eq!(s.count(), 2);
        s.close_for_key(b);
        assert!(s.get(&second, 3, 1_000).is_none() && s.get(&third, 3, 1_000).is_none());
    }

    #[test]
    fn one_tenants_sign_ins_evict_only_its_own_sessions() {
        let s = Sessions::default();
        let limits = Limits { total: 10, per_tenant: 4, per_key: 2 };
        let (quiet, busy) = (Uuid::now_v7(), Uuid::now_v7());
        let (kept, _) = s.open((Uuid::now_v7(), quiet, false), 0, limits).unwrap();
        // The busy tenant's keys sign in over and over: at most 2 a key, 4 for the tenant.
        let keys: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for (i, at) in (1..100).enumerate() {
            s.open((keys[i % 3], busy, false), at, limits).unwrap();
        }
        assert!(s.get(&kept, 100, 1_000_000).is_some(), "the quiet tenant's session stays");
        assert_eq!(s.count(), 5);
        // At the total bound the largest tenant gives way, not the one signing in.
        let limits = Limits { total: 5, per_tenant: 4, per_key: 2 };
        let (third, _) = s.open((Uuid::now_v7(), Uuid::now_v7(), false), 200, limits).unwrap();
        assert!(s.get(&kept, 201, 1_000_000).is_some() && s.get(&third, 201, 1_000_000).is_some());
        assert_eq!(s.count(), 5);
    }
}
