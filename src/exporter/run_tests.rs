//! The run's metrics against the recorder fed the same results.
use super::*;
use crate::metrics::recorder::Recorder;
use crate::metrics::request::Measured;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const SCENARIO: &str = r#"
name = "m"
[load]
stages = [{ hold_rpm = 600, for = "20s" }]
[[traffic]]
name = "chat"
model = "a"
[traffic.sla]
p99 = "400ms"
[[traffic]]
name = "batch"
model = "b"
[gateway]
url = "http://127.0.0.1:9"
[sla]
uptime = "99%"
p50 = "1s"
"#;

fn scenario() -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/t.toml");
    crate::scenario::from_str(SCENARIO, &path, &|_| None).unwrap()
}

/// `n` seeded results over 20 s: latency 50–500 ms, one in `fail_every` a 5xx.
fn results(n: u64, fail_every: u64, seed: u64) -> Vec<RequestResult> {
    results_slower_after(n, fail_every, seed, u64::MAX)
}

/// [`results`], the requests sent from `slow_from` on answering in 1–2 s.
fn results_slower_after(n: u64, fail_every: u64, seed: u64, slow_from: u64) -> Vec<RequestResult> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|seq| RequestResult {
            seq,
            class: (seq % 2) as usize,
            intended: Duration::from_millis(seq * 20_000 / n),
            lag: Duration::from_micros(rng.random_range(0..2_000)),
            outcome: if seq % fail_every == fail_every - 1 {
                Outcome::Http5xx
            } else {
                Outcome::Ok
            },
            m: Measured {
                latency: Duration::from_micros(if seq >= slow_from {
                    rng.random_range(1_000_000..2_000_000)
                } else {
                    rng.random_range(50_000..500_000)
                }),
                served_by: Some(if seq % 3 == 0 { "x" } else { "y" }.into()),
                ..Measured::default()
            },
        })
        .collect()
}

fn encoded(export: &RunExport) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &export.registry()).unwrap();
    out
}

/// The value of the one line starting with `series ` (name and labels as written).
fn value(text: &str, series: &str) -> f64 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{series} ")))
        .collect();
    assert_eq!(lines.len(), 1, "{series} in:\n{text}");
    lines[0].rsplit_once(' ').unwrap().1.parse().unwrap()
}

fn fed(n: u64, fail_every: u64) -> (RunExport, Recorder) {
    fed_with(results(n, fail_every, 7))
}

/// A recorder and the run's metrics fed `results`, as during the load.
fn fed_with(results: Vec<RequestResult>) -> (RunExport, Recorder) {
    let sc = scenario();
    let export = RunExport::new(&sc, crate::load::shard::Shard::WHOLE);
    export.phase("load");
    let mut rec =
        Recorder::new(sc.traffic.iter().map(|c| c.name.clone())).with_output(export.feed());
    for r in results {
        rec.record(&r);
    }
    rec.finish();
    (export, rec)
}

#[test]
fn counts_and_quantiles_are_the_recorders() {
    let (export, rec) = fed(4_000, 50);
    let text = encoded(&export);
    for (c, class) in rec.classes.iter().enumerate() {
        let name = ["chat", "batch"][c];
        for o in [Outcome::Ok, Outcome::Http5xx, Outcome::Timeout] {
            let series = format!(
                "slabench_requests_total{{class=\"{name}\",outcome=\"{}\"}}",
                o.name()
            );
            assert_eq!(
                value(&text, &series) as u64,
                class.counts[o.index()],
                "{series}"
            );
        }
        let ok = class.ok_latency().unwrap();
        for (q, label) in QUANTILES {
            let series = format!(
                "slabench_latency_quantile_seconds{{class=\"{name}\",quantile=\"{label}\",window=\"run\"}}"
            );
            let want = histogram::quantile_ms(ok, q) / 1000.0;
            assert_eq!(value(&text, &series), want, "{series}");
        }
        let count = value(
            &text,
            &format!("slabench_latency_seconds_count{{class=\"{name}\"}}"),
        );
        assert_eq!(count as u64, ok.len());
        let inf = value(
            &text,
            &format!("slabench_latency_seconds_bucket{{le=\"+Inf\",class=\"{name}\"}}"),
        );
        assert_eq!(inf as u64, ok.len(), "the +Inf bucket holds every value");
    }
    let lag99 = value(&text, "slabench_schedule_lag_seconds{quantile=\"0.99\"}");
    assert_eq!(lag99, histogram::quantile_ms(&rec.lag, 0.99) / 1000.0);
    let x = value(&text, "slabench_served_total{provider=\"x\"}");
    assert_eq!(x as u64, 4_000 / 3 + 1);
}

