//! The fault model: what a provider does with one chat request.
//!
//! [`decide`] is a pure function of the profile, the faults that hit this
//! request, the request's needs, the rate limiter's verdict and a fixed set of
//! random draws. [`FaultModel`] wraps it with the provider's seeded generator
//! and token bucket.
//!
//! Determinism: per request the model takes the same draws in the same order
//! whatever happens ([`Draws`], then one uniform per fault targeting the
//! provider, active or not). So the same seed and the same sequence of
//! requests give the same decisions, and a request that lands a millisecond
//! either side of a fault window does not shift every later draw.
//!
//! Precedence when several things hit one request: reset, hang, an outage or
//! error-burst status (scenario order), the rate limit's 429, the base error
//! rate, then an answer shaped by latency, malformed and stream faults (a
//! cut before an error event before a stall; the one that decides the
//! shape also decides where the stream breaks). `OutageRefuse`, a flapping
//! provider down as `"refuse"` and `RateLimitSqueeze` act on the listener
//! and the bucket, not on single requests, so their `probability` is not
//! used.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::rate_limit::{effective_limit, LimitState, Limiter};
use super::sample;
use crate::scenario::{
    CountDist, Fault, FaultKind, FlapAs, Malformation, ProviderProfile, RetryAfter, Scenario,
};

/// What the model needs to know about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub stream: bool,
    pub max_tokens: Option<u32>,
    /// The prompt's size in tokens (what a `tpm` limit counts with
    /// `max_tokens`).
    pub input_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Answer 200, on the timeline of the plan.
    Answer(Plan),
    /// Answer `status` at once, with a Retry-After when there is one.
    /// `fault`: the index in `Scenario::faults` of the fault whose error
    /// this is (its `ErrorSpec` shapes the body); `None` for the rate
    /// limit's 429 and the base error rate.
    Status {
        status: u16,
        retry_after: Option<RetryAfter>,
        fault: Option<u16>,
    },
    /// Reset the connection (TCP RST).
    Reset,
    /// Never answer.
    Hang,
}

/// The timeline of an answer. Token `i` (from 0) is out `ttft + i / tokens_per_s`
/// after arrival; a non-streaming answer leaves when its last token is out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub ttft: Duration,
    pub tokens_per_s: f64,
    pub output_tokens: u32,
    pub shape: Shape,
    /// `fake_stream` on a streaming request: every event leaves together
    /// when the last one is due.
    pub fake_stream: bool,
}

/// How the answer is broken, if it is. A stream breaks after exactly
/// `after_tokens` content tokens (0: before the first content chunk; at
/// most the answer's length); the chunk that would straddle that point is
/// split there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Complete,
    Malformed(Malformation),
    /// Everything after the first `after_tokens` tokens is delayed by `pause`.
    Stall {
        after_tokens: u32,
        pause: Duration,
    },
    /// The stream ends after `after_tokens` tokens, without `[DONE]`.
    Cut {
        after_tokens: u32,
    },
    /// An error event follows the first `after_tokens` tokens, and the
    /// stream ends. `fault`: the index in `Scenario::faults` of the fault
    /// whose error it is.
    ErrorEvent {
        after_tokens: u32,
        fault: Option<u16>,
    },
}

impl Plan {
    /// When token `i` is out, from arrival.
    pub fn token_at(&self, i: u32) -> Duration {
        self.ttft
            .saturating_add(capped_secs(f64::from(i) / self.tokens_per_s))
            .min(LONGEST)
    }

    /// When the last token is out (the first-token time when there are none).
    pub fn finish_at(&self) -> Duration {
        self.token_at(self.output_tokens.saturating_sub(1))
    }
}

/// The random numbers one request uses, all taken whether needed or not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draws {
    /// Uniform: base error rate.
    pub error: f64,
    /// Standard normal: lognormal time to first token.
    pub ttft_z: f64,
    /// Uniform: uniform time to first token.
    pub ttft_u: f64,
    /// Uniform: speed jitter.
    pub speed: f64,
    /// Uniform: output length.
    pub tokens: f64,
    /// Uniform: where in the stream a stream fault strikes.
    pub stream_at: f64,
}

