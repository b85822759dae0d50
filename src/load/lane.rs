//! One lane of the open-loop driver: an OS thread with its own
//! single-threaded event loop, which sends every n-th arrival of the
//! schedule at its instant and runs those requests to their end.
//!
//! Nothing crosses threads per request: the lane's precise timer
//! (`timer.rs`), its requests and their connections share one `epoll`
//! loop, so a busy lane handles many wake-ups' worth of work in one. Its
//! requests are futures in one `FuturesUnordered`, not tasks, so a request
//! costs no spawn, and cutting them off at the end is dropping them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::client::{self, Target, Timing};
use super::generator::{Behind, Driver, GaveUp, LateShare, Live};
use super::schedule::{Schedule, Scheduled};
use super::timer::Timer;
use crate::metrics::request::{Measured, RequestResult};
use crate::metrics::Outcome;

/// Sends at most this many due arrivals per wake-up before it looks at the
/// answers that came meanwhile (far behind, every arrival is due).
const BURST: usize = 256;
/// Answers handled per wake-up at most, before the timer is looked at again.
const ANSWERS: usize = 16;
/// Results go to the recorder in batches of at most this many: one
/// wake-up of the recorder's thread per batch, not per request.
const BATCH: usize = 64;
/// A result waits at most this long in a batch (longer only while the
/// lane is busy sending, never while it sleeps).
const BATCH_AGE: Duration = Duration::from_millis(1);
/// The lane wakes to send at most once per this span: at high rates one
/// wake-up sends the arrivals that fell due within it (each a little late,
/// its lag measured like any other), instead of one wake-up, timer re-arm
/// and sleep per arrival. Arrivals further apart than this (a constant
/// rate under 4,000 rps per lane) are not touched.
const MIN_GAP: Duration = Duration::from_micros(250);

/// What every lane of one drive shares.
pub(super) struct Shared {
    /// The first lane to give up says why here, and halts the others.
    pub gave_up: Mutex<Option<GaveUp>>,
    /// Set when the run was interrupted (Ctrl-C).
    pub interrupted: AtomicBool,
    /// Turning true stops every lane's sends.
    pub halt: watch::Sender<bool>,
}

/// One lane, before it runs.
pub(super) struct Lane {
    pub index: u64,
    pub of: u64,
    pub driver: Arc<Driver>,
    /// This lane's own client: its connections live on the lane's loop.
    pub target: Target,
    pub origin: Instant,
    pub results: mpsc::Sender<Vec<RequestResult>>,
    /// Results not yet sent to the recorder, and since when the oldest
    /// waits.
    pub out: Mutex<(Vec<RequestResult>, Option<Instant>)>,
    pub live: Arc<Live>,
    pub shared: Arc<Shared>,
    /// Turning true cuts off what is still in flight.
    pub cut: watch::Receiver<bool>,
}

/// A request on its way.
struct Flight<'a> {
    a: Scheduled,
    sent_at: Instant,
    fut: Pin<Box<dyn Future<Output = (Outcome, Measured)> + Send + 'a>>,
}

impl Future for Flight<'_> {
    type Output = Done;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.fut;
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        let (outcome, m) = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(done)) => done,
            // A bug in slabench's client: the panic hook has recorded it
            // (it fails the run); the request is cut off, not counted, and
            // the lane goes on with the others.
            Err(_) => (Outcome::CutOff, Measured::default()),
        };
        Poll::Ready((self.a, self.sent_at, outcome, m))
    }
}

type Done = (Scheduled, Instant, Outcome, Measured);

/// Waits for at least one answer, and takes every one that is ready (at most
/// [`ANSWERS`]) in the same wake-up.
async fn answers(inflight: &mut FuturesUnordered<Flight<'_>>, into: &mut Vec<Done>) {
    std::future::poll_fn(|cx| {
        while into.len() < ANSWERS {
            match inflight.poll_next_unpin(cx) {
                Poll::Ready(Some(d)) => into.push(d),
                _ => break,
            }
        }
        if into.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

/// Keeps a timer on the lane's runtime that is due before any request's
/// timeout: tokio's timer wakes its event loop (an eventfd write, then a
/// read and an extra `epoll_wait`) whenever a new timer is due before every
/// other, which without this floor was every request whose lane had none
/// in flight when it last slept. Runs until the runtime is dropped.
async fn timer_floor(timeout: Duration) {
    let step = (timeout / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(step).await;
    }
}

/// Returns once the watch holds true, or its sender is gone (as
/// `wait_for` does; not `wait_for` itself, whose guard would keep the
/// lane's future from being `Send`).
async fn turned_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() || rx.changed().await.is_err() {
            return;
        }
    }
}

/// Takes the answers that are ready now (at most [`ANSWERS`]), without
/// waiting.
fn ready_answers(inflight: &mut FuturesUnordered<Flight<'_>>, into: &mut Vec<Done>) {
    let waker = futures_util::task::noop_waker_ref();
    let mut cx = Context::from_waker(waker);
    while into.len() < ANSWERS {
        match inflight.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(d)) => into.push(d),
            _ => break,
        }
    }
}

