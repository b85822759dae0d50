//! The report files are contracts: snapshot tests over deterministic
//! synthetic data (CSV, Markdown, JUnit), and `slabench report` rebuilding
//! the same human outputs from a run directory.

use slabench::report::synthetic::{run_data, Shape};
use slabench::report::{self, Exporter, RunData};

/// A small run whose scenario name and class names carry markup, quotes
/// and separators, so every escaping path shows in the snapshots.
fn small() -> RunData {
    let mut data = run_data(&Shape {
        seconds: 10,
        classes: 2,
        providers: 2,
        rps: 4,
        name: "smoke <b>|\"quoted\", & more".into(),
    });
    data.classes[0] = "chat, \"fast\"".into();
    data.summary.scenario.traffic[0].name = data.classes[0].clone();
    let c = data.summary.latency_ms.classes.remove("class-0").unwrap();
    data.summary
        .latency_ms
        .classes
        .insert(data.classes[0].clone(), c);
    // One failing check, so the failure paths show too.
    let check = &mut data.summary.checks[1];
    (check.pass, check.measured) = (false, "99.500%".into());
    data.summary.verdict = slabench::analysis::Verdict::Fail;
    data
}

fn render(e: &dyn Exporter, data: &RunData) -> String {
    let mut out = Vec::new();
    e.write(data, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn timeseries_csv_snapshot() {
    insta::assert_snapshot!(render(&report::Timeseries, &small()));
}

#[test]
fn failovers_csv_snapshot() {
    insta::assert_snapshot!(render(&report::Failovers, &small()));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(render(&report::Markdown, &small()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(render(&report::Junit, &small()));
}

#[test]
fn html_escapes_scenario_strings_and_makes_no_requests() {
    let html = render(&report::Html, &small());
    assert!(html.contains("smoke &lt;b&gt;|&quot;quoted&quot;, &amp; more"));
    assert!(!html.contains("<b>|"), "unescaped scenario name");
    for needle in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(needle), "report.html holds {needle:?}");
    }
    assert!(html.contains("default-src 'none'"));
    // Verdict in colour and in words.
    assert!(html.contains("class=\"verdict v-FAIL\"") && html.contains("✘ FAIL"));
    assert!(html.contains("✔ PASS"));
    // Every chart drew something: lines (polyline) or areas (polygon).
    let figures: Vec<&str> = html.split("<figure class=\"chart\"").skip(1).collect();
    assert!(figures.len() >= 10, "{} charts", figures.len());
    for f in figures {
        let svg = &f[..f.find("</figure>").unwrap()];
        assert!(
            svg.contains("<polyline") || svg.contains("<polygon"),
            "empty chart: {}",
            &svg[..200.min(svg.len())]
        );
    }
}

#[test]
fn report_command_rebuilds_the_human_outputs_from_a_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = small();
    report::Exports::create(dir.path(), report::Set::Run)
        .unwrap()
        .write(&data)
        .unwrap();
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    for name in ["summary.md", "junit.xml", "report.html"] {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_slabench"))
        .arg("report")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("summary.md")).unwrap(),
        md
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("junit.xml")).unwrap(),
        junit
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"latency-over-time\"") && html.contains("id=\"served-by\""));

    // The timeline reads back as written.
    let back = report::run_dir::read(dir.path()).unwrap();
    assert_eq!(back.classes, data.classes);
    assert_eq!(back.providers, data.providers);
    assert_eq!(back.timeline.len(), data.timeline.len());
    assert_eq!(back.timeline[4].outcomes, data.timeline[4].outcomes);
    assert_eq!(back.timeline[4].failovers, data.timeline[4].failovers);
}

#[test]
fn report_on_a_directory_without_a_summary_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slabench"))
        .arg("report")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json"));
}
