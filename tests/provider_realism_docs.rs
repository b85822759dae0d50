//! The reference's examples of the provider realism keys (the `toml
//! fragment` blocks) are real: they parse, and mean what the text says.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slabench::scenario::{
    from_str, load_profile, Dialect, FaultKind, FlapAs, RateLimitHeaders, RetryAfter,
    RetryAfterSpec,
};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn fragments() -> Vec<String> {
    let doc = std::fs::read_to_string(repo("docs/scenario-reference.md")).unwrap();
    doc.split("```toml fragment\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect()
}

#[test]
fn fault_examples_parse_and_mean_what_they_say() {
    let blocks = fragments();
    assert_eq!(blocks.len(), 4, "three fault examples and a profile");
    let faults = blocks[..3].concat();
    let src = format!(
        "[load]\nstages = [{{ hold_rpm = 60, for = \"60s\" }}]\n[[traffic]]\nmodel = \"default\"\n\
         [[providers]]\nname = \"flash\"\nprofile = \"deepseek-v4-flash\"\n\
         [[providers]]\nname = \"qwen\"\nprofile = \"qwen3-32b\"\n{faults}"
    );
    let s =
        from_str(&src, &repo("scenarios/doc.toml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let [too_long, overloaded, broken, flapping] = &s.faults[..] else {
        panic!("{:?}", s.faults);
    };
    assert_eq!(too_long.kind, FaultKind::ErrorBurst { status: 400 });
    assert_eq!(
        too_long.error.code.as_deref(),
        Some("context_length_exceeded")
    );
    assert!(!too_long.error.retryable(400));
    assert_eq!(overloaded.kind, FaultKind::ErrorBurst { status: 529 });
    assert_eq!(overloaded.error.dialect, Some(Dialect::Anthropic));
    assert_eq!(
        overloaded.error.retry_after,
        RetryAfterSpec::After(RetryAfter {
            wait: Duration::from_secs(7),
            as_date: true
        })
    );
    assert_eq!(broken.kind, FaultKind::StreamErrorEvent);
    assert_eq!(broken.after_tokens, Some((3, 8)));
    assert_eq!(
        flapping.kind,
        FaultKind::Flapping {
            period: Duration::from_secs(10),
            duty: 0.3,
            down: FlapAs::Http { status: 503 }
        }
    );
    // "down the first 3 s of every 10 s"
    assert!(flapping.acting_at(Duration::from_millis(2_999)));
    assert!(!flapping.acting_at(Duration::from_secs(3)));
    assert!(flapping.acting_at(Duration::from_secs(10)));
}

#[test]
fn the_profile_example_loads() {
    let blocks = fragments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claude-like.toml");
    std::fs::write(&path, &blocks[3]).unwrap();
    let p = load_profile(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.dialect, Dialect::Anthropic);
    assert_eq!(p.keepalive, Some(Duration::from_secs(1)));
    assert_eq!(p.bytes_per_s, Some(2000.0));
    let limit = p.rate_limit.unwrap();
    assert_eq!(limit.tpm, Some(400_000.0));
    assert_eq!(limit.rpm, f64::INFINITY);
    assert_eq!(limit.headers, Some(RateLimitHeaders::Exact));
}
