//! Good scenarios: defaults, a full scenario into the expected model, the
//! reference's examples, and the shipped provider profiles.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{parse, scenario_path, FLASH, LOAD, TRAFFIC};
use slabench::scenario::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn smallest_scenario_gets_the_documented_defaults() {
    let s = parse("[load]\nstages = [{ hold_rpm = 60, for = \"30s\" }]\n[[traffic]]\nmodel = \"default\"\n[[providers]]\nprofile = \"deepseek-v4-flash\"\n").unwrap();
    assert_eq!(s.name, "test");
    assert_eq!(s.source.as_deref(), Some(scenario_path().as_path()));
    assert_eq!((s.seed, s.description.clone()), (1, None));
    assert_eq!(
        s.load,
        Load {
            stages: vec![Stage::Hold {
                rpm: 60.0,
                duration: secs(30)
            }],
            arrival: Arrival::Constant,
            timeout: secs(60),
            max_in_flight: 10_000,
            max_lag_p99: None,
            drain: secs(60),
        }
    );
    assert_eq!(
        s.traffic,
        vec![TrafficClass {
            name: "default".into(),
            weight: 1.0,
            model: "default".into(),
            prompt_tokens: 100,
            max_tokens: 256,
            stream: false,
            budgets: Budgets::default(),
        }]
    );
    assert_eq!(s.providers.len(), 1);
    assert_eq!(
        (s.providers[0].name.as_str(), s.providers[0].port),
        ("deepseek-v4-flash", 0)
    );
    let Gateway::Builtin(g) = &s.gateway else {
        panic!("expected the builtin gateway, got {:?}", s.gateway)
    };
    assert_eq!(g.port, 0);
    assert_eq!(
        g.routes,
        BTreeMap::from([("default".to_string(), vec!["deepseek-v4-flash".to_string()])])
    );
    assert_eq!(
        g.policy,
        RoutePolicy {
            retries: 0,
            attempt_timeout: secs(10),
            stream_idle_timeout: Duration::from_secs(30),
            failover_on: vec![
                FailoverOn::Status5xx,
                FailoverOn::Status429,
                FailoverOn::Timeout,
                FailoverOn::Connect
            ],
            honor_retry_after: true,
            max_retry_wait: secs(1),
        }
    );
    assert_eq!(
        g.breaker,
        BreakerPolicy {
            enabled: true,
            failures: 20,
            failure_rate: None,
            min_requests: 20,
            window: secs(10),
            cool_off: secs(30),
            half_open_probes: 1,
        }
    );
    assert!(s.faults.is_empty());
    assert_eq!(
        s.sla,
        Sla {
            uptime: 0.999,
            budgets: Budgets::default(),
            max_time_to_failover: None,
            max_amplification: None,
            max_retry_after_violations: None,
            max_non_retryable_retries: None,
            max_rewritten_errors: None,
            max_flapping_probes: None,
            optional: vec![]
        }
    );
    assert_eq!(s.gate, Gate::default());
}

#[test]
fn default_routes_send_every_model_to_all_providers_in_declaration_order() {
    let src = format!("{LOAD}{TRAFFIC}[[traffic]]\nmodel = \"premium\"\n[[providers]]\nname = \"r1\"\nprofile = \"deepseek-r1\"\n{FLASH}");
    let s = parse(&src).unwrap();
    let Gateway::Builtin(g) = s.gateway else {
        panic!("builtin expected")
    };
    let order = vec!["r1".to_string(), "flash".to_string()];
    assert_eq!(
        g.routes,
        BTreeMap::from([
            ("default".to_string(), order.clone()),
            ("premium".to_string(), order)
        ])
    );
}

