use super::*;

fn params(min: f64, max: f64, precision: f64, repeats: u32) -> Params {
    Params {
        min,
        max,
        precision,
        repeats,
    }
}

/// Runs the search against `probe` and returns it with every step taken.
fn drive(p: Params, mut probe: impl FnMut(Step) -> Outcome) -> (Search, Vec<Step>) {
    let mut s = Search::new(p);
    let mut steps = Vec::new();
    while let Some(step) = s.next_step() {
        steps.push(step);
        assert!(steps.len() < 200, "the search does not end: {steps:?}");
        s.record(probe(step));
    }
    (s, steps)
}

/// A system that passes at or below `limit` times the scenario's load.
fn threshold(limit: f64) -> impl FnMut(Step) -> Outcome {
    move |s| match s.factor <= limit {
        true => Outcome::Pass,
        false => Outcome::NotPass,
    }
}

#[test]
fn brackets_upwards_then_bisects_to_the_precision() {
    let (s, steps) = drive(params(0.1, 16.0, 0.05, 1), threshold(2.7));
    assert_eq!(s.end(), Some(End::Found));
    let b = s.bracket();
    let (low, high) = (b.low.unwrap(), b.high.unwrap());
    assert!(low <= 2.7 && high > 2.7, "{b:?}");
    assert!(high / low <= 1.05, "{b:?}");
    // 1, 2, 4 bracket it; then geometric bisection.
    assert_eq!(steps[0].factor, 1.0);
    assert_eq!(steps[1].factor, 2.0);
    assert_eq!(steps[2].factor, 4.0);
    assert!(steps.len() <= 3 + 5, "{steps:?}");
}

#[test]
fn brackets_downwards_when_the_scenarios_own_load_fails() {
    let (s, steps) = drive(params(0.05, 8.0, 0.05, 1), threshold(0.3));
    assert_eq!(s.end(), Some(End::Found));
    let b = s.bracket();
    assert!(b.low.unwrap() <= 0.3 && b.high.unwrap() > 0.3, "{b:?}");
    assert_eq!(
        steps[..3].iter().map(|s| s.factor).collect::<Vec<_>>(),
        [1.0, 0.5, 0.25]
    );
}

#[test]
fn every_pass_up_to_the_maximum_is_at_least_the_maximum() {
    let (s, steps) = drive(params(0.5, 3.0, 0.05, 2), threshold(100.0));
    assert_eq!(s.end(), Some(End::AtLeastMax));
    assert_eq!(s.bracket().low, Some(3.0));
    assert_eq!(s.bracket().high, None);
    // The maximum is repeated before it is claimed.
    assert_eq!(s.runs_at(3.0), (2, 2));
    assert_eq!(steps.last().unwrap().repeat, 1);
}

#[test]
fn failing_at_the_minimum_is_below_the_minimum() {
    let (s, _) = drive(params(0.5, 3.0, 0.05, 2), threshold(0.1));
    assert_eq!(s.end(), Some(End::BelowMin));
    assert_eq!(s.bracket().low, None);
    assert_eq!(s.bracket().high, Some(0.5));
}

#[test]
fn the_boundary_is_repeated_and_one_lucky_pass_does_not_decide_it() {
    // Passes at 1.5 only on its first run (a lucky one), always below 1.4.
    let mut runs_at_lucky = 0;
    let probe = |s: Step| {
        if s.factor <= 1.4 {
            Outcome::Pass
        } else if (s.factor - 1.5).abs() < 1e-9 {
            runs_at_lucky += 1;
            match s.repeat {
                0 => Outcome::Pass,
                _ => Outcome::NotPass,
            }
        } else {
            Outcome::NotPass
        }
    };
    let p = params(0.1, 1.5, 0.05, 3);
    let (s, steps) = drive(p, probe);
    assert_eq!(s.end(), Some(End::Found));
    let b = s.bracket();
    // The lucky factor was run again, failed, and bounds the search.
    assert_eq!(s.runs_at(1.5), (1, 2), "{steps:?}");
    assert!(b.high.unwrap() <= 1.5, "{b:?}");
    assert!(b.low.unwrap() <= 1.4 && b.low_passes >= 3, "{b:?}");
    assert!(b.high.unwrap() / b.low.unwrap() <= 1.05, "{b:?}");
}

