//! A sleep to an exact instant inside a lane's event loop.
//!
//! tokio's timer wheel has a resolution of one millisecond: a request sent
//! on it leaves up to a millisecond late, which alone would put the
//! schedule lag p99 near 1 ms. On Linux a lane sleeps on a `timerfd`
//! instead, registered with the lane's reactor: it wakes the same
//! `epoll_wait` that delivers the lane's answers, to within tens of
//! microseconds, without a thread of its own or a wake-up across threads.
//! Elsewhere it falls back to tokio's timer.

use std::time::Instant;

/// One lane's timer. Re-arming it for a new deadline replaces the old one.
pub struct Timer {
    /// `None` when no timerfd could be made (out of descriptors): then
    /// tokio's coarser timer.
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    /// The deadline the timer is armed for, if any.
    #[cfg(target_os = "linux")]
    armed: Option<Instant>,
}

#[cfg(target_os = "linux")]
impl Timer {
    /// A timer on the current runtime's reactor.
    pub fn new() -> Timer {
        Timer {
            fd: Self::timerfd().ok(),
            armed: None,
        }
    }

    fn timerfd() -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
        use std::os::fd::FromRawFd;
        // SAFETY: a plain syscall; the descriptor is owned at once below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: `owned` is an open timerfd, owned by the AsyncFd from here
        // on and never replaced.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
        };
        Ok(fd?)
    }

    /// Returns at `deadline` (at once if it has passed). Cancel-safe: a
    /// dropped wait leaves the timer armed, and the next wait for the same
    /// deadline goes on where it left off.
    pub async fn sleep_until(&mut self, deadline: Instant) {
        let Some(fd) = &self.fd else {
            return tokio::time::sleep_until(deadline.into()).await;
        };
        if self.armed != Some(deadline) {
            let now = Instant::now();
            if deadline <= now {
                return;
            }
            if arm(fd, deadline - now).is_err() {
                // Cannot happen with a valid descriptor and duration; a
                // coarse sleep is still a sleep.
                return tokio::time::sleep_until(deadline.into()).await;
            }
            self.armed = Some(deadline);
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return tokio::time::sleep_until(deadline.into()).await;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a buffer of 8.
            let n = unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(ready.get_inner()),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                self.armed = None;
                return;
            }
            // Not expired yet (a stale readiness): wait again.
            ready.clear_ready();
        }
    }
}

#[cfg(target_os = "linux")]
fn arm(
    fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    after: std::time::Duration,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // A zero it_value would disarm the timer: wait at least 1 ns.
    let after = after.max(std::time::Duration::from_nanos(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: a valid descriptor and a valid itimerspec.
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
impl Timer {
    pub fn new() -> Timer {
        Timer {}
    }

    pub async fn sleep_until(&mut self, deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_at_the_deadline_and_not_before() {
        let mut timer = Timer::new();
        for ms in [1u64, 3, 7] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            timer.sleep_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "woke {:?} early", deadline - now);
            // Bound, not a timing: a loaded machine may be late, not by a second.
            assert!(now - deadline < Duration::from_secs(1));
        }
        // A deadline in the past returns at once.
        timer.sleep_until(Instant::now()).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_wait_does_not_wake_the_next_one_early() {
        let mut timer = Timer::new();
        let far = Instant::now() + Duration::from_millis(2);
        // Cancelled before the deadline.
        let _ = tokio::time::timeout(Duration::from_micros(10), timer.sleep_until(far)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        // The old deadline fired meanwhile; a new, later one must still wait.
        let later = Instant::now() + Duration::from_millis(5);
        timer.sleep_until(later).await;
        assert!(Instant::now() >= later);
    }
}
