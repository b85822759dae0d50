//! Provider profiles (`mock-providers/*.toml`): what a simulated provider is
//! like. Errors here name the profile file, not the scenario that uses it.

use std::path::Path;
use std::time::Duration;

use super::de::parse;
use super::error::{read_source, Ctx, ScenarioError};
use super::path::FieldPath;
use super::raw::{RawCount, RawDist, RawErrors, RawLatency, RawProfile, RawSpeed};
use super::units::{show, MAX_DURATION};
use super::validate::file_stem;
use super::validate::{Num, MAX_MODEL, MAX_NAME};
use super::{CountDist, LatencyDist, ProviderProfile, RateLimit, RateLimitHeaders};

/// The highest price, USD per million tokens (today's dearest models cost
/// well under 1000); it keeps cost sums finite.
const MAX_PRICE: f64 = 1_000_000.0;
/// Output speed bounds: an answer of the largest `max_tokens` at the
/// slowest speed (with jitter) still ends within years, not never.
const MIN_TOKENS_PER_S: f64 = 0.01;
const MAX_TOKENS_PER_S: f64 = 1_000_000.0;
/// The largest token bucket, in requests (like rates, at most 10 million).
const MAX_BURST: f64 = 10_000_000.0;

/// Reads and validates one provider profile.
pub fn load_profile(path: &Path) -> Result<ProviderProfile, ScenarioError> {
    let src = read_source(path)?;
    let ctx = Ctx::new(&src, path);
    let raw: RawProfile = parse(&ctx)?;
    profile(&ctx, raw)
}

fn profile(ctx: &Ctx, raw: RawProfile) -> Result<ProviderProfile, ScenarioError> {
    let root = FieldPath::root();
    // Checked in this order so that, with several mistakes, the first one
    // reported stays the same: names, speed, errors, then the rest.
    let (name, model, region) = identity(ctx, &root, raw.name, raw.model, raw.region)?;
    let (tokens_per_s, speed_jitter) = speed(ctx, &root.key("speed"), raw.speed.as_ref())?;
    let (base_error_rate, base_error_status) =
        base_errors(ctx, &root.key("errors"), raw.errors.as_ref())?;
    Ok(ProviderProfile {
        name,
        model,
        region,
        price_input_per_m: price(ctx, &root.key("price_input_per_m"), raw.price_input_per_m)?,
        price_output_per_m: price(ctx, &root.key("price_output_per_m"), raw.price_output_per_m)?,
        ttft: latency(ctx, &root.key("ttft"), raw.ttft.as_ref())?,
        tokens_per_s,
        speed_jitter,
        output_tokens: count(ctx, &root.key("output_tokens"), raw.output_tokens.as_ref())?,
        base_error_rate,
        base_error_status,
        rate_limit: rate_limit(ctx, &root.key("rate_limit"), raw.rate_limit.as_ref())?,
        stream_chunk_tokens: ctx.int(
            &root.key("stream_chunk_tokens"),
            raw.stream_chunk_tokens,
            1,
            1,
            4096,
            "tokens per SSE chunk, at least 1",
        )? as u32,
        dialect: raw
            .dialect
            .map(super::validate::dialect)
            .unwrap_or_default(),
        keepalive: keepalive(ctx, &root.key("keepalive"), &raw.keepalive)?,
        bytes_per_s: bytes_per_s(ctx, &root.key("bytes_per_s"), raw.bytes_per_s)?,
    })
}

/// `keepalive`: at least 100 ms (a ping every microsecond would be a load
/// test of the provider's own timer, not of the gateway).
fn keepalive(
    ctx: &Ctx,
    at: &FieldPath,
    raw: &Option<super::units::RawDuration>,
) -> Result<Option<Duration>, ScenarioError> {
    let d = ctx.positive_duration(at, raw)?;
    if let Some(d) = d.filter(|d| *d < Duration::from_millis(100)) {
        return Err(ctx.err(
            at,
            format_args!("must be at least 100ms; got {}", show(d)),
            "how long a stream may be silent before a `: ping` comment, e.g. keepalive = \"1s\"",
        ));
    }
    Ok(d)
}

