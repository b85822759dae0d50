//! report.html in a real headless browser (Debian's chromium): the page
//! of a short run through the built-in gateway with an outage must load
//! with no console message and no network request, and every chart must be
//! in the DOM with something drawn; a screenshot is kept as a test
//! artifact (target/test-artifacts/report.png).
//!
//! `#[ignore]`d, because it needs chromium: `cargo test` lists it as
//! ignored, and CI (`.ci/run`, which installs chromium) runs it with
//! `--include-ignored`, where a missing chromium is a failure. What needs no
//! browser (CSP, escaping, charts in the HTML text, the rebuilt reports) is
//! in `report_html.rs`, which always runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::outage_run::outage_run;

const NEEDS: &str = "needs chromium (apt-get install chromium)";

/// The first of Debian's, Ubuntu's or Google's chromium on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs chromium headless on `page` with `extra` flags and a fresh profile;
/// returns (stdout, stderr).
fn browse(chromium: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            // Any request that slipped past the page's CSP would fail to resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium (apt-get install chromium)"]
async fn report_html_loads_cleanly_in_a_headless_browser() {
    let chromium = chromium().unwrap_or_else(|| {
        panic!("{NEEDS}: none of chromium, chromium-browser, google-chrome is on PATH")
    });
    let dir = tempfile::tempdir().unwrap();
    outage_run(dir.path()).await;

    let page = dir.path().join("report.html");
    let (dom, log) = browse(&chromium, &page, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    assert!(
        dom.contains("browser &lt;check&gt; &amp; \"quotes\""),
        "title not parsed as text"
    );
    let figures: Vec<&str> = dom.split("<figure class=\"chart\"").skip(1).collect();
    // Seven time charts (the gateway's overhead among them), one spectrum
    // per class, TTFT and ITL.
    assert_eq!(figures.len(), 7 + 2 + 2, "charts in the DOM");
    for f in &figures {
        let fig = &f[..f.find("</figure>").unwrap()];
        let id = fig.split('"').nth(1).unwrap_or("?");
        assert!(
            fig.contains("<polyline") || fig.contains("<polygon"),
            "chart {id} drew no line or area"
        );
    }

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = browse(
        &chromium,
        &page,
        &[
            "--window-size=1280,7200",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(!log.contains(":CONSOLE"), "{log}");
    let size = std::fs::metadata(&shot).expect("a screenshot").len();
    assert!(size > 50_000, "screenshot is {size} bytes: blank?");
    std::fs::copy(&page, artifacts.join("report.html")).unwrap();
}
