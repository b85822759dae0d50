//! Composing, scoring and rendering, without running anything.

use std::path::{Path, PathBuf};

use super::battery::{battery, Case};
use super::compose::{check_gateway_only, scenario, PROVIDERS};
use super::score::{combine, score, Criterion, Mark, Score, State};
use super::{case_out, render, Scorecard};
use crate::analysis::{Check, CheckKind, CheckState, Verdict};
use crate::report::synthetic::{run_data, Shape};
use crate::results::Summary;

const BUILTIN: &str = "[gateway]\nkind = \"builtin\"\n[gateway.routes]\n\
    default = [\"flash\", \"flash-b\", \"qwen\", \"r1\"]\npremium = [\"r1\", \"qwen\"]\n";

fn case(name: &str) -> Case {
    battery().into_iter().find(|c| c.name == name).unwrap()
}

fn profiles() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let p = super::compose::write_profiles(dir.path()).unwrap();
    (dir, p)
}

#[test]
fn every_case_composes_to_a_valid_scenario_named_after_it() {
    let (_d, p) = profiles();
    for c in battery() {
        let sc = scenario(BUILTIN, Path::new("gw.toml"), &c, 12, &p, 7)
            .unwrap_or_else(|e| panic!("{}: {e:#}", c.name));
        assert_eq!((sc.name.as_str(), sc.seed), (c.name, 7));
        assert_eq!(sc.providers.len(), PROVIDERS.len());
        assert!(!sc.faults.is_empty(), "{}", c.name);
    }
}

#[test]
fn profiles_take_the_topology_regions() {
    let (_d, p) = profiles();
    let west = std::fs::read_to_string(&p[1]).unwrap();
    assert!(west.contains("region = \"us-west\"") && !west.contains("us-east"));
    assert!(std::fs::read_to_string(&p[3])
        .unwrap()
        .contains("region = \"us-east\""));
}

#[test]
fn an_error_in_the_gateway_file_keeps_its_line_number() {
    let (_d, p) = profiles();
    let text = "# a comment\n[gateway]\nkind = \"builtin\"\nbogus = 1\n";
    let e = scenario(text, Path::new("gw.toml"), &case("hang"), 12, &p, 1).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("gw.toml:4"), "{msg}");
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn a_key_besides_gateway_is_refused_at_its_line() {
    let text = "[gateway]\nkind = \"builtin\"\n\n[load]\narrival = \"poisson\"\n";
    let e = check_gateway_only(text, Path::new("gw.toml")).unwrap_err();
    assert!(e.message.contains("gw.toml:4"), "{}", e.message);
    assert!(e.message.contains("`load`") && e.message.contains("only [gateway]"));
    let top = "seed = 3\n[gateway]\nkind = \"builtin\"\n";
    let e = check_gateway_only(top, Path::new("gw.toml")).unwrap_err();
    assert!(e.message.contains("gw.toml:1") && e.message.contains("`seed`"));
    assert!(check_gateway_only(BUILTIN, Path::new("gw.toml")).is_ok());
    assert!(check_gateway_only("", Path::new("gw.toml")).is_err());
}

fn summary() -> Summary {
    let mut s = run_data(&Shape {
        seconds: 12,
        classes: 1,
        providers: 3,
        rps: 5,
        name: "sc".into(),
    })
    .summary;
    s.verdict = Verdict::Pass;
    s.requests.by_outcome.clear();
    s.checks = vec![
        Check::measured("uptime", CheckKind::Sla, ">= 99%", "100%", true),
        Check::measured(
            "upstream amplification",
            CheckKind::Sla,
            "<= 1.5x",
            "1.1x",
            true,
        ),
        Check::measured(
            "time to failover: outage",
            CheckKind::Sla,
            "<= 3 s",
            "1.0 s",
            true,
        ),
    ];
    s
}

fn mark(s: &super::score::Scored, c: Criterion) -> &Mark {
    s.marks.iter().find(|m| m.name == c).unwrap()
}

#[test]
fn measured_and_passed_primary_criteria_pass_the_case() {
    let s = score(&case("outage-503"), &summary());
    assert_eq!(s.score, Score::Pass, "{}", s.reason);
    assert_eq!(mark(&s, Criterion::Reacted).state, State::Pass);
}