impl Draws {
    pub fn take(rng: &mut impl Rng) -> Self {
        Draws {
            error: rng.random(),
            ttft_z: rng.sample(StandardNormal),
            ttft_u: rng.random(),
            speed: rng.random(),
            tokens: rng.random(),
            stream_at: rng.random(),
        }
    }
}

/// The per-request faults that hit one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hits {
    pub reset: bool,
    pub hang: bool,
    /// Status of the first outage / error burst that hit, with the fault's
    /// index in `Scenario::faults` and its Retry-After.
    pub status: Option<u16>,
    pub status_fault: Option<u16>,
    pub retry_after: Option<RetryAfter>,
    /// The stream fault that struck (cut, error event or stall): its index
    /// and `after_tokens`.
    pub stream_fault: Option<u16>,
    pub after_tokens: Option<(u32, u32)>,
    /// `fake_stream`: every token at the end.
    pub fake_stream: bool,
    /// Product of the latency spikes' multipliers.
    pub latency_multiplier: f64,
    /// Sum of the latency spikes' additions.
    pub latency_add: Duration,
    pub malformed: Option<Malformation>,
    pub stall: Option<Duration>,
    pub cut: bool,
    pub error_event: bool,
    pub slow_first_token: Option<Duration>,
}

impl Default for Hits {
    fn default() -> Self {
        Hits {
            reset: false,
            hang: false,
            status: None,
            status_fault: None,
            retry_after: None,
            stream_fault: None,
            after_tokens: None,
            fake_stream: false,
            latency_multiplier: 1.0,
            latency_add: Duration::ZERO,
            malformed: None,
            stall: None,
            cut: false,
            error_event: false,
            slow_first_token: None,
        }
    }
}

impl Hits {
    /// Takes one uniform per fault, in order, and adds the faults that act
    /// at `t` and whose probability the draw falls under. `ids` are the
    /// faults' indices in `Scenario::faults` (empty: their positions).
    pub fn draw(faults: &[Fault], ids: &[u16], t: Option<Duration>, rng: &mut impl Rng) -> Self {
        let mut hits = Hits::default();
        for (i, fault) in faults.iter().enumerate() {
            let u: f64 = rng.random();
            if t.is_some_and(|t| fault.acting_at(t)) && u < fault.probability {
                let id = ids.get(i).copied().unwrap_or(i as u16);
                hits.add_fault(fault, id);
            }
        }
        hits
    }

    /// Adds one fault that struck, with its index in `Scenario::faults`.
    /// The stream fault that decides the shape (a cut before an error event
    /// before a stall; the first of equals) gives `stream_fault` and
    /// `after_tokens`.
    pub fn add_fault(&mut self, fault: &Fault, id: u16) {
        let had_status = self.status.is_some();
        let rank_before = self.stream_rank();
        self.add(&fault.kind);
        if !had_status && self.status.is_some() {
            self.status_fault = Some(id);
            self.retry_after = self
                .status
                .and_then(|st| fault.error.retry_after.resolve(st));
        }
        if self.stream_rank() > rank_before {
            self.stream_fault = Some(id);
            self.after_tokens = fault.after_tokens;
        }
    }

    /// Which stream fault decides the shape: 3 cut, 2 error event, 1 stall.
    fn stream_rank(&self) -> u8 {
        if self.cut {
            3
        } else if self.error_event {
            2
        } else {
            u8::from(self.stall.is_some())
        }
    }

