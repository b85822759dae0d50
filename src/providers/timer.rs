//! Sleeps that end within tens of microseconds of their deadline.
//!
//! tokio's timer wheel has 1 ms ticks and rounds deadlines up, and its
//! driver's poll timeout rounds up again, so `tokio::time::sleep_until` ends
//! on average about 1 ms late, up to 2 ms. A provider whose profile says
//! "100 ms" should answer at 100 ms, so answer deadlines use [`sleep_until`]:
//! tokio sleeps until 2 ms before the deadline (cheap, any number of them),
//! then one shared thread wakes the task on a condition variable with a
//! precise timeout. Only sleeps in their last 2 ms are ever in that thread's
//! heap, so its size is bounded by the request rate, not by the run length.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long before the deadline the precise thread takes over.
const HANDOVER: Duration = Duration::from_millis(2);

struct Entry {
    deadline: std::time::Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Precise {
    queue: Mutex<Queue>,
    changed: Condvar,
}

fn precise() -> &'static Precise {
    static PRECISE: OnceLock<&'static Precise> = OnceLock::new();
    PRECISE.get_or_init(|| {
        let p: &'static Precise = Box::leak(Box::new(Precise {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("slabench-timer".into())
            .spawn(move || p.run())
            .expect("starting the precise timer thread");
        p
    })
}

impl Precise {
    fn schedule(&self, deadline: std::time::Instant) -> oneshot::Receiver<()> {
        let (wake, rx) = oneshot::channel();
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = q.heap.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        q.seq += 1;
        let seq = q.seq;
        q.heap.push(Reverse(Entry {
            deadline,
            seq,
            wake,
        }));
        drop(q);
        if earliest {
            self.changed.notify_one();
        }
        rx
    }

    fn run(&self) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = std::time::Instant::now();
            while q.heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
                let Reverse(e) = q.heap.pop().expect("peeked");
                // The sleeper may be gone (its request ended); nothing to do then.
                let _ = e.wake.send(());
            }
            let wait = q
                .heap
                .peek()
                .map(|Reverse(e)| e.deadline.saturating_duration_since(now));
            q = match wait {
                None => self.changed.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some(wait) => {
                    let (q, _) = self
                        .changed
                        .wait_timeout(q, wait)
                        .unwrap_or_else(|p| p.into_inner());
                    q
                }
            };
        }
    }
}

/// Sleeps until `deadline`, ending within tens of microseconds after it.
pub async fn sleep_until(deadline: Instant) {
    let handover = deadline.checked_sub(HANDOVER).unwrap_or(deadline);
    if handover > Instant::now() {
        tokio::time::sleep_until(handover).await;
    }
    if Instant::now() >= deadline {
        return;
    }
    let _ = precise().schedule(deadline.into_std()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_never_early_and_never_stalls() {
        let start = Instant::now();
        let early: Vec<bool> =
            futures_util::future::join_all((0..50u64).rev().map(|i| async move {
                let deadline = start + Duration::from_micros(3_000 + i * 700);
                sleep_until(deadline).await;
                Instant::now() < deadline
            }))
            .await;
        assert!(
            early.iter().all(|e| !e),
            "a sleeper woke before its deadline"
        );
        // Precision is measured by `cargo bench --bench providers` (a fixed
        // 100 ms provider's p99); here only what holds on a loaded machine.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the timer thread stalled"
        );
        sleep_until(start).await; // in the past: returns at once
    }
}
