//! One probe: the scenario with its load scaled by a factor, run as an
//! ordinary run, and what its `Summary` says, kept for the search, the
//! curve and the reports. Nothing here decides a pass: the run's verdict
//! does, and only a PASS verdict is a pass.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::search::Outcome;
use crate::analysis::failover::WindowState;
use crate::analysis::verdict::{CheckState, Verdict};
use crate::providers::{read_ledger, AttemptOutcome};
use crate::results::Summary;
use crate::scenario::{FaultKind, Scenario, Stage};

/// The scenario's peak rate: the highest RPM any stage asks for.
pub fn peak_rpm(sc: &Scenario) -> f64 {
    sc.load
        .stages
        .iter()
        .map(|s| match s {
            Stage::Hold { rpm, .. } => *rpm,
            Stage::Ramp { from, to, .. } => from.unwrap_or(0.0).max(*to),
        })
        .fold(0.0, f64::max)
}

/// The scenario with every stage's RPM times `factor` and the seed of
/// repeat `repeat` (the scenario's own for the first run, then the next
/// ones, so that a repeat is a different draw, not the same run again).
/// Faults, classes and the SLA are unchanged.
pub fn scaled(sc: &Scenario, factor: f64, repeat: u32) -> Scenario {
    let mut out = sc.clone();
    for stage in &mut out.load.stages {
        match stage {
            Stage::Hold { rpm, .. } => *rpm *= factor,
            Stage::Ramp { from, to, .. } => {
                *from = from.map(|f| f * factor);
                *to *= factor;
            }
        }
    }
    out.seed = sc.seed.wrapping_add(u64::from(repeat));
    out
}

/// A check that kept a probe from passing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failing {
    pub name: String,
    pub target: String,
    pub measured: String,
    /// `measured` (it failed) or why it could not be (never a pass).
    pub state: CheckState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One probe in capacity.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// 1, 2, … in the order they ran.
    pub index: usize,
    pub factor: f64,
    /// 0 for the first run at this factor.
    pub repeat: u32,
    pub seed: u64,
    /// The scaled shape's peak RPM (what the stages asked for).
    pub target_peak_rpm: f64,
    /// The highest rate a stage achieved, RPM (`null`: no run).
    pub peak_rpm: Option<f64>,
    pub outcome: Outcome,
    /// The run's verdict (`null`: the run could not be made).
    pub verdict: Option<String>,
    /// Successes' latency p99 over all classes, ms (`null`: none succeeded).
    pub p99_ms: Option<f64>,
    pub p99_limit_ms: Option<f64>,
    /// Share of counted requests that succeeded (`null`: none counted).
    pub uptime: Option<f64>,
    pub uptime_target: Option<f64>,
    /// Provider attempts per request (`null`: no ledger).
    pub amplification: Option<f64>,
    pub amplification_limit: Option<f64>,
    /// The slowest measured time to failover over the fault windows, s
    /// (`null`: no window was measured).
    pub time_to_failover_s: Option<f64>,
    pub time_to_failover_limit_s: Option<f64>,
    /// The checks that kept it from passing.
    pub failing: Vec<Failing>,
    /// 429s the providers' own rate limits answered, per provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limited: Vec<RateLimited>,
    /// Why it did not pass, in one sentence (`null` when it passed).
    pub why: Option<String>,
    /// Its report, relative to the capacity directory.
    pub report: String,
    pub seconds: f64,
}

/// A provider's rate limit at work in one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimited {
    pub provider: String,
    /// Its request limit, RPM: a `rate_limit` fault's on it, else its
    /// profile's (`null`: only tokens are limited).
    pub limit_rpm: Option<f64>,
    /// Attempts it answered 429 for its own limit.
    pub answered_429: u64,
}

/// What the search makes of a run's verdict: only PASS passes.
pub fn outcome(summary: &Summary) -> Outcome {
    if summary.interrupted {
        return Outcome::Interrupted;
    }
    match summary.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Invalid => Outcome::Invalid,
        Verdict::Interrupted => Outcome::Interrupted,
        Verdict::Fail | Verdict::Unmeasured | Verdict::Regression => Outcome::NotPass,
    }
}

/// The checks that kept `summary` from a pass: every failed check, and
/// every unmeasured one that is not optional.
fn failing(summary: &Summary) -> Vec<Failing> {
    summary
        .checks
        .iter()
        .filter(|c| !c.pass && (c.state == CheckState::Measured || !c.optional))
        .map(|c| Failing {
            name: c.name.clone(),
            target: c.target.clone(),
            measured: c.measured.clone(),
            state: c.state,
            why: c.why.clone(),
        })
        .collect()
}

