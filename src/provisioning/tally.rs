//! Per-client totals for the day (UTC), every provisioning request counted (reads too, which
//! the log does not store one by one): what the console's client cards show. Kept in memory
//! since the server started; the log holds the detail.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use uuid::Uuid;

/// One client's day in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientDay {
    pub client: String,
    pub requests: u64,
    pub failed: u64,
    /// Quirks its requests needed today, by name.
    pub quirks: BTreeMap<&'static str, u64>,
}

/// (tenant, client label) -> (day number, totals)
type Days = HashMap<(Uuid, &'static str), (i64, ClientDay)>;

#[derive(Default)]
pub struct Tally {
    days: Mutex<Days>,
}

impl Tally {
    pub fn count(
        &self,
        tenant: Uuid,
        (label, name): (&'static str, &str),
        failed: bool,
        quirks: &[&'static str],
        now_ms: i64,
    ) {
        let today = now_ms.div_euclid(86_400_000);
        let mut days = self.days.lock();
        let (day, totals) = days.entry((tenant, label)).or_default();
        if *day != today {
            *day = today;
            *totals = ClientDay::default();
        }
        if totals.client.is_empty() || label != "other" {
            name.clone_into(&mut totals.client);
        }
        totals.requests += 1;
        totals.failed += u64::from(failed);
        for q in quirks {
            *totals.quirks.entry(q).or_insert(0) += 1;
        }
    }

    /// The tenant's clients today, busiest first.
    pub fn today(&self, tenant: Uuid, now_ms: i64) -> Vec<(&'static str, ClientDay)> {
        let today = now_ms.div_euclid(86_400_000);
        let days = self.days.lock();
        let mut out: Vec<_> = days
            .iter()
            .filter(|((t, _), (day, _))| *t == tenant && *day == today)
            .map(|((_, label), (_, totals))| (*label, totals.clone()))
            .collect();
        out.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
        out
    }
}
