//! When providers refused connections (an outage `as = "refuse"`, a
//! flapping provider's `refuse` down parts): an attempt refused at connect
//! never reaches a provider, so it leaves no ledger entry. A request in
//! flight then may have been retried or failed over without the ledger
//! showing it, and its last recorded attempt may not be its last attempt.

use crate::analysis::account::Refusal;
use crate::metrics::recorder::ClientRecord;

/// The refusal spans sorted by start, each with the latest end among it
/// and those before it: whether a life meets one is a binary search.
#[derive(Debug, Default)]
pub(super) struct Refusing {
    by_start: Vec<(f64, f64)>,
}

impl Refusing {
    pub fn new(refusals: &[Refusal]) -> Self {
        let mut by_start: Vec<(f64, f64)> = refusals.iter().map(|r| (r.start_s, r.end_s)).collect();
        by_start.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut latest = f64::NEG_INFINITY;
        for span in &mut by_start {
            latest = latest.max(span.1);
            span.1 = latest;
        }
        Refusing { by_start }
    }

    /// Whether `rec` was in flight (from its intended send to intended +
    /// latency) while a provider refused connections.
    pub fn during(&self, rec: &ClientRecord) -> bool {
        let start = f64::from(rec.intended_ms) / 1000.0;
        let end = start + f64::from(rec.latency_us) / 1e6;
        // Spans that began by the request's end; did any end after its start?
        let began = self.by_start.partition_point(|&(s, _)| s <= end);
        began > 0 && self.by_start[began - 1].1 > start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::messages::ErrorMessages;
    use crate::metrics::Outcome;

    fn life(from_ms: u32, for_ms: u32) -> ClientRecord {
        ClientRecord {
            intended_ms: from_ms,
            latency_us: for_ms * 1000,
            ..super::super::tests::rec(Outcome::Http4xx, ErrorMessages::NONE)
        }
    }

    #[test]
    fn a_life_meets_a_span_when_they_overlap_whatever_the_order() {
        let span = |start_s: f64, end_s: f64| Refusal {
            provider: 0,
            start_s,
            end_s,
        };
        // A long span first, then a short one inside it: the sort by start
        // and the running latest end keep the long one in view.
        let r = Refusing::new(&[span(20.0, 21.0), span(10.0, 30.0), span(50.0, 51.0)]);
        assert!(r.during(&life(9_000, 2_000)));
        assert!(r.during(&life(25_000, 100)));
        assert!(r.during(&life(50_500, 0)));
        assert!(!r.during(&life(5_000, 4_000)));
        assert!(!r.during(&life(30_000, 1_000)), "ends are exclusive");
        assert!(!r.during(&life(40_000, 5_000)));
        assert!(!Refusing::new(&[]).during(&life(0, 100_000)));
    }
}
