//! Cost: the ledger's tokens × each provider's prices, per provider (as the
//! join bills attempts), per traffic class, and what failover added.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::events::Class;
use super::facts::Fact;
use super::providers::ProviderStats;

/// cost_usd in summary.json: provider prices × the tokens in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub total: f64,
    pub per_1k_requests: f64,
    pub by_provider: BTreeMap<String, f64>,
    pub by_class: BTreeMap<String, f64>,
    /// What the failover events cost beyond serving the same answers at
    /// each request's first provider.
    pub failover_added: f64,
}

/// USD for `input` and `output` tokens at `provider`'s prices (USD per
/// million); 0 for a provider without prices.
pub(super) fn price(prices: &[(f64, f64)], provider: u16, input: u32, output: u32) -> f64 {
    prices.get(provider as usize).map_or(0.0, |(pi, po)| {
        (f64::from(input) * pi + f64::from(output) * po) / 1e6
    })
}

/// Accumulates cost request by request (per-provider cost comes from
/// `ProviderStats`, billed attempt by attempt during the join).
pub(super) struct CostTally<'a> {
    prices: &'a [(f64, f64)],
    by_class: Vec<f64>,
    failover_added: f64,
}

impl<'a> CostTally<'a> {
    pub fn new(prices: &'a [(f64, f64)], classes: usize) -> Self {
        CostTally {
            prices,
            by_class: vec![0.0; classes],
            failover_added: 0.0,
        }
    }

    pub fn request(&mut self, f: &Fact, class: Class) {
        let j = &f.joined;
        if let Some(c) = self.by_class.get_mut(f.rec.class as usize) {
            *c += j.cost;
        }
        if let Class::Event(_) = class {
            // Against serving the same answer at the first provider in one
            // attempt (nothing, for a request that was never answered).
            let (tin, tout) = j.served_tokens;
            self.failover_added += j.cost - price(self.prices, j.first_provider, tin, tout);
        }
    }

    /// The cost of a run that sent `sent` requests.
    pub fn finish(
        self,
        providers: &[String],
        stats: &[ProviderStats],
        classes: &[String],
        sent: u64,
    ) -> Cost {
        let total: f64 = stats.iter().map(|p| p.cost_usd).sum();
        Cost {
            total,
            per_1k_requests: if sent > 0 {
                total / sent as f64 * 1000.0
            } else {
                0.0
            },
            by_provider: providers
                .iter()
                .cloned()
                .zip(stats.iter().map(|p| p.cost_usd))
                .collect(),
            by_class: classes.iter().cloned().zip(self.by_class).collect(),
            failover_added: self.failover_added,
        }
    }
}
