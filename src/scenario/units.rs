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

/// `"1m30s"` → 90 s (humantime syntax, fractions such as `"1.5s"` allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
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
        parse_duration(s).map(Some).map_err(|e| {
            self.err(
                at,
                format_args!("is not a duration ({e}); got \"{s}\""),
                DURATION_HELP,
            )
        })
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
    }

    #[test]
    fn parses_ratios_and_percentages() {
        assert_eq!(parse_ratio(&RawRatio::Number(0.5)), Ok(0.5));
        let p = parse_ratio(&RawRatio::Text("99.9%".into())).unwrap();
        assert!((p - 0.999).abs() < 1e-12);
        assert!(parse_ratio(&RawRatio::Text("0.5".into())).is_err());
    }
}
