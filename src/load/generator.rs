//! The open-loop driver: sends each request at its scheduled instant.
//!
//! The send loop runs on its own OS thread and sleeps to absolute deadlines
//! with `std::thread::sleep` (a high-resolution timer: tens of µs late,
//! where tokio's timer wheel is up to 1 ms late, which alone would put the
//! schedule lag p99 near 1 ms). On every wake-up it sends every arrival that
//! is already due. Requests run as tasks on the tokio runtime, so a slow
//! answer never delays the next send. A send that would exceed the in-flight
//! cap is counted as dropped, never skipped.
//!
//! At the end of the schedule (or on interrupt) in-flight requests get a
//! grace period; whatever is still running then is cut off: reported, and not
//! counted towards uptime.
//!
//! Memory and time stay bounded whatever the scenario asks: results go
//! through a bounded channel (a full one makes the send thread wait, which
//! shows as lag), and a generator that stays far behind its schedule gives
//! up within seconds instead of queueing sends it can never make.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::client::{self, Target, Timing};
use super::request::ClassPlan;
use super::schedule::Schedule;
use crate::metrics::request::RequestResult;
use crate::metrics::Outcome;

/// Counters shared with the live progress line.
#[derive(Debug, Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub in_flight: AtomicUsize,
    pub errors: AtomicU64,
    /// Rolling p99 (µs) of the last closed second, set by the recorder.
    pub p99_us: AtomicU64,
}

/// What the driver needs besides the schedule.
pub struct Driver {
    pub target: Target,
    pub plans: Vec<ClassPlan>,
    pub max_in_flight: usize,
    /// Grace for in-flight requests after the last send.
    pub drain: Duration,
    /// Grace for in-flight requests after an interrupt.
    pub interrupt_grace: Duration,
}

/// How the drive ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriveEnd {
    pub interrupted: bool,
    /// When the last send left or would have (seconds since t=0).
    pub send_span: Duration,
    /// Requests in flight when the interrupt stopped the sends.
    pub in_flight_at_interrupt: Option<u64>,
    /// Set when the generator fell behind for good and stopped early.
    pub gave_up: Option<GaveUp>,
}

/// The generator stayed behind its schedule and stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp {
    /// When it stopped (since t=0).
    pub at: Duration,
    /// How late the send it gave up on was.
    pub lag: Duration,
}

/// A send later than this counts as "behind".
pub const BEHIND_LAG: Duration = Duration::from_millis(250);
/// Behind without a break for this long, the generator gives up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3);
/// Results waiting for the recorder, at most.
pub const RESULT_QUEUE: usize = 65_536;

/// How the send loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendEnd {
    Done,
    Interrupted,
    GaveUp(GaveUp),
}

/// Runs the schedule from `origin` (t=0). Results go to `results`; `stop`
/// turning true stops new sends (interrupt).
pub async fn drive(
    driver: Arc<Driver>,
    schedule: Schedule,
    origin: Instant,
    results: mpsc::Sender<RequestResult>,
    live: Arc<Live>,
    stop: watch::Receiver<bool>,
) -> DriveEnd {
    let (cut_tx, cut_rx) = watch::channel(false);
    let planned = Duration::from_secs_f64(schedule.curve().duration());
    let sender = Sender {
        driver: driver.clone(),
        handle: tokio::runtime::Handle::current(),
        origin,
        results,
        live: live.clone(),
        cut: cut_rx,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let ended = send_all(sender, schedule, stop.clone()).await;
    let mut end = DriveEnd {
        interrupted: ended == SendEnd::Interrupted,
        send_span: match ended {
            SendEnd::Done => planned,
            SendEnd::Interrupted => Instant::now()
                .saturating_duration_since(origin)
                .min(planned),
            SendEnd::GaveUp(g) => g.at.min(planned),
        },
        in_flight_at_interrupt: None,
        gave_up: match ended {
            SendEnd::GaveUp(g) => Some(g),
            _ => None,
        },
    };
    if end.interrupted {
        end.in_flight_at_interrupt = Some(live.in_flight.load(Ordering::Acquire) as u64);
    }
    drain(&driver, &live, stop, &mut end).await;
    let _ = cut_tx.send(true);
    // Cut tasks report and exit promptly; wait so every result is sent.
    while live.in_flight.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    end
}

/// Runs the send thread over the whole schedule; `stop` turning true
/// raises its stop flag.
async fn send_all(sender: Sender, schedule: Schedule, stop: watch::Receiver<bool>) -> SendEnd {
    let watcher = {
        let (flag, mut stop) = (sender.stop.clone(), stop);
        tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                flag.store(true, Ordering::Release);
            }
        })
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("slabench-send".into())
        .spawn(move || {
            let _ = done_tx.send(sender.run(schedule));
        })
        .expect("spawning the send thread");
    // A send thread that died (it cannot panic by design, but if it did the
    // panic hook has recorded it) ends the sends like an interrupt.
    let ended = done_rx.await.unwrap_or(SendEnd::Interrupted);
    watcher.abort();
    ended
}

