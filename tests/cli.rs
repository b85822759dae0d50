//! The binary as a user runs it: help, validate, exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fake::*;
use wiremock::ResponseTemplate;

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

#[test]
fn help_documents_examples_and_exit_codes() {
    let out = slabench(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "run",
        "validate",
        "mock",
        "gateway",
        "Exit codes",
        "3  INVALID",
        "4  REGRESSION",
        "slabench run scenarios/peak.toml",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}");
    }
    assert_eq!(slabench(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn validate_accepts_the_shipped_scenarios_and_rejects_a_bad_one() {
    let out = slabench(&[
        "validate",
        "scenarios/smoke.toml",
        "scenarios/peak.toml",
        "scenarios/no-failover.toml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ok: "))
            .count(),
        3
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[load]\nstages = [{ hold_rpm = -5, for = \"10s\" }]\n\n[[traffic]]\nmodel = \"m\"\n\n[gateway]\nurl = \"http://127.0.0.1:9\"\n").unwrap();
    let out = slabench(&["validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:2:")
            && err.contains("load.stages[0].hold_rpm")
            && err.contains("help:"),
        "{err}"
    );

    // A run of a bad or missing scenario starts nothing and exits 2.
    assert_eq!(
        slabench(&["run", bad.to_str().unwrap()]).status.code(),
        Some(2)
    );
    assert_eq!(
        slabench(&["run", "no/such/file.toml"]).status.code(),
        Some(2)
    );
}

/// A one-second scenario against `url`. Generator accuracy is the engine
/// benchmark's job: a generous lag limit keeps a loaded CI machine from
/// turning these verdicts into INVALID.
fn scenario_file(dir: &Path, url: &str) -> String {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        format!("[load]\nmax_lag_p99 = \"1s\"\nstages = [{{ hold_rpm = 600, for = \"1s\" }}]\n\n[[traffic]]\nmodel = \"m\"\n\n[gateway]\nurl = \"{url}\"\n\n[sla]\nuptime = \"99%\"\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exit_codes_follow_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let file = scenario_file(dir.path(), &ok.uri());
    let out_dir = dir.path().join("out");
    let out = tokio::task::spawn_blocking(move || {
        slabench(&["run", "--quiet", "--out", out_dir.to_str().unwrap(), &file])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "--quiet prints nothing: {}",
        text(&out.stderr)
    );
    assert!(dir.path().join("out/summary.json").exists());

    let failing = serve(ResponseTemplate::new(500)).await;
    let file = scenario_file(dir.path(), &failing.uri());
    let out_dir = dir.path().join("out2");
    let out = tokio::task::spawn_blocking(move || {
        slabench(&["run", "--out", out_dir.to_str().unwrap(), &file])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    assert!(
        table.contains("verdict: FAIL") && table.contains("uptime"),
        "{table}"
    );
}

/// Starts `slabench ARGS`, reads its first `lines` lines of stdout, returns them and the child.
fn start_serving(args: &[&str], lines: usize) -> (std::process::Child, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        got.push(line.trim_end().to_string());
    }
    // Keep reading, as a terminal would: a closed pipe would fail its last line.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, got)
}

/// Ctrl-C, as a user would stop it; returns the exit code.
fn interrupt(mut child: std::process::Child) -> Option<i32> {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_serves_the_scenarios_providers_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.bin");
    let (child, lines) = start_serving(
        &[
            "mock",
            "scenarios/smoke.toml",
            "--ledger",
            ledger.to_str().unwrap(),
        ],
        3,
    );
    assert!(
        lines[0].starts_with("flash") && lines[1].starts_with("qwen") && lines[2].starts_with("r1"),
        "{lines:?}"
    );
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/v1/chat/completions", url_in(&lines[0])))
        .header("x-slabench-request", "slb-7")
        .body(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-slabench-provider"], "flash");
    let code = tokio::task::spawn_blocking(move || interrupt(child))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let attempts: Vec<_> = slabench::providers::read_ledger(&ledger)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].tag, Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serves_the_builtin_router_until_ctrl_c() {
    // Three provider lines, then the gateway URL and its routes.
    let (child, lines) = start_serving(&["gateway", "scenarios/smoke.toml"], 4);
    let gateway = url_in(&lines[3]);
    let answer = reqwest::Client::new()
        .post(format!("{gateway}/v1/chat/completions"))
        .body(r#"{"model":"premium","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-slabench-served-by"], "r1");
    let code = tokio::task::spawn_blocking(move || interrupt(child))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}
