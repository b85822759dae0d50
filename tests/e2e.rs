//! End to end through the built-in gateway and the simulated providers: a
//! short scenario with a known outage. Failover events appear, time to
//! failover lies within the breaker's bounds, and what the client counted
//! reconciles exactly with what the providers' ledger recorded.

mod common;

use slabench::analysis::Verdict;

const SCENARIO: &str = r#"
name = "e2e"
seed = 3

[load]
timeout = "10s"
drain = "5s"
# A debug build shares 2 cores with the providers and the gateway here; the
# generator's own accuracy is measured by the engine benchmark.
max_lag_p99 = "1s"
stages = [{ hold_rpm = 1800, for = "6s" }]

[[traffic]]
name = "chat"
model = "default"
prompt_tokens = 100
max_tokens = 20

[[traffic]]
name = "stream"
weight = 0.2
model = "default"
max_tokens = 20
stream = true

[gateway.routes]
default = ["flash", "qwen"]
[gateway.breaker]
failures = 5
window = "5s"
cool_off = "2s"

[[providers]]
name = "flash"
profile = "deepseek-v4-flash"

[[providers]]
name = "qwen"
profile = "qwen3-32b"

[[faults]]
provider = "flash"
kind = "outage"
status = 503
start = "2s"
duration = "2s"

[sla]
uptime = "99%"
max_time_to_failover = "2s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_over_and_client_reconciles_with_the_ledger() {
    let sc = common::parse(SCENARIO).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
        .await
        .unwrap();
    let s = &out.summary;
    let f = s
        .failover
        .as_ref()
        .expect("a ledger join with simulated providers");

    // The outage was seen and failed over, quickly (the breaker opens after
    // 5 failures, about 0.2 s of flash's traffic; the measure has 1 s steps).
    assert!(f.failovers >= 5, "failovers {}", f.failovers);
    let w = &f.windows[0];
    assert_eq!(
        (w.provider.as_str(), w.start_s, w.end_s),
        ("flash", 2.0, Some(4.0))
    );
    let ttf = w.time_to_failover_s.expect("first attempts left flash");
    assert!(ttf <= 1.0, "time to failover {ttf}");
    assert!(s.uptime.ratio >= 0.99, "uptime {}", s.uptime.ratio);
    assert_eq!(s.verdict, Verdict::Pass, "{:#?}", s.checks);

    // Every request is accounted for ...
    let r = &s.requests;
    assert_eq!(
        s.generator.sent,
        r.ok + r.failed + r.cut_off - s.generator.dropped
    );
    assert_eq!(r.counted, r.ok + r.failed);
    // ... every attempt belongs to a request (the one unmatched is the preflight) ...
    assert_eq!((f.untagged_attempts, f.unmatched_attempts), (0, 1));
    let per_provider: u64 = f.providers.values().map(|p| p.attempts).sum();
    assert_eq!(per_provider, f.attempts);
    assert!(f.attempts > s.generator.sent, "failovers add attempts");
    assert!((f.amplification - f.attempts as f64 / s.generator.sent as f64).abs() < 1e-12);
    // ... each successful request had exactly one successful attempt, at the
    // provider its answer named.
    let served: u64 = f.providers.values().map(|p| p.served).sum();
    assert_eq!(served, r.ok);
    assert_eq!(f.served_by_disagreements, 0);
    // ... and its content was that provider's whole answer to it, as many
    // tokens as the ledger says it sent.
    assert_eq!(f.answers.answers_checked, r.ok);
    assert_eq!(f.answers.answer_mismatches, 0, "{:?}", f.answers);
    // Cost follows the ledger's tokens at the profiles' prices.
    let cost = s.cost_usd.as_ref().unwrap();
    assert!(cost.total > 0.0 && cost.failover_added > 0.0);
    assert!(dir.path().join("ledger.bin").exists());
}
