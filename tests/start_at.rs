//! One common clock over the real binary: `run --start-at` waits for the
//! instant and starts its load on it (or, already too late, sends nothing
//! and is INVALID, saying why), `run --no-providers` measures nothing it
//! would need the providers' ledger for, `--allow-remote` is what lets a
//! non-loopback gateway or bind address through, and `slabench mock` runs
//! as a service (ports and start time from flags or the environment,
//! /health outside the ledger, SIGTERM flushes the ledger and exits 0).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Unix seconds of `t`, with milliseconds.
fn unix(t: SystemTime) -> String {
    format!("{:.3}", t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64())
}

/// A one-second scenario at 600 RPM against `url`, with a lag limit of
/// 200 ms (generous: the machine running the tests is shared), with
/// `extra` appended (providers, SLA keys).
fn scenario_file(dir: &Path, url: &str, extra: &str) -> String {
    let profile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-providers/deepseek-v4-flash.toml");
    let path = dir.join("s.toml");
    let body = format!(
        "[load]\nmax_lag_p99 = \"200ms\"\nstages = [{{ hold_rpm = 600, for = \"1s\" }}]\n\n\
         [[traffic]]\nmodel = \"m\"\n\n[gateway]\nurl = \"{url}\"\n\n[sla]\nuptime = \"99%\"\n{extra}"
    )
    .replace("PROFILE", &format!("{:?}", profile.display().to_string()));
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

fn check<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {}", s["checks"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_start_at_and_starts_its_load_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let file = scenario_file(dir.path(), &ok.uri(), "");
    let out_dir = dir.path().join("out");
    let began = SystemTime::now();
    let start_at = began + Duration::from_millis(1500);
    let at = unix(start_at);
    let o = out_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        slabench(&[
            "run",
            "--start-at",
            &at,
            "--out",
            o.to_str().unwrap(),
            &file,
        ])
    })
    .await
    .unwrap();
    let ended = SystemTime::now();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The wait is told on stderr, how late the load began in the table.
    assert!(stderr.contains("waiting for --start-at"), "{stderr}");
    let table = text(&out.stdout);
    assert!(
        table.contains("started") && table.contains("after --start-at"),
        "{table}"
    );
    // The load (1 s) ran after the instant, not from the process start.
    assert!(ended.duration_since(began).unwrap() >= Duration::from_millis(2400));
    let s = summary(&out_dir);
    assert_eq!(s["verdict"], "PASS");
    let late = s["generator"]["start_late_ms"]
        .as_f64()
        .expect("start_late_ms");
    assert!((0.0..200.0).contains(&late), "start_late_ms {late}");
    let wall = start_at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let rfc = s["generator"]["start_at"].as_str().unwrap();
    assert!(rfc.ends_with('Z'), "{rfc}");
    assert!(check(&s, "generator started at --start-at")["pass"] == true);
    assert_eq!(s["generator"]["sent"], 10);
    // latency.hlog's t=0 is the instant itself.
    let hlog = std::fs::read_to_string(out_dir.join("latency.hlog")).unwrap();
    let t0: f64 = hlog
        .lines()
        .find_map(|l| l.strip_prefix("#[StartTime: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a StartTime line");
    assert!(
        (t0 - wall).abs() < 0.002,
        "hlog t0 {t0} vs --start-at {wall}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_at_already_past_sends_nothing_and_is_invalid_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let file = scenario_file(dir.path(), &ok.uri(), "");
    let out_dir = dir.path().join("out");
    let at = unix(SystemTime::now() - Duration::from_secs(3));
    let o = out_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        slabench(&[
            "run",
            "--start-at",
            &at,
            "--out",
            o.to_str().unwrap(),
            &file,
        ])
    })
    .await
    .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(text(&out.stdout).contains("verdict: INVALID"), "{stderr}");
    let s = summary(&out_dir);
    assert_eq!(s["verdict"], "INVALID");
    assert_eq!(s["generator"]["sent"], 0);
    let late = s["generator"]["start_late_ms"].as_f64().unwrap();
    assert!(late >= 3000.0, "{late}");
    let c = check(&s, "generator started at --start-at");
    assert_eq!(c["pass"], false);
    let why = c["why"].as_str().unwrap();
    assert!(
        why.starts_with("was ready ")
            && why.contains("after --start-at 20")
            && why.contains("the lag limit is 200 ms")
            && why.contains(
                "this shard's schedule is not the one the other shards and providers kept"
            )
            && why.contains("not sent"),
        "{why}"
    );
    // Only the preflight request reached the gateway: the load was not sent.
    assert_eq!(ok.received_requests().await.unwrap().len(), 1);
    // Every report says it.
    let md = std::fs::read_to_string(out_dir.join("summary.md")).unwrap();
    assert!(md.contains("too late, nothing sent"), "{md}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("too late, nothing sent"));
}

