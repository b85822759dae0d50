//! Upstream flows per second since t=0: requests sent, and per provider the
//! attempts it received and first attempts (by arrival) and the answers it
//! served (by completion). Windows read the first attempts; the reports
//! draw all of it.
//!
//! Attempts are counted as the join passes them; requests (sent, first
//! attempt) as the facts pass. Anything outside the timeline (a negative
//! arrival, a late answer) is left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::facts::Fact;
use crate::providers::ledger::{Attempt, AttemptOutcome};

/// One second of upstream traffic. Per provider: attempts received and first
/// attempts (by arrival), answers served (by completion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondFlow {
    pub t: u32,
    /// Client requests meant to leave in this second.
    pub sent: u32,
    /// Attempts ÷ requests sent in this second.
    pub amplification: f64,
    pub attempts: BTreeMap<String, u32>,
    pub first_attempts: BTreeMap<String, u32>,
    pub served: BTreeMap<String, u32>,
}

/// Counts per second (rows) and provider (columns).
pub(super) struct Flows {
    sent: Vec<u32>,
    attempts: Vec<Vec<u32>>,
    first: Vec<Vec<u32>>,
    served: Vec<Vec<u32>>,
}

impl Flows {
    /// For `providers` over a timeline of `duration_s` seconds (and the
    /// partial second after it).
    pub fn new(providers: usize, duration_s: u32) -> Self {
        let secs = duration_s as usize + 1;
        Flows {
            sent: vec![0; secs],
            attempts: vec![vec![0; providers]; secs],
            first: vec![vec![0; providers]; secs],
            served: vec![vec![0; providers]; secs],
        }
    }

    /// An attempt from the ledger.
    pub fn attempt(&mut self, a: &Attempt) {
        bump(&mut self.attempts, a.arrived_us, a.provider);
        if a.outcome == AttemptOutcome::Ok {
            bump(&mut self.served, a.answered_us, a.provider);
        }
    }

    /// A sent request: counted in the second it was meant to leave, and its
    /// first attempt in the second that attempt arrived.
    pub fn request(&mut self, f: &Fact) {
        let sec = (f.rec.intended_ms / 1000) as usize;
        if let Some(s) = self.sent.get_mut(sec) {
            *s += 1;
        }
        if f.attempted() {
            bump(
                &mut self.first,
                f.joined.first_arrival_us,
                f.joined.first_provider,
            );
        }
    }

    /// First attempts per second and provider.
    pub fn first_attempts(&self) -> &[Vec<u32>] {
        &self.first
    }

    /// One `SecondFlow` per second, providers by name.
    pub fn finish(self, names: &[String]) -> Vec<SecondFlow> {
        let named = |row: &[u32]| names.iter().cloned().zip(row.iter().copied()).collect();
        (0..self.sent.len())
            .map(|t| {
                let (sent, total) = (self.sent[t], self.attempts[t].iter().sum::<u32>());
                SecondFlow {
                    t: t as u32,
                    sent,
                    amplification: if sent > 0 {
                        f64::from(total) / f64::from(sent)
                    } else {
                        0.0
                    },
                    attempts: named(&self.attempts[t]),
                    first_attempts: named(&self.first[t]),
                    served: named(&self.served[t]),
                }
            })
            .collect()
    }
}

/// Counts one for `provider` in the second of `us` (ignored outside the timeline).
fn bump(per_second: &mut [Vec<u32>], us: i64, provider: u16) {
    if let Some(c) = second_of(us)
        .and_then(|s| per_second.get_mut(s))
        .and_then(|row| row.get_mut(provider as usize))
    {
        *c += 1;
    }
}

fn second_of(us: i64) -> Option<usize> {
    (us >= 0).then_some((us / 1_000_000) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::failover::join::Joined;
    use crate::metrics::recorder::{AccountRecord, ClientRecord};
    use crate::metrics::Outcome;

    fn att(provider: u16, arrived_ms: i64, answered_ms: i64, ok: bool) -> Attempt {
        Attempt {
            tag: Some(0),
            provider,
            arrived_us: arrived_ms * 1000,
            answered_us: answered_ms * 1000,
            outcome: if ok {
                AttemptOutcome::Ok
            } else {
                AttemptOutcome::Reset
            },
            status: 0,
            input_tokens: 0,
            output_tokens: 0,
            stream: false,
            first_byte_us: None,
            retry_after_ms: None,
            fault: None,
        }
    }

    #[test]
    fn counts_by_arrival_and_answer_inside_the_timeline() {
        let mut flows = Flows::new(2, 2);
        flows.attempt(&att(0, 500, 1200, false)); // a failure serves nothing
        flows.attempt(&att(1, 600, 1700, true)); // arrives in 0, served in 1
        flows.attempt(&att(1, -5, 100, true)); // before t=0: only its answer counts
        flows.attempt(&att(0, 2100, 9000, true)); // answered past the timeline
        flows.attempt(&att(7, 100, 200, true)); // not a provider of the scenario
        let rec = ClientRecord {
            intended_ms: 450,
            latency_us: 0,
            served_by: 1,
            message: crate::metrics::messages::ErrorMessages::NONE,
            class: 0,
            outcome: Outcome::Ok,
            account: AccountRecord::EMPTY,
        };
        let joined = Joined {
            first_arrival_us: 500_000,
            first_provider: 0,
            attempts: 2,
            ..Joined::EMPTY
        };
        let fact = Fact {
            seq: 0,
            rec: &rec,
            ledger: joined.view(),
            joined,
            served: 1,
        };
        flows.request(&fact);
        assert_eq!(flows.first_attempts(), [vec![1, 0], vec![0, 0], vec![0, 0]]);
        let names = ["flash".to_string(), "qwen".into()];
        let s = flows.finish(&names);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].sent, s[0].amplification), (1, 2.0));
        assert_eq!((s[0].attempts["flash"], s[0].attempts["qwen"]), (1, 1));
        assert_eq!((s[0].served["qwen"], s[1].served["qwen"]), (1, 1));
        // Attempts in a second nothing was sent in: no amplification to speak of.
        assert_eq!(
            (s[2].sent, s[2].attempts["flash"], s[2].amplification),
            (0, 1, 0.0)
        );
    }
}
