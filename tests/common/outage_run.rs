//! One short real run whose report has something to show: 6 s at
//! 1,200 RPM through the built-in gateway, provider `flash` out from 2 s
//! to 4 s, a streaming class, and markup and quotes in the scenario name.
//! The report's text tests (`report_html.rs`) and its browser test
//! (`report_browser.rs`) both read what it writes.

use std::path::{Path, PathBuf};

use slabench::run::{RunOptions, RunOutcome};

/// The scenario's name, as written in the TOML.
pub const NAME: &str = "browser <check> & \"quotes\"";

const SCENARIO: &str = r#"
name = "browser <check> & \"quotes\""
description = "6 s at 1,200 RPM; flash is out from 2 s to 4 s"
seed = 11
[load]
timeout = "10s"
drain = "5s"
stages = [{ hold_rpm = 1200, for = "6s" }]
[[traffic]]
name = "chat"
weight = 80
model = "default"
prompt_tokens = 200
max_tokens = 60
[traffic.sla]
p99 = "3s"
[[traffic]]
name = "stream"
weight = 20
model = "default"
prompt_tokens = 200
max_tokens = 60
stream = true
[gateway]
kind = "builtin"
[gateway.routes]
default = ["flash", "qwen"]
[gateway.policy]
attempt_timeout = "3s"
[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
[[providers]]
name = "qwen"
profile = "qwen3-32b"
[[faults]]
provider = "flash"
kind = "outage"
as = "5xx"
status = 503
start = "2s"
duration = "2s"
[sla]
uptime = "99%"
max_amplification = 2.0
"#;

/// Runs the scenario into `dir`, with requests.csv.
pub async fn outage_run(dir: &Path) -> RunOutcome {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/browser.toml");
    let sc = slabench::scenario::from_str(SCENARIO, &path, &|_| None).unwrap();
    assert_eq!(sc.name, NAME);
    let opts = RunOptions {
        out: Some(dir.to_path_buf()),
        quiet: true,
        stop: None,
        requests_csv: true,
        allow_unreachable: false,
        ..Default::default()
    };
    slabench::run::run(&sc, opts).await.unwrap()
}
