//! `[[faults]]`: what goes wrong, where (one provider or a region) and when.

use std::time::Duration;

use super::super::error::{suggest, Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::{RawFault, RawFaultKind, RawMalformation, RawOutageAs};
use super::super::units::show;
use super::super::{Fault, FaultKind, Load, Malformation, Provider};
use super::Num;

/// The largest `latency_spike` multiplier: a 7-day ttft cap × 1000 still
/// fits every clock the providers use, and a thousandfold spike is already
/// a hang in all but name.
const MAX_MULTIPLIER: f64 = 1000.0;

const KINDS: &str = "outage, error_burst, latency_spike, rate_limit, malformed, stream_stall, stream_cut, stream_error, slow_first_token";

pub(super) fn faults(
    ctx: &Ctx,
    raw: &[RawFault],
    providers: &[Provider],
    load: &Load,
) -> Result<Vec<Fault>, ScenarioError> {
    let at = FieldPath::root().key("faults");
    // Validated stages last at most 7 days together; saturate all the same.
    let run = load
        .stages
        .iter()
        .fold(Duration::ZERO, |t, s| t.saturating_add(s.duration()));
    raw.iter()
        .enumerate()
        .map(|(i, f)| fault(ctx, &at.index(i), f, providers, run))
        .collect()
}

fn fault(
    ctx: &Ctx,
    at: &FieldPath,
    f: &RawFault,
    providers: &[Provider],
    run: Duration,
) -> Result<Fault, ScenarioError> {
    let (targets, target_label) = target(ctx, at, f, providers)?;
    let Some(kind_name) = f.kind else {
        return Err(ctx.err(
            &at.key("kind"),
            "is required",
            format!("choose one of: {KINDS}"),
        ));
    };
    check_keys(ctx, at, f, kind_name)?;
    let kind = kind(ctx, at, f, kind_name)?;
    let start = ctx.duration_or(&at.key("start"), &f.start, Duration::ZERO)?;
    if start >= run {
        return Err(ctx.err(&at.key("start"), format_args!("is {}, but the stages end at {}", show(start), show(run)), "a fault that starts after the last stage never fires; move start earlier or lengthen the stages"));
    }
    let duration = ctx.positive_duration(&at.key("duration"), &f.duration)?;
    let probability = ctx
        .ratio(&at.key("probability"), &f.probability, false)?
        .unwrap_or(1.0);
    if kind == FaultKind::OutageRefuse && probability < 1.0 {
        return Err(ctx.err(&at.key("probability"), format_args!("must be 1 for an outage as \"refuse\"; got {}", Num(probability)), "refusing connections is per port, all or nothing; for a partial outage use as = \"5xx\" or as = \"reset\""));
    }
    Ok(Fault {
        providers: targets,
        target_label,
        start,
        duration,
        probability,
        kind,
    })
}

/// Exactly one of `provider` / `region`, resolved to provider indices.
fn target(
    ctx: &Ctx,
    at: &FieldPath,
    f: &RawFault,
    providers: &[Provider],
) -> Result<(Vec<usize>, String), ScenarioError> {
    const HELP: &str = "a fault hits one provider (provider = \"flash\") or every provider in a region (region = \"us-east\"); set exactly one";
    match (&f.provider, &f.region) {
        (Some(_), Some(_)) => {
            Err(ctx.err(&at.key("region"), "is set together with provider", HELP))
        }
        (None, None) => Err(ctx.err(at, "names no target: it needs provider or region", HELP)),
        (Some(name), None) => match providers.iter().position(|p| &p.name == name) {
            Some(i) => Ok((vec![i], format!("provider {name}"))),
            None => {
                let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                Err(ctx.err(
                    &at.key("provider"),
                    format_args!("names no provider in this scenario; got \"{name}\""),
                    suggest(name, &names, "providers"),
                ))
            }
        },
        (None, Some(region)) => {
            let hit: Vec<usize> = (0..providers.len())
                .filter(|&i| &providers[i].profile.region == region)
                .collect();
            if hit.is_empty() {
                let mut regions: Vec<&str> = providers
                    .iter()
                    .map(|p| p.profile.region.as_str())
                    .collect();
                regions.sort();
                regions.dedup();
                return Err(ctx.err(
                    &at.key("region"),
                    format_args!(
                        "is \"{region}\", but no provider in this scenario is in that region"
                    ),
                    suggest(region, &regions, "regions of this scenario's providers"),
                ));
            }
            Ok((hit, format!("region {region}")))
        }
    }
}

/// Rejects keys that belong to another kind: a silently ignored `status` on
/// a latency spike would make the scenario lie about what it tests.
fn check_keys(
    ctx: &Ctx,
    at: &FieldPath,
    f: &RawFault,
    kind: RawFaultKind,
) -> Result<(), ScenarioError> {
    use RawFaultKind::*;
    let keys: [(&str, bool, &[RawFaultKind]); 7] = [
        ("as", f.as_.is_some(), &[Outage]),
        ("status", f.status.is_some(), &[Outage, ErrorBurst]),
        ("multiplier", f.multiplier.is_some(), &[LatencySpike]),
        ("add", f.add.is_some(), &[LatencySpike]),
        ("rpm", f.rpm.is_some(), &[RateLimit]),
        ("what", f.what.is_some(), &[Malformed]),
        ("pause", f.pause.is_some(), &[StreamStall]),
    ];
    let delay = ("delay", f.delay.is_some(), &[SlowFirstToken][..]);
    for (key, set, kinds) in keys.into_iter().chain([delay]) {
        if set && !kinds.contains(&kind) {
            let owners: Vec<String> = kinds.iter().map(|k| kind_name(*k).to_string()).collect();
            return Err(ctx.err(
                &at.key(key),
                format_args!("does not apply to kind = \"{}\"", kind_name(kind)),
                format!(
                    "{key} belongs to kind = \"{}\"; remove it here",
                    owners.join("\" or \"")
                ),
            ));
        }
    }
    if f.status.is_some() && kind == Outage && f.as_.is_some_and(|a| a != RawOutageAs::Status5xx) {
        return Err(ctx.err(
            &at.key("status"),
            "applies only to an outage as \"5xx\"",
            "a refused, reset or hung connection has no status; remove status or use as = \"5xx\"",
        ));
    }
    Ok(())
}

fn kind_name(k: RawFaultKind) -> &'static str {
    match k {
        RawFaultKind::Outage => "outage",
        RawFaultKind::ErrorBurst => "error_burst",
        RawFaultKind::LatencySpike => "latency_spike",
        RawFaultKind::RateLimit => "rate_limit",
        RawFaultKind::Malformed => "malformed",
        RawFaultKind::StreamStall => "stream_stall",
        RawFaultKind::StreamCut => "stream_cut",
        RawFaultKind::StreamError => "stream_error",
        RawFaultKind::SlowFirstToken => "slow_first_token",
    }
}

