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
