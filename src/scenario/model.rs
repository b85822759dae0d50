//! The validated scenario: the domain types the runner trusts.
//!
//! `raw.rs` reads TOML into loosely typed raw structs and `validate/`
//! turns them into these. Nothing downstream re-checks what is guaranteed
//! here (rates are positive, weights sum above zero, every fault names a
//! provider that exists, durations are parsed), so keep the invariants in the
//! doc comments honest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::fault::{Dialect, Fault};

/// A whole scenario, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Display name; defaults to the file stem.
    pub name: String,
    pub description: Option<String>,
    /// Where it was read from (for messages and reports); `None` when built in code.
    pub source: Option<PathBuf>,
    /// Every random draw in the run derives from this.
    pub seed: u64,
    pub load: Load,
    /// Non-empty; weights sum to more than zero.
    pub traffic: Vec<TrafficClass>,
    pub gateway: Gateway,
    /// Simulated providers started for this run (may be empty for an external target).
    pub providers: Vec<Provider>,
    /// Faults on the run's timeline; every target names providers in `providers`.
    pub faults: Vec<Fault>,
    pub sla: Sla,
    pub gate: Gate,
}

/// The load shape and how the generator behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Non-empty.
    pub stages: Vec<Stage>,
    pub arrival: Arrival,
    /// Per-request timeout on the client (whole request, including the stream).
    pub timeout: Duration,
    /// A send that would exceed this many requests in flight is counted as dropped.
    pub max_in_flight: usize,
    /// Generator validity: schedule lag p99 above this makes the run INVALID.
    /// `None`: derived from the SLA budgets ([`Scenario::lag_limit`]).
    pub max_lag_p99: Option<Duration>,
    /// After the last stage, how long in-flight requests may still finish
    /// before they are cut off (and not counted).
    pub drain: Duration,
}

/// One piece of the load shape. Rates are requests per minute, finite and >= 0,
/// and at least one stage asks for a positive rate.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Hold `rpm` for `duration`.
    Hold { rpm: f64, duration: Duration },
    /// Move linearly from `from` (default: the previous stage's final rate, 0 for
    /// the first stage) to `to` over `duration`.
    Ramp {
        from: Option<f64>,
        to: f64,
        duration: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Evenly spaced sends at the instantaneous rate.
    Constant,
    /// Exponential gaps (a non-homogeneous Poisson process following the stages).
    Poisson,
}

/// A weighted kind of request.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficClass {
    pub name: String,
    /// > 0 (zero-weight classes are rejected: they would never be sent).
    pub weight: f64,
    /// Model name sent to the gateway (a route name for the built-in gateway).
    pub model: String,
    /// Approximate prompt size; the prompt text is generated to about this many tokens.
    pub prompt_tokens: u32,
    /// > 0.
    pub max_tokens: u32,
    pub stream: bool,
    /// Latency budgets for this class; checked in the SLA table.
    pub budgets: Budgets,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budgets {
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
}