/// Lets in-flight requests finish: for the drain after a complete
/// schedule, for the interrupt grace after an interrupt or a give-up. An
/// interrupt during the drain shortens it to the interrupt grace; the next
/// one ends it at once. (A closed channel is not an interrupt.)
async fn drain(driver: &Driver, live: &Live, mut stop: watch::Receiver<bool>, end: &mut DriveEnd) {
    let in_flight = || live.in_flight.load(Ordering::Acquire);
    let grace = if end.interrupted || end.gave_up.is_some() {
        driver.interrupt_grace
    } else {
        driver.drain
    };
    let mut grace_end = Instant::now() + grace;
    let mut signals = u32::from(end.interrupted);
    // An interrupt that arrived as the sends ended counts; later ones are
    // seen through `changed` below.
    let interrupt = |end: &mut DriveEnd, signals: &mut u32, grace_end: &mut Instant| {
        *signals += 1;
        if !end.interrupted {
            end.interrupted = true;
            end.in_flight_at_interrupt = Some(in_flight() as u64);
        }
        let grace = if *signals > 1 {
            Duration::ZERO
        } else {
            driver.interrupt_grace
        };
        *grace_end = (*grace_end).min(Instant::now() + grace);
    };
    if *stop.borrow_and_update() && !end.interrupted {
        interrupt(end, &mut signals, &mut grace_end);
    }
    while in_flight() > 0 && Instant::now() < grace_end {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            Ok(_) = stop.changed() => {
                if *stop.borrow_and_update() {
                    interrupt(end, &mut signals, &mut grace_end);
                }
            }
        }
    }
}

/// The send loop's state, owned by the send thread.
struct Sender {
    driver: Arc<Driver>,
    handle: tokio::runtime::Handle,
    origin: Instant,
    results: mpsc::Sender<RequestResult>,
    live: Arc<Live>,
    cut: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
}

/// The longest the send thread sleeps before looking at the stop flag again.
const STOP_POLL: Duration = Duration::from_millis(20);

impl Sender {
    /// Sends the whole schedule, unless interrupted or hopelessly behind.
    fn run(self, schedule: Schedule) -> SendEnd {
        let origin = self.origin.into_std();
        let mut schedule = schedule.peekable();
        let mut behind = Behind::default();
        while let Some(next) = schedule.peek() {
            let deadline = origin + next.at;
            loop {
                if self.stop.load(Ordering::Acquire) {
                    return SendEnd::Interrupted;
                }
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep((deadline - now).min(STOP_POLL));
            }
            let now = std::time::Instant::now();
            let mut burst = 0u32;
            while let Some(a) = schedule.next_if(|a| origin + a.at <= now) {
                // Lateness against the real clock, not the burst's start:
                // far behind, a burst is long, and its last sends are late
                // by the whole burst.
                let at = std::time::Instant::now();
                let lag = at.saturating_duration_since(origin + a.at);
                if let Some(g) = behind.update(at.saturating_duration_since(origin), lag) {
                    return SendEnd::GaveUp(g);
                }
                self.launch(a);
                // A burst of due sends can be long when far behind: look at
                // the stop flag now and then inside it too.
                burst = burst.wrapping_add(1);
                if burst.is_multiple_of(1024) && self.stop.load(Ordering::Acquire) {
                    return SendEnd::Interrupted;
                }
            }
        }
        SendEnd::Done
    }

