//! An external gateway that slabench starts: early exit, never ready,
//! interrupted start, stopping the whole process group, the log file, and a
//! full run through a started gateway whose account is reconciled with the
//! ledger. Fake gateways are `sh` one-liners, `python3 -m http.server` and
//! `tests/fixtures/fake_gateway.py`; no LiteLLM or Portkey is needed.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use slabench::scenario::GatewayProcess;
use slabench::stack::{GatewayChild, LOG_FILE};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sh(script: &str, dir: &Path, ready_url: Option<String>, timeout: Duration) -> GatewayProcess {
    GatewayProcess {
        command: vec!["sh".into(), "-c".into(), script.into()],
        env: vec![("FAKE_GATEWAY_GREETING".into(), "hello from env".into())],
        cwd: Some(dir.to_path_buf()),
        ready_url,
        ready_timeout: timeout,
    }
}

/// Whether `pid` is a live process (zombies count as gone: nobody may reap
/// them in a container without an init).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> u32 {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(pid) = s.trim().parse() {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} was never written", path.display());
}

/// Nothing listens on `port` (a connection is refused). Not "bindable":
/// parallel tests' client sockets may hold the number as their local port.
fn port_is_free(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
}

#[tokio::test]
async fn an_early_exit_names_the_status_and_quotes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sh(
        "echo \"$FAKE_GATEWAY_GREETING\"; echo 'config error: no model_list' >&2; exit 3",
        dir.path(),
        Some(format!("http://127.0.0.1:{}/health", free_port())),
        Duration::from_secs(20),
    );
    let started = Instant::now();
    let err = GatewayChild::start(&spec, dir.path(), "127.0.0.1:1", None)
        .await
        .expect_err("the gateway exits at once");
    let msg = format!("{err:#}");
    assert!(started.elapsed() < Duration::from_secs(10), "{msg}");
    assert!(msg.contains("exited (exit status 3)"), "{msg}");
    assert!(msg.contains("before it was ready"), "{msg}");
    assert!(msg.contains("| config error: no model_list"), "{msg}");
    assert!(msg.contains("| hello from env"), "{msg}");
    let log = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    assert!(log.contains("config error") && log.contains("hello from env"));
}

#[tokio::test]
async fn a_missing_program_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let spec = GatewayProcess {
        command: vec!["slabench-no-such-gateway".into()],
        env: vec![],
        cwd: None,
        ready_url: None,
        ready_timeout: Duration::from_secs(1),
    };
    let err = GatewayChild::start(&spec, dir.path(), "127.0.0.1:1", None)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("is `slabench-no-such-gateway` installed and on PATH?"));
}

#[tokio::test]
async fn never_ready_is_bounded_and_the_process_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sh(
        "echo $$ > gw.pid; echo still loading; exec sleep 60",
        dir.path(),
        Some(format!("http://127.0.0.1:{}/health", free_port())),
        Duration::from_secs(1),
    );
    let started = Instant::now();
    let err = GatewayChild::start(&spec, dir.path(), "127.0.0.1:1", None)
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(started.elapsed() < Duration::from_secs(8), "{msg}");
    assert!(msg.contains("did not become ready within 1s"), "{msg}");
    assert!(msg.contains("| still loading"), "{msg}");
    assert!(!alive(read_pid(&dir.path().join("gw.pid"))));
}

#[tokio::test]
async fn without_a_ready_url_a_listening_port_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let spec = sh(
        &format!("exec python3 -m http.server {port} --bind 127.0.0.1"),
        dir.path(),
        None,
        Duration::from_secs(20),
    );
    let mut gw = GatewayChild::start(&spec, dir.path(), &format!("127.0.0.1:{port}"), None)
        .await
        .unwrap();
    assert!(!port_is_free(port));
    gw.stop().await;
    assert!(port_is_free(port));
}

#[tokio::test]
async fn a_port_already_in_use_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    // Another process's listener holds the gateway's port.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = squatter.local_addr().unwrap().to_string();
    let marker = dir.path().join("started");
    let spec = sh(
        &format!("touch {}; sleep 30", marker.display()),
        dir.path(),
        None,
        Duration::from_secs(5),
    );
    let err = GatewayChild::start(&spec, dir.path(), &addr, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already listening") && err.contains(&addr),
        "{err}"
    );
    // The holder is named: here, this test process.
    assert!(
        err.contains(&format!("held by pid {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("gateway.url"), "{err}");
    assert!(
        !marker.exists(),
        "the gateway command must not have been started"
    );
}

#[tokio::test]
async fn an_interrupt_ends_the_wait_and_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sh(
        "echo $$ > gw.pid; exec sleep 60",
        dir.path(),
        None,
        Duration::from_secs(30),
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(true);
    });
    let started = Instant::now();
    let err = GatewayChild::start(&spec, dir.path(), "127.0.0.1:1", Some(rx))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(format!("{err:#}").contains("interrupted while waiting"));
    assert!(!alive(read_pid(&dir.path().join("gw.pid"))));
}

