//! The binary as a CI job runs it when things go wrong: slabench's own
//! panic, an unreachable target, an interrupt before the load. None of them
//! exits 0, and each says what happened.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_scenario(dir: &Path, body: &str) -> std::path::PathBuf {
    let profile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-providers/deepseek-v4-flash.toml");
    let text = body.replace("PROFILE", &format!("{:?}", profile.display().to_string()));
    let file = dir.join("scenario.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

const BUILTIN: &str = r#"
name = "honesty"
[load]
stages = [{ hold_rpm = 300, for = "2s" }]
max_lag_p99 = "1s"
[[traffic]]
model = "default"
max_tokens = 8
[gateway.routes]
default = ["flash"]
[[providers]]
name = "flash"
profile = PROFILE
"#;

#[test]
fn a_panic_inside_slabench_makes_the_run_invalid_not_the_gateways_fault() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(dir.path(), BUILTIN);
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "--quiet", "--out"])
        .arg(&out_dir)
        .arg(&file)
        .env("SLABENCH_FAILPOINT", "provider.answer")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let s = summary(&out_dir);
    assert_eq!(s["verdict"], "INVALID");
    let errors = s["internal_errors"].as_array().expect("internal_errors");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("failpoint provider.answer")),
        "{errors:?}"
    );
    let check = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == slabench::analysis::verdict::INTERNAL_ERROR_CHECK)
        .expect("an internal-error check");
    assert_eq!(check["pass"], false);
    assert!(check["why"]
        .as_str()
        .unwrap()
        .contains("not in the gateway"));
    let md = std::fs::read_to_string(out_dir.join("summary.md")).unwrap();
    assert!(md.contains("Internal error in slabench"), "{md}");
}

#[test]
fn an_unreachable_target_is_a_usage_error_with_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(
        dir.path(),
        &format!(
            "[load]\nstages = [{{ hold_rpm = 60, for = \"2s\" }}]\n[[traffic]]\nmodel = \"m\"\n\
             [gateway]\nurl = \"http://127.0.0.1:{port}\"\n"
        ),
    );
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("--allow-unreachable"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused before any load"
    );
    assert!(!dir.path().join("out/summary.json").exists());
}

#[test]
fn an_interrupt_while_the_gateway_starts_is_interrupted_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A gateway that never becomes ready.
    let file = write_scenario(
        dir.path(),
        &format!(
            "[load]\nstages = [{{ hold_rpm = 60, for = \"2s\" }}]\n[[traffic]]\nmodel = \"m\"\n\
             [gateway]\nurl = \"http://127.0.0.1:{port}\"\ncommand = [\"sleep\", \"30\"]\n\
             ready_timeout = \"30s\"\n"
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "slabench did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("nothing was measured"), "{stderr}");
}

#[test]
fn a_gateway_that_dies_mid_run_is_named_in_every_output() {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (gw, provider) = (free(), free());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_gateway.py");
    // A wrapper that runs the gateway until it answers its health check,
    // lets it serve for two seconds, then takes it down and exits 3 with a
    // last word in the log. Waiting for health first keeps a slow machine
    // (python's start-up under a parallel test run) from killing it before
    // slabench ever saw it ready.
    let script = format!(
        "python3 {} {gw} http://127.0.0.1:{provider} & pid=$!; \
         until python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:{gw}/health\", timeout=1)' 2>/dev/null; \
         do sleep 0.1; done; sleep 2; kill $pid; \
         echo 'fatal: worker pool exhausted' >&2; exit 3",
        fixture.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(
        dir.path(),
        &format!(
            r#"
name = "dies"
[load]
stages = [{{ hold_rpm = 240, for = "5s" }}]
timeout = "2s"
max_lag_p99 = "1s"
[[traffic]]
model = "default"
max_tokens = 8
[gateway]
url = "http://127.0.0.1:{gw}"
command = ["sh", "-c", {script:?}]
ready_url = "http://127.0.0.1:{gw}/health"
ready_timeout = "20s"
[[providers]]
name = "flash"
profile = PROFILE
port = {provider}
"#
        ),
    );
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["run", "--out"])
        .arg(&out_dir)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The summary table, on stdout, says so with the log's last lines.
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("GATEWAY DIED exited at"), "{table}");
    assert!(table.contains("worker pool exhausted"), "{table}");
    let s = summary(&out_dir);
    assert_eq!(s["verdict"], "FAIL");
    let exit = &s["gateway_exit"];
    assert_eq!(exit["status"], "exit status 3", "{exit}");
    let at = exit["at_s"].as_f64().unwrap();
    assert!((0.0..5.0).contains(&at), "{at}");
    let check = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "gateway process stayed up")
        .expect("a gateway check");
    assert_eq!(check["pass"], false);
    for file in ["summary.md", "report.html"] {
        let text = std::fs::read_to_string(out_dir.join(file)).unwrap();
        assert!(text.contains("worker pool exhausted"), "{file}");
        assert!(text.contains("exit status 3"), "{file}");
    }
}