/// The system under test.
#[derive(Debug, Clone, PartialEq)]
pub enum Gateway {
    /// slabench's reference router in front of the scenario's providers.
    Builtin(BuiltinGateway),
    /// Any OpenAI-compatible endpoint.
    External(ExternalGateway),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExternalGateway {
    /// Base URL; requests go to `{url}/v1/chat/completions`. No trailing slash.
    pub url: String,
    /// Extra headers, `${ENV}` already interpolated. Values are secrets: never print them.
    pub headers: Vec<(String, String)>,
    /// The scenario's explicit `allow_non_loopback = true`. Validation
    /// guarantees that the URL's host is loopback or that this is true.
    pub allow_non_loopback: bool,
    /// How slabench starts the gateway, if it does (external gateways issue).
    pub process: Option<GatewayProcess>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayProcess {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub ready_url: Option<String>,
    pub ready_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinGateway {
    /// 0 = any free loopback port.
    pub port: u16,
    /// Model name → ordered provider names (each exists in `Scenario::providers`).
    pub routes: BTreeMap<String, Vec<String>>,
    pub policy: RoutePolicy,
    pub breaker: BreakerPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoutePolicy {
    /// Extra attempts on the same provider before moving on.
    pub retries: u32,
    /// Limit on the whole attempt: connect, headers and body, or for a
    /// stream its first data event.
    pub attempt_timeout: Duration,
    /// Longest silence allowed between a committed stream's chunks before
    /// the gateway gives up on it (it cannot fail over any more by then).
    pub stream_idle_timeout: Duration,
    /// Which attempt outcomes move on to the next provider (or retry).
    pub failover_on: Vec<FailoverOn>,
    pub honor_retry_after: bool,
    /// Retry-After above this is not waited for: the router moves on instead.
    pub max_retry_wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailoverOn {
    Status5xx,
    Status429,
    Timeout,
    Connect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    pub enabled: bool,
    /// Open after this many failures within `window` ...
    pub failures: u32,
    /// ... or when the failure rate within `window` reaches this (0..=1), given
    /// at least `min_requests` attempts in the window.
    pub failure_rate: Option<f64>,
    pub min_requests: u32,
    pub window: Duration,
    /// How long it stays open before half-open probes.
    pub cool_off: Duration,
    /// Concurrent probes allowed while half-open; that many successes close it.
    pub half_open_probes: u32,
}

/// A simulated provider started for the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Unique within the scenario.
    pub name: String,
    /// 0 = any free loopback port.
    pub port: u16,
    pub profile: ProviderProfile,
    /// The deployment group it belongs to (`group = "default"`), if any:
    /// a gateway that balances one model over several deployments (LiteLLM's
    /// model groups) moves between them as retries, not fallbacks, and the
    /// analysis counts such moves as `group_move`s.
    pub group: Option<String>,
}

/// What a provider is like: read from `mock-providers/<name>.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderProfile {
    pub name: String,
    pub model: String,
    pub region: String,
    /// USD per million input tokens.
    pub price_input_per_m: f64,
    /// USD per million output tokens.
    pub price_output_per_m: f64,
    pub ttft: LatencyDist,
    /// Output speed, tokens/s (> 0).
    pub tokens_per_s: f64,
    /// Relative jitter of the speed, 0..1 (uniform ± this share).
    pub speed_jitter: f64,
    /// Output length; always clamped to the request's max_tokens.
    pub output_tokens: CountDist,
    /// Share of requests answered with `base_error_status` (0..=1).
    pub base_error_rate: f64,
    pub base_error_status: u16,
    /// Token-bucket rate limit; `None` = unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Tokens per SSE chunk (>= 1).
    pub stream_chunk_tokens: u32,
    /// The shape of its error bodies and stream error events (`dialect`).
    pub dialect: Dialect,
    /// `keepalive = "1s"`: an SSE comment line (`: ping`) whenever a stream
    /// has been silent this long.
    pub keepalive: Option<Duration>,
    /// `bytes_per_s`: a cap on how fast a stream's bytes leave (a slow
    /// stream, not a stall); `None`: as fast as the tokens come.
    pub bytes_per_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LatencyDist {
    Fixed(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Parameterised by its median and 99th percentile; samples above `cap` are clamped.
    LogNormal {
        p50: Duration,
        p99: Duration,
        cap: Duration,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CountDist {
    Fixed(u32),
    Uniform { min: u32, max: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per minute; `f64::INFINITY` when only `tpm` limits.
    pub rpm: f64,
    /// Bucket size (requests); defaults to one second's worth.
    pub burst: f64,
    /// Tokens per minute (prompt + max_tokens asked for), beside `rpm`.
    pub tpm: Option<f64>,
    /// `headers = true`: every answer carries `x-ratelimit-*` headers from
    /// the buckets; `header_values` bends them the way some APIs do.
    pub headers: Option<RateLimitHeaders>,
}

/// What the `x-ratelimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitHeaders {
    /// The buckets' true limit, remaining and reset.
    Exact,
    /// `-1` for limit and remaining (some APIs' "unlimited").
    MinusOne,
    /// `0` for remaining, whatever the bucket holds.
    Zero,
}

/// The service-level agreement the run is judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    /// Share of counted requests that must succeed (default 0.999).
    pub uptime: f64,
    /// Budgets over all traffic.
    pub budgets: Budgets,
    /// Built-in gateway analysis: each fault window must fail over within this.
    pub max_time_to_failover: Option<Duration>,
    /// Attempts received by providers ÷ client requests.
    pub max_amplification: Option<f64>,
    /// Attempts sent to a provider while a Retry-After it sent was in force.
    pub max_retry_after_violations: Option<u64>,
    /// Requests retried or failed over after an error that must not be.
    pub max_non_retryable_retries: Option<u64>,
    /// Client-visible provider errors whose status or error type the
    /// gateway changed.
    pub max_rewritten_errors: Option<u64>,
    /// Attempts a gateway sent into one down phase of a flapping provider
    /// after it had met the failure there (breaker probes and leaks).
    pub max_flapping_probes: Option<u64>,
    /// `optional = [...]`: checks of these keys that could not be measured
    /// (not measured, not reached, not exercised, not observable) are shown
    /// with their state but do not make the run UNMEASURED.
    pub optional: Vec<SlaKey>,
}

/// An `[sla]` key whose checks `optional` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaKey {
    Uptime,
    P50,
    P95,
    P99,
    TimeToFailover,
    Amplification,
    RetryAfterViolations,
    NonRetryableRetries,
    RewrittenErrors,
    FlappingProbes,
}

impl SlaKey {
    /// Every key with the names `optional` accepts for it: the `[sla]` key
    /// itself, and for the two limits also the name without `max_`.
    pub const NAMES: [(&'static str, SlaKey); 16] = [
        ("uptime", SlaKey::Uptime),
        ("p50", SlaKey::P50),
        ("p95", SlaKey::P95),
        ("p99", SlaKey::P99),
        ("max_time_to_failover", SlaKey::TimeToFailover),
        ("time_to_failover", SlaKey::TimeToFailover),
        ("max_amplification", SlaKey::Amplification),
        ("amplification", SlaKey::Amplification),
        ("max_retry_after_violations", SlaKey::RetryAfterViolations),
        ("retry_after_violations", SlaKey::RetryAfterViolations),
        ("max_non_retryable_retries", SlaKey::NonRetryableRetries),
        ("non_retryable_retries", SlaKey::NonRetryableRetries),
        ("max_rewritten_errors", SlaKey::RewrittenErrors),
        ("rewritten_errors", SlaKey::RewrittenErrors),
        ("max_flapping_probes", SlaKey::FlappingProbes),
        ("flapping_probes", SlaKey::FlappingProbes),
    ];

    pub fn from_name(name: &str) -> Option<SlaKey> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }
}

/// Baseline comparison settings (CI gate issue).
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Relative tolerance, e.g. 0.10 for 10%.
    pub tolerance: f64,
    /// Absolute floor: differences below this never count as a regression.
    pub floor: Duration,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            tolerance: 0.10,
            floor: Duration::from_millis(5),
        }
    }
}

impl Scenario {
    /// Total planned duration of the stages (saturating: validation keeps
    /// it far below the limit, and arithmetic on it must never panic).
    pub fn duration(&self) -> Duration {
        // Validation bounds the total at 7 days; a scenario built in code
        // saturates instead of panicking.
        self.load
            .stages
            .iter()
            .fold(Duration::ZERO, |t, s| t.saturating_add(s.duration()))
    }

    /// The schedule-lag p99 above which the run is INVALID, and where the
    /// limit comes from. An explicit `load.max_lag_p99` wins; otherwise the
    /// larger of 5 ms and 1% of the tightest latency budget. Latency is
    /// measured from the intended send instant, so lag cannot hide latency:
    /// the limit only has to keep the *shape* of the load honest, and 1% of
    /// a budget of seconds is far inside any budget's precision.
    pub fn lag_limit(&self) -> (Duration, &'static str) {
        if let Some(explicit) = self.load.max_lag_p99 {
            return (explicit, "load.max_lag_p99");
        }
        let budgets = std::iter::once(&self.sla.budgets)
            .chain(self.traffic.iter().map(|c| &c.budgets))
            .flat_map(|b| [b.p50, b.p95, b.p99])
            .flatten();
        match budgets.min() {
            Some(tightest) if tightest / 100 > MIN_LAG_LIMIT => {
                (tightest / 100, "1% of the tightest latency budget")
            }
            _ => (MIN_LAG_LIMIT, "the default"),
        }
    }
}

/// The smallest derived schedule-lag limit.
pub const MIN_LAG_LIMIT: Duration = Duration::from_millis(5);

impl Stage {
    pub fn duration(&self) -> Duration {
        match self {
            Stage::Hold { duration, .. } | Stage::Ramp { duration, .. } => *duration,
        }
    }

    /// The rate at the end of the stage (where the next ramp starts from).
    pub fn end_rpm(&self) -> f64 {
        match self {
            Stage::Hold { rpm, .. } => *rpm,
            Stage::Ramp { to, .. } => *to,
        }
    }
}

/// Each stage in words: `hold 600 rpm for 30s`, `ramp 0 → 600 rpm over 30s`
/// (a ramp's start resolved from the stage before it).
pub fn describe_stages(stages: &[Stage]) -> Vec<String> {
    let mut prev = 0.0;
    stages
        .iter()
        .map(|s| {
            let shown = match s {
                Stage::Hold { rpm, duration } => {
                    format!(
                        "hold {rpm} rpm for {}",
                        humantime::format_duration(*duration)
                    )
                }
                Stage::Ramp { from, to, duration } => format!(
                    "ramp {} → {to} rpm over {}",
                    from.unwrap_or(prev),
                    humantime::format_duration(*duration)
                ),
            };
            prev = s.end_rpm();
            shown
        })
        .collect()
}

/// Whether `url`'s host is loopback (`127.0.0.0/8`, `::1` or `localhost`).
pub fn is_loopback_url(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}
