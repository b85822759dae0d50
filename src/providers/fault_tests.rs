//! Exact tests of the fault model on synthetic draws and faults.

use super::*;
use crate::scenario::{CountDist, LatencyDist, RateLimit};

const MS: fn(u64) -> Duration = Duration::from_millis;
const S: fn(u64) -> Duration = Duration::from_secs;

fn profile() -> ProviderProfile {
    ProviderProfile {
        name: "p".into(),
        model: "m".into(),
        region: "r".into(),
        price_input_per_m: 0.0,
        price_output_per_m: 0.0,
        ttft: LatencyDist::Fixed(MS(100)),
        tokens_per_s: 100.0,
        speed_jitter: 0.0,
        output_tokens: CountDist::Fixed(10),
        base_error_rate: 0.0,
        base_error_status: 500,
        rate_limit: None,
        stream_chunk_tokens: 2,
        dialect: Default::default(),
        keepalive: None,
        bytes_per_s: None,
    }
}

fn draws() -> Draws {
    Draws {
        error: 0.5,
        ttft_z: 0.0,
        ttft_u: 0.0,
        speed: 0.5,
        tokens: 0.0,
        stream_at: 0.0,
    }
}

const PLAIN: RequestInfo = RequestInfo {
    stream: false,
    max_tokens: None,
    input_tokens: 10,
};
const STREAM: RequestInfo = RequestInfo {
    stream: true,
    max_tokens: None,
    input_tokens: 10,
};

fn hits(kinds: &[FaultKind]) -> Hits {
    let mut h = Hits::default();
    kinds.iter().for_each(|k| h.add(k));
    h
}

