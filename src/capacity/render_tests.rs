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
    assert!(
        invalid
            .conclusion
            .starts_with("capacity not found below this machine's limit: at 4,000 RPM"),
        "{}",
        invalid.conclusion
    );

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
    assert!(page.contains("SLA limit") && page.contains("capacity"));
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