#[test]
fn an_unmeasured_primary_criterion_never_passes() {
    let mut sum = summary();
    sum.checks[2] = Check::unmeasured(
        "time to failover: outage",
        CheckKind::Sla,
        "<= 3 s",
        CheckState::NotExercised,
        "traffic had already left",
    );
    let s = score(&case("outage-503"), &sum);
    let m = mark(&s, Criterion::Reacted);
    assert_eq!(m.state, State::NotMeasured);
    assert!(m.reason.contains("not exercised"), "{}", m.reason);
    assert_eq!(s.score, Score::NotMeasured);
    // No check at all is not a pass either.
    sum.checks.truncate(2);
    assert_eq!(score(&case("outage-503"), &sum).score, Score::NotMeasured);
}

#[test]
fn a_failed_primary_fails_and_a_failed_secondary_is_partial() {
    let mut sum = summary();
    sum.checks[0].pass = false;
    let s = score(&case("outage-503"), &sum);
    assert_eq!(
        (s.score, s.reason.as_str()),
        (Score::Fail, "failed: survived")
    );
    let mut sum = summary();
    sum.requests.by_outcome.insert("truncated_answer".into(), 2);
    let s = score(&case("outage-503"), &sum);
    assert_eq!(s.score, Score::Partial, "no_bad_success is secondary here");
    assert_eq!(mark(&s, Criterion::NoBadSuccess).state, State::Fail);
    assert_eq!(score(&case("stream-cut"), &sum).score, Score::Fail);
}

#[test]
fn an_invalid_or_interrupted_run_is_not_measured_and_says_so() {
    for (v, word) in [
        (Verdict::Invalid, "INVALID"),
        (Verdict::Interrupted, "INTERRUPTED"),
    ] {
        let mut sum = summary();
        sum.verdict = v;
        let s = score(&case("outage-503"), &sum);
        assert_eq!(s.score, Score::NotMeasured);
        assert!(s.reason.contains(word), "{}", s.reason);
    }
}

#[test]
fn a_pass_stands_only_on_a_run_whose_verdict_is_pass() {
    // A required check no criterion reads could not be measured.
    let mut sum = summary();
    sum.verdict = Verdict::Unmeasured;
    sum.checks.push(Check::unmeasured(
        "chat latency p99",
        CheckKind::Sla,
        "<= 1 s",
        CheckState::NotExercised,
        "no chat request",
    ));
    let s = score(&case("outage-503"), &sum);
    assert_eq!(s.score, Score::NotMeasured, "{}", s.reason);
    assert!(s.reason.contains("chat latency p99"), "{}", s.reason);
    // A failed check no criterion reads fails the case.
    let mut sum = summary();
    sum.verdict = Verdict::Fail;
    sum.checks.push(Check::measured(
        "chat latency p50",
        CheckKind::Sla,
        "<= 1 s",
        "4 s",
        false,
    ));
    let s = score(&case("outage-503"), &sum);
    assert_eq!(s.score, Score::Fail);
    assert!(
        s.reason.contains("chat latency p50: 4 s against <= 1 s"),
        "{}",
        s.reason
    );
    // ... and is not hidden behind an unmeasured primary criterion.
    sum.checks.remove(2);
    let s = score(&case("outage-503"), &sum);
    assert_eq!(mark(&s, Criterion::Reacted).state, State::NotMeasured);
    assert_eq!(s.score, Score::Fail, "{}", s.reason);
    // The gateway dying is a failure to survive.
    let mut sum = summary();
    sum.verdict = Verdict::Fail;
    sum.checks.push(Check::measured(
        "gateway process stayed up",
        CheckKind::Sla,
        "no exit",
        "exited at 4.0 s",
        false,
    ));
    let s = score(&case("all-down"), &sum);
    assert_eq!(s.score, Score::Fail);
    assert_eq!(mark(&s, Criterion::Survived).state, State::Fail);
}

