//! Property test over parse + validate: no input makes
//! `slabench::scenario::from_str` panic, every refusal is one located
//! error with a fix, and every accepted scenario keeps the documented
//! ranges.
//!
//! Two sources of input: scenarios generated field by field (valid
//! structure, values drawn from extremes: NaN, infinities, 1e309, integers
//! beyond i64, huge and malformed durations, control characters, unicode),
//! and the shipped scenarios mutated byte by byte and token by token.
//!
//! Seeded, so a run is repeatable; short by default (a few seconds). The
//! long run: `PROPTEST_CASES=200000 cargo test --release --test fuzz_scenario`
//! (optionally `FUZZ_SEED=N` for another seed).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use slabench::scenario::{from_str, Scenario, ScenarioError, Stage};

const DEFAULT_CASES: u32 = 1000;
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_0f5c_a1ab_1e00);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // Shrunk failures are printed; no regression files in the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where generated text claims to come from: next to the shipped scenarios,
/// so profile names resolve to `mock-providers/`.
fn scenario_path() -> PathBuf {
    root().join("scenarios").join("fuzz.toml")
}

fn env(name: &str) -> Option<String> {
    match name {
        "PATH" => std::env::var("PATH").ok(),
        "FUZZ_SET" => Some("value".into()),
        "FUZZ_CTRL" => Some("a\u{1b}\r\n\0b".into()),
        _ => None,
    }
}

/// Parses and validates `src`; fails the property on a panic, on an error
/// that is not one located diagnostic with a fix, or on an accepted
/// scenario that breaks a documented range.
fn check(src: &str) -> Result<(), TestCaseError> {
    let path = scenario_path();
    let result = catch_unwind(AssertUnwindSafe(|| from_str(src, &path, &env)));
    let Ok(result) = result else {
        return Err(TestCaseError::fail(format!("from_str panicked on:\n{src}")));
    };
    match result {
        Ok(sc) => check_ranges(&sc)
            .map_err(|why| TestCaseError::fail(format!("accepted out of range ({why}):\n{src}"))),
        Err(e) => check_error(&e)
            .map_err(|why| TestCaseError::fail(format!("bad error ({why}): {e}\non:\n{src}"))),
    }
}

fn check_error(e: &ScenarioError) -> Result<(), String> {
    let d = e.diagnostic().ok_or("not a diagnostic")?;
    let loc = d.location.ok_or("no location")?;
    if loc.line == 0 || loc.column == 0 {
        return Err("line or column 0".into());
    }
    if d.help.as_deref().is_none_or(str::is_empty) {
        return Err("no help".into());
    }
    // The message is one line; `error:` and the help are the printer's.
    let text = e.to_string();
    if text.lines().count() != 1 || text.starts_with("error:") {
        return Err("not exactly one unframed message line".into());
    }
    Ok(())
}

fn check_ranges(sc: &Scenario) -> Result<(), String> {
    if sc.duration() > MAX_DURATION || sc.duration().is_zero() {
        return Err(format!("run of {:?}", sc.duration()));
    }
    for s in &sc.load.stages {
        let rates = match *s {
            Stage::Hold { rpm, .. } => vec![rpm],
            Stage::Ramp { from, to, .. } => vec![from.unwrap_or(0.0), to],
        };
        if rates.iter().any(|r| !r.is_finite() || *r < 0.0 || *r > 1e7) {
            return Err(format!("rate in {s:?}"));
        }
    }
    let weights: f64 = sc.traffic.iter().map(|c| c.weight).sum();
    if !(weights.is_finite() && weights > 0.0) {
        return Err(format!("weights sum to {weights}"));
    }
    for c in &sc.traffic {
        if c.prompt_tokens > 1_000_000 || c.max_tokens > 1_000_000 || c.max_tokens == 0 {
            return Err(format!("tokens of class {}", c.name));
        }
        if c.name.chars().any(char::is_control) || c.name.chars().count() > 100 {
            return Err("class name".into());
        }
    }
    if sc.name.chars().any(char::is_control) || sc.name.chars().count() > 100 {
        return Err("scenario name".into());
    }
    for p in &sc.providers {
        if !p
            .name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',' && b != b':')
        {
            return Err(format!("provider name {:?}", p.name));
        }
    }
    for d in [sc.load.timeout, sc.load.drain, sc.lag_limit().0] {
        if d > MAX_DURATION {
            return Err(format!("load duration {d:?}"));
        }
    }
    Ok(())
}

