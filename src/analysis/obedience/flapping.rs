//! A flapping provider: per flapping fault and provider, the down phases
//! the gateway met (a failed attempt in the phase), the attempts it still
//! sent into each after its first failure there (+ GRACE): breaker probes
//! and leaks; and in the up phase after each met down phase, whether
//! traffic came back (a successful attempt) and how soon.
//!
//! State is one small record per period of the window, bounded by the
//! timeline (periods are at least 1 s). A flapping fault that refuses
//! connections leaves nothing in the ledger: not observable.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Scope, GRACE_US};
use crate::analysis::CheckState;
use crate::providers::ledger::{Attempt, AttemptOutcome};
use crate::scenario::{Fault, FaultKind, FlapAs};

/// One flapping fault at one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlappingOut {
    pub provider: String,
    pub window: String,
    /// Index of the fault in the scenario.
    pub fault: usize,
    pub state: CheckState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Down phases inside the window and the timeline.
    pub down_phases: u64,
    /// ... that the gateway met (a failed attempt in the phase).
    pub down_phases_met: u64,
    /// Attempts per met down phase after the first failure in it (+ grace).
    pub probes_max: u64,
    pub probes_mean: f64,
    /// Up phases after a met down phase ...
    pub up_phases: u64,
    /// ... in which a successful attempt came back,
    pub up_phases_returned: u64,
    /// ... and the median time from the up phase's start to it.
    pub return_median_s: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    first_failure: i64,
    probes: u32,
    first_ok_up: i64,
}

const NONE: i64 = i64::MAX;

struct Flap {
    /// The fault, for its phases ([`Fault::flap_phase`]), and its index.
    fault: Fault,
    index: usize,
    provider: u16,
    /// µs: start, period, down part.
    start: i64,
    period: i64,
    down: i64,
    /// End of the window or the timeline, whichever is first.
    end: i64,
    phases: Vec<Phase>,
}

pub(super) struct Tally {
    flaps: Vec<Flap>,
}

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Tally {
    pub fn new(scope: &Scope) -> Self {
        let timeline = us(Duration::from_secs(u64::from(scope.duration_s)));
        let mut flaps = Vec::new();
        for (i, f) in scope.faults.iter().enumerate() {
            let FaultKind::Flapping { period, duty, down } = f.kind else {
                continue;
            };
            if down == FlapAs::Refuse {
                continue;
            }
            let start = us(f.start);
            let end = f.end().map_or(timeline, us).min(timeline);
            let period = us(period).max(1_000_000);
            let n = if end > start {
                ((end - start + period - 1) / period) as usize
            } else {
                0
            };
            for &p in &f.providers {
                flaps.push(Flap {
                    fault: f.clone(),
                    index: i,
                    provider: p as u16,
                    start,
                    period,
                    down: (duty * period as f64) as i64,
                    end,
                    phases: vec![
                        Phase {
                            first_failure: NONE,
                            probes: 0,
                            first_ok_up: NONE,
                        };
                        n
                    ],
                });
            }
        }
        Tally { flaps }
    }

    pub fn attempt(&mut self, a: &Attempt) {
        for f in self.flaps.iter_mut().filter(|f| f.provider == a.provider) {
            let t = a.arrived_us;
            if t < f.start || t >= f.end {
                continue;
            }
            // The providers' own rule for the phase at `t`.
            let Some((n, down)) = f.fault.flap_phase(Duration::from_micros(t as u64)) else {
                continue;
            };
            let Some(phase) = usize::try_from(n).ok().and_then(|n| f.phases.get_mut(n)) else {
                continue;
            };
            if down {
                if phase.first_failure != NONE && t > phase.first_failure + GRACE_US {
                    phase.probes += 1;
                }
                if !matches!(a.outcome, AttemptOutcome::Ok | AttemptOutcome::ClientGone) {
                    phase.first_failure = phase.first_failure.min(a.answered_us);
                }
            } else if a.outcome == AttemptOutcome::Ok {
                phase.first_ok_up = phase.first_ok_up.min(t);
            }
        }
    }

    pub fn finish(self, scope: &Scope) -> Vec<FlappingOut> {
        let mut out: Vec<FlappingOut> = self.flaps.iter().map(|f| f.finish(scope)).collect();
        for (i, f) in scope.faults.iter().enumerate() {
            if let FaultKind::Flapping {
                down: FlapAs::Refuse,
                ..
            } = f.kind
            {
                out.extend(refused(scope, i, f));
            }
        }
        out.sort_by_key(|f| f.fault);
        out
    }
}

impl Flap {
    fn finish(&self, scope: &Scope) -> FlappingOut {
        let f = &self.fault;
        let met: Vec<(usize, &Phase)> = self
            .phases
            .iter()
            .enumerate()
            .filter(|(_, p)| p.first_failure != NONE)
            .collect();
        let probes: Vec<u64> = met.iter().map(|(_, p)| u64::from(p.probes)).collect();
        let mut returns = Vec::new();
        let mut up_phases = 0;
        for (n, p) in &met {
            let up_start = self.start + *n as i64 * self.period + self.down;
            if up_start >= self.end {
                continue;
            }
            up_phases += 1;
            if p.first_ok_up != NONE {
                returns.push((p.first_ok_up - up_start) as f64 / 1e6);
            }
        }
        returns.sort_by(f64::total_cmp);
        let (state, why) = if f.start.as_secs_f64() >= scope.sent_until_s {
            (CheckState::NotReached, Some(not_reached(scope)))
        } else if met.is_empty() {
            let why = "no attempt at the provider failed in any down phase".to_string();
            (CheckState::NotExercised, Some(why))
        } else {
            (CheckState::Measured, None)
        };
        FlappingOut {
            provider: scope.provider(self.provider),
            window: super::super::failover::fault_label(f),
            fault: self.index,
            state,
            why,
            down_phases: self.phases.len() as u64,
            down_phases_met: met.len() as u64,
            probes_max: probes.iter().copied().max().unwrap_or(0),
            probes_mean: if probes.is_empty() {
                0.0
            } else {
                probes.iter().sum::<u64>() as f64 / probes.len() as f64
            },
            up_phases,
            up_phases_returned: returns.len() as u64,
            return_median_s: (!returns.is_empty()).then(|| returns[returns.len() / 2]),
        }
    }
}

fn not_reached(scope: &Scope) -> String {
    format!(
        "the run's sends ended at {:.1} s, before the window began",
        scope.sent_until_s
    )
}

/// A flapping fault that refuses connections: nothing reaches the ledger.
fn refused<'a>(scope: &'a Scope, i: usize, f: &'a Fault) -> impl Iterator<Item = FlappingOut> + 'a {
    f.providers.iter().map(move |&p| FlappingOut {
        provider: scope.provider(p as u16),
        window: super::super::failover::fault_label(f),
        fault: i,
        state: CheckState::NotObservable,
        why: Some(
            "its down phases refuse connections, and a refused connection leaves no attempt in \
             the ledger, so probes cannot be counted"
                .into(),
        ),
        down_phases: 0,
        down_phases_met: 0,
        probes_max: 0,
        probes_mean: 0.0,
        up_phases: 0,
        up_phases_returned: 0,
        return_median_s: None,
    })
}
