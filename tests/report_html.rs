//! The report of a real run, read as files: report.html is self-contained
//! (a CSP that forbids every fetch, and nothing to fetch), the scenario's
//! strings are escaped, every chart drew something; requests.csv has one
//! row per request; `slabench report` rebuilds the same Markdown and JUnit.
//!
//! `report_browser.rs` opens the same page in a real browser; this file
//! needs none, so it always runs.

mod common;

use std::path::Path;

use common::outage_run::{outage_run, NAME};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_runs_report_files_are_complete_self_contained_and_rebuildable() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = outage_run(dir.path()).await;
    requests_csv_has_a_row_per_request(dir.path(), outcome.summary.generator.sent);
    report_rebuilds_the_same_markdown_and_junit(dir.path());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    html_is_self_contained(&html);
    html_escapes_the_scenario_name(&html);
    every_chart_drew_something(&html);
}

fn requests_csv_has_a_row_per_request(dir: &Path, sent: u64) {
    let rows = std::fs::read_to_string(dir.join("requests.csv")).unwrap();
    assert_eq!(
        rows.lines().count() as u64,
        sent + 1,
        "requests.csv: a header and one row per sent request"
    );
}

fn report_rebuilds_the_same_markdown_and_junit(dir: &Path) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let (md, junit) = (read("summary.md"), read("junit.xml"));
    slabench::report::rebuild(dir, |_| Vec::new()).unwrap();
    assert_eq!(read("summary.md"), md, "summary.md rebuilt differently");
    assert_eq!(read("junit.xml"), junit, "junit.xml rebuilt differently");
}

fn html_is_self_contained(html: &str) {
    assert!(
        html.contains("default-src 'none'"),
        "no CSP that forbids fetches"
    );
    for needle in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(needle), "report.html holds {needle:?}");
    }
}

fn html_escapes_the_scenario_name(html: &str) {
    assert!(
        html.contains("browser &lt;check&gt; &amp; &quot;quotes&quot;"),
        "the scenario name {NAME:?} is not in the page, escaped"
    );
    assert!(!html.contains("<check>"), "unescaped scenario name");
}

fn every_chart_drew_something(html: &str) {
    let figures: Vec<&str> = html.split("<figure class=\"chart\"").skip(1).collect();
    // Seven time charts, one spectrum per class, TTFT and ITL.
    assert_eq!(figures.len(), 7 + 2 + 2, "charts in the page");
    for f in &figures {
        let fig = &f[..f.find("</figure>").unwrap()];
        let id = fig.split('"').nth(1).unwrap_or("?");
        assert!(
            fig.contains("<polyline") || fig.contains("<polygon"),
            "chart {id} drew no line or area"
        );
        assert!(fig.matches("<text").count() > 5, "chart {id} has no labels");
    }
    assert!(
        !html.contains("could not be drawn"),
        "a chart could not be drawn"
    );
}
