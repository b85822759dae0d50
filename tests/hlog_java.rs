//! latency.hlog is an HdrHistogram interval log that the reference (Java)
//! implementation reads: its HistogramLogProcessor sees the same count and
//! maximum that summary.json reports.
//!
//! `#[ignore]`d, because it needs a JVM and Debian's libhdrhistogram-java:
//! `cargo test` lists it as ignored, and CI (`.ci/run`, which installs
//! them) runs it with `--include-ignored`, where a missing one is a failure.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::fake::*;
use wiremock::ResponseTemplate;

const JAR: &str = "/usr/share/java/hdrhistogram.jar";

/// Why the reference tools cannot run here, if they cannot.
fn java_missing() -> Option<String> {
    if !Path::new(JAR).exists() {
        return Some(format!("{JAR} is missing"));
    }
    match Command::new("java").arg("-version").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`java -version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Some(format!("java does not run: {e}")),
    }
}

/// `(total count, max)` from the footer of a .hgrm percentile file.
fn footer(hgrm: &str) -> (u64, f64) {
    let line = hgrm
        .lines()
        .find(|l| l.starts_with("#[Max"))
        .expect("a #[Max … line");
    let num = |key: &str| {
        line.split(key)
            .nth(1)
            .unwrap()
            .split([',', ']'])
            .next()
            .unwrap()
            .trim()
            .to_string()
    };
    (
        num("Total count    =").parse().unwrap(),
        num("Max     =").parse().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs java and libhdrhistogram-java"]
async fn the_reference_java_tools_read_latency_hlog() {
    if let Some(why) = java_missing() {
        panic!(
            "needs java and libhdrhistogram-java \
             (apt-get install default-jre-headless libhdrhistogram-java): {why}"
        );
    }
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_json(completion("x"))
            .set_delay(Duration::from_millis(5)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // 1,200 RPM for 3 s: 60 requests over several one-second intervals.
    let s = slabench::run::run(&scenario(&server.uri(), 1200.0, 3), quiet_into(dir.path()))
        .await
        .unwrap()
        .summary;
    let out = dir.path().join("java");
    let status = Command::new("java")
        .args(["-cp", JAR, "org.HdrHistogram.HistogramLogProcessor", "-i"])
        .arg(dir.path().join("latency.hlog"))
        .args(["-tag", "default", "-outputValueUnitRatio", "1000", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let hgrm = std::fs::read_to_string(out.with_extension("hgrm")).unwrap();
    let (count, max_ms) = footer(&hgrm);
    let class = &s.latency_ms.classes["default"];
    assert_eq!(count, class.latency.count);
    assert!(
        (max_ms - class.latency.max).abs() <= class.latency.max * 0.001,
        "java {max_ms} ms vs summary {} ms",
        class.latency.max
    );
}
