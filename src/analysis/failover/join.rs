//! The join: every attempt in the providers' ledger, matched by its tag to
//! the client's record of the request it served.
//!
//! The ledger is read once, in ledger order, and may be far larger than
//! memory would like to hold; so the first pass hands each matched attempt
//! (with its price) to the accumulators that count attempts as they pass
//! (`ProviderTally`, `Flows`) and to a sort by request (`AttemptSort`, off
//! the heap for a run); the requests then meet their attempts in request
//! order, one small `Joined` at a time (`fold`).

use super::cost::price;
use super::source::{AttemptSort, Present};
use super::Input;
use crate::analysis::account::LedgerView;
use crate::providers::ledger::{Attempt, AttemptOutcome};

/// The join of one request with its attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Joined {
    pub first_arrival_us: i64,
    pub first_provider: u16,
    pub first_ok: bool,
    pub attempts: u16,
    /// Providers that received an attempt, as `LedgerView` bits.
    pub providers: u64,
    /// The provider of the last successful attempt (in ledger order).
    pub served_by: u16,
    /// What all its attempts cost, and the tokens of the answer served.
    pub cost: f64,
    pub served_tokens: (u32, u32),
}

impl Joined {
    pub const EMPTY: Joined = Joined {
        first_arrival_us: i64::MAX,
        first_provider: u16::MAX,
        first_ok: false,
        attempts: 0,
        providers: 0,
        served_by: u16::MAX,
        cost: 0.0,
        served_tokens: (0, 0),
    };

    pub(super) fn add(&mut self, a: &Attempt, cost: f64) {
        self.cost += cost;
        self.attempts = self.attempts.saturating_add(1);
        self.providers |= LedgerView::bit(a.provider);
        // The first attempt is the earliest to arrive, whatever the ledger's order.
        if a.arrived_us < self.first_arrival_us {
            self.first_arrival_us = a.arrived_us;
            self.first_provider = a.provider;
            self.first_ok = a.outcome == AttemptOutcome::Ok;
        }
        if a.outcome == AttemptOutcome::Ok {
            self.served_by = a.provider;
            self.served_tokens = (a.input_tokens, a.output_tokens);
        }
    }

    /// What the ledger holds for this request, for the account comparison.
    pub fn view(&self) -> LedgerView {
        LedgerView {
            attempts: self.attempts,
            providers: self.providers,
            served_by: self.served_by,
        }
    }
}

/// What the join counted of the ledger's attempts.
#[derive(Debug, Default)]
pub(super) struct Counts {
    /// Attempts joined to a request of this run.
    pub joined: u64,
    /// Attempts without a tag.
    pub untagged: u64,
    /// Attempts whose tag no request of this run had.
    pub unmatched: u64,
}

/// The first pass, in ledger order: counts `attempts`, hands each one
/// joined to a request in `present` to `sort` (by request) and to
/// `on_attempt` with its price.
pub(super) fn join_pass(
    input: &Input,
    present: &Present,
    attempts: impl IntoIterator<Item = Attempt>,
    sort: &mut dyn AttemptSort,
    mut on_attempt: impl FnMut(&Attempt, f64),
) -> Counts {
    let mut counts = Counts::default();
    for a in attempts {
        let Some(seq) = a.tag else {
            counts.untagged += 1;
            continue;
        };
        if !present.contains(seq) {
            // The preflight request and anything not from this run.
            counts.unmatched += 1;
            continue;
        }
        let cost = price(input.prices, a.provider, a.input_tokens, a.output_tokens);
        sort.push(seq, &a);
        counts.joined += 1;
        on_attempt(&a, cost);
    }
    counts
}

/// One request's attempts (ledger order) folded into its `Joined`.
pub(super) fn fold(prices: &[(f64, f64)], attempts: &[Attempt]) -> Joined {
    let mut j = Joined::EMPTY;
    for a in attempts {
        j.add(
            a,
            price(prices, a.provider, a.input_tokens, a.output_tokens),
        );
    }
    j
}

/// The ledger joined with the client's records, in memory.
#[cfg(test)]
#[derive(Debug)]
pub(super) struct Ledger {
    /// One per client record, indexed by request number.
    pub requests: Vec<Joined>,
    /// Attempts joined to a request of this run.
    pub joined: u64,
    /// Attempts without a tag.
    pub untagged: u64,
    /// Attempts whose tag no request of this run had.
    pub unmatched: u64,
}

