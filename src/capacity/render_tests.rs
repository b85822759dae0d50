use super::*;
use crate::capacity::probe::{Head, Probe, RateLimited};
use crate::capacity::search::{Params, Search, Step};
use crate::capacity::{conclude, Settings};

fn probe(index: usize, factor: f64, outcome: Outcome) -> Probe {
    let head = Head {
        index,
        factor,
        repeat: 0,
        seed: 3,
        target_peak_rpm: 1000.0 * factor,
        report: format!("probes/{index:02}-f{factor:.3}/report.html"),
        seconds: 4.5,
    };
    let verdict = match outcome {
        Outcome::Pass => "PASS",
        Outcome::Invalid => "INVALID",
        Outcome::Interrupted => "INTERRUPTED",
        _ => "FAIL",
    };
    let mut p = head.probe(verdict, outcome);
    p.peak_rpm = Some(990.0 * factor);
    p.p99_ms = Some(300.0 * factor);
    p.p99_limit_ms = Some(1000.0);
    p.uptime = Some(if outcome == Outcome::Pass { 1.0 } else { 0.97 });
    p.uptime_target = Some(0.999);
    p.amplification = Some(1.05);
    p.amplification_limit = Some(1.5);
    p.time_to_failover_s = None;
    match outcome {
        Outcome::Invalid => {
            p.why = Some(format!(
                "INVALID at {} RPM: generator schedule lag p99 250 ms over <= 30 ms",
                rpm(1000.0 * factor)
            ))
        }
        Outcome::Interrupted => p.why = Some("interrupted before the schedule ended".into()),
        Outcome::Error => {
            p.verdict = None;
            p.why = Some("the run could not be made: port in use".into());
        }
        _ => {}
    }
    if outcome == Outcome::NotPass {
        p.rate_limited = vec![RateLimited {
            provider: "qwen".into(),
            limit_rpm: Some(3000.0),
            answered_429: 12,
        }];
        p.why = Some("uptime 97.000% missed its target >= 99.900%, because qwen's rate limit (3,000 RPM) answered 12 attempt(s) with 429".into());
    }
    p
}

/// A search over a system that passes up to `limit`, through `conclude`.
fn searched(limit: f64, params: Params, stop_after: Option<(usize, Outcome)>) -> Capacity {
    let mut search = Search::new(params);
    let mut cap = Capacity {
        scenario: "example".into(),
        file: Some("scenarios/example.toml".into()),
        seed: 3,
        slabench_version: "0.0.0".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        scenario_peak_rpm: 1000.0,
        settings: Settings {
            min_rpm: params.min * 1000.0,
            max_rpm: params.max * 1000.0,
            precision: params.precision,
            repeats: params.repeats,
            require_headroom: 0.2,
        },
        status: None,
        capacity_rpm: None,
        interval_rpm: [None, None],
        headroom: None,
        meets_required: false,
        limiting_check: None,
        conclusion: String::new(),
        probes: Vec::new(),
    };
    while let Some(Step { factor, .. }) = search.next_step() {
        let n = cap.probes.len() + 1;
        let outcome = match stop_after {
            Some((at, o)) if at == n => o,
            _ if factor <= limit => Outcome::Pass,
            _ => Outcome::NotPass,
        };
        search.record(outcome);
        cap.probes.push(probe(n, factor, outcome));
        conclude(&mut cap, &search);
    }
    conclude(&mut cap, &search);
    cap
}

fn params(min: f64, max: f64) -> Params {
    Params {
        min,
        max,
        precision: 0.05,
        repeats: 2,
    }
}

