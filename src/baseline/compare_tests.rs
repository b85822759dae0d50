//! The comparison rules on synthetic runs with exact answers: a shift beyond
//! tolerance, floor and noise regresses; noise, tiny changes and lone slow
//! seconds do not; improvements are not failures.

use std::path::Path;
use std::time::Duration;

use super::compare::{checks, compare};
use super::file::{encode, Baseline, ClassRecord, Fingerprint, GateSettings};
use super::file::{UptimeCounts, WindowRecord};
use super::{Change, Comparison};
use crate::analysis::failover::WindowState;
use crate::analysis::verdict::CheckKind;
use crate::metrics::histogram::{self, quantile_ms};

const GATE: GateSettings = GateSettings {
    tolerance: 0.10,
    floor_ms: 5.0,
};

/// A run of one class `chat` whose second `s` completed `seconds[s]` (ms).
fn run(seconds: &[Vec<f64>]) -> Baseline {
    let mut all = histogram::new();
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for values in seconds {
        let mut h = histogram::new();
        for v in values {
            histogram::record(&mut h, Duration::from_secs_f64(v / 1000.0));
        }
        all.add(&h).unwrap();
        p50.push(quantile_ms(&h, 0.5));
        p99.push(quantile_ms(&h, 0.99));
    }
    let sc = crate::providers::testing::scenario(1, 1);
    Baseline {
        format: super::file::FORMAT.into(),
        schema_version: super::file::SCHEMA_VERSION,
        slabench_version: "test".into(),
        scenario: sc.name.clone(),
        seed: 1,
        started_at: "2025-01-01T00:00:00Z".into(),
        fingerprint: Fingerprint::of(&sc),
        gate: GATE,
        classes: vec![ClassRecord {
            name: "chat".into(),
            ok_latency: encode(&all).unwrap(),
            p50_per_second: p50,
            p99_per_second: p99,
        }],
        uptime: UptimeCounts {
            ok: 10_000,
            counted: 10_000,
        },
        failover_windows: vec![],
        summary: serde_json::Value::Null,
    }
}

/// 15 seconds of 20 requests each, 100..=290 ms with a per-second wobble.
fn seconds(scale: f64) -> Vec<Vec<f64>> {
    (0..15)
        .map(|s| {
            let wobble = [0.0, 3.0, -2.0, 5.0, -4.0][s % 5];
            (0..20)
                .map(|i| (100.0 + 10.0 * i as f64 + wobble) * scale)
                .collect()
        })
        .collect()
}

fn cmp(base: &Baseline, cand: &Baseline) -> Comparison {
    compare(base, Path::new("base.json"), cand, GATE)
}

fn change(c: &Comparison, metric: &str) -> Change {
    let m = c.metrics.iter().find(|m| m.metric == metric);
    m.unwrap_or_else(|| panic!("no {metric} in {c:#?}")).change
}

#[test]
fn identical_runs_are_within_noise() {
    let a = run(&seconds(1.0));
    let c = cmp(&a, &a);
    assert!(c.metrics.iter().all(|m| m.change == Change::WithinNoise));
    assert!(checks(&c).is_empty() && !c.regressed());
    assert_eq!(c.metrics.len(), 3, "chat p50, chat p99, uptime");
}

#[test]
fn twenty_percent_slower_regresses_with_numbers() {
    let c = cmp(&run(&seconds(1.0)), &run(&seconds(1.2)));
    assert_eq!(change(&c, "chat p50"), Change::Regressed);
    assert_eq!(change(&c, "chat p99"), Change::Regressed);
    let p99 = &c.metrics[1];
    assert!((p99.relative_change - 0.2).abs() < 0.01, "{p99:?}");
    assert!(p99.detail.contains("97.5% CI"), "{}", p99.detail);
    assert!(p99.detail.contains("+20.0%"), "{}", p99.detail);
    let failing = checks(&c);
    assert_eq!(failing.len(), 2);
    assert!(failing
        .iter()
        .all(|k| k.kind == CheckKind::Baseline && !k.pass && k.name.starts_with("baseline: ")));
    assert!(c.regressed());
}

#[test]
fn improvements_are_not_failures() {
    let c = cmp(&run(&seconds(1.0)), &run(&seconds(0.8)));
    assert_eq!(change(&c, "chat p50"), Change::Improved);
    assert_eq!(change(&c, "chat p99"), Change::Improved);
    assert!(checks(&c).is_empty() && !c.regressed());
}

#[test]
fn changes_inside_tolerance_or_floor_do_not_count() {
    // +5%: beyond the floor, inside the 10% tolerance.
    let c = cmp(&run(&seconds(1.0)), &run(&seconds(1.05)));
    assert_eq!(change(&c, "chat p99"), Change::WithinNoise);
    assert!(c.metrics[1].detail.contains("within the allowance"));
    // +50% of ~2 ms latencies is 1 ms: under the 5 ms floor.
    let c = cmp(&run(&seconds(0.01)), &run(&seconds(0.015)));
    assert_eq!(change(&c, "chat p99"), Change::WithinNoise);
}

