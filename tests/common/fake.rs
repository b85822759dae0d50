//! Fakes for engine tests: a scenario builder with short, quiet defaults,
//! and canned OpenAI-style answers for wiremock servers.

use std::collections::BTreeMap;
use std::time::Duration;

use slabench::scenario::*;

/// A scenario against an external URL: one class, `rpm` for `secs`, constant arrivals.
pub fn scenario(url: &str, rpm: f64, secs: u64) -> Scenario {
    Scenario {
        name: "test".into(),
        description: None,
        source: None,
        seed: 1,
        load: Load {
            stages: vec![Stage::Hold {
                rpm,
                duration: Duration::from_secs(secs),
            }],
            arrival: Arrival::Constant,
            timeout: Duration::from_secs(5),
            max_in_flight: 1000,
            // Generator accuracy is the engine benchmark's job; a loaded CI
            // machine must not turn these verdicts into INVALID.
            max_lag_p99: Some(Duration::from_secs(1)),
            drain: Duration::from_secs(5),
        },
        traffic: vec![class("default", false)],
        gateway: Gateway::External(ExternalGateway {
            url: url.into(),
            headers: vec![("authorization".into(), "Bearer test-secret".into())],
            allow_non_loopback: false,
            process: None,
        }),
        providers: vec![],
        faults: vec![],
        sla: Sla {
            uptime: 0.999,
            budgets: Budgets::default(),
            max_time_to_failover: None,
            max_amplification: None,
            max_retry_after_violations: None,
            max_non_retryable_retries: None,
            max_rewritten_errors: None,
            max_flapping_probes: None,
            optional: vec![],
        },
        gate: Gate::default(),
    }
}

pub fn class(name: &str, stream: bool) -> TrafficClass {
    TrafficClass {
        name: name.into(),
        weight: 1.0,
        model: "default".into(),
        prompt_tokens: 50,
        max_tokens: 32,
        stream,
        budgets: Budgets::default(),
    }
}

pub fn routes(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(m, ps)| (m.to_string(), ps.iter().map(|p| p.to_string()).collect()))
        .collect()
}

/// A chat completion body stamped by provider `who`.
pub fn completion(who: &str) -> serde_json::Value {
    serde_json::json!({
        "id": format!("chatcmpl-slb-{who}-1"),
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "system_fingerprint": format!("slabench:{who}"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 2, "total_tokens": 52}
    })
}

/// An SSE body of `tokens` content chunks; `done` decides whether `[DONE]` ends it.
pub fn sse_body(tokens: usize, done: bool) -> String {
    let mut s = String::new();
    for i in 0..tokens {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-slb-fake-1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i} \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str(&format!(
        "data: {{\"id\":\"chatcmpl-slb-fake-1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{{\"prompt_tokens\":50,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n",
        50 + tokens
    ));
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

/// Options for an in-process run into a temporary directory.
pub fn quiet_into(dir: &std::path::Path) -> slabench::run::RunOptions {
    slabench::run::RunOptions {
        out: Some(dir.to_path_buf()),
        quiet: true,
        stop: None,
        requests_csv: false,
        allow_unreachable: false,
        ..Default::default()
    }
}

/// A wiremock server answering every POST with `answer`.
pub async fn serve(answer: impl wiremock::Respond + 'static) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}
