//! The search for the largest load factor at which a run passes: pure and
//! deterministic (the same outcomes give the same steps), driven from
//! outside one probe at a time ([`Search::next_step`], then [`Search::record`]),
//! so the async runner and the tests with a fake probe share it.
//!
//! Bracket first: from the scenario's own load (factor 1) double until a
//! probe does not pass, or halve until one does, within `[min, max]`.
//! Then bisect geometrically (the precision is a ratio) until the lowest
//! factor that did not pass is within `1 + precision` of the highest that
//! did below it. A factor counts as passing only after `repeats` runs all
//! passed, and a single run that did not pass makes it an upper bound:
//! while bracketing one pass is enough to move on, but before the search
//! ends the boundary's lower end is run again until it has `repeats`
//! passes, so one lucky run does not decide the capacity.
//!
//! A probe that was not a measured pass (FAIL, UNMEASURED, anything but a
//! PASS verdict) is never a pass. INVALID (the generator could not hold the
//! schedule) stops the search at once: above it, this machine cannot
//! measure. An interrupted probe stops it too.

use serde::{Deserialize, Serialize};

/// What one probe's run said, for the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The run's verdict was PASS: every check measured and met.
    Pass,
    /// FAIL, UNMEASURED or another verdict that is not a pass.
    NotPass,
    /// The run was INVALID: the generator (or slabench) was the limit.
    Invalid,
    /// The run was stopped before its schedule ended.
    Interrupted,
    /// The run could not be made (the stack did not start).
    Error,
}

/// The search's bounds, all as factors of the scenario's own load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub min: f64,
    pub max: f64,
    /// Stop when high / low <= 1 + precision.
    pub precision: f64,
    /// Passing runs a factor needs before it is the capacity (>= 1).
    pub repeats: u32,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Bracketed to the precision: the capacity is in [low, high).
    Found,
    /// Every probe passed up to the largest factor allowed (--max-rpm).
    AtLeastMax,
    /// Even the smallest factor allowed (--min-rpm) did not pass.
    BelowMin,
    /// A probe was INVALID: the generator could not send the load, so the
    /// capacity was not found below this machine's limit.
    MachineLimit,
    /// A probe was interrupted.
    Interrupted,
    /// A probe's run could not be made.
    Error,
}

/// One probe to run: the factor, and which run at that factor it is
/// (0 first; the seed of a repeat differs, see `capacity::probe`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub factor: f64,
    pub repeat: u32,
}

/// Runs and passes at one factor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tally {
    factor: f64,
    runs: u32,
    passes: u32,
}

impl Tally {
    fn failed(&self) -> bool {
        self.passes < self.runs
    }
}

/// The search's state: every factor tried and what it gave.
#[derive(Debug, Clone)]
pub struct Search {
    params: Params,
    tried: Vec<Tally>,
    end: Option<End>,
    /// The factor of the last step handed out, to be recorded.
    pending: Option<f64>,
}

/// Where the search stands: the bracket and how it ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bracket {
    /// The highest factor below `high` whose every run passed (`None`: none).
    pub low: Option<f64>,
    /// Its passing runs.
    pub low_passes: u32,
    /// The lowest factor that did not pass at least once (`None`: none).
    pub high: Option<f64>,
}

impl Search {
    pub fn new(params: Params) -> Self {
        let min = params.min.max(f64::MIN_POSITIVE);
        let params = Params {
            min,
            max: params.max.max(min),
            precision: params.precision.max(1e-6),
            repeats: params.repeats.max(1),
        };
        Search {
            params,
            tried: Vec::new(),
            end: None,
            pending: None,
        }
    }

    pub fn params(&self) -> Params {
        self.params
    }

    /// How it ended; `None` while it goes on.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// The current bracket.
    pub fn bracket(&self) -> Bracket {
        let high = self
            .tried
            .iter()
            .filter(|t| t.failed())
            .map(|t| t.factor)
            .reduce(f64::min);
        let low = self
            .tried
            .iter()
            .filter(|t| !t.failed() && t.passes > 0 && high.is_none_or(|h| t.factor < h))
            .max_by(|a, b| a.factor.total_cmp(&b.factor));
        Bracket {
            low: low.map(|t| t.factor),
            low_passes: low.map_or(0, |t| t.passes),
            high,
        }
    }

    /// Passing runs and runs at `factor`.
    pub fn runs_at(&self, factor: f64) -> (u32, u32) {
        self.tally(factor).map_or((0, 0), |t| (t.passes, t.runs))
    }

    fn tally(&self, factor: f64) -> Option<&Tally> {
        self.tried.iter().find(|t| t.factor == factor)
    }

    /// The next probe to run, or `None` when the search has ended.
    pub fn next_step(&mut self) -> Option<Step> {
        if self.end.is_some() {
            return None;
        }
        let p = self.params;
        let b = self.bracket();
        let confirmed = b.low_passes >= p.repeats;
        let factor = match (b.low, b.high) {
            (None, None) => 1.0_f64.clamp(p.min, p.max),
            (Some(low), None) if low >= p.max => match confirmed {
                true => return self.finish(End::AtLeastMax),
                false => low,
            },
            (Some(low), None) => (low * 2.0).min(p.max),
            (None, Some(high)) if high <= p.min => return self.finish(End::BelowMin),
            (None, Some(high)) => (high / 2.0).max(p.min),
            (Some(low), Some(high)) if high / low > 1.0 + p.precision => (low * high).sqrt(),
            (Some(low), Some(_)) => match confirmed {
                true => return self.finish(End::Found),
                false => low,
            },
        };
        self.pending = Some(factor);
        Some(Step {
            factor,
            repeat: self.runs_at(factor).1,
        })
    }

    fn finish(&mut self, end: End) -> Option<Step> {
        self.end = Some(end);
        self.pending = None;
        None
    }

    /// What the probe [`Search::next_step`] handed out gave.
    pub fn record(&mut self, outcome: Outcome) {
        let Some(factor) = self.pending.take() else {
            return;
        };
        let end = match outcome {
            Outcome::Pass | Outcome::NotPass => None,
            Outcome::Invalid => Some(End::MachineLimit),
            Outcome::Interrupted => Some(End::Interrupted),
            Outcome::Error => Some(End::Error),
        };
        if let Some(end) = end {
            // Nothing measured at this factor: it is no bound either way.
            self.end = Some(end);
            return;
        }
        let pass = u32::from(outcome == Outcome::Pass);
        match self.tried.iter_mut().find(|t| t.factor == factor) {
            Some(t) => {
                t.runs += 1;
                t.passes += pass;
            }
            None => self.tried.push(Tally {
                factor,
                runs: 1,
                passes: pass,
            }),
        }
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
