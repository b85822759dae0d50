//! The open-loop driver: sends each request at its scheduled instant.
//!
//! The schedule is split over a few lanes (`lane.rs`): lane i of n sends
//! the arrivals whose sequence number is i modulo n, each lane on its own OS
//! thread with its own event loop, precise timer and HTTP client. A slow
//! answer never delays the next send; a send that would exceed the
//! in-flight cap is counted as dropped, never skipped. The lag of a send is
//! taken when it actually leaves, so a lane that falls behind shows it.
//!
//! At the end of the schedule (or on interrupt) in-flight requests get a
//! grace period; whatever is still running then is cut off: reported, and not
//! counted towards uptime.
//!
//! Memory and time stay bounded whatever the scenario asks: results go
//! through a bounded channel (a full one makes the lanes wait, which shows
//! as lag), and a generator that stays far behind its schedule gives up
//! within two seconds instead of queueing sends it can never make, saying
//! the rate it held.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::client::Target;
use super::lane::{Lane, Shared};
use super::request::ClassPlan;
use super::schedule::Schedule;
use crate::metrics::request::RequestResult;

/// Counters shared with the live progress line.
#[derive(Debug, Default)]
pub struct Live {
    pub sent: AtomicU64,
    /// Requests answered (or failed) so far; not those cut off.
    pub answered: AtomicU64,
    pub dropped: AtomicU64,
    pub in_flight: AtomicUsize,
    pub errors: AtomicU64,
    /// Rolling p99 (µs) of the last closed second, set by the recorder.
    pub p99_us: AtomicU64,
}

/// What the driver needs besides the schedule.
pub struct Driver {
    /// One target per lane, each with its own client (see [`lanes`]).
    pub targets: Vec<Target>,
    pub plans: Vec<ClassPlan>,
    /// Which arrivals of the schedule this process sends (all of them
    /// unless the run is one shard of several).
    pub shard: super::shard::Shard,
    pub max_in_flight: usize,
    /// Grace for in-flight requests after the last send.
    pub drain: Duration,
    /// Grace for in-flight requests after an interrupt.
    pub interrupt_grace: Duration,
}

/// How many lanes to send on: one per two cores, at most 8. The other
/// half is for what the lanes talk to (the gateway and providers, in this
/// process or beside it) and the recorder: measured on 2 cores against a
/// provider on the same machine, one lane held 20,000 requests/s with a
/// lag p99 of 1.1 ms, two lanes competing with the provider for the cores
/// fell behind at 16,000.
pub fn lanes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, 8)
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
    /// Since when every send was late (since t=0).
    pub since: Duration,
    /// Requests sent (by the watch over sends) or answered (by the watch
    /// over when requests left) from `since` to `at`, by every lane: the
    /// rate this machine held while behind. Arrivals dropped at the
    /// in-flight cap are not sent; they are counted as dropped.
    pub held: u64,
}

impl GaveUp {
    /// The rate held while behind, per minute.
    pub fn held_rpm(&self) -> f64 {
        let span = self.at.saturating_sub(self.since).as_secs_f64();
        if span > 0.0 {
            self.held as f64 / span * 60.0
        } else {
            0.0
        }
    }
}

/// A send later than this counts as "behind".
pub const BEHIND_LAG: Duration = Duration::from_millis(250);
/// Behind without a break for this long, the generator gives up: a rate
/// past this machine's ceiling is noticed within two seconds of the lag
/// starting to grow.
pub const GIVE_UP_AFTER: Duration = Duration::from_millis(1500);
/// Batches of results (up to 64 each) waiting for the recorder, at most.
pub const RESULT_QUEUE: usize = 1024;

/// How the sends ended.
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
    results: mpsc::Sender<Vec<RequestResult>>,
    live: Arc<Live>,
    stop: watch::Receiver<bool>,
) -> DriveEnd {
    let (cut_tx, cut_rx) = watch::channel(false);
    let planned = Duration::from_secs_f64(schedule.curve().duration());
    let shared = Arc::new(Shared {
        gave_up: Mutex::new(None),
        interrupted: AtomicBool::new(false),
        halt: watch::channel(false).0,
    });
    let (sends, lanes) = start_lanes(&driver, &schedule, origin, &results, &live, &shared, cut_rx);
    drop(results);
    let ended = sends_end(&shared, sends, stop.clone()).await;
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
    // Cut lanes report and end promptly; wait so every result is sent. A
    // lane that died (the panic hook recorded it) has nothing to wait for.
    for lane in lanes {
        let _ = lane.await;
    }
    end
}

