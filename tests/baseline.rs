//! The baseline gate end to end: short real runs through the built-in
//! gateway against one provider with a fixed latency range, saved as a
//! baseline and compared (in-process and through the binary), and the
//! refusals of baselines that do not fit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use slabench::analysis::Verdict;
use slabench::baseline::{Baseline, Change, RunGate};
use slabench::run::RunOutcome;
use slabench::scenario::{LatencyDist, Scenario, Stage, TrafficClass};

/// 5 s at 600 RPM through the built-in gateway to one provider answering in
/// 150–250 ms × `scale`.
fn scenario(scale: f64) -> Scenario {
    let mut sc = slabench::providers::testing::scenario(11, 1);
    sc.name = "gate-test".into();
    sc.load.stages = vec![Stage::Hold {
        rpm: 600.0,
        duration: Duration::from_secs(5),
    }];
    // A debug build shares 2 cores with other builds here.
    sc.load.max_lag_p99 = Some(Duration::from_secs(1));
    sc.traffic = vec![TrafficClass {
        name: "chat".into(),
        weight: 1.0,
        model: "default".into(),
        prompt_tokens: 50,
        max_tokens: 4,
        stream: false,
        budgets: Default::default(),
    }];
    let ms = |v: f64| Duration::from_secs_f64(v * scale / 1000.0);
    sc.providers[0].profile.ttft = LatencyDist::Uniform {
        min: ms(150.0),
        max: ms(250.0),
    };
    sc
}

async fn run(sc: &Scenario, dir: PathBuf, gate: RunGate) -> RunOutcome {
    slabench::run::run_gated(sc, common::fake::quiet_into(&dir), &gate)
        .await
        .unwrap()
}

fn against(sc: &Scenario, file: &Path) -> RunGate {
    RunGate::prepare(sc, Some(file), None, None, None).unwrap()
}

fn changes(out: &RunOutcome) -> Vec<(String, Change)> {
    let c = out.summary.baseline.as_ref().expect("a comparison");
    c.metrics
        .iter()
        .map(|m| (m.metric.clone(), m.change))
        .collect()
}

