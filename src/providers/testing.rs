//! Scenario values built in code, for tests and benchmarks of the providers.
//!
//! Compiled for unit tests and with the `testing` feature, which the crate's
//! own integration tests and `benches/` turn on (a self dev-dependency), so
//! they share the unit tests' quiet defaults without this being public API:
//! instant, error-free providers that a test then makes as slow or flaky as
//! it needs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::{
    Arrival, BreakerPolicy, Budgets, BuiltinGateway, CountDist, Fault, FaultKind, Gate, Gateway,
    LatencyDist, Load, Provider, ProviderProfile, RoutePolicy, Scenario, Sla, Stage,
};

/// A quiet profile: no latency, 1000 tokens/s, 4 output tokens, no errors,
/// no rate limit, one token per stream chunk.
pub fn profile(name: &str) -> ProviderProfile {
    ProviderProfile {
        name: name.to_string(),
        model: format!("{name}-model"),
        region: "local".into(),
        price_input_per_m: 1.0,
        price_output_per_m: 2.0,
        ttft: LatencyDist::Fixed(Duration::ZERO),
        tokens_per_s: 1000.0,
        speed_jitter: 0.0,
        output_tokens: CountDist::Fixed(4),
        base_error_rate: 0.0,
        base_error_status: 500,
        rate_limit: None,
        stream_chunk_tokens: 1,
        dialect: Default::default(),
        keepalive: None,
        bytes_per_s: None,
    }
}

/// A scenario with `providers` quiet providers named `p0`, `p1`, … on free
/// ports, no faults, and a 10 s hold at 60 RPM.
pub fn scenario(seed: u64, providers: usize) -> Scenario {
    let providers: Vec<Provider> = (0..providers)
        .map(|i| Provider {
            name: format!("p{i}"),
            port: 0,
            profile: profile(&format!("p{i}")),
            group: None,
        })
        .collect();
    let route = providers.iter().map(|p| p.name.clone()).collect();
    Scenario {
        name: "providers-test".into(),
        description: None,
        source: None,
        seed,
        load: Load {
            stages: vec![Stage::Hold {
                rpm: 60.0,
                duration: Duration::from_secs(10),
            }],
            arrival: Arrival::Constant,
            timeout: Duration::from_secs(10),
            max_in_flight: 1000,
            max_lag_p99: Some(Duration::from_millis(5)),
            drain: Duration::from_secs(1),
        },
        traffic: vec![],
        gateway: Gateway::Builtin(BuiltinGateway {
            port: 0,
            routes: BTreeMap::from([("default".to_string(), route)]),
            policy: RoutePolicy {
                retries: 0,
                attempt_timeout: Duration::from_secs(10),
                stream_idle_timeout: Duration::from_secs(30),
                failover_on: vec![],
                honor_retry_after: true,
                max_retry_wait: Duration::from_secs(1),
            },
            breaker: BreakerPolicy {
                enabled: false,
                failures: 20,
                failure_rate: None,
                min_requests: 20,
                window: Duration::from_secs(10),
                cool_off: Duration::from_secs(30),
                half_open_probes: 1,
            },
        }),
        providers,
        faults: vec![],
        sla: Sla {
            uptime: 0.999,
            budgets: Budgets::default(),
            max_time_to_failover: None,
            max_amplification: None,
            max_retry_after_violations: None,
            max_non_retryable_retries: None,
            max_rewritten_errors: None,
            max_flapping_probes: None,
            optional: vec![],
        },
        gate: Gate::default(),
    }
}

/// A fault on provider `index` from `start` for `duration` (`None`: to the end),
/// hitting every request.
pub fn fault(index: usize, kind: FaultKind, start: Duration, duration: Option<Duration>) -> Fault {
    Fault {
        providers: vec![index],
        target_label: format!("provider p{index}"),
        start,
        duration,
        probability: 1.0,
        kind,
        error: Default::default(),
        after_tokens: None,
    }
}