fn kind(
    ctx: &Ctx,
    at: &FieldPath,
    f: &RawFault,
    kind: RawFaultKind,
) -> Result<FaultKind, ScenarioError> {
    Ok(match kind {
        RawFaultKind::Outage => match f.as_.unwrap_or(RawOutageAs::Status5xx) {
            RawOutageAs::Status5xx => FaultKind::OutageHttp {
                status: status(ctx, at, f, false)?,
            },
            RawOutageAs::Refuse => FaultKind::OutageRefuse,
            RawOutageAs::Reset => FaultKind::OutageReset,
            RawOutageAs::Hang => FaultKind::OutageHang,
        },
        RawFaultKind::ErrorBurst => FaultKind::ErrorBurst {
            status: status(ctx, at, f, true)?,
        },
        RawFaultKind::LatencySpike => latency_spike(ctx, at, f)?,
        RawFaultKind::RateLimit => FaultKind::RateLimitSqueeze {
            rpm: squeeze_rpm(ctx, &at.key("rpm"), f.rpm)?,
        },
        RawFaultKind::Malformed => {
            FaultKind::Malformed(malformation(ctx, &at.key("what"), f.what)?)
        }
        RawFaultKind::StreamStall => FaultKind::StreamStall {
            pause: ctx.positive_duration_or(&at.key("pause"), &f.pause, Duration::from_secs(5))?,
        },
        RawFaultKind::StreamCut => FaultKind::StreamCut,
        RawFaultKind::StreamError => FaultKind::StreamErrorEvent,
        RawFaultKind::SlowFirstToken => {
            let delay = ctx.positive_duration(&at.key("delay"), &f.delay)?;
            FaultKind::SlowFirstToken {
                delay: delay.ok_or_else(|| {
                    ctx.err(
                        &at.key("delay"),
                        "is required for kind = \"slow_first_token\"",
                        "how long the first token takes, e.g. delay = \"5s\"",
                    )
                })?,
            }
        }
    })
}

