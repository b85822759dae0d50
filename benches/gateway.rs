//! Gateway overhead: the same open-loop load straight to a provider and
//! through the built-in gateway; the difference in latency percentiles is
//! what the gateway adds.
//!
//!     cargo bench --bench gateway                  # 1,000 req/s, 20 s each way, twice
//!     BENCH_SECS=5 cargo bench --bench gateway     # quick look
//!
//! Target (README's Benchmarks): p99 overhead under 1 ms at 1,000 requests/s. The last
//! line is `all targets met` or `FAIL: … missed (…)`, which exits 1.

mod targets;

use std::sync::Arc;
use std::time::Duration;

use slabench::clock::RunClock;
use slabench::gateway::BuiltinGatewayServer;
use slabench::providers::{testing, ProviderSet};
use slabench::run::{run, RunOptions};
use slabench::scenario::{
    Budgets, ExternalGateway, Gateway, LatencyDist, Scenario, Stage, TrafficClass,
};
use targets::Targets;

const RPM: f64 = 60_000.0;

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(secs)).finish();
}

async fn bench(secs: u64) -> Targets {
    // One provider answering after a fixed 20 ms, with 4 tokens at a pace
    // that adds nothing measurable.
    let mut providers = testing::scenario(1, 1);
    providers.providers[0].profile.ttft = LatencyDist::Fixed(Duration::from_millis(20));
    providers.providers[0].profile.tokens_per_s = 1e6;
    let clock = Arc::new(RunClock::new());
    clock.start(tokio::time::Instant::now());
    let dir = tempfile::tempdir().unwrap();
    let set = ProviderSet::start(&providers, clock, &dir.path().join("ledger.bin")).unwrap();
    let upstreams = set.urls();
    let Gateway::Builtin(cfg) = &providers.gateway else {
        unreachable!()
    };
    let gateway = BuiltinGatewayServer::start(cfg, &upstreams).await.unwrap();

    println!("--- {RPM} RPM (1,000 req/s) for {secs} s each way; provider answers after 20 ms");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "target", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "lag p99"
    );
    let mut rows = Vec::new();
    for round in 0..2 {
        for (name, url) in [
            ("direct", upstreams[0].1.clone()),
            ("gateway", gateway.url()),
        ] {
            let s = run(
                &load(&url, secs),
                RunOptions {
                    out: Some(dir.path().join(format!("{name}{round}"))),
                    quiet: true,
                    stop: None,
                    requests_csv: false,
                    allow_unreachable: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .summary;
            let l = s.latency_ms.all;
            assert_eq!(
                s.requests.ok, s.requests.counted,
                "{name}: every request must succeed"
            );
            println!(
                "{:<10} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                name, l.p50, l.p90, l.p99, l.p999, s.generator.lag_ms.p99
            );
            rows.push((name, l));
        }
    }
    let mean = |name: &str, f: fn(&slabench::metrics::histogram::Percentiles) -> f64| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, l)| f(l))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let p50 = mean("gateway", |l| l.p50) - mean("direct", |l| l.p50);
    let p99 = mean("gateway", |l| l.p99) - mean("direct", |l| l.p99);
    println!("gateway overhead: p50 {p50:+.3} ms, p99 {p99:+.3} ms (target p99 < 1 ms)");
    gateway.shutdown().await;
    set.shutdown().await.unwrap();
    let mut targets = Targets::default();
    targets.check(
        "gateway p99 overhead < 1 ms",
        p99 < 1.0,
        format!("{p99:+.3} ms"),
    );
    targets
}

fn load(url: &str, secs: u64) -> Scenario {
    let mut sc = testing::scenario(1, 0);
    sc.name = "gateway-bench".into();
    sc.load.stages = vec![Stage::Hold {
        rpm: RPM,
        duration: Duration::from_secs(secs),
    }];
    sc.load.max_in_flight = 10_000;
    sc.traffic = vec![TrafficClass {
        name: "default".into(),
        weight: 1.0,
        model: "default".into(),
        prompt_tokens: 100,
        max_tokens: 16,
        stream: false,
        budgets: Budgets::default(),
    }];
    sc.gateway = Gateway::External(ExternalGateway {
        url: url.into(),
        headers: vec![],
        allow_non_loopback: false,
        process: None,
    });
    sc
}
