//! The connection watcher over real loopback sockets: every connection
//! attempt to a watched port is counted once, refused or accepted, and
//! nothing else is; without CAP_NET_RAW it says so and does not start.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slabench::clock::RunClock;
use slabench::connwatch::{Watcher, RECEIVE_TIMEOUT};

const N: u32 = 40;

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects `n` times to `addr`; how many were refused.
fn connect_n(addr: SocketAddr, n: u32) -> u32 {
    let mut refused = 0;
    for _ in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => drop(s),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
            Err(e) => panic!("connecting to {addr}: {e}"),
        }
    }
    refused
}

#[test]
#[ignore = "needs CAP_NET_RAW"]
fn every_attempt_to_a_watched_port_is_counted_once() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed = closed_port();
    let unwatched = closed_port();
    let clock = Arc::new(RunClock::started_at(tokio::time::Instant::now()));
    let w = Watcher::start("lo", &[closed, open_port], clock).expect("run as root in CI");

    let refused = connect_n(SocketAddr::from((Ipv4Addr::LOCALHOST, closed)), N);
    assert_eq!(refused, N);
    // Accepted connections are attempts too (the kernel queues them; the
    // listener need not accept for the handshake to happen).
    assert_eq!(
        connect_n(SocketAddr::from((Ipv4Addr::LOCALHOST, open_port)), N),
        0
    );
    assert_eq!(
        connect_n(SocketAddr::from((Ipv4Addr::LOCALHOST, unwatched)), N),
        N
    );
    // IPv6, where the loopback has it: refused on ::1 too (nothing binds
    // the port there).
    let v6 = connect_n(SocketAddr::from((Ipv6Addr::LOCALHOST, closed)), 5.min(N));
    eprintln!("IPv6 refusals counted as attempts: {v6}");

    let asked = Instant::now();
    let counts = w.stop().expect("no drops on loopback at this rate");
    let took = asked.elapsed();
    assert!(
        took < RECEIVE_TIMEOUT + Duration::from_millis(900),
        "stop took {took:?}"
    );
    let total = |i: usize| counts.iter().map(|row| row[i]).sum::<u32>();
    assert_eq!(total(0), N + v6, "closed port, per second: {counts:?}");
    assert_eq!(total(1), N, "open port, per second: {counts:?}");
    // Every row has one count per port, and the timeline ends near now.
    assert!(counts.iter().all(|row| row.len() == 2));
    assert!(counts.len() <= 10, "{} seconds", counts.len());
}

#[test]
#[ignore = "needs CAP_NET_RAW"]
fn attempts_are_placed_in_the_second_of_the_run_clock_they_happened() {
    let closed = closed_port();
    // t=0 was 1.5 s ago: the attempts fall in second 1 (or 2 on a slow machine).
    let origin = tokio::time::Instant::now() - Duration::from_millis(1500);
    let clock = Arc::new(RunClock::started_at(origin));
    let w = Watcher::start("lo", &[closed], clock).unwrap();
    connect_n(SocketAddr::from((Ipv4Addr::LOCALHOST, closed)), 3);
    let counts = w.stop().unwrap();
    assert_eq!(counts[0], vec![0], "{counts:?}");
    assert_eq!(counts.iter().map(|r| r[0]).sum::<u32>(), 3, "{counts:?}");
    assert!((2..=3).contains(&counts.len()), "{counts:?}");
}

#[test]
#[ignore = "needs CAP_NET_RAW"]
fn a_burst_of_thousands_of_attempts_is_counted_without_a_drop() {
    const BURST: u32 = 3000;
    let closed = closed_port();
    let clock = Arc::new(RunClock::started_at(tokio::time::Instant::now()));
    let w = Watcher::start("lo", &[closed], clock).unwrap();
    let started = Instant::now();
    // Four threads connecting as fast as the kernel refuses them.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                connect_n(SocketAddr::from((Ipv4Addr::LOCALHOST, closed)), BURST / 4)
            })
        })
        .collect();
    let refused: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let rate = f64::from(BURST) / started.elapsed().as_secs_f64();
    let counts = w.stop().expect("no SYN dropped");
    eprintln!("{BURST} attempts at {rate:.0}/s");
    assert_eq!(refused, BURST);
    assert_eq!(
        counts.iter().map(|r| r[0]).sum::<u32>(),
        BURST,
        "at {rate:.0}/s"
    );
}

