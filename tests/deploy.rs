//! The Kubernetes manifests (`deploy/kubernetes/`) and the Dockerfile: they
//! agree with each other, with the scenario they run and with slabench's
//! command line, and (with the tools, which CI installs) with the
//! Kubernetes schemas. No cluster is involved: these machines cannot run
//! one, and the README says so.
//!
//! The YAML is read with yaml-rust2 (a dev-dependency): the manifests use
//! block scalars, flow sequences and multi-document files, which a line
//! scanner would half-read and then pass on what it missed.
//!
//! `tests/deploy/` holds the parts: reading the manifests, the Dockerfile
//! checks, and the checks that need tools.

#[path = "deploy/dockerfile.rs"]
mod dockerfile;
#[path = "deploy/manifests.rs"]
mod manifests;
#[path = "deploy/tools.rs"]
mod tools;

use std::collections::{BTreeMap, BTreeSet};

use yaml_rust2::Yaml;

use manifests::*;

/// The scenario the cluster runs, through slabench's own validation.
fn cluster_scenario() -> slabench::scenario::Scenario {
    let path = kube().join("config/scenario.toml");
    slabench::scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
#[test]
fn the_kustomization_lists_every_manifest_in_the_folder() {
    let m = Manifests::load(&kube());
    let listed: BTreeSet<String> = strs(&m.kustomization["resources"]).into_iter().collect();
    let present: BTreeSet<String> = std::fs::read_dir(kube())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, present,
        "kustomization.yaml's resources vs the folder's files"
    );
    for (file, o) in &m.objects {
        for field in ["apiVersion", "kind"] {
            assert!(
                o[field].as_str().is_some(),
                "{file}: an object without {field}"
            );
        }
    }
}

#[test]
fn the_service_and_the_mock_serve_the_scenarios_pinned_ports() {
    let sc = cluster_scenario();
    let slabench::scenario::Gateway::External(gw) = &sc.gateway else {
        panic!("the cluster scenario tests the user's gateway: kind = \"external\"");
    };
    assert!(
        gw.process.is_none(),
        "the gateway is the user's Service: no command"
    );
    assert!(gw.allow_non_loopback, "a Service URL is not loopback");
    let want: BTreeMap<String, i64> = sc
        .providers
        .iter()
        .map(|p| (p.name.clone(), i64::from(p.port)))
        .collect();
    assert!(
        want.values().all(|&p| p != 0),
        "every provider port pinned: {want:?}"
    );

    let m = Manifests::load(&kube());
    let deploy = m.get("Deployment", "slabench-providers");
    let mock = container(&deploy["spec"]["template"]["spec"], "mock");
    let container_ports: BTreeMap<String, i64> = list(&mock["ports"])
        .iter()
        .map(|p| {
            (
                s(&p["name"]).to_string(),
                int(&p["containerPort"], "containerPort"),
            )
        })
        .collect();
    // The scenario's ports, and the live metrics' port its args name.
    let mut with_metrics = want.clone();
    with_metrics.insert("metrics".into(), 9464);
    assert_eq!(
        container_ports, with_metrics,
        "the mock container's ports vs the scenario and --metrics-addr"
    );
    let args: Vec<&str> = list(&mock["args"]).iter().map(s).collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--metrics-addr", "0.0.0.0:9464"]),
        "{args:?}"
    );

    let svc = m.get("Service", "slabench-providers");
    let mut svc_ports = BTreeMap::new();
    for p in list(&svc["spec"]["ports"]) {
        let name = s(&p["name"]).to_string();
        assert_eq!(
            s(&p["targetPort"]),
            name,
            "Service port {name} targets the named port"
        );
        svc_ports.insert(name, int(&p["port"], "port"));
    }
    assert_eq!(svc_ports, want, "the Service's ports vs the scenario");
    assert_eq!(
        svc["spec"]["selector"], deploy["spec"]["template"]["metadata"]["labels"],
        "the Service selects the providers' pods"
    );
    let get = &mock["startupProbe"]["httpGet"];
    assert_eq!(s(&get["path"]), "/health", "startupProbe");
    assert!(
        want.contains_key(s(&get["port"])),
        "startupProbe on a provider port"
    );
    // A refuse window refuses /health too: a probe that runs during the
    // load would take the provider out of the Service or restart it.
    for probe in ["readinessProbe", "livenessProbe"] {
        assert!(mock[probe].is_badvalue(), "no {probe}: {:?}", mock[probe]);
    }
}