// --- generated scenarios -------------------------------------------------

fn number() -> impl Strategy<Value = String> {
    let hostile = prop_oneof![
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e309".to_string()),
        Just("1.7976931348623157e308".to_string()),
        Just("-0.0".to_string()),
        Just("0".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("99999999999999999999".to_string()),
        Just("4294967296".to_string()),
        Just("1e-300".to_string()),
        Just("\"fast\"".to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        (0i64..100_000).prop_map(|v| v.to_string()),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| format!("{v:e}")),
        (0.0f64..1e8).prop_map(|v| format!("{v:.3}")),
    ];
    // Mostly plausible values, so that accepted scenarios are common and
    // the hostile value is usually the only thing wrong.
    prop_oneof![
        6 => (1i64..100).prop_map(|v| v.to_string()),
        1 => (0.001f64..1.0).prop_map(|v| format!("{v:.3}")),
        2 => hostile,
    ]
}

fn duration() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "d", "h", "m", "s", "ms", "us", "µs", "ns", "x", "", "days", "minutes", "hh",
    ]);
    let part = (
        prop_oneof![
            (0u64..100).prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
            Just("99999999999999999999999999".to_string()),
            Just("1.5".to_string()),
            Just(".5".to_string()),
            Just("-1".to_string()),
            Just("1e3".to_string()),
        ],
        unit,
        prop::sample::select(vec!["", " "]),
    )
        .prop_map(|(n, u, sep)| format!("{n}{sep}{u}"));
    prop_oneof![
        16 => (1u64..60).prop_map(|v| format!("\"{v}s\"")),
        4 => prop::collection::vec(part, 1..4).prop_map(|p| format!("\"{}\"", p.join(""))),
        1 => Just("\"7d\"".to_string()),
        1 => Just("\"1h1h\"".to_string()),
        1 => Just("\"0s\"".to_string()),
        1 => Just("30".to_string()),
        1 => Just("\"\"".to_string()),
    ]
}

/// A TOML string: mostly escaped (valid TOML holding any character), now
/// and then raw (control characters TOML itself refuses).
fn string() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        30 => prop::char::range('a', 'z'),
        1 => prop::char::range('\0', '\u{1f}'),
        1 => Just('\u{7f}'),
        1 => Just('\u{202e}'),
        1 => Just(' '),
        1 => Just(','),
        1 => Just(':'),
        1 => any::<char>(),
    ];
    let text = prop::collection::vec(ch, 0..12).prop_map(|cs| cs.into_iter().collect::<String>());
    prop_oneof![
        8 => text.clone().prop_map(|s| toml_quote(&s)),
        1 => text.prop_map(|s| format!("\"{s}\"")),
        1 => (1usize..400).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
        1 => Just("\"${FUZZ_SET}\"".to_string()),
        1 => Just("\"${FUZZ_CTRL}\"".to_string()),
        1 => Just("\"${FUZZ_UNSET}\"".to_string()),
    ]
}

fn toml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn maybe(key: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::option::weighted(0.15, value)
        .prop_map(move |v| v.map_or(String::new(), |v| format!("{key} = {v}\n")))
}

fn stage() -> impl Strategy<Value = String> {
    prop_oneof![
        (number(), duration()).prop_map(|(r, d)| format!("{{ hold_rpm = {r}, for = {d} }}")),
        (number(), duration()).prop_map(|(r, d)| format!("{{ ramp_to_rpm = {r}, over = {d} }}")),
        (number(), number(), duration())
            .prop_map(|(r, f, d)| format!("{{ ramp_to_rpm = {r}, from_rpm = {f}, over = {d} }}")),
        Just("{ hold_rpm = 60, for = \"2s\" }".to_string()),
    ]
}