#[test]
fn repeats_are_only_spent_on_the_boundary() {
    let (_, steps) = drive(params(0.1, 16.0, 0.05, 3), threshold(2.7));
    let repeated: Vec<f64> = steps
        .iter()
        .filter(|s| s.repeat > 0)
        .map(|s| s.factor)
        .collect();
    assert!(!repeated.is_empty());
    // Only the final lower end of the bracket is run again.
    assert!(
        repeated.iter().all(|f| *f <= 2.7 && *f > 2.7 / 1.1),
        "{steps:?}"
    );
}

#[test]
fn an_invalid_probe_stops_the_search_at_the_machines_limit() {
    let probe = |s: Step| match s.factor {
        f if f >= 4.0 => Outcome::Invalid,
        _ => Outcome::Pass,
    };
    let (s, steps) = drive(params(0.1, 64.0, 0.05, 2), probe);
    assert_eq!(s.end(), Some(End::MachineLimit));
    assert_eq!(steps.last().unwrap().factor, 4.0);
    // The INVALID factor is no bound: nothing was measured there.
    assert_eq!(s.bracket().high, None);
    assert_eq!(s.bracket().low, Some(2.0));
}

#[test]
fn an_interrupted_probe_ends_the_search_interrupted_and_never_found() {
    let mut n = 0;
    let probe = |_: Step| {
        n += 1;
        match n {
            3 => Outcome::Interrupted,
            _ => Outcome::Pass,
        }
    };
    let (mut s, steps) = drive(params(0.1, 64.0, 0.05, 1), probe);
    assert_eq!(s.end(), Some(End::Interrupted));
    assert_eq!(steps.len(), 3);
    assert_eq!(s.next_step(), None);
}

#[test]
fn a_not_measured_probe_is_never_a_pass() {
    // UNMEASURED maps to NotPass: it bounds from above like a failure.
    let (s, _) = drive(params(0.1, 8.0, 0.05, 1), |_| Outcome::NotPass);
    assert_eq!(s.end(), Some(End::BelowMin));
    assert_eq!(s.bracket().low, None);
}

#[test]
fn the_same_outcomes_give_the_same_search() {
    // A noisy system, seeded: the boundary wobbles with the repeat.
    let noisy = |s: Step| {
        let wobble = [0.0, 0.08, -0.05][s.repeat as usize % 3];
        match s.factor <= 1.9 + wobble {
            true => Outcome::Pass,
            false => Outcome::NotPass,
        }
    };
    let p = params(0.1, 16.0, 0.03, 3);
    let (a, sa) = drive(p, noisy);
    let (b, sb) = drive(p, noisy);
    assert_eq!(sa, sb);
    assert_eq!(a.bracket(), b.bracket());
    // Every repeat of the low end passed, and the high end failed once.
    let br = a.bracket();
    assert_eq!(a.runs_at(br.low.unwrap()), (3, 3));
    assert!(br.high.unwrap() / br.low.unwrap() <= 1.03);
    assert!(br.low.unwrap() <= 1.85, "{br:?}");
}

#[test]
fn errors_end_the_search_and_record_without_a_step_is_ignored() {
    let mut s = Search::new(params(0.5, 2.0, 0.05, 1));
    s.record(Outcome::Pass);
    assert_eq!(s.bracket().low, None);
    let step = s.next_step().unwrap();
    assert_eq!(step.factor, 1.0);
    s.record(Outcome::Error);
    assert_eq!(s.end(), Some(End::Error));
    assert_eq!(s.next_step(), None);
}

#[test]
fn the_start_is_clamped_into_the_bounds() {
    let (_, steps) = drive(params(2.0, 8.0, 0.05, 1), threshold(5.0));
    assert_eq!(steps[0].factor, 2.0);
    let (_, steps) = drive(params(0.1, 0.5, 0.05, 1), threshold(5.0));
    assert_eq!(steps[0].factor, 0.5);
}
