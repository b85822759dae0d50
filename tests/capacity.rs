//! `slabench capacity` over loopback, through the binary: a provider with a
//! known rate limit and no fallback gives a capacity within 10% of that
//! limit; with a fallback of known limit added, the capacity rises to
//! about the fallback's limit. Short probes (4 s of constant arrivals,
//! 5% precision, one run per factor), so each search takes well under a
//! minute. The tests that put load on sockets run one at a time (`SOCKETS`),
//! so that no search shares the machine with another and a probe that is
//! INVALID says the machine, not the gateway, was the limit. capacity.json is checked against
//! schema/capacity.schema.json. The search's determinism and its repeats
//! are proven on a fake probe function (src/capacity/search_tests.rs).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// Held by every test that runs a search: one search on the machine at a time.
static SOCKETS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SOCKETS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fast provider profile with a request limit of `rpm` and a bucket of
/// two requests (so that a short probe's burst adds little).
fn profile(dir: &Path, name: &str, rpm: u32) -> String {
    let text = format!(
        "name = \"{name}\"\nmodel = \"{name}\"\nregion = \"local\"\nprice_input_per_m = 0.1\n\
         price_output_per_m = 0.2\n\n[ttft]\ndist = \"fixed\"\nvalue = \"20ms\"\n\n[speed]\n\
         tokens_per_s = 2000\n\n[output_tokens]\ndist = \"fixed\"\nvalue = 8\n\n\
         [rate_limit]\nrpm = {rpm}\nburst = 2\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// 4 s at 1,000 RPM, constant arrivals (a lag limit of 200 ms: the
/// budgets are seconds and the machine is shared), through the built-in gateway to
/// providers of the given limits in route order; 99% uptime.
fn scenario(dir: &Path, limits: &[(&str, u32)]) -> std::path::PathBuf {
    let mut s = String::from(
        "name = \"cap\"\nseed = 5\n\n[load]\narrival = \"constant\"\ntimeout = \"3s\"\ndrain = \"3s\"\n\
         max_lag_p99 = \"200ms\"\n\
         stages = [{ hold_rpm = 1000, for = \"4s\" }]\n\n[[traffic]]\nname = \"chat\"\nweight = 1\n\
         model = \"m\"\nprompt_tokens = 20\nmax_tokens = 8\n\n[gateway]\nkind = \"builtin\"\n\
         [gateway.routes]\n",
    );
    let names: Vec<String> = limits.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    s.push_str(&format!(
        "m = [{}]\n[gateway.policy]\nretries = 0\nattempt_timeout = \"2s\"\n\
         failover_on = [\"5xx\", \"429\", \"timeout\", \"connect\"]\n",
        names.join(", ")
    ));
    for (name, rpm) in limits {
        let p = toml::Value::String(profile(dir, name, *rpm));
        s.push_str(&format!(
            "\n[[providers]]\nname = \"{name}\"\nprofile = {p}\n"
        ));
    }
    s.push_str("\n[sla]\nuptime = \"99%\"\n");
    let path = dir.join("cap.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// Runs the search; returns the exit code and capacity.json, checked
/// against the schema.
fn capacity(scenario: &Path, out: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .arg("capacity")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(["--precision", "5%", "--repeats", "1"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let text = std::fs::read_to_string(out.join("capacity.json"))
        .unwrap_or_else(|e| panic!("no capacity.json ({e}); stderr:\n{stderr}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/capacity.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    assert!(
        json["status"] != "machine_limit",
        "a probe was INVALID: this machine (the load generator, a shared CPU) was the limit \
         before the gateway's, so this test measured nothing about the gateway: {}\n{text}",
        json["conclusion"]
    );
    assert!(
        stderr.contains("[1] probing ") && stderr.contains("[1] factor "),
        "{stderr}"
    );
    assert!(out.join("capacity.html").is_file() && out.join("capacity.md").is_file());
    // The result on stdout: capacity.json's bytes with --json, else the
    // summary (the probes' lines are on stderr only).
    let stdout = String::from_utf8_lossy(&o.stdout);
    match extra.contains(&"--json") {
        true => assert_eq!(stdout, text),
        false => assert!(
            stdout.contains("capacity of ") && stdout.contains("capacity.html"),
            "{stdout}"
        ),
    }
    assert!(!stdout.contains("[1] probing"), "{stdout}");
    (o.status.code().unwrap(), json)
}

fn rpm(json: &serde_json::Value, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}: {json:#}"))
}

#[test]
fn capacity_is_the_providers_rate_limit_and_rises_with_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let alone = scenario(&one, &[("a", 1500)]);
    let both = scenario(&two, &[("a", 1500), ("b", 2400)]);
    let range = ["--min-rpm", "500", "--max-rpm", "4000"];
    let extra = [&range[..], &["--require-headroom", "30%"]].concat();
    let _one = one_at_a_time();
    // One after the other: two searches at once would share the cores.
    let alone_run = capacity(&alone, &one.join("out"), &extra);
    let both_run = capacity(&both, &two.join("out"), &[&range[..], &["--json"]].concat());

    // No fallback: the capacity is the provider's limit, within 10%.
    let (code, json) = alone_run;
    assert_eq!(json["status"], "found", "{json:#}");
    let cap = rpm(&json, "capacity_rpm");
    eprintln!("no fallback: {}", json["conclusion"]);
    assert!((1350.0..=1650.0).contains(&cap), "capacity {cap}: {json:#}");
    let [lo, hi] =
        [&json["interval_rpm"][0], &json["interval_rpm"][1]].map(|v| v.as_f64().unwrap());
    assert!(lo <= cap && hi > cap && hi / lo <= 1.051, "{lo} {hi}");
    // 1,000 RPM is the scenario's own peak: headroom about +50% ≥ 30%.
    assert!((rpm(&json, "headroom") - (cap / 1000.0 - 1.0)).abs() < 1e-9);
    assert_eq!(code, 0, "{json:#}");
    let limiting = json["limiting_check"].as_str().unwrap();
    assert!(
        limiting.contains("uptime") && limiting.contains("a's rate limit (1,500 RPM)"),
        "{limiting}"
    );
    // Every probe has its own run directory with a report.
    for p in json["probes"].as_array().unwrap() {
        let report = one.join("out").join(p["report"].as_str().unwrap());
        assert!(report.is_file(), "{}", report.display());
    }

    // With a fallback limited to 2,400 RPM the capacity rises to about
    // that limit: the built-in gateway cools the primary down for its
    // Retry-After after a 429, and the fallback then carries everything.
    // It is at most both limits together (and 10%).
    let (code, json) = both_run;
    assert_eq!(json["status"], "found", "{json:#}");
    let with = rpm(&json, "capacity_rpm");
    eprintln!("with a fallback: {}", json["conclusion"]);
    assert!(
        with >= 2400.0 * 0.9 && with >= cap * 1.3 && with <= (1500.0 + 2400.0) * 1.1,
        "with a fallback {with}, alone {cap}: {json:#}"
    );
    assert_eq!(code, 0);
}

#[test]
fn a_capacity_below_the_required_headroom_exits_1_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), &[("a", 1500)]);
    // The search never starts: the range is upside down, the precision is
    // no percentage, a bare number is ambiguous, or the highest load is
    // below the one the required headroom asks for (it could never be probed).
    for (args, says) in [
        (&["--min-rpm", "3000", "--max-rpm", "2000"][..], "--min-rpm"),
        (&["--precision", "0.1%"][..], "1% to 50%"),
        (&["--require-headroom", "lots"][..], "headroom"),
        (
            &["--require-headroom", "0.2"][..],
            "write 20% if 0.2 is a fraction",
        ),
        (
            &["--max-rpm", "1800", "--require-headroom", "100%"][..],
            "--max-rpm 1,800 RPM is below the load --require-headroom 100% asks for (2,000 RPM",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_slabench"))
            .arg("capacity")
            .arg(&path)
            .args(args)
            .arg("--out")
            .arg(dir.path().join("never"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!dir.path().join("never").join("capacity.json").exists());
    }
    // 1,500 RPM cannot carry 2,000 RPM: +100% headroom is not there.
    let _one = one_at_a_time();
    let (code, json) = capacity(
        &path,
        &dir.path().join("out"),
        &[
            "--min-rpm",
            "1200",
            "--max-rpm",
            "2000",
            "--require-headroom",
            "100%",
        ],
    );
    assert_eq!(json["meets_required"], false, "{json:#}");
    assert_eq!(code, 1, "{json:#}");
}

#[test]
fn the_shipped_example_is_valid_and_the_help_gives_the_exit_codes() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_slabench"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["validate", "scenarios/capacity.toml"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sc = slabench::scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/capacity.toml"),
    )
    .unwrap();
    // Short enough for a search of several probes.
    assert!(
        sc.load
            .stages
            .iter()
            .map(|s| s.duration())
            .sum::<std::time::Duration>()
            .as_secs()
            <= 30
    );
    let help = String::from_utf8_lossy(&run(&["capacity", "--help"]).stdout).to_string();
    for needle in [
        "--require-headroom",
        "--repeats",
        "Exit codes",
        "0  the capacity",
        "3  INVALID",
        "5  interrupted",
    ] {
        assert!(
            help.contains(needle),
            "capacity --help lacks {needle:?}:\n{help}"
        );
    }
}

/// Ctrl-C during a probe: exit 5, the probe interrupted, no capacity
/// claimed, capacity.json still written and valid.
#[test]
fn an_interrupted_search_claims_no_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), &[("a", 1500)]);
    let out = dir.path().join("out");
    // A previous search's files in the reused --out: gone or replaced.
    std::fs::create_dir_all(out.join("probes/07-f4.000")).unwrap();
    std::fs::write(out.join("capacity.json"), r#"{"status":"found"}"#).unwrap();
    let _one = one_at_a_time();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .arg("capacity")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (at most 60 s) until the first probe has its directory: the
    // signal then lands while a probe runs, however slow the machine.
    let first = || {
        std::fs::read_dir(out.join("probes"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("01-"))
            })
            .unwrap_or(false)
    };
    let began = std::time::Instant::now();
    while !first() {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(60),
            "the first probe never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "slabench ended before its first probe"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // During the first probe capacity.json is this search's, with no probe yet.
    let during: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("capacity.json")).unwrap()).unwrap();
    assert!(during["status"].is_null(), "{during:#}");
    assert_eq!(during["probes"], serde_json::json!([]), "{during:#}");
    assert!(!out.join("probes/07-f4.000").exists());
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(5));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("capacity.json")).unwrap()).unwrap();
    assert_eq!(json["status"], "interrupted", "{json:#}");
    assert!(json["capacity_rpm"].is_null(), "{json:#}");
    assert_eq!(json["meets_required"], false);
    let probes = json["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 1, "{json:#}");
    assert_eq!(probes[0]["outcome"], "interrupted", "{json:#}");
    assert_ne!(probes[0]["verdict"], "PASS");
}