fn answer(d: Decision) -> Plan {
    match d {
        Decision::Answer(p) => p,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn normal_answer_follows_the_profile() {
    let p = answer(decide(&profile(), &Hits::default(), &draws(), PLAIN, None));
    assert_eq!(p.ttft, MS(100));
    assert_eq!(p.tokens_per_s, 100.0);
    assert_eq!(p.output_tokens, 10);
    assert_eq!(p.shape, Shape::Complete);
    assert_eq!(p.token_at(0), MS(100));
    assert_eq!(p.finish_at(), MS(190));
    let short = RequestInfo {
        max_tokens: Some(3),
        ..PLAIN
    };
    assert_eq!(
        answer(decide(&profile(), &Hits::default(), &draws(), short, None)).output_tokens,
        3
    );
}

#[test]
fn base_error_rate_compares_the_uniform_draw() {
    let prof = ProviderProfile {
        base_error_rate: 0.1,
        base_error_status: 502,
        ..profile()
    };
    let low = Draws {
        error: 0.099,
        ..draws()
    };
    let expected = Decision::Status {
        status: 502,
        retry_after: None,
        fault: None,
    };
    assert_eq!(decide(&prof, &Hits::default(), &low, PLAIN, None), expected);
    let high = Draws {
        error: 0.1,
        ..draws()
    };
    assert!(matches!(
        decide(&prof, &Hits::default(), &high, PLAIN, None),
        Decision::Answer(_)
    ));
}

#[test]
fn precedence_reset_hang_status_limit_error() {
    let prof = ProviderProfile {
        base_error_rate: 1.0,
        ..profile()
    };
    let all = hits(&[
        FaultKind::ErrorBurst { status: 503 },
        FaultKind::OutageHang,
        FaultKind::OutageReset,
    ]);
    let limited = Some(MS(1500));
    assert_eq!(
        decide(&prof, &all, &draws(), PLAIN, limited),
        Decision::Reset
    );
    let no_reset = Hits {
        reset: false,
        ..all
    };
    assert_eq!(
        decide(&prof, &no_reset, &draws(), PLAIN, limited),
        Decision::Hang
    );
    let status_only = Hits {
        hang: false,
        ..no_reset
    };
    assert_eq!(
        decide(&prof, &status_only, &draws(), PLAIN, limited),
        Decision::Status {
            status: 503,
            retry_after: None,
            fault: None,
        }
    );
    assert_eq!(
        decide(&prof, &Hits::default(), &draws(), PLAIN, limited),
        Decision::Status {
            status: 429,
            retry_after: Some(RetryAfter {
                wait: MS(1500),
                as_date: false
            }),
            fault: None,
        }
    );
}

#[test]
fn first_status_wins_and_429_bursts_carry_retry_after() {
    let h = hits(&[
        FaultKind::ErrorBurst { status: 429 },
        FaultKind::OutageHttp { status: 503 },
    ]);
    assert_eq!(
        decide(&profile(), &h, &draws(), PLAIN, None),
        Decision::Status {
            status: 429,
            retry_after: Some(RetryAfter {
                wait: S(1),
                as_date: false
            }),
            fault: None,
        }
    );
}

#[test]
fn latency_spike_multiplies_and_adds() {
    let h = hits(&[FaultKind::LatencySpike {
        multiplier: 3.0,
        add: MS(50),
    }]);
    let p = answer(decide(&profile(), &h, &draws(), PLAIN, None));
    assert_eq!(p.ttft, MS(350));
    assert!((p.tokens_per_s - 100.0 / 3.0).abs() < 1e-9);
    assert_eq!(p.finish_at(), MS(350) + MS(270));
}

#[test]
fn overlapping_spikes_saturate_instead_of_panicking() {
    // Each multiplier is in range (at most 1000), but ten overlapping
    // spikes multiply to 1e30: Duration::mul_f64 would panic.
    let spike = FaultKind::LatencySpike {
        multiplier: 1000.0,
        add: S(7 * 86_400),
    };
    let h = hits(&vec![spike; 10]);
    let p = answer(decide(&profile(), &h, &draws(), STREAM, None));
    // The combined factor is capped at 1e9 (the profile's ttft is 100 ms),
    // the adds sum to 70 days, and every time stays at most LONGEST.
    assert_eq!(p.ttft, S(100_000_000 + 70 * 86_400));
    assert!(p.finish_at() > p.ttft && p.finish_at() <= LONGEST);
    assert_eq!(p.token_at(u32::MAX), LONGEST);
}

#[test]
fn slow_first_token_only_touches_streams() {
    let h = hits(&[FaultKind::SlowFirstToken { delay: S(2) }]);
    assert_eq!(
        answer(decide(&profile(), &h, &draws(), STREAM, None)).ttft,
        S(2)
    );
    assert_eq!(
        answer(decide(&profile(), &h, &draws(), PLAIN, None)).ttft,
        MS(100)
    );
    let fast = hits(&[FaultKind::SlowFirstToken { delay: MS(10) }]);
    assert_eq!(
        answer(decide(&profile(), &fast, &draws(), STREAM, None)).ttft,
        MS(100)
    );
}

#[test]
fn stream_faults_pick_a_point_inside_the_stream() {
    // 10 tokens at 2 per chunk: 5 chunks; faults strike after 1..=4 chunks.
    let cut = hits(&[FaultKind::StreamCut]);
    let at = |u| Draws {
        stream_at: u,
        ..draws()
    };
    let shape = |h: &Hits, u, req| answer(decide(&profile(), h, &at(u), req, None)).shape;
    assert_eq!(shape(&cut, 0.0, STREAM), Shape::Cut { after_tokens: 2 });
    assert_eq!(shape(&cut, 0.5, STREAM), Shape::Cut { after_tokens: 6 });
    assert_eq!(shape(&cut, 0.999, STREAM), Shape::Cut { after_tokens: 8 });
    assert_eq!(shape(&cut, 0.5, PLAIN), Shape::Complete);
    let err = hits(&[
        FaultKind::StreamErrorEvent,
        FaultKind::StreamStall { pause: S(5) },
    ]);
    assert_eq!(
        shape(&err, 0.0, STREAM),
        Shape::ErrorEvent {
            after_tokens: 2,
            fault: None
        }
    );
    let stall = hits(&[FaultKind::StreamStall { pause: S(5) }]);
    assert_eq!(
        shape(&stall, 0.3, STREAM),
        Shape::Stall {
            after_tokens: 4,
            pause: S(5)
        }
    );
    let bad = hits(&[
        FaultKind::Malformed(Malformation::NoChoices),
        FaultKind::StreamCut,
    ]);
    assert_eq!(
        shape(&bad, 0.3, STREAM),
        Shape::Malformed(Malformation::NoChoices)
    );
    assert_eq!(strike_point(0, 0.5), 0);
    assert_eq!(strike_point(1, 0.5), 0);
    assert_eq!(strike_point(2, 0.99), 1);
}

fn fault(kind: FaultKind, start: u64, secs: Option<u64>, probability: f64) -> Fault {
    Fault {
        providers: vec![0],
        target_label: "provider p".into(),
        start: S(start),
        duration: secs.map(S),
        probability,
        kind,
        error: Default::default(),
        after_tokens: None,
    }
}

#[test]
fn hits_follow_windows_and_probabilities() {
    let faults = [
        fault(FaultKind::OutageHttp { status: 503 }, 10, Some(5), 1.0),
        fault(FaultKind::OutageReset, 0, None, 0.0),
    ];
    let mut rng = provider_rng(1, 0);
    assert_eq!(Hits::draw(&faults, &[], None, &mut rng), Hits::default());
    assert_eq!(
        Hits::draw(&faults, &[], Some(S(9)), &mut rng),
        Hits::default()
    );
    let inside = Hits::draw(&faults, &[], Some(S(10)), &mut rng);
    assert_eq!(inside.status, Some(503));
    assert!(!inside.reset);
    assert_eq!(
        Hits::draw(&faults, &[], Some(S(15)), &mut rng),
        Hits::default()
    );
}

#[test]
fn half_probability_hits_about_half() {
    let faults = [fault(FaultKind::OutageHang, 0, None, 0.5)];
    let mut rng = provider_rng(7, 0);
    let n = 10_000;
    let hit = (0..n)
        .filter(|_| Hits::draw(&faults, &[], Some(S(1)), &mut rng).hang)
        .count();
    assert!((4_700..5_300).contains(&hit), "{hit}");
}

#[test]
fn draws_do_not_depend_on_timing() {
    // Same seed, same requests, one run entirely outside the window and one
    // inside it: after the window, both generators are in step again.
    let faults = [fault(
        FaultKind::ErrorBurst { status: 500 },
        5,
        Some(1),
        1.0,
    )];
    let mut a = provider_rng(3, 2);
    let mut b = provider_rng(3, 2);
    for _ in 0..10 {
        Draws::take(&mut a);
        Hits::draw(&faults, &[], Some(S(1)), &mut a);
        Draws::take(&mut b);
        Hits::draw(&faults, &[], Some(S(5)), &mut b);
    }
    assert_eq!(Draws::take(&mut a), Draws::take(&mut b));
}

#[test]
fn provider_generators_differ_by_index_and_seed() {
    let first = |seed, i| Draws::take(&mut provider_rng(seed, i));
    assert_eq!(first(1, 0), first(1, 0));
    assert_ne!(first(1, 0), first(1, 1));
    assert_ne!(first(1, 0), first(2, 0));
}

fn scenario_with(faults: Vec<Fault>, rate_limit: Option<RateLimit>) -> Scenario {
    let mut s = crate::providers::testing::scenario(9, 1);
    s.providers[0].profile.rate_limit = rate_limit;
    s.providers[0].profile.ttft = LatencyDist::LogNormal {
        p50: MS(200),
        p99: MS(800),
        cap: S(5),
    };
    s.providers[0].profile.output_tokens = CountDist::Uniform { min: 1, max: 100 };
    s.faults = faults;
    s
}

#[test]
fn model_is_deterministic_per_seed() {
    let s = scenario_with(vec![fault(FaultKind::OutageHang, 0, None, 0.3)], None);
    let run = |s: &Scenario| {
        let mut m = FaultModel::new(s, 0);
        (0..200)
            .map(|i| m.decide(Some(MS(i)), MS(i), PLAIN).0)
            .collect::<Vec<_>>()
    };
    let (a, b) = (run(&s), run(&s));
    assert_eq!(a, b);
    assert!(a.contains(&Decision::Hang));
    assert!(a.iter().any(|d| matches!(d, Decision::Answer(_))));
    let other = Scenario { seed: 10, ..s };
    assert_ne!(a, run(&other));
}

#[test]
fn model_honours_the_limit_and_its_squeeze() {
    let squeeze = fault(FaultKind::RateLimitSqueeze { rpm: 60.0 }, 10, Some(10), 1.0);
    let own = RateLimit {
        rpm: 6000.0,
        burst: 100.0,
        tpm: None,
        headers: None,
    };
    let s = scenario_with(vec![squeeze], Some(own));
    let mut m = FaultModel::new(&s, 0);
    let limited = |d: (Decision, _)| matches!(d.0, Decision::Status { status: 429, .. });
    let ok = (0..100)
        .filter(|_| !limited(m.decide(Some(S(1)), S(1), PLAIN)))
        .count();
    assert_eq!(ok, 100);
    assert!(limited(m.decide(Some(S(1)), S(1), PLAIN)));
    // Inside the squeeze: a burst of one, then one per second.
    assert!(!limited(m.decide(Some(S(12)), S(12), PLAIN)));
    assert_eq!(
        m.decide(Some(S(12)), S(12), PLAIN).0,
        Decision::Status {
            status: 429,
            retry_after: Some(RetryAfter {
                wait: S(1),
                as_date: false
            }),
            fault: None,
        }
    );
    assert!(!limited(m.decide(Some(S(13)), S(13), PLAIN)));
    assert_eq!(m.faults().len(), 1);
}

fn with_after(kind: FaultKind, after: Option<(u32, u32)>) -> Fault {
    Fault {
        after_tokens: after,
        ..fault(kind, 0, None, 1.0)
    }
}

#[test]
fn after_tokens_breaks_the_stream_exactly_there() {
    let shape = |after, u| {
        let mut h = Hits::default();
        h.add_fault(&with_after(FaultKind::StreamCut, after), 4);
        let d = Draws {
            stream_at: u,
            ..draws()
        };
        answer(decide(&profile(), &h, &d, STREAM, None)).shape
    };
    // 10 tokens, 2 per chunk: an odd count splits a chunk.
    assert_eq!(shape(Some((5, 5)), 0.7), Shape::Cut { after_tokens: 5 });
    assert_eq!(shape(Some((0, 0)), 0.7), Shape::Cut { after_tokens: 0 });
    // A range: each count equally likely from the per-request draw.
    assert_eq!(shape(Some((3, 8)), 0.0), Shape::Cut { after_tokens: 3 });
    assert_eq!(shape(Some((3, 8)), 0.5), Shape::Cut { after_tokens: 6 });
    assert_eq!(shape(Some((3, 8)), 0.999), Shape::Cut { after_tokens: 8 });
    // Clamped to the answer's length.
    assert_eq!(shape(Some((12, 15)), 0.5), Shape::Cut { after_tokens: 10 });
    // Without after_tokens: after a random whole chunk, as before.
    assert_eq!(shape(None, 0.5), Shape::Cut { after_tokens: 6 });
    assert_eq!(break_point(10, 4, None, 0.999), 8);
    assert_eq!(break_point(3, 4, None, 0.5), 0);
}

#[test]
fn the_stream_fault_that_decides_the_shape_gives_its_point_and_index() {
    let stall = with_after(FaultKind::StreamStall { pause: S(1) }, Some((1, 1)));
    let error = with_after(FaultKind::StreamErrorEvent, Some((7, 7)));
    let cut = with_after(FaultKind::StreamCut, Some((3, 3)));
    let mut h = Hits::default();
    h.add_fault(&stall, 0);
    h.add_fault(&error, 1);
    assert_eq!((h.stream_fault, h.after_tokens), (Some(1), Some((7, 7))));
    assert_eq!(
        answer(decide(&profile(), &h, &draws(), STREAM, None)).shape,
        Shape::ErrorEvent {
            after_tokens: 7,
            fault: Some(1)
        }
    );
    h.add_fault(&stall, 2);
    assert_eq!(h.stream_fault, Some(1));
    h.add_fault(&cut, 3);
    assert_eq!((h.stream_fault, h.after_tokens), (Some(3), Some((3, 3))));
    let mut first = Hits::default();
    first.add_fault(&cut, 5);
    first.add_fault(&error, 6);
    assert_eq!(
        (first.stream_fault, first.after_tokens),
        (Some(5), Some((3, 3)))
    );
}

#[test]
fn fake_stream_only_bends_streams() {
    let h = hits(&[FaultKind::FakeStream]);
    assert!(answer(decide(&profile(), &h, &draws(), STREAM, None)).fake_stream);
    let plain = answer(decide(&profile(), &h, &draws(), PLAIN, None));
    assert!(!plain.fake_stream);
    assert_eq!(plain.shape, Shape::Complete);
    assert!(!answer(decide(&profile(), &Hits::default(), &draws(), STREAM, None)).fake_stream);
}

#[test]
fn flapping_acts_only_in_its_down_parts() {
    let flap = |down| {
        fault(
            FaultKind::Flapping {
                period: S(10),
                duty: 0.3,
                down,
            },
            5,
            Some(40),
            1.0,
        )
    };
    let faults = [flap(FlapAs::Http { status: 502 })];
    let mut rng = provider_rng(1, 0);
    let mut at = |t| Hits::draw(&faults, &[7], Some(t), &mut rng);
    assert_eq!(at(S(4)).status, None);
    let down = at(S(5));
    assert_eq!((down.status, down.status_fault), (Some(502), Some(7)));
    assert_eq!(at(MS(7_999)).status, Some(502));
    assert_eq!(at(S(8)).status, None);
    assert_eq!(at(S(15)).status, Some(502));
    assert_eq!(at(S(45)).status, None);
    for (down, reset, hang) in [(FlapAs::Reset, true, false), (FlapAs::Hang, false, true)] {
        let faults = [flap(down)];
        let h = Hits::draw(&faults, &[], Some(S(6)), &mut rng);
        assert_eq!((h.reset, h.hang), (reset, hang));
        assert_eq!(
            Hits::draw(&faults, &[], Some(S(9)), &mut rng),
            Hits::default()
        );
    }
    // Refusing is the listener's: no request ever sees it.
    let refuse = [flap(FlapAs::Refuse)];
    assert_eq!(
        Hits::draw(&refuse, &[], Some(S(6)), &mut rng),
        Hits::default()
    );
}

#[test]
fn a_token_limit_counts_prompt_and_max_tokens_or_the_output() {
    let asked = RequestInfo {
        max_tokens: Some(50),
        ..PLAIN
    };
    assert_eq!(token_need(&profile(), &draws(), asked), 60);
    // No max_tokens: the output it will get (10 tokens).
    assert_eq!(token_need(&profile(), &draws(), PLAIN), 20);
    let tpm = RateLimit {
        rpm: f64::INFINITY,
        burst: f64::INFINITY,
        tpm: Some(120.0),
        headers: Some(crate::scenario::RateLimitHeaders::Exact),
    };
    let s = scenario_with(vec![], Some(tpm));
    let mut m = FaultModel::new(&s, 0);
    let big = RequestInfo {
        max_tokens: Some(90),
        input_tokens: 10,
        ..PLAIN
    };
    let (first, state) = m.decide(Some(S(0)), S(0), big);
    assert!(matches!(first, Decision::Answer(_)));
    let tokens = state.unwrap().tokens.unwrap();
    assert_eq!((tokens.limit, tokens.remaining), (120.0, 20.0));
    // 100 more need 80 more tokens at 2 per second: 40 s.
    let (second, _) = m.decide(Some(S(0)), S(0), big);
    assert_eq!(
        second,
        Decision::Status {
            status: 429,
            retry_after: Some(RetryAfter {
                wait: S(40),
                as_date: false
            }),
            fault: None,
        }
    );
}