    fn launch(&self, a: super::schedule::Scheduled) {
        let (driver, origin, results, live, cut) = (
            &self.driver,
            self.origin,
            &self.results,
            &self.live,
            &self.cut,
        );
        let intended_at = origin + a.at;
        if live.in_flight.load(Ordering::Acquire) >= driver.max_in_flight {
            live.dropped.fetch_add(1, Ordering::Relaxed);
            let r =
                RequestResult::unanswered(a.seq, a.class, a.at, Outcome::Dropped, Duration::ZERO);
            // Waits when the recorder is behind: bounded memory, visible lag.
            let _ = results.blocking_send(r);
            return;
        }
        live.in_flight.fetch_add(1, Ordering::AcqRel);
        live.sent.fetch_add(1, Ordering::Relaxed);
        let (driver, results, live, mut cut) =
            (driver.clone(), results.clone(), live.clone(), cut.clone());
        // Leaves the in-flight count when the task ends, also by a panic
        // (recorded by the panic hook), so the drain never waits for ever.
        let in_flight = InFlight(live.clone());
        self.handle.spawn(async move {
        let _in_flight = in_flight;
        // The lag is taken when the request task actually runs: that is when
        // the request leaves.
        let sent_at = Instant::now();
        let plan = &driver.plans[a.class];
        let body = plan.body(a.seq);
        let timing = Timing { intended_at, sent_at };
        let result = tokio::select! {
            (outcome, m) = client::send(&driver.target, a.seq, body, plan.stream, timing) => RequestResult {
                seq: a.seq,
                class: a.class,
                intended: a.at,
                lag: sent_at.saturating_duration_since(intended_at),
                outcome,
                m,
            },
            _ = cut.wait_for(|c| *c) => {
                let mut r = RequestResult::unanswered(a.seq, a.class, a.at, Outcome::CutOff, Instant::now() - intended_at);
                r.lag = sent_at.saturating_duration_since(intended_at);
                r
            }
        };
        if !result.outcome.is_ok() {
            live.errors.fetch_add(1, Ordering::Relaxed);
        }
        let _ = results.send(result).await;
    });
    }
}

/// One request's place in the in-flight count, given back on drop.
struct InFlight(Arc<Live>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Tracks how long the sends have been late without a break.
#[derive(Debug, Default)]
struct Behind {
    /// Since when (on the run clock) every send was later than [`BEHIND_LAG`].
    since: Option<Duration>,
}

impl Behind {
    /// Takes one send's lag at `now` (since t=0); gives up after
    /// [`GIVE_UP_AFTER`] behind without a break.
    fn update(&mut self, now: Duration, lag: Duration) -> Option<GaveUp> {
        if lag <= BEHIND_LAG {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        (now.saturating_sub(since) >= GIVE_UP_AFTER).then_some(GaveUp { at: now, lag })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_request_task_that_panics_leaves_the_in_flight_count() {
        let live = Arc::new(Live::default());
        live.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(live.clone());
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("a request task's bug");
        }));
        assert_eq!(live.in_flight.load(Ordering::Acquire), 0);
    }

    #[test]
    fn gives_up_only_after_being_behind_without_a_break() {
        let mut b = Behind::default();
        // A stall of two seconds, then caught up: no give-up.
        assert_eq!(b.update(ms(1000), ms(300)), None);
        assert_eq!(b.update(ms(3000), ms(2000)), None);
        assert_eq!(b.update(ms(3100), ms(10)), None);
        // Behind again from 5 s; still behind at 7.9 s and at 8 s.
        assert_eq!(b.update(ms(5000), ms(400)), None);
        assert_eq!(b.update(ms(7900), ms(3000)), None);
        assert_eq!(
            b.update(ms(8000), ms(3100)),
            Some(GaveUp {
                at: ms(8000),
                lag: ms(3100)
            })
        );
    }
}
