//! Faults on the run's timeline and the errors providers answer with:
//! the validated form of `[[faults]]` and of a profile's `dialect`.

use std::time::Duration;

/// Whose error bodies a provider sends. The success path is always OpenAI
/// chat completions (what gateways call an OpenAI-compatible upstream with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `{"error": {"message", "type", "param", "code"}}`.
    #[default]
    OpenAi,
    /// `{"type": "error", "error": {"type": "overloaded_error", "message"}}`.
    Anthropic,
    /// `{"object": "error", "message", "type", "param", "code": <status>}`.
    Vllm,
}

impl Dialect {
    /// The `error.type` this dialect sends for `status` (and `code`) when
    /// the scenario does not name one.
    pub fn default_type(self, status: u16, code: Option<&str>) -> &'static str {
        match self {
            Dialect::OpenAi => match status {
                429 if code == Some("insufficient_quota") => "insufficient_quota",
                429 => "rate_limit_exceeded",
                400..=499 => "invalid_request_error",
                _ => "server_error",
            },
            Dialect::Anthropic => match status {
                401 => "authentication_error",
                402 => "billing_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                504 => "timeout_error",
                529 => "overloaded_error",
                400..=499 => "invalid_request_error",
                _ => "api_error",
            },
            Dialect::Vllm => match status {
                404 => "NotFoundError",
                429 => "TooManyRequestsError",
                400..=499 => "BadRequestError",
                503 => "ServiceUnavailableError",
                _ => "InternalServerError",
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Vllm => "vllm",
        }
    }
}

/// A fault on the run's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Indices into `Scenario::providers` this fault hits (non-empty).
    pub providers: Vec<usize>,
    /// As written, for reports: `provider flash` or `region us-east`.
    pub target_label: String,
    /// From t=0 (start of the first stage).
    pub start: Duration,
    /// `None`: until the end of the run.
    pub duration: Option<Duration>,
    /// Share of requests it hits, 0..=1.
    pub probability: f64,
    pub kind: FaultKind,
    /// The error answer it sends, when it sends one (an outage as 5xx, an
    /// error burst, a stream error event, a flapping provider as 5xx).
    pub error: ErrorSpec,
    /// Where a stream breaks (stream_cut, stream_error, stream_stall):
    /// after this many content tokens, drawn uniformly from the range;
    /// `None`: a random point inside the stream.
    pub after_tokens: Option<(u32, u32)>,
}

/// How an error answer reads. Unset parts follow the dialect's defaults
/// for the status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorSpec {
    /// `error.code`, e.g. `context_length_exceeded`, `insufficient_quota`.
    pub code: Option<String>,
    /// `error.type`, e.g. `invalid_request_error`, `overloaded_error`.
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub retry_after: RetryAfterSpec,
    /// `None`: the provider profile's dialect.
    pub dialect: Option<Dialect>,
    /// `retryable = false` / `true`; `None`: from the status and code
    /// ([`is_retryable`]).
    pub retryable: Option<bool>,
}

impl ErrorSpec {
    /// Whether a correct client may retry (or fail over) after this error
    /// with `status`.
    pub fn retryable(&self, status: u16) -> bool {
        self.retryable
            .unwrap_or_else(|| is_retryable(status, self.code.as_deref()))
    }
}

/// Whether an error with `status` and `error.code` may be retried: 408,
/// 409, 429 (but not a spent quota) and 5xx may; every other 4xx is about
/// the request itself and will fail the same way again.
pub fn is_retryable(status: u16, code: Option<&str>) -> bool {
    match status {
        429 => code != Some("insufficient_quota"),
        408 | 409 => true,
        400..=499 => false,
        _ => true,
    }
}

/// `retry_after = ...` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfterSpec {
    /// Not set: 1 s on a 429 ([`RetryAfter::DEFAULT_429`]), none otherwise.
    #[default]
    Default,
    /// `retry_after = "none"`: no Retry-After header at all.
    Absent,
    After(RetryAfter),
}