impl Lane {
    /// Runs the lane on this thread until its sends are over and its
    /// requests are answered or cut off. `sends_over` fires when it stops
    /// sending (the schedule is done, or the lanes were halted).
    pub fn run_here(self, schedule: Schedule, sends_over: oneshot::Sender<()>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        // Without a runtime the lane cannot send: dropping `sends_over`
        // tells the driver, which ends the sends like an interrupt.
        if let Ok(rt) = rt {
            // A task of the runtime, not the future `block_on` polls: waking
            // that one writes the runtime's eventfd every time (one write,
            // read and extra epoll_wait per answer), while a task woken on
            // its own thread is only queued.
            rt.spawn(timer_floor(self.target.timeout));
            let _ = rt.block_on(rt.spawn(self.run(schedule, sends_over)));
            // A name lookup still running on the blocking pool (a DNS fault)
            // must not hold up the end of the drive.
            rt.shutdown_background();
        }
    }

    async fn run(self, schedule: Schedule, sends_over: oneshot::Sender<()>) {
        let mut arrivals = self.arrivals(schedule).peekable();
        let mut inflight: FuturesUnordered<Flight<'_>> = FuturesUnordered::new();
        let mut timer = Timer::new();
        let mut behind = Behind::default();
        // The same watch over when requests really left: one that waited
        // for a connection left late although it was dispatched on time.
        let mut left_behind = LateShare::default();
        let mut sends_over = Some(sends_over);
        let (mut halt, mut cut) = (self.shared.halt.subscribe(), self.cut.clone());
        let halted = turned_true(&mut halt);
        let cutting = turned_true(&mut cut);
        tokio::pin!(halted, cutting);
        let mut done = Vec::with_capacity(ANSWERS);
        let mut sending = true;
        let mut woke = self.origin;
        loop {
            let next = if sending { arrivals.peek() } else { None };
            let deadline = next.map(|a| (self.origin + a.at).max(woke + MIN_GAP));
            self.flush_if_idle(deadline).await;
            if deadline.is_none() {
                sending = false;
                if let Some(tx) = sends_over.take() {
                    let _ = tx.send(());
                }
                if inflight.is_empty() {
                    break;
                }
            }
            // Sends first: an answer can wait a few microseconds, a send
            // that waits is lag.
            tokio::select! {
                biased;
                _ = &mut halted, if sending => sending = false,
                _ = timer.sleep_until(deadline.unwrap_or(self.origin)), if deadline.is_some() => {
                    woke = Instant::now();
                    let sent = inflight.len();
                    if let Some(g) = self.dispatch(&mut arrivals, &mut inflight, &mut behind).await {
                        self.give_up(g);
                        sending = false;
                    }
                    if inflight.len().saturating_sub(sent) >= BURST {
                        // Behind: every deadline has passed, and the timer
                        // would win every turn. Let the connections run and
                        // take the answers that came, so that they are not
                        // kept waiting (and their latency not grown) by the
                        // sends.
                        tokio::task::yield_now().await;
                        ready_answers(&mut inflight, &mut done);
                        for d in done.drain(..) {
                            if let Some(g) = self.report(d, &mut left_behind).await {
                                if sending {
                                    self.give_up(g);
                                    sending = false;
                                }
                            }
                        }
                    }
                }
                () = answers(&mut inflight, &mut done), if !inflight.is_empty() => {
                    let mut late = None;
                    for d in done.drain(..) {
                        late = late.or(self.report(d, &mut left_behind).await);
                    }
                    if let Some(g) = late.filter(|_| sending) {
                        self.give_up(g);
                        sending = false;
                    }
                }
                _ = &mut cutting => {
                    self.cut_off(&mut inflight).await;
                    break;
                }
            }
        }
        self.flush().await;
        if let Some(tx) = sends_over.take() {
            let _ = tx.send(());
        }
    }

    /// This lane's arrivals: the shard's, dealt over the lanes by their
    /// place in it.
    fn arrivals(&self, schedule: Schedule) -> impl Iterator<Item = Scheduled> {
        let (index, of, shard) = (self.index, self.of, self.driver.shard);
        shard
            .arrivals(schedule)
            .filter(move |a| shard.local(a.seq) % of == index)
    }

