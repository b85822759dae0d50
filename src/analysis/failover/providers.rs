//! Per provider: what it received (attempts, failures, tokens, cost, by
//! the ledger) and what it was given and did (first attempts and answers
//! served, by request).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::facts::Fact;
use crate::providers::ledger::{Attempt, AttemptOutcome};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub attempts: u64,
    pub first_attempts: u64,
    pub failed_attempts: u64,
    pub served: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Connections it refused inside its `refuse` windows (attempts the
    /// ledger cannot show); `null` when refused connections were not
    /// observable.
    #[serde(default)]
    pub refused_connections: Option<u64>,
}

/// `ProviderStats` per provider index, and how often the client and the
/// ledger named different servers.
pub(super) struct ProviderTally {
    stats: Vec<ProviderStats>,
    served_by_disagreements: u64,
}

impl ProviderTally {
    pub fn new(providers: usize) -> Self {
        ProviderTally {
            stats: vec![ProviderStats::default(); providers],
            served_by_disagreements: 0,
        }
    }

    /// An attempt from the ledger, and its price.
    pub fn attempt(&mut self, a: &Attempt, cost: f64) {
        // An index beyond the scenario's providers is not counted per provider.
        if let Some(p) = self.stats.get_mut(a.provider as usize) {
            p.cost_usd += cost;
            p.attempts += 1;
            p.failed_attempts += u64::from(a.outcome != AttemptOutcome::Ok);
            p.input_tokens += u64::from(a.input_tokens);
            p.output_tokens += u64::from(a.output_tokens);
        }
    }

    /// A sent request: its first attempt, and who served it.
    pub fn request(&mut self, f: &Fact) {
        if !f.attempted() {
            return;
        }
        if let Some(p) = self.stats.get_mut(f.joined.first_provider as usize) {
            p.first_attempts += 1;
        }
        if f.rec.outcome.is_ok() {
            self.served_by_disagreements += u64::from(f.served_by_disagrees());
            if let Some(p) = self.stats.get_mut(f.served as usize) {
                p.served += 1;
            }
        }
    }

    /// The connections each provider refused, when they were watched.
    pub fn refused(&mut self, refused: Option<&[u64]>) {
        for (i, p) in self.stats.iter_mut().enumerate() {
            p.refused_connections = refused.map(|r| r.get(i).copied().unwrap_or(0));
        }
    }

    pub fn stats(&self) -> &[ProviderStats] {
        &self.stats
    }

    /// The stats by provider name, and the served-by disagreements.
    pub fn finish(self, names: &[String]) -> (BTreeMap<String, ProviderStats>, u64) {
        let by_name = names.iter().cloned().zip(self.stats).collect();
        (by_name, self.served_by_disagreements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::failover::join::Joined;
    use crate::metrics::recorder::{AccountRecord, ClientRecord};
    use crate::metrics::Outcome;

    #[test]
    fn first_attempts_and_answers_go_to_their_providers() {
        let mut t = ProviderTally::new(2);
        let failed = Attempt {
            tag: Some(0),
            provider: 0,
            arrived_us: 0,
            answered_us: 0,
            outcome: AttemptOutcome::HttpError,
            status: 503,
            input_tokens: 7,
            output_tokens: 0,
            stream: false,
            first_byte_us: None,
            retry_after_ms: None,
            fault: None,
        };
        t.attempt(&failed, 0.5);
        t.attempt(
            &Attempt {
                provider: 9,
                ..failed
            },
            1.0,
        );
        // Failed over from 0 to 1; the answer claims 0.
        let rec = ClientRecord {
            intended_ms: 0,
            latency_us: 0,
            served_by: 0,
            message: crate::metrics::messages::ErrorMessages::NONE,
            class: 0,
            outcome: Outcome::Ok,
            account: AccountRecord::EMPTY,
        };
        let joined = Joined {
            first_provider: 0,
            attempts: 2,
            ..Joined::EMPTY
        };
        let fact = Fact {
            seq: 0,
            rec: &rec,
            ledger: joined.view(),
            joined,
            served: 1,
        };
        t.request(&fact);
        let names = ["flash".to_string(), "qwen".into()];
        let (stats, disagreements) = t.finish(&names);
        assert_eq!(
            stats["flash"],
            ProviderStats {
                attempts: 1,
                first_attempts: 1,
                failed_attempts: 1,
                served: 0,
                input_tokens: 7,
                output_tokens: 0,
                cost_usd: 0.5,
                refused_connections: None,
            }
        );
        assert_eq!((stats["qwen"].served, stats["qwen"].attempts), (1, 0));
        assert_eq!(disagreements, 1);
    }
}
