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

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::client::{self, RequestResult, Target, Timing};
use super::request::ClassPlan;
use super::schedule::Schedule;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriveEnd {
    pub interrupted: bool,
    /// When the last send left or would have (seconds since t=0).
    pub send_span: Duration,
}

/// Runs the schedule from `origin` (t=0). Results go to `results`; `stop`
/// turning true stops new sends (interrupt).
pub async fn drive(
    driver: Arc<Driver>,
    schedule: Schedule,
    origin: Instant,
    results: mpsc::UnboundedSender<RequestResult>,
    live: Arc<Live>,
    mut stop: watch::Receiver<bool>,
) -> DriveEnd {
    let (cut_tx, cut_rx) = watch::channel(false);
    let planned = Duration::from_secs_f64(schedule.curve().duration());
    let stop_flag = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (flag, mut stop) = (stop_flag.clone(), stop.clone());
        tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                flag.store(true, Ordering::Release);
            }
        })
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sender = Sender {
        driver: driver.clone(),
        handle: tokio::runtime::Handle::current(),
        origin,
        results,
        live: live.clone(),
        cut: cut_rx,
        stop: stop_flag,
    };
    std::thread::Builder::new()
        .name("slabench-send".into())
        .spawn(move || {
            let _ = done_tx.send(sender.run(schedule));
        })
        .expect("spawning the send thread");
    let mut interrupted = done_rx.await.unwrap_or(true);
    watcher.abort();
    let send_span = if interrupted {
        Instant::now()
            .saturating_duration_since(origin)
            .min(planned)
    } else {
        planned
    };

    let grace = if interrupted {
        driver.interrupt_grace
    } else {
        driver.drain
    };
    let mut grace_end = Instant::now() + grace;
    while live.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < grace_end {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            // An interrupt during the drain shortens it to the interrupt grace.
            // (A closed channel is not an interrupt.)
            Ok(_) = stop.wait_for(|s| *s), if !interrupted => {
                interrupted = true;
                grace_end = grace_end.min(Instant::now() + driver.interrupt_grace);
            }
        }
    }
    let _ = cut_tx.send(true);
    // Cut tasks report and exit promptly; wait so every result is sent.
    while live.in_flight.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    DriveEnd {
        interrupted,
        send_span,
    }
}

/// The send loop's state, owned by the send thread.
struct Sender {
    driver: Arc<Driver>,
    handle: tokio::runtime::Handle,
    origin: Instant,
    results: mpsc::UnboundedSender<RequestResult>,
    live: Arc<Live>,
    cut: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
}

/// The longest the send thread sleeps before looking at the stop flag again.
const STOP_POLL: Duration = Duration::from_millis(20);

impl Sender {
    /// Sends the whole schedule; returns whether it was interrupted.
    fn run(self, schedule: Schedule) -> bool {
        let origin = self.origin.into_std();
        let mut schedule = schedule.peekable();
        while let Some(next) = schedule.peek() {
            let deadline = origin + next.at;
            loop {
                if self.stop.load(Ordering::Acquire) {
                    return true;
                }
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep((deadline - now).min(STOP_POLL));
            }
            let now = std::time::Instant::now();
            while let Some(a) = schedule.next_if(|a| origin + a.at <= now) {
                self.launch(a);
            }
        }
        false
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
            let _ = results.send(r);
            return;
        }
        live.in_flight.fetch_add(1, Ordering::AcqRel);
        live.sent.fetch_add(1, Ordering::Relaxed);
        let (driver, results, live, mut cut) =
            (driver.clone(), results.clone(), live.clone(), cut.clone());
        self.handle.spawn(async move {
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
        let _ = results.send(result);
        live.in_flight.fetch_sub(1, Ordering::AcqRel);
    });
    }
}