/// Starts one thread per lane; returns, per lane, the signal that its
/// sends are over and the signal that it has ended.
fn start_lanes(
    driver: &Arc<Driver>,
    schedule: &Schedule,
    origin: Instant,
    results: &mpsc::Sender<Vec<RequestResult>>,
    live: &Arc<Live>,
    shared: &Arc<Shared>,
    cut: watch::Receiver<bool>,
) -> (Vec<oneshot::Receiver<()>>, Vec<oneshot::Receiver<()>>) {
    let of = driver.targets.len().max(1);
    let (mut sends, mut ends) = (Vec::with_capacity(of), Vec::with_capacity(of));
    for (index, target) in driver.targets.iter().enumerate() {
        let lane = Lane {
            index: index as u64,
            of: of as u64,
            driver: driver.clone(),
            target: target.clone(),
            origin: origin.into_std(),
            results: results.clone(),
            out: Default::default(),
            live: live.clone(),
            shared: shared.clone(),
            cut: cut.clone(),
        };
        let (sends_tx, sends_rx) = oneshot::channel();
        let (end_tx, end_rx) = oneshot::channel::<()>();
        let schedule = schedule.clone();
        // A thread that cannot start drops both senders: the driver sees a
        // lane that ended at once, which ends the sends like an interrupt.
        let _ = std::thread::Builder::new()
            .name(format!("slabench-lane-{index}"))
            .spawn(move || {
                lane.run_here(schedule, sends_tx);
                drop(end_tx);
            });
        sends.push(sends_rx);
        ends.push(end_rx);
    }
    (sends, ends)
}

/// Waits until every lane has stopped sending; an interrupt (`stop`) halts
/// them all. How the sends ended: a give-up wins, then an interrupt.
async fn sends_end(
    shared: &Arc<Shared>,
    sends: Vec<oneshot::Receiver<()>>,
    mut stop: watch::Receiver<bool>,
) -> SendEnd {
    let watcher = {
        let shared = shared.clone();
        tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                shared.interrupted.store(true, Ordering::Release);
                shared.halt.send_replace(true);
            }
        })
    };
    let died = AtomicBool::new(false);
    futures_util::future::join_all(sends.into_iter().map(|rx| async {
        // A lane that died (it cannot panic by design, but if it did the
        // panic hook has recorded it) ends the sends like an interrupt.
        if rx.await.is_err() {
            died.store(true, Ordering::Release);
            shared.halt.send_replace(true);
        }
    }))
    .await;
    watcher.abort();
    let gave_up = *shared.gave_up.lock().unwrap_or_else(|e| e.into_inner());
    match gave_up {
        Some(g) => SendEnd::GaveUp(g),
        None if shared.interrupted.load(Ordering::Acquire) || died.load(Ordering::Acquire) => {
            SendEnd::Interrupted
        }
        None => SendEnd::Done,
    }
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

/// Tracks how long the sends have been late without a break.
#[derive(Debug, Default)]
pub(super) struct Behind {
    /// Since when (on the run clock) every send was later than
    /// [`BEHIND_LAG`], and how many had been sent by then (every lane).
    since: Option<(Duration, u64)>,
}

impl Behind {
    /// Takes one send's lag at `now` (since t=0), with `sent` requests
    /// sent so far by every lane; gives up after [`GIVE_UP_AFTER`] behind
    /// without a break.
    pub(super) fn update(&mut self, now: Duration, lag: Duration, sent: u64) -> Option<GaveUp> {
        if lag <= BEHIND_LAG {
            self.since = None;
            return None;
        }
        let (since, sent_then) = *self.since.get_or_insert((now, sent));
        (now.saturating_sub(since) >= GIVE_UP_AFTER).then_some(GaveUp {
            at: now,
            lag,
            since,
            held: sent.saturating_sub(sent_then),
        })
    }
}