#[test]
fn full_scenario_parses_into_the_expected_model() {
    let src = r#"
name = "failover"
description = "flash down for 20 s"
seed = 7

[load]
arrival = "poisson"
timeout = "20s"
max_in_flight = 500
max_lag_p99 = "10ms"
drain = "5s"
stages = [
  { ramp_to_rpm = 600, over = "10s" },
  { hold_rpm = 600, for = "1m" },
  { ramp_to_rpm = 0, from_rpm = 300, over = "10s" },
]

[[traffic]]
name = "chat"
weight = 80
model = "default"
prompt_tokens = 400
max_tokens = 200
stream = true
[traffic.sla]
p50 = "900ms"
p99 = "2.5s"

[[traffic]]
name = "reasoning"
weight = 20
model = "premium"

[gateway]
port = 8099
[gateway.routes]
default = ["flash", "qwen"]
premium = ["r1", "flash"]
[gateway.policy]
retries = 1
attempt_timeout = "5s"
failover_on = ["timeout", "5xx", "5xx"]
honor_retry_after = false
max_retry_wait = "500ms"
[gateway.breaker]
enabled = false
failures = 5
failure_rate = "50%"
min_requests = 10
window = "5s"
cool_off = "15s"
half_open_probes = 2

[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
port = 9001

[[providers]]
name = "qwen"
profile = "qwen3-32b"

[[providers]]
name = "r1"
profile = "deepseek-r1"

[[faults]]
provider = "flash"
kind = "outage"
start = "20s"
duration = "20s"

[[faults]]
region = "us-east"
kind = "latency_spike"
multiplier = 2.5
add = "1s"
start = "40s"
probability = "25%"

[[faults]]
provider = "qwen"
kind = "malformed"
what = "no_choices"

[[faults]]
provider = "r1"
kind = "outage"
as = "refuse"
start = "50s"
duration = "5s"

[sla]
uptime = "99.5%"
p95 = "2s"
max_time_to_failover = "15s"
max_amplification = 1.5

[gate]
tolerance = 0.2
floor = "10ms"
"#;
    let s = parse(src).unwrap();
    assert_eq!(
        (s.name.as_str(), s.description.as_deref(), s.seed),
        ("failover", Some("flash down for 20 s"), 7)
    );
    assert_eq!(
        s.load,
        Load {
            stages: vec![
                Stage::Ramp {
                    from: None,
                    to: 600.0,
                    duration: secs(10)
                },
                Stage::Hold {
                    rpm: 600.0,
                    duration: secs(60)
                },
                Stage::Ramp {
                    from: Some(300.0),
                    to: 0.0,
                    duration: secs(10)
                },
            ],
            arrival: Arrival::Poisson,
            timeout: secs(20),
            max_in_flight: 500,
            max_lag_p99: Some(ms(10)),
            drain: secs(5),
        }
    );
    assert_eq!(s.duration(), secs(80));
    assert_eq!(
        s.traffic,
        vec![
            TrafficClass {
                name: "chat".into(),
                weight: 80.0,
                model: "default".into(),
                prompt_tokens: 400,
                max_tokens: 200,
                stream: true,
                budgets: Budgets {
                    p50: Some(ms(900)),
                    p95: None,
                    p99: Some(ms(2500))
                },
            },
            TrafficClass {
                name: "reasoning".into(),
                weight: 20.0,
                model: "premium".into(),
                prompt_tokens: 100,
                max_tokens: 256,
                stream: false,
                budgets: Budgets::default(),
            },
        ]
    );
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        s.gateway,
        Gateway::Builtin(BuiltinGateway {
            port: 8099,
            routes: BTreeMap::from([
                ("default".into(), names(&["flash", "qwen"])),
                ("premium".into(), names(&["r1", "flash"]))
            ]),
            policy: RoutePolicy {
                retries: 1,
                attempt_timeout: secs(5),
                stream_idle_timeout: Duration::from_secs(30),
                failover_on: vec![FailoverOn::Status5xx, FailoverOn::Timeout],
                honor_retry_after: false,
                max_retry_wait: ms(500),
            },
            breaker: BreakerPolicy {
                enabled: false,
                failures: 5,
                failure_rate: Some(0.5),
                min_requests: 10,
                window: secs(5),
                cool_off: secs(15),
                half_open_probes: 2,
            },
        })
    );
    let providers: Vec<(&str, u16, &str)> = s
        .providers
        .iter()
        .map(|p| (p.name.as_str(), p.port, p.profile.name.as_str()))
        .collect();
    assert_eq!(
        providers,
        vec![
            ("flash", 9001, "deepseek-v4-flash"),
            ("qwen", 0, "qwen3-32b"),
            ("r1", 0, "deepseek-r1")
        ]
    );
    assert_eq!(
        s.faults,
        vec![
            Fault {
                providers: vec![0],
                target_label: "provider flash".into(),
                start: secs(20),
                duration: Some(secs(20)),
                probability: 1.0,
                kind: FaultKind::OutageHttp { status: 503 },
                error: Default::default(),
                after_tokens: None,
            },
            Fault {
                providers: vec![0, 2],
                target_label: "region us-east".into(),
                start: secs(40),
                duration: None,
                probability: 0.25,
                kind: FaultKind::LatencySpike {
                    multiplier: 2.5,
                    add: secs(1)
                },
                error: Default::default(),
                after_tokens: None,
            },
            Fault {
                providers: vec![1],
                target_label: "provider qwen".into(),
                start: Duration::ZERO,
                duration: None,
                probability: 1.0,
                kind: FaultKind::Malformed(Malformation::NoChoices),
                error: Default::default(),
                after_tokens: None,
            },
            Fault {
                providers: vec![2],
                target_label: "provider r1".into(),
                start: secs(50),
                duration: Some(secs(5)),
                probability: 1.0,
                kind: FaultKind::OutageRefuse,
                error: Default::default(),
                after_tokens: None,
            },
        ]
    );
    assert!((s.sla.uptime - 0.995).abs() < 1e-12);
    assert_eq!(
        s.sla.budgets,
        Budgets {
            p50: None,
            p95: Some(secs(2)),
            p99: None
        }
    );
    assert_eq!(
        (s.sla.max_time_to_failover, s.sla.max_amplification),
        (Some(secs(15)), Some(1.5))
    );
    assert_eq!(
        s.gate,
        Gate {
            tolerance: 0.2,
            floor: ms(10)
        }
    );
}

