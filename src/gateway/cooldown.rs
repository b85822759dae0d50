//! `Retry-After`, provider-wide: reading the header, and the cool-down it
//! puts a whole provider in.
//!
//! The gateway is one client of each provider, so a wait a provider asks
//! for in one answer binds every request, not only the one that got it: no
//! attempt goes to the provider until the wait is over. [`Cooldown`] holds
//! that instant, lock-free, and only ever moves it later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hyper::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

/// What an answer's `Retry-After` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Wait this long (0 for a date already past).
    For(Duration),
    /// A header that is neither a number nor an HTTP date: no wait can be
    /// read from it, so the router moves on rather than guess.
    Unusable,
}

/// The wait an answer's headers ask for: `retry-after-ms` (sent by OpenAI
/// and Azure) first, else `Retry-After` in seconds (fractions accepted) or
/// as an HTTP date, measured from `now`. `None` without either header.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Hint> {
    let number = |name: &str, scale: f64| {
        let text = headers.get(name)?.to_str().ok().map(str::trim);
        let wait = text
            .and_then(|s| s.parse::<f64>().ok())
            .and_then(|n| Duration::try_from_secs_f64(n / scale).ok());
        Some(match (wait, text) {
            (Some(wait), _) => Hint::For(wait),
            (None, Some(text)) if name == RETRY_AFTER.as_str() => date(text, now),
            (None, _) => Hint::Unusable,
        })
    };
    number("retry-after-ms", 1000.0).or_else(|| number(RETRY_AFTER.as_str(), 1.0))
}

fn date(text: &str, now: SystemTime) -> Hint {
    match httpdate::parse_http_date(text) {
        Ok(at) => Hint::For(at.duration_since(now).unwrap_or(Duration::ZERO)),
        Err(_) => Hint::Unusable,
    }
}

/// Until when a provider is cooling down; one per provider, shared by
/// every request.
#[derive(Debug)]
pub(crate) struct Cooldown {
    origin: Instant,
    /// Microseconds after `origin`, rounded up; 0: never set.
    until_us: AtomicU64,
}

impl Cooldown {
    pub fn new(origin: Instant) -> Self {
        Cooldown {
            origin,
            until_us: AtomicU64::new(0),
        }
    }

    /// No attempt before `now + wait`. A shorter wait than one already in
    /// force changes nothing: the provider asked for the longer one too.
    pub fn hold(&self, now: Instant, wait: Duration) {
        let until = now
            .saturating_duration_since(self.origin)
            .saturating_add(wait);
        let micros = until.as_nanos().div_ceil(1000);
        let micros = u64::try_from(micros).unwrap_or(u64::MAX).max(1);
        self.until_us.fetch_max(micros, Ordering::AcqRel);
    }

    /// How long the provider is still cooling down at `now`; `None` if not.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let until = Duration::from_micros(self.until_us.load(Ordering::Acquire));
        let elapsed = now.saturating_duration_since(self.origin);
        (until > elapsed).then(|| until - elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let at = |h: &[(&'static str, &str)]| retry_after(&headers(h), now);
        let wait = |s: f64| Some(Hint::For(Duration::from_secs_f64(s)));
        assert_eq!(at(&[]), None);
        assert_eq!(at(&[("retry-after", "2")]), wait(2.0));
        assert_eq!(at(&[("retry-after", " 0.25 ")]), wait(0.25));
        assert_eq!(
            at(&[("retry-after", "5"), ("retry-after-ms", "150")]),
            wait(0.15)
        );
        // 2015-10-21 07:28:00 is 1_445_412_480 s after the epoch.
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:28:07 GMT")]),
            wait(7.0)
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]),
            wait(0.0)
        );
        for unusable in ["-1", "soon", "inf", "Wed, 32 Oct 2015"] {
            assert_eq!(
                at(&[("retry-after", unusable)]),
                Some(Hint::Unusable),
                "{unusable}"
            );
        }
        assert_eq!(at(&[("retry-after-ms", "x")]), Some(Hint::Unusable));
    }

    #[test]
    fn a_cooldown_only_moves_later_and_ends() {
        let t0 = Instant::now();
        let c = Cooldown::new(t0);
        assert_eq!(c.remaining(t0), None);
        c.hold(t0, Duration::from_millis(500));
        c.hold(t0, Duration::from_millis(100));
        assert_eq!(c.remaining(t0), Some(Duration::from_millis(500)));
        let t1 = t0 + Duration::from_millis(400);
        assert_eq!(c.remaining(t1), Some(Duration::from_millis(100)));
        c.hold(t1, Duration::from_millis(300));
        assert_eq!(c.remaining(t1), Some(Duration::from_millis(300)));
        assert_eq!(c.remaining(t1 + Duration::from_millis(300)), None);
        c.hold(t1, Duration::ZERO);
        assert_eq!(c.remaining(t1), Some(Duration::from_millis(300)));
    }
}