#[test]
fn a_malformed_answer_is_a_bad_success() {
    let mut sum = summary();
    sum.requests.by_outcome.insert("malformed".into(), 3);
    let s = score(&case("malformed"), &sum);
    assert_eq!(mark(&s, Criterion::NoBadSuccess).state, State::Fail);
    assert_eq!(s.score, Score::Fail);
}

#[test]
fn with_every_provider_down_reacting_is_answering_errors_fast() {
    let mut sum = summary();
    for w in &mut sum.failover.as_mut().unwrap().windows {
        w.all_p99_ms = Some(800.0);
    }
    let s = score(&case("all-down"), &sum);
    assert_eq!(mark(&s, Criterion::Reacted).state, State::Pass);
    sum.failover.as_mut().unwrap().windows[0].all_p99_ms = Some(14_000.0);
    let s = score(&case("all-down"), &sum);
    let m = mark(&s, Criterion::Reacted);
    assert_eq!(m.state, State::Fail);
    assert!(m.measured.contains("14000 ms"), "{}", m.measured);
    assert_eq!(s.score, Score::Fail);
    for w in &mut sum.failover.as_mut().unwrap().windows {
        w.all_p99_ms = None;
    }
    let s = score(&case("all-down"), &sum);
    assert_eq!(mark(&s, Criterion::Reacted).state, State::NotMeasured);
    assert_eq!(s.score, Score::NotMeasured);
}

#[test]
fn the_fault_must_leave_a_trace_in_the_ledger() {
    use super::evidence::{count, trace, Trace};
    use crate::providers::{ledger_writer::LedgerWriter, Attempt, AttemptOutcome};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.bin");
    let writer = LedgerWriter::create(&path, 4).unwrap();
    let sink = writer.sink();
    let at = |provider, arrived_s: f64, lasted_s: f64, first_s: Option<f64>, outcome| Attempt {
        tag: Some(1),
        provider,
        arrived_us: (arrived_s * 1e6) as i64,
        answered_us: ((arrived_s + lasted_s) * 1e6) as i64,
        outcome,
        status: 200,
        input_tokens: 1,
        output_tokens: 1,
        stream: true,
        first_byte_us: first_s.map(|f: f64| (f * 1e6) as u32),
        retry_after_ms: None,
        fault: None,
    };
    let ok = AttemptOutcome::Ok;
    sink.record(at(0, 4.0, 0.2, Some(0.15), ok)); // normal
    sink.record(at(0, 5.0, 3.3, Some(0.15), ok)); // stalled 3 s
    sink.record(at(0, 6.0, 2.0, None, AttemptOutcome::ClientGone)); // cold start, left at 2 s
    sink.record(at(0, 7.0, 0.1, Some(0.1), AttemptOutcome::StreamCut));
    sink.record(at(1, 7.0, 0.1, Some(0.1), AttemptOutcome::StreamCut)); // other provider
    sink.record(at(0, 10.0, 0.1, Some(0.1), AttemptOutcome::StreamCut)); // after the window
    writer.finish().unwrap();
    let window = (3_000_000, 9_000_000);
    let n = |t| count(&path, 0, window, t).unwrap();
    assert_eq!(n(trace(&case("stream-cut")).unwrap()), 1);
    assert_eq!(n(trace(&case("stream-stall")).unwrap()), 1);
    assert_eq!(n(trace(&case("cold-start")).unwrap()), 1);
    assert_eq!(n(trace(&case("malformed")).unwrap()), 0);
    assert_eq!(n(Trace::PausedAfterFirstByte(Duration::from_secs(5))), 0);
    assert_eq!(n(Trace::Any), 4, "every attempt at flash in the window");
    assert_eq!(n(trace(&case("error-burst-5xx")).unwrap()), 0);
    assert!(trace(&case("outage-503")).is_none());
    assert!(count(
        &dir.path().join("none.bin"),
        0,
        window,
        Trace::FirstByteLate(Duration::ZERO)
    )
    .is_err());
}

#[test]
fn an_error_in_the_scorecards_own_part_names_no_line() {
    let (_d, p) = profiles();
    let text = "[gateway]\nkind = \"builtin\"\n[gateway.routes]\ndefault = [\"flash\"]\n";
    let e = scenario(text, Path::new("gw.toml"), &case("hang"), 12, &p, 1).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.starts_with("gw.toml: the gateway does not fit"),
        "{msg}"
    );
    assert!(msg.contains("premium"), "{msg}");
}

