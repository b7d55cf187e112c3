//! Token buckets: one per key (living in the key's registry entry, so keys never contend with
//! each other) and a sharded map of buckets per client address for failed authentications.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::time::Instant;

use parking_lot::Mutex;

/// The outcome of taking a token, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// `limit` 0 means unlimited: no headers are sent.
    Allowed {
        limit: u32,
        remaining: u32,
        reset_secs: u32,
    },
    Limited {
        limit: u32,
        retry_after_secs: u32,
        reset_secs: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct State {
    tokens: f64,
    last: Instant,
}

impl State {
    fn full(per_minute: u32, now: Instant) -> State {
        State { tokens: f64::from(per_minute), last: now }
    }

    /// Refills for the time since the last call, then takes one token if there is one.
    fn take(&mut self, per_minute: u32, now: Instant) -> Decision {
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.last = now;
        let secs = |tokens_missing: f64| whole_secs(tokens_missing / rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Decision::Allowed {
                limit: per_minute,
                remaining: whole_secs(self.tokens.floor()),
                reset_secs: secs(capacity - self.tokens),
            }
        } else {
            Decision::Limited {
                limit: per_minute,
                retry_after_secs: secs(1.0 - self.tokens).max(1),
                reset_secs: secs(capacity - self.tokens),
            }
        }
    }

    fn tokens_at(&self, per_minute: u32, now: Instant) -> f64 {
        let rate = f64::from(per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * rate).min(f64::from(per_minute))
    }
}

/// One key's bucket. The limit is passed on every call so a tenant's new override applies at
/// once; a bucket starts full.
#[derive(Debug)]
pub struct Bucket(Mutex<Option<State>>);

impl Default for Bucket {
    fn default() -> Self {
        Bucket(Mutex::new(None))
    }
}

impl Bucket {
    pub fn take(&self, per_minute: u32, now: Instant) -> Decision {
        if per_minute == 0 {
            return Decision::Allowed { limit: 0, remaining: 0, reset_secs: 0 };
        }
        let mut state = self.0.lock();
        state.get_or_insert_with(|| State::full(per_minute, now)).take(per_minute, now)
    }
}

const SHARDS: usize = 16;
/// Past this many tracked addresses in a shard, forgiven entries are dropped early.
const SHARD_SOFT_CAP: usize = 16_384;

/// Failed authentications per client address. An address that has used up its allowance is
/// refused before its key is even looked at, so guessing keys runs at `per_minute` per address.
pub struct FailureLimiter {
    per_minute: u32,
    hasher: RandomState,
    shards: [Mutex<HashMap<IpAddr, State>>; SHARDS],
}

impl FailureLimiter {
    pub fn new(per_minute: u32) -> FailureLimiter {
        FailureLimiter {
            per_minute,
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, State>> {
        let i = self.hasher.hash_one(ip) % SHARDS as u64;
        #[expect(clippy::indexing_slicing, reason = "reduced modulo SHARDS, the array's length")]
        &self.shards[usize::try_from(i).unwrap_or(0)]
    }

    /// Seconds to wait if `ip` may not try now.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u32> {
        if self.per_minute == 0 {
            return None;
        }
        let shard = self.shard(&ip).lock();
        let tokens = shard.get(&ip)?.tokens_at(self.per_minute, now);
        (tokens < 1.0).then(|| whole_secs((1.0 - tokens) * 60.0 / f64::from(self.per_minute)))
    }

    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let per_minute = self.per_minute;
        let mut shard = self.shard(&ip).lock();
        if shard.len() >= SHARD_SOFT_CAP {
            shard.retain(|_, s| s.tokens_at(per_minute, now) < f64::from(per_minute));
        }
        shard.entry(ip).or_insert_with(|| State::full(per_minute, now)).take(per_minute, now);
    }

    /// Forgets addresses whose allowance has refilled; run periodically.
    pub fn prune(&self, now: Instant) {
        let per_minute = self.per_minute;
        for shard in &self.shards {
            shard.lock().retain(|_, s| s.tokens_at(per_minute, now) < f64::from(per_minute));
        }
    }
}

/// A non-negative count of seconds (or tokens), rounded up, saturating at `u32::MAX`.
fn whole_secs(x: f64) -> u32 {
    // `as` from f64 saturates (and maps NaN to 0), so this cannot truncate silently.
    #[expect(clippy::cast_possible_truncation, reason = "f64 to u32 `as` saturates")]
    let n = x.ceil().clamp(0.0, f64::from(u32::MAX)) as u32;
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_the_limit_then_refills() {
        let b = Bucket::default();
        let t0 = Instant::now();
        for i in 0..600 {
            assert!(matches!(b.take(600, t0), Decision::Allowed { .. }), "request {i}");
        }
        match b.take(600, t0) {
            Decision::Limited { retry_after_secs, limit, .. } => {
                assert_eq!(limit, 600);
                assert_eq!(retry_after_secs, 1);
            }
            other => panic!("expected limited, got {other:?}"),
        }
        // 10 tokens per second come back.
        let later = t0 + Duration::from_millis(1000);
        for _ in 0..10 {
            assert!(matches!(b.take(600, later), Decision::Allowed { .. }));
        }
        assert!(matches!(b.take(600, later), Decision::Limited { .. }));
        assert!(matches!(b.take(0, later), Decision::Allowed { limit: 0, .. }));
    }

    #[test]
    fn failures_block_an_address_and_not_others() {
        let l = FailureLimiter::new(3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.blocked(a, t0), None);
            l.record_failure(a, t0);
        }
        assert_eq!(l.blocked(a, t0), Some(20));
        assert_eq!(l.blocked(b, t0), None);
        assert_eq!(l.blocked(a, t0 + Duration::from_secs(21)), None);
        l.prune(t0 + Duration::from_secs(120));
        assert!(l.shards.iter().all(|s| s.lock().is_empty()));
    }
}
