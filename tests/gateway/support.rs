//! Test helpers: a quick gateway config, fake providers, requests, headers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use slabench::gateway::{BuiltinGatewayServer, ATTEMPTS_HEADER, SERVED_BY_HEADER, SKIPPED_HEADER};
use slabench::openai::{self, PROVIDER_HEADER};
use slabench::protocol::tag;
use slabench::scenario::{BreakerPolicy, BuiltinGateway, FailoverOn, RoutePolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const MS: Duration = Duration::from_millis(1);

/// Routes as `(model, [providers])`; no retries, every failover outcome,
/// 500 ms attempts, breaker off (the breaker tests turn it on).
pub fn config(routes: &[(&str, &[&str])]) -> BuiltinGateway {
    let routes: BTreeMap<String, Vec<String>> = routes
        .iter()
        .map(|(m, ps)| (m.to_string(), ps.iter().map(|p| p.to_string()).collect()))
        .collect();
    BuiltinGateway {
        port: 0,
        routes,
        policy: RoutePolicy {
            retries: 0,
            attempt_timeout: 500 * MS,
            stream_idle_timeout: Duration::from_secs(30),
            failover_on: vec![
                FailoverOn::Status5xx,
                FailoverOn::Status429,
                FailoverOn::Timeout,
                FailoverOn::Connect,
            ],
            honor_retry_after: true,
            max_retry_wait: 2000 * MS,
        },
        breaker: BreakerPolicy {
            enabled: false,
            failures: 3,
            failure_rate: None,
            min_requests: 1,
            window: Duration::from_secs(10),
            cool_off: 300 * MS,
            half_open_probes: 1,
        },
    }
}

/// Starts the gateway in front of `(name, base url)` providers.
pub async fn start(cfg: &BuiltinGateway, upstreams: &[(&str, String)]) -> BuiltinGatewayServer {
    let upstreams: Vec<(String, String)> = upstreams
        .iter()
        .map(|(n, u)| (n.to_string(), u.clone()))
        .collect();
    BuiltinGatewayServer::start(cfg, &upstreams)
        .await
        .expect("gateway starts")
}

/// A fake provider answering every chat request with `template`.
pub async fn provider(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    mount(&server, template).await;
    server
}

pub async fn mount(server: &MockServer, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(template)
        .mount(server)
        .await;
}

/// Answers the next `n` chat requests with `template`, ahead of what is
/// mounted after it.
pub async fn mount_first(server: &MockServer, n: u64, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(template)
        .up_to_n_times(n)
        .mount(server)
        .await;
}

/// A successful completion stamped by `name`.
pub fn completion(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header(PROVIDER_HEADER, name)
        .set_body_json(json!({
            "id": openai::completion_id(name, 1),
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "system_fingerprint": openai::fingerprint(name),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }))
}

/// An SSE stream of two chunks and `[DONE]`, stamped by `name`.
pub fn sse_body(name: &str) -> String {
    let chunk = |content: &str| {
        json!({
            "id": openai::completion_id(name, 1),
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}],
        })
    };
    format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk("hel"),
        chunk("lo")
    )
}

pub fn stream(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header(PROVIDER_HEADER, name)
        .set_body_raw(sse_body(name), "text/event-stream")
}

/// An OpenAI-style error answer.
pub fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_raw(
        openai::error_body("provider says no", "server_error", None),
        "application/json",
    )
}

/// The body the generator would send for request `seq`.
pub fn chat_body(model: &str, stream: bool, seq: u64) -> String {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("{}\nSay hello.", tag::prompt_line(seq))}],
        "max_tokens": 16,
        "stream": stream,
        "user": tag::format(seq),
    })
    .to_string()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs `body` to the gateway with the tag header of `seq`.
pub async fn post(gw: &BuiltinGatewayServer, body: String, seq: u64) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.url()))
        .header(tag::HEADER, tag::format(seq))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the gateway answers")
}

/// A non-streaming request for `model`.
pub async fn ask(gw: &BuiltinGatewayServer, model: &str, seq: u64) -> reqwest::Response {
    post(gw, chat_body(model, false, seq), seq).await
}

pub fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

pub fn attempts(resp: &reqwest::Response) -> &str {
    header(resp, ATTEMPTS_HEADER)
}

pub fn served_by(resp: &reqwest::Response) -> &str {
    header(resp, SERVED_BY_HEADER)
}

pub fn skipped(resp: &reqwest::Response) -> &str {
    header(resp, SKIPPED_HEADER)
}

pub async fn received(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// A loopback URL where nothing listens: a port just bound and released.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
