//! The comparison of a candidate run with a baseline, metric by metric.
//!
//! A latency metric (each class's p50 and p99, from the stored histograms)
//! regresses only when three things hold: the change exceeds the relative
//! tolerance, it exceeds the absolute floor, and the bootstrap interval of
//! the per-second difference (95% family-wise over the latency metrics)
//! excludes zero. The first two say the change
//! matters; the third says it is not the runner's noise. Improvements mirror
//! this. Uptime uses the failure ratio with the tolerance and Newcombe's
//! interval; time to failover, measured in 1 s steps, must move by more than
//! one step (and the tolerance) to count.

use std::path::Path;

use super::file::{Baseline, GateSettings, WindowRecord};
use super::stats::{self, Interval, MIN_SECONDS};
use super::{Change, Comparison, MetricComparison};
use crate::analysis::verdict::{Check, CheckKind};
use crate::fmt::{fmt_ms, fmt_pct};
use crate::metrics::histogram::{quantile_ms, Hist};
use crate::results::comparison::show;

/// Family-wise false-alarm rate of the latency noise tests.
pub const FAMILY_ALPHA: f64 = 0.05;
/// Time to failover is measured in steps of this many seconds.
pub const FAILOVER_STEP_S: f64 = 1.0;

/// Compares `candidate` with `baseline` (read from `baseline_file`); the
/// fingerprints must already match.
pub fn compare(
    baseline: &Baseline,
    baseline_file: &Path,
    candidate: &Baseline,
    gate: GateSettings,
) -> Comparison {
    let mut metrics = Vec::new();
    // The gate asks "did anything regress?" over all latency metrics at
    // once, so each gets its share of a 5% family-wise error (Bonferroni):
    // a scenario with many classes does not cry wolf more often.
    let compared = baseline
        .classes
        .iter()
        .filter(|b| candidate.classes.iter().any(|c| c.name == b.name))
        .count();
    let alpha = FAMILY_ALPHA / (2 * compared).max(1) as f64;
    for (i, class) in baseline.classes.iter().enumerate() {
        let Some(j) = candidate.classes.iter().position(|c| c.name == class.name) else {
            continue;
        };
        let (bh, ch) = (baseline.histogram(i), candidate.histogram(j));
        let cand = &candidate.classes[j];
        for (label, q, b, c) in [
            ("p50", 0.50, &class.p50_per_second, &cand.p50_per_second),
            ("p99", 0.99, &class.p99_per_second, &cand.p99_per_second),
        ] {
            let sides = Side {
                hist: (&bh, &ch),
                seconds: (b, c),
            };
            metrics.push(latency(&class.name, label, q, sides, gate, alpha));
        }
    }
    metrics.push(uptime(baseline, candidate, gate));
    metrics.extend(failover(
        &baseline.failover_windows,
        &candidate.failover_windows,
        gate,
    ));
    Comparison {
        baseline_file: baseline_file.display().to_string(),
        baseline_scenario: baseline.scenario.clone(),
        baseline_started_at: baseline.started_at.clone(),
        tolerance: gate.tolerance,
        floor_ms: gate.floor_ms,
        metrics,
    }
}

/// A failing `Baseline` check per regressed metric (the verdict's input).
pub fn checks(c: &Comparison) -> Vec<Check> {
    c.metrics
        .iter()
        .filter(|m| m.change == Change::Regressed)
        .map(|m| {
            Check::measured(
                format!("baseline: {}", m.metric),
                CheckKind::Baseline,
                format!("baseline {}", show(m.baseline, &m.unit)),
                show(m.candidate, &m.unit),
                false,
            )
        })
        .collect()
}

/// Baseline and candidate views of one latency metric.
struct Side<'a> {
    hist: (&'a Hist, &'a Hist),
    seconds: (&'a Vec<f64>, &'a Vec<f64>),
}

