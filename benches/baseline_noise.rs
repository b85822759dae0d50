//! False-alarm rate of the baseline gate: run the same scenario N times
//! (in-process, release build), compare every pair (N·(N−1)/2 comparisons,
//! earlier run as the baseline) and count the pairs the gate would fail.
//! Same scenario and seed means the only differences are this machine's
//! noise, so every alarm is a false one.
//!
//!     cargo bench --bench baseline_noise                       # smoke.toml, 10 runs, 45 pairs
//!     BENCH_RUNS=5 BENCH_SCENARIO=scenarios/peak.toml cargo bench --bench baseline_noise
//!     BENCH_VARY_SEED=1 cargo bench --bench baseline_noise     # seeds 1..=N: sampling noise too
//!
//! Besides the alarms it reports how many metric comparisons moved beyond
//! tolerance and floor alone: those are the alarms the noise test prevented.
//!
//! Target: false alarms in at most 5% of pairs, the family-wise rate the
//! gate's noise tests are built for (`FAMILY_ALPHA`). The last line is
//! `all targets met` or `FAIL: … missed (…)`, which exits 1.

mod targets;

use std::collections::BTreeMap;
use std::path::Path;

use slabench::baseline::compare::{compare, FAMILY_ALPHA};
use slabench::baseline::file::{Baseline, GateSettings};
use slabench::baseline::Change;
use targets::Targets;

fn main() {
    let runs: usize = env_or("BENCH_RUNS", 10);
    let path = std::env::var("BENCH_SCENARIO").unwrap_or_else(|_| "scenarios/smoke.toml".into());
    let vary_seed = std::env::var_os("BENCH_VARY_SEED").is_some();
    let scenario = slabench::scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");

    let mut baselines = Vec::new();
    for i in 0..runs {
        let mut sc = scenario.clone();
        if vary_seed {
            sc.seed = i as u64 + 1;
        }
        let dir = tmp.path().join(format!("run-{i}"));
        let opts = slabench::run::RunOptions {
            out: Some(dir.clone()),
            quiet: true,
            ..Default::default()
        };
        let out = rt
            .block_on(slabench::run::run(&sc, opts))
            .unwrap_or_else(|e| panic!("run {i}: {e:#}"));
        let s = &out.summary;
        println!(
            "run {i:>2}: seed {} · verdict {} · p99 all {:.1} ms · {}",
            sc.seed,
            s.verdict.as_str(),
            s.latency_ms.all.p99,
            s.latency_ms
                .classes
                .iter()
                .map(|(n, c)| format!("{n} p99 {:.1} ms", c.latency.p99))
                .collect::<Vec<_>>()
                .join(" · ")
        );
        let (b, _) = Baseline::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        baselines.push(b);
    }

    let gate = GateSettings {
        tolerance: scenario.gate.tolerance,
        floor_ms: scenario.gate.floor.as_secs_f64() * 1000.0,
    };
    let mut pairs = 0;
    let mut alarms = Vec::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut beyond_allowance_only = 0;
    for i in 0..runs {
        for j in i + 1..runs {
            pairs += 1;
            let c = compare(
                &baselines[i],
                Path::new(&format!("run-{i}")),
                &baselines[j],
                gate,
            );
            for m in &c.metrics {
                *tally.entry(m.change.as_str()).or_default() += 1;
                if m.detail.contains("not beyond the noise") {
                    beyond_allowance_only += 1;
                }
                if m.change == Change::Regressed {
                    alarms.push(format!("run {i} → run {j}: {}: {}", m.metric, m.detail));
                }
            }
        }
    }
    let alarmed_pairs = {
        let mut p: Vec<&str> = alarms
            .iter()
            .map(|a| a.split(':').next().unwrap_or(""))
            .collect();
        p.dedup();
        p.len()
    };
    println!(
        "\n{runs} runs of {path}{}, {pairs} pairs, tolerance {:.0}%, floor {} ms",
        if vary_seed { " (seeds 1..=N)" } else { "" },
        gate.tolerance * 100.0,
        gate.floor_ms
    );
    println!("metric verdicts: {tally:?}");
    println!(
        "beyond tolerance and floor but not the noise (alarms the noise test prevented): {beyond_allowance_only}"
    );
    let rate = alarmed_pairs as f64 / pairs.max(1) as f64;
    let shown = format!("{alarmed_pairs} of {pairs} pairs ({:.1}%)", rate * 100.0);
    println!(
        "false alarms: {shown} (target <= {:.0}%)",
        FAMILY_ALPHA * 100.0
    );
    for a in &alarms {
        println!("  {a}");
    }
    let mut targets = Targets::default();
    targets.check(
        &format!("false alarms <= {:.0}% of pairs", FAMILY_ALPHA * 100.0),
        rate <= FAMILY_ALPHA,
        shown,
    );
    targets.finish();
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
