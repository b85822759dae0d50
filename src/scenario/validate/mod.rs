//! Raw scenario → [`Scenario`]: defaults, range checks and cross-references,
//! stopping at the first problem. Each part of the file has its own module;
//! this one holds the top level, the SLA, the gate and small shared checks.

mod external;
mod faults;
mod gateway;
mod load;
mod names;
mod providers;
mod traffic;

pub(crate) use names::{MAX_MODEL, MAX_NAME};

use std::path::Path;
use std::time::Duration;

use super::error::{Ctx, ScenarioError};
use super::path::FieldPath;
use super::raw::{RawBudgets, RawGate, RawScenario, RawSla};
use super::units::show;
use super::{Budgets, Gate, Scenario, Sla};

/// The highest `sla.max_amplification` (attempts per request); higher
/// limits check nothing.
const MAX_AMPLIFICATION: f64 = 10_000.0;
/// The highest `gate.tolerance` (1000%): a gate that lets a run get eleven
/// times slower gates nothing.
const MAX_TOLERANCE: f64 = 10.0;

/// A number in a message: plain when it reads well, else in scientific
/// notation (`1e300`, not three hundred digits).
pub(crate) struct Num(pub f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0.abs();
        if a != 0.0 && a.is_finite() && !(1e-6..1e15).contains(&a) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// The environment lookup used for `${VAR}`.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) fn scenario(ctx: &Ctx, raw: RawScenario, env: Env) -> Result<Scenario, ScenarioError> {
    let root = FieldPath::root();
    let name = match raw.name {
        Some(n) if n.trim().is_empty() => {
            return Err(ctx.err(
                &root.key("name"),
                "must not be empty",
                "name the scenario, or leave name out to use the file name",
            ));
        }
        Some(n) => {
            ctx.display_name(&root.key("name"), &n, names::MAX_NAME, "scenario")?;
            n
        }
        None => {
            let stem = file_stem(ctx.file);
            if names::unprintable(&stem, false).is_some() || stem.chars().count() > names::MAX_NAME
            {
                return Err(ctx.err(
                    &root.key("name"),
                    format_args!(
                        "is not set, and the file name {} is no usable scenario name (unprintable characters, or longer than {} characters)",
                        names::shown(&stem),
                        names::MAX_NAME
                    ),
                    "set name = \"...\" at the top of the file",
                ));
            }
            stem
        }
    };
    if let Some(d) = &raw.description {
        if let Some((i, c)) = names::unprintable(d, true) {
            return Err(ctx.err(
                &root.key("description"),
                format_args!("has the unprintable character U+{:04X} at position {}", c as u32, i + 1),
                "the description is printed in reports; remove control characters such as escape sequences (line breaks and tabs are fine)",
            ));
        }
    }
    let load = load::load(ctx, raw.load.as_ref())?;
    let traffic = traffic::traffic(ctx, raw.traffic.as_deref())?;
    let providers = providers::providers(ctx, &raw.providers)?;
    let gateway = gateway::gateway(ctx, raw.gateway.as_ref(), &traffic, &providers, env)?;
    let faults = faults::faults(ctx, &raw.faults, &providers, &load)?;
    let sla = sla(ctx, raw.sla.as_ref())?;
    let gate = gate(ctx, raw.gate.as_ref())?;
    Ok(Scenario {
        name,
        description: raw.description,
        source: Some(ctx.file.to_path_buf()),
        seed: raw.seed.unwrap_or(1),
        load,
        traffic,
        gateway,
        providers,
        faults,
        sla,
        gate,
    })
}

/// The dialect a `dialect = "..."` names.
pub(crate) fn dialect(raw: super::raw::RawDialect) -> super::Dialect {
    match raw {
        super::raw::RawDialect::Openai => super::Dialect::OpenAi,
        super::raw::RawDialect::Anthropic => super::Dialect::Anthropic,
        super::raw::RawDialect::Vllm => super::Dialect::Vllm,
    }
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string())
}

fn sla(ctx: &Ctx, raw: Option<&RawSla>) -> Result<Sla, ScenarioError> {
    let at = FieldPath::root().key("sla");
    let default = RawSla::default();
    let raw = raw.unwrap_or(&default);
    let uptime = ctx
        .ratio(&at.key("uptime"), &raw.uptime, false)?
        .unwrap_or(0.999);
    let budgets = budgets(
        ctx,
        &at,
        &RawBudgets {
            p50: raw.p50.clone(),
            p95: raw.p95.clone(),
            p99: raw.p99.clone(),
        },
    )?;
    let max_time_to_failover =
        ctx.positive_duration(&at.key("max_time_to_failover"), &raw.max_time_to_failover)?;
    let max_amplification = match raw.max_amplification {
        None => None,
        Some(a) => {
            let at = at.key("max_amplification");
            let a = ctx.finite(&at, a)?;
            if a < 1.0 {
                return Err(ctx.err(&at, format_args!("must be >= 1; got {}", Num(a)), "every request reaches a provider at least once, so 1.0 means no retries or failovers at all"));
            }
            if a > MAX_AMPLIFICATION {
                return Err(ctx.err(&at, format_args!("must be at most {MAX_AMPLIFICATION}; got {}", Num(a)), "the limit on provider attempts per client request, e.g. 1.5; a limit this high would check nothing"));
            }
            Some(a)
        }
    };
    let count = |key: &str, v: Option<i64>, what: &str| -> Result<Option<u64>, ScenarioError> {
        v.map(|v| {
            ctx.int(&at.key(key), Some(v), 0, 0, i64::from(u32::MAX), what)
                .map(|n| n as u64)
        })
        .transpose()
    };
    Ok(Sla {
        uptime,
        budgets,
        max_time_to_failover,
        max_amplification,
        max_retry_after_violations: count(
            "max_retry_after_violations",
            raw.max_retry_after_violations,
            "how many attempts may reach a provider while its Retry-After is in force; 0 means none",
        )?,
        max_non_retryable_retries: count(
            "max_non_retryable_retries",
            raw.max_non_retryable_retries,
            "how many requests may be retried or failed over after an error that must not be (400, a spent quota); 0 means none",
        )?,
        max_rewritten_errors: count(
            "max_rewritten_errors",
            raw.max_rewritten_errors,
            "how many provider errors may reach the client with another status or error type; 0 means none",
        )?,
        max_flapping_probes: count(
            "max_flapping_probes",
            raw.max_flapping_probes,
            "how many attempts a gateway may send into one down phase of a flapping provider after meeting the failure, e.g. 3",
        )?,
        optional: optional(ctx, &at.key("optional"), raw.optional.as_deref())?,
    })
}