/// `kind = "latency_spike"`: a multiplier and/or an added delay, which
/// together must change something.
fn latency_spike(ctx: &Ctx, at: &FieldPath, f: &RawFault) -> Result<FaultKind, ScenarioError> {
    let multiplier = match f.multiplier {
        None => 1.0,
        Some(m) => {
            let m = ctx.finite(&at.key("multiplier"), m)?;
            if m <= 0.0 || m > MAX_MULTIPLIER {
                return Err(ctx.err(
                    &at.key("multiplier"),
                    format_args!("must be in (0, 1000]; got {}", Num(m)),
                    "latencies are multiplied by this; 3 makes them three times as long (at most 1000)",
                ));
            }
            m
        }
    };
    let add = ctx.duration_or(&at.key("add"), &f.add, Duration::ZERO)?;
    if multiplier == 1.0 && add.is_zero() {
        return Err(ctx.err(
            at,
            "is a latency_spike that changes nothing (multiplier 1, add 0s)",
            "set multiplier = 3 and/or add = \"2s\"",
        ));
    }
    Ok(FaultKind::LatencySpike { multiplier, add })
}

/// `kind = "rate_limit"`: the provider's limit while the fault is active.
fn squeeze_rpm(ctx: &Ctx, at: &FieldPath, rpm: Option<f64>) -> Result<f64, ScenarioError> {
    let Some(rpm) = rpm else {
        return Err(ctx.err(
            at,
            "is required for kind = \"rate_limit\"",
            "the provider's rate limit while the fault is active, e.g. rpm = 600",
        ));
    };
    let rpm = ctx.finite(at, rpm)?;
    if rpm <= 0.0 {
        return Err(ctx.err(
            at,
            format_args!("must be > 0; got {}", Num(rpm)),
            "to refuse everything use kind = \"outage\" instead",
        ));
    }
    ctx.max_rpm(at, rpm)?;
    Ok(rpm)
}

/// `kind = "malformed"`: which way the answer is broken.
fn malformation(
    ctx: &Ctx,
    at: &FieldPath,
    what: Option<RawMalformation>,
) -> Result<Malformation, ScenarioError> {
    match what {
        None => Err(ctx.err(
            at,
            "is required for kind = \"malformed\"",
            "what = \"invalid_json\" | \"no_choices\" | \"wrong_content_type\"",
        )),
        Some(RawMalformation::InvalidJson) => Ok(Malformation::InvalidJson),
        Some(RawMalformation::NoChoices) => Ok(Malformation::NoChoices),
        Some(RawMalformation::WrongContentType) => Ok(Malformation::WrongContentType),
    }
}

/// An HTTP error status: 5xx, or 429 too for error bursts. Default 503.
fn status(ctx: &Ctx, at: &FieldPath, f: &RawFault, allow_429: bool) -> Result<u16, ScenarioError> {
    let Some(s) = f.status else {
        return Ok(503);
    };
    if (500..=599).contains(&s) || (allow_429 && s == 429) {
        return Ok(s as u16);
    }
    let (range, help) = if allow_429 {
        (
            "a 5xx status or 429",
            "an error burst answers with a server error (500-599) or a rate limit (429)",
        )
    } else {
        ("a 5xx status", "an outage answers with a server error (500-599); for 429s use kind = \"error_burst\" or \"rate_limit\"")
    };
    Err(ctx.err(
        &at.key("status"),
        format_args!("must be {range}; got {s}"),
        help,
    ))
}