    pub fn add(&mut self, kind: &FaultKind) {
        match *kind {
            FaultKind::OutageHttp { status }
            | FaultKind::ErrorBurst { status }
            | FaultKind::Flapping {
                down: FlapAs::Http { status },
                ..
            } => {
                if self.status.is_none() {
                    self.status = Some(status);
                    self.retry_after = (status == 429).then_some(RetryAfter::DEFAULT_429);
                }
            }
            FaultKind::OutageReset
            | FaultKind::Flapping {
                down: FlapAs::Reset,
                ..
            } => self.reset = true,
            FaultKind::OutageHang
            | FaultKind::Flapping {
                down: FlapAs::Hang, ..
            } => self.hang = true,
            FaultKind::FakeStream => self.fake_stream = true,
            FaultKind::LatencySpike { multiplier, add } => {
                self.latency_multiplier *= multiplier.max(0.0);
                self.latency_add += add;
            }
            FaultKind::Malformed(m) => {
                self.malformed.get_or_insert(m);
            }
            FaultKind::StreamStall { pause } => {
                self.stall = Some(self.stall.map_or(pause, |p| p.max(pause)));
            }
            FaultKind::StreamCut => self.cut = true,
            FaultKind::StreamErrorEvent => self.error_event = true,
            FaultKind::SlowFirstToken { delay } => {
                self.slow_first_token = Some(self.slow_first_token.map_or(delay, |d| d.max(delay)));
            }
            FaultKind::OutageRefuse
            | FaultKind::RateLimitSqueeze { .. }
            | FaultKind::Flapping {
                down: FlapAs::Refuse,
                ..
            } => {}
        }
    }
}

/// The decision for one request. `rate_limited` is the bucket's wait when it
/// refused the request.
pub fn decide(
    profile: &ProviderProfile,
    hits: &Hits,
    draws: &Draws,
    req: RequestInfo,
    rate_limited: Option<Duration>,
) -> Decision {
    if hits.reset {
        return Decision::Reset;
    }
    if hits.hang {
        return Decision::Hang;
    }
    if let Some(status) = hits.status {
        return Decision::Status {
            status,
            retry_after: hits.retry_after,
            fault: hits.status_fault,
        };
    }
    if let Some(wait) = rate_limited {
        return Decision::Status {
            status: 429,
            retry_after: Some(RetryAfter {
                wait,
                as_date: false,
            }),
            fault: None,
        };
    }
    if draws.error < profile.base_error_rate {
        return Decision::Status {
            status: profile.base_error_status,
            retry_after: (profile.base_error_status == 429).then_some(RetryAfter::DEFAULT_429),
            fault: None,
        };
    }
    Decision::Answer(plan(profile, hits, draws, req))
}

fn plan(profile: &ProviderProfile, hits: &Hits, draws: &Draws, req: RequestInfo) -> Plan {
    let m = hits.latency_multiplier;
    let base_ttft = sample::latency(&profile.ttft, draws.ttft_z, draws.ttft_u);
    // Overlapping spikes multiply (1000 × 1000 × ...), so the product may
    // reach infinity even when each multiplier is in range.
    let m = if m.is_nan() { 1.0 } else { m.min(MAX_FACTOR) };
    let mut ttft = capped_secs(base_ttft.as_secs_f64() * m)
        .saturating_add(hits.latency_add)
        .min(LONGEST);
    let mut tokens_per_s = sample::speed(profile.tokens_per_s, profile.speed_jitter, draws.speed);
    if m > 0.0 {
        tokens_per_s /= m;
    }
    let output_tokens = sample::output_tokens(&profile.output_tokens, draws.tokens, req.max_tokens);
    if req.stream {
        if let Some(delay) = hits.slow_first_token {
            ttft = ttft.max(delay);
        }
    }
    let after_tokens = break_point(
        output_tokens,
        profile.stream_chunk_tokens,
        hits.after_tokens,
        draws.stream_at,
    );
    let shape = match (hits.malformed, req.stream) {
        (Some(m), _) => Shape::Malformed(m),
        (None, false) => Shape::Complete,
        (None, true) if hits.cut => Shape::Cut { after_tokens },
        (None, true) if hits.error_event => Shape::ErrorEvent {
            after_tokens,
            fault: hits.stream_fault,
        },
        (None, true) => match hits.stall {
            Some(pause) => Shape::Stall {
                after_tokens,
                pause,
            },
            None => Shape::Complete,
        },
    };
    Plan {
        ttft,
        tokens_per_s,
        output_tokens,
        shape,
        fake_stream: req.stream && hits.fake_stream,
    }
}