/// Joins `attempts` with `input.requests` in memory; `on_attempt` sees
/// every joined attempt with its price, in ledger order.
#[cfg(test)]
pub(super) fn join(
    input: &Input,
    attempts: impl IntoIterator<Item = Attempt>,
    on_attempt: impl FnMut(&Attempt, f64),
) -> Ledger {
    use super::source::{each_request, InMemory, Records, Slices};
    let rows = Slices {
        requests: input.requests,
        answers: &[],
        timings: &[],
    };
    let present = Present::of(&rows);
    let mut sort = InMemory::default();
    let counts = join_pass(input, &present, attempts, &mut sort, on_attempt);
    let mut requests = vec![Joined::EMPTY; input.requests.len()];
    each_request(rows.rows(), sort.sorted(), |seq, _, atts| {
        requests[seq as usize] = fold(input.prices, atts);
    });
    Ledger {
        requests,
        joined: counts.joined,
        untagged: counts.untagged,
        unmatched: counts.unmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::{AccountRecord, ClientRecord};
    use crate::metrics::Outcome;

    fn att(tag: Option<u64>, provider: u16, at_ms: i64, ok: bool) -> Attempt {
        Attempt {
            tag,
            provider,
            arrived_us: at_ms * 1000,
            answered_us: at_ms * 1000 + 1000,
            outcome: if ok {
                AttemptOutcome::Ok
            } else {
                AttemptOutcome::HttpError
            },
            status: if ok { 200 } else { 503 },
            input_tokens: 10,
            output_tokens: if ok { 20 } else { 0 },
            stream: false,
            first_byte_us: None,
            retry_after_ms: None,
            fault: None,
        }
    }

    #[test]
    fn the_first_attempt_is_the_earliest_and_strays_are_counted() {
        let rec = ClientRecord {
            intended_ms: 0,
            latency_us: 0,
            served_by: 1,
            message: crate::metrics::messages::ErrorMessages::NONE,
            class: 0,
            outcome: Outcome::Ok,
            account: AccountRecord::EMPTY,
        };
        let requests = [rec, rec, ClientRecord::MISSING];
        let providers = ["flash".to_string(), "qwen".into()];
        let input = Input {
            providers: &providers,
            groups: &[],
            prices: &[(1.0, 2.0), (3.0, 4.0)],
            class_names: &[],
            faults: &[],
            requests: &requests,
            duration_s: 1,
            sent_until_s: 1.0,
            account_dialects: 0,
            dialects: &[],
            messages: &[],
            connections: super::super::Connections::NotObservable("not watched"),
        };
        // Request 0 in ledger order: qwen's answer first, flash's earlier failure after.
        let attempts = [
            att(Some(0), 1, 30, true),
            att(Some(0), 0, 10, false),
            att(None, 0, 5, true),
            att(Some(2), 0, 5, true),  // a missing slot (never sent)
            att(Some(99), 0, 5, true), // not a request of this run
        ];
        let mut seen = Vec::new();
        let ledger = join(&input, attempts, |a, cost| seen.push((a.provider, cost)));
        let j = ledger.requests[0];
        assert_eq!(
            (j.first_provider, j.first_arrival_us, j.first_ok, j.attempts),
            (0, 10_000, false, 2)
        );
        assert_eq!((j.served_by, j.served_tokens), (1, (10, 20)));
        assert_eq!(j.providers, 0b11);
        // qwen: 10 × 3 + 20 × 4; flash: 10 × 1, per million.
        assert_eq!(seen, [(1, 110.0 / 1e6), (0, 10.0 / 1e6)]);
        assert_eq!(j.cost, 110.0 / 1e6 + 10.0 / 1e6);
        assert_eq!(ledger.requests[1], Joined::EMPTY);
        assert_eq!(
            (ledger.joined, ledger.untagged, ledger.unmatched),
            (2, 1, 2)
        );
        assert_eq!(
            ledger.requests[0].view(),
            LedgerView {
                attempts: 2,
                providers: 0b11,
                served_by: 1
            }
        );
    }
}