#[test]
fn one_slow_second_is_noise_not_a_regression() {
    let base = seconds(1.0);
    let mut cand = base.clone();
    cand[7] = cand[7].iter().map(|v| v * 3.0).collect();
    let c = cmp(&run(&base), &run(&cand));
    // The run's p99 tripled (the slow second holds its top requests) ...
    assert!(c.metrics[1].relative_change > 0.5, "{:?}", c.metrics[1]);
    // ... but resampling seconds shows it is one second's doing.
    assert_eq!(change(&c, "chat p99"), Change::WithinNoise);
    assert!(c.metrics[1].detail.contains("not beyond the noise"));
}

#[test]
fn too_few_seconds_cannot_establish_a_regression() {
    let short: Vec<Vec<f64>> = seconds(1.0).into_iter().take(3).collect();
    let slow: Vec<Vec<f64>> = seconds(1.5).into_iter().take(3).collect();
    let c = cmp(&run(&short), &run(&slow));
    assert_eq!(change(&c, "chat p99"), Change::WithinNoise);
    assert!(c.metrics[1].detail.contains("no noise test: 3/3 s"));
}

#[test]
fn comparisons_are_deterministic() {
    let (a, b) = (run(&seconds(1.0)), run(&seconds(1.08)));
    assert_eq!(cmp(&a, &b), cmp(&a, &b));
}

#[test]
fn uptime_regresses_on_a_significant_rise_in_failures() {
    let a = run(&seconds(1.0));
    let mut b = a.clone();
    b.uptime = UptimeCounts {
        ok: 9_900,
        counted: 10_000,
    };
    assert_eq!(change(&cmp(&a, &b), "uptime"), Change::Regressed);
    // 0 → 2 failures in 10k: within noise.
    b.uptime.ok = 9_998;
    assert_eq!(change(&cmp(&a, &b), "uptime"), Change::WithinNoise);
    // And back the other way: better.
    assert_eq!(change(&cmp(&b, &a), "uptime"), Change::WithinNoise);
    let mut worse = a.clone();
    worse.uptime.ok = 9_800;
    assert_eq!(change(&cmp(&worse, &a), "uptime"), Change::Improved);
}

#[test]
fn time_to_failover_moves_by_more_than_one_step() {
    let window = |ttf: Option<f64>| WindowRecord {
        provider: "flash".into(),
        fault: "outage".into(),
        start_s: 5.0,
        end_s: Some(10.0),
        time_to_failover_s: ttf,
        state: if ttf.is_some() {
            WindowState::Measured
        } else {
            WindowState::Never
        },
    };
    let with = |ttf| {
        let mut r = run(&seconds(1.0));
        r.failover_windows = vec![window(ttf)];
        r
    };
    let metric = "time to failover (flash)";
    let c = |a, b| change(&cmp(&with(a), &with(b)), metric);
    assert_eq!(c(Some(1.0), Some(2.0)), Change::WithinNoise);
    assert_eq!(c(Some(1.0), Some(3.0)), Change::Regressed);
    assert_eq!(c(Some(3.0), Some(1.0)), Change::Improved);
    assert_eq!(c(Some(1.0), None), Change::Regressed);
    assert_eq!(c(None, None), Change::WithinNoise);
    let m = cmp(&with(Some(1.0)), &with(None));
    let m = m.metrics.iter().find(|m| m.metric == metric).unwrap();
    assert_eq!((m.baseline, m.candidate), (1.0, 5.0));
    assert!(m.detail.contains("1 s → never"), "{}", m.detail);
}

#[test]
fn a_window_with_nothing_to_react_to_is_not_compared() {
    let window = |state| WindowRecord {
        provider: "flash".into(),
        fault: "outage".into(),
        start_s: 5.0,
        end_s: Some(10.0),
        time_to_failover_s: (state == WindowState::Measured).then_some(1.0),
        state,
    };
    let with = |state| {
        let mut r = run(&seconds(1.0));
        r.failover_windows = vec![window(state)];
        r
    };
    let metric = "time to failover (flash)";
    for other in [
        WindowState::NotExercised,
        WindowState::NotObservable,
        WindowState::NotReached,
    ] {
        for (b, c) in [
            (WindowState::Measured, other),
            (other, WindowState::Measured),
        ] {
            let m = cmp(&with(b), &with(c));
            assert!(
                m.metrics.iter().all(|m| m.metric != metric),
                "{b:?} against {c:?}: {:?}",
                m.metrics
            );
        }
    }
    // Both timed: compared as before.
    let m = cmp(&with(WindowState::Measured), &with(WindowState::Never));
    assert_eq!(change(&m, metric), Change::Regressed);
}
