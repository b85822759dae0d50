//! Breaker state-machine tests on synthetic instants: each transition by
//! hand, then every short event sequence against a naive reference model.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn policy() -> BreakerPolicy {
    BreakerPolicy {
        enabled: true,
        failures: 3,
        failure_rate: None,
        min_requests: 1,
        window: 1000 * MS,
        cool_off: 500 * MS,
        half_open_probes: 1,
    }
}

/// Records one attempt's result, asserting that it was admitted.
fn attempt(b: &mut Breaker, now: Instant, ok: bool) {
    let t = b.admit(now).expect("admitted");
    b.record(now, t, ok);
}

fn opened(p: &BreakerPolicy, t0: Instant) -> Breaker {
    let mut b = Breaker::new(p, t0);
    for _ in 0..p.failures {
        attempt(&mut b, t0, false);
    }
    assert_eq!(b.state(t0), BreakerState::Open);
    b
}

#[test]
fn opens_when_failures_in_window_reach_the_count() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&policy(), t0);
    attempt(&mut b, t0, false);
    attempt(&mut b, t0, true);
    attempt(&mut b, t0 + 10 * MS, false);
    assert_eq!(b.state(t0 + 10 * MS), BreakerState::Closed);
    attempt(&mut b, t0 + 20 * MS, false);
    assert_eq!(b.state(t0 + 20 * MS), BreakerState::Open);
    assert_eq!(b.admit(t0 + 20 * MS), None);
}

#[test]
fn failures_older_than_the_window_expire() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&policy(), t0);
    attempt(&mut b, t0, false);
    attempt(&mut b, t0, false);
    // One full window later both have slid out.
    attempt(&mut b, t0 + 1000 * MS, false);
    attempt(&mut b, t0 + 1000 * MS, false);
    assert_eq!(b.state(t0 + 1000 * MS), BreakerState::Closed);
    attempt(&mut b, t0 + 1001 * MS, false);
    assert_eq!(b.state(t0 + 1001 * MS), BreakerState::Open);
}

#[test]
fn failures_within_nine_tenths_of_the_window_still_count() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&policy(), t0);
    attempt(&mut b, t0 + 99 * MS, false);
    attempt(&mut b, t0 + 500 * MS, false);
    attempt(&mut b, t0 + 999 * MS, false);
    assert_eq!(b.state(t0 + 999 * MS), BreakerState::Open);
}

#[test]
fn rate_rule_waits_for_min_requests() {
    let p = BreakerPolicy {
        failures: 0,
        failure_rate: Some(0.5),
        min_requests: 4,
        ..policy()
    };
    let t0 = Instant::now();
    let mut b = Breaker::new(&p, t0);
    attempt(&mut b, t0, false);
    attempt(&mut b, t0, false);
    attempt(&mut b, t0, true);
    assert_eq!(
        b.state(t0),
        BreakerState::Closed,
        "3 attempts < min_requests"
    );
    attempt(&mut b, t0, true);
    assert_eq!(b.state(t0), BreakerState::Closed, "a success never trips");
    attempt(&mut b, t0, false);
    assert_eq!(b.state(t0), BreakerState::Open, "3 of 5 failed ≥ 50%");
}

#[test]
fn rate_rule_below_the_rate_stays_closed() {
    let p = BreakerPolicy {
        failures: 100,
        failure_rate: Some(0.5),
        min_requests: 2,
        ..policy()
    };
    let t0 = Instant::now();
    let mut b = Breaker::new(&p, t0);
    for _ in 0..10 {
        attempt(&mut b, t0, true);
        attempt(&mut b, t0, true);
        attempt(&mut b, t0, false);
    }
    assert_eq!(b.state(t0), BreakerState::Closed);
}

#[test]
fn open_rejects_until_cool_off_then_admits_a_probe() {
    let t0 = Instant::now();
    let mut b = opened(&policy(), t0);
    assert_eq!(b.admit(t0 + 499 * MS), None);
    assert_eq!(b.state(t0 + 500 * MS), BreakerState::HalfOpen);
    let probe = b.admit(t0 + 500 * MS).expect("probe");
    assert!(probe.is_probe());
    assert_eq!(b.admit(t0 + 501 * MS), None, "one probe at a time");
}