#[test]
fn external_gateway_interpolates_env_and_resolves_cwd() {
    let src = format!(
        r#"{LOAD}{TRAFFIC}[gateway]
url = "http://localhost:4000/"
headers = {{ Authorization = "Bearer ${{GATEWAY_KEY}}", X-Literal = "$${{NOT_EXPANDED}}" }}
command = ["litellm", "--port", "4000"]
env = {{ KEY = "${{GATEWAY_KEY}}" }}
cwd = "../examples/litellm"
ready_url = "http://127.0.0.1:4000/health"
"#
    );
    let s = parse(&src).unwrap();
    let dir = scenario_path().parent().unwrap().to_path_buf();
    assert_eq!(
        s.gateway,
        Gateway::External(ExternalGateway {
            url: "http://localhost:4000".into(),
            headers: vec![
                ("Authorization".into(), "Bearer sk-test-secret".into()),
                ("X-Literal".into(), "${NOT_EXPANDED}".into()),
            ],
            allow_non_loopback: false,
            process: Some(GatewayProcess {
                command: vec!["litellm".into(), "--port".into(), "4000".into()],
                env: vec![("KEY".into(), "sk-test-secret".into())],
                cwd: Some(dir.join("../examples/litellm")),
                ready_url: Some("http://127.0.0.1:4000/health".into()),
                ready_timeout: secs(60),
            }),
        })
    );
    assert!(s.providers.is_empty());
}

#[test]
fn load_reads_a_file_and_names_the_scenario_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smoke-test.toml");
    std::fs::write(
        &path,
        format!("{LOAD}{TRAFFIC}[[providers]]\nprofile = \"local.toml\"\n"),
    )
    .unwrap();
    std::fs::copy(
        repo("mock-providers/qwen3-32b.toml"),
        dir.path().join("local.toml"),
    )
    .unwrap();
    let s = load(&path).unwrap();
    assert_eq!(s.name, "smoke-test");
    assert_eq!(
        s.providers[0].name, "qwen3-32b",
        "a .toml profile is a path relative to the scenario"
    );
}

#[test]
fn shipped_profiles_load() {
    let flash = load_profile(&repo("mock-providers/deepseek-v4-flash.toml")).unwrap();
    let qwen = load_profile(&repo("mock-providers/qwen3-32b.toml")).unwrap();
    let r1 = load_profile(&repo("mock-providers/deepseek-r1.toml")).unwrap();
    let summary = |p: &ProviderProfile| {
        (
            p.name.clone(),
            p.region.clone(),
            p.price_input_per_m,
            p.price_output_per_m,
            p.stream_chunk_tokens,
        )
    };
    assert_eq!(
        summary(&flash),
        ("deepseek-v4-flash".into(), "us-east".into(), 0.07, 0.25, 4)
    );
    assert_eq!(
        summary(&qwen),
        ("qwen3-32b".into(), "eu-west".into(), 0.10, 0.28, 4)
    );
    assert_eq!(
        summary(&r1),
        ("deepseek-r1".into(), "us-east".into(), 0.55, 2.50, 4)
    );
    for p in [&flash, &qwen, &r1] {
        assert!(
            matches!(p.ttft, LatencyDist::LogNormal { .. }),
            "{}: {:?}",
            p.name,
            p.ttft
        );
    }
}

/// The reference's TOML examples are real: the scenarios parse and the
/// profile example loads.
#[test]
fn reference_examples_are_valid() {
    let doc = std::fs::read_to_string(repo("docs/scenario-reference.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 3, "full scenario, smallest scenario, profile");
    let peak = parse(blocks[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (peak.name.as_str(), peak.providers.len(), peak.faults.len()),
        ("peak", 3, 1)
    );
    parse(blocks[1]).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("example.toml");
    std::fs::write(&profile, blocks[2]).unwrap();
    let p = load_profile(&profile).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p,
        load_profile(Path::new(&repo("mock-providers/deepseek-v4-flash.toml"))).unwrap()
    );
}

#[test]
fn sla_optional_names_keys_by_their_sla_name_or_without_max() {
    let src = format!(
        "{LOAD}{TRAFFIC}[[providers]]\nname = \"flash\"\nprofile = \"deepseek-v4-flash\"\n[sla]\n\
         optional = [\"time_to_failover\", \"max_amplification\", \"uptime\", \"max_time_to_failover\"]\n"
    );
    let s = parse(&src).unwrap();
    // Two names of one key count once.
    assert_eq!(
        s.sla.optional,
        [
            SlaKey::TimeToFailover,
            SlaKey::Amplification,
            SlaKey::Uptime
        ]
    );
}