#[test]
fn the_recent_window_holds_the_last_ten_closed_seconds() {
    // 4,000 requests over 20 s, those sent in the last 8 s answering in
    // 1–2 s instead of 50–500 ms: the last ten closed seconds are mostly
    // slow ones, the run as a whole mostly fast.
    let (export, rec) = fed_with(results_slower_after(4_000, 50, 7, 2_400));
    let text = encoded(&export);
    let q = |window: &str, quantile: &str| {
        value(
            &text,
            &format!(
                "slabench_latency_quantile_seconds{{class=\"chat\",quantile=\"{quantile}\",window=\"{window}\"}}"
            ),
        )
    };
    assert!(
        q("10s", "0.5") > 1.0,
        "the window's median is a slow one: {}",
        q("10s", "0.5")
    );
    assert!(
        q("run", "0.5") < 0.5,
        "the run's median is a fast one: {}",
        q("run", "0.5")
    );
    // Ten closed seconds' answers, not the run's: fewer than the run's
    // chat answers, no more than the last ten rows completed.
    let rows = &rec.timeline[rec.timeline.len() - RECENT_SECONDS..];
    let completed: u64 = rows
        .iter()
        .map(|r| r.class_counts.first().map_or(0, |c| c[0]))
        .sum();
    let in_window: u64 = export.view().recent.iter().map(|s| s[0].len()).sum();
    let run = rec.classes[0].ok_latency().unwrap().len();
    assert!(
        in_window > 0 && in_window <= completed,
        "{in_window} against {completed}"
    );
    assert!(in_window < run / 2, "{in_window} of the run's {run}");
    // After the load there is no last 10 s to show.
    export.phase("analysis");
    assert!(!encoded(&export).contains("window=\"10s\""));
}

#[test]
fn the_verdict_so_far_follows_uptime_and_budgets() {
    let verdict = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("slabench_verdict{"))
            .map(|l| l.split('"').nth(1).unwrap().to_string())
            .unwrap()
    };
    let sc = scenario();
    let export = RunExport::new(&sc, crate::load::shard::Shard::WHOLE);
    assert_eq!(verdict(&encoded(&export)), "pending");
    assert!(!encoded(&export).contains("slabench_error_budget_remaining_ratio"));
    // 1 in 200 failed against a 99% target, under the 400 ms p99 budget:
    // half the budget left... then p99 over its budget.
    let (export, _) = fed(4_000, 200);
    let text = encoded(&export);
    // Latencies up to 500 ms: chat's p99 is over its 400 ms budget.
    assert_eq!(verdict(&text), "failing_so_far");
    assert!((value(&text, "slabench_error_budget_remaining_ratio") - 0.5).abs() < 1e-9);
    assert_eq!(
        value(
            &text,
            "slabench_latency_budget_seconds{class=\"chat\",quantile=\"0.99\"}"
        ),
        0.4
    );
    assert_eq!(
        value(
            &text,
            "slabench_overall_latency_budget_seconds{quantile=\"0.5\"}"
        ),
        1.0
    );
    let mut budgets_met = scenario();
    budgets_met.traffic[0].budgets.p99 = Some(Duration::from_secs(1));
    let export = RunExport::new(&budgets_met, crate::load::shard::Shard::WHOLE);
    export.phase("load");
    let mut rec =
        Recorder::new(["chat".to_string(), "batch".to_string()]).with_output(export.feed());
    for r in results(4_000, 200, 7) {
        rec.record(&r);
    }
    assert_eq!(verdict(&encoded(&export)), "passing_so_far");
    // 1 in 50 failed: uptime 98% < 99%.
    let (export, _) = fed(4_000, 50);
    assert_eq!(verdict(&encoded(&export)), "failing_so_far");
    // Budgets met, but one budgeted class has no successful request yet:
    // not a pass so far.
    let export = RunExport::new(&budgets_met, crate::load::shard::Shard::WHOLE);
    let mut rec =
        Recorder::new(["chat".to_string(), "batch".to_string()]).with_output(export.feed());
    let batch_only = results(4_000, 200, 7).into_iter().filter(|r| r.class == 1);
    for r in batch_only {
        rec.record(&r);
    }
    assert_eq!(verdict(&encoded(&export)), "unmeasured_so_far");
}

#[test]
fn label_values_are_escaped() {
    let mut sc = scenario();
    sc.traffic[0].name = "a\"b\\c".into();
    let export = RunExport::new(&sc, crate::load::shard::Shard::WHOLE);
    let mut rec =
        Recorder::new(sc.traffic.iter().map(|c| c.name.clone())).with_output(export.feed());
    for r in results(100, 200, 7) {
        rec.record(&r);
    }
    let text = encoded(&export);
    assert!(
        text.contains("slabench_requests_total{class=\"a\\\"b\\\\c\",outcome=\"ok\"} 50"),
        "{text}"
    );
}

#[test]
fn a_shards_target_is_its_share_and_nothing_is_claimed_before_t0() {
    let sc = scenario();
    let export = RunExport::new(&sc, crate::load::shard::Shard::new(1, 4).unwrap());
    let text = encoded(&export);
    assert!(
        text.contains("slabench_run_info{scenario=\"m\",seed="),
        "{text}"
    );
    assert!(text.contains("shard=\"1/4\""), "{text}");
    for absent in [
        "slabench_target_rpm",
        "slabench_run_elapsed_seconds",
        "slabench_in_flight",
    ] {
        assert!(!text.contains(absent), "{absent} before t=0:\n{text}");
    }
    let clock = Arc::new(RunClock::new());
    export.load_started(Instant::now(), Arc::default(), &clock);
    let text = encoded(&export);
    assert_eq!(
        value(&text, "slabench_target_rpm"),
        150.0,
        "600 RPM / 4 shards"
    );
    assert_eq!(value(&text, "slabench_run_phase{phase=\"load\"}"), 1.0);
}