#[test]
fn probe_success_closes_with_a_fresh_window() {
    let t0 = Instant::now();
    let mut b = opened(&policy(), t0);
    let probe = b.admit(t0 + 500 * MS).unwrap();
    b.record(t0 + 600 * MS, probe, true);
    assert_eq!(b.state(t0 + 600 * MS), BreakerState::Closed);
    // The failures that opened it do not count again.
    attempt(&mut b, t0 + 601 * MS, false);
    attempt(&mut b, t0 + 601 * MS, false);
    assert_eq!(b.state(t0 + 601 * MS), BreakerState::Closed);
}

#[test]
fn probe_failure_reopens_for_a_full_cool_off() {
    let t0 = Instant::now();
    let mut b = opened(&policy(), t0);
    let probe = b.admit(t0 + 500 * MS).unwrap();
    b.record(t0 + 700 * MS, probe, false);
    assert_eq!(b.state(t0 + 700 * MS), BreakerState::Open);
    assert_eq!(b.admit(t0 + 1199 * MS), None);
    assert!(b.admit(t0 + 1200 * MS).unwrap().is_probe());
}

#[test]
fn several_probes_run_concurrently_and_all_must_succeed() {
    let p = BreakerPolicy {
        half_open_probes: 3,
        ..policy()
    };
    let t0 = Instant::now();
    let mut b = opened(&p, t0);
    let t1 = t0 + 500 * MS;
    let probes: Vec<_> = (0..3).map(|_| b.admit(t1).expect("probe")).collect();
    assert_eq!(b.admit(t1), None, "all three slots taken");
    b.record(t1, probes[0], true);
    assert_eq!(b.admit(t1), None, "successes + in flight already reach 3");
    b.record(t1, probes[1], true);
    assert_eq!(b.state(t1), BreakerState::HalfOpen);
    b.record(t1, probes[2], true);
    assert_eq!(b.state(t1), BreakerState::Closed);
}

#[test]
fn one_failed_probe_among_several_reopens_and_late_probes_are_ignored() {
    let p = BreakerPolicy {
        half_open_probes: 2,
        ..policy()
    };
    let t0 = Instant::now();
    let mut b = opened(&p, t0);
    let t1 = t0 + 500 * MS;
    let (a, c) = (b.admit(t1).unwrap(), b.admit(t1).unwrap());
    b.record(t1, a, false);
    assert_eq!(b.state(t1), BreakerState::Open);
    b.record(t1 + 600 * MS, c, true);
    assert_eq!(
        b.state(t1 + 600 * MS),
        BreakerState::HalfOpen,
        "late success ignored"
    );
    let again = b.admit(t1 + 600 * MS).unwrap();
    b.record(t1 + 600 * MS, again, true);
    assert_eq!(b.state(t1 + 600 * MS), BreakerState::HalfOpen, "needs 2");
}

#[test]
fn results_in_flight_when_it_opened_are_ignored() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&policy(), t0);
    let stragglers: Vec<_> = (0..5).map(|_| b.admit(t0).unwrap()).collect();
    for _ in 0..3 {
        attempt(&mut b, t0, false);
    }
    for t in stragglers {
        b.record(t0 + MS, t, false);
    }
    let probe = b.admit(t0 + 500 * MS).unwrap();
    b.record(t0 + 500 * MS, probe, true);
    assert_eq!(b.state(t0 + 500 * MS), BreakerState::Closed);
}

#[test]
fn a_cancelled_probe_frees_its_slot() {
    let t0 = Instant::now();
    let mut b = opened(&policy(), t0);
    let probe = b.admit(t0 + 500 * MS).unwrap();
    b.cancel(probe);
    assert_eq!(b.state(t0 + 500 * MS), BreakerState::HalfOpen);
    assert!(b.admit(t0 + 500 * MS).is_some());
}

#[test]
fn disabled_breaker_always_admits() {
    let p = BreakerPolicy {
        enabled: false,
        ..policy()
    };
    let t0 = Instant::now();
    let mut b = Breaker::new(&p, t0);
    for _ in 0..100 {
        attempt(&mut b, t0, false);
    }
    assert_eq!(b.state(t0), BreakerState::Closed);
}