fn traffic() -> impl Strategy<Value = String> {
    (
        maybe("name", string()),
        prop_oneof![3 => Just("\"default\"".to_string()), 1 => string()],
        maybe("weight", number()),
        maybe("prompt_tokens", number()),
        maybe("max_tokens", number()),
        maybe(
            "stream",
            prop::sample::select(vec!["true".to_string(), "1".to_string()]),
        ),
    )
        .prop_map(|(name, model, w, p, m, s)| {
            format!("[[traffic]]\n{name}model = {model}\n{w}{p}{m}{s}")
        })
}

fn provider() -> impl Strategy<Value = String> {
    (
        maybe(
            "name",
            prop_oneof![3 => Just("\"flash\"".to_string()), 1 => string()],
        ),
        prop::sample::select(vec![
            "\"deepseek-v4-flash\"",
            "\"qwen3-32b\"",
            "\"deepseek-r1\"",
            "\"../mock-providers/deepseek-r1.toml\"",
            "\"nope\"",
        ]),
        maybe("port", number()),
    )
        .prop_map(|(n, p, port)| format!("[[providers]]\n{n}profile = {p}\n{port}"))
}

fn fault() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec![
        "outage",
        "error_burst",
        "latency_spike",
        "rate_limit",
        "malformed",
        "stream_stall",
        "stream_cut",
        "stream_error",
        "slow_first_token",
        "meltdown",
    ]);
    (
        prop_oneof![
            Just("provider = \"flash\"\n".to_string()),
            Just("region = \"us-east\"\n".to_string()),
            maybe("provider", string())
        ],
        kind,
        maybe("start", duration()),
        maybe("duration", duration()),
        maybe("probability", number()),
        maybe("multiplier", number()),
        maybe("add", duration()),
        maybe("rpm", number()),
        maybe("delay", duration()),
        maybe("pause", duration()),
        maybe("status", number()),
    )
        .prop_map(
            |(target, kind, start, dur, p, m, add, rpm, delay, pause, status)| {
                // Keys of other kinds are refused; keep only the ones this kind
                // takes most of the time, so that ranges get exercised.
                let own = match kind {
                    "latency_spike" => format!("{m}{add}"),
                    "rate_limit" => rpm,
                    "slow_first_token" => delay,
                    "stream_stall" => pause,
                    "outage" | "error_burst" => status,
                    _ => String::new(),
                };
                format!("[[faults]]\n{target}kind = \"{kind}\"\n{start}{dur}{p}{own}")
            },
        )
}

fn gateway() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => (maybe("port", number()), maybe("cool_off", duration()), maybe("failure_rate", number()), maybe("half_open_probes", number()))
            .prop_map(|(port, c, r, h)| format!("[gateway]\n{port}[gateway.breaker]\n{c}{r}{h}")),
        1 => (maybe("attempt_timeout", duration()), maybe("retries", number()))
            .prop_map(|(t, r)| format!("[gateway]\n[gateway.policy]\n{t}{r}")),
        1 => (string(), maybe("ready_url", string()), maybe("ready_timeout", duration()), string(), maybe("cwd", string()))
            .prop_map(|(url, ready, rt, arg, cwd)| {
                format!("[gateway]\nurl = {url}\ncommand = [\"sh\", {arg}]\n{ready}{rt}{cwd}env = {{ A = {arg} }}\n")
            }),
    ]
}

