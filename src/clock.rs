//! The run's shared clock: t=0 is the start of the first stage.
//!
//! Providers, the gateway and the generator all hold one `RunClock`, so fault
//! windows, stages and the report's time axes agree. Providers start before
//! t=0 (readiness and preflight happen first); until `start` is called,
//! `elapsed` is `None` and no fault is active.
//!
//! With `--start-at` ([`StartAt`]), t=0 is a wall-clock instant that several
//! processes on several machines share.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RunClock {
    origin: OnceLock<Instant>,
}

impl RunClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock whose t=0 is `origin` (tests, and the generator's own start).
    pub fn started_at(origin: Instant) -> Self {
        let clock = Self::new();
        clock.origin.set(origin).expect("fresh clock");
        clock
    }

    /// Sets t=0 to `origin`; later calls are ignored and return the first origin.
    pub fn start(&self, origin: Instant) -> Instant {
        *self.origin.get_or_init(|| origin)
    }

    pub fn origin(&self) -> Option<Instant> {
        self.origin.get().copied()
    }

    /// Time since t=0; `None` before the run started, zero for instants before it.
    pub fn elapsed_at(&self, at: Instant) -> Option<Duration> {
        self.origin.get().map(|o| at.saturating_duration_since(*o))
    }

    pub fn elapsed(&self) -> Option<Duration> {
        self.elapsed_at(Instant::now())
    }

    /// Microseconds since t=0 (negative before it, or before the run started: `i64::MIN`).
    pub fn micros_at(&self, at: Instant) -> i64 {
        match self.origin.get() {
            None => i64::MIN,
            Some(o) if at >= *o => at.duration_since(*o).as_micros() as i64,
            Some(o) => -(o.duration_since(at).as_micros() as i64),
        }
    }
}

/// `--start-at`: the wall-clock instant that is t=0 for every process of a
/// run spread over several machines (shards and providers), so that their
/// stages and fault windows line up. Each process maps it onto its own
/// monotonic clock ([`StartAt::instant`]) once it is ready, and again a
/// second before it after a long wait ([`StartAt::settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt(pub SystemTime);

/// A wait for a [`StartAt`] longer than this maps the wall clock again
/// [`REMAP_BEFORE`] before its end.
pub const REMAP_AFTER: Duration = Duration::from_secs(2);
/// How long before the end of a long wait the wall clock is read again.
pub const REMAP_BEFORE: Duration = Duration::from_secs(1);

/// Reads the wall clock and the monotonic clock together (tests inject
/// another reading, e.g. a wall clock stepped by NTP).
pub type Clocks = fn() -> (SystemTime, Instant);

/// The real clocks, read together.
pub fn read_clocks() -> (SystemTime, Instant) {
    (SystemTime::now(), Instant::now())
}

/// What `--start-at` accepts, for error messages.
const START_AT_FORMS: &str = "give an RFC 3339 time with its zone, e.g. 2026-12-03T18:00:00Z \
     or 2026-12-03T19:00:00.5+01:00, or Unix seconds, e.g. 1796320800 or 1796320800.25 \
     (`date -u -d '+1 min' +%s`)";

/// Unix seconds before 2000 are taken for a mistake (a duration, not a time).
const EARLIEST_UNIX_S: u64 = 946_684_800;
/// 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
const LATEST_UNIX_S: u64 = 253_402_300_799;