/// `bytes_per_s`: a stream's byte-rate cap.
fn bytes_per_s(ctx: &Ctx, at: &FieldPath, v: Option<f64>) -> Result<Option<f64>, ScenarioError> {
    let Some(v) = v else { return Ok(None) };
    let v = ctx.finite(at, v)?;
    if !(1.0..=1e9).contains(&v) {
        return Err(ctx.err(
            at,
            format_args!("must be in [1, 1000000000]; got {}", Num(v)),
            "the most bytes per second a stream sends, e.g. 2000 for a slow link; leave it out for no cap",
        ));
    }
    Ok(Some(v))
}

/// The profile's name (default: the file stem), model (default: the name)
/// and region (required).
fn identity(
    ctx: &Ctx,
    root: &FieldPath,
    name: Option<String>,
    model: Option<String>,
    region: Option<String>,
) -> Result<(String, String, String), ScenarioError> {
    let name = name.unwrap_or_else(|| file_stem(ctx.file));
    // Whether the name suits a provider is checked where a scenario uses
    // it (and may rename it); here it only has to print.
    ctx.display_name(&root.key("name"), &name, MAX_NAME, "profile")?;
    let model = model.unwrap_or_else(|| name.clone());
    ctx.display_name(&root.key("model"), &model, MAX_MODEL, "model")?;
    let Some(region) = region else {
        return Err(ctx.err(&root.key("region"), "is required", "the provider's region, e.g. region = \"us-east\"; region faults hit every provider in it"));
    };
    ctx.display_name(&root.key("region"), &region, MAX_NAME, "region")?;
    Ok((name, model, region))
}

/// A price in USD per million tokens.
fn price(ctx: &Ctx, at: &FieldPath, v: Option<f64>) -> Result<f64, ScenarioError> {
    let v = v.ok_or_else(|| {
        ctx.err(
            at,
            "is required",
            "USD per million tokens, e.g. 0.25 (0 for a free model)",
        )
    })?;
    let v = ctx.finite(at, v)?;
    if !(0.0..=MAX_PRICE).contains(&v) {
        return Err(ctx.err(
            at,
            format_args!("must be in [0, 1000000]; got {}", Num(v)),
            "USD per million tokens, e.g. 0.25",
        ));
    }
    Ok(v)
}

/// `[speed]`: the output speed in tokens per second and its jitter.
fn speed(ctx: &Ctx, at: &FieldPath, raw: Option<&RawSpeed>) -> Result<(f64, f64), ScenarioError> {
    let Some(speed) = raw else {
        return Err(ctx.err(
            at,
            "is required",
            "add [speed] with tokens_per_s = 100 (and optionally jitter = 0.2)",
        ));
    };
    let tps_at = at.key("tokens_per_s");
    let tokens_per_s = ctx.finite(
        &tps_at,
        speed.tokens_per_s.ok_or_else(|| {
            ctx.err(
                &tps_at,
                "is required",
                "the output speed in tokens per second, e.g. tokens_per_s = 100",
            )
        })?,
    )?;
    if !(MIN_TOKENS_PER_S..=MAX_TOKENS_PER_S).contains(&tokens_per_s) {
        return Err(ctx.err(
            &tps_at,
            format_args!("must be in [0.01, 1000000]; got {}", Num(tokens_per_s)),
            "the output speed in tokens per second, e.g. tokens_per_s = 100 (at least 0.01, so that an answer ends within the run)",
        ));
    }
    let jitter = ctx
        .ratio(&at.key("jitter"), &speed.jitter, true)?
        .unwrap_or(0.0);
    if jitter >= 1.0 {
        return Err(ctx.err(
            &at.key("jitter"),
            format_args!("must be below 1; got {}", Num(jitter)),
            "the speed varies uniformly by ± this share; 1 would allow a speed of zero",
        ));
    }
    Ok((tokens_per_s, jitter))
}

/// `[errors]`: the share of requests that fail regardless of faults, and
/// the status they fail with (none, with 500, by default).
fn base_errors(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<&RawErrors>,
) -> Result<(f64, u16), ScenarioError> {
    let Some(e) = raw else {
        return Ok((0.0, 500));
    };
    let rate = ctx.ratio(&at.key("rate"), &e.rate, true)?.unwrap_or(0.0);
    let status = ctx.int(
        &at.key("status"),
        e.status,
        500,
        400,
        599,
        "an HTTP error status, 400-599 (500 by default)",
    )?;
    Ok((rate, status as u16))
}

