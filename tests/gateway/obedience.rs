//! The obedience rules of issue 13 against slabench's simulated providers,
//! judged from their ledger: Retry-After binds every request, errors that
//! cannot succeed are neither retried nor failed over, the last provider
//! error reaches the client as it was sent, and a flapping provider gets
//! bounded traffic while down.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use slabench::gateway::BuiltinGatewayServer;
use slabench::scenario::{BuiltinGateway, Dialect, ErrorSpec, FaultKind, FlapAs};

use crate::sim::{self, Sim};
use crate::support::*;

fn burst(status: u16) -> FaultKind {
    FaultKind::ErrorBurst { status }
}

/// `workers` clients asking in a loop until `for_ms` has passed; every
/// answer as (status, attempts, skipped).
async fn load(gw: &BuiltinGatewayServer, workers: u64, for_ms: u64) -> Vec<(u16, String, String)> {
    let started = Instant::now();
    let worker = |w: u64| async move {
        let mut seen = Vec::new();
        let mut seq = w * 100_000;
        while started.elapsed() < Duration::from_millis(for_ms) {
            let resp = ask(gw, "default", seq).await;
            seen.push((
                resp.status().as_u16(),
                attempts(&resp).to_owned(),
                skipped(&resp).to_owned(),
            ));
            seq += 1;
        }
        seen
    };
    join_all((0..workers).map(worker)).await.concat()
}

async fn gateway(sim: &Sim, tune: impl FnOnce(&mut BuiltinGateway)) -> BuiltinGatewayServer {
    let mut cfg = config(&[("default", &["p0", "p1"])]);
    tune(&mut cfg);
    start(&cfg, &sim.upstreams()).await
}

#[tokio::test]
async fn no_attempt_reaches_a_provider_within_its_retry_after_under_concurrent_load() {
    let mut s = sim::scenario(7, 2);
    let e = sim::error(None, Some((250, false)));
    s.faults = vec![sim::fault(0, burst(429), (0, 1200), e)];
    let sim = Sim::start(&s);
    let gw = gateway(&sim, |c| {
        c.policy.retries = 1;
        c.policy.max_retry_wait = 1000 * MS;
    })
    .await;

    let seen = load(&gw, 12, 1600).await;
    let ledger = sim.finish(gw).await;

    assert!(
        seen.iter().all(|(st, ..)| *st == 200),
        "every request served"
    );
    let violations = sim::retry_after_violations(&ledger, 0);
    assert!(
        violations.is_empty(),
        "{} violations, e.g. {:?}",
        violations.len(),
        violations.first()
    );
    let limited = ledger
        .iter()
        .filter(|a| a.provider == 0 && a.status == 429)
        .count();
    let skipped_p0 = seen.iter().filter(|(_, _, sk)| sk == "p0").count();
    assert!(limited >= 3, "the fault was met: {limited} 429s");
    assert!(
        skipped_p0 > limited,
        "other requests kept off p0 while it cooled down: {skipped_p0} skips, {limited} 429s"
    );
    let waited_and_retried = seen.iter().any(|(_, a, _)| a.starts_with("p0:429,p0:"));
    assert!(
        waited_and_retried,
        "the request that got the 429 waited and retried on p0"
    );
}

#[tokio::test]
async fn a_retry_after_date_cools_the_provider_down_until_then() {
    let mut s = sim::scenario(7, 2);
    let e = sim::error(None, Some((1000, true)));
    s.faults = vec![sim::fault(0, burst(429), (0, 300), e)];
    let sim = Sim::start(&s);
    let gw = gateway(&sim, |c| c.policy.max_retry_wait = 200 * MS).await;

    let mut seen = Vec::new();
    for seq in 0..60 {
        let resp = ask(&gw, "default", seq).await;
        seen.push((attempts(&resp).to_owned(), skipped(&resp).to_owned()));
        tokio::time::sleep(50 * MS).await;
    }
    let ledger = sim.finish(gw).await;

    assert_eq!(
        seen[0].0, "p0:429,p1:200",
        "a date beyond max_retry_wait moves on"
    );
    let asked = ledger.iter().find(|a| a.status == 429).unwrap();
    assert!(
        asked.retry_after_ms.unwrap() > 1000,
        "sent as a date, rounded up"
    );
    assert_eq!(ledger.iter().filter(|a| a.status == 429).count(), 1);
    assert!(sim::retry_after_violations(&ledger, 0).is_empty());
    assert!(seen[1].1 == "p0" && seen[1].0 == "p1:200", "{:?}", seen[1]);
    assert_eq!(
        seen.last().unwrap().0,
        "p0:200",
        "back once the date has passed"
    );
}