#[tokio::test]
async fn stop_ends_the_whole_process_group_and_frees_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A shell that starts the server as its child, like a launcher (npx,
    // uvicorn with workers): stopping must reach the child too.
    let spec = sh(
        &format!("python3 -m http.server {port} --bind 127.0.0.1 & echo $! > child.pid; wait"),
        dir.path(),
        Some(format!("http://127.0.0.1:{port}/")),
        Duration::from_secs(20),
    );
    let mut gw = GatewayChild::start(&spec, dir.path(), "127.0.0.1:1", None)
        .await
        .unwrap();
    let child = read_pid(&dir.path().join("child.pid"));
    assert!(alive(gw.pid()) && alive(child));
    assert_eq!(gw.exited(), None);
    gw.stop().await;
    assert_eq!(gw.exited(), None, "an exit caused by stop is no crash");
    assert!(!alive(gw.pid()), "the launcher survived");
    assert!(!alive(child), "the server it started survived");
    assert!(port_is_free(port));
    assert!(gw.log().ends_with(LOG_FILE));
}

#[tokio::test]
async fn a_gateway_that_ignores_sigterm_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = format!(
        "import signal, http.server; signal.signal(signal.SIGTERM, signal.SIG_IGN); \
         http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()"
    );
    let spec = GatewayProcess {
        command: vec!["python3".into(), "-c".into(), script],
        env: vec![],
        cwd: Some(dir.path().to_path_buf()),
        ready_url: Some(format!("http://127.0.0.1:{port}/")),
        ready_timeout: Duration::from_secs(20),
    };
    let mut gw = GatewayChild::start(&spec, dir.path(), "127.0.0.1:1", None)
        .await
        .unwrap();
    let started = Instant::now();
    gw.stop().await;
    let took = started.elapsed();
    assert!(took >= slabench::stack::STOP_GRACE / 2, "{took:?}");
    assert!(took < slabench::stack::STOP_GRACE * 3, "{took:?}");
    assert!(!alive(gw.pid()));
    assert!(port_is_free(port));
}

