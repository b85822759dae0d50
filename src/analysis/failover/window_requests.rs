//! The requests meant to leave inside each fault window, fed one client
//! record at a time in request order: how many, and their latency.

use crate::metrics::histogram::{self, Hist};
use crate::metrics::recorder::ClientRecord;
use crate::scenario::Fault;

/// Per fault (in the scenario's order): its window in seconds, the count
/// of counted requests meant to leave in `[start, end)`, and histograms of
/// the latency of them all and of those that succeeded.
pub(super) struct WindowRequests {
    spans: Vec<(f64, Option<f64>)>,
    counts: Vec<u64>,
    ok: Vec<Hist>,
    all: Vec<Hist>,
}

impl WindowRequests {
    pub fn new(faults: &[Fault]) -> Self {
        WindowRequests {
            spans: faults
                .iter()
                .map(|f| (f.start.as_secs_f64(), f.end().map(|e| e.as_secs_f64())))
                .collect(),
            counts: vec![0; faults.len()],
            ok: faults.iter().map(|_| histogram::new()).collect(),
            all: faults.iter().map(|_| histogram::new()).collect(),
        }
    }

    /// One client record that is not missing.
    pub fn add(&mut self, r: &ClientRecord) {
        if !r.outcome.counted() {
            return;
        }
        let t = f64::from(r.intended_ms) / 1000.0;
        for (i, (start, end)) in self.spans.iter().enumerate() {
            if t >= *start && end.is_none_or(|e| t < e) {
                self.counts[i] += 1;
                histogram::record_us(&mut self.all[i], u64::from(r.latency_us));
                if r.outcome.is_ok() {
                    histogram::record_us(&mut self.ok[i], u64::from(r.latency_us));
                }
            }
        }
    }

    /// Requests counted in fault `i`'s window, the p99 of the OK ones, and
    /// the p99 of them all (`None` without any).
    pub fn of(&self, i: usize) -> (u64, f64, Option<f64>) {
        let n = self.counts[i];
        let all_p99 = (n > 0).then(|| histogram::quantile_ms(&self.all[i], 0.99));
        (n, histogram::quantile_ms(&self.ok[i], 0.99), all_p99)
    }
}
