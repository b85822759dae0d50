//! The ledger: the providers' record of every attempt they received.
//!
//! CONTRACT (shared with analysis): one compact [`Attempt`] per request a
//! provider received, tagged or not. Records are appended from many server
//! tasks and must not make memory grow with the length of the run.

/// What a provider received and did with it. Times are microseconds since t=0
/// of the run clock (negative before t=0, e.g. the preflight request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The request number from the tag, if one arrived.
    pub tag: Option<u64>,
    /// Index of the provider in `Scenario::providers`.
    pub provider: u16,
    pub arrived_us: i64,
    /// When the provider finished answering, or gave up on the connection.
    pub answered_us: i64,
    /// What the provider injected / did.
    pub outcome: AttemptOutcome,
    /// HTTP status sent (0 when none was sent: reset, hang, client gone).
    pub status: u16,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub stream: bool,
}

/// What the provider did with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AttemptOutcome {
    /// A complete, well-formed answer.
    Ok = 0,
    /// An HTTP error status from a fault or the base error rate (not 429).
    HttpError = 1,
    /// 429 from the rate limit or a fault.
    RateLimited = 2,
    /// Connection reset.
    Reset = 3,
    /// Accepted and never answered (the client or gateway gave up).
    Hang = 4,
    /// A malformed answer (invalid JSON, no choices, wrong content type).
    Malformed = 5,
    /// A stream cut without `[DONE]`.
    StreamCut = 6,
    /// An error event mid-stream.
    StreamError = 7,
    /// The peer went away before the answer was complete.
    ClientGone = 8,
    /// The request itself was bad (400).
    BadRequest = 9,
}
