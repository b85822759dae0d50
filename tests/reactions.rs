//! Failover times as reactions, over real sockets: a small in-process
//! gateway in front of two simulated providers stops sending to `flash`
//! after its first requests, long before flash's fault window begins. The
//! time-to-failover check has nothing to react to: it must be NOT
//! EXERCISED in every output, never PASS; the run is UNMEASURED (exit 6),
//! and exits 0 only when the scenario makes the check optional.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use slabench::analysis::verdict::CheckState;
use slabench::analysis::Verdict;

/// Requests the fake gateway sends to flash before it drains it for good.
const TO_FLASH: u64 = 5;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Forwards each request (body and tag header) to flash for the first
/// `TO_FLASH` requests, then to qwen only. Answers any GET with 200.
async fn drained_gateway(port: u16, flash: u16, qwen: u16) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, client) = (seen.clone(), client.clone());
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (seen, client) = (seen.clone(), client.clone());
                async move { Ok::<_, Infallible>(forward(req, &seen, &client, flash, qwen).await) }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
}

async fn forward(
    req: Request<hyper::body::Incoming>,
    seen: &AtomicU64,
    client: &reqwest::Client,
    flash: u16,
    qwen: u16,
) -> Response<Full<Bytes>> {
    if req.method() == hyper::Method::GET {
        return Response::new(Full::new(Bytes::new()));
    }
    let tag = req
        .headers()
        .get(slabench::protocol::REQUEST_HEADER)
        .cloned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let port = if seen.fetch_add(1, Ordering::SeqCst) < TO_FLASH {
        flash
    } else {
        qwen
    };
    let mut up = client
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(tag) = tag {
        up = up.header(slabench::protocol::REQUEST_HEADER, tag);
    }
    match up.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let bytes = r.bytes().await.unwrap_or_default();
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(bytes))
                .unwrap()
        }
        Err(_) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    }
}

fn scenario(gw: u16, flash: u16, qwen: u16, optional: &str) -> slabench::scenario::Scenario {
    common::parse(&format!(
        r#"
name = "drained before the window"
[load]
stages = [{{ hold_rpm = 600, for = "6s" }}]
timeout = "5s"
drain = "3s"
max_lag_p99 = "1s"
[[traffic]]
model = "default"
max_tokens = 8
[gateway]
url = "http://127.0.0.1:{gw}"
[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
port = {flash}
[[providers]]
name = "qwen"
profile = "qwen3-32b"
port = {qwen}
[[faults]]
provider = "flash"
kind = "outage"
as = "5xx"
start = "3s"
duration = "2s"
[sla]
uptime = "90%"
max_time_to_failover = "2s"
{optional}
"#
    ))
    .unwrap()
}

/// The lines (rows) of `text` that name the time-to-failover check.
fn rows<'a>(text: &'a str, split: &str) -> Vec<&'a str> {
    // An HTML row ends at its `</tr>`; what follows it is another part.
    text.split(split)
        .map(|r| r.split("</tr>").next().unwrap_or(r))
        .filter(|r| r.contains("time to failover"))
        .collect()
}

/// Every output shows the check NOT EXERCISED with its why, never PASS.
fn assert_outputs_say_not_exercised(
    dir: &Path,
    summary: &slabench::results::Summary,
    optional: bool,
) {
    let terminal = slabench::report::terminal::render(summary);
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for (name, rows) in [
        ("terminal", rows(&terminal, "\n")),
        ("summary.md", rows(&md, "\n")),
        ("report.html", rows(&html, "<tr")),
    ] {
        let check_rows: Vec<&&str> = rows
            .iter()
            .filter(|r| r.contains("NOT EXERCISED"))
            .collect();
        assert!(
            !check_rows.is_empty(),
            "{name}: no NOT EXERCISED row in {rows:#?}"
        );
        for r in rows {
            assert!(!r.contains("PASS") && !r.contains("✅"), "{name}: {r}");
        }
    }
    assert!(md.contains("benched since t="), "summary.md lacks the why");
    assert!(
        html.contains("benched since t="),
        "report.html lacks the why"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let case = junit
        .split("<testcase")
        .find(|c| c.contains("time to failover"))
        .expect("a junit case for the check");
    assert!(
        case.contains("NOT EXERCISED") && case.contains("benched since t="),
        "{case}"
    );
    // Required: a failure typed by its state; optional: a skip, as CI expects.
    if optional {
        assert!(
            case.contains("<skipped") && !case.contains("<failure"),
            "{case}"
        );
    } else {
        let typed = case.contains("<failure") && case.contains(r#"type="not_exercised""#);
        assert!(typed, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_drained_before_the_window_is_not_exercised_and_never_passes() {
    for (optional, verdict) in [
        ("", Verdict::Unmeasured),
        ("optional = [\"time_to_failover\"]", Verdict::Pass),
    ] {
        // A fresh gateway (and count) for each run.
        let (gw, flash, qwen) = (free_port(), free_port(), free_port());
        drained_gateway(gw, flash, qwen).await;
        let sc = scenario(gw, flash, qwen, optional);
        let dir = tempfile::tempdir().unwrap();
        let out = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
            .await
            .unwrap();
        let s = &out.summary;
        let f = s.failover.as_ref().expect("a ledger join");
        // flash got its few requests in the first second, none after.
        // (The preflight, if it went to flash, is not joined to the run.)
        let to_flash = f.providers["flash"].attempts;
        assert!((TO_FLASH - 1..=TO_FLASH).contains(&to_flash), "{to_flash}");
        let w = &f.windows[0];
        assert_eq!(
            w.state,
            slabench::analysis::failover::WindowState::NotExercised,
            "{w:?}"
        );
        assert_eq!((w.time_to_failover_s, w.met_fault_s), (None, None));
        let c = s
            .checks
            .iter()
            .find(|c| c.name.starts_with("time to failover"))
            .expect("the check is shown, not skipped");
        assert_eq!(
            (c.state, c.pass),
            (CheckState::NotExercised, false),
            "{c:?}"
        );
        assert_eq!(c.optional, !optional.is_empty());
        assert_eq!(s.verdict, verdict, "{:#?}", s.checks);
        assert_eq!(
            s.verdict.exit_code(),
            if optional.is_empty() { 6 } else { 0 }
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        let jc = json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with("time to failover"))
            .unwrap();
        assert_eq!(
            (jc["state"].as_str(), jc["pass"].as_bool()),
            (Some("not_exercised"), Some(false))
        );
        assert_outputs_say_not_exercised(dir.path(), s, !optional.is_empty());
    }
}