#[test]
fn a_found_capacity_gates_on_the_required_headroom() {
    let cap = searched(1.6, params(0.25, 8.0), None);
    assert_eq!(cap.status, Some(End::Found));
    let c = cap.capacity_rpm.unwrap();
    assert!((1520.0..=1600.0).contains(&c), "{c}");
    assert!(cap.meets_required);
    assert_eq!(cap.exit_code(), crate::exit::PASS);
    assert!(
        cap.conclusion.starts_with("capacity 1,5"),
        "{}",
        cap.conclusion
    );
    let limiting = cap.limiting_check.as_deref().unwrap();
    assert!(
        limiting.contains("qwen's rate limit (3,000 RPM)"),
        "{limiting}"
    );

    let tight = searched(1.1, params(0.25, 8.0), None);
    assert!(!tight.meets_required, "{:?}", tight.headroom);
    assert_eq!(tight.exit_code(), crate::exit::FAIL);
    assert!(gate(&tight).starts_with("BELOW"), "{}", gate(&tight));
}

#[test]
fn each_end_has_its_exit_code_and_its_sentence() {
    let below = searched(0.1, params(0.5, 4.0), None);
    assert_eq!(below.status, Some(End::BelowMin));
    assert_eq!(below.capacity_rpm, None);
    assert_eq!(below.exit_code(), crate::exit::FAIL);
    assert!(
        below.conclusion.contains("even 500 RPM"),
        "{}",
        below.conclusion
    );

    let above = searched(100.0, params(0.5, 4.0), None);
    assert_eq!(above.status, Some(End::AtLeastMax));
    assert_eq!(above.capacity_rpm, Some(4000.0));
    assert_eq!(above.interval_rpm, [Some(4000.0), None]);
    assert_eq!(above.exit_code(), crate::exit::PASS);

    let invalid = searched(100.0, params(0.5, 8.0), Some((3, Outcome::Invalid)));
    assert_eq!(invalid.status, Some(End::MachineLimit));
    assert_eq!(invalid.exit_code(), crate::exit::INVALID);
    // The INVALID probe's own reason, and how sure the load below it is.
    assert_eq!(
        invalid.conclusion,
        "capacity not found below this machine's limit: INVALID at 4,000 RPM: generator \
         schedule lag p99 250 ms over <= 30 ms; 1 of the 2 run(s) a capacity needs passed at \
         2,000 RPM (not confirmed)",
    );
    assert_eq!(invalid.capacity_rpm, None);
    assert!(!gate(&invalid).contains("meets"), "{}", gate(&invalid));

    let stopped = searched(1.6, params(0.25, 8.0), Some((2, Outcome::Interrupted)));
    assert_eq!(stopped.status, Some(End::Interrupted));
    assert_eq!(stopped.exit_code(), crate::exit::INTERRUPTED);
    assert!(!stopped.meets_required);
    // One pass at factor 1 is not `repeats` passes: no capacity is claimed.
    assert_eq!(stopped.capacity_rpm, None);
    assert!(stopped.conclusion.contains("no capacity is claimed"));
}

#[test]
fn capacity_json_matches_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/capacity.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    for cap in [
        searched(1.6, params(0.25, 8.0), None),
        searched(0.1, params(0.5, 4.0), None),
        searched(100.0, params(0.5, 8.0), Some((3, Outcome::Invalid))),
    ] {
        let json = serde_json::to_value(&cap).unwrap();
        let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{json:#}");
    }
}

#[test]
fn the_page_is_self_contained_with_the_curve_and_a_link_to_every_probe() {
    let cap = searched(1.6, params(0.25, 8.0), None);
    let page = crate::capacity::html::html(&cap);
    assert!(page.contains("default-src 'none'"));
    assert!(!page.contains("src=\"http") && !page.contains("<script"));
    // Four panels; three with numbers and time to failover with none.
    assert_eq!(page.matches("<svg").count(), 4, "{page}");
    assert!(page.contains("no probe measured this"));
    assert!(page.contains("SLA limit"));
    // The capacity line's legend entry, in every panel with numbers.
    assert_eq!(page.matches("\ncapacity\n</text>").count(), 3, "{page}");
    assert!(!page.contains("left off the curve"));
    for p in &cap.probes {
        assert!(
            page.contains(&format!("href=\"{}\"", p.report)),
            "{}",
            p.report
        );
    }
    let md = markdown(&cap);
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        cap.probes.len() + 1,
        "{md}"
    );
    assert!(md.contains("limited by: at "), "{md}");
    let screen = terminal(&cap, std::path::Path::new("out"));
    assert!(screen.lines().count() <= 8 + cap.probes.len(), "{screen}");
}

