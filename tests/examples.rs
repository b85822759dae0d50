//! The gateway examples stay consistent without running LiteLLM or Portkey:
//! their scenarios are valid, the gateway configs point at the ports the
//! scenarios pin for their providers, and the Portkey config sent in the
//! `x-portkey-config` header is the one in `config.json`; install commands pin
//! the versions `.ci/gateways.sh` installs.

use std::path::{Path, PathBuf};

use slabench::scenario::{from_str, Gateway, Scenario};

fn example(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(dir)
}

fn load(dir: &str) -> Scenario {
    let path = example(dir).join("outage.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| (name == "LITELLM_MASTER_KEY").then(|| "sk-test".to_string());
    from_str(&src, &path, &env).unwrap_or_else(|e| panic!("{e}"))
}

fn external(sc: &Scenario) -> &slabench::scenario::ExternalGateway {
    match &sc.gateway {
        Gateway::External(g) => g,
        Gateway::Builtin(_) => panic!("the example tests an external gateway"),
    }
}

/// The fault kinds gateways handle worst are all in each example.
fn assert_hard_faults(sc: &Scenario) {
    use slabench::scenario::FaultKind::*;
    let has =
        |f: &dyn Fn(&slabench::scenario::FaultKind) -> bool| sc.faults.iter().any(|x| f(&x.kind));
    assert!(has(&|k| matches!(k, OutageHang)));
    assert!(has(&|k| matches!(k, OutageRefuse)));
    assert!(has(&|k| matches!(k, OutageHttp { .. })));
    assert!(has(&|k| matches!(k, ErrorBurst { status: 429 })));
    // Provider realism: a Retry-After of the scenario's choosing, an error
    // that must not be retried, an error event after a 200.
    assert!(sc.faults.iter().any(|f| matches!(
        f.error.retry_after,
        slabench::scenario::RetryAfterSpec::After(r) if r.wait > std::time::Duration::from_secs(1)
    )));
    assert!(sc.faults.iter().any(|f| match f.kind {
        ErrorBurst { status } => !f.error.retryable(status),
        _ => false,
    }));
    assert!(has(&|k| matches!(k, StreamErrorEvent)));
    let streams = sc.traffic.iter().any(|c| c.stream);
    assert!(streams, "an error event needs a streaming class");
    assert!(sc.duration().as_secs() <= 30, "CI runs it: keep it short");
}

#[test]
fn the_litellm_example_points_its_deployments_at_the_providers() {
    let sc = load("litellm");
    assert_hard_faults(&sc);
    let g = external(&sc);
    let process = g.process.as_ref().expect("slabench starts LiteLLM");
    assert_eq!(process.command[0], "litellm");
    assert!(process
        .env
        .contains(&("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into())));
    let config = std::fs::read_to_string(example("litellm").join("config.yaml")).unwrap();
    for p in &sc.providers {
        let base = format!("api_base: http://127.0.0.1:{}/v1", p.port);
        assert!(config.contains(&base), "config.yaml lacks {base}");
        let id = format!("id: {}", p.name);
        assert!(config.contains(&id), "config.yaml lacks model_info {id}");
    }
    let port = g.url.rsplit(':').next().unwrap();
    assert!(process.command.iter().any(|a| a == port));
}

#[test]
fn the_portkey_example_sends_config_json_and_points_at_the_providers() {
    let sc = load("portkey");
    assert_hard_faults(&sc);
    let g = external(&sc);
    let header = g
        .headers
        .iter()
        .find(|(k, _)| k == "x-portkey-config")
        .map(|(_, v)| v)
        .expect("the config travels in x-portkey-config");
    let sent: serde_json::Value = serde_json::from_str(header).unwrap();
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(example("portkey").join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sent, file, "outage.toml's header and config.json differ");
    // Depth first: a nested target (the loadbalance group) lists its own.
    fn hosts_of<'a>(node: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match node["targets"].as_array() {
            Some(targets) => targets.iter().for_each(|t| hosts_of(t, out)),
            None => out.push(node["custom_host"].as_str().unwrap()),
        }
    }
    let mut hosts = Vec::new();
    hosts_of(&file, &mut hosts);
    let expected: Vec<String> = sc
        .providers
        .iter()
        .map(|p| format!("http://127.0.0.1:{}/v1", p.port))
        .collect();
    assert_eq!(hosts, expected);
    // The loadbalance sub-config's deployments are one deployment group.
    let lb = file["targets"][0]["targets"]
        .as_array()
        .expect("a loadbalance group first");
    let grouped: Vec<_> = sc.providers[..lb.len()]
        .iter()
        .map(|p| p.group.as_deref())
        .collect();
    assert_eq!(grouped, vec![Some("default"); lb.len()]);
    let process = g.process.as_ref().expect("slabench starts Portkey");
    assert!(process
        .env
        .iter()
        .any(|(k, v)| k == "TRUSTED_CUSTOM_HOSTS" && v.contains("127.0.0.1")));
}

/// The README's and the examples' install commands pin the versions CI
/// installs, so a finding's version is the one a reader gets.
#[test]
fn install_commands_pin_the_versions_ci_installs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    let script = read(".ci/gateways.sh");
    let pinned = |var: &str| {
        let prefix = format!("{var}=");
        script
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{var} is not set in .ci/gateways.sh"))
            .to_string()
    };
    let litellm = format!(
        "pip install 'litellm[proxy]=={}'",
        pinned("LITELLM_VERSION")
    );
    let portkey = format!(
        "npm install -g @portkey-ai/gateway@{}",
        pinned("PORTKEY_VERSION")
    );
    for (file, wants) in [
        ("README.md", vec![&litellm, &portkey]),
        ("examples/litellm/outage.toml", vec![&litellm]),
        ("examples/portkey/outage.toml", vec![&portkey]),
    ] {
        let text = read(file);
        for want in wants {
            assert!(text.contains(want.as_str()), "{file} does not say `{want}`");
        }
    }
}
