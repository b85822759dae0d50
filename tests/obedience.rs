//! Did the gateway obey? Through real sockets: an in-process fake gateway
//! (hyper) in front of slabench's simulated providers, run through the
//! library's run entry with the fake's URL. One that retries at once after
//! a 429 with Retry-After, one that fails a 400 over, one that rewrites a
//! 529 as a 500: each is caught by its check (FAIL). A well-behaved one
//! (waits out Retry-After, passes the 400 and the 529 through as they came)
//! passes all three. summary.json with its `obedience` matches the schema.

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use slabench::analysis::obedience::{NON_RETRYABLE, RETRY_AFTER, REWRITTEN};
use slabench::analysis::{Check, CheckState};

mod common;

/// How the fake gateway misbehaves (all false: it behaves).
#[derive(Clone, Copy, Default)]
struct Misbehaves {
    /// After a 429, retry the same provider at once, twice, and keep
    /// sending it new requests.
    ignores_retry_after: bool,
    /// After a 400, fail over to the other provider.
    retries_400: bool,
    /// A provider's 5xx reaches the client as `500 server_error`.
    rewrites_5xx: bool,
}

struct Gateway {
    client: reqwest::Client,
    primary: String,
    fallback: String,
    how: Misbehaves,
    /// When the primary may be sent to again (its last Retry-After).
    closed_until: Mutex<Option<Instant>>,
}

struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl Gateway {
    async fn call(&self, base: &str, tag: &str, body: &Bytes) -> Answer {
        let r = self
            .client
            .post(format!("{base}/v1/chat/completions"))
            .header("content-type", "application/json")
            .header(slabench::protocol::tag::HEADER, tag)
            .body(body.clone())
            .send()
            .await
            .expect("the provider answers");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let retry_after = header("retry-after-ms")
            .map(Duration::from_millis)
            .or_else(|| header("retry-after").map(Duration::from_secs));
        Answer {
            status: r.status().as_u16(),
            retry_after,
            body: r.bytes().await.unwrap_or_default(),
        }
    }

    fn close(&self, wait: Duration) {
        let mut until = self.closed_until.lock().unwrap();
        let end = Instant::now() + wait;
        *until = Some(until.map_or(end, |u| u.max(end)));
    }

    fn open(&self) -> bool {
        let until = *self.closed_until.lock().unwrap();
        until.is_none_or(|u| Instant::now() >= u)
    }

    async fn route(&self, tag: &str, body: &Bytes) -> Answer {
        if !self.open() {
            return self.call(&self.fallback, tag, body).await;
        }
        let mut a = self.call(&self.primary, tag, body).await;
        let retries = if self.how.ignores_retry_after { 2 } else { 0 };
        for _ in 0..retries {
            if a.status != 429 {
                break;
            }
            a = self.call(&self.primary, tag, body).await;
        }
        match a.status {
            429 => {
                if !self.how.ignores_retry_after {
                    self.close(a.retry_after.unwrap_or(Duration::from_secs(1)));
                }
                self.call(&self.fallback, tag, body).await
            }
            400 if self.how.retries_400 => self.call(&self.fallback, tag, body).await,
            500.. if self.how.rewrites_5xx => Answer {
                status: 500,
                retry_after: None,
                body: serde_json::json!({"error": {"message": "upstream failed", "type": "server_error"}})
                    .to_string()
                    .into(),
            },
            _ => a,
        }
    }
}

