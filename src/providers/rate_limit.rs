//! A token-bucket rate limiter with injected time.
//!
//! The bucket is the provider's front door: every chat request asks it for a
//! token before the fault model decides anything else, and a refused request
//! gets 429 with the time until the next token as Retry-After. Time comes in
//! as a `Duration` since an arbitrary origin, so tests drive it exactly.

use std::time::Duration;

use crate::scenario::{Fault, FaultKind, RateLimit};

/// Longest wait ever suggested; a limit of 0 rpm would otherwise say "forever".
const MAX_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Option<Duration>,
}

impl Default for TokenBucket {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenBucket {
    /// A full bucket (whatever the limit turns out to be).
    pub fn new() -> Self {
        TokenBucket {
            tokens: f64::INFINITY,
            last: None,
        }
    }

    /// Takes one token at `now` under `limit` (`None`: unlimited). `Err` holds
    /// the time until a token will be available; a refused request takes none.
    pub fn try_take(&mut self, now: Duration, limit: Option<RateLimit>) -> Result<(), Duration> {
        let Some(limit) = limit else {
            // Unlimited: stay full so that a limit starting later begins with a full burst.
            self.tokens = f64::INFINITY;
            self.last = Some(now);
            return Ok(());
        };
        let rate = limit.rpm.max(0.0) / 60.0;
        let burst = limit.burst.max(1.0);
        let since = self.last.map_or(Duration::ZERO, |l| now.saturating_sub(l));
        self.tokens = (self.tokens + since.as_secs_f64() * rate).min(burst);
        self.last = Some(now.max(self.last.unwrap_or(now)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / rate;
        Err(Duration::try_from_secs_f64(wait)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT))
    }
}

/// The limit in force at `t`: the tightest active `RateLimitSqueeze` (with a
/// burst of one second's worth, at least 1), else the profile's own limit.
/// Before the run starts (`t` is `None`) no fault is active.
pub fn effective_limit(
    profile: Option<RateLimit>,
    faults: &[Fault],
    t: Option<Duration>,
) -> Option<RateLimit> {
    let t = match t {
        Some(t) => t,
        None => return profile,
    };
    let squeeze = faults
        .iter()
        .filter(|f| f.active_at(t))
        .filter_map(|f| match f.kind {
            FaultKind::RateLimitSqueeze { rpm } => Some(rpm),
            _ => None,
        })
        .reduce(f64::min);
    match squeeze {
        Some(rpm) => Some(RateLimit {
            rpm,
            burst: (rpm / 60.0).max(1.0),
            tpm: profile.and_then(|p| p.tpm),
            headers: profile.and_then(|p| p.headers),
        }),
        None => profile,
    }
}

/// Retry-After header value: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn limit(rpm: f64, burst: f64) -> Option<RateLimit> {
        Some(RateLimit {
            rpm,
            burst,
            tpm: None,
            headers: None,
        })
    }

    #[test]
    fn burst_then_refill_at_the_rate() {
        let mut b = TokenBucket::new();
        let l = limit(60.0, 3.0); // one token per second
        for _ in 0..3 {
            assert_eq!(b.try_take(S(0), l), Ok(()));
        }
        assert_eq!(b.try_take(S(0), l), Err(S(1)));
        assert_eq!(b.try_take(MS(250), l), Err(MS(750)));
        assert_eq!(b.try_take(S(1), l), Ok(()));
        assert_eq!(b.try_take(S(1), l), Err(S(1)));
        // A long idle spell refills only up to the burst.
        for _ in 0..3 {
            assert_eq!(b.try_take(S(100), l), Ok(()));
        }
        assert!(b.try_take(S(100), l).is_err());
    }

    #[test]
    fn unlimited_never_refuses_and_a_later_limit_starts_full() {
        let mut b = TokenBucket::new();
        for i in 0..1000 {
            assert_eq!(b.try_take(MS(i), None), Ok(()));
        }
        let l = limit(60.0, 2.0);
        assert_eq!(b.try_take(S(2), l), Ok(()));
        assert_eq!(b.try_take(S(2), l), Ok(()));
        assert_eq!(b.try_take(S(2), l), Err(S(1)));
    }

    #[test]
    fn zero_rate_waits_at_most_an_hour() {
        let mut b = TokenBucket::new();
        assert_eq!(b.try_take(S(0), limit(0.0, 1.0)), Ok(()));
        assert_eq!(b.try_take(S(5), limit(0.0, 1.0)), Err(MAX_WAIT));
    }

    fn squeeze(rpm: f64, start: u64, secs: u64) -> Fault {
        Fault {
            providers: vec![0],
            target_label: "provider p".into(),
            start: S(start),
            duration: Some(S(secs)),
            probability: 1.0,
            kind: FaultKind::RateLimitSqueeze { rpm },
            error: Default::default(),
            after_tokens: None,
        }
    }

    #[test]
    fn squeeze_replaces_the_limit_while_active() {
        let own = limit(6000.0, 100.0);
        let faults = [squeeze(120.0, 10, 5), squeeze(600.0, 12, 10)];
        assert_eq!(effective_limit(own, &faults, None), own);
        assert_eq!(effective_limit(own, &faults, Some(S(9))), own);
        assert_eq!(
            effective_limit(own, &faults, Some(S(10))),
            limit(120.0, 2.0)
        );
        assert_eq!(
            effective_limit(own, &faults, Some(S(13))),
            limit(120.0, 2.0)
        );
        assert_eq!(
            effective_limit(own, &faults, Some(S(16))),
            limit(600.0, 10.0)
        );
        assert_eq!(effective_limit(None, &faults, Some(S(30))), None);
        assert_eq!(
            effective_limit(None, &faults, Some(S(10))),
            limit(120.0, 2.0)
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(MS(1)), 1);
        assert_eq!(retry_after_secs(MS(1000)), 1);
        assert_eq!(retry_after_secs(MS(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
