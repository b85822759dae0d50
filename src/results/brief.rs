//! The scenario in brief, as summary.json carries it: enough for the reports
//! to describe the run (classes, budgets, providers, faults) when they are
//! rebuilt from a run directory, without the scenario file.

use std::time::{Duration, SystemTime};

use super::summary::{BudgetsMs, FaultInfo, ProviderInfo, ScenarioInfo, TrafficInfo};
use crate::scenario::{Budgets, Gateway, Scenario};

/// The `scenario` section of summary.json.
pub fn scenario_info(scenario: &Scenario, started: SystemTime) -> ScenarioInfo {
    ScenarioInfo {
        name: scenario.name.clone(),
        seed: scenario.seed,
        file: scenario.source.as_ref().map(|p| p.display().to_string()),
        description: scenario.description.clone(),
        duration_s: scenario.duration().as_secs_f64(),
        gateway: match &scenario.gateway {
            Gateway::Builtin(_) => "builtin".into(),
            Gateway::External(_) => "external".into(),
        },
        started_at: humantime::format_rfc3339_seconds(started).to_string(),
        traffic: scenario
            .traffic
            .iter()
            .map(|c| TrafficInfo {
                name: c.name.clone(),
                weight: c.weight,
                model: c.model.clone(),
                prompt_tokens: c.prompt_tokens,
                max_tokens: c.max_tokens,
                stream: c.stream,
                budgets_ms: budgets_ms(&c.budgets),
            })
            .collect(),
        providers: scenario
            .providers
            .iter()
            .map(|p| ProviderInfo {
                name: p.name.clone(),
                profile: p.profile.name.clone(),
                model: p.profile.model.clone(),
                region: p.profile.region.clone(),
                price_input_per_m: p.profile.price_input_per_m,
                price_output_per_m: p.profile.price_output_per_m,
                group: p.group.clone(),
            })
            .collect(),
        faults: scenario
            .faults
            .iter()
            .map(|f| FaultInfo {
                label: crate::analysis::failover::fault_label(f),
                start_s: f.start.as_secs_f64(),
                end_s: f.end().map(|e| e.as_secs_f64()),
                probability: f.probability,
            })
            .collect(),
        sla_budgets_ms: budgets_ms(&scenario.sla.budgets),
    }
}

fn budgets_ms(b: &Budgets) -> BudgetsMs {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    BudgetsMs {
        p50: ms(b.p50),
        p95: ms(b.p95),
        p99: ms(b.p99),
    }
}