/// A shard on a slow volume must not be late because it created its files
/// after waking for t=0: latency.hlog is there while it waits. Ctrl-C
/// during the wait leaves no file of the load that never began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_creates_its_outputs_before_waiting_for_start_at() {
    let dir = tempfile::tempdir().unwrap();
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let file = scenario_file(dir.path(), &ok.uri(), "");
    let out_dir = dir.path().join("out");
    let start_at = SystemTime::now() + Duration::from_secs(30);
    let args = [
        "run",
        "--start-at",
        &unix(start_at),
        "--requests-csv",
        "--out",
        out_dir.to_str().unwrap(),
        &file,
    ];
    let (run, _) = serving(&args, &[], 0);
    let hlog = out_dir.join("latency.hlog");
    let began = std::time::Instant::now();
    while !hlog.exists() {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "no latency.hlog while waiting for --start-at"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(SystemTime::now() < start_at);
    let text = std::fs::read_to_string(&hlog).unwrap_or_default();
    assert!(!text.contains("Tag="), "no interval before t=0: {text}");
    let (code, _) = tokio::task::spawn_blocking(move || run.stop(libc::SIGINT))
        .await
        .unwrap();
    assert_eq!(code, Some(5), "interrupted before the load");
    assert!(
        !out_dir.exists(),
        "{:?}",
        std::fs::read_dir(&out_dir).map(|d| d.map(|e| e.unwrap().file_name()).collect::<Vec<_>>())
    );
}

#[test]
fn start_at_is_refused_with_the_flag_and_the_forms_it_takes() {
    for bad in ["2026-12-03T18:00:00", "tomorrow", "30"] {
        let out = slabench(&["run", "--start-at", bad, "scenarios/smoke.toml"]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains("--start-at")
                && err.contains("2026-12-03T18:00:00Z")
                && err.contains("Unix seconds"),
            "{err}"
        );
    }
}

/// Starts `slabench ARGS` with `env`, reads its first `lines` lines of stdout.
fn serving(args: &[&str], env: &[(&str, String)], lines: usize) -> (Child, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        got.push(line.trim_end().to_string());
    }
    child.stdout = None;
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        rest
    });
    let rest = Some(rest);
    (Child { child, rest }, got)
}

struct Child {
    child: std::process::Child,
    /// The rest of its stdout, once it has exited.
    rest: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Child {
    /// A test that fails before stopping its servers leaves none behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Child {
    /// Sends `signal`; the exit code (None: no exit within 10 s) and the
    /// rest of stdout.
    fn stop(mut self, signal: i32) -> (Option<i32>, String) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (code, self.rest.take().unwrap().join().unwrap())
    }
}

