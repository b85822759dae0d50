//! Bad values of the provider-realism keys (issue 13): each is rejected
//! with the line, the field and the fix.

mod common;

use common::{assert_rejected, line_of, FLASH, LOAD, TRAFFIC};

fn with_fault(body: &str) -> String {
    format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nprovider = \"flash\"\n{body}\n")
}

#[test]
fn after_tokens_range_backwards() {
    let src = with_fault("kind = \"stream_cut\"\nafter_tokens = [8, 3]");
    assert_rejected(
        &src,
        line_of(&src, "after_tokens"),
        "faults[0].after_tokens",
        "after_tokens = [3, 8]",
    );
}

#[test]
fn after_tokens_on_an_outage() {
    let src = with_fault("kind = \"outage\"\nafter_tokens = 3");
    assert_rejected(
        &src,
        line_of(&src, "after_tokens"),
        "faults[0].after_tokens",
        "remove it here",
    );
}

#[test]
fn retry_after_that_is_not_a_duration_names_none() {
    let src = with_fault("kind = \"error_burst\"\nstatus = 429\nretry_after = \"soon\"");
    assert_rejected(
        &src,
        line_of(&src, "retry_after"),
        "faults[0].retry_after",
        "\"none\" sends no Retry-After",
    );
}

#[test]
fn retry_after_as_date_without_a_retry_after() {
    let src = with_fault("kind = \"error_burst\"\nstatus = 503\nretry_after_as = \"date\"");
    assert_rejected(
        &src,
        line_of(&src, "retry_after_as"),
        "faults[0].retry_after_as",
        "retry_after = \"7s\"",
    );
}

#[test]
fn error_shape_on_a_fault_without_an_error() {
    let src = with_fault("kind = \"latency_spike\"\nmultiplier = 3\nerror_code = \"x\"");
    assert_rejected(
        &src,
        line_of(&src, "error_code"),
        "faults[0].error_code",
        "remove it here",
    );
}

#[test]
fn error_burst_status_out_of_range() {
    let src = with_fault("kind = \"error_burst\"\nstatus = 302");
    assert_rejected(
        &src,
        line_of(&src, "status"),
        "faults[0].status",
        "client error (400-499",
    );
}

#[test]
fn unknown_dialect_suggests_one() {
    let src = with_fault("kind = \"outage\"\nstatus = 529\ndialect = \"antropic\"");
    assert_rejected(
        &src,
        line_of(&src, "dialect"),
        "faults[0].dialect",
        "anthropic",
    );
}

#[test]
fn flapping_needs_a_period_of_a_second() {
    let src = with_fault("kind = \"flapping\"\nperiod = \"200ms\"");
    assert_rejected(
        &src,
        line_of(&src, "period"),
        "faults[0].period",
        "period = \"10s\"",
    );
    let src = with_fault("kind = \"flapping\"");
    assert_rejected(
        &src,
        line_of(&src, "[[faults]]"),
        "faults[0].period",
        "period = \"10s\"",
    );
}

#[test]
fn flapping_refuse_is_all_or_nothing() {
    let src =
        with_fault("kind = \"flapping\"\nperiod = \"4s\"\nas = \"refuse\"\nprobability = 0.5");
    assert_rejected(
        &src,
        line_of(&src, "probability"),
        "faults[0].probability",
        "as = \"5xx\"",
    );
}

#[test]
fn obedience_limits_are_counts() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[sla]\nmax_retry_after_violations = -2\n");
    assert_rejected(
        &src,
        line_of(&src, "max_retry_after"),
        "sla.max_retry_after_violations",
        "0 means none",
    );
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[sla]\noptional = [\"retry_after_violatons\"]\n");
    assert_rejected(
        &src,
        line_of(&src, "optional"),
        "sla.optional[0]",
        "retry_after_violations",
    );
}

#[test]
fn an_error_event_carries_no_headers() {
    let src = with_fault("kind = \"stream_error\"\nretry_after = \"2s\"");
    assert_rejected(
        &src,
        line_of(&src, "retry_after"),
        "faults[0].retry_after",
        "carries no Retry-After",
    );
    let src = with_fault("kind = \"stream_error\"\nretryable = false");
    assert_rejected(
        &src,
        line_of(&src, "retryable"),
        "faults[0].retryable",
        "use an error_burst",
    );
}

/// A profile with `extra` appended, loaded through a scenario.
fn profile_error(extra: &str) -> slabench::scenario::ScenarioError {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mock-providers")).unwrap();
    let profile = format!("region = \"us-east\"\nprice_input_per_m = 0.1\nprice_output_per_m = 0.2\n{extra}\n[speed]\ntokens_per_s = 100\n[ttft]\ndist = \"fixed\"\nvalue = \"100ms\"\n[output_tokens]\ndist = \"fixed\"\nvalue = 50\n");
    std::fs::write(dir.path().join("mock-providers/custom.toml"), profile).unwrap();
    let scenario = dir.path().join("peak.toml");
    let src = format!("{LOAD}{TRAFFIC}[[providers]]\nprofile = \"custom\"\n");
    std::fs::write(&scenario, &src).unwrap();
    slabench::scenario::load(&scenario).unwrap_err()
}

#[test]
fn profile_realism_keys_are_checked() {
    let e = profile_error("keepalive = \"1ms\"");
    assert_eq!((e.line(), e.field()), (Some(4), "keepalive"));
    assert!(e.to_string().contains("at least 100ms"), "{e}");
    let e = profile_error("bytes_per_s = 0.5");
    assert_eq!((e.line(), e.field()), (Some(4), "bytes_per_s"));
    let e = profile_error("dialect = \"bedrock\"");
    assert_eq!(e.field(), "dialect");
    let e = profile_error("[rate_limit]\nrpm = 60\nheader_values = \"zero\"");
    assert_eq!(e.field(), "rate_limit.header_values");
    assert!(slabench::exit::render_one(&e).contains("set headers = true"));
}
