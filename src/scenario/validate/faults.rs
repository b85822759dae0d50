//! `[[faults]]`: what goes wrong, where (one provider or a region) and when.

use std::time::Duration;

use super::super::error::{suggest, Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::{
    RawFault, RawFaultKind, RawMalformation, RawOutageAs, RawRetryAfterAs, RawTokens,
};
use super::super::units::show;
use super::super::{
    ErrorSpec, Fault, FaultKind, FlapAs, Load, Malformation, Provider, RetryAfter, RetryAfterSpec,
};
use super::Num;

/// The largest `latency_spike` multiplier: a 7-day ttft cap × 1000 still
/// fits every clock the providers use, and a thousandfold spike is already
/// a hang in all but name.
const MAX_MULTIPLIER: f64 = 1000.0;

const KINDS: &str = "outage, error_burst, latency_spike, rate_limit, malformed, stream_stall, stream_cut, stream_error, slow_first_token, flapping, fake_stream";

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
    let refuses = matches!(
        kind,
        FaultKind::OutageRefuse
            | FaultKind::Flapping {
                down: FlapAs::Refuse,
                ..
            }
    );
    if refuses && probability < 1.0 {
        return Err(ctx.err(&at.key("probability"), format_args!("must be 1 for an outage as \"refuse\"; got {}", Num(probability)), "refusing connections is per port, all or nothing; for a partial outage use as = \"5xx\" or as = \"reset\""));
    }
    let error = error_spec(ctx, at, f, &kind)?;
    let after_tokens = after_tokens(ctx, &at.key("after_tokens"), f.after_tokens.as_ref())?;
    Ok(Fault {
        providers: targets,
        target_label,
        start,
        duration,
        probability,
        kind,
        error,
        after_tokens,
    })
}

/// The status of the error answer a fault of this kind sends, if any.
fn error_status(kind: &FaultKind) -> Option<u16> {
    match *kind {
        FaultKind::OutageHttp { status } | FaultKind::ErrorBurst { status } => Some(status),
        FaultKind::Flapping {
            down: FlapAs::Http { status },
            ..
        } => Some(status),
        FaultKind::StreamErrorEvent => Some(500),
        _ => None,
    }
}

/// `error_code`, `error_type`, `message`, `retry_after`, `retry_after_as`,
/// `retryable`, `dialect`: how the fault's error answer reads.
fn error_spec(
    ctx: &Ctx,
    at: &FieldPath,
    f: &RawFault,
    kind: &FaultKind,
) -> Result<ErrorSpec, ScenarioError> {
    let Some(status) = error_status(kind) else {
        let set = [
            ("error_code", f.error_code.is_some()),
            ("error_type", f.error_type.is_some()),
            ("message", f.message.is_some()),
            ("retry_after", f.retry_after.is_some()),
            ("retry_after_as", f.retry_after_as.is_some()),
            ("retryable", f.retryable.is_some()),
            ("dialect", f.dialect.is_some()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, s)| *s) {
            return Err(ctx.err(
                &at.key(key),
                "applies only to a fault that answers with an error",
                "it shapes the error answer of an outage as \"5xx\", an error_burst, a stream_error or a flapping provider as \"5xx\"; remove it here",
            ));
        }
        return Ok(ErrorSpec::default());
    };
    if matches!(kind, FaultKind::StreamErrorEvent) {
        // An error event comes after the 200: no header can carry these.
        let set = [
            ("retry_after", f.retry_after.is_some()),
            ("retry_after_as", f.retry_after_as.is_some()),
            ("retryable", f.retryable.is_some()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, s)| *s) {
            return Err(ctx.err(
                &at.key(key),
                "does not apply to kind = \"stream_error\"",
                "an error event arrives after the 200 and its headers, so it carries no Retry-After and no x-should-retry; remove it here, or use an error_burst",
            ));
        }
    }
    for (key, v) in [
        ("error_code", &f.error_code),
        ("error_type", &f.error_type),
        ("message", &f.message),
    ] {
        if let Some(v) = v {
            if v.is_empty() || v.len() > 500 || v.chars().any(char::is_control) {
                return Err(ctx.err(
                    &at.key(key),
                    "must be 1 to 500 characters without control characters",
                    "e.g. error_code = \"context_length_exceeded\", error_type = \"invalid_request_error\"",
                ));
            }
        }
    }
    let retry_after = retry_after(ctx, at, f, status)?;
    Ok(ErrorSpec {
        code: f.error_code.clone(),
        error_type: f.error_type.clone(),
        message: f.message.clone(),
        retry_after,
        dialect: f.dialect.map(super::dialect),
        retryable: f.retryable,
    })
}