#[test]
fn the_shard_count_is_one_number_in_completions_parallelism_and_shard() {
    let m = Manifests::load(&kube());
    let job = m.get("Job", "slabench-shards");
    let spec = &job["spec"];
    assert_eq!(s(&spec["completionMode"]), "Indexed");
    let completions = int(&spec["completions"], "completions");
    assert_eq!(
        int(&spec["parallelism"], "parallelism"),
        completions,
        "all shards at once"
    );
    let shard = container(&spec["template"]["spec"], "shard");
    let args = strs(&shard["args"]);
    let (at, value) = flag_value(&args, "--shard");
    let n: i64 = value
        .strip_prefix("$(JOB_COMPLETION_INDEX)/")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("--shard {value}: want $(JOB_COMPLETION_INDEX)/N"));
    assert_eq!(n, completions, "--shard's N vs completions");
    assert!((1..=1024).contains(&n));
    assert_eq!(
        flag_value(&args, "--out").1,
        "/runs/shard-$(JOB_COMPLETION_INDEX)"
    );
    // A shard runs once: a retry would start late (INVALID) over the first
    // try's directory.
    assert_eq!(
        int(&spec["backoffLimitPerIndex"], "backoffLimitPerIndex"),
        0
    );
    assert_eq!(s(&spec["template"]["spec"]["restartPolicy"]), "Never");

    // The kustomization sets N once and copies it to the other two places.
    let patch = list(&m.kustomization["patches"])
        .iter()
        .find(|p| p["target"]["name"].as_str() == Some("slabench-shards"))
        .expect("a patch of the shards Job in kustomization.yaml");
    let ops = yaml_docs(s(&patch["patch"]), "the shards patch").remove(0);
    let op = list(&ops)
        .iter()
        .find(|o| s(&o["path"]) == "/spec/completions")
        .expect("the patch sets /spec/completions");
    assert_eq!(
        int(&op["value"], "the patch's value"),
        completions,
        "the patch vs shards.yaml"
    );
    let repl = list(&m.kustomization["replacements"])
        .iter()
        .find(|r| r["source"]["name"].as_str() == Some("slabench-shards"))
        .expect("a replacement from the shards Job's completions");
    assert_eq!(s(&repl["source"]["fieldPath"]), "spec.completions");
    let mut copied = BTreeSet::new();
    for t in list(&repl["targets"]) {
        assert_eq!(s(&t["select"]["name"]), "slabench-shards");
        for path in strs(&t["fieldPaths"]) {
            if path.contains(".args.") {
                assert_eq!(t["options"]["delimiter"].as_str(), Some("/"));
                assert_eq!(t["options"]["index"].as_i64(), Some(1));
            }
            copied.insert(path);
        }
    }
    let args_path = format!("spec.template.spec.containers.[name=shard].args.{at}");
    assert_eq!(
        copied,
        BTreeSet::from(["spec.parallelism".to_string(), args_path])
    );
}

#[test]
fn every_volume_mount_names_a_volume_of_its_pod() {
    let m = Manifests::load(&kube());
    let claims: BTreeSet<&str> = m
        .of_kind("PersistentVolumeClaim")
        .iter()
        .map(|c| s(&c["metadata"]["name"]))
        .collect();
    for c in m.of_kind("PersistentVolumeClaim") {
        assert!(
            strs(&c["spec"]["accessModes"]).contains(&"ReadWriteMany".to_string()),
            "shards and providers on different nodes share it: ReadWriteMany"
        );
    }
    let generated = m.generated();
    for (owner, pod, _) in m.pod_specs() {
        let mut volumes = BTreeSet::new();
        for v in list(&pod["volumes"]) {
            let name = s(&v["name"]);
            if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
                assert!(
                    claims.contains(claim),
                    "{owner}: volume {name} claims {claim}, not declared"
                );
            } else if let Some(cm) = v["configMap"]["name"].as_str() {
                assert!(
                    generated.contains_key(cm),
                    "{owner}: volume {name}: no ConfigMap {cm} generated"
                );
            } else {
                assert!(
                    v["emptyDir"].is_hash(),
                    "{owner}: volume {name} of an unexpected kind"
                );
            }
            assert!(
                volumes.insert(name),
                "{owner}: volume {name} declared twice"
            );
        }
        let mut runs = false;
        for c in containers(pod) {
            for vm in list(&c["volumeMounts"]) {
                let name = s(&vm["name"]);
                assert!(
                    volumes.contains(name),
                    "{owner}: container {} mounts {name}, which the pod does not declare",
                    s(&c["name"])
                );
                runs |= s(&vm["mountPath"]) == "/runs";
            }
        }
        assert!(runs, "{owner}: nothing mounted at /runs");
    }
}

/// Merge reads every shard's scenario back (its profiles beside the path
/// the shards ran it from, its `${VARS}` from its own environment): the
/// merge pod mounts the same ConfigMap at the same path, with the same
/// variables.
#[test]
fn the_merge_sees_the_scenario_where_the_shards_saw_it() {
    let m = Manifests::load(&kube());
    let pod = |job: &str| m.get("Job", job)["spec"]["template"]["spec"].clone();
    let (shards, merge) = (pod("slabench-shards"), pod("slabench-merge"));
    let (sc, mc) = (container(&shards, "shard"), container(&merge, "merge"));
    assert_eq!(
        config_mounts(&merge, mc)
            .into_iter()
            .filter(|(path, _)| *path == "/config")
            .collect::<Vec<_>>(),
        config_mounts(&shards, sc)
            .into_iter()
            .filter(|(path, _)| *path == "/config")
            .collect::<Vec<_>>(),
    );
    let names = |c: &Yaml| -> Vec<String> {
        list(&c["env"])
            .iter()
            .map(|e| s(&e["name"]).to_string())
            .filter(|n| n == "GATEWAY_API_KEY")
            .collect()
    };
    assert_eq!(names(mc), names(sc));
}