/// A probe from its finished run.
pub fn from_summary(head: Head, summary: &Summary, sc: &Scenario, dir: &Path) -> Probe {
    let sla = &sc.sla;
    let failover = summary.failover.as_ref();
    let ttf = failover.and_then(|f| {
        f.windows
            .iter()
            .filter(|w| w.state == WindowState::Measured)
            .filter_map(|w| w.time_to_failover_s)
            .reduce(f64::max)
    });
    let peak = summary
        .generator
        .stages
        .iter()
        .map(|s| s.achieved_rpm)
        .fold(0.0, f64::max);
    let mut p = head.probe(summary.verdict.as_str(), outcome(summary));
    p.peak_rpm = Some(peak);
    p.p99_ms = (summary.latency_ms.all.count > 0).then_some(summary.latency_ms.all.p99);
    p.p99_limit_ms = sla.budgets.p99.map(|d| d.as_secs_f64() * 1000.0);
    p.uptime = (summary.requests.counted > 0).then_some(summary.uptime.ratio);
    p.uptime_target = Some(summary.uptime.target);
    p.amplification = failover.filter(|f| f.attempts > 0).map(|f| f.amplification);
    p.amplification_limit = sla.max_amplification;
    p.time_to_failover_s = ttf;
    p.time_to_failover_limit_s = sla.max_time_to_failover.map(|d| d.as_secs_f64());
    p.failing = failing(summary);
    p.rate_limited = rate_limited(sc, &dir.join("ledger.bin"));
    if p.outcome != Outcome::Pass {
        p.why = Some(why(&p, summary));
    }
    p
}

/// Where and how a probe ran, before its result is known.
#[derive(Debug, Clone)]
pub struct Head {
    pub index: usize,
    pub factor: f64,
    pub repeat: u32,
    pub seed: u64,
    pub target_peak_rpm: f64,
    pub report: String,
    pub seconds: f64,
}

impl Head {
    /// A probe with no numbers yet.
    pub fn probe(&self, verdict: &str, outcome: Outcome) -> Probe {
        Probe {
            index: self.index,
            factor: self.factor,
            repeat: self.repeat,
            seed: self.seed,
            target_peak_rpm: self.target_peak_rpm,
            peak_rpm: None,
            outcome,
            verdict: Some(verdict.to_string()),
            p99_ms: None,
            p99_limit_ms: None,
            uptime: None,
            uptime_target: None,
            amplification: None,
            amplification_limit: None,
            time_to_failover_s: None,
            time_to_failover_limit_s: None,
            failing: Vec::new(),
            rate_limited: Vec::new(),
            why: None,
            report: self.report.clone(),
            seconds: self.seconds,
        }
    }

    /// A probe whose run could not be made.
    pub fn error(&self, outcome: Outcome, message: String) -> Probe {
        let mut p = self.probe("", outcome);
        p.verdict = None;
        p.why = Some(message);
        p
    }
}

/// The 429s each provider answered for its own rate limit (not a fault's
/// error burst: those carry the fault in the ledger), from `ledger`, by
/// the limit in force when the attempt arrived: a `rate_limit` fault on
/// the provider only within its window, else the profile's. An
/// unreadable ledger gives none: the sentence then names no provider.
pub fn rate_limited(sc: &Scenario, ledger: &Path) -> Vec<RateLimited> {
    // (provider, limit in force as bits, or None) → 429s.
    let mut counts: Vec<(usize, Option<f64>, u64)> = Vec::new();
    for a in read_ledger(ledger) {
        let Ok(a) = a else { break };
        if a.outcome != AttemptOutcome::RateLimited || a.fault.is_some() {
            continue;
        }
        let i = usize::from(a.provider);
        let Some(provider) = sc.providers.get(i) else {
            continue;
        };
        let limit = limit_at(sc, i, a.arrived_us)
            .or_else(|| provider.profile.rate_limit.map(|l| l.rpm))
            .filter(|r| r.is_finite());
        match counts.iter_mut().find(|c| c.0 == i && c.1 == limit) {
            Some(c) => c.2 += 1,
            None => counts.push((i, limit, 1)),
        }
    }
    counts.sort_by_key(|c| c.0);
    counts
        .into_iter()
        .map(|(i, limit_rpm, n)| RateLimited {
            provider: sc.providers[i].name.clone(),
            limit_rpm,
            answered_429: n,
        })
        .collect()
}