/// Content tokens sent before a stream fault strikes, from the uniform
/// draw `u`: with `after_tokens = (lo, hi)` each count in `lo..=hi` equally
/// likely, clamped to the answer's `output_tokens`; without, after a random
/// whole chunk ([`strike_point`]), as before `after_tokens` existed.
pub fn break_point(
    output_tokens: u32,
    chunk_tokens: u32,
    after: Option<(u32, u32)>,
    u: f64,
) -> u32 {
    match after {
        Some((min, max)) => sample::count(&CountDist::Uniform { min, max }, u).min(output_tokens),
        None => {
            let c = chunk_tokens.max(1);
            strike_point(output_tokens.div_ceil(c), u)
                .saturating_mul(c)
                .min(output_tokens)
        }
    }
}

/// No plan waits longer than this (about 100 years): longer is a hang in all
/// but name, and every `Instant + wait` the server makes stays representable.
pub const LONGEST: Duration = Duration::from_secs(100 * 365 * 86_400);
/// The largest combined latency factor of overlapping spikes.
const MAX_FACTOR: f64 = 1e9;

/// `secs` as a duration in `[0, LONGEST]`; NaN counts as 0, infinity as
/// `LONGEST`. `Duration::from_secs_f64` would panic on either.
fn capped_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs)
        .unwrap_or(LONGEST)
        .min(LONGEST)
}

/// Where a stream fault strikes among `chunks` chunks: after at least one and
/// before the last when there are two or more, so both sides are visible.
pub fn strike_point(chunks: u32, u: f64) -> u32 {
    if chunks <= 1 {
        return 0;
    }
    let inner = f64::from(chunks - 1);
    (1 + (u.clamp(0.0, 1.0) * inner).floor() as u32).min(chunks - 1)
}

/// A provider's model: its profile and faults, seeded generator and bucket.
#[derive(Debug, Clone)]
pub struct FaultModel {
    profile: ProviderProfile,
    faults: Vec<Fault>,
    /// Each of `faults`' index in `Scenario::faults`.
    ids: Vec<u16>,
    rng: ChaCha8Rng,
    limiter: Limiter,
}

impl FaultModel {
    /// The model of `scenario.providers[index]`, with the faults that target it.
    pub fn new(scenario: &Scenario, index: usize) -> Self {
        let (ids, faults) = scenario
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.providers.contains(&index))
            .map(|(i, f)| (u16::try_from(i).unwrap_or(u16::MAX), f.clone()))
            .unzip();
        FaultModel {
            profile: scenario.providers[index].profile.clone(),
            faults,
            ids,
            rng: provider_rng(scenario.seed, index),
            limiter: Limiter::default(),
        }
    }

    /// Decides one request. `t` is the time since t=0 (`None` before the run:
    /// no fault is active); `now` is any monotonic time, for the buckets.
    /// With the decision comes the buckets' state when the limit sends
    /// `x-ratelimit-*` headers.
    pub fn decide(
        &mut self,
        t: Option<Duration>,
        now: Duration,
        req: RequestInfo,
    ) -> (Decision, Option<LimitState>) {
        let draws = Draws::take(&mut self.rng);
        let hits = Hits::draw(&self.faults, &self.ids, t, &mut self.rng);
        let limit = effective_limit(self.profile.rate_limit, &self.faults, t);
        let (admitted, state) =
            self.limiter
                .admit(now, limit, token_need(&self.profile, &draws, req));
        let decision = decide(&self.profile, &hits, &draws, req, admitted.err());
        (decision, state)
    }

    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

/// What a request counts against a `tpm` limit: its prompt and its
/// `max_tokens`, or the output it will get when it asks no limit.
pub fn token_need(profile: &ProviderProfile, draws: &Draws, req: RequestInfo) -> u32 {
    let output = req
        .max_tokens
        .unwrap_or_else(|| sample::output_tokens(&profile.output_tokens, draws.tokens, None));
    req.input_tokens.saturating_add(output)
}

/// The generator of provider `index`: ChaCha8 keyed by the scenario seed mixed
/// with a constant (so it does not coincide with other components seeded from
/// the same seed), on stream `index`.
pub fn provider_rng(seed: u64, index: usize) -> ChaCha8Rng {
    const PROVIDERS: u64 = u64::from_be_bytes(*b"provider");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ PROVIDERS);
    rng.set_stream(index as u64);
    rng
}

#[cfg(test)]
#[path = "fault_tests.rs"]
mod tests;