/// Where each pod mounts which generated ConfigMap.
fn config_mounts<'a>(pod: &'a Yaml, c: &'a Yaml) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for vm in list(&c["volumeMounts"]) {
        for v in list(&pod["volumes"]) {
            if v["name"] == vm["name"] {
                if let Some(cm) = v["configMap"]["name"].as_str() {
                    out.push((s(&vm["mountPath"]), cm));
                }
            }
        }
    }
    out
}

#[test]
fn every_config_map_key_in_use_is_generated() {
    let m = Manifests::load(&kube());
    let generated = m.generated();
    for (name, keys) in &generated {
        for (key, file) in keys {
            if let Some(f) = file {
                assert!(
                    f.is_file(),
                    "ConfigMap {name} key {key}: {} missing",
                    f.display()
                );
            }
        }
    }
    for (owner, pod, _) in m.pod_specs() {
        for c in containers(pod) {
            for e in list(&c["env"]) {
                let r = &e["valueFrom"]["configMapKeyRef"];
                if let (Some(cm), Some(key)) = (r["name"].as_str(), r["key"].as_str()) {
                    let ok = generated.get(cm).is_some_and(|k| k.contains_key(key));
                    assert!(
                        ok,
                        "{owner}: env {} reads {cm}/{key}, which is not generated",
                        s(&e["name"])
                    );
                }
            }
            for (mount, cm) in config_mounts(pod, c) {
                for arg in strs(&c["args"]).iter().chain(&strs(&c["command"])) {
                    if let Some(key) = arg.strip_prefix(&format!("{mount}/")) {
                        assert!(
                            generated[cm].contains_key(key),
                            "{owner}: {arg} is no key of {cm}"
                        );
                    }
                }
            }
        }
    }
    // The profiles the scenario names sit beside it in the ConfigMap, and
    // are the shipped ones.
    let raw: toml::Value = toml::from_str(&read(&kube().join("config/scenario.toml"))).unwrap();
    let scenario_keys = &generated["slabench-scenario"];
    assert!(scenario_keys.contains_key("scenario.toml"));
    for p in raw["providers"].as_array().unwrap() {
        let profile = p["profile"].as_str().unwrap();
        assert!(
            profile.ends_with(".toml") && !profile.contains('/'),
            "profile {profile}: a file beside the scenario"
        );
        let file = scenario_keys
            .get(profile)
            .unwrap_or_else(|| panic!("profile {profile} is not in the ConfigMap"));
        let shipped = root().join("mock-providers").join(profile);
        if shipped.is_file() {
            assert_eq!(
                read(file.as_ref().unwrap()),
                read(&shipped),
                "{profile} differs from mock-providers/"
            );
        }
    }
}

#[test]
fn every_variable_in_args_is_defined_where_kubernetes_expands_it() {
    let m = Manifests::load(&kube());
    for (owner, pod, job) in m.pod_specs() {
        let indexed = job.is_some_and(|j| j["spec"]["completionMode"].as_str() == Some("Indexed"));
        for c in containers(pod) {
            let env: BTreeSet<String> = list(&c["env"])
                .iter()
                .map(|e| s(&e["name"]).to_string())
                .collect();
            for e in list(&c["env"]) {
                // The Job controller appends JOB_COMPLETION_INDEX after the
                // declared variables: a reference from one never expands.
                let value = e["value"].as_str().unwrap_or_default();
                assert!(
                    var_refs(value).is_empty(),
                    "{owner}: env {} refers to a variable",
                    s(&e["name"])
                );
            }
            for arg in strs(&c["args"]).iter().chain(&strs(&c["command"])) {
                for var in var_refs(arg) {
                    let ok = env.contains(&var) || (var == "JOB_COMPLETION_INDEX" && indexed);
                    assert!(
                        ok,
                        "{owner}: {arg} uses $({var}), which its container does not define"
                    );
                }
            }
        }
    }
    // Each providers replica writes its own ledger part, named by its pod.
    let deploy = m.get("Deployment", "slabench-providers");
    let mock = container(&deploy["spec"]["template"]["spec"], "mock");
    assert_eq!(
        flag_value(&strs(&mock["args"]), "--ledger").1,
        "/runs/ledgers/$(POD_NAME).bin"
    );
    let pod_name = list(&mock["env"])
        .iter()
        .find(|e| s(&e["name"]) == "POD_NAME")
        .unwrap();
    assert_eq!(
        s(&pod_name["valueFrom"]["fieldRef"]["fieldPath"]),
        "metadata.name"
    );
}
