//! Tests of the account comparison.

use super::*;
use crate::metrics::Outcome;

fn rec(fallbacks: u8, retries: u8, attempts: u8, served_by: u8) -> ClientRecord {
    ClientRecord {
        intended_ms: 1500,
        latency_us: 1000,
        served_by: ClientRecord::NONE,
        message: crate::metrics::messages::ErrorMessages::NONE,
        class: 0,
        outcome: Outcome::Ok,
        account: AccountRecord {
            attempts,
            fallbacks,
            retries,
            served_by,
        },
    }
}

fn ledger(attempts: u16, providers: &[u16], served_by: u16) -> LedgerView {
    LedgerView {
        attempts,
        providers: providers.iter().map(|&p| LedgerView::bit(p)).sum(),
        served_by,
    }
}

const NONE: u8 = AccountRecord::NONE;

fn no_groups() -> &'static Groups {
    static NO_GROUPS: std::sync::OnceLock<Groups> = std::sync::OnceLock::new();
    NO_GROUPS.get_or_init(|| Groups::new(&[], 3))
}

/// Refused connections watched: `n` refused in the windows.
fn seen(n: u64) -> RefusedSeen {
    RefusedSeen::Seen(n)
}
/// flash (0) refuses connections from 30 s to 40 s.
const REFUSING: [Refusal; 1] = [Refusal {
    provider: 0,
    start_s: 30.0,
    end_s: 40.0,
}];

#[test]
fn finds_what_a_gateway_leaves_out_or_adds() {
    let names = ["flash".to_string(), "qwen".into(), "r1".into()];
    let mut t = Tally::new(&names, Dialect::LiteLlm.bit(), &REFUSING, no_groups());
    // Agrees: first call served by flash.
    t.add(0, &rec(0, 0, NONE, 0), &ledger(1, &[0], 0));
    // Says 0 fallbacks; the ledger shows 2 attempts at 2 providers.
    t.add(1, &rec(0, 0, NONE, 1), &ledger(2, &[0, 1], 1));
    // 1 fallback, 0 retries; the ledger shows 3 attempts (a retry on flash
    // before the fallback, which LiteLLM's headers do not count): a lower
    // bound, so no disagreement about attempts.
    t.add(2, &rec(1, 0, NONE, 1), &ledger(3, &[0, 1], 1));
    // Says 1 fallback to qwen, which never received anything (refused).
    t.add(3, &rec(1, 0, NONE, 1), &ledger(1, &[1], 1));
    // Names r1, the ledger says qwen answered.
    t.add(4, &rec(0, 0, NONE, 2), &ledger(1, &[1], 1));
    // No account, but reached a provider.
    t.add(5, &rec(NONE, NONE, NONE, NONE), &ledger(1, &[0], 0));
    // 0 fallbacks, 0 retries: exactly one attempt; flash got two.
    t.add(7, &rec(0, 0, NONE, 0), &ledger(2, &[0], 0));
    // Like request 3, but at 35 s, while flash refused connections.
    let mut refused = rec(1, 0, NONE, 1);
    refused.intended_ms = 35_000;
    t.add(6, &refused, &ledger(1, &[1], 1));
    // One connection was seen refused: enough for its one unseen attempt.
    let r = t.finish(&seen(1)).unwrap();
    assert_eq!(r.dialects, ["litellm"]);
    assert!(!r.attempts_exact);
    assert_eq!(
        (r.requests, r.requests_without_account, r.agreeing),
        (7, 1, 2)
    );
    assert_eq!(r.explained_by_refused_connections, 1);
    assert_eq!(
        r.disagreements,
        Disagreements {
            fallbacks_unreported: 1,
            fallbacks_unseen: 1,
            attempts_unreported: 1,
            attempts_unseen: 0,
            served_by: 1,
        }
    );
    assert_eq!((r.gateway_fallbacks, r.ledger_fallbacks), (3, 2));
    assert_eq!(
        (r.gateway_attempts, r.ledger_attempts),
        (1 + 1 + 2 + 2 + 1 + 1 + 2, 11)
    );
    let e = &r.examples[0];
    assert_eq!((e.seq, e.kind), (1, Disagreement::FallbacksUnreported));
    assert_eq!(e.gateway, "0 fallbacks, 0 retries; served by qwen");
    assert_eq!(e.ledger, "2 attempts at flash, qwen; served by qwen");
    // In kind order: request 1, 3, 7, 4.
    let seqs: Vec<u64> = r.examples.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 3, 7, 4]);
    assert_eq!(r.fallbacks_between, FallbacksBetween::Providers);
    let refusals = r.refusals.unwrap();
    assert_eq!((refusals.requests, refusals.attempts_claimed), (1, 1));
    assert!(refusals.explained);
}

/// Three requests in flight while flash refused connections, each claiming
/// one fallback that no provider saw, and one outside the window.
fn refusal_tally<'a>(names: &'a [String]) -> Tally<'a> {
    let mut t = Tally::new(names, Dialect::LiteLlm.bit(), &REFUSING, no_groups());
    for seq in 0..3 {
        let mut r = rec(1, 0, NONE, 1);
        r.intended_ms = 31_000 + seq as u32 * 1000;
        t.add(seq, &r, &ledger(1, &[1], 1));
    }
    t.add(3, &rec(1, 0, NONE, 1), &ledger(1, &[1], 1));
    t
}