fn slabench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slower_regresses_same_is_noise_faster_is_no_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let file: PathBuf = tmp.path().join("baselines/gate.json");
    let base = scenario(1.0);
    let gate = RunGate::prepare(&base, None, Some(file.clone()), None, None).unwrap();
    let first = run(&base, tmp.path().join("base"), gate).await;
    assert_eq!(
        first.summary.verdict,
        Verdict::Pass,
        "{:?}",
        first.summary.checks
    );
    assert!(first.summary.baseline.is_none());
    assert!(file.exists() && first.out_dir.join("baseline.json").exists());

    // Three candidates at once (10 requests a second each is light work).
    let sc = [scenario(1.0), scenario(1.2), scenario(0.8)];
    let dir = |name: &str| tmp.path().join(name);
    let (same, slower, faster) = tokio::join!(
        run(&sc[0], dir("same"), against(&sc[0], &file)),
        run(&sc[1], dir("slower"), against(&sc[1], &file)),
        run(&sc[2], dir("faster"), against(&sc[2], &file)),
    );

    assert_eq!(same.summary.verdict, Verdict::Pass, "{:?}", changes(&same));
    assert!(changes(&same)
        .iter()
        .all(|(_, c)| *c == Change::WithinNoise));

    assert_eq!(slower.summary.verdict, Verdict::Regression);
    assert_eq!(slower.summary.verdict.exit_code(), 4);
    // The report draws the baseline's whole spectrum over the run's.
    let html = std::fs::read_to_string(slower.out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("chat, baseline"),
        "no baseline curve in report.html"
    );
    let regressed = changes(&slower);
    assert!(
        regressed.contains(&("chat p50".into(), Change::Regressed))
            && regressed.contains(&("chat p99".into(), Change::Regressed)),
        "{regressed:?}"
    );
    assert!(slower
        .summary
        .checks
        .iter()
        .any(|c| c.name == "baseline: chat p99" && !c.pass));
    // summary.json carries the comparison, valid against the schema.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(slower.out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(doc["baseline"]["metrics"][1]["change"], "regressed");
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&doc));
    let table = slabench::report::terminal::render(&slower.summary);
    assert!(table.contains("REGRESSED chat p99: "), "{table}");

    assert_eq!(
        faster.summary.verdict,
        Verdict::Pass,
        "{:?}",
        changes(&faster)
    );
    assert!(changes(&faster).contains(&("chat p50".into(), Change::Improved)));

    // The binary: compare the files and the run directories.
    let out = slabench(&[
        "compare",
        file.to_str().unwrap(),
        tmp.path().join("slower").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("verdict: REGRESSION"));
    let same_dir = tmp.path().join("same");
    let out = slabench(&[
        "compare",
        file.to_str().unwrap(),
        same_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A tolerance of 100% forgives the 20%.
    let slower_file = tmp.path().join("slower/baseline.json");
    let out = slabench(&[
        "compare",
        file.to_str().unwrap(),
        slower_file.to_str().unwrap(),
        "--tolerance",
        "100%",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// A baseline file of `scenario(1.0)` without a run: empty histograms.
fn write_baseline(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let sc = scenario(1.0);
    let empty = slabench::baseline::file::encode(&slabench::metrics::histogram::new()).unwrap();
    let b = Baseline {
        format: slabench::baseline::file::FORMAT.into(),
        schema_version: slabench::baseline::file::SCHEMA_VERSION,
        slabench_version: "test".into(),
        scenario: sc.name.clone(),
        seed: sc.seed,
        started_at: "2025-01-01T00:00:00Z".into(),
        fingerprint: slabench::baseline::file::Fingerprint::of(&sc),
        gate: slabench::baseline::file::GateSettings {
            tolerance: 0.1,
            floor_ms: 5.0,
        },
        classes: vec![slabench::baseline::file::ClassRecord {
            name: "chat".into(),
            ok_latency: empty,
            p50_per_second: vec![],
            p99_per_second: vec![],
        }],
        uptime: slabench::baseline::file::UptimeCounts { ok: 0, counted: 0 },
        failover_windows: vec![],
        summary: serde_json::Value::Null,
    };
    let mut v = serde_json::to_value(&b).unwrap();
    edit(&mut v);
    let file = dir.join("edited.json");
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    file
}

#[test]
fn baselines_that_do_not_fit_are_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write_baseline(tmp.path(), |_| {});
    let (loaded, _) = Baseline::load(&good).unwrap();
    assert_eq!(loaded.scenario, "gate-test");
    assert!(RunGate::prepare(&scenario(1.2), Some(&good), None, None, None).is_ok());

    // Another scenario: refused before any load, naming what differs.
    let smoke = slabench::scenario::load(Path::new("scenarios/smoke.toml")).unwrap();
    // As printed: the message, then the fix.
    let e = slabench::exit::render_one(
        &RunGate::prepare(&smoke, Some(&good), None, None, None).unwrap_err(),
    );
    assert!(e.contains(good.to_str().unwrap()), "{e}");
    assert!(
        e.contains("scenario: baseline \"gate-test\", this run \"smoke\""),
        "{e}"
    );
    assert!(e.contains("stages: baseline [hold 600 rpm for 5s]"), "{e}");
    assert!(e.contains("help: ") && e.contains("--save-baseline"), "{e}");
    let out = slabench(&[
        "run",
        "scenarios/smoke.toml",
        "--baseline",
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("was recorded for a different scenario"));

    // A schema version from elsewhere: refused for its version.
    let future = write_baseline(tmp.path(), |v| v["schema_version"] = 99.into());
    let out = slabench(&["compare", future.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("baseline schema version 99") && err.contains("reads version 1"),
        "{err}"
    );
    assert!(err.contains("help: re-record it"), "{err}");

    // Not a baseline at all (summary.json by mistake), and a missing file.
    std::fs::write(tmp.path().join("summary.json"), "{\"schema_version\": 1}").unwrap();
    let out = slabench(&[
        "compare",
        tmp.path().join("summary.json").to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a slabench baseline"));
    let out = slabench(&["compare", "no/such/file.json", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the baseline no/such/file.json"));
}

#[test]
fn a_save_path_that_cannot_be_written_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let err = RunGate::prepare(
        &scenario(1.0),
        None,
        Some(dir.path().to_path_buf()),
        None,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("it is a directory"), "{err}");
    // A fresh path in a new folder is fine, and probing it leaves no file behind.
    let fresh = dir.path().join("baselines/new.json");
    RunGate::prepare(&scenario(1.0), None, Some(fresh.clone()), None, None).unwrap();
    assert!(!fresh.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_not_saved_as_a_baseline_but_keeps_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("partial.json");
    let sc = scenario(1.0);
    let gate = RunGate::prepare(&sc, None, Some(save.clone()), None, None).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut opts = common::fake::quiet_into(&dir.path().join("run"));
    opts.stop = Some(rx);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let _ = tx.send(true);
    });
    // The refusal is a warning: the run's own verdict (exit 5) stands,
    // rather than a usage error.
    let out = slabench::run::run_gated(&sc, opts, &gate).await.unwrap();
    assert_eq!(
        out.summary.verdict,
        slabench::analysis::Verdict::Interrupted
    );
    assert!(!save.exists(), "a partial run must not become the baseline");
    for file in ["summary.json", "report.html", "summary.md", "junit.xml"] {
        assert!(
            dir.path().join("run").join(file).exists(),
            "{file} was not written"
        );
    }
}