fn scenario_text(gateway_port: u16, provider_port: u16, command: &str) -> String {
    format!(
        r#"
name = "started-gateway"
[load]
# Generator accuracy is the engine benchmark's job: a loaded machine must
# not turn these runs INVALID.
max_lag_p99 = "1s"
stages = [{{ hold_rpm = 240, for = "4s" }}]
timeout = "10s"
drain = "10s"

[[traffic]]
model = "default"
max_tokens = 16

[gateway]
url = "http://127.0.0.1:{gateway_port}"
command = {command}
ready_url = "http://127.0.0.1:{gateway_port}/health"
ready_timeout = "20s"

[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
port = {provider_port}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_through_a_started_gateway_catches_its_hidden_retries() {
    let (gw_port, p_port) = (free_port(), free_port());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_gateway.py");
    let command = format!(
        "[\"python3\", \"{}\", \"{gw_port}\", \"http://127.0.0.1:{p_port}\"]",
        fixture.display()
    );
    let sc = common::parse(&scenario_text(gw_port, p_port, &command)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
        .await
        .unwrap();
    assert!(port_is_free(gw_port) && port_is_free(p_port));
    let log = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    assert!(log.contains("fake gateway listening"), "{log}");

    let f = out.summary.failover.expect("a ledger");
    let a = f
        .gateway_account
        .expect("the fake gateway sends LiteLLM headers");
    assert_eq!(a.dialects, ["litellm"]);
    assert!(a.requests >= 10, "{a:?}");
    // Every answered request: "0 retries, 0 fallbacks" but two attempts at flash.
    let answered = out.summary.requests.ok;
    assert!(answered >= 10);
    assert!(a.disagreements.attempts_unreported >= answered, "{a:?}");
    assert_eq!(a.disagreements.fallbacks_unreported, 0);
    assert_eq!(a.disagreements.served_by, 0);
    assert_eq!((a.gateway_fallbacks, a.ledger_fallbacks), (0, 0));
    assert!(a.ledger_attempts >= 2 * answered);
    let e = &a.examples[0];
    assert_eq!(e.gateway, "0 fallbacks, 0 retries; served by flash");
    assert!(e.ledger.starts_with("2 attempts at flash"), "{}", e.ledger);
    // amplification 2x: the ledger sees the hidden retry too.
    assert!(f.amplification > 1.9, "{}", f.amplification);

    // summary.json with a gateway account is still valid against the schema.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(doc["failover"]["gateway_account"]["examples"][0]["kind"] == "attempts_unreported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_fails_to_start_leaves_no_provider_running() {
    let (gw_port, p_port) = (free_port(), free_port());
    let sc = common::parse(&scenario_text(
        gw_port,
        p_port,
        "[\"sh\", \"-c\", \"echo 'litellm: unknown option --confg' >&2; exit 7\"]",
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("exit status 7"), "{msg}");
    assert!(msg.contains("unknown option --confg"), "{msg}");
    assert!(port_is_free(p_port), "the provider still holds its port");
    assert!(dir.path().join(LOG_FILE).exists());
    // A failed start leaves no empty report that could pass for a result.
    for name in [
        "summary.json",
        "report.html",
        "timeseries.csv",
        "latency.hlog",
        "junit.xml",
    ] {
        assert!(!dir.path().join(name).exists(), "{name} was left behind");
    }
}

/// `slabench run` as a user runs it, stopped by `signal` once the started
/// gateway is up: the run ends, writes an interrupted summary, and leaves
/// neither the gateway nor the providers holding their ports.
fn interrupted_run_stops_the_gateway(signal: libc::c_int) {
    let (gw_port, p_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let command = format!(
        "[\"python3\", \"{}\", \"{gw_port}\", \"http://127.0.0.1:{p_port}\"]",
        root.join("tests/fixtures/fake_gateway.py").display()
    );
    let profile = root.join("mock-providers/deepseek-v4-flash.toml");
    let text = scenario_text(gw_port, p_port, &command)
        .replace("for = \"4s\"", "for = \"60s\"")
        .replace(
            "\"deepseek-v4-flash\"",
            &format!("{:?}", profile.display().to_string()),
        )
        // A fault window the interrupted run never reaches.
        + "\n[[faults]]\nprovider = \"flash\"\nkind = \"outage\"\nas = \"5xx\"\nstart = \"40s\"\nduration = \"5s\"\n\n[sla]\nmax_time_to_failover = \"5s\"\n";
    let file = dir.path().join("started.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = out.join(LOG_FILE);
    let started = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening")) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(45) {
            let _ = child.kill();
            panic!("slabench did not stop after the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // An interrupted run is never green: its own verdict and exit code.
    assert_eq!(status.code(), Some(5), "{status:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["verdict"], "INTERRUPTED");
    // Every request sent is accounted for: counted, or cut off at the interrupt.
    let r = &summary["requests"];
    let sent = summary["generator"]["sent"].as_u64().unwrap();
    assert!(sent > 0);
    assert_eq!(
        r["counted"].as_u64().unwrap() + r["cut_off"].as_u64().unwrap(),
        sent + summary["generator"]["dropped"].as_u64().unwrap()
    );
    assert!(r["in_flight_at_interrupt"].is_u64(), "{r}");
    // The fault window the run never reached is not judged as a failure.
    let windows = summary["failover"]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0]["reach"], "not_reached");
    let checks = summary["checks"].as_array().unwrap();
    let ttf = checks
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("time to failover"))
        .expect("a time-to-failover check");
    assert_eq!(ttf["state"], "not_reached", "{ttf}");
    assert_eq!(ttf["pass"], false);
    assert!(port_is_free(gw_port), "the gateway still holds its port");
    assert!(port_is_free(p_port), "a provider still holds its port");
}

#[test]
fn ctrl_c_stops_the_started_gateway() {
    interrupted_run_stops_the_gateway(libc::SIGINT);
}

#[test]
fn sigterm_stops_the_started_gateway() {
    interrupted_run_stops_the_gateway(libc::SIGTERM);
}

/// A gateway that serves for a second, then dies with a last word.
fn dies_after_a_second(port: u16, dir: &Path) -> GatewayProcess {
    let script = format!(
        "import http.server, os, threading\n\
         s = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
         def die():\n    print('fatal: out of memory', flush=True)\n    os._exit(4)\n\
         threading.Timer(1.0, die).start()\n\
         s.serve_forever()\n"
    );
    GatewayProcess {
        command: vec!["python3".into(), "-c".into(), script],
        env: vec![],
        cwd: Some(dir.to_path_buf()),
        ready_url: Some(format!("http://127.0.0.1:{port}/")),
        ready_timeout: Duration::from_secs(20),
    }
}

#[tokio::test]
async fn a_gateway_that_exits_mid_run_is_reported_with_status_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gw = GatewayChild::start(
        &dies_after_a_second(port, dir.path()),
        dir.path(),
        "127.0.0.1:1",
        None,
    )
    .await
    .unwrap();
    let ready = Instant::now();
    assert_eq!(gw.exited(), None, "it is still serving");
    let mut watch = gw.exit_watch();
    let exit = tokio::time::timeout(Duration::from_secs(10), watch.wait_for(Option::is_some))
        .await
        .expect("the exit is reported within seconds")
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(exit.status, "exit status 4");
    assert!(exit.at >= ready && exit.at <= Instant::now());
    assert_eq!(
        exit.log_tail.last().map(String::as_str),
        Some("fatal: out of memory"),
        "{:?}",
        exit.log_tail
    );
    assert_eq!(gw.exited().as_ref(), Some(&exit));
    gw.stop().await;
    assert_eq!(
        gw.exited(),
        Some(exit),
        "a crash before the stop stays reported"
    );
    assert!(port_is_free(port));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_reports_its_gateways_crash_after_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let spec = dies_after_a_second(port, dir.path());
    let text = format!(
        "[load]\nstages = [{{ hold_rpm = 60, for = \"10s\" }}]\n\n[[traffic]]\nmodel = \"m\"\n\n\
         [gateway]\nurl = \"http://127.0.0.1:{port}\"\ncommand = {:?}\nready_url = \"http://127.0.0.1:{port}/\"\n",
        spec.command
    );
    let sc = common::parse(&text).unwrap();
    let mut stack = slabench::stack::Stack::start(&sc, dir.path(), None)
        .await
        .unwrap();
    assert_eq!(stack.gateway_exit(), None);
    let mut watch = stack.gateway_exit_watch().expect("a started process");
    tokio::time::timeout(Duration::from_secs(10), watch.wait_for(Option::is_some))
        .await
        .expect("the exit is reported within seconds")
        .unwrap();
    stack.stop().await;
    let exit = stack.gateway_exit().expect("the crash outlives the stop");
    assert_eq!(exit.status, "exit status 4");
    assert!(
        exit.log_tail.iter().any(|l| l.contains("out of memory")),
        "{:?}",
        exit.log_tail
    );
}

/// `slabench run` of a scenario whose gateway is `command`, in the background.
fn spawn_run(dir: &Path, gw_port: u16, command: &str, secs: u32) -> std::process::Child {
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!(
            "[load]\nmax_lag_p99 = \"1s\"\nstages = [{{ hold_rpm = 60, for = \"{secs}s\" }}]\n\n\
             [[traffic]]\nmodel = \"m\"\n\n[gateway]\nurl = \"http://127.0.0.1:{gw_port}\"\n\
             command = {command}\nready_url = \"http://127.0.0.1:{gw_port}/\"\nready_timeout = \"20s\"\n"
        ),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "--quiet", "--out"])
        .arg(dir.join("out"))
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_of_slabench_ends_a_forking_gateway_that_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A wrapper shell that ignores SIGTERM (so does the server it starts, as
    // an ignored signal is inherited) and forks the server, as `npx` does.
    let script = format!(
        "trap '' TERM; cd {dir}; echo $$ > gw.pid; \
         python3 -m http.server {port} --bind 127.0.0.1 & echo $! > child.pid; wait; wait",
        dir = dir.path().display()
    );
    let mut slabench = spawn_run(
        dir.path(),
        port,
        &format!("[\"sh\", \"-c\", {script:?}]"),
        60,
    );
    let started = Instant::now();
    while port_is_free(port) || !dir.path().join("child.pid").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (wrapper, server) = (
        read_pid(&dir.path().join("gw.pid")),
        read_pid(&dir.path().join("child.pid")),
    );
    assert!(alive(wrapper) && alive(server));
    slabench.kill().unwrap(); // SIGKILL: no handler, no cleanup in slabench
    slabench.wait().unwrap();
    let killed = Instant::now();
    // SIGTERM is ignored, so the group goes at SIGKILL after the grace period.
    let bound = slabench::stack::STOP_GRACE + Duration::from_secs(5);
    while alive(wrapper) || alive(server) || !port_is_free(port) {
        assert!(
            killed.elapsed() < bound,
            "the gateway outlived slabench: wrapper {} server {} port free {}",
            alive(wrapper),
            alive(server),
            port_is_free(port)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigkill_of_slabench_stops_a_well_behaved_gateway_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = format!(
        "cd {dir}; python3 -m http.server {port} --bind 127.0.0.1 & echo $! > child.pid; wait",
        dir = dir.path().display()
    );
    let mut slabench = spawn_run(
        dir.path(),
        port,
        &format!("[\"sh\", \"-c\", {script:?}]"),
        60,
    );
    let started = Instant::now();
    while port_is_free(port) || !dir.path().join("child.pid").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let server = read_pid(&dir.path().join("child.pid"));
    slabench.kill().unwrap();
    slabench.wait().unwrap();
    let killed = Instant::now();
    while alive(server) || !port_is_free(port) {
        // SIGTERM suffices here: well within the grace period.
        assert!(
            killed.elapsed() < slabench::stack::STOP_GRACE,
            "the server outlived slabench"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_provider_port_in_use_names_the_field_and_the_holder() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let sc = common::parse(&scenario_text(free_port(), port, "[\"true\"]")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("providers[0].port = {port}")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("held by pid {}", std::process::id())),
        "{msg}"
    );
}