/// Providers served elsewhere: a `slabench mock` and a gateway in front of
/// it (`slabench gateway`) on one common clock, and a run with
/// `--no-providers` against that gateway.
#[test]
fn no_providers_measures_nothing_it_needs_their_ledger_for() {
    let dir = tempfile::tempdir().unwrap();
    let profile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-providers/deepseek-v4-flash.toml");
    let providers = format!(
        "seed = 7\n[[providers]]\nname = \"flash\"\nprofile = {:?}\n",
        profile.display().to_string()
    );
    let gw_file = dir.path().join("gw.toml");
    std::fs::write(
        &gw_file,
        format!("{providers}[load]\nstages = [{{ hold_rpm = 600, for = \"1s\" }}]\n[[traffic]]\nmodel = \"m\"\n[gateway.routes]\nm = [\"flash\"]\n"),
    )
    .unwrap();
    let gw_file = gw_file.to_str().unwrap();
    let port = free_port();
    let ledger = dir.path().join("ledgers/flash-0.bin");
    let start_at = unix(SystemTime::now() + Duration::from_secs(2));
    let mock_args = [
        "mock",
        gw_file,
        "--port",
        &format!("flash={port}"),
        "--start-at",
        &start_at,
    ];
    // A flag wins over the environment.
    let env = [
        ("SLABENCH_LEDGER", ledger.display().to_string()),
        ("SLABENCH_PORTS", format!("flash={}", free_port())),
        ("SLABENCH_START_AT", "2000-01-01T00:00:00Z".into()),
    ];
    let (mock, _) = serving(&mock_args, &env, 2);
    let upstream = format!("flash=http://127.0.0.1:{port}");
    let (gateway, lines) = serving(&["gateway", gw_file, "--provider", &upstream], &[], 1);
    let gateway_url = lines[0].clone();
    // The seed line sits before [load]: the scenario's top level.
    let file = scenario_file(
        dir.path(),
        &gateway_url,
        "max_amplification = 1.5\nmax_time_to_failover = \"5s\"\n",
    );
    let body = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{providers}{body}")).unwrap();
    let out_dir = dir.path().join("out");
    let args = [
        "run",
        "--no-providers",
        "--start-at",
        &start_at,
        "--quiet",
        "--out",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(args)
        .arg(&out_dir)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(gateway.stop(libc::SIGINT).0, Some(0));
    let (code, rest) = mock.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{rest}");
    // The SLA promises failover numbers nothing here measured: UNMEASURED.
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(!out_dir.join("ledger.bin").exists());
    let s = summary(&out_dir);
    assert_eq!(s["verdict"], "UNMEASURED");
    assert!(s["failover"].is_null());
    // Answers came from the mock elsewhere and check out.
    assert_eq!(s["requests"]["ok"], 10, "{}", s["requests"]);
    assert_eq!(check(&s, "uptime")["pass"], true);
    for name in ["time to failover", "upstream amplification"] {
        let c = check(&s, name);
        assert_eq!(c["state"], "not_measured", "{c}");
        assert_eq!(c["pass"], false, "{c}");
        let why = c["why"].as_str().unwrap();
        assert!(
            why.contains("served elsewhere") && why.contains("slabench merge --ledger"),
            "{why}"
        );
    }
    // The mock's own ledger holds the preflight and the 10 requests.
    assert!(rest.contains("11 attempts recorded in"), "{rest}");
    assert_eq!(slabench::providers::read_ledger(&ledger).count(), 11);

    // The built-in gateway cannot route to providers it did not start.
    let out = slabench(&["run", "--no-providers", "scenarios/smoke.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--no-providers needs an external gateway")
            && err.contains("kind = \"external\""),
        "{err}"
    );
}

#[test]
fn allow_remote_lets_a_remote_gateway_through_validate_and_run_alike() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "http://gateway.example.com:4000", "");
    for cmd in ["validate", "run"] {
        let out = slabench(&[cmd, &file]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(
            err.contains("not a loopback address") && err.contains("--allow-remote"),
            "{err}"
        );
    }
    let out = slabench(&["validate", "--allow-remote", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A mock refuses a non-loopback bind address without the flag.
    let out = slabench(&["mock", "--bind", "0.0.0.0", "scenarios/smoke.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--bind 0.0.0.0 is not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );
}

/// A free loopback port (free when asked; bound again at once by the mock).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_runs_as_a_service_and_sigterm_flushes_its_ledger() {
    let dir = tempfile::tempdir().unwrap();
    // A replica's own ledger file, in a folder that does not exist yet.
    let ledger = dir.path().join("ledgers/replica-0.bin");
    let (flash, qwen) = (free_port(), free_port());
    let env = [
        ("SLABENCH_LEDGER", ledger.display().to_string()),
        ("SLABENCH_PORTS", format!("flash={flash},qwen={qwen}")),
        (
            "SLABENCH_START_AT",
            unix(SystemTime::now() + Duration::from_secs(60)),
        ),
        ("SLABENCH_BIND", "127.0.0.1".into()),
    ];
    let (mock, lines) =
        tokio::task::spawn_blocking(move || serving(&["mock", "scenarios/smoke.toml"], &env, 4))
            .await
            .unwrap();
    assert!(
        lines[0].starts_with("flash") && lines[0].ends_with(&format!("http://127.0.0.1:{flash}")),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("qwen") && lines[1].ends_with(&format!(":{qwen}")),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("t=0 at --start-at 20") && lines[3].contains(", in "),
        "{lines:?}"
    );
    let urls: Vec<String> = lines[..3]
        .iter()
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for url in &urls {
        let health = client.get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{url}");
    }
    for tag in 1..=3 {
        let answer = client
            .post(format!("{}/v1/chat/completions", urls[tag % 2]))
            .header("x-slabench-request", format!("slb-{tag}"))
            .body(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
    }
    let (code, rest) = tokio::task::spawn_blocking(move || mock.stop(libc::SIGTERM))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("3 attempts recorded in"), "{rest}");
    let mut tags: Vec<u64> = slabench::providers::read_ledger(&ledger)
        .map(|a| a.unwrap().tag.unwrap())
        .collect();
    tags.sort();
    // Every chat attempt, and no /health probe.
    assert_eq!(tags, [1, 2, 3]);
}