async fn handle(gw: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let tag = req
        .headers()
        .get(slabench::protocol::tag::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let a = gw.route(&tag, &body).await;
    Response::builder()
        .status(a.status)
        .header("content-type", "application/json")
        .body(Full::new(a.body))
        .unwrap()
}

async fn serve(listener: tokio::net::TcpListener, gw: Arc<Gateway>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let gw = Arc::clone(&gw);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gw = Arc::clone(&gw);
                async move { Ok::<_, Infallible>(handle(&gw, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 3 s of load through a gateway at `gateway` to providers a (with `fault`)
/// and b; every obedience check at 0.
fn scenario(gateway: u16, [a, b]: [u16; 2], fault: &str) -> String {
    format!(
        r#"
name = "obedience"
[load]
max_lag_p99 = "1s"
stages = [{{ hold_rpm = 600, for = "3s" }}]
timeout = "10s"
drain = "5s"
[[traffic]]
model = "default"
max_tokens = 8
[gateway]
url = "http://127.0.0.1:{gateway}"
[[providers]]
name = "a"
profile = "deepseek-v4-flash"
port = {a}
[[providers]]
name = "b"
profile = "qwen3-32b"
port = {b}
[[faults]]
provider = "a"
{fault}
[sla]
uptime = "10%"
max_retry_after_violations = 0
max_non_retryable_retries = 0
max_rewritten_errors = 0
"#
    )
}

const RETRY_AFTER_2S: &str = "kind = \"error_burst\"\nstatus = 429\nretry_after = \"2s\"";
const CONTEXT_400: &str = "kind = \"error_burst\"\nstatus = 400\nerror_code = \"context_length_exceeded\"\nprobability = 0.5";
const OVERLOADED_529: &str =
    "kind = \"outage\"\nstatus = 529\ndialect = \"anthropic\"\nprobability = 0.5";

/// Runs `fault` through a fake gateway that misbehaves `how`; the summary.
async fn run(how: Misbehaves, fault: &str) -> slabench::results::Summary {
    let ports = [free_port(), free_port()];
    let url = |p: u16| format!("http://127.0.0.1:{p}");
    let gw = Arc::new(Gateway {
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        primary: url(ports[0]),
        fallback: url(ports[1]),
        how,
        closed_until: Mutex::new(None),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve(listener, gw));
    let sc = common::parse(&scenario(port, ports, fault)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
        .await
        .unwrap();
    server.abort();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    schema_valid(&doc);
    assert!(doc["obedience"].is_object(), "{}", doc["obedience"]);
    // Every check is a JUnit test case: a failure unless a measured pass.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let lines: Vec<&str> = junit.lines().collect();
    for name in [RETRY_AFTER, NON_RETRYABLE, REWRITTEN] {
        let c = check(&out.summary, name);
        let case = format!("name=\"{name}\"");
        let i = lines.iter().position(|l| l.contains(&case)).expect(name);
        let passed = lines[i].ends_with("/>");
        assert_eq!(passed, c.pass && c.state == CheckState::Measured, "{c:?}");
        assert!(
            passed || lines[i + 1].contains("<failure"),
            "{}",
            lines[i + 1]
        );
    }
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("Did the gateway obey?"));
    out.summary
}

fn schema_valid(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

fn check<'a>(s: &'a slabench::results::Summary, name: &str) -> &'a Check {
    s.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {:?}", s.checks))
}

fn failed(c: &Check) -> bool {
    c.state == CheckState::Measured && !c.pass
}

fn passed(c: &Check) -> bool {
    c.state == CheckState::Measured && c.pass
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_ignores_retry_after_is_caught() {
    let bad = Misbehaves {
        ignores_retry_after: true,
        ..Default::default()
    };
    let s = run(bad, RETRY_AFTER_2S).await;
    let c = check(&s, RETRY_AFTER);
    assert!(failed(c), "{c:?}");
    let r = &s.obedience.as_ref().unwrap().retry_after;
    // Two immediate retries per request sent to a: each early.
    assert!(r.violations >= 2 * s.generator.sent / 2, "{r:?}");
    assert!(r.same_request > 0 && r.not_waited * 2 > r.answers, "{r:?}");
    let w = r.worst.as_ref().unwrap();
    assert_eq!((w.provider.as_str(), w.retry_after_ms), ("a", 2000));
    assert!(w.early_ms > 1500.0 && w.early_ms < 2000.0, "{w:?}");
    assert!(
        c.why.as_deref().unwrap().contains("not waited for"),
        "{c:?}"
    );
    // Nothing else was asked of it: not exercised, never a pass.
    assert_eq!(check(&s, NON_RETRYABLE).state, CheckState::NotExercised);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_retries_a_400_is_caught() {
    let bad = Misbehaves {
        retries_400: true,
        ..Default::default()
    };
    let s = run(bad, CONTEXT_400).await;
    let c = check(&s, NON_RETRYABLE);
    assert!(failed(c), "{c:?}");
    let n = &s.obedience.as_ref().unwrap().non_retryable;
    assert!(
        n.requests > 0 && n.failed_over == n.requests && n.retried == 0,
        "{n:?}"
    );
    // b answered them: the client got a success, not the provider's error.
    assert_eq!(n.client_got_success, n.requests, "{n:?}");
    assert!(
        n.example.as_deref().unwrap().contains("failed over"),
        "{n:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_rewrites_a_529_is_caught() {
    let bad = Misbehaves {
        rewrites_5xx: true,
        ..Default::default()
    };
    let s = run(bad, OVERLOADED_529).await;
    let c = check(&s, REWRITTEN);
    assert!(failed(c), "{c:?}");
    let w = &s.obedience.as_ref().unwrap().rewritten;
    assert!(w.compared > 0 && w.rewritten == w.compared, "{w:?}");
    assert_eq!((w.status_changed, w.type_changed), (w.compared, w.compared));
    assert_eq!(w.pairs[0].from, "529 overloaded_error");
    assert_eq!(w.pairs[0].to, "500 server_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_behaved_gateway_passes_all_three() {
    let good = Misbehaves::default();
    let s = run(good, RETRY_AFTER_2S).await;
    let c = check(&s, RETRY_AFTER);
    assert!(passed(c), "{c:?} {:?}", s.obedience);
    assert!(s.obedience.as_ref().unwrap().retry_after.answers > 0);

    let s = run(good, CONTEXT_400).await;
    let c = check(&s, NON_RETRYABLE);
    assert!(passed(c), "{c:?}");
    let n = &s.obedience.as_ref().unwrap().non_retryable;
    assert!(
        n.requests > 0 && n.client_got_provider_error == n.requests,
        "{n:?}"
    );

    let s = run(good, OVERLOADED_529).await;
    let c = check(&s, REWRITTEN);
    assert!(passed(c), "{c:?}");
    let w = &s.obedience.as_ref().unwrap().rewritten;
    assert!(
        w.compared > 0 && w.kept == w.compared && w.status_only == 0,
        "{w:?}"
    );
}