fn latency(
    class: &str,
    label: &str,
    q: f64,
    s: Side,
    gate: GateSettings,
    alpha: f64,
) -> MetricComparison {
    let metric = format!("{class} {label}");
    let (b, c) = (quantile_ms(s.hist.0, q), quantile_ms(s.hist.1, q));
    let mut m = MetricComparison {
        metric: metric.clone(),
        class: Some(class.to_string()),
        baseline: b,
        candidate: c,
        unit: "ms".into(),
        relative_change: relative(b, c),
        change: Change::WithinNoise,
        detail: String::new(),
    };
    if s.hist.0.is_empty() || s.hist.1.is_empty() {
        let which = if s.hist.0.is_empty() {
            "baseline"
        } else {
            "candidate"
        };
        m.detail = format!("not compared: no successful {class} requests in the {which}");
        return m;
    }
    let with_data = |xs: &[f64]| xs.iter().copied().filter(|v| *v > 0.0).collect::<Vec<_>>();
    let (bs, cs) = (with_data(s.seconds.0), with_data(s.seconds.1));
    let ci = stats::bootstrap_mean_diff(&bs, &cs, stats::seed_for(&metric), alpha);
    let allowance = (gate.tolerance * b).max(gate.floor_ms);
    let d = c - b;
    let moved = format!(
        "{} → {} ({}, {})",
        fmt_ms(b),
        fmt_ms(c),
        signed_pct(m.relative_change),
        signed_ms(d)
    );
    let rule = format!(
        "allowance {} = max({} × baseline, floor {})",
        fmt_ms(allowance),
        fmt_pct(gate.tolerance),
        fmt_ms(gate.floor_ms)
    );
    let noise = match ci {
        Some(i) => format!(
            "per-second {label} difference {:.1}% CI [{}, {}] over {}/{} s",
            (1.0 - alpha) * 100.0,
            signed_ms(i.low),
            signed_ms(i.high),
            bs.len(),
            cs.len()
        ),
        None => format!(
            "no noise test: {}/{} s with data, {MIN_SECONDS} needed in each run",
            bs.len(),
            cs.len()
        ),
    };
    (m.change, m.detail) = judge(d, allowance, ci, &moved, &rule, &noise);
    m
}

/// The three-part rule shared by latency and uptime; `d` > 0 is worse.
fn judge(
    d: f64,
    allowance: f64,
    ci: Option<Interval>,
    moved: &str,
    rule: &str,
    noise: &str,
) -> (Change, String) {
    let beyond = d.abs() > allowance;
    let direction = if d > 0.0 { "worse" } else { "better" };
    let confirmed = ci.is_some_and(|i| if d > 0.0 { i.low > 0.0 } else { i.high < 0.0 });
    let (change, why) = match (beyond, confirmed) {
        (false, _) => (Change::WithinNoise, "within the allowance".to_string()),
        (true, false) => (
            Change::WithinNoise,
            format!("{direction} beyond the allowance, but not beyond the noise"),
        ),
        (true, true) if d > 0.0 => (
            Change::Regressed,
            "worse beyond the allowance and the noise".to_string(),
        ),
        (true, true) => (
            Change::Improved,
            "better beyond the allowance and the noise".to_string(),
        ),
    };
    (change, format!("{moved}; {rule}; {noise}: {why}"))
}

fn uptime(baseline: &Baseline, candidate: &Baseline, gate: GateSettings) -> MetricComparison {
    let (bu, cu) = (baseline.uptime, candidate.uptime);
    let ratio = |u: super::file::UptimeCounts| {
        if u.counted == 0 {
            0.0
        } else {
            u.ok as f64 / u.counted as f64
        }
    };
    let (b, c) = (ratio(bu), ratio(cu));
    let (bf, cf) = (1.0 - b, 1.0 - c);
    let mut m = MetricComparison {
        metric: "uptime".into(),
        class: None,
        baseline: b,
        candidate: c,
        unit: "ratio".into(),
        relative_change: relative(b, c),
        change: Change::WithinNoise,
        detail: String::new(),
    };
    if bu.counted == 0 || cu.counted == 0 {
        m.detail = "not compared: a run counted no requests".into();
        return m;
    }
    // Worse is a higher failure ratio; the interval is for the uptime, so
    // its sign is flipped to match `d`.
    let i = stats::proportion_diff(bu.ok, bu.counted, cu.ok, cu.counted);
    let ci = Interval {
        low: -i.high,
        high: -i.low,
    };
    let moved = format!(
        "{} → {} ({} → {} of requests failed)",
        fmt_pct(b),
        fmt_pct(c),
        fmt_pct(bf),
        fmt_pct(cf)
    );
    let rule = format!(
        "allowance {} more failures ({} of the baseline's failure ratio)",
        fmt_pct(gate.tolerance * bf),
        fmt_pct(gate.tolerance)
    );
    let noise = format!(
        "failure-ratio difference 95% CI [{:+.3}, {:+.3}] points",
        ci.low * 100.0,
        ci.high * 100.0
    );
    (m.change, m.detail) = judge(
        cf - bf,
        gate.tolerance * bf,
        Some(ci),
        &moved,
        &rule,
        &noise,
    );
    m
}