impl RetryAfterSpec {
    /// The Retry-After an error with `status` carries.
    pub fn resolve(self, status: u16) -> Option<RetryAfter> {
        match self {
            RetryAfterSpec::Default => (status == 429).then_some(RetryAfter::DEFAULT_429),
            RetryAfterSpec::Absent => None,
            RetryAfterSpec::After(r) => Some(r),
        }
    }
}

/// A Retry-After the provider sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    pub wait: Duration,
    /// `retry_after_as = "date"`: an HTTP date (now + wait) instead of
    /// seconds; no `retry-after-ms` then.
    pub as_date: bool,
}

impl RetryAfter {
    /// What a 429 sends when the scenario does not say: 1 s.
    pub const DEFAULT_429: RetryAfter = RetryAfter {
        wait: Duration::from_secs(1),
        as_date: false,
    };
}

impl Fault {
    /// Whether the fault is active at `t` since t=0.
    pub fn active_at(&self, t: Duration) -> bool {
        // `Option::is_none_or` would need Rust 1.82; the crate's MSRV is 1.80.
        t >= self.start && self.end().is_none_or(|end| t < end)
    }

    /// End of the window, if it has one.
    pub fn end(&self) -> Option<Duration> {
        self.duration.map(|d| self.start.saturating_add(d))
    }

    /// Whether the fault acts at `t`: active, and for a flapping provider
    /// in a down part of its period.
    pub fn acting_at(&self, t: Duration) -> bool {
        self.active_at(t) && self.flap_phase(t).is_none_or(|(_, down)| down)
    }

    /// A flapping fault's phase at `t` (from its start): the period's
    /// number and whether it is in the down part. `None` for other kinds
    /// or before the start.
    pub fn flap_phase(&self, t: Duration) -> Option<(u64, bool)> {
        let FaultKind::Flapping { period, duty, .. } = self.kind else {
            return None;
        };
        let since = t.checked_sub(self.start)?;
        let period_us = period.as_micros().max(1);
        let n = since.as_micros() / period_us;
        let into = (since.as_micros() % period_us) as f64;
        Some((n as u64, into < duty * period_us as f64))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Every hit request is answered with `status`.
    OutageHttp {
        status: u16,
    },
    /// The port stops accepting connections (refused).
    OutageRefuse,
    /// Connections are reset (TCP RST) when a hit request arrives.
    OutageReset,
    /// Requests are accepted and never answered.
    OutageHang,
    /// Hit requests get `status` (5xx or 429).
    ErrorBurst {
        status: u16,
    },
    /// Down and up in turn: each `period` starts with `duty × period` down
    /// (acting as `down`), then it is up for the rest.
    Flapping {
        period: Duration,
        duty: f64,
        down: FlapAs,
    },
    /// A streaming answer's tokens all arrive at the end, at once (time to
    /// first token ≈ total time).
    FakeStream,
    /// Time to first token and inter-token gaps multiplied by `multiplier`,
    /// then `add` added to the first token.
    LatencySpike {
        multiplier: f64,
        add: Duration,
    },
    /// The provider's rate limit becomes `rpm` while active.
    RateLimitSqueeze {
        rpm: f64,
    },
    Malformed(Malformation),
    /// The stream stops after some chunks and resumes after `pause`.
    StreamStall {
        pause: Duration,
    },
    /// The stream is cut after some chunks, without `[DONE]`.
    StreamCut,
    /// An error event arrives mid-stream.
    StreamErrorEvent,
    /// The first token takes `delay` (streaming requests only).
    SlowFirstToken {
        delay: Duration,
    },
}

/// What a flapping provider does while down: any outage kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlapAs {
    Http { status: u16 },
    Refuse,
    Reset,
    Hang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformation {
    InvalidJson,
    NoChoices,
    WrongContentType,
}