/// The tightest `rate_limit` fault on provider `i` active at `arrived_us`
/// (µs from the run's t0; before t0 none is).
fn limit_at(sc: &Scenario, i: usize, arrived_us: i64) -> Option<f64> {
    let t = std::time::Duration::from_micros(u64::try_from(arrived_us).ok()?);
    sc.faults
        .iter()
        .filter(|f| f.providers.contains(&i) && f.active_at(t))
        .filter_map(|f| match f.kind {
            FaultKind::RateLimitSqueeze { rpm } => Some(rpm),
            _ => None,
        })
        .reduce(f64::min)
}

/// Why a probe did not pass, in one sentence: the first failing check
/// with its numbers, and the providers' rate limits that answered 429.
pub fn why(p: &Probe, summary: &Summary) -> String {
    let first = p.failing.first();
    let mut s = match (p.outcome, first) {
        (Outcome::Invalid, _) => invalid(p, summary),
        (Outcome::Interrupted, _) => "interrupted before the schedule ended".to_string(),
        (_, Some(f)) if f.state == CheckState::Measured => {
            format!("{} {} missed its target {}", f.name, f.measured, f.target)
        }
        (_, Some(f)) => format!(
            "{} could not be measured ({}){}",
            f.name,
            f.state.label().unwrap_or("not measured").to_lowercase(),
            f.why.as_ref().map(|w| format!(": {w}")).unwrap_or_default()
        ),
        (_, None) => format!("the verdict was {}", summary.verdict.as_str()),
    };
    if p.outcome != Outcome::NotPass {
        return s;
    }
    let extra = p.failing.len().saturating_sub(1);
    if extra > 0 {
        s.push_str(&format!(" (and {extra} other check(s))"));
    }
    if let Some(r) = rate_limits(&p.rate_limited) {
        // "because" only when the check named is uptime and requests
        // measurably failed with a 429; otherwise the 429s are named as
        // what happened meanwhile (the gateway may have retried them
        // elsewhere, and they are not why a latency check failed).
        let uptime =
            first.is_some_and(|f| f.state == CheckState::Measured && f.name.starts_with("uptime"));
        match failed_429(summary) {
            n if uptime && n > 0 => {
                s.push_str(&format!(", because {r} and {n} request(s) failed with 429"))
            }
            _ => s.push_str(&format!(" (meanwhile {r})")),
        }
    }
    if let Some(g) = summary
        .requests
        .gateway_errors
        .as_ref()
        .filter(|g| g.count > 0)
    {
        s.push_str(&format!(
            "; the gateway failed {} request(s) itself, without asking a provider",
            g.count
        ));
        if let Some(m) = g.by_message.first() {
            let status = m.status.map_or("no answer".into(), |s| s.to_string());
            s.push_str(&format!(" (most often {status}: {})", m.message));
        }
    }
    s
}

/// Requests that failed with a 429 the client received.
fn failed_429(summary: &Summary) -> u64 {
    summary
        .requests
        .by_outcome
        .get(crate::metrics::outcome::Outcome::Http429.name())
        .copied()
        .unwrap_or(0)
}

/// Why a run was INVALID: the generator's own check, with its reason.
fn invalid(p: &Probe, summary: &Summary) -> String {
    let held = summary
        .generator
        .gave_up
        .map(|g| format!(" (it held {} RPM)", super::rpm(g.held_rpm)))
        .unwrap_or_default();
    let check = summary
        .checks
        .iter()
        .find(|c| !c.pass && c.kind != crate::analysis::CheckKind::Sla);
    match check {
        Some(c) => format!(
            "INVALID at {} RPM{held}: {} {} over {}{}",
            super::rpm(p.target_peak_rpm),
            c.name,
            c.measured,
            c.target,
            c.why
                .as_ref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        ),
        None => format!(
            "INVALID: the generator could not hold {} RPM on this machine{held}",
            super::rpm(p.target_peak_rpm)
        ),
    }
}

/// `qwen's rate limit (1,200 RPM) answered 57 requests with 429`.
fn rate_limits(r: &[RateLimited]) -> Option<String> {
    let parts: Vec<String> = r
        .iter()
        .map(|r| {
            let limit = r
                .limit_rpm
                .map(|l| format!(" ({} RPM)", super::rpm(l)))
                .unwrap_or_default();
            format!(
                "{}'s rate limit{limit} answered {} attempt(s) with 429",
                r.provider, r.answered_429
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" and "))
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
