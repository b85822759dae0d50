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

    pub fn stats(&self) -> &[ProviderStats] {
        &self.stats
    }

    /// The stats by provider name, and the served-by disagreements.
    pub fn finish(self, names: &[String]) -> (BTreeMap<String, ProviderStats>, u64) {
        let by_name = names.iter().cloned().zip(self.stats).collect();
        (by_name, self.served_by_disagreements)
    }
}