#[test]
fn memory_does_not_grow_with_traffic() {
    let t0 = Instant::now();
    let mut b = Breaker::new(
        &BreakerPolicy {
            failures: 0,
            ..policy()
        },
        t0,
    );
    for i in 0..100_000u64 {
        attempt(&mut b, t0 + Duration::from_micros(i * 37), i % 7 != 0);
    }
    assert_eq!(b.window.buckets.len(), WINDOW_BUCKETS);
}

// ---- exhaustive comparison with a reference model ----------------------

/// The breaker as the brief describes it, with none of the engineering: a
/// list of every result instead of buckets, a set of live tickets instead of
/// generations. Times in the exhaustive test are multiples of one bucket, so
/// the exact window and the bucketed one agree.
#[derive(Clone)]
struct Model {
    p: BreakerPolicy,
    state: ModelState,
    live: Vec<u64>,
    next_id: u64,
}

#[derive(Clone)]
enum ModelState {
    Closed(Vec<(Instant, bool)>),
    Open(Instant),
    HalfOpen { in_flight: u32, successes: u32 },
}

impl Model {
    fn new(p: BreakerPolicy) -> Self {
        Model {
            p,
            state: ModelState::Closed(Vec::new()),
            live: Vec::new(),
            next_id: 0,
        }
    }

