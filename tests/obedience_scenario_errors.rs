//! Bad values for the obedience keys of `[sla]`: each is rejected with the
//! file, line, field and a fix; a good one is accepted, and `optional`
//! names them.

mod common;

use common::{assert_rejected, line_of, parse, FLASH, LOAD, TRAFFIC};

fn with_sla(sla: &str) -> String {
    format!("{LOAD}{TRAFFIC}{FLASH}[sla]\nuptime = \"99%\"\n{sla}\n")
}

#[test]
fn negative_or_fractional_or_huge_obedience_limits_are_located_errors() {
    for (key, help) in [
        ("max_retry_after_violations", "Retry-After is in force"),
        ("max_non_retryable_retries", "must not be"),
        ("max_rewritten_errors", "another status or error type"),
        ("max_flapping_probes", "down phase"),
    ] {
        let src = with_sla(&format!("{key} = -1"));
        let e = assert_rejected(&src, line_of(&src, key), &format!("sla.{key}"), help);
        assert!(e.to_string().contains("must be >= 0; got -1"), "{e}");
        let src = with_sla(&format!("{key} = 99999999999"));
        let e = assert_rejected(&src, line_of(&src, key), &format!("sla.{key}"), help);
        assert!(e.to_string().contains("at most"), "{e}");
        let src = with_sla(&format!("{key} = 1.5"));
        let e = parse(&src).expect_err("a count is a whole number");
        assert_eq!(e.line(), Some(line_of(&src, key)), "{e}");
    }
}

#[test]
fn good_obedience_limits_parse_and_optional_names_them() {
    let src = with_sla(
        "max_retry_after_violations = 0\nmax_non_retryable_retries = 2\nmax_rewritten_errors = 0\nmax_flapping_probes = 3\noptional = [\"rewritten_errors\", \"max_flapping_probes\"]",
    );
    let sc = parse(&src).unwrap();
    assert_eq!(sc.sla.max_retry_after_violations, Some(0));
    assert_eq!(sc.sla.max_non_retryable_retries, Some(2));
    assert_eq!(sc.sla.max_rewritten_errors, Some(0));
    assert_eq!(sc.sla.max_flapping_probes, Some(3));
    use slabench::scenario::SlaKey;
    assert_eq!(
        sc.sla.optional,
        [SlaKey::RewrittenErrors, SlaKey::FlappingProbes]
    );
}
