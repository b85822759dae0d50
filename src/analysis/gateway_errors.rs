//! Errors the gateway made itself: requests that failed with no provider
//! attempt in the ledger (`gateway_error`s), by HTTP status and the start of
//! the gateway's message, e.g. LiteLLM's 429 "No deployments available".
//! Provider errors the gateway passed through are counted apart
//! (`failover.provider_errors_passed_through`).

use serde::{Deserialize, Serialize};

use super::failover::GatewayErrorCount;
use crate::metrics::messages::ErrorMessages;
use crate::metrics::Outcome;

/// `requests.gateway_errors` in summary.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayErrors {
    /// Failed requests that no provider received.
    pub count: u64,
    /// By status and message, most frequent first.
    pub by_message: Vec<GatewayErrorMessage>,
}

/// One status and message the gateway answered with, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayErrorMessage {
    /// The HTTP status; `null` when no HTTP answer came (the message then
    /// says what happened: a refused connection, a timeout).
    pub status: Option<u16>,
    /// The start of the message (at most 120 characters, one line).
    pub message: String,
    pub count: u64,
}

impl GatewayErrors {
    /// Names the failover analysis's counts with the recorder's messages.
    pub fn new(counts: &[GatewayErrorCount], messages: &ErrorMessages) -> Self {
        let mut by_message: Vec<GatewayErrorMessage> = Vec::new();
        for c in counts {
            let (status, message) = match messages.get(c.message) {
                // Its status is nobody's: shown without one.
                Some(m) if m.is_overflow() => (None, m.message.clone()),
                Some(m) if m.message.is_empty() => (Some(m.status), "(no message)".to_string()),
                Some(m) => (Some(m.status), m.message.clone()),
                None => (None, without_status(c.outcome)),
            };
            match by_message
                .iter_mut()
                .find(|g| g.status == status && g.message == message)
            {
                Some(g) => g.count += c.count,
                None => by_message.push(GatewayErrorMessage {
                    status,
                    message,
                    count: c.count,
                }),
            }
        }
        by_message.sort_by_key(|g| std::cmp::Reverse(g.count));
        GatewayErrors {
            count: counts.iter().map(|c| c.count).sum(),
            by_message,
        }
    }

    /// `429 "No deployments available …" ×12` per message, for reports.
    pub fn lines(&self) -> Vec<String> {
        self.by_message
            .iter()
            .map(|g| match g.status {
                Some(s) => format!("{s} \"{}\" ×{}", g.message, g.count),
                None => format!("{} ×{}", g.message, g.count),
            })
            .collect()
    }
}

/// What a failure without an error status was, in words.
fn without_status(outcome: Outcome) -> String {
    match outcome {
        Outcome::Refused | Outcome::Reset | Outcome::Timeout => {
            format!("no HTTP answer ({})", outcome.name())
        }
        o => format!("an answer without an error status ({})", o.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_named_by_status_and_message_most_frequent_first() {
        let mut messages = ErrorMessages::default();
        let none = messages.intern(429, "No deployments available");
        let empty = messages.intern(502, "");
        let c = |message, outcome, count| GatewayErrorCount {
            message,
            outcome,
            count,
        };
        let g = GatewayErrors::new(
            &[
                c(empty, Outcome::Http5xx, 1),
                c(none, Outcome::Http429, 7),
                c(ErrorMessages::NONE, Outcome::Refused, 2),
                c(ErrorMessages::NONE, Outcome::Malformed, 1),
            ],
            &messages,
        );
        assert_eq!(g.count, 11);
        assert_eq!(
            g.lines(),
            [
                "429 \"No deployments available\" ×7",
                "no HTTP answer (refused) ×2",
                "502 \"(no message)\" ×1",
                "an answer without an error status (malformed) ×1"
            ]
        );
        assert_eq!(g.by_message[0].status, Some(429));
        assert_eq!(g.by_message[1].status, None);
    }
}
