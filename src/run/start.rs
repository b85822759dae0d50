//! `--start-at`: the run gets ready (output directory, stack, preflight),
//! then waits for the common t=0 that the other shards and the providers
//! share, and notes how late its load began against it.
//!
//! The wall-clock instant is mapped onto the monotonic clock from one pair
//! of readings taken together; a long wait maps it again a second before
//! the end, so that a step of the system clock meanwhile (NTP) is followed
//! (`StartAt::settle`, shared with `slabench mock`). The load is judged by how late it was
//! ready to begin: later than the lag limit, it is not sent at all (its
//! schedule would not be the one the others kept, and sending it shifted
//! would load the gateway at the wrong times), and the run is INVALID.

use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use super::RunError;
use crate::analysis::start::StartFact;
use crate::clock::StartAt;

/// How long before t=0 the run wakes: setting up the recorder and the
/// lanes then does not count as lag.
pub(super) const LEAD: Duration = Duration::from_millis(20);

/// The load's t=0.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    pub at: Instant,
    /// Its wall-clock instant (latency.hlog's start time).
    pub wall: SystemTime,
    pub start_at: Option<StartAt>,
}

impl Origin {
    /// How the load began, judged just before the lanes start: too late
    /// (beyond `limit`) means it is not sent. `None` without `--start-at`.
    pub fn began(&self, limit: Duration) -> Option<StartFact> {
        let start_at = self.start_at?;
        let late = Instant::now().saturating_duration_since(self.at);
        Some(StartFact {
            start_at: start_at.rfc3339(),
            late_ms: late.as_secs_f64() * 1000.0,
            sent: late <= limit,
        })
    }
}

/// t=0 before it is reached: its wall-clock instant is known at once, so
/// the streamed outputs are created (latency.hlog's header holds it)
/// before the wait, and a slow volume cannot make the load late.
#[derive(Debug, Clone, Copy)]
pub(super) enum Plan {
    /// Without `--start-at`: t=0 a short lead from when it was planned.
    Soon(Origin),
    /// `--start-at`: t=0 at this wall-clock instant.
    At(StartAt),
}

impl Plan {
    pub fn new(start_at: Option<StartAt>) -> Plan {
        match start_at {
            Some(s) => Plan::At(s),
            None => Plan::Soon(Origin {
                at: Instant::now() + LEAD,
                wall: SystemTime::now() + LEAD,
                start_at: None,
            }),
        }
    }

    /// The wall-clock instant of t=0.
    pub fn wall(&self) -> SystemTime {
        match self {
            Plan::Soon(o) => o.wall,
            Plan::At(s) => s.0,
        }
    }

    /// Without `--start-at`: at once. With it: waits until shortly before
    /// the instant (at once when it has passed; how late is then judged by
    /// [`Origin::began`]), mapped onto the monotonic clock as `slabench
    /// mock` maps it (`StartAt::settle`). Ctrl-C while waiting ends the run
    /// before its load.
    pub async fn reach(
        self,
        mut stop: Option<watch::Receiver<bool>>,
        quiet: bool,
    ) -> anyhow::Result<Origin> {
        let s = match self {
            Plan::Soon(o) => return Ok(o),
            Plan::At(s) => s,
        };
        if let Ok(ahead) = s.0.duration_since(SystemTime::now()) {
            if !quiet && ahead > LEAD {
                anstream::eprintln!(
                    "waiting for --start-at {s} (in {:.1} s) to start the load",
                    ahead.as_secs_f64()
                );
            }
        }
        let at = s
            .settle(LEAD, crate::clock::read_clocks, |until| {
                let mut stop = stop.clone();
                async move { sleep_or_stop(until, &mut stop).await }
            })
            .await?;
        sleep_or_stop(at.checked_sub(LEAD).unwrap_or(at), &mut stop).await?;
        Ok(Origin {
            at,
            wall: s.0,
            start_at: Some(s),
        })
    }
}

async fn sleep_or_stop(
    until: Instant,
    stop: &mut Option<watch::Receiver<bool>>,
) -> anyhow::Result<()> {
    let Some(stop) = stop else {
        tokio::time::sleep_until(until).await;
        return Ok(());
    };
    let interrupted = tokio::select! {
        _ = tokio::time::sleep_until(until) => return Ok(()),
        r = stop.wait_for(|s| *s) => r.is_ok(),
    };
    if interrupted {
        return Err(RunError::InterruptedBeforeLoad.into());
    }
    // Nobody can stop the run any more: just wait.
    tokio::time::sleep_until(until).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_start_ahead_is_waited_for_and_begins_on_time() {
        let s = StartAt(SystemTime::now() + Duration::from_millis(300));
        let before = Instant::now();
        let o = Plan::new(Some(s)).reach(None, true).await.unwrap();
        let woke = Instant::now();
        // Woken about LEAD before t=0, which is about 300 ms away.
        assert!(
            woke >= before + Duration::from_millis(250),
            "{:?}",
            woke - before
        );
        assert!(o.at > woke && o.at - woke <= LEAD + Duration::from_millis(5));
        assert!(o.at - before >= Duration::from_millis(290));
        assert!(o.at - before <= Duration::from_millis(310));
        assert_eq!(o.wall, s.0);
        tokio::time::sleep_until(o.at).await;
        let f = o.began(Duration::from_millis(50)).unwrap();
        assert!(f.sent && f.late_ms < 50.0, "{f:?}");
    }

    #[tokio::test]
    async fn a_start_already_past_is_not_sent_and_says_how_late() {
        let s = StartAt(SystemTime::now() - Duration::from_millis(830));
        let o = Plan::new(Some(s)).reach(None, true).await.unwrap();
        let f = o.began(Duration::from_millis(5)).unwrap();
        assert!(!f.sent, "{f:?}");
        assert!((830.0..2000.0).contains(&f.late_ms), "{f:?}");
        assert_eq!(f.start_at, s.rfc3339());
    }

    #[tokio::test]
    async fn ctrl_c_while_waiting_ends_the_run_before_its_load() {
        let s = StartAt(SystemTime::now() + Duration::from_secs(30));
        let (tx, rx) = watch::channel(false);
        let waiting = tokio::spawn(Plan::new(Some(s)).reach(Some(rx), true));
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(true).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the wait ends at the interrupt")
            .unwrap()
            .unwrap_err();
        assert!(matches!(
            e.downcast_ref::<RunError>(),
            Some(RunError::InterruptedBeforeLoad)
        ));
    }

    #[test]
    fn the_wall_clock_t0_is_known_before_the_wait() {
        let s = StartAt(SystemTime::now() + Duration::from_secs(60));
        assert_eq!(Plan::new(Some(s)).wall(), s.0);
        let soon = Plan::new(None);
        let Plan::Soon(o) = soon else {
            panic!("{soon:?}")
        };
        assert_eq!(soon.wall(), o.wall);
    }

    #[test]
    fn without_start_at_nothing_is_judged() {
        let o = Origin {
            at: Instant::now(),
            wall: SystemTime::now(),
            start_at: None,
        };
        assert_eq!(o.began(Duration::ZERO), None);
    }
}
