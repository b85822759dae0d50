//! Durations (`"250ms"`, `"1m30s"`) and ratios (`0.999` or `"99.9%"`).
//!
//! Both are read as written and parsed during validation, so a bad value is
//! reported with its field path and a hint instead of a bare serde message.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::error::{Ctx, ScenarioError};
use super::path::FieldPath;

pub(crate) const DURATION_HELP: &str =
    "write a duration as a quoted number with a unit, e.g. \"250ms\", \"30s\", \"2m\", \"1m30s\"";
pub(crate) const RATIO_HELP: &str =
    "write a ratio between 0 and 1 (0.999) or a percentage (\"99.9%\")";

/// A duration as written: must be a string; parsed by [`Ctx::duration`].
#[derive(Debug, Clone, PartialEq)]
pub struct RawDuration(pub String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"30s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(s.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A ratio as written: a number, or a string ending in `%`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawRatio {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawRatio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawRatio;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ratio such as 0.999 or a percentage such as \"99.9%\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawRatio, E> {
                Ok(RawRatio::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawRatio, E> {
                Ok(RawRatio::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawRatio, E> {
                Ok(RawRatio::Number(v as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawRatio, E> {
                Ok(RawRatio::Text(s.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The longest duration any field takes: 7 days. A week covers any soak
/// test one run is meant for, and keeps every sum the runner makes (stages,
/// `start + duration`, `now + cool_off`, a ttft × a latency multiplier) far
/// from overflowing `Duration`, `Instant` and the millisecond counters of
/// the request log.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Units, largest first: a duration lists each at most once, in this order.
const UNITS: &[(&[&str], u128)] = &[
    (&["d", "day", "days"], 86_400_000_000_000),
    (&["h", "hr", "hour", "hours"], 3_600_000_000_000),
    (&["m", "min", "mins", "minute", "minutes"], 60_000_000_000),
    (&["s", "sec", "secs", "second", "seconds"], 1_000_000_000),
    (&["ms", "msec", "millis"], 1_000_000),
    (&["us", "µs", "usec"], 1_000),
    (&["ns", "nsec"], 1),
];

/// `"1m30s"` → 90 s. The grammar is strict so that a value means one thing:
/// one or more `<number><unit>` parts (a number is digits with an optional
/// fraction, `"1.5s"`), optionally separated by spaces, each unit at most
/// once and largest first (`"1h30m"`, not `"30m1h"` or `"1h1h"`). Units:
/// d, h, m, s, ms, us (µs), ns, and their long names (`"2 minutes"`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("it is empty".into());
    }
    let mut total: u128 = 0;
    let mut last_unit = None::<usize>;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() {
            return Err(format!("expected a number at \"{rest}\""));
        }
        let tail = tail.trim_start();
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(tail.len());
        let (unit, after) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("\"{number}\" has no unit"));
        }
        let Some(u) = UNITS.iter().position(|(names, _)| names.contains(&unit)) else {
            return Err(format!(
                "unknown unit \"{unit}\" (use d, h, m, s, ms, us or ns)"
            ));
        };
        if let Some(prev) = last_unit {
            if u == prev {
                return Err(format!("the unit \"{unit}\" appears twice"));
            }
            if u < prev {
                return Err(format!(
                    "\"{unit}\" comes after a smaller unit; write the largest unit first"
                ));
            }
        }
        last_unit = Some(u);
        total = total
            .checked_add(part_nanos(number, UNITS[u].1)?)
            .ok_or("it is far too long")?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "it is far too long")?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `"1.5"` of a unit of `unit_ns` nanoseconds, exactly (fractions below 1 ns
/// are dropped).
fn part_nanos(number: &str, unit_ns: u128) -> Result<u128, String> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || frac.contains('.') || (number.contains('.') && frac.is_empty()) {
        return Err(format!("\"{number}\" is not a number"));
    }
    // 20 digits already exceed any duration; longer ones would overflow.
    if int.len() > 20 {
        return Err("it is far too long".into());
    }
    let too_long = || "it is far too long".to_string();
    let whole: u128 = int.parse().map_err(|_| too_long())?;
    let mut nanos = whole.checked_mul(unit_ns).ok_or_else(too_long)?;
    // Only the first 18 fraction digits can matter for units up to a day.
    let frac = &frac[..frac.len().min(18)];
    if !frac.is_empty() {
        let f: u128 = frac.parse().map_err(|_| too_long())?;
        nanos += f * unit_ns / 10u128.pow(frac.len() as u32);
    }
    Ok(nanos)
}

/// `0.5` → 0.5, `"50%"` → 0.5. Range checks are the caller's.
pub fn parse_ratio(raw: &RawRatio) -> Result<f64, String> {
    match raw {
        RawRatio::Number(v) => Ok(*v),
        RawRatio::Text(s) => {
            let Some(num) = s.trim().strip_suffix('%') else {
                return Err(format!("\"{s}\" is neither a number nor a percentage"));
            };
            num.trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| format!("\"{s}\" is not a percentage"))
        }
    }
}

/// Shows a duration the way a user would write it (`1m 30s`, `250ms`).
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Ctx<'_> {
    /// Parses an optional duration.
    pub fn duration(
        &self,
        at: &FieldPath,
        raw: &Option<RawDuration>,
    ) -> Result<Option<Duration>, ScenarioError> {
        let Some(RawDuration(s)) = raw else {
            return Ok(None);
        };
        let d = parse_duration(s).map_err(|e| {
            self.err(
                at,
                format_args!("is not a duration ({e}); got \"{s}\""),
                DURATION_HELP,
            )
        })?;
        if d > MAX_DURATION {
            return Err(self.err(
                at,
                format_args!("must be at most 7d; got \"{s}\""),
                "every duration is at most 7 days (\"7d\"); a week covers any soak one run is meant for",
            ));
        }
        Ok(Some(d))
    }

    /// An optional duration with a default.
    pub fn duration_or(
        &self,
        at: &FieldPath,
        raw: &Option<RawDuration>,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        Ok(self.duration(at, raw)?.unwrap_or(default))
    }

    /// An optional duration that must be longer than zero when given.
    pub fn positive_duration(
        &self,
        at: &FieldPath,
        raw: &Option<RawDuration>,
    ) -> Result<Option<Duration>, ScenarioError> {
        match self.duration(at, raw)? {
            Some(d) if d.is_zero() => {
                Err(self.err(at, "must be longer than 0s; got \"0s\"", DURATION_HELP))
            }
            d => Ok(d),
        }
    }

    /// A positive duration with a default.
    pub fn positive_duration_or(
        &self,
        at: &FieldPath,
        raw: &Option<RawDuration>,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        Ok(self.positive_duration(at, raw)?.unwrap_or(default))
    }

    /// A ratio in `0 < r <= 1` (or `0 <= r <= 1` when `zero_ok`).
    pub fn ratio(
        &self,
        at: &FieldPath,
        raw: &Option<RawRatio>,
        zero_ok: bool,
    ) -> Result<Option<f64>, ScenarioError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let r = parse_ratio(raw)
            .map_err(|e| self.err(at, format_args!("is not a ratio: {e}"), RATIO_HELP))?;
        let low_ok = if zero_ok { r >= 0.0 } else { r > 0.0 };
        if !(low_ok && r <= 1.0) {
            let range = if zero_ok { "[0, 1]" } else { "(0, 1]" };
            let got = match raw {
                RawRatio::Number(v) => v.to_string(),
                RawRatio::Text(s) => format!("\"{s}\""),
            };
            return Err(self.err(
                at,
                format_args!("must be in {range}; got {got}"),
                RATIO_HELP,
            ));
        }
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units_and_fractions() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("30").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2 minutes"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1d2h"), Ok(Duration::from_secs(93_600)));
        assert_eq!(parse_duration("0.5us"), Ok(Duration::from_nanos(500)));
    }

    #[test]
    fn rejects_repeated_and_out_of_order_units_and_overflow() {
        for bad in [
            "1h1h",
            "30m1h",
            "1s1m",
            "1.5.5s",
            ".5s",
            "1.s",
            "-1s",
            "1e3s",
            "s",
            "",
            "1 x",
            "99999999999999999999999s",
            "18446744073709551616d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        // The largest values still parse (range checks are the caller's).
        assert!(parse_duration("20000000000000000000s").is_err());
        assert!(parse_duration("1000000000000d").is_ok());
    }

    #[test]
    fn parses_ratios_and_percentages() {
        assert_eq!(parse_ratio(&RawRatio::Number(0.5)), Ok(0.5));
        let p = parse_ratio(&RawRatio::Text("99.9%".into())).unwrap();
        assert!((p - 0.999).abs() < 1e-12);
        assert!(parse_ratio(&RawRatio::Text("0.5".into())).is_err());
    }
}