#[test]
fn an_unknown_interface_is_refused_with_its_name() {
    let clock = Arc::new(RunClock::new());
    let Err(why) = Watcher::start("nonexistent9", &[1], clock) else {
        panic!("watching an interface that does not exist");
    };
    assert!(
        why.contains("nonexistent9") || why.contains("CAP_NET_RAW") || why.contains("Linux"),
        "{why}"
    );
}

/// 4 s at 900 RPM through the built-in gateway; flash refuses
/// connections from 1 s to 3 s.
const REFUSE: &str = r#"
name = "refuse-watch"
seed = 5
[load]
timeout = "5s"
drain = "2s"
# A shared test machine hiccups; this test is about connections, not lag.
max_lag_p99 = "500ms"
stages = [{ hold_rpm = 900, for = "4s" }]
[[traffic]]
name = "chat"
weight = 1
model = "default"
prompt_tokens = 50
max_tokens = 20
[gateway]
kind = "builtin"
[gateway.routes]
default = ["flash", "qwen"]
[gateway.policy]
attempt_timeout = "2s"
[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
[[providers]]
name = "qwen"
profile = "qwen3-32b"
[[faults]]
provider = "flash"
kind = "outage"
as = "refuse"
start = "1s"
duration = "2s"
[sla]
uptime = "50%"
max_time_to_failover = "2s"
max_amplification = 5.0
"#;

/// The refuse window and its time-to-failover check.
fn amplification(s: &serde_json::Value) -> &serde_json::Value {
    s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "upstream amplification")
        .expect("an amplification check")
}

fn refuse_window(s: &serde_json::Value) -> (&serde_json::Value, &serde_json::Value) {
    let w = &s["failover"]["windows"][0];
    assert_eq!(w["provider"], "flash", "{w}");
    let check = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("time to failover"))
        .expect("a time-to-failover check");
    (w, check)
}

/// Runs `exe` on [`REFUSE`], through `wrap` (e.g. setpriv) when given;
/// its exit code, stdout (the summary table), stderr, summary.json and
/// summary.md.
fn run_refuse(
    exe: &Path,
    wrap: &[&str],
) -> (Option<i32>, String, String, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refuse.toml");
    let profiles = concat!(env!("CARGO_MANIFEST_DIR"), "/mock-providers/");
    let text = REFUSE
        .replace(
            "\"deepseek-v4-flash\"",
            &format!("\"{profiles}deepseek-v4-flash.toml\""),
        )
        .replace("\"qwen3-32b\"", &format!("\"{profiles}qwen3-32b.toml\""));
    std::fs::write(&file, text).unwrap();
    let out_dir = dir.path().join("out");
    let mut cmd = match wrap.split_first() {
        Some((tool, args)) => {
            let mut c = std::process::Command::new(tool);
            c.args(args).arg(exe);
            c
        }
        None => std::process::Command::new(exe),
    };
    let started = Instant::now();
    let out = cmd
        .args(["run", "--out"])
        .arg(&out_dir)
        .arg(&file)
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60), "a bounded run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = std::fs::read_to_string(out_dir.join("summary.json"))
        .unwrap_or_else(|e| panic!("summary.json: {e}; stderr:\n{stderr}"));
    let md = std::fs::read_to_string(out_dir.join("summary.md")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "summary.json vs the schema: {errors:?}");
    (out.status.code(), stdout, stderr, summary, md)
}

