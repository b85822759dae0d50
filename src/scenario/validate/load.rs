//! `[load]`: the stages and the generator's settings.

use std::time::Duration;

use super::super::error::{Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::{RawArrival, RawLoad, RawStage};
use super::super::units::MAX_DURATION;
use super::super::{Arrival, Load, Stage};
use super::Num;

/// The highest rate any field takes: 10,000,000 RPM (about 167,000
/// requests per second). That is beyond what one machine can send (the
/// engine benchmark holds 60,000 RPM on 2 cores), so a higher value is a
/// typo, and the cap keeps every rate × duration product finite and small.
pub(crate) const MAX_RPM: f64 = 10_000_000.0;
/// The most requests the stages may ask for in one run. The run keeps a
/// 16-byte record per request for the join with the providers' ledger, so
/// this bounds that memory at about 3.2 GB.
pub(crate) const MAX_REQUESTS: f64 = 200_000_000.0;
/// The fewest requests the stages must ask for: below one expected request
/// the schedule sends nothing (a constant schedule places its first send
/// where half a request is due), and a run that sends nothing proves
/// nothing.
pub(crate) const MIN_REQUESTS: f64 = 1.0;

const STAGE_HELP: &str =
    "a stage is { hold_rpm = 600, for = \"1m\" } or { ramp_to_rpm = 600, over = \"30s\" }";

pub(super) fn load(ctx: &Ctx, raw: Option<&RawLoad>) -> Result<Load, ScenarioError> {
    let at = FieldPath::root().key("load");
    let (raw, raw_stages) = required_stages(ctx, &at.key("stages"), raw)?;
    let stages = stages(ctx, &at.key("stages"), raw_stages)?;
    let timeout =
        ctx.positive_duration_or(&at.key("timeout"), &raw.timeout, Duration::from_secs(60))?;
    let max_in_flight = ctx.int(
        &at.key("max_in_flight"),
        raw.max_in_flight,
        10_000,
        1,
        u32::MAX.into(),
        "the cap on concurrent requests; sends beyond it are counted as dropped",
    )?;
    Ok(Load {
        stages,
        arrival: match raw.arrival {
            None | Some(RawArrival::Constant) => Arrival::Constant,
            Some(RawArrival::Poisson) => Arrival::Poisson,
        },
        timeout,
        max_in_flight: max_in_flight as usize,
        max_lag_p99: match &raw.max_lag_p99 {
            None => None,
            Some(_) => Some(ctx.positive_duration_or(
                &at.key("max_lag_p99"),
                &raw.max_lag_p99,
                Duration::ZERO,
            )?),
        },
        drain: ctx.duration_or(&at.key("drain"), &raw.drain, timeout)?,
    })
}

/// `[load]` and its stages, which a scenario must have: without them it
/// would send nothing.
fn required_stages<'r>(
    ctx: &Ctx,
    stages_at: &FieldPath,
    raw: Option<&'r RawLoad>,
) -> Result<(&'r RawLoad, &'r [RawStage]), ScenarioError> {
    match raw.map(|l| (l, l.stages.as_deref())) {
        None | Some((_, None)) => Err(ctx.err(
            stages_at,
            "is required: the scenario has no load shape",
            format!("add [load] with stages = [...]; {STAGE_HELP}"),
        )),
        Some((_, Some([]))) => Err(ctx.err(
            stages_at,
            "is empty: the scenario would send nothing",
            format!("list at least one stage; {STAGE_HELP}"),
        )),
        Some((l, Some(s))) => Ok((l, s)),
    }
}

/// Validates each stage, then the stages together: their total length,
/// the requests they ask for, and that some stage sends at all.
fn stages(ctx: &Ctx, stages_at: &FieldPath, raw: &[RawStage]) -> Result<Vec<Stage>, ScenarioError> {
    let stages = raw
        .iter()
        .enumerate()
        .map(|(i, s)| stage(ctx, &stages_at.index(i), s))
        .collect::<Result<Vec<_>, _>>()?;
    total_duration(ctx, stages_at, &stages)?;
    let expected = expected_requests(&stages);
    if expected > MAX_REQUESTS {
        return Err(ctx.err(
            stages_at,
            format_args!("ask for about {expected:.0} requests; at most {MAX_REQUESTS:.0} are allowed in one run"),
            "the run keeps a small record of every request in memory; lower the rates or shorten the stages",
        ));
    }
    if peak_rpm(&stages) <= 0.0 {
        return Err(ctx.err(
            stages_at,
            "all ask for 0 RPM, so nothing would be sent",
            "give at least one stage a positive rate, e.g. { hold_rpm = 60, for = \"1m\" }",
        ));
    }
    // A positive but tiny rate (1e-300 RPM, or 1 RPM for 10 s) schedules
    // no request at all: the run would start everything, send nothing and
    // end INVALID. That is known now, so it is a scenario error.
    if expected < MIN_REQUESTS {
        return Err(ctx.err(
            stages_at,
            format_args!(
                "ask for about {expected:.3} requests in all, so the run would most likely send none and measure nothing"
            ),
            "raise a rate or lengthen a stage so that the stages ask for at least one request (rpm × minutes >= 1), e.g. { hold_rpm = 60, for = \"1m\" }",
        ));
    }
    Ok(stages)
}