/// Slots of [`LateShare`], each a quarter of a second: six make
/// [`GIVE_UP_AFTER`].
const SLOTS: usize = 6;
const SLOT_MS: u128 = 250;

/// The watch over when requests really left, which is in completion order
/// and mixed: in a backlog some still leave on time (they found a free
/// connection as they came). Behind when, in every quarter second of the
/// last 1.5 s, at least half of the requests that left were more than
/// [`BEHIND_LAG`] late.
#[derive(Debug, Default)]
pub(super) struct LateShare {
    /// Per slot: its index (since t=0), requests, late ones, and how many
    /// had been sent when it began.
    slots: [(u64, u32, u32, u64); SLOTS],
}

impl LateShare {
    pub(super) fn update(&mut self, now: Duration, lag: Duration, sent: u64) -> Option<GaveUp> {
        let idx = (now.as_millis() / SLOT_MS) as u64 + 1;
        let slot = &mut self.slots[idx as usize % SLOTS];
        if slot.0 != idx {
            *slot = (idx, 0, 0, sent);
        }
        slot.1 += 1;
        if lag > BEHIND_LAG {
            slot.2 += 1;
        }
        let oldest = idx.checked_sub(SLOTS as u64 - 1)?;
        let behind = (oldest..=idx).all(|i| {
            let s = self.slots[i as usize % SLOTS];
            s.0 == i && s.1 > 0 && s.2 * 2 >= s.1
        });
        let since = self.slots[oldest as usize % SLOTS];
        behind.then(|| GaveUp {
            at: now,
            lag,
            since: Duration::from_millis(((oldest - 1) as u128 * SLOT_MS) as u64),
            held: sent.saturating_sub(since.3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_backlog_where_half_leave_late_for_one_and_a_half_seconds_gives_up() {
        let mut w = LateShare::default();
        // Every quarter second: three late, two on time (a backlog that some
        // requests skip), from t=1 s; the first full 1.5 s ends at 2.5 s.
        let mut sent = 0;
        let mut gave_up = None;
        for q in 4..11u64 {
            for k in 0..5u64 {
                sent += 10;
                let lag = if k < 3 { ms(400) } else { ms(1) };
                if let Some(g) = w.update(ms(q * 250 + k * 40), lag, sent) {
                    gave_up.get_or_insert(g);
                }
            }
        }
        let g = gave_up.expect("gave up");
        assert!(g.at >= ms(2250) && g.at < ms(2500), "{g:?}");
        assert_eq!(g.since, ms(1000));
        // A quarter second where most left on time breaks it.
        let mut w = LateShare::default();
        for q in 4..11u64 {
            for k in 0..5u64 {
                let lag = if q == 7 || k >= 3 { ms(1) } else { ms(400) };
                assert_eq!(w.update(ms(q * 250 + k * 40), lag, 0), None);
            }
        }
    }

    #[test]
    fn gives_up_only_after_being_behind_without_a_break() {
        let mut b = Behind::default();
        // A stall of a second, then caught up: no give-up.
        assert_eq!(b.update(ms(1000), ms(300), 10), None);
        assert_eq!(b.update(ms(2000), ms(1200), 20), None);
        assert_eq!(b.update(ms(2100), ms(10), 30), None);
        // Behind again from 5 s (400 sent by then); still behind at 6.4 s
        // and at 6.5 s, 1,100 sent: 700 in 1.5 s held.
        assert_eq!(b.update(ms(5000), ms(400), 400), None);
        assert_eq!(b.update(ms(6400), ms(900), 1000), None);
        let g = b.update(ms(6500), ms(1000), 1100).expect("gave up");
        assert_eq!(
            g,
            GaveUp {
                at: ms(6500),
                lag: ms(1000),
                since: ms(5000),
                held: 700,
            }
        );
        assert!((g.held_rpm() - 28_000.0).abs() < 1e-6);
    }
}

#[cfg(test)]
#[path = "drive_tests.rs"]
mod drive_tests;