#[test]
#[ignore = "needs CAP_NET_RAW"]
fn a_refuse_window_shows_the_refusing_providers_connection_attempts() {
    let (code, stdout, stderr, s, md) = run_refuse(Path::new(env!("CARGO_BIN_EXE_slabench")), &[]);
    assert!(matches!(code, Some(0 | 1 | 6)), "exit {code:?}: {stderr}");
    let c = &s["failover"]["connections"];
    assert_eq!(c["watched"], true, "{c}");
    let providers = c["providers"].as_array().unwrap();
    let flash = &providers[0];
    assert_eq!(flash["provider"], "flash");
    assert_eq!(flash["refuse_windows"], 1);
    let inside = flash["syns_in_refuse_windows"].as_u64().unwrap();
    // The gateway tried flash's closed port: the kernel refused it, and
    // the ledger never saw it; only the watcher did.
    assert!(inside > 0, "{c}");
    assert!(flash["syns"].as_u64().unwrap() >= inside, "{c}");
    assert_eq!(providers[1]["refuse_windows"], 0, "{c}");
    assert_eq!(providers[1]["syns_in_refuse_windows"], 0, "{c}");
    let line = format!("connection attempts watched: flash {inside} in its refuse window");
    assert!(stdout.contains(&line), "{stdout}");
    assert!(md.contains(&line), "{md}");
    // The refused SYNs are the failures the gateway met: the window is
    // timed from them (a reaction, or a measured "never").
    let (w, check) = refuse_window(&s);
    assert!(
        matches!(w["state"].as_str(), Some("measured" | "never")),
        "{w}"
    );
    let met = w["met_fault_s"].as_f64().expect("met the fault");
    assert!((1.0..3.0).contains(&met), "{w}");
    assert_eq!(check["state"], "measured", "{check}");
    // Refused connections count as attempts: amplification is measured.
    assert_eq!(amplification(&s)["state"], "measured", "{s}");
    assert!(s["failover"]["refused_connections"].as_u64().unwrap() > 0);
}

/// Whether this process holds CAP_NET_RAW (bit 13 of CapEff).
fn has_net_raw() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap() & (1 << 13) != 0
}

/// slabench without CAP_NET_RAW, whoever runs this test: a copy of the
/// binary, because a copy carries no file capability (.ci/run's `setcap`
/// on a runner that is not root, or a user's, stays on the original; and
/// as root, exec refuses a binary whose file capabilities the bounding set
/// forbids). Not root, the copy runs as it is; as root, through setpriv
/// with CAP_NET_RAW out of its bounding set (so exec gives it none).
fn without_net_raw(dir: &Path) -> (PathBuf, &'static [&'static str]) {
    let copy = dir.join("slabench");
    std::fs::copy(env!("CARGO_BIN_EXE_slabench"), &copy).unwrap();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !(root && has_net_raw()) {
        return (copy, &[]);
    }
    let ok = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "needs setpriv (util-linux) to drop CAP_NET_RAW");
    (
        copy,
        &["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"],
    )
}

#[test]
fn without_cap_net_raw_refusals_are_not_observable_and_the_run_completes() {
    // Next to the build, not in /tmp: a /tmp mounted noexec cannot run it.
    let bin = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (exe, wrap) = without_net_raw(bin.path());
    let (code, stdout, stderr, s, md) = run_refuse(&exe, wrap);
    assert!(matches!(code, Some(0 | 1 | 6)), "exit {code:?}: {stderr}");
    let c = &s["failover"]["connections"];
    assert_eq!(c["watched"], false, "{c}");
    let why = c["why"].as_str().unwrap();
    assert!(why.contains("needs CAP_NET_RAW"), "{why}");
    assert!(why.contains("setcap cap_net_raw+ep"), "{why}");
    assert_eq!(c["providers"].as_array().map(Vec::len), Some(0), "{c}");
    // Warned as the run starts, and in the summary table.
    let line = "refused connections not observable: needs CAP_NET_RAW";
    assert!(stderr.contains(line), "{stderr}");
    assert!(stdout.contains(line), "{stdout}");
    assert!(md.contains("refused connections not observable"), "{md}");
    // Without the watcher, the refusal window has no reaction to time: not
    // observable, said so, never a pass, and the run is UNMEASURED.
    let (w, check) = refuse_window(&s);
    assert_eq!(w["state"], "not_observable", "{w}");
    assert!(w["time_to_failover_s"].is_null(), "{w}");
    assert_eq!(check["state"], "not_observable", "{check}");
    assert_eq!(check["pass"], false, "{check}");
    assert_eq!(code, Some(6), "{stderr}");
    assert_eq!(s["verdict"], "UNMEASURED");
    // Amplification without the refused attempts is a lower bound: not a
    // pass.
    let amp = amplification(&s);
    assert_eq!(amp["state"], "not_observable", "{amp}");
    assert_eq!(amp["pass"], false, "{amp}");
    assert!(
        amp["measured"].as_str().unwrap().starts_with(">= "),
        "{amp}"
    );
    // The rest of the run was measured as usual.
    assert!(
        s["requests"]["counted"].as_u64().unwrap() > 30,
        "{}",
        s["requests"]
    );
}