/// Rejects keys that do not belong to the chosen `dist`.
fn only(
    ctx: &Ctx,
    at: &FieldPath,
    dist: &str,
    keys: &[(&str, bool)],
    allowed: &[&str],
) -> Result<(), ScenarioError> {
    match keys.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        None => Ok(()),
        Some((k, _)) => Err(ctx.err(
            &at.key(k),
            format_args!("does not apply to dist = \"{dist}\""),
            format!("dist = \"{dist}\" takes {}", allowed.join(", ")),
        )),
    }
}

fn latency(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<&RawLatency>,
) -> Result<LatencyDist, ScenarioError> {
    const HELP: &str = "dist = \"fixed\" (value), \"uniform\" (min, max) or \"lognormal\" (p50, p99, cap), all durations";
    let Some(l) = raw else {
        return Err(ctx.err(
            at,
            "is required: the time to first token",
            format!("add [ttft] with {HELP}"),
        ));
    };
    let keys = [
        ("value", l.value.is_some()),
        ("min", l.min.is_some()),
        ("max", l.max.is_some()),
        ("p50", l.p50.is_some()),
        ("p99", l.p99.is_some()),
        ("cap", l.cap.is_some()),
    ];
    let need = |key: &str, raw| -> Result<Duration, ScenarioError> {
        ctx.duration(&at.key(key), raw)?
            .ok_or_else(|| ctx.err(&at.key(key), "is required for this dist", HELP))
    };
    match l.dist {
        None => Err(ctx.err(&at.key("dist"), "is required", HELP)),
        Some(RawDist::Fixed) => {
            only(ctx, at, "fixed", &keys, &["value"])?;
            Ok(LatencyDist::Fixed(need("value", &l.value)?))
        }
        Some(RawDist::Uniform) => {
            only(ctx, at, "uniform", &keys, &["min", "max"])?;
            let (min, max) = (need("min", &l.min)?, need("max", &l.max)?);
            if max < min {
                return Err(ctx.err(
                    &at.key("max"),
                    format_args!("({}) is below min ({})", show(max), show(min)),
                    "uniform draws between min and max; swap them",
                ));
            }
            Ok(LatencyDist::Uniform { min, max })
        }
        Some(RawDist::Lognormal) => {
            only(ctx, at, "lognormal", &keys, &["p50", "p99", "cap"])?;
            let (p50, p99) = (need("p50", &l.p50)?, need("p99", &l.p99)?);
            if p50.is_zero() || p99 <= p50 {
                return Err(ctx.err(&at.key("p99"), format_args!("({}) must be above p50 ({}), and p50 above 0", show(p99), show(p50)), "a lognormal is given by its median and a longer tail, e.g. p50 = \"200ms\", p99 = \"600ms\""));
            }
            // p99 is at most 7 days, so 10 × p99 cannot overflow; the
            // default is still held to the 7-day limit of written caps.
            let cap = ctx
                .duration(&at.key("cap"), &l.cap)?
                .unwrap_or_else(|| p99.saturating_mul(10).min(MAX_DURATION));
            if cap < p99 {
                return Err(ctx.err(
                    &at.key("cap"),
                    format_args!("({}) is below p99 ({})", show(cap), show(p99)),
                    "cap clamps the rare huge samples; it must be at least p99 (default: 10 × p99)",
                ));
            }
            Ok(LatencyDist::LogNormal { p50, p99, cap })
        }
    }
}

fn count(ctx: &Ctx, at: &FieldPath, raw: Option<&RawCount>) -> Result<CountDist, ScenarioError> {
    const HELP: &str = "dist = \"fixed\" (value) or \"uniform\" (min, max), token counts >= 1";
    let Some(c) = raw else {
        return Err(ctx.err(
            at,
            "is required: how many tokens an answer has",
            format!("add [output_tokens] with {HELP}"),
        ));
    };
    let keys = [
        ("value", c.value.is_some()),
        ("min", c.min.is_some()),
        ("max", c.max.is_some()),
    ];
    let need = |key: &str, v: Option<i64>| -> Result<u32, ScenarioError> {
        let v = v.ok_or_else(|| ctx.err(&at.key(key), "is required for this dist", HELP))?;
        Ok(ctx.int(&at.key(key), Some(v), 1, 1, u32::MAX.into(), HELP)? as u32)
    };
    match c.dist {
        None => Err(ctx.err(&at.key("dist"), "is required", HELP)),
        Some(RawDist::Fixed) => {
            only(ctx, at, "fixed", &keys, &["value"])?;
            Ok(CountDist::Fixed(need("value", c.value)?))
        }
        Some(RawDist::Uniform) => {
            only(ctx, at, "uniform", &keys, &["min", "max"])?;
            let (min, max) = (need("min", c.min)?, need("max", c.max)?);
            if max < min {
                return Err(ctx.err(
                    &at.key("max"),
                    format_args!("({max}) is below min ({min})"),
                    "uniform draws between min and max; swap them",
                ));
            }
            Ok(CountDist::Uniform { min, max })
        }
        Some(RawDist::Lognormal) => Err(ctx.err(
            &at.key("dist"),
            "cannot be \"lognormal\" for token counts",
            HELP,
        )),
    }
}

