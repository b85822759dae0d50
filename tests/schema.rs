//! summary.json is a contract: real output must validate against the schema
//! in the repository, for passing, failing and interrupted runs.

mod common;

use std::time::Duration;

use common::fake::*;
use wiremock::ResponseTemplate;

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    jsonschema::validator_for(&schema).expect("the schema itself is valid")
}

fn assert_valid(v: &jsonschema::Validator, doc: &serde_json::Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json does not match the schema:\n{}",
        errors.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_summaries_validate_against_the_schema() {
    let v = validator();
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_json(completion("x"))
            .set_delay(Duration::from_millis(5)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut sc = scenario(&server.uri(), 1200.0, 1);
    sc.traffic.push(class("stream", true));
    sc.sla.budgets.p99 = Some(Duration::from_secs(1));
    slabench::run::run(&sc, quiet_into(dir.path()))
        .await
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_valid(&v, &doc);

    // A failing run against nothing at all has empty histograms: still valid.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = quiet_into(dir.path());
    opts.allow_unreachable = true;
    let mut nobody = scenario(&format!("http://127.0.0.1:{port}"), 600.0, 1);
    nobody.sla.budgets.p99 = Some(Duration::from_secs(1));
    let out = slabench::run::run(&nobody, opts).await.unwrap();
    let doc = serde_json::to_value(&out.summary).unwrap();
    assert_valid(&v, &doc);
    assert_eq!(doc["verdict"], "FAIL");
    // The latency budget over no successful request is not measured, not 0 ms.
    let p99 = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "all latency p99")
        .unwrap();
    assert_eq!(p99["state"], "not_measured", "{p99}");
    assert_eq!(p99["pass"], false);

    // And the schema does reject a broken document.
    let mut broken = doc.clone();
    broken["verdict"] = "MAYBE".into();
    broken["uptime"]["ratio"] = 1.5.into();
    assert!(v.iter_errors(&broken).count() >= 2);
}
