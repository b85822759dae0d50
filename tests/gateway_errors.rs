//! What the gateway did itself, through real sockets: an in-process fake
//! gateway (hyper) in front of slabench's simulated providers answers some
//! requests with its own 429 without trying a provider, passes some
//! providers' errors through, moves some between two deployments of one
//! group (reporting it as LiteLLM does: a retry), and fails some over to
//! another provider. The run must tell these apart.

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

mod common;

const NO_DEPLOYMENTS: &str = "No deployments available for selected model, Try again in 5 seconds. Passed model=default. pre-call-checks=False";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Provider base URLs: flash and qwen deploy group "default"; r1 is alone.
struct Upstreams {
    client: reqwest::Client,
    flash: String,
    qwen: String,
    r1: String,
}

impl Upstreams {
    async fn call(&self, base: &str, tag: &str, body: &Bytes) -> (u16, Bytes) {
        let r = self
            .client
            .post(format!("{base}/v1/chat/completions"))
            .header("content-type", "application/json")
            .header(slabench::protocol::tag::HEADER, tag)
            .body(body.clone())
            .send()
            .await
            .expect("the provider answers");
        let status = r.status().as_u16();
        (status, r.bytes().await.unwrap_or_default())
    }
}

fn answer(status: u16, body: Bytes, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body)).unwrap()
}

/// By request number: 0 mod 4, the gateway's own 429 (no provider tried);
/// 1, flash (out: 503) then qwen, its deployment sibling, reported as one
/// retry; 2, flash's 503 passed through; 3, flash then r1, one fallback.
async fn route(up: &Upstreams, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let tag = req
        .headers()
        .get(slabench::protocol::tag::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let seq = slabench::protocol::tag::parse(&tag).unwrap_or(3);
    let own = serde_json::json!({"error": {"message": NO_DEPLOYMENTS, "type": "None", "param": null, "code": "429"}});
    match seq % 4 {
        0 => answer(429, own.to_string().into(), &[]),
        2 => {
            let (status, b) = up.call(&up.flash, &tag, &body).await;
            answer(status, b, &[])
        }
        n => {
            // flash is out from t=0 (the preflight, before it, gets an answer).
            up.call(&up.flash, &tag, &body).await;
            let (next, headers) = if n == 1 {
                (
                    &up.qwen,
                    [
                        ("x-litellm-attempted-fallbacks", "0"),
                        ("x-litellm-attempted-retries", "1"),
                        ("x-litellm-model-id", "qwen"),
                    ],
                )
            } else {
                (
                    &up.r1,
                    [
                        ("x-litellm-attempted-fallbacks", "1"),
                        ("x-litellm-attempted-retries", "0"),
                        ("x-litellm-model-id", "r1"),
                    ],
                )
            };
            let (status, b) = up.call(next, &tag, &body).await;
            answer(status, b, &headers)
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, up: Arc<Upstreams>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let up = Arc::clone(&up);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let up = Arc::clone(&up);
                async move { Ok::<_, Infallible>(route(&up, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn scenario(gateway: u16, [flash, qwen, r1]: [u16; 3]) -> String {
    format!(
        r#"
name = "gateway-errors"
[load]
max_lag_p99 = "1s"
stages = [{{ hold_rpm = 480, for = "3s" }}]
timeout = "10s"
drain = "5s"
[[traffic]]
model = "default"
max_tokens = 8
[gateway]
url = "http://127.0.0.1:{gateway}"
[[providers]]
name = "flash"
profile = "deepseek-v4-flash"
port = {flash}
group = "default"
[[providers]]
name = "qwen"
profile = "qwen3-32b"
port = {qwen}
group = "default"
[[providers]]
name = "r1"
profile = "deepseek-v4-flash"
port = {r1}
[[faults]]
provider = "flash"
kind = "outage"
as = "5xx"
status = 503
[sla]
uptime = "50%"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_own_errors_and_group_moves_are_told_apart() {
    let ports = [free_port(), free_port(), free_port()];
    let url = |p: u16| format!("http://127.0.0.1:{p}");
    let up = Arc::new(Upstreams {
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        flash: url(ports[0]),
        qwen: url(ports[1]),
        r1: url(ports[2]),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve(listener, up));
    let sc = common::parse(&scenario(gw_port, ports)).unwrap();
    assert_eq!(sc.providers[0].group.as_deref(), Some("default"));
    let dir = tempfile::tempdir().unwrap();
    let out = slabench::run::run(&sc, common::fake::quiet_into(dir.path()))
        .await
        .unwrap();
    server.abort();

    let s = &out.summary;
    let sent = s.generator.sent;
    assert!(sent >= 20, "{sent}");
    let quarter = |n: u64| n.abs_diff(sent / 4) <= 1;
    let f = s.failover.as_ref().expect("a ledger");
    // The gateway's own 429s: no provider attempt, shown with status and message.
    let g = s.requests.gateway_errors.as_ref().expect("gateway errors");
    assert!(quarter(g.count), "{g:?} of {sent}");
    assert_eq!(g.count, f.unreached);
    assert_eq!(g.by_message.len(), 1, "{g:?}");
    let m = &g.by_message[0];
    assert_eq!((m.status, m.count), (Some(429), g.count));
    assert!(
        m.message
            .starts_with("No deployments available for selected model"),
        "{m:?}"
    );
    assert!(m.message.chars().count() <= 120);
    // flash's 503s passed through are provider errors, and only they are.
    assert!(quarter(f.provider_errors_passed_through), "{f:?}");
    assert_eq!(f.exhausted, f.provider_errors_passed_through);
    assert_eq!(
        s.requests.failed,
        g.count + f.provider_errors_passed_through,
        "every failure is one or the other"
    );
    // flash → qwen inside group "default" is a group move; flash → r1 a failover.
    assert!(quarter(f.group_moves) && quarter(f.failovers), "{f:?}");
    assert_eq!(f.retries, 0);
    let a = f.gateway_account.as_ref().expect("LiteLLM headers");
    assert_eq!(
        a.fallbacks_between,
        slabench::analysis::account::FallbacksBetween::Groups
    );
    assert_eq!(a.disagreements.fallbacks_unreported, 0, "{a:?}");
    assert_eq!(a.disagreements.fallbacks_unseen, 0, "{a:?}");
    assert_eq!(a.gateway_fallbacks, a.ledger_fallbacks);
    assert!(a.refusals.is_none());

    // Every output shows them.
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    assert_eq!(
        doc["requests"]["gateway_errors"]["by_message"][0]["status"],
        429
    );
    assert_eq!(doc["failover"]["group_moves"], f.group_moves);
    assert_eq!(doc["scenario"]["providers"][1]["group"], "default");
    assert!(doc["scenario"]["providers"][2].get("group").is_none());
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let csv = read("failovers.csv");
    assert!(
        csv.contains(",group_move,") && csv.contains(",failover,"),
        "{csv}"
    );
    for file in ["summary.md", "report.html"] {
        let text = read(file);
        assert!(text.contains("gateway made itself"), "{file}");
        assert!(text.contains("No deployments available"), "{file}");
    }
    let terminal = slabench::report::terminal::render(s);
    assert!(
        terminal.contains("errors the gateway made itself (no provider attempt)")
            && terminal.contains("429 \"No deployments available"),
        "{terminal}"
    );
}