#[test]
fn refused_connections_explain_missing_attempts_in_total_only() {
    let names = ["flash".to_string(), "qwen".into()];
    // Three refused connections seen: the three requests are explained; the
    // one outside the window stays a disagreement.
    let r = refusal_tally(&names).finish(&seen(3)).unwrap();
    assert_eq!(r.explained_by_refused_connections, 3);
    assert_eq!(r.disagreements.fallbacks_unseen, 1);
    assert_eq!(r.examples.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    let a = r.refusals.unwrap();
    assert_eq!((a.refused_connections, a.attempts_claimed), (Some(3), 3));
    // Only two refused: none is explained (no guess which two), all four count.
    let r = refusal_tally(&names).finish(&seen(2)).unwrap();
    assert_eq!(r.explained_by_refused_connections, 0);
    assert_eq!(r.disagreements.fallbacks_unseen, 4);
    // Three examples per kind: request 3's, then the first held ones.
    assert_eq!(
        r.examples.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [0, 1, 3]
    );
    assert!(!r.refusals.unwrap().explained);
}

#[test]
fn unobservable_refusals_explain_nothing_and_say_why() {
    let names = ["flash".to_string(), "qwen".into()];
    let why = RefusedSeen::NotObservable("no CAP_NET_RAW".into());
    let r = refusal_tally(&names).finish(&why).unwrap();
    assert_eq!(r.explained_by_refused_connections, 0);
    assert_eq!(r.disagreements.fallbacks_unseen, 4);
    let a = r.refusals.unwrap();
    assert!(!a.observable && !a.explained);
    assert_eq!((a.requests, a.refused_connections), (3, None));
    assert!(
        a.explanation.contains("no CAP_NET_RAW"),
        "{}",
        a.explanation
    );
    // Without a refuse window there is nothing to judge.
    let mut t = Tally::new(&names, Dialect::LiteLlm.bit(), &[], no_groups());
    t.add(0, &rec(1, 0, NONE, 1), &ledger(1, &[1], 1));
    let r = t.finish(&why).unwrap();
    assert_eq!((r.refusals, r.disagreements.fallbacks_unseen), (None, 1));
}

#[test]
fn moves_inside_a_deployment_group_are_retries_for_litellm() {
    // flash and qwen deploy "default"; r1 is its own.
    let names = ["flash".to_string(), "qwen".into(), "r1".into()];
    let groups = Groups::new(&[Some("default".into()), Some("default".into()), None], 3);
    let add_moves = |t: &mut Tally| {
        // flash → qwen, which LiteLLM reports as 0 fallbacks, 1 retry.
        t.add(0, &rec(0, 1, NONE, 1), &ledger(2, &[0, 1], 1));
        // flash → r1: a fallback to another group, reported as one.
        t.add(1, &rec(1, 0, NONE, 2), &ledger(2, &[0, 2], 2));
    };
    let mut t = Tally::new(&names, Dialect::LiteLlm.bit(), &[], &groups);
    add_moves(&mut t);
    let r = t.finish(&seen(0)).unwrap();
    assert_eq!(r.fallbacks_between, FallbacksBetween::Groups);
    assert_eq!(r.agreeing, 2);
    assert_eq!(r.disagreements, Disagreements::default());
    assert_eq!((r.gateway_fallbacks, r.ledger_fallbacks), (1, 1));
    // The built-in gateway routes between providers, and Portkey counts
    // every target passed over: no groups there.
    for dialect in [Dialect::Builtin, Dialect::Portkey] {
        let mut t = Tally::new(&names, dialect.bit(), &[], &groups);
        add_moves(&mut t);
        let r = t.finish(&seen(0)).unwrap();
        assert_eq!(r.fallbacks_between, FallbacksBetween::Providers);
        assert_eq!(r.disagreements.fallbacks_unreported, 1);
    }
    // Without groups, LiteLLM's group move reads as a fallback it left out.
    let mut t = Tally::new(&names, Dialect::LiteLlm.bit(), &[], no_groups());
    add_moves(&mut t);
    let r = t.finish(&seen(0)).unwrap();
    assert_eq!(r.disagreements.fallbacks_unreported, 1);
}

#[test]
fn an_exact_list_is_held_to_the_count() {
    let names = ["flash".to_string(), "qwen".into()];
    let mut t = Tally::new(&names, Dialect::Builtin.bit(), &[], no_groups());
    t.add(0, &rec(1, 0, 2, 1), &ledger(2, &[0, 1], 1));
    t.add(1, &rec(1, 0, 2, 1), &ledger(3, &[0, 1], 1));
    t.add(2, &rec(1, 1, 3, 1), &ledger(2, &[0, 1], 1));
    let r = t.finish(&seen(0)).unwrap();
    assert!(r.attempts_exact);
    assert_eq!(r.agreeing, 1);
    assert_eq!(r.disagreements.attempts_unreported, 1);
    assert_eq!(r.disagreements.attempts_unseen, 1);
    assert_eq!(
        r.examples[0].gateway,
        "2 attempts, 1 fallback, 0 retries; served by qwen"
    );
}

#[test]
fn no_account_no_report() {
    let names = ["flash".to_string()];
    let mut t = Tally::new(&names, 0, &[], no_groups());
    t.add(0, &rec(NONE, NONE, NONE, NONE), &ledger(1, &[0], 0));
    assert_eq!(t.finish(&seen(0)), None);
}