    /// Sends every arrival that is due (at most [`BURST`]); gives up when
    /// the lane has been behind for too long.
    async fn dispatch<'a>(
        &'a self,
        arrivals: &mut std::iter::Peekable<impl Iterator<Item = Scheduled>>,
        inflight: &mut FuturesUnordered<Flight<'a>>,
        behind: &mut Behind,
    ) -> Option<GaveUp> {
        let due = Instant::now();
        for _ in 0..BURST {
            let Some(a) = arrivals.next_if(|a| self.origin + a.at <= due) else {
                break;
            };
            // Lateness against the real clock, not the wake-up's: far
            // behind, a burst is long, and its last sends are late by it.
            let now = Instant::now();
            let lag = now.saturating_duration_since(self.origin + a.at);
            let sent = self.live.sent.load(Ordering::Relaxed);
            if let Some(g) = behind.update(now.saturating_duration_since(self.origin), lag, sent) {
                return Some(g);
            }
            self.launch(a, now, inflight).await;
        }
        None
    }

    async fn launch<'a>(
        &'a self,
        a: Scheduled,
        now: Instant,
        inflight: &mut FuturesUnordered<Flight<'a>>,
    ) {
        let live = &self.live;
        if live.in_flight.load(Ordering::Acquire) >= self.driver.max_in_flight {
            live.dropped.fetch_add(1, Ordering::Relaxed);
            let r =
                RequestResult::unanswered(a.seq, a.class, a.at, Outcome::Dropped, Duration::ZERO);
            // Waits when the recorder is behind: bounded memory, visible lag.
            self.send_result(r).await;
            return;
        }
        live.in_flight.fetch_add(1, Ordering::AcqRel);
        live.sent.fetch_add(1, Ordering::Relaxed);
        let plan = &self.driver.plans[a.class];
        let timing = Timing {
            intended_at: (self.origin + a.at).into(),
            sent_at: now.into(),
        };
        let fut = client::send(&self.target, a.seq, plan.body(a.seq), plan.stream, timing);
        inflight.push(Flight {
            a,
            sent_at: now,
            fut: Box::pin(fut),
        });
    }

    /// Sends the result on; gives up when the requests that left have been
    /// late for too long.
    async fn report(
        &self,
        (a, sent_at, outcome, m): Done,
        left_behind: &mut LateShare,
    ) -> Option<GaveUp> {
        self.live.in_flight.fetch_sub(1, Ordering::AcqRel);
        if !outcome.is_ok() {
            self.live.errors.fetch_add(1, Ordering::Relaxed);
        }
        let r = RequestResult {
            seq: a.seq,
            class: a.class,
            intended: a.at,
            // Left when it had its connection: a wait for one is lag.
            lag: sent_at.saturating_duration_since(self.origin + a.at) + m.queued,
            outcome,
            m,
        };
        let now = Instant::now().saturating_duration_since(self.origin);
        // Held while behind: what was answered, not what was queued.
        let answered = self.live.answered.fetch_add(1, Ordering::Relaxed) + 1;
        let late = left_behind.update(now, r.lag, answered);
        self.send_result(r).await;
        late
    }

    /// Everything still in flight is cut off: reported as such, and its
    /// connection closed.
    async fn cut_off(&self, inflight: &mut FuturesUnordered<Flight<'_>>) {
        let now = Instant::now();
        let cut: Vec<RequestResult> = inflight
            .iter()
            .map(|f| {
                let intended = self.origin + f.a.at;
                let mut r = RequestResult::unanswered(
                    f.a.seq,
                    f.a.class,
                    f.a.at,
                    Outcome::CutOff,
                    now.saturating_duration_since(intended),
                );
                r.lag = f.sent_at.saturating_duration_since(intended);
                r
            })
            .collect();
        inflight.clear();
        for r in cut {
            self.live.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.live.errors.fetch_add(1, Ordering::Relaxed);
            self.send_result(r).await;
        }
    }

    /// Adds a result to the batch; a full batch goes to the recorder.
    async fn send_result(&self, r: RequestResult) {
        let full = {
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            out.1.get_or_insert_with(Instant::now);
            out.0.push(r);
            out.0.len() >= BATCH
        };
        if full {
            self.flush().await;
        }
    }

    /// Sends the batch when the lane is about to sleep for a while (or
    /// stop sending), or when its oldest result has waited long enough.
    async fn flush_if_idle(&self, deadline: Option<Instant>) {
        let now = Instant::now();
        let due = match self.out.lock().unwrap_or_else(|e| e.into_inner()).1 {
            None => false,
            Some(since) => {
                now.saturating_duration_since(since) >= BATCH_AGE
                    || deadline.is_none_or(|d| d.saturating_duration_since(now) >= BATCH_AGE)
            }
        };
        if due {
            self.flush().await;
        }
    }

    /// Sends the batch to the recorder; waits when the recorder is behind
    /// (bounded memory, visible lag).
    async fn flush(&self) {
        let batch = {
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            out.1 = None;
            std::mem::replace(&mut out.0, Vec::with_capacity(BATCH))
        };
        if batch.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(b)) = self.results.try_send(batch) {
            let _ = self.results.send(b).await;
        }
    }

    fn give_up(&self, g: GaveUp) {
        let mut slot = self
            .shared
            .gave_up
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(g);
        self.shared.halt.send_replace(true);
    }
}
