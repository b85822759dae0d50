//! The front: what is forwarded, errors of the gateway's own, health,
//! configuration errors, and shutdown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slabench::gateway::{serve_until, BuiltinGatewayServer};
use slabench::protocol::tag;

use crate::support::*;

#[tokio::test]
async fn body_and_tag_header_reach_the_provider_unchanged() {
    let flash = provider(completion("flash")).await;
    let gw = start(
        &config(&[("default", &["flash"])]),
        &[("flash", flash.uri())],
    )
    .await;
    // Odd spacing, key order and an unknown field: all must survive.
    let body = format!(
        "{{ \"user\":\"{}\",  \"model\":\"default\",\"temperature\":0.25,\n\"messages\":[{{\"role\":\"user\",\"content\":\"{}\\nhi\"}}]}}",
        tag::format(42),
        tag::prompt_line(42)
    );

    let resp = post(&gw, body.clone(), 42).await;
    assert_eq!(resp.status(), 200);
    let got = flash.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(String::from_utf8_lossy(&got[0].body), body);
    assert_eq!(got[0].headers.get(tag::HEADER).unwrap(), "slb-42");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unknown_model_is_an_openai_style_404() {
    let flash = provider(completion("flash")).await;
    let gw = start(
        &config(&[("default", &["flash"])]),
        &[("flash", flash.uri())],
    )
    .await;

    let resp = ask(&gw, "gpt-nope", 1).await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-nope"));

    let resp = post(&gw, "not json".into(), 2).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(received(&flash).await, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn health_reports_the_breakers() {
    let flash = provider(completion("flash")).await;
    let gw = start(
        &config(&[("default", &["flash"])]),
        &[("flash", flash.uri())],
    )
    .await;

    let resp = client()
        .get(format!("{}/health", gw.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["providers"]["flash"], "closed");

    let resp = client()
        .get(format!("{}/v1/models", gw.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_route_to_an_unknown_provider_is_refused_at_start() {
    let cfg = config(&[("default", &["flash", "ghost"])]);
    let upstreams = vec![("flash".to_string(), "http://127.0.0.1:9".to_string())];
    let err = BuiltinGatewayServer::start(&cfg, &upstreams)
        .await
        .err()
        .unwrap();
    let msg = format!("{err:#}");
    assert!(msg.contains("ghost") && msg.contains("flash"), "{msg}");
}

#[tokio::test]
async fn shutdown_ends_in_flight_requests_and_frees_the_port() {
    let flash = provider(completion("flash").set_delay(Duration::from_secs(30))).await;
    let mut cfg = config(&[("default", &["flash"])]);
    cfg.policy.attempt_timeout = Duration::from_secs(30);
    let gw = start(&cfg, &[("flash", flash.uri())]).await;
    let addr = gw.addr();

    let url = gw.url();
    let pending = tokio::spawn(async move {
        client()
            .post(format!("{url}/v1/chat/completions"))
            .body(chat_body("default", false, 1))
            .send()
            .await
    });
    // Let the request reach the provider before shutting down.
    for _ in 0..200 {
        if received(&flash).await == 1 {
            break;
        }
        tokio::time::sleep(5 * MS).await;
    }
    let started = Instant::now();
    gw.shutdown().await;
    let result = tokio::time::timeout(Duration::from_secs(5), pending).await;
    assert!(
        result.expect("the client hears back").unwrap().is_err(),
        "cut, not answered"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    std::net::TcpListener::bind(addr).expect("the port is free again");
}

/// A `Write` whose bytes the test can read while the gateway holds it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn serve_until_prints_the_url_first_and_serves_until_told() {
    let flash = provider(completion("flash")).await;
    let cfg = config(&[("default", &["flash"])]);
    let upstreams = vec![("flash".to_string(), flash.uri())];
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out = Shared::default();

    let mut writer = out.clone();
    let serving = serve_until(&cfg, &upstreams, &mut writer, async {
        let _ = rx.await;
        Ok(())
    });
    let probe = async {
        let url = loop {
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            if let Some((first, _)) = text.split_once('\n') {
                break first.to_string();
            }
            tokio::time::sleep(5 * MS).await;
        };
        let health = client().get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        tx.send(()).unwrap();
        url
    };
    let (served, url) = tokio::join!(serving, probe);
    served.unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("default → flash"), "{text}");
    std::net::TcpListener::bind(url.trim_start_matches("http://")).expect("stopped and freed");
}