    fn view(&self, now: Instant) -> BreakerState {
        match self.state {
            ModelState::Closed(_) => BreakerState::Closed,
            ModelState::Open(until) if now < until => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    fn admit(&mut self, now: Instant) -> Option<(u64, bool)> {
        if let ModelState::Open(until) = self.state {
            if now < until {
                return None;
            }
            self.state = ModelState::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
        }
        let probe = match &mut self.state {
            ModelState::HalfOpen {
                in_flight,
                successes,
            } => {
                if *in_flight + *successes >= self.p.half_open_probes {
                    return None;
                }
                *in_flight += 1;
                true
            }
            _ => false,
        };
        self.next_id += 1;
        self.live.push(self.next_id);
        Some((self.next_id, probe))
    }

    fn take(&mut self, id: u64) -> bool {
        let before = self.live.len();
        self.live.retain(|&l| l != id);
        self.live.len() != before
    }

    fn transition(&mut self, state: ModelState) {
        self.state = state;
        self.live.clear();
    }

    fn record(&mut self, now: Instant, id: u64, ok: bool) {
        if !self.take(id) {
            return;
        }
        let p = self.p.clone();
        match &mut self.state {
            ModelState::Closed(results) => {
                results.push((now, ok));
                let recent: Vec<bool> = results
                    .iter()
                    .filter(|(t, _)| now.duration_since(*t) < p.window)
                    .map(|(_, ok)| *ok)
                    .collect();
                let failed = recent.iter().filter(|ok| !**ok).count() as f64;
                let total = recent.len() as f64;
                let by_count = p.failures > 0 && failed >= f64::from(p.failures);
                let by_rate = p
                    .failure_rate
                    .is_some_and(|r| total >= f64::from(p.min_requests) && failed >= r * total);
                if !ok && (by_count || by_rate) {
                    self.transition(ModelState::Open(now + p.cool_off));
                }
            }
            ModelState::HalfOpen {
                in_flight,
                successes,
            } => {
                *in_flight -= 1;
                *successes += u32::from(ok);
                if !ok {
                    self.transition(ModelState::Open(now + p.cool_off));
                } else if *successes == p.half_open_probes {
                    self.transition(ModelState::Closed(Vec::new()));
                }
            }
            ModelState::Open(_) => unreachable!("no live tickets while open"),
        }
    }

    fn cancel(&mut self, id: u64) {
        if self.take(id) {
            if let ModelState::HalfOpen { in_flight, .. } = &mut self.state {
                *in_flight -= 1;
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Admit,
    SucceedOldest,
    FailOldest,
    FailNewest,
    CancelNewest,
    Tick,
    CoolOff,
}

const EVENTS: [Event; 7] = [
    Event::Admit,
    Event::SucceedOldest,
    Event::FailOldest,
    Event::FailNewest,
    Event::CancelNewest,
    Event::Tick,
    Event::CoolOff,
];

#[derive(Clone)]
struct World {
    now: Instant,
    real: Breaker,
    model: Model,
    /// Admitted and not yet resolved, oldest first.
    outstanding: Vec<(Ticket, u64)>,
}

impl World {
    /// Applies `e`; `false` when it does nothing (no outstanding attempt).
    fn apply(&mut self, e: Event, tick: Duration, trace: &[Event]) -> bool {
        let now = self.now;
        match e {
            Event::Admit => {
                let real = self.real.admit(now);
                let model = self.model.admit(now);
                assert_eq!(
                    real.map(|t| t.is_probe()),
                    model.map(|m| m.1),
                    "admit after {trace:?}"
                );
                if let (Some(t), Some((id, _))) = (real, model) {
                    self.outstanding.push((t, id));
                }
            }
            Event::SucceedOldest | Event::FailOldest | Event::FailNewest | Event::CancelNewest => {
                if self.outstanding.is_empty() {
                    return false;
                }
                let (t, id) = match e {
                    Event::SucceedOldest | Event::FailOldest => self.outstanding.remove(0),
                    _ => self.outstanding.pop().unwrap(),
                };
                match e {
                    Event::CancelNewest => {
                        self.real.cancel(t);
                        self.model.cancel(id);
                    }
                    _ => {
                        let ok = matches!(e, Event::SucceedOldest);
                        self.real.record(now, t, ok);
                        self.model.record(now, id, ok);
                    }
                }
            }
            Event::Tick => self.now += tick,
            Event::CoolOff => self.now += self.model.p.cool_off,
        }
        assert_eq!(
            self.real.state(self.now),
            self.model.view(self.now),
            "state after {trace:?}"
        );
        if let State::HalfOpen { in_flight, .. } = self.real.state {
            assert!(in_flight <= self.real.probes, "{trace:?}");
        }
        true
    }
}

fn explore(world: &World, tick: Duration, trace: &mut Vec<Event>, depth: usize) -> u64 {
    if depth == 0 {
        return 1;
    }
    let mut leaves = 0;
    for e in EVENTS {
        let mut next = world.clone();
        trace.push(e);
        if next.apply(e, tick, trace) {
            leaves += explore(&next, tick, trace, depth - 1);
        }
        trace.pop();
    }
    leaves
}

/// Depth 8 explores about 190k sequences per policy in under a second of a
/// debug build; every transition, including the stale-ticket ones, is
/// reached within that depth.
#[test]
fn every_short_event_sequence_matches_the_reference_model() {
    let tick = 10 * MS;
    let policies = [
        // Count rule, two probes.
        BreakerPolicy {
            enabled: true,
            failures: 2,
            failure_rate: None,
            min_requests: 1,
            window: 2 * tick,
            cool_off: 3 * tick,
            half_open_probes: 2,
        },
        // Opens at once, so the sequences spend their depth half-open.
        BreakerPolicy {
            enabled: true,
            failures: 1,
            failure_rate: None,
            min_requests: 1,
            window: tick,
            cool_off: tick,
            half_open_probes: 2,
        },
        // Rate rule only.
        BreakerPolicy {
            enabled: true,
            failures: 0,
            failure_rate: Some(0.5),
            min_requests: 2,
            window: 2 * tick,
            cool_off: 2 * tick,
            half_open_probes: 1,
        },
        // Both rules, a wider window.
        BreakerPolicy {
            enabled: true,
            failures: 3,
            failure_rate: Some(0.6),
            min_requests: 3,
            window: 3 * tick,
            cool_off: tick,
            half_open_probes: 1,
        },
    ];
    for p in policies {
        let t0 = Instant::now();
        let buckets = (p.window.as_nanos() / tick.as_nanos()) as usize;
        let world = World {
            now: t0,
            real: Breaker::with_buckets(&p, t0, buckets),
            model: Model::new(p.clone()),
            outstanding: Vec::new(),
        };
        let leaves = explore(&world, tick, &mut Vec::new(), 8);
        assert!(leaves > 150_000, "explored only {leaves} sequences");
    }
}