#[test]
fn recovery_needs_every_outage_window_back() {
    let mut sum = summary();
    let w = &mut sum.failover.as_mut().unwrap().windows;
    w.truncate(1);
    w[0].fault = "outage (503)".into();
    w[0].time_to_failover_s = Some(1.0);
    w[0].time_to_recover_s = None;
    let s = score(&case("recovery"), &sum);
    assert_eq!(mark(&s, Criterion::Recovered).state, State::Fail);
    assert_eq!(s.score, Score::Fail);
    sum.failover.as_mut().unwrap().windows[0].time_to_recover_s = Some(2.0);
    assert_eq!(score(&case("recovery"), &sum).score, Score::Pass);
}

#[test]
fn combine_with_nothing_failed_and_nothing_unmeasured_passes() {
    assert_eq!(combine(&[]).0, Score::Pass);
}

fn card() -> Scorecard {
    let mut bad = summary();
    bad.checks[0].pass = false;
    Scorecard {
        gateway: "gw.toml".into(),
        slabench_version: "0.0.0".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        scenarios: vec![
            case_out(&case("outage-503"), &summary(), 12.0),
            case_out(&case("hang"), &bad, 12.0),
        ],
        complete: false,
    }
}

#[test]
fn markdown_is_one_table_with_a_row_per_case() {
    let md = render::markdown(&card());
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 3, "{md}");
    assert!(rows[1].starts_with("| outage-503 | **PASS** |"));
    assert!(rows[2].contains("**FAIL**") && rows[2].contains("failed: survived"));
    assert!(md.contains("INCOMPLETE"));
}

#[test]
fn a_reason_over_several_lines_stays_in_its_table_cell() {
    let mut c = card();
    c.scenarios[1].reason = "the run could not be made: exited\n  log: x | y\n    | boom".into();
    let md = render::markdown(&c);
    let row = md.lines().find(|l| l.starts_with("| hang |")).unwrap();
    assert!(
        row.ends_with("the run could not be made: exited log: x / y / boom |"),
        "{row}"
    );
}

#[test]
fn html_links_each_case_to_its_report_and_marks_cells_in_words() {
    let h = render::html(&card());
    assert!(h.contains("Content-Security-Policy"));
    assert!(h.contains("<a href=\"outage-503/report.html\">outage-503</a>"));
    assert!(h.contains("<a href=\"hang/report.html\">hang</a>"));
    assert!(h.contains("class=\"fail primary\""));
    assert!(
        h.contains("<a href=\"hang/report.html\">FAIL</a>"),
        "every cell links to its case's report"
    );
    assert!(h.contains("INCOMPLETE"));
    assert!(!h.contains("<script"));
}

#[test]
fn exit_codes_follow_the_scores() {
    let mut c = card();
    assert_eq!(c.exit_code(), crate::exit::INTERRUPTED);
    c.complete = true;
    assert_eq!(c.exit_code(), crate::exit::FAIL);
    c.scenarios.truncate(1);
    assert_eq!(c.exit_code(), crate::exit::PASS);
    let mut unmeasured = summary();
    unmeasured.verdict = Verdict::Invalid;
    c.scenarios.push(case_out(&case("hang"), &unmeasured, 12.0));
    assert_eq!(c.exit_code(), crate::exit::INVALID);
    unmeasured.verdict = Verdict::Unmeasured;
    c.scenarios[1] = case_out(&case("hang"), &unmeasured, 12.0);
    assert_eq!(c.scenarios[1].score, Score::NotMeasured);
    assert_eq!(c.exit_code(), crate::exit::UNMEASURED);
    c.scenarios[1].verdict = None;
    assert_eq!(
        c.exit_code(),
        crate::exit::USAGE,
        "a run that could not be made"
    );
    c.scenarios[1].verdict = Some("INVALID".into());
    c.complete = false;
    assert_eq!(c.exit_code(), crate::exit::INVALID, "INVALID ranks worst");
}