/// `retry_after` (a duration or "none") and `retry_after_as`, with the
/// defaults: 1 s on a 429, none on a spent quota or another status.
fn retry_after(
    ctx: &Ctx,
    at: &FieldPath,
    f: &RawFault,
    status: u16,
) -> Result<RetryAfterSpec, ScenarioError> {
    let as_date = f.retry_after_as == Some(RawRetryAfterAs::Date);
    let retry_after = match &f.retry_after {
        Some(raw) if raw.0.trim() == "none" => RetryAfterSpec::Absent,
        Some(raw) => {
            if crate::scenario::units::parse_duration(&raw.0).is_err() {
                return Err(ctx.err(
                    &at.key("retry_after"),
                    format_args!("is neither a duration nor \"none\"; got \"{}\"", raw.0),
                    "the wait the error's Retry-After asks for, e.g. retry_after = \"7s\"; \"none\" sends no Retry-After",
                ));
            }
            RetryAfterSpec::After(RetryAfter {
                wait: ctx.duration_or(&at.key("retry_after"), &f.retry_after, Duration::ZERO)?,
                as_date,
            })
        }
        // A spent quota will not come back in a second: no Retry-After.
        None if status == 429 && f.error_code.as_deref() == Some("insufficient_quota") => {
            RetryAfterSpec::Absent
        }
        None if status == 429 => RetryAfterSpec::After(RetryAfter {
            as_date,
            ..RetryAfter::DEFAULT_429
        }),
        None => RetryAfterSpec::Default,
    };
    if f.retry_after_as.is_some() && retry_after.resolve(status).is_none() {
        return Err(ctx.err(
            &at.key("retry_after_as"),
            "is set, but this error sends no Retry-After",
            "give retry_after a duration, e.g. retry_after = \"7s\" (only a 429 sends one by default)",
        ));
    }
    Ok(retry_after)
}

/// `after_tokens = 5` or `[3, 8]`: where a stream breaks.
fn after_tokens(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<&RawTokens>,
) -> Result<Option<(u32, u32)>, ScenarioError> {
    const HELP: &str = "the content tokens sent before the stream breaks: a count (after_tokens = 5) or a range drawn from uniformly (after_tokens = [3, 8]); 0 breaks it before the first token";
    let check = |v: i64| -> Result<u32, ScenarioError> {
        if !(0..=1_000_000).contains(&v) {
            return Err(ctx.err(at, format_args!("must be in [0, 1000000]; got {v}"), HELP));
        }
        Ok(v as u32)
    };
    match raw {
        None => Ok(None),
        Some(RawTokens::One(v)) => {
            let v = check(*v)?;
            Ok(Some((v, v)))
        }
        Some(RawTokens::Range(v)) if v.len() == 2 => {
            let (lo, hi) = (check(v[0])?, check(v[1])?);
            if hi < lo {
                return Err(ctx.err(
                    at,
                    format_args!("is [{lo}, {hi}]: the range ends before it starts"),
                    HELP,
                ));
            }
            Ok(Some((lo, hi)))
        }
        Some(RawTokens::Range(v)) => Err(ctx.err(
            at,
            format_args!("has {} numbers; a range has two", v.len()),
            HELP,
        )),
    }
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
    let keys: [(&str, bool, &[RawFaultKind]); 10] = [
        ("as", f.as_.is_some(), &[Outage, Flapping]),
        (
            "status",
            f.status.is_some(),
            &[Outage, ErrorBurst, Flapping],
        ),
        ("period", f.period.is_some(), &[Flapping]),
        ("duty", f.duty.is_some(), &[Flapping]),
        (
            "after_tokens",
            f.after_tokens.is_some(),
            &[StreamCut, StreamError, StreamStall],
        ),
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
    if f.status.is_some()
        && matches!(kind, Outage | Flapping)
        && f.as_.is_some_and(|a| a != RawOutageAs::Status5xx)
    {
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
        RawFaultKind::Flapping => "flapping",
        RawFaultKind::FakeStream => "fake_stream",
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
        RawFaultKind::Flapping => flapping(ctx, at, f)?,
        RawFaultKind::FakeStream => FaultKind::FakeStream,
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

/// `kind = "flapping"`: `period`, `duty` and what down means (`as`).
fn flapping(ctx: &Ctx, at: &FieldPath, f: &RawFault) -> Result<FaultKind, ScenarioError> {
    let period = ctx
        .positive_duration(&at.key("period"), &f.period)?
        .ok_or_else(|| {
            ctx.err(
                &at.key("period"),
                "is required for kind = \"flapping\"",
                "one down-and-up cycle, e.g. period = \"10s\" (at least 1s)",
            )
        })?;
    if period < Duration::from_secs(1) {
        return Err(ctx.err(
            &at.key("period"),
            format_args!("must be at least 1s; got {}", show(period)),
            "one down-and-up cycle, e.g. period = \"10s\"; faster flapping is an error burst",
        ));
    }
    let duty = ctx.ratio(&at.key("duty"), &f.duty, false)?.unwrap_or(0.5);
    if duty >= 1.0 {
        return Err(ctx.err(
            &at.key("duty"),
            "must be below 1: a provider down all the time does not flap",
            "the share of each period it is down, e.g. duty = 0.5; for a provider that stays down use kind = \"outage\"",
        ));
    }
    let down = match f.as_.unwrap_or(RawOutageAs::Status5xx) {
        RawOutageAs::Status5xx => FlapAs::Http {
            status: status(ctx, at, f, false)?,
        },
        RawOutageAs::Refuse => FlapAs::Refuse,
        RawOutageAs::Reset => FlapAs::Reset,
        RawOutageAs::Hang => FlapAs::Hang,
    };
    Ok(FaultKind::Flapping { period, duty, down })
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
    if (500..=599).contains(&s) || (allow_429 && (400..=499).contains(&s)) {
        return Ok(s as u16);
    }
    let (range, help) = if allow_429 {
        (
            "a 4xx or 5xx status",
            "an error burst answers with a client error (400-499, e.g. 400 or 429) or a server error (500-599)",
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
