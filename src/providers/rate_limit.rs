//! Token-bucket rate limiting with injected time: a request bucket (`rpm`)
//! and a token bucket (`tpm`) side by side.
//!
//! The limiter is the provider's front door: every chat request asks it
//! before the fault model decides anything else, and a request over either
//! limit gets 429 with the longer of the two waits as Retry-After (and takes
//! nothing from either bucket). Time comes in as a `Duration` since an
//! arbitrary origin, so tests drive it exactly. What the buckets hold after
//! a request is what the `x-ratelimit-*` headers tell (`limit_headers.rs`).

use std::time::Duration;

use crate::scenario::{Fault, FaultKind, RateLimit, RateLimitHeaders};

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

    /// Takes one token at `now` under `limit`'s requests per minute (`None`:
    /// unlimited). `Err` holds the time until a token will be available; a
    /// refused request takes none.
    pub fn try_take(&mut self, now: Duration, limit: Option<RateLimit>) -> Result<(), Duration> {
        let rate = limit.map(|l| (l.rpm / 60.0, l.burst));
        self.refill(now, rate);
        match self.wait_for(1.0, rate) {
            Some(wait) => Err(wait),
            None => {
                self.tokens -= 1.0;
                Ok(())
            }
        }
    }

    /// Brings the bucket to `now` at `rate` = (tokens per second, capacity);
    /// `None` or an infinite rate: unlimited, and the bucket stays full so
    /// that a limit starting later begins with a full burst.
    fn refill(&mut self, now: Duration, rate: Option<(f64, f64)>) {
        let since = self.last.map_or(Duration::ZERO, |l| now.saturating_sub(l));
        self.last = Some(now.max(self.last.unwrap_or(now)));
        match rate {
            Some((per_s, capacity)) if per_s.is_finite() => {
                let capacity = capacity.max(1.0);
                self.tokens = (self.tokens + since.as_secs_f64() * per_s.max(0.0)).min(capacity);
            }
            _ => self.tokens = f64::INFINITY,
        }
    }

    /// How long until `n` tokens are in the bucket; `None`: they are now.
    fn wait_for(&self, n: f64, rate: Option<(f64, f64)>) -> Option<Duration> {
        if self.tokens >= n {
            return None;
        }
        let per_s = rate.map_or(f64::INFINITY, |(r, _)| r.max(0.0));
        let wait = (n - self.tokens) / per_s;
        Some(
            Duration::try_from_secs_f64(wait)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT),
        )
    }

    /// What the bucket holds now under a finite `rate`: the limit per
    /// minute, whole tokens left, and the time until it is full again.
    fn state(&self, per_minute: f64, (per_s, capacity): (f64, f64)) -> BucketState {
        let capacity = capacity.max(1.0);
        let missing = (capacity - self.tokens).max(0.0);
        let reset = if missing == 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(missing / per_s.max(0.0))
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT)
        };
        BucketState {
            limit: per_minute,
            remaining: self.tokens.max(0.0).floor(),
            reset,
        }
    }
}

/// One bucket's state after a request, as the `x-ratelimit-*` headers say it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    /// The limit per minute (requests or tokens).
    pub limit: f64,
    /// Whole requests (tokens) the bucket holds now.
    pub remaining: f64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// Both buckets after a request, and how the headers bend them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitState {
    /// `None` when only `tpm` limits (no request limit to tell).
    pub requests: Option<BucketState>,
    /// `None` without `tpm`.
    pub tokens: Option<BucketState>,
    pub style: RateLimitHeaders,
}

/// The provider's two buckets.
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    requests: TokenBucket,
    tokens: TokenBucket,
}

