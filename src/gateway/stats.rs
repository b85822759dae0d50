//! What the gateway counts about itself, to read live (`slabench gateway
//! --metrics-addr`): lock-free counters bumped on the request path, and a
//! [`Snapshot`] of them with each provider's breaker and cool-down.
//!
//! Every label set is bounded by the configuration: models are the routes'
//! (any other name is counted as [`OTHER_MODEL`]), statuses are the codes an
//! HTTP status can hold (100 to 999), outcomes are those statuses and the
//! five names [`super::upstream::Outcome`] writes in `x-slabench-attempts`.
//! So the counters are flat arrays of atomics, allocated once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::breaker::BreakerState;

/// The model label of a request whose model has no route (or whose body
/// could not be read as a chat request).
pub const OTHER_MODEL: &str = "other";

/// Status codes 100..=999: what `http::StatusCode` can hold.
const CODES: usize = 900;
const FIRST_CODE: u16 = 100;

/// The outcomes of an attempt that are not a status, after the codes, in
/// slot order.
const NAMED: [&str; 5] = ["error_event", "malformed", "timeout", "connect", "broken"];

/// Slots of an attempt's outcome: every status, then [`NAMED`].
pub(crate) const OUTCOME_SLOTS: usize = CODES + NAMED.len();

/// The slot of a status code (codes outside 100..=999 cannot occur).
pub(crate) fn code_slot(code: u16) -> usize {
    usize::from(code.clamp(FIRST_CODE, 999) - FIRST_CODE)
}

/// The slot of a named outcome (`timeout`, ...): one of [`NAMED`].
pub(crate) fn named_slot(name: &str) -> usize {
    let i = NAMED
        .iter()
        .position(|n| *n == name)
        .expect("a named outcome of upstream::Outcome");
    CODES + i
}

/// The label of an outcome slot: the status as a number, or its name.
pub(crate) fn slot_label(slot: usize) -> String {
    match slot.checked_sub(CODES) {
        Some(i) => NAMED[i].to_owned(),
        None => (slot as u16 + FIRST_CODE).to_string(),
    }
}

fn counters(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn read(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// One provider's counters (in its `Upstream`).
#[derive(Debug)]
pub(crate) struct UpstreamStats {
    /// Attempts sent, by outcome slot.
    attempts: Box<[AtomicU64]>,
    /// Attempts after the first on this provider within one request.
    retries: AtomicU64,
    /// Requests that passed this provider over: breaker open, cooling down.
    skipped_open: AtomicU64,
    skipped_cooling: AtomicU64,
    /// Requests this provider answered after the first attempt went to
    /// another provider, by that provider's index.
    failovers_from: Box<[AtomicU64]>,
}

impl UpstreamStats {
    pub fn new(providers: usize) -> Self {
        UpstreamStats {
            attempts: counters(OUTCOME_SLOTS),
            retries: AtomicU64::new(0),
            skipped_open: AtomicU64::new(0),
            skipped_cooling: AtomicU64::new(0),
            failovers_from: counters(providers),
        }
    }

    pub fn attempt(&self, slot: usize, retry: bool) {
        bump(&self.attempts[slot]);
        if retry {
            bump(&self.retries);
        }
    }

    pub fn skipped(&self, cooling: bool) {
        bump(if cooling {
            &self.skipped_cooling
        } else {
            &self.skipped_open
        });
    }

    pub fn failover_from(&self, first: usize) {
        if let Some(c) = self.failovers_from.get(first) {
            bump(c);
        }
    }
}

/// The gateway's own counters: requests answered, in flight.
#[derive(Debug)]
pub(crate) struct RequestStats {
    /// The routes' model names, sorted; [`OTHER_MODEL`] is after them.
    models: Vec<String>,
    index: HashMap<String, usize>,
    /// Answers by (model slot, status slot).
    answered: Box<[AtomicU64]>,
    in_flight: AtomicU64,
}

impl RequestStats {
    pub fn new<'a>(models: impl IntoIterator<Item = &'a String>) -> Self {
        let mut models: Vec<String> = models.into_iter().cloned().collect();
        models.sort();
        models.dedup();
        let index = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), i))
            .collect();
        let answered = counters((models.len() + 1) * CODES);
        RequestStats {
            models,
            index,
            answered,
            in_flight: AtomicU64::new(0),
        }
    }

    /// The model's slot: its route's, or the one for every other name.
    pub fn model(&self, name: &str) -> usize {
        self.index.get(name).copied().unwrap_or(self.models.len())
    }

    pub fn other(&self) -> usize {
        self.models.len()
    }

    pub fn answered(&self, model: usize, status: u16) {
        bump(&self.answered[model * CODES + code_slot(status)]);
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }
}