/// `[sla] optional`: names of `[sla]` keys whose unmeasured checks do not
/// count against the verdict.
fn optional(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<&[String]>,
) -> Result<Vec<super::SlaKey>, ScenarioError> {
    let mut keys = Vec::new();
    for (i, name) in raw.unwrap_or_default().iter().enumerate() {
        let Some(key) = super::SlaKey::from_name(name) else {
            let names: Vec<&str> = super::SlaKey::NAMES.iter().map(|(n, _)| *n).collect();
            return Err(ctx.err(
                &at.index(i),
                format_args!("names no [sla] key: {name:?}"),
                format!(
                    "optional lists the [sla] keys whose checks may go unmeasured (not exercised, \
                     not observable, ...) without making the run UNMEASURED; {}",
                    super::error::suggest(name, &names, "the keys")
                ),
            ));
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn gate(ctx: &Ctx, raw: Option<&RawGate>) -> Result<Gate, ScenarioError> {
    let at = FieldPath::root().key("gate");
    let Some(raw) = raw else {
        return Ok(Gate::default());
    };
    let defaults = Gate::default();
    let tolerance = match &raw.tolerance {
        None => defaults.tolerance,
        Some(t) => {
            let at = at.key("tolerance");
            let v = super::units::parse_ratio(t).map_err(|e| {
                ctx.err(
                    &at,
                    format_args!("is not a ratio: {e}"),
                    super::units::RATIO_HELP,
                )
            })?;
            if !(v.is_finite() && (0.0..=MAX_TOLERANCE).contains(&v)) {
                return Err(ctx.err(
                    &at,
                    format_args!("must be in [0, 10] (0% to 1000%); got {}", Num(v)),
                    "the relative slack before a slower run counts as a regression, e.g. \"10%\"",
                ));
            }
            v
        }
    };
    let floor = ctx.duration_or(&at.key("floor"), &raw.floor, defaults.floor)?;
    Ok(Gate { tolerance, floor })
}

/// Latency budgets under `at` (p50 <= p95 <= p99 when several are given).
pub(crate) fn budgets(
    ctx: &Ctx,
    at: &FieldPath,
    raw: &RawBudgets,
) -> Result<Budgets, ScenarioError> {
    let b = Budgets {
        p50: ctx.positive_duration(&at.key("p50"), &raw.p50)?,
        p95: ctx.positive_duration(&at.key("p95"), &raw.p95)?,
        p99: ctx.positive_duration(&at.key("p99"), &raw.p99)?,
    };
    let set: Vec<(&str, Duration)> = [("p50", b.p50), ("p95", b.p95), ("p99", b.p99)]
        .into_iter()
        .filter_map(|(k, d)| Some((k, d?)))
        .collect();
    for pair in set.windows(2) {
        let ((lo_key, lo), (hi_key, hi)) = (pair[0], pair[1]);
        if hi < lo {
            return Err(ctx.err(
                &at.key(hi_key),
                format_args!("({}) is below {lo_key} ({})", show(hi), show(lo)),
                format!("a higher percentile is never faster; {hi_key} must be at least {lo_key}"),
            ));
        }
    }
    Ok(b)
}

impl Ctx<'_> {
    /// Rejects NaN and infinities.
    pub fn finite(&self, at: &FieldPath, v: f64) -> Result<f64, ScenarioError> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(
                at,
                format_args!("must be a finite number; got {v}"),
                "write a plain number such as 60 or 0.5",
            ))
        }
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn int(
        &self,
        at: &FieldPath,
        v: Option<i64>,
        default: i64,
        min: i64,
        max: i64,
        help: &str,
    ) -> Result<i64, ScenarioError> {
        let v = v.unwrap_or(default);
        if v < min {
            let rest = if min == 0 {
                format!("must be >= 0; got {v}")
            } else {
                format!("must be >= {min}; got {v}")
            };
            return Err(self.err(at, rest, help));
        }
        if v > max {
            return Err(self.err(at, format_args!("must be at most {max}; got {v}"), help));
        }
        Ok(v)
    }
}