fn scenario() -> impl Strategy<Value = String> {
    (
        maybe("name", string()),
        maybe("description", string()),
        maybe("seed", number()),
        (maybe("timeout", duration()), maybe("drain", duration()), maybe("max_in_flight", number())),
        prop::collection::vec(stage(), 1..4),
        prop::collection::vec(traffic(), 1..3),
        prop::collection::vec(provider(), 1..3),
        prop::collection::vec(fault(), 0..2),
        gateway(),
        (maybe("uptime", number()), maybe("p99", duration()), maybe("max_amplification", number())),
    )
        .prop_map(|(name, desc, seed, (timeout, drain, mif), stages, traffic, providers, faults, gateway, (up, p99, amp))| {
            format!(
                "{name}{desc}{seed}[load]\n{timeout}{drain}{mif}stages = [{}]\n{}{}{}{gateway}[sla]\n{up}{p99}{amp}",
                stages.join(", "),
                traffic.concat(),
                providers.concat(),
                faults.concat(),
            )
        })
}

// --- mutated real scenarios ----------------------------------------------

fn seeds() -> Vec<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["scenarios", "tests/hostile/accept"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.push(root().join("examples/litellm/outage.toml"));
    files.push(root().join("examples/portkey/outage.toml"));
    files.retain(|p| p.extension().is_some_and(|x| x == "toml"));
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

const TOKENS: &[&str] = &[
    "1e309",
    "nan",
    "-inf",
    "inf",
    "99999999999999999999",
    "-1",
    "0",
    "1e300",
    "\"1h1h\"",
    "\"7d\"",
    "\"8d\"",
    "\"0s\"",
    "\"\\u001b[31m\"",
    "\"\\u0000\"",
    "\"a b\"",
    "\"🚀\"",
    "[[faults]]",
    "[[traffic]]",
    "[[providers]]",
    "[gateway]",
    "=",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\n",
    "#",
    "'",
    "\\",
    "kind = \"outage\"",
    "as = \"refuse\"",
    "hold_rpm = 1e9",
    "weight = 1.7e308",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, usize),
    ReplaceNumber(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::FlipByte(a, b)),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 1usize..80).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Mutation::ReplaceNumber(a, t)),
    ]
}

fn mutate(src: &str, mutations: &[Mutation]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let at = |i: usize| i % bytes.len();
        match *m {
            Mutation::FlipByte(i, b) => {
                let i = at(i);
                bytes[i] = b;
            }
            Mutation::Delete(i, n) => {
                let i = at(i);
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Duplicate(i, n) => {
                let i = at(i);
                let end = (i + n).min(bytes.len());
                let copy = bytes[i..end].to_vec();
                bytes.splice(i..i, copy);
            }
            Mutation::Insert(i, t) => {
                let i = at(i);
                let token = TOKENS[t % TOKENS.len()].as_bytes();
                bytes.splice(i..i, token.iter().copied());
            }
            Mutation::ReplaceNumber(i, t) => {
                // The first number at or after i becomes an extreme one.
                let start = at(i);
                if let Some(s) = (start..bytes.len()).find(|&j| bytes[j].is_ascii_digit()) {
                    let e = (s..bytes.len())
                        .find(|&j| !(bytes[j].is_ascii_digit() || bytes[j] == b'.'))
                        .unwrap_or(bytes.len());
                    let token = TOKENS[t % 8].as_bytes();
                    bytes.splice(s..e, token.iter().copied());
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn generated_scenarios_never_panic_and_are_refused_or_in_range() {
    let mut runner = TestRunner::new(config());
    runner
        .run(&scenario(), |src| check(&src))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn mutated_shipped_scenarios_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 5);
    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 1..5),
    );
    let mut runner = TestRunner::new(config());
    runner
        .run(&strategy, |(src, muts)| check(&mutate(&src, &muts)))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_generators_reach_both_verdicts() {
    // A property that only ever saw refusals would test little: make sure
    // the generated scenarios are accepted now and then.
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..config()
    });
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..300 {
        let src = scenario().new_tree(&mut runner).unwrap().current();
        match from_str(&src, &scenario_path(), &env) {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                if std::env::var("FUZZ_DEBUG").is_ok() {
                    eprintln!("{}", e.field());
                }
            }
        }
    }
    eprintln!("generated: accepted {ok}, refused {refused}");
    assert!(ok > 0 && refused > 0, "accepted {ok}, refused {refused}");
}
