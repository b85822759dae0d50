//! A rate far beyond what the machine can send: the run gives up within
//! seconds, INVALID, with the rate it held, and its memory stays bounded.
//! (Its own test binary, so that the process's peak memory is this run's.)

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::fake::*;
use slabench::analysis::Verdict;

/// A loopback server that accepts connections and never answers: every
/// request stays in flight until the client's timeout.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            let mut c = conn;
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(Duration::from_millis(1)));
            let _ = c.read(&mut buf);
            held.push(c);
            if held.len() > 4096 {
                held.clear();
            }
        }
    });
    format!("http://{addr}")
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billion_rpm_gives_up_within_seconds_in_bounded_memory() {
    let url = silent_server();
    let dir = tempfile::tempdir().unwrap();
    // Validation caps the rate far lower; the generator must stay safe
    // whatever it is handed.
    let mut sc = scenario(&url, 1e9, 120);
    sc.load.timeout = Duration::from_secs(1);
    sc.load.max_in_flight = 256;
    let mut opts = quiet_into(dir.path());
    opts.allow_unreachable = true;
    let started = Instant::now();
    let s = slabench::run::run(&sc, opts).await.unwrap().summary;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "a hopeless rate must end within seconds, took {took:?}"
    );
    assert_eq!(s.verdict, Verdict::Invalid);
    let gave_up = s.generator.gave_up.expect("the generator gave up");
    // Behind from the first send: noticed within two seconds (1.5 s by
    // the rule; a busy test machine gets slack, not ten seconds).
    assert!(gave_up.at_s < 4.0, "{gave_up:?}");
    // 256 in flight to a silent server: whatever went out went out before
    // the lag grew; while behind, every arrival was dropped at the cap.
    assert!(gave_up.held_rpm >= 0.0 && gave_up.held_rpm < gave_up.target_rpm);
    assert!(s.generator.dropped > 0 && s.generator.sent >= 256);
    let check = s
        .checks
        .iter()
        .find(|c| c.name == "generator kept up with the schedule")
        .expect("a failing keep-up check");
    assert!(!check.pass && check.why.as_deref().is_some_and(|w| w.contains("cores")));
    let rss = peak_rss_mb();
    eprintln!(
        "gave up at {:.1} s holding {:.0} rpm; peak RSS {rss:.0} MB",
        gave_up.at_s, gave_up.held_rpm
    );
    assert!(rss < 200.0, "peak RSS {rss:.0} MB");
}