/// The stages' total length, at most 7 days; an error names the stage that
/// goes past it.
fn total_duration(
    ctx: &Ctx,
    stages_at: &FieldPath,
    stages: &[Stage],
) -> Result<Duration, ScenarioError> {
    let mut run = Duration::ZERO;
    for (i, st) in stages.iter().enumerate() {
        run = run
            .checked_add(st.duration())
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(|| {
                let at = stages_at.index(i).key(match st {
                    Stage::Hold { .. } => "for",
                    Stage::Ramp { .. } => "over",
                });
                ctx.err(
                    &at,
                    "makes the stages last longer than 7 days in total",
                    "a run lasts at most 7 days (\"7d\"); shorten the stages, or split the soak into several runs",
                )
            })?;
    }
    Ok(run)
}

/// The highest rate the stages reach; a ramp without `from_rpm` starts
/// where the previous stage ended.
fn peak_rpm(stages: &[Stage]) -> f64 {
    let mut rate = 0.0; // the rate at the end of the previous stage
    let mut peak: f64 = 0.0;
    for stage in stages {
        match stage {
            Stage::Hold { rpm, .. } => {
                peak = peak.max(*rpm);
                rate = *rpm;
            }
            Stage::Ramp { from, to, .. } => {
                peak = peak.max(from.unwrap_or(rate)).max(*to);
                rate = *to;
            }
        }
    }
    peak
}

/// The expected number of requests of the stages (the area under the rate).
fn expected_requests(stages: &[Stage]) -> f64 {
    let mut prev = 0.0;
    let mut total = 0.0;
    for s in stages {
        let minutes = s.duration().as_secs_f64() / 60.0;
        total += match *s {
            Stage::Hold { rpm, .. } => rpm * minutes,
            Stage::Ramp { from, to, .. } => (from.unwrap_or(prev) + to) / 2.0 * minutes,
        };
        prev = s.end_rpm();
    }
    total
}

fn stage(ctx: &Ctx, at: &FieldPath, s: &RawStage) -> Result<Stage, ScenarioError> {
    match (s.hold_rpm, s.ramp_to_rpm) {
        (Some(_), Some(_)) => Err(ctx.err(
            &at.key("ramp_to_rpm"),
            "is set together with hold_rpm; a stage has exactly one of them",
            "a stage either holds a rate or ramps to one; split it into two stages",
        )),
        (None, None) => Err(ctx.err(at, "has neither hold_rpm nor ramp_to_rpm", STAGE_HELP)),
        (Some(rpm), None) => hold(ctx, at, s, rpm),
        (None, Some(to)) => ramp(ctx, at, s, to),
    }
}

fn hold(ctx: &Ctx, at: &FieldPath, s: &RawStage, rpm: f64) -> Result<Stage, ScenarioError> {
    if s.over.is_some() {
        return Err(ctx.err(
            &at.key("over"),
            "belongs to ramps; a hold stage lasts `for`",
            "write { hold_rpm = ..., for = \"1m\" }",
        ));
    }
    if s.from_rpm.is_some() {
        return Err(ctx.err(
            &at.key("from_rpm"),
            "belongs to ramps; a hold stage has one rate",
            "use { ramp_to_rpm = ..., from_rpm = ..., over = ... } to change the rate",
        ));
    }
    let rpm_at = at.key("hold_rpm");
    let rpm = ctx.finite(&rpm_at, rpm)?;
    if rpm <= 0.0 {
        return Err(ctx.err(
            &rpm_at,
            format_args!("must be > 0; got {}", Num(rpm)),
            "a hold stage sends at a positive rate; use ramp_to_rpm = 0 to stop",
        ));
    }
    ctx.max_rpm(&rpm_at, rpm)?;
    let duration = ctx
        .positive_duration(&at.key("for"), &s.for_)?
        .ok_or_else(|| {
            ctx.err(
                &at.key("for"),
                "is required: how long to hold the rate",
                "write for = \"1m\" (any duration such as \"30s\" or \"1m30s\")",
            )
        })?;
    Ok(Stage::Hold { rpm, duration })
}

fn ramp(ctx: &Ctx, at: &FieldPath, s: &RawStage, to: f64) -> Result<Stage, ScenarioError> {
    if s.for_.is_some() {
        return Err(ctx.err(
            &at.key("for"),
            "belongs to holds; a ramp lasts `over`",
            "write { ramp_to_rpm = ..., over = \"30s\" }",
        ));
    }
    let to = non_negative_rate(ctx, &at.key("ramp_to_rpm"), to)?;
    let from = match s.from_rpm {
        Some(f) => Some(non_negative_rate(ctx, &at.key("from_rpm"), f)?),
        None => None,
    };
    let duration = ctx
        .positive_duration(&at.key("over"), &s.over)?
        .ok_or_else(|| {
            ctx.err(
                &at.key("over"),
                "is required: how long the ramp takes",
                "write over = \"30s\" (any duration such as \"10s\" or \"2m\")",
            )
        })?;
    Ok(Stage::Ramp { from, to, duration })
}

fn non_negative_rate(ctx: &Ctx, at: &FieldPath, rpm: f64) -> Result<f64, ScenarioError> {
    let rpm = ctx.finite(at, rpm)?;
    if rpm < 0.0 {
        return Err(ctx.err(
            at,
            format_args!("must be >= 0; got {}", Num(rpm)),
            "rates are requests per minute; 0 stops sending",
        ));
    }
    ctx.max_rpm(at, rpm)?;
    Ok(rpm)
}

impl Ctx<'_> {
    /// A rate (RPM) at most [`MAX_RPM`].
    pub fn max_rpm(&self, at: &FieldPath, rpm: f64) -> Result<(), ScenarioError> {
        if rpm > MAX_RPM {
            return Err(self.err(
                at,
                format_args!("must be at most 10000000 (10 million RPM); got {}", Num(rpm)),
                "rates are requests per minute; 10 million RPM is far beyond what one machine can send or a provider can take",
            ));
        }
        Ok(())
    }
}