impl StartAt {
    /// Parses RFC 3339 (`2026-12-03T18:00:00Z`, an offset like `+01:00`,
    /// fractional seconds) or Unix seconds (`1796320800`, `1796320800.25`).
    /// The error says what was wrong and what to write instead.
    pub fn parse(s: &str) -> Result<StartAt, String> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return unix_seconds(t).map(StartAt);
        }
        rfc3339(t).map(StartAt)
    }

    /// RFC 3339 in UTC, as precise as it was given (`2026-12-03T18:00:00Z`).
    pub fn rfc3339(&self) -> String {
        let nanos = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        match nanos {
            0 => humantime::format_rfc3339_seconds(self.0).to_string(),
            n if n % 1_000_000 == 0 => humantime::format_rfc3339_millis(self.0).to_string(),
            n if n % 1_000 == 0 => humantime::format_rfc3339_micros(self.0).to_string(),
            _ => humantime::format_rfc3339_nanos(self.0).to_string(),
        }
    }

    /// This wall-clock instant on the monotonic clock, from a pair of
    /// readings of both clocks taken together (`now_wall`, `now`). `None`
    /// when it cannot be represented (centuries away).
    pub fn instant(&self, now_wall: SystemTime, now: Instant) -> Option<Instant> {
        match self.0.duration_since(now_wall) {
            Ok(ahead) => now.checked_add(ahead),
            Err(past) => now.checked_sub(past.duration()),
        }
    }

    /// The instant on the monotonic clock, reading both clocks now.
    pub fn instant_now(&self) -> Option<Instant> {
        let (wall, now) = read_clocks();
        self.instant(wall, now)
    }

    /// Waits until `lead` before this instant is at most [`REMAP_AFTER`]
    /// away and returns the instant on the monotonic clock, mapped from
    /// `clocks` read then: a long wait sleeps (through `sleep`, which may
    /// end the wait with an error) until [`REMAP_BEFORE`] before its end
    /// and maps again, so that a step of the system clock meanwhile (NTP)
    /// is followed. At once when the instant is near or past. `run` and
    /// `mock` both take t=0 from here, so they follow the same steps.
    pub async fn settle<S, F>(
        &self,
        lead: Duration,
        clocks: Clocks,
        mut sleep: S,
    ) -> anyhow::Result<Instant>
    where
        S: FnMut(Instant) -> F,
        F: Future<Output = anyhow::Result<()>>,
    {
        loop {
            let (wall, now) = clocks();
            let at = self.instant(wall, now).ok_or_else(|| {
                anyhow::anyhow!("--start-at {self} is too far from now for this machine's clock")
            })?;
            let wake = at.checked_sub(lead).unwrap_or(at);
            if wake.saturating_duration_since(now) <= REMAP_AFTER {
                return Ok(at);
            }
            sleep(wake - REMAP_BEFORE).await?;
        }
    }
}

impl std::fmt::Display for StartAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

