//! Outcome classes: what the client saw of one request.
//!
//! Request errors are measurements, never a reason to stop the run: every
//! request ends in exactly one of these classes and is counted.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx with a well-formed answer (and, for streams, `[DONE]`).
    Ok,
    /// 4xx other than 429.
    #[serde(rename = "4xx")]
    Http4xx,
    #[serde(rename = "429")]
    Http429,
    #[serde(rename = "5xx")]
    Http5xx,
    /// The per-request timeout ran out.
    Timeout,
    /// The connection was refused.
    Refused,
    /// The connection was reset or closed before a complete answer.
    Reset,
    /// 2xx whose body is not a valid answer.
    Malformed,
    /// A stream that broke mid-way or ended without `[DONE]`.
    TruncatedStream,
    /// A 2xx that ended as complete (`[DONE]`, or a whole JSON body) but
    /// whose content stops short of the provider's last word: a gateway
    /// that healed a cut stream, or cut an answer itself.
    TruncatedAnswer,
    /// A 2xx whose content is not what any provider would have sent for
    /// this request: another request's answer, or rewritten text.
    WrongAnswer,
    /// Not sent: the in-flight cap was reached.
    Dropped,
    /// Still in flight when the run ended: reported, not counted.
    CutOff,
}

impl Outcome {
    pub const ALL: [Outcome; 13] = [
        Outcome::Ok,
        Outcome::Http4xx,
        Outcome::Http429,
        Outcome::Http5xx,
        Outcome::Timeout,
        Outcome::Refused,
        Outcome::Reset,
        Outcome::Malformed,
        Outcome::TruncatedStream,
        Outcome::TruncatedAnswer,
        Outcome::WrongAnswer,
        Outcome::Dropped,
        Outcome::CutOff,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable name used in summary.json and the CSV files.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Http4xx => "4xx",
            Outcome::Http429 => "429",
            Outcome::Http5xx => "5xx",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
            Outcome::Reset => "reset",
            Outcome::Malformed => "malformed",
            Outcome::TruncatedStream => "truncated_stream",
            Outcome::TruncatedAnswer => "truncated_answer",
            Outcome::WrongAnswer => "wrong_answer",
            Outcome::Dropped => "dropped",
            Outcome::CutOff => "cut_off",
        }
    }

    /// Whether the request counts towards uptime (cut-off requests do not).
    /// Dropped sends do count: the user asked for them and got nothing.
    pub fn counted(self) -> bool {
        self != Outcome::CutOff
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// The class of an HTTP status that is not a success.
    pub fn from_status(status: u16) -> Outcome {
        match status {
            429 => Outcome::Http429,
            400..=499 => Outcome::Http4xx,
            _ => Outcome::Http5xx,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_unique() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
            assert_eq!(serde_json::to_value(o).unwrap(), o.name());
        }
        // The answer checks' classes are failures that count against uptime.
        for o in [Outcome::TruncatedAnswer, Outcome::WrongAnswer] {
            assert!(o.counted() && !o.is_ok(), "{o}");
        }
        assert_eq!(Outcome::from_status(429), Outcome::Http429);
        assert_eq!(Outcome::from_status(404), Outcome::Http4xx);
        assert_eq!(Outcome::from_status(503), Outcome::Http5xx);
    }
}
