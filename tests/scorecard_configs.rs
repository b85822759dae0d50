//! The scorecard's gateway files stay consistent without running LiteLLM
//! or Portkey: each holds only [gateway], LiteLLM's config points every
//! deployment at the scorecard's fixed provider ports, and the Portkey
//! config sent in `x-portkey-config` is the one in portkey.json.

use std::path::{Path, PathBuf};

/// The scorecard's providers and their pinned ports.
const PROVIDERS: [(&str, u16); 4] = [
    ("flash", 18311),
    ("flash-b", 18312),
    ("qwen", 18313),
    ("r1", 18314),
];

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/scorecard")
        .join(name)
}

fn gateway_part(name: &str) -> toml::Table {
    let t: toml::Table = std::fs::read_to_string(file(name))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        t.keys().collect::<Vec<_>>(),
        ["gateway"],
        "{name} holds only [gateway]"
    );
    t["gateway"].as_table().unwrap().clone()
}

#[test]
fn litellm_points_its_deployments_at_the_scorecard_ports() {
    let g = gateway_part("litellm.toml");
    assert_eq!(g["kind"].as_str(), Some("external"));
    let config = std::fs::read_to_string(file("litellm.yaml")).unwrap();
    for (name, port) in PROVIDERS {
        let base = format!("api_base: http://127.0.0.1:{port}/v1");
        assert!(config.contains(&base), "litellm.yaml lacks {base}");
        assert!(
            config.contains(&format!("id: {name}")),
            "no model_info id {name}"
        );
    }
    let command: Vec<&str> = g["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(command.contains(&"litellm.yaml"));
    let url = g["url"].as_str().unwrap();
    assert!(command.contains(&url.rsplit(':').next().unwrap()));
}

#[test]
fn portkey_sends_portkey_json_at_the_scorecard_ports() {
    let g = gateway_part("portkey.toml");
    let header = g["headers"]["x-portkey-config"].as_str().unwrap();
    let sent: serde_json::Value = serde_json::from_str(header).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("portkey.json")).unwrap()).unwrap();
    assert_eq!(sent, json, "portkey.toml's header and portkey.json differ");
    for (_, port) in PROVIDERS {
        assert!(header.contains(&format!("http://127.0.0.1:{port}/v1")));
    }
}

#[test]
fn the_builtin_file_routes_every_scorecard_provider() {
    let g = gateway_part("builtin.toml");
    let routes = g["routes"].as_table().unwrap();
    let default: Vec<&str> = routes["default"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(default, ["flash", "flash-b", "qwen", "r1"]);
    assert!(routes.contains_key("premium"));
}