/// A request in flight (see [`RequestStats::enter`]).
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the gateway counted so far, and its providers' state now.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Chat requests answered, by (model, status); only non-zero counts.
    pub requests: Vec<(String, u16, u64)>,
    /// Chat requests received whose answer's headers have not gone out.
    pub in_flight: u64,
    /// In the order the gateway was given its upstreams.
    pub providers: Vec<ProviderSnapshot>,
}

/// One provider's counters and state.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSnapshot {
    pub name: String,
    /// Attempts by outcome label (`200`, `503`, `timeout`, ...); only
    /// non-zero counts, statuses first.
    pub attempts: Vec<(String, u64)>,
    pub retries: u64,
    pub skipped_breaker_open: u64,
    pub skipped_cooling_down: u64,
    /// Requests this provider answered whose first attempt went to another
    /// provider: (that provider, count), one entry per other provider.
    pub failovers_from: Vec<(String, u64)>,
    pub breaker: BreakerState,
    /// How long it still cools down after a `Retry-After` (zero if not).
    pub cooldown: Duration,
}

impl RequestStats {
    /// Non-zero counts by (model, status), in that order. A route named
    /// like [`OTHER_MODEL`] shares its label with the unrouted names.
    pub fn requests(&self) -> Vec<(String, u16, u64)> {
        let mut out = std::collections::BTreeMap::new();
        let names = self.models.iter().map(String::as_str).chain([OTHER_MODEL]);
        for (m, name) in names.enumerate() {
            let row = &self.answered[m * CODES..(m + 1) * CODES];
            for (slot, c) in row.iter().enumerate() {
                let n = read(c);
                if n > 0 {
                    *out.entry((name, slot as u16 + FIRST_CODE)).or_insert(0) += n;
                }
            }
        }
        out.into_iter()
            .map(|((m, status), n)| (m.to_owned(), status, n))
            .collect()
    }

    pub fn in_flight(&self) -> u64 {
        read(&self.in_flight)
    }
}

impl UpstreamStats {
    /// `names`: every provider's, by index (for `failovers_from`);
    /// `me`: this one's index.
    pub fn snapshot(
        &self,
        names: &[&str],
        me: usize,
        breaker: BreakerState,
        cooldown: Duration,
    ) -> ProviderSnapshot {
        let attempts = self
            .attempts
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| {
                let n = read(c);
                (n > 0).then(|| (slot_label(slot), n))
            })
            .collect();
        let failovers_from = self
            .failovers_from
            .iter()
            .zip(names)
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, (c, name))| ((*name).to_owned(), read(c)))
            .collect();
        ProviderSnapshot {
            name: names[me].to_owned(),
            attempts,
            retries: read(&self.retries),
            skipped_breaker_open: read(&self.skipped_open),
            skipped_cooling_down: read(&self.skipped_cooling),
            failovers_from,
            breaker,
            cooldown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_has_its_own_label_and_back() {
        assert_eq!(slot_label(code_slot(200)), "200");
        assert_eq!(slot_label(code_slot(529)), "529");
        assert_eq!(slot_label(code_slot(999)), "999");
        for name in NAMED {
            assert_eq!(slot_label(named_slot(name)), name);
        }
        let labels: std::collections::HashSet<String> =
            (0..OUTCOME_SLOTS).map(slot_label).collect();
        assert_eq!(labels.len(), OUTCOME_SLOTS);
    }

    #[test]
    fn requests_of_unrouted_models_count_as_other() {
        let models = ["b".to_string(), "a".to_string()];
        let s = RequestStats::new(&models);
        s.answered(s.model("a"), 200);
        s.answered(s.model("a"), 200);
        s.answered(s.model("zzz"), 404);
        s.answered(s.other(), 413);
        assert_eq!(
            s.requests(),
            vec![
                ("a".into(), 200, 2),
                ("other".into(), 404, 1),
                ("other".into(), 413, 1)
            ]
        );
        let g = s.enter();
        assert_eq!(s.in_flight(), 1);
        drop(g);
        assert_eq!(s.in_flight(), 0);
    }
}
