//! A short scorecard against the built-in gateway: three cases at 8 s of
//! load each (SLABENCH_SCORECARD_SECONDS, the test-only override), its
//! scorecard.json valid against the schema, and the built-in gateway
//! passing them; then a deliberately weak built-in configuration (no
//! fallback, no breaker, retries on everything) failing the outage.
//! One test: the scorecard's providers use pinned ports.

use std::path::Path;
use std::process::Command;

/// Runs the cases `only`; with `json_flag`, scorecard.json is printed on
/// stdout too (else a line per case and the tally).
fn scorecard(gateway: &Path, out: &Path, only: &str, json_flag: bool) -> (i32, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["scorecard"])
        .arg(gateway)
        .arg("--out")
        .arg(out)
        .args(["--only", only])
        .args(json_flag.then_some("--json"))
        .env("SLABENCH_SCORECARD_SECONDS", "8")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let text = std::fs::read_to_string(out.join("scorecard.json"))
        .unwrap_or_else(|e| panic!("no scorecard.json ({e}); stderr:\n{stderr}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/scorecard.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&json), "{text}");
    assert!(
        stderr.contains(&format!("[1/{}]", only.split(',').count())),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    match json_flag {
        true => assert_eq!(stdout, text),
        false => {
            for case in only.split(',') {
                assert!(stdout.contains(&format!("  {case} ")), "{stdout}");
            }
            assert!(stdout.contains("scorecard: "), "{stdout}");
        }
    }
    (o.status.code().unwrap(), json)
}

fn case<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

#[test]
fn the_builtin_gateway_passes_and_a_weak_one_fails_the_outage() {
    let dir = tempfile::tempdir().unwrap();
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/scorecard/builtin.toml");
    let (code, json) = scorecard(
        &builtin,
        &dir.path().join("builtin"),
        "outage-503,context-length,retry-after-long",
        false,
    );
    assert_eq!(json["complete"], true);
    for name in ["outage-503", "retry-after-long", "context-length"] {
        let c = case(&json, name);
        assert_eq!(c["score"], "pass", "{name}: {c:#}");
        assert!(dir
            .path()
            .join("builtin")
            .join(c["report"].as_str().unwrap())
            .is_file());
    }
    assert_eq!(code, 0);
    let md = std::fs::read_to_string(dir.path().join("builtin/scorecard.md")).unwrap();
    assert!(md.contains("| outage-503 | **PASS** |"), "{md}");

    let weak = dir.path().join("weak.toml");
    std::fs::write(
        &weak,
        "[gateway]\nkind = \"builtin\"\n[gateway.routes]\ndefault = [\"flash\"]\npremium = [\"r1\"]\n\
         [gateway.policy]\nretries = 2\nhonor_retry_after = false\n[gateway.breaker]\nenabled = false\n",
    )
    .unwrap();
    let (code, json) = scorecard(&weak, &dir.path().join("weak"), "outage-503", true);
    let c = case(&json, "outage-503");
    assert_eq!(c["score"], "fail", "{c:#}");
    let survived = c["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "survived")
        .unwrap();
    assert_eq!(survived["state"], "fail", "{survived:#}");
    assert!(survived["reason"].as_str().unwrap().contains("uptime"));
    assert_eq!(code, 1);

    interrupt_keeps_the_finished_cases(&builtin, &dir.path().join("stopped"));
}

/// Ctrl-C in the first case: exit 5, that case written as not measured,
/// saying it was interrupted, the scorecard marked incomplete.
fn interrupt_keeps_the_finished_cases(gateway: &Path, out: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(["scorecard"])
        .arg(gateway)
        .arg("--out")
        .arg(out)
        .args(["--only", "outage-503,hang"])
        .env("SLABENCH_SCORECARD_SECONDS", "8")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scorecard.json")).unwrap())
            .unwrap();
    assert_eq!(json["complete"], false);
    let cases = json["scenarios"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{json:#}");
    assert_eq!(cases[0]["score"], "not_measured");
    assert!(cases[0]["reason"].as_str().unwrap().contains("INTERRUPTED"));
    let md = std::fs::read_to_string(out.join("scorecard.md")).unwrap();
    assert!(md.contains("INCOMPLETE"));
}
