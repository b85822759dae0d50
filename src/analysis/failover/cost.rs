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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::failover::events::EventKind;
    use crate::analysis::failover::join::Joined;
    use crate::metrics::recorder::{AccountRecord, ClientRecord};
    use crate::metrics::Outcome;

    const PRICES: [(f64, f64); 2] = [(1.0, 2.0), (10.0, 20.0)];

    #[test]
    fn prices_are_per_million_tokens() {
        assert_eq!(price(&PRICES, 1, 1000, 500), (10_000.0 + 10_000.0) / 1e6);
        assert_eq!(price(&PRICES, 2, 1000, 500), 0.0);
    }

    #[test]
    fn failover_adds_what_the_first_provider_would_not_have_cost() {
        let mut tally = CostTally::new(&PRICES, 2);
        let rec = ClientRecord {
            intended_ms: 0,
            latency_us: 0,
            served_by: 1,
            message: crate::metrics::messages::ErrorMessages::NONE,
            class: 1,
            outcome: Outcome::Ok,
            account: AccountRecord::EMPTY,
        };
        // A failed attempt at provider 0 (100 in), then 100 in, 50 out at 1.
        let joined = Joined {
            first_provider: 0,
            attempts: 2,
            served_by: 1,
            cost: price(&PRICES, 0, 100, 0) + price(&PRICES, 1, 100, 50),
            served_tokens: (100, 50),
            ..Joined::EMPTY
        };
        let fact = Fact {
            seq: 0,
            rec: &rec,
            ledger: joined.view(),
            joined,
            served: 1,
        };
        tally.request(&fact, Class::Event(EventKind::Failover));
        tally.request(&fact, Class::Normal);
        let stats = [
            ProviderStats {
                cost_usd: 0.25,
                ..Default::default()
            },
            ProviderStats {
                cost_usd: 0.75,
                ..Default::default()
            },
        ];
        let names = ["flash".to_string(), "qwen".into()];
        let classes = ["chat".to_string(), "batch".into()];
        let c = tally.finish(&names, &stats, &classes, 4);
        assert_eq!((c.total, c.per_1k_requests), (1.0, 250.0));
        assert_eq!(c.by_provider["qwen"], 0.75);
        assert_eq!(
            (c.by_class["chat"], c.by_class["batch"]),
            (0.0, 2.0 * joined.cost)
        );
        // Paid: 100 (the failure) + 1000 + 1000; at the first provider alone: 100 + 100.
        assert!((c.failover_added - 1900.0 / 1e6).abs() < 1e-15);
    }
}