fn unix_seconds(t: &str) -> Result<SystemTime, String> {
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let bad = || format!("`{t}` is not a time: {START_AT_FORMS}");
    if whole.is_empty() || frac.contains('.') || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    if !(EARLIEST_UNIX_S..=LATEST_UNIX_S).contains(&secs) {
        return Err(format!(
            "`{t}` as Unix seconds is {}, which cannot be meant: {START_AT_FORMS}",
            if secs < EARLIEST_UNIX_S {
                "before the year 2000"
            } else {
                "after the year 9999"
            }
        ));
    }
    let nanos: u32 = match frac {
        "" => 0,
        f => format!("{f:0<9}").parse().map_err(|_| bad())?,
    };
    Ok(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

/// RFC 3339 with `Z` or a `±HH:MM` offset (humantime reads only UTC).
fn rfc3339(t: &str) -> Result<SystemTime, String> {
    let bad = |why: &str| format!("`{t}` is not a time{why}: {START_AT_FORMS}");
    let (utc, offset_s) = match t.strip_suffix(['Z', 'z']) {
        Some(rest) => (rest, 0i64),
        None => {
            let split = t.len().saturating_sub(6);
            let (rest, off) = (t.get(..split).unwrap_or(""), t.get(split..).unwrap_or(""));
            let b = off.as_bytes();
            let sign = match b.first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ if t.len() >= 19 => {
                    return Err(bad(
                        " (it has no time zone: add Z for UTC, or an offset like +01:00)",
                    ))
                }
                _ => return Err(bad("")),
            };
            let (h, m) = (off.get(1..3), off.get(4..6));
            let num = |x: Option<&str>| x.and_then(|x| x.parse::<i64>().ok());
            match (num(h), num(m), b.get(3)) {
                (Some(h), Some(m), Some(b':')) if h < 24 && m < 60 => {
                    (rest, sign * (h * 3600 + m * 60))
                }
                _ => return Err(bad(" (a bad zone offset)")),
            }
        }
    };
    let local =
        humantime::parse_rfc3339_weak(&format!("{utc}Z")).map_err(|e| bad(&format!(" ({e})")))?;
    // 18:00+01:00 is 17:00Z: subtract the offset.
    let shifted = if offset_s >= 0 {
        local.checked_sub(Duration::from_secs(offset_s as u64))
    } else {
        local.checked_add(Duration::from_secs(offset_s.unsigned_abs()))
    };
    shifted.ok_or_else(|| bad(" (out of range)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        StartAt::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).0
    }

    fn unix(secs: u64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn start_at_reads_rfc3339_and_unix_seconds() {
        // 2026-12-03T18:00:00Z
        let t = 1_796_320_800;
        assert_eq!(at("2026-12-03T18:00:00Z"), unix(t, 0));
        assert_eq!(at(" 2026-12-03T18:00:00z "), unix(t, 0));
        assert_eq!(at("2026-12-03T18:00:00.25Z"), unix(t, 250_000_000));
        assert_eq!(at("2026-12-03T19:00:00+01:00"), unix(t, 0));
        assert_eq!(at("2026-12-03T13:30:00.5-04:30"), unix(t, 500_000_000));
        assert_eq!(at("2026-12-03 18:00:00+00:00"), unix(t, 0));
        assert_eq!(at("1796320800"), unix(t, 0));
        assert_eq!(at("1796320800.000001"), unix(t, 1_000));
        assert_eq!(at("1796320800.5"), unix(t, 500_000_000));
        assert_eq!(StartAt(unix(t, 0)).rfc3339(), "2026-12-03T18:00:00Z");
        assert_eq!(
            StartAt(unix(t, 250_000_000)).to_string(),
            "2026-12-03T18:00:00.250Z"
        );
    }

    #[test]
    fn start_at_refuses_what_is_no_time_and_says_what_to_write() {
        for (bad, says) in [
            ("2026-12-03T18:00:00", "no time zone"),
            ("2026-12-03", "not a time"),
            ("tomorrow", "not a time"),
            ("", "not a time"),
            ("2026-13-03T18:00:00Z", "not a time"),
            ("2026-12-03T18:00:00+25:00", "bad zone offset"),
            ("1796320800.1.2", "not a time"),
            ("1796320800.1234567891", "not a time"),
            ("30", "before the year 2000"),
            ("999999999999", "after the year 9999"),
        ] {
            let e = StartAt::parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
            assert!(
                e.contains("2026-12-03T18:00:00Z") && e.contains("Unix seconds"),
                "{e}"
            );
        }
    }

    #[test]
    fn start_at_maps_onto_the_monotonic_clock_from_one_pair_of_readings() {
        let now = Instant::now();
        let wall = unix(1_796_320_800, 0);
        let ahead = StartAt(wall + Duration::from_millis(1500));
        assert_eq!(
            ahead.instant(wall, now),
            Some(now + Duration::from_millis(1500))
        );
        let past = StartAt(wall - Duration::from_millis(830));
        assert_eq!(
            past.instant(wall, now + Duration::from_secs(1)),
            Some(now + Duration::from_millis(170))
        );
        assert_eq!(StartAt(wall).instant(wall, now), Some(now));
    }

    thread_local! {
        /// A fake pair of clocks: (monotonic origin, time slept, wall step).
        static FAKE: std::cell::Cell<(Option<Instant>, Duration, Duration)> =
            const { std::cell::Cell::new((None, Duration::ZERO, Duration::ZERO)) };
    }

    /// The wall clock starts at 1796320800 and moves with the monotonic
    /// one, plus a step once set.
    fn fake_clocks() -> (SystemTime, Instant) {
        let (origin, slept, step) = FAKE.get();
        let origin = origin.expect("set by the test");
        (unix(1_796_320_800, 0) + slept + step, origin + slept)
    }

    #[tokio::test]
    async fn a_long_wait_maps_the_start_again_and_follows_a_step_of_the_wall_clock() {
        let origin = Instant::now();
        FAKE.set((Some(origin), Duration::ZERO, Duration::ZERO));
        let s = StartAt(unix(1_796_320_810, 0)); // 10 s ahead
        let mut sleeps = Vec::new();
        let at = s
            .settle(Duration::from_millis(20), fake_clocks, |until| {
                sleeps.push(until - origin);
                // NTP steps the wall clock 300 ms forward during the sleep.
                FAKE.set((Some(origin), until - origin, Duration::from_millis(300)));
                async { Ok(()) }
            })
            .await
            .unwrap();
        // Slept until a second before the wake-up, then mapped again.
        assert_eq!(sleeps, [Duration::from_millis(8_980)]);
        assert_eq!(at, origin + Duration::from_millis(9_700));
        // Near (or past): mapped at once, no sleep.
        FAKE.set((Some(origin), Duration::ZERO, Duration::ZERO));
        let near = StartAt(unix(1_796_320_801, 500_000_000));
        let at = near
            .settle(Duration::ZERO, fake_clocks, |_| async {
                anyhow::bail!("no sleep")
            })
            .await
            .unwrap();
        assert_eq!(at, origin + Duration::from_millis(1_500));
        // A sleep that ends the wait (Ctrl-C) ends it with its error.
        let e = s
            .settle(Duration::ZERO, fake_clocks, |_| async {
                anyhow::bail!("interrupted")
            })
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "interrupted");
    }
}