#[test]
fn the_progress_line_names_the_factor_the_load_and_why() {
    let line = progress_line(&probe(4, 1.5, Outcome::NotPass));
    assert!(
        line.starts_with("[4] factor 1.500 · 1,500 RPM (sent 1,485) · FAIL (uptime 97.000%"),
        "{line}"
    );
    let line = progress_line(&probe(1, 1.0, Outcome::Pass));
    assert_eq!(
        line,
        "[1] factor 1.000 · 1,000 RPM (sent 990) · PASS · 4.5 s"
    );
}

/// With one repeat, a pass followed by an interrupt, an INVALID probe or
/// a run that could not be made claims no capacity: none in capacity.json,
/// no "meets" in any file, no capacity line on the curve.
#[test]
fn a_search_that_did_not_end_on_a_capacity_claims_none_even_with_one_repeat() {
    let one = Params {
        repeats: 1,
        ..params(0.25, 8.0)
    };
    for (stop, status) in [
        (Outcome::Interrupted, End::Interrupted),
        (Outcome::Invalid, End::MachineLimit),
        (Outcome::Error, End::Error),
    ] {
        let cap = searched(1.6, one, Some((2, stop)));
        assert_eq!(cap.probes[0].outcome, Outcome::Pass);
        assert_eq!(cap.status, Some(status));
        assert_eq!(cap.capacity_rpm, None, "{stop:?}");
        assert_eq!(cap.headroom, None, "{stop:?}");
        assert!(!cap.meets_required, "{stop:?}");
        assert_ne!(cap.exit_code(), crate::exit::PASS);
        let page = crate::capacity::html::html(&cap);
        let screen = terminal(&cap, std::path::Path::new("out"));
        for text in [&markdown(&cap), &page, &screen] {
            assert!(!text.contains("meets the required"), "{stop:?}: {text}");
            assert!(text.contains("is not proven"), "{stop:?}: {text}");
        }
        assert!(!page.contains("\ncapacity\n</text>"), "{stop:?}: {page}");
    }
    // The search still running after one pass claims nothing either.
    let mut search = Search::new(one);
    search.next_step();
    search.record(Outcome::Pass);
    let mut cap = searched(1.6, one, None);
    cap.probes.truncate(1);
    conclude(&mut cap, &search);
    assert_eq!((cap.status, cap.capacity_rpm), (None, None));
    assert!(!gate(&cap).contains("meets"));
}

#[test]
fn invalid_and_interrupted_probes_are_off_the_curve_and_dashes_in_the_table() {
    let cap = searched(100.0, params(0.5, 8.0), Some((3, Outcome::Invalid)));
    let r = &rows(&cap)[2];
    assert_eq!(r[3], "INVALID");
    assert_eq!([&r[4], &r[5], &r[6], &r[7]], ["—"; 4]);
    assert!(r[8].contains("left out: INVALID"), "{}", r[8]);
    assert_ne!(rows(&cap)[0][4], "—");
    let page = crate::capacity::html::html(&cap);
    assert!(page.contains("1 probe(s) left off the curve"), "{page}");
    // Two probes on each of three panels: the INVALID one is not drawn.
    let with_it = {
        let mut c = cap.clone();
        c.probes[2].outcome = Outcome::NotPass;
        crate::capacity::html::html(&c)
    };
    assert!(page.matches("<circle").count() < with_it.matches("<circle").count());
}

#[test]
fn the_start_line_says_what_is_running() {
    let head = Head {
        index: 3,
        factor: 2.0,
        repeat: 0,
        seed: 3,
        target_peak_rpm: 2400.0,
        report: String::new(),
        seconds: 0.0,
    };
    assert_eq!(
        start_line(&head, 2),
        "[3] probing 2,400 RPM (factor 2.000, repeat 1/2) …"
    );
}
