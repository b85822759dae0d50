//! The scenario file as written: serde structs that mirror the TOML one to
//! one. Unknown keys are rejected here (`deny_unknown_fields`); everything
//! else is optional so that validation, not serde, decides what is required
//! and can say why.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{RawDuration, RawRatio};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub load: Option<RawLoad>,
    pub traffic: Option<Vec<RawTraffic>>,
    pub gateway: Option<RawGateway>,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    pub sla: Option<RawSla>,
    pub gate: Option<RawGate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub arrival: Option<RawArrival>,
    pub timeout: Option<RawDuration>,
    pub max_in_flight: Option<i64>,
    pub max_lag_p99: Option<RawDuration>,
    pub drain: Option<RawDuration>,
    pub stages: Option<Vec<RawStage>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawArrival {
    Constant,
    Poisson,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub hold_rpm: Option<f64>,
    #[serde(rename = "for")]
    pub for_: Option<RawDuration>,
    pub ramp_to_rpm: Option<f64>,
    pub from_rpm: Option<f64>,
    pub over: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    pub name: Option<String>,
    pub weight: Option<f64>,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub max_tokens: Option<i64>,
    pub stream: Option<bool>,
    pub sla: Option<RawBudgets>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudgets {
    pub p50: Option<RawDuration>,
    pub p95: Option<RawDuration>,
    pub p99: Option<RawDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawGatewayKind {
    Builtin,
    External,
}

/// Both kinds' keys in one table; validation rejects keys of the other kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub kind: Option<RawGatewayKind>,
    // builtin
    pub port: Option<i64>,
    pub routes: Option<BTreeMap<String, Vec<String>>>,
    pub policy: Option<RawPolicy>,
    pub breaker: Option<RawBreaker>,
    // external
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub allow_non_loopback: Option<bool>,
    pub command: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub cwd: Option<String>,
    pub ready_url: Option<String>,
    pub ready_timeout: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub retries: Option<i64>,
    pub attempt_timeout: Option<RawDuration>,
    pub stream_idle_timeout: Option<RawDuration>,
    pub failover_on: Option<Vec<RawFailoverOn>>,
    pub honor_retry_after: Option<bool>,
    pub max_retry_wait: Option<RawDuration>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum RawFailoverOn {
    #[serde(rename = "5xx")]
    Status5xx,
    #[serde(rename = "429")]
    Status429,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "connect")]
    Connect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub enabled: Option<bool>,
    pub failures: Option<i64>,
    pub failure_rate: Option<RawRatio>,
    pub min_requests: Option<i64>,
    pub window: Option<RawDuration>,
    pub cool_off: Option<RawDuration>,
    pub half_open_probes: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Option<String>,
    pub profile: Option<String>,
    pub port: Option<i64>,
    pub group: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawFaultKind {
    Outage,
    ErrorBurst,
    LatencySpike,
    RateLimit,
    Malformed,
    StreamStall,
    StreamCut,
    StreamError,
    SlowFirstToken,
    Flapping,
    FakeStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOutageAs {
    #[serde(rename = "5xx")]
    Status5xx,
    Refuse,
    Reset,
    Hang,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawMalformation {
    InvalidJson,
    NoChoices,
    WrongContentType,
}

/// Every fault kind's keys in one table; validation rejects keys that do not
/// apply to the chosen kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub provider: Option<String>,
    pub region: Option<String>,
    pub kind: Option<RawFaultKind>,
    pub start: Option<RawDuration>,
    pub duration: Option<RawDuration>,
    pub probability: Option<RawRatio>,
    #[serde(rename = "as")]
    pub as_: Option<RawOutageAs>,
    pub status: Option<i64>,
    pub multiplier: Option<f64>,
    pub add: Option<RawDuration>,
    pub rpm: Option<f64>,
    pub what: Option<RawMalformation>,
    pub pause: Option<RawDuration>,
    pub delay: Option<RawDuration>,
    pub error_code: Option<String>,
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub retry_after: Option<RawDuration>,
    pub retry_after_as: Option<RawRetryAfterAs>,
    pub retryable: Option<bool>,
    pub dialect: Option<RawDialect>,
    pub after_tokens: Option<RawTokens>,
    pub period: Option<RawDuration>,
    pub duty: Option<RawRatio>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawRetryAfterAs {
    Seconds,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawDialect {
    Openai,
    Anthropic,
    Vllm,
}

/// `after_tokens = 5` or `after_tokens = [3, 8]`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawTokens {
    One(i64),
    Range(Vec<i64>),
}

impl<'de> Deserialize<'de> for RawTokens {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawTokens;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a token count such as 5, or a range such as [3, 8]")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawTokens, E> {
                Ok(RawTokens::One(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawTokens, E> {
                Ok(RawTokens::One(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawTokens, A::Error> {
                let mut v = Vec::new();
                while let Some(n) = seq.next_element::<i64>()? {
                    v.push(n);
                }
                Ok(RawTokens::Range(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSla {
    pub uptime: Option<RawRatio>,
    pub p50: Option<RawDuration>,
    pub p95: Option<RawDuration>,
    pub p99: Option<RawDuration>,
    pub max_time_to_failover: Option<RawDuration>,
    pub max_amplification: Option<f64>,
    pub max_retry_after_violations: Option<i64>,
    pub max_non_retryable_retries: Option<i64>,
    pub max_rewritten_errors: Option<i64>,
    pub max_flapping_probes: Option<i64>,
    pub optional: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub tolerance: Option<RawRatio>,
    pub floor: Option<RawDuration>,
}

/// A provider profile file (`mock-providers/*.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub name: Option<String>,
    pub model: Option<String>,
    pub region: Option<String>,
    pub price_input_per_m: Option<f64>,
    pub price_output_per_m: Option<f64>,
    pub stream_chunk_tokens: Option<i64>,
    pub ttft: Option<RawLatency>,
    pub speed: Option<RawSpeed>,
    pub output_tokens: Option<RawCount>,
    pub errors: Option<RawErrors>,
    pub rate_limit: Option<RawRateLimit>,
    pub dialect: Option<RawDialect>,
    pub keepalive: Option<RawDuration>,
    pub bytes_per_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawDist {
    Fixed,
    Uniform,
    Lognormal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    pub dist: Option<RawDist>,
    pub value: Option<RawDuration>,
    pub min: Option<RawDuration>,
    pub max: Option<RawDuration>,
    pub p50: Option<RawDuration>,
    pub p99: Option<RawDuration>,
    pub cap: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpeed {
    pub tokens_per_s: Option<f64>,
    pub jitter: Option<RawRatio>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCount {
    pub dist: Option<RawDist>,
    pub value: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawErrors {
    pub rate: Option<RawRatio>,
    pub status: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub rpm: Option<f64>,
    pub burst: Option<f64>,
    pub tpm: Option<f64>,
    pub headers: Option<bool>,
    pub header_values: Option<RawHeaderValues>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawHeaderValues {
    Exact,
    MinusOne,
    Zero,
}
