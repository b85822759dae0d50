//! What one request yielded, as the load generator hands it to the
//! recorder: its identity, outcome and measurements, and the gateway's own
//! account of it. The recorder's input type lives here, beside the
//! recorder, so that `metrics/` needs nothing from `load/` (which fills it
//! in).

use std::time::Duration;

use super::Outcome;

/// What the client measured for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestResult {
    pub seq: u64,
    pub class: usize,
    /// Intended send instant since t=0.
    pub intended: Duration,
    /// How late the request actually left.
    pub lag: Duration,
    pub outcome: Outcome,
    pub m: Measured,
}

impl RequestResult {
    /// A result for a request that never got an answer (dropped, cut off).
    pub fn unanswered(
        seq: u64,
        class: usize,
        intended: Duration,
        outcome: Outcome,
        latency: Duration,
    ) -> Self {
        RequestResult {
            seq,
            class,
            intended,
            lag: Duration::ZERO,
            outcome,
            m: Measured {
                latency,
                ..Measured::default()
            },
        }
    }
}

/// The measurements of one request, apart from its identity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub status: u16,
    /// From the intended send instant to the end of the answer.
    pub latency: Duration,
    /// From the actual send to the end of the answer.
    pub service: Duration,
    /// How long the request waited inside slabench for a connection before
    /// it left (a connect slot or an idle connection; `load::conn`): part
    /// of the schedule lag, never of the gateway's latency budget.
    pub queued: Duration,
    /// Streaming: from the intended send to the first content token.
    pub ttft: Option<Duration>,
    /// Streaming: mean time per output token after the first.
    pub tpot: Option<Duration>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The provider that served it, when the answer says so.
    pub served_by: Option<String>,
    /// What the gateway says it did, when its headers say so.
    pub account: Option<Account>,
    /// An HTTP error answer's message, its start on one line
    /// (`load::client::error_message`); `None` for successes and for
    /// failures without an HTTP answer.
    pub error_message: Option<String>,
    /// That answer's error type (`load::client::error_type`), if it had one.
    pub error_type: Option<String>,
    /// What the check of the answer's content found, when it was checked
    /// (simulated providers, a 2xx answer that came to an end).
    pub checked: Option<Checked>,
}

/// The client's check of one answer's content (`crate::answer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Words (tokens) received that belong to the answer.
    pub tokens: u32,
    /// The provider whose sequence the content is, when exactly one's is.
    pub provider: Option<u16>,
}

/// Which gateway's headers an account came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dialect {
    Builtin,
    LiteLlm,
    Portkey,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Builtin, Dialect::LiteLlm, Dialect::Portkey];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Builtin => "builtin",
            Dialect::LiteLlm => "litellm",
            Dialect::Portkey => "portkey",
        }
    }

    /// Bit for a set of dialects in one byte.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What the gateway said about one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub dialect: Option<Dialect>,
    /// Attempts that reached a provider, when the gateway lists them all
    /// (built-in gateway: its `connect` failures are left out, since no
    /// provider, and so no ledger, saw them; they still count as hops in
    /// `fallbacks` and `retries`).
    pub attempts: Option<u32>,
    /// Moves to another provider, deployment or target.
    pub fallbacks: Option<u32>,
    /// Further attempts on the same one (for LiteLLM and Portkey: on the one
    /// that answered only).
    pub retries: Option<u32>,
    /// The deployment the gateway says answered (LiteLLM's model id, the
    /// built-in gateway's served-by), as the gateway names it.
    pub served_by: Option<String>,
}

impl Account {
    /// The fewest attempts the account implies: the exact count when the
    /// gateway gives one, else one per fallback hop plus the retries.
    pub fn min_attempts(&self) -> Option<u32> {
        self.attempts.or_else(|| {
            (self.fallbacks.is_some() || self.retries.is_some())
                .then(|| 1 + self.fallbacks.unwrap_or(0) + self.retries.unwrap_or(0))
        })
    }
}