impl Limiter {
    /// Admits a request needing `need` tokens (prompt + max_tokens) at `now`
    /// under `limit` (`None`: unlimited). `Err`: the longer wait of the
    /// buckets it is over; then it takes nothing. The state is there when
    /// the limit sends headers. A request needing more than a whole
    /// minute's tokens waits for a full token bucket.
    pub fn admit(
        &mut self,
        now: Duration,
        limit: Option<RateLimit>,
        need: u32,
    ) -> (Result<(), Duration>, Option<LimitState>) {
        let req_rate = limit
            .filter(|l| l.rpm.is_finite())
            .map(|l| (l.rpm / 60.0, l.burst));
        let tpm = limit.and_then(|l| l.tpm).filter(|t| t.is_finite());
        let tok_rate = tpm.map(|t| (t / 60.0, t));
        self.requests.refill(now, req_rate);
        self.tokens.refill(now, tok_rate);
        let need = f64::from(need).min(tpm.unwrap_or(f64::INFINITY).max(1.0));
        let wait = [
            self.requests.wait_for(1.0, req_rate),
            self.tokens.wait_for(need, tok_rate),
        ]
        .into_iter()
        .flatten()
        .max();
        let verdict = match wait {
            Some(w) => Err(w),
            None => {
                self.requests.tokens -= 1.0;
                self.tokens.tokens -= need;
                Ok(())
            }
        };
        let state = limit.and_then(|l| l.headers.map(|style| (l, style)));
        let state = state.map(|(l, style)| LimitState {
            requests: req_rate.map(|r| self.requests.state(l.rpm, r)),
            tokens: tpm.zip(tok_rate).map(|(t, r)| self.tokens.state(t, r)),
            style,
        });
        (verdict, state)
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

    fn limits(rpm: f64, burst: f64, tpm: Option<f64>) -> Option<RateLimit> {
        Some(RateLimit {
            rpm,
            burst,
            tpm,
            headers: Some(RateLimitHeaders::Exact),
        })
    }

    #[test]
    fn tokens_per_minute_limit_beside_requests() {
        let mut l = Limiter::default();
        // 6000 tokens per minute: 100 per second, bucket of 6000.
        let lim = limits(f64::INFINITY, f64::INFINITY, Some(6000.0));
        let (ok, state) = l.admit(S(0), lim, 4000);
        assert_eq!(ok, Ok(()));
        let state = state.unwrap();
        assert_eq!(state.requests, None);
        assert_eq!(
            state.tokens,
            Some(BucketState {
                limit: 6000.0,
                remaining: 2000.0,
                reset: S(40),
            })
        );
        // 3000 more need 1000 more tokens: 10 s at 100/s; nothing is taken.
        assert_eq!(l.admit(S(0), lim, 3000).0, Err(S(10)));
        assert_eq!(l.admit(S(5), lim, 2500).0, Ok(()));
        assert_eq!(
            l.admit(S(5), lim, 1).1.unwrap().tokens.unwrap().remaining,
            0.0
        );
        // A request above a whole minute's tokens waits for a full bucket.
        assert_eq!(l.admit(S(5), lim, 60_000).0, Err(S(60)));
    }

    #[test]
    fn the_longer_wait_wins_and_a_refusal_takes_from_neither() {
        let mut l = Limiter::default();
        // 60 rpm, burst 2; 600 tpm (10 tokens/s, bucket 600).
        let lim = limits(60.0, 2.0, Some(600.0));
        assert_eq!(l.admit(S(0), lim, 500).0, Ok(()));
        // Tokens: 100 left, 300 needed → 20 s; requests: one left.
        assert_eq!(l.admit(S(0), lim, 300).0, Err(S(20)));
        let (ok, state) = l.admit(S(0), lim, 100);
        assert_eq!(ok, Ok(()));
        let state = state.unwrap();
        let req = state.requests.unwrap();
        assert_eq!((req.limit, req.remaining, req.reset), (60.0, 0.0, S(2)));
        // Requests empty (1 s) and tokens empty (10 s for 100): 10 s.
        assert_eq!(l.admit(S(0), lim, 100).0, Err(S(10)));
        assert_eq!(l.admit(S(10), lim, 100).0, Ok(()));
    }

    #[test]
    fn no_headers_no_state_and_the_squeeze_keeps_tpm_and_headers() {
        let mut l = Limiter::default();
        let plain = limit(60.0, 1.0);
        assert_eq!(l.admit(S(0), plain, 1), (Ok(()), None));
        assert_eq!(l.admit(S(0), None, 1), (Ok(()), None));
        let own = limits(6000.0, 100.0, Some(1e6));
        let faults = [squeeze(120.0, 10, 5)];
        let squeezed = effective_limit(own, &faults, Some(S(11))).unwrap();
        assert_eq!(squeezed.tpm, Some(1e6));
        assert_eq!(squeezed.headers, Some(RateLimitHeaders::Exact));
        assert_eq!(squeezed.rpm, 120.0);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(MS(1)), 1);
        assert_eq!(retry_after_secs(MS(1000)), 1);
        assert_eq!(retry_after_secs(MS(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
