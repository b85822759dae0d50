//! Refused connections in the account comparison, in total.
//!
//! An attempt a provider refused never reaches the ledger, so a gateway can
//! rightly claim attempts (or fallbacks) that no provider received while a
//! provider refuses connections. Which request such an attempt belonged to
//! cannot be known: a gateway's hops also count deployments it skipped
//! without trying them (LiteLLM, past one in cooldown). So nothing is
//! attributed to a request. The requests whose account claims attempts no
//! provider saw while a `refuse` window was open are set aside, and judged
//! together against the connections the run saw refused in those windows
//! (`Connections::Seen`): when the refused connections cover the attempts
//! they claim, they are explained; otherwise, or when refused connections
//! could not be observed, they stay disagreements, and the report says why.

use serde::{Deserialize, Serialize};

/// What the run could see of refused connections.
#[derive(Debug, Clone, PartialEq)]
pub enum RefusedSeen {
    /// Connection attempts refused inside `refuse` windows, over all providers.
    Seen(u64),
    /// Not watched, and why.
    NotObservable(String),
}

/// `failover.gateway_account.refusals` in summary.json: the requests in
/// flight during a `refuse` window whose account claims attempts that no
/// provider received, held against the refused connections in total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalAccount {
    /// Whether connection attempts to the providers were watched.
    pub observable: bool,
    /// Why they were not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not_observable: Option<String>,
    /// Connections refused inside `refuse` windows; `null` when not observable.
    pub refused_connections: Option<u64>,
    /// Requests whose account claims attempts no provider received while a
    /// provider refused connections.
    pub requests: u64,
    /// The attempts they claim beyond what the ledger shows.
    pub attempts_claimed: u64,
    /// Whether the refused connections cover those attempts (then the
    /// requests are `explained_by_refused_connections`, not disagreements).
    pub explained: bool,
    /// The above in words.
    pub explanation: String,
}

impl RefusalAccount {
    /// Judges `requests` claiming `attempts_claimed` unseen attempts against
    /// what was seen of refused connections.
    pub fn judge(requests: u64, attempts_claimed: u64, seen: &RefusedSeen) -> Self {
        let (observable, why, refused) = match seen {
            RefusedSeen::Seen(n) => (true, None, Some(*n)),
            RefusedSeen::NotObservable(why) => (false, Some(why.clone()), None),
        };
        let explained = requests > 0 && refused.is_some_and(|r| attempts_claimed <= r);
        let claim = format!(
            "{requests} request(s) claim {attempts_claimed} attempt(s) that no provider received while a provider refused connections"
        );
        let explanation = match (requests, refused, &why) {
            (0, Some(r), _) => format!("no request claims an attempt that no provider received while a provider refused connections ({r} connection(s) refused)"),
            (0, None, Some(why)) => format!("refused connections were not observable ({why}); no request claims an attempt that no provider received while a provider refused them"),
            (_, Some(r), _) if explained => format!("{claim}; {r} connection(s) were refused in those windows, enough for all of them (judged in total, not per request)"),
            (_, Some(r), _) => format!("{claim}, but only {r} connection(s) were refused in those windows: they count as disagreements"),
            (_, None, why) => format!("{claim}; refused connections were not observable ({}), so none is attributed to a refusal and they count as disagreements", why.as_deref().unwrap_or("not watched")),
        };
        RefusalAccount {
            observable,
            why_not_observable: why,
            refused_connections: refused,
            requests,
            attempts_claimed,
            explained,
            explanation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explained_in_total_only_when_the_refused_connections_cover_the_claim() {
        let a = RefusalAccount::judge(4, 6, &RefusedSeen::Seen(6));
        assert!(a.observable && a.explained);
        assert_eq!(a.refused_connections, Some(6));
        assert!(
            a.explanation.contains("enough for all of them"),
            "{}",
            a.explanation
        );
        // 18 requests claim 18 attempts; 6 connections were refused: not explained.
        let a = RefusalAccount::judge(18, 18, &RefusedSeen::Seen(6));
        assert!(!a.explained);
        assert!(
            a.explanation.contains("only 6 connection(s)"),
            "{}",
            a.explanation
        );
        let a = RefusalAccount::judge(0, 0, &RefusedSeen::Seen(3));
        assert!(!a.explained);
        assert!(a.explanation.starts_with("no request"), "{}", a.explanation);
    }

    #[test]
    fn not_observable_attributes_nothing_and_says_why() {
        let why = RefusedSeen::NotObservable("no CAP_NET_RAW".into());
        let a = RefusalAccount::judge(5, 7, &why);
        assert!(!a.observable && !a.explained);
        assert_eq!(a.refused_connections, None);
        assert_eq!(a.why_not_observable.as_deref(), Some("no CAP_NET_RAW"));
        assert!(
            a.explanation.contains("not observable (no CAP_NET_RAW)")
                && a.explanation.contains("none is attributed"),
            "{}",
            a.explanation
        );
    }
}
