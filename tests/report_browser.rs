//! report.html in a real headless browser (Debian's chromium): a short run
//! through the built-in gateway with an outage, then the page must load
//! with no console error and no network request, every chart must have
//! drawn something, and a screenshot is kept as a test artifact
//! (target/test-artifacts/report.png). `slabench report` must rebuild the
//! same Markdown and JUnit from the run directory.
//!
//! Without chromium on PATH the test says so and passes, unless
//! SLABENCH_REQUIRE_BROWSER is set (`.ci/run` sets it after installing it).

use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIO: &str = r#"
name = "browser <check> & \"quotes\""
description = "6 s at 1,200 RPM; flash is out from 2 s to 4 s"
seed = 11
[load]
timeout = "10s"
drain = "5s"
stages = [{ hold_rpm = 1200, for = "6s" }]
[[traffic]]
name = "chat"
weight = 80
model = "default"
prompt_tokens = 200
max_tokens = 60
[traffic.sla]
p99 = "3s"
[[traffic]]
name = "stream"
weight = 20
model = "default"
prompt_tokens = 200
max_tokens = 60
stream = true
[gateway]
kind = "builtin"
[gateway.routes]
default = ["flash", "qwen"]
[gateway.policy]
attempt_timeout = "3s"
[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
[[providers]]
name = "qwen"
profile = "qwen3-32b"
[[faults]]
provider = "flash"
kind = "outage"
as = "5xx"
status = 503
start = "2s"
duration = "2s"
[sla]
uptime = "99%"
max_amplification = 2.0
"#;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
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
async fn report_html_loads_cleanly_in_a_headless_browser() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("SLABENCH_REQUIRE_BROWSER").is_none(),
            "SLABENCH_REQUIRE_BROWSER is set but chromium is not on PATH"
        );
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
        return;
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/browser.toml");
    let sc = slabench::scenario::from_str(SCENARIO, &path, &|_| None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = slabench::run::RunOptions {
        out: Some(dir.path().to_path_buf()),
        quiet: true,
        stop: None,
        requests_csv: true,
        allow_unreachable: false,
    };
    let outcome = slabench::run::run(&sc, opts).await.unwrap();
    let sent = outcome.summary.generator.sent;
    let rows = std::fs::read_to_string(dir.path().join("requests.csv")).unwrap();
    assert_eq!(
        rows.lines().count() as u64,
        sent + 1,
        "requests.csv: one row per sent request"
    );

    // `slabench report` rebuilds the same Markdown and JUnit from the files.
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    slabench::report::rebuild(dir.path(), |_| Vec::new()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("summary.md")).unwrap(),
        md
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("junit.xml")).unwrap(),
        junit
    );

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
        "title not escaped as text"
    );
    let figures: Vec<&str> = dom.split("<figure class=\"chart\"").skip(1).collect();
    // Six time charts, one spectrum per class, TTFT and ITL.
    assert_eq!(figures.len(), 6 + 2 + 2, "charts in the page");
    for f in &figures {
        let fig = &f[..f.find("</figure>").unwrap()];
        let id = fig.split('"').nth(1).unwrap_or("?");
        assert!(
            fig.contains("<polyline") || fig.contains("<polygon"),
            "chart {id} drew no line or area"
        );
        assert!(fig.matches("<text").count() > 5, "chart {id} has no labels");
    }
    assert!(!dom.contains("could not be drawn"));

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
