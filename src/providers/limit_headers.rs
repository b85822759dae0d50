//! The `x-ratelimit-*` headers of a provider whose `[rate_limit]` sets
//! `headers = true`, from the buckets' state after the request, written the
//! way OpenAI writes them: `x-ratelimit-limit-requests` (per minute),
//! `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` as a Go
//! duration ("1s", "6m0s", "120ms"), and the same three for tokens when
//! `tpm` is set. `header_values = "minus_one"` sends -1 for limits and
//! remaining, `"zero"` sends 0 for remaining, as some APIs do.

use std::time::Duration;

use hyper::header::{HeaderMap, HeaderValue};

use super::rate_limit::{BucketState, LimitState};
use crate::scenario::RateLimitHeaders;

/// Writes the headers of `state` into `h`.
pub fn set(h: &mut HeaderMap, state: &LimitState) {
    let trios = [("requests", state.requests), ("tokens", state.tokens)];
    for (what, bucket) in trios {
        let Some(b) = bucket else { continue };
        let (limit, remaining) = shown(&b, state.style);
        let mut put = |name: String, value: String| {
            if let (Ok(n), Ok(v)) = (
                hyper::header::HeaderName::try_from(name),
                HeaderValue::try_from(value),
            ) {
                h.insert(n, v);
            }
        };
        put(format!("x-ratelimit-limit-{what}"), limit);
        put(format!("x-ratelimit-remaining-{what}"), remaining);
        put(format!("x-ratelimit-reset-{what}"), go_duration(b.reset));
    }
}

/// Limit and remaining as sent: whole numbers, bent by the style.
fn shown(b: &BucketState, style: RateLimitHeaders) -> (String, String) {
    let whole = |v: f64| format!("{}", v.max(0.0).floor() as u64);
    match style {
        RateLimitHeaders::Exact => (whole(b.limit), whole(b.remaining)),
        RateLimitHeaders::MinusOne => ("-1".into(), "-1".into()),
        RateLimitHeaders::Zero => (whole(b.limit), "0".into()),
    }
}

/// A duration as Go prints one (OpenAI's reset headers), to whole
/// milliseconds rounded up: "0s", "120ms", "1s", "2.5s", "6m0s", "1h0m0s".
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_micros(1)), "1ms");
        assert_eq!(go_duration(ms(120)), "120ms");
        assert_eq!(go_duration(ms(1000)), "1s");
        assert_eq!(go_duration(ms(2500)), "2.5s");
        assert_eq!(go_duration(ms(8640)), "8.64s");
        assert_eq!(go_duration(ms(360_000)), "6m0s");
        assert_eq!(go_duration(ms(90_001)), "1m30.001s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
    }

    fn state(style: RateLimitHeaders) -> LimitState {
        LimitState {
            requests: Some(BucketState {
                limit: 600.0,
                remaining: 9.0,
                reset: Duration::from_millis(100),
            }),
            tokens: None,
            style,
        }
    }

    #[test]
    fn styles_bend_limit_and_remaining() {
        let mut h = HeaderMap::new();
        set(&mut h, &state(RateLimitHeaders::Exact));
        assert_eq!(h["x-ratelimit-limit-requests"], "600");
        assert_eq!(h["x-ratelimit-remaining-requests"], "9");
        assert_eq!(h["x-ratelimit-reset-requests"], "100ms");
        assert!(!h.contains_key("x-ratelimit-limit-tokens"));
        let mut h = HeaderMap::new();
        set(&mut h, &state(RateLimitHeaders::MinusOne));
        assert_eq!(h["x-ratelimit-limit-requests"], "-1");
        assert_eq!(h["x-ratelimit-remaining-requests"], "-1");
        assert_eq!(h["x-ratelimit-reset-requests"], "100ms");
        let mut h = HeaderMap::new();
        set(&mut h, &state(RateLimitHeaders::Zero));
        assert_eq!(h["x-ratelimit-limit-requests"], "600");
        assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    }
}