/// One request on route `[p0, p1]` with 2 retries, p0 answering `status`
/// with `error`: the response's status, attempts header and body, and
/// every attempt the providers saw as `p0:400,…`.
async fn one_request(status: u16, error: ErrorSpec) -> (u16, String, serde_json::Value, String) {
    let mut s = sim::scenario(7, 2);
    s.faults = vec![sim::fault(0, burst(status), (0, 60_000), error)];
    let sim = Sim::start(&s);
    let gw = gateway(&sim, |c| c.policy.retries = 2).await;
    let resp = ask(&gw, "default", 1).await;
    let (st, tried) = (resp.status().as_u16(), attempts(&resp).to_owned());
    let body = resp.json().await.unwrap();
    let ledger = sim.finish(gw).await;
    let seen = ledger
        .iter()
        .map(|a| format!("p{}:{}", a.provider, a.status))
        .collect::<Vec<_>>()
        .join(",");
    (st, tried, body, seen)
}

#[tokio::test]
async fn a_spend_cap_429_is_passed_through_without_another_attempt() {
    let (st, tried, body, seen) =
        one_request(429, sim::error(Some("insufficient_quota"), None)).await;
    assert_eq!(st, 429);
    assert_eq!(tried, "p0:429");
    assert_eq!(seen, "p0:429", "no retry, no failover");
    assert_eq!(body["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn a_400_context_length_exceeded_is_passed_through_after_one_attempt() {
    let (st, tried, body, seen) =
        one_request(400, sim::error(Some("context_length_exceeded"), None)).await;
    assert_eq!(st, 400);
    assert_eq!(tried, "p0:400");
    assert_eq!(seen, "p0:400", "no retry, no failover");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn an_anthropic_529_is_relayed_as_529_when_it_is_the_last() {
    let mut s = sim::scenario(7, 2);
    let overloaded = ErrorSpec {
        dialect: Some(Dialect::Anthropic),
        ..ErrorSpec::default()
    };
    s.faults = vec![
        sim::fault(0, burst(503), (0, 60_000), ErrorSpec::default()),
        sim::fault(1, burst(529), (0, 60_000), overloaded),
    ];
    let sim = Sim::start(&s);
    let gw = gateway(&sim, |_| {}).await;
    let resp = ask(&gw, "default", 1).await;
    assert_eq!(resp.status(), 529);
    assert_eq!(attempts(&resp), "p0:503,p1:529");
    assert_eq!(served_by(&resp), "p1");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(sim.finish(gw).await.len(), 2);
}

#[tokio::test]
async fn a_flapping_provider_gets_bounded_attempts_per_down_phase() {
    const PERIOD_MS: u64 = 600;
    let mut s = sim::scenario(7, 2);
    let flap = FaultKind::Flapping {
        period: Duration::from_millis(PERIOD_MS),
        duty: 0.5,
        down: FlapAs::Http { status: 503 },
    };
    s.faults = vec![sim::fault(
        0,
        flap,
        (0, 5 * PERIOD_MS),
        ErrorSpec::default(),
    )];
    let sim = Sim::start(&s);
    let (failures, cool_off_ms, probes, workers) = (2u32, 100u64, 2u32, 6u64);
    let gw = gateway(&sim, |c| {
        c.breaker.enabled = true;
        c.breaker.failures = failures;
        c.breaker.cool_off = Duration::from_millis(cool_off_ms);
        c.breaker.half_open_probes = probes;
    })
    .await;

    let seen = load(&gw, workers, 5 * PERIOD_MS - 50).await;
    let ledger = sim.finish(gw).await;

    assert!(
        seen.iter().all(|(st, ..)| *st == 200),
        "every request served"
    );
    let mut down = [0u32; 5];
    for a in ledger.iter().filter(|a| a.provider == 0 && a.status == 503) {
        down[(a.arrived_us / (PERIOD_MS as i64 * 1000)) as usize] += 1;
    }
    // Opening takes `failures` failures plus what was in flight; then at
    // most `probes` per cool-off over the down half.
    let per_cool_off = (PERIOD_MS / 2).div_ceil(cool_off_ms) as u32 + 1;
    let bound = failures + workers as u32 + probes * per_cool_off;
    assert!(
        down.iter().all(|&n| (1..=bound).contains(&n)),
        "503s per down phase {down:?}, bound {bound}"
    );
    let up = ledger
        .iter()
        .filter(|a| a.provider == 0 && a.status == 200)
        .count();
    let total = seen.len();
    assert!(up > 0, "probes in the up phases closed the breaker again");
    assert!(
        total > 10 * bound as usize,
        "enough traffic to matter: {total} requests"
    );
}