fn rate_limit(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<&super::raw::RawRateLimit>,
) -> Result<Option<RateLimit>, ScenarioError> {
    let Some(r) = raw else {
        return Ok(None);
    };
    let (tpm, headers) = tokens_and_headers(ctx, at, r)?;
    let rpm_at = at.key("rpm");
    let rpm = match (r.rpm, tpm) {
        (None, Some(_)) => {
            if r.burst.is_some() {
                return Err(ctx.err(
                    &at.key("burst"),
                    "is set without rpm",
                    "burst is the request bucket's size; set rpm too, or remove burst",
                ));
            }
            return Ok(Some(RateLimit {
                rpm: f64::INFINITY,
                burst: f64::INFINITY,
                tpm,
                headers,
            }));
        }
        (rpm, _) => rpm,
    };
    let rpm = ctx.finite(
        &rpm_at,
        rpm.ok_or_else(|| {
            ctx.err(
                &rpm_at,
                "is required",
                "the sustained limit in requests per minute, e.g. rpm = 60000 (or tokens per minute, tpm = 2000000)",
            )
        })?,
    )?;
    if rpm <= 0.0 {
        return Err(ctx.err(
            &rpm_at,
            format_args!("must be > 0; got {}", Num(rpm)),
            "leave [rate_limit] out for an unlimited provider",
        ));
    }
    ctx.max_rpm(&rpm_at, rpm)?;
    let burst = match r.burst {
        None => (rpm / 60.0).max(1.0),
        Some(b) => {
            let b = ctx.finite(&at.key("burst"), b)?;
            if !(1.0..=MAX_BURST).contains(&b) {
                return Err(ctx.err(
                    &at.key("burst"),
                    format_args!("must be in [1, 10000000]; got {}", Num(b)),
                    "the bucket size in requests; below 1 no request would ever pass",
                ));
            }
            b
        }
    };
    Ok(Some(RateLimit {
        rpm,
        burst,
        tpm,
        headers,
    }))
}

/// `[rate_limit]`'s `tpm`, and the headers: `headers = true` with
/// `header_values`.
fn tokens_and_headers(
    ctx: &Ctx,
    at: &FieldPath,
    r: &super::raw::RawRateLimit,
) -> Result<(Option<f64>, Option<RateLimitHeaders>), ScenarioError> {
    let tpm = match r.tpm {
        None => None,
        Some(t) => {
            let t = ctx.finite(&at.key("tpm"), t)?;
            if !(1.0..=1e12).contains(&t) {
                return Err(ctx.err(
                    &at.key("tpm"),
                    format_args!("must be in [1, 1e12]; got {}", Num(t)),
                    "the limit in tokens per minute (prompt + max_tokens), e.g. tpm = 2000000",
                ));
            }
            Some(t)
        }
    };
    let headers =
        match (r.headers, r.header_values) {
            (Some(true), v) => Some(match v {
                None | Some(super::raw::RawHeaderValues::Exact) => RateLimitHeaders::Exact,
                Some(super::raw::RawHeaderValues::MinusOne) => RateLimitHeaders::MinusOne,
                Some(super::raw::RawHeaderValues::Zero) => RateLimitHeaders::Zero,
            }),
            (_, Some(_)) => return Err(ctx.err(
                &at.key("header_values"),
                "is set, but headers is not true",
                "header_values bends the x-ratelimit-* headers; set headers = true to send them",
            )),
            _ => None,
        };
    Ok((tpm, headers))
}