fn failover(
    baseline: &[WindowRecord],
    candidate: &[WindowRecord],
    gate: GateSettings,
) -> Vec<MetricComparison> {
    let floor_s = (gate.floor_ms / 1000.0).max(FAILOVER_STEP_S);
    baseline
        .iter()
        .filter_map(|b| {
            let c = candidate
                .iter()
                .find(|c| c.provider == b.provider && c.start_s == b.start_s)?;
            // A window with nothing to react to (not exercised, not
            // observable, not reached) has no time to compare: its own check
            // says so; reading it as "never" would call it a regression.
            if !(timed(b) && timed(c)) {
                return None;
            }
            let unique = baseline.iter().filter(|w| w.provider == b.provider).count() == 1;
            let metric = if unique {
                format!("time to failover ({})", b.provider)
            } else {
                format!("time to failover ({} at {:.0}s)", b.provider, b.start_s)
            };
            Some(one_window(metric, b, c, gate.tolerance, floor_s))
        })
        .collect()
}

/// Whether a window's time to failover was measured (a time, or never).
fn timed(w: &WindowRecord) -> bool {
    use crate::analysis::failover::WindowState;
    matches!(w.state, WindowState::Measured | WindowState::Never)
}

fn one_window(
    metric: String,
    b: &WindowRecord,
    c: &WindowRecord,
    tolerance: f64,
    floor_s: f64,
) -> MetricComparison {
    // "Never failed over" is at least the window's length (or open-ended).
    let length = b.end_s.map_or(f64::MAX, |e| e - b.start_s);
    let value = |w: &WindowRecord| w.time_to_failover_s.unwrap_or(length);
    let (bv, cv) = (value(b), value(c));
    let allowance = (tolerance * bv).max(floor_s);
    let d = cv - bv;
    let show_w = |w: &WindowRecord| match w.time_to_failover_s {
        Some(t) => format!("{t:.0} s"),
        None => "never".to_string(),
    };
    let (change, why) = if (b.time_to_failover_s, c.time_to_failover_s) == (None, None) {
        (Change::WithinNoise, "neither run failed over".to_string())
    } else if d > allowance {
        (Change::Regressed, "worse beyond the allowance".to_string())
    } else if -d > allowance {
        (Change::Improved, "better beyond the allowance".to_string())
    } else {
        (Change::WithinNoise, "within the allowance".to_string())
    };
    let finite = |v: f64| if v == f64::MAX { 0.0 } else { v };
    MetricComparison {
        metric,
        class: None,
        baseline: finite(bv),
        candidate: finite(cv),
        unit: "s".into(),
        relative_change: relative(finite(bv), finite(cv)),
        change,
        detail: format!(
            "{} → {} for the {} window at {:.0}s; allowance {:.1} s = max({} × baseline, one {FAILOVER_STEP_S:.0} s measuring step or the floor): {why}",
            show_w(b),
            show_w(c),
            b.fault,
            b.start_s,
            allowance,
            fmt_pct(tolerance)
        ),
    }
}

fn relative(b: f64, c: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        c / b - 1.0
    }
}

fn signed_pct(r: f64) -> String {
    format!("{:+.1}%", r * 100.0)
}

fn signed_ms(d: f64) -> String {
    let sign = if d < 0.0 { "-" } else { "+" };
    format!("{sign}{}", fmt_ms(d.abs()))
}
