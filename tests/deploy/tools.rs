//! The checks that need tools: kubernetes-validate (the Kubernetes
//! schemas), kubectl (its kustomize renders what `kubectl apply -k`
//! applies), and slabench's CLI once the flags of issue 17 are merged.
//! CI installs the tools and runs these (`--include-ignored`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use yaml_rust2::Yaml;

use crate::manifests::*;

/// Sample values for the variables Kubernetes expands in args.
const SAMPLE_START_AT: &str = "2026-12-03T18:00:00Z";
const SAMPLE_POD_NAME: &str = "slabench-providers-5d8f7c9b6d-x2k4q";

/// Runs a tool and returns its standard output; fails the test with all it
/// printed when it fails.
fn run_tool(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The oldest Kubernetes the manifests are for (backoffLimitPerIndex is on
/// by default from 1.29), and the validator's own newest.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

#[test]
#[ignore = "needs kubernetes-validate (pip install kubernetes-validate)"]
fn every_manifest_passes_kubernetes_validate_strict() {
    let m = Manifests::load(&kube());
    let files = strs(&m.kustomization["resources"]);
    for version in KUBERNETES_VERSIONS {
        let out = run_tool(
            Command::new("kubernetes-validate")
                .args(["--strict", "-k", version])
                .args(&files)
                .current_dir(kube()),
            "kubernetes-validate --strict",
        );
        assert_eq!(
            out.matches(" passed for resource ").count(),
            m.objects.len(),
            "{out}"
        );
    }
}

/// `kubectl kustomize DIR`, parsed.
fn render(dir: &Path) -> (String, Vec<Yaml>) {
    let yaml = run_tool(
        Command::new("kubectl").arg("kustomize").arg(dir),
        "kubectl kustomize",
    );
    let docs = yaml_docs(&yaml, "kubectl kustomize's output");
    (yaml, docs)
}

#[test]
#[ignore = "needs kubectl (its kustomize) and kubernetes-validate"]
fn the_rendered_kustomization_passes_kubernetes_validate_and_carries_n() {
    let (yaml, docs) = render(&kube());
    for version in KUBERNETES_VERSIONS {
        let mut child = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version, "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cannot run kubernetes-validate");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "kubernetes-validate of the rendered kustomization:\n{text}"
        );
        assert_eq!(
            text.matches(" passed for resource ").count(),
            docs.len(),
            "{text}"
        );
    }
    // The generated ConfigMaps carry a hash suffix; every reference follows.
    let rendered = Manifests {
        kustomization: Yaml::Null,
        objects: docs
            .into_iter()
            .map(|d| ("rendered".to_string(), d))
            .collect(),
    };
    let maps: BTreeSet<&str> = rendered
        .of_kind("ConfigMap")
        .iter()
        .map(|d| s(&d["metadata"]["name"]))
        .collect();
    assert_eq!(maps.len(), 2, "{maps:?}");
    for (owner, pod, _) in rendered.pod_specs() {
        let volumes = list(&pod["volumes"])
            .iter()
            .filter_map(|v| v["configMap"]["name"].as_str());
        let env = containers(pod).into_iter().flat_map(|c| list(&c["env"]));
        let keyrefs = env.filter_map(|e| e["valueFrom"]["configMapKeyRef"]["name"].as_str());
        for name in volumes.chain(keyrefs) {
            assert!(
                maps.contains(name),
                "{owner} refers to ConfigMap {name}, which is not rendered"
            );
        }
    }
    // N set once in a copy of the folder reaches all three places.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&kube(), tmp.path());
    let k = tmp.path().join("kustomization.yaml");
    let text = read(&k);
    let m = Manifests::load(&kube());
    let n = int(
        &m.get("Job", "slabench-shards")["spec"]["completions"],
        "completions",
    );
    let changed = text.replace(&format!("value: {n}\n"), "value: 7\n");
    assert_ne!(changed, text, "the patch's value line");
    std::fs::write(&k, changed).unwrap();
    let (_, docs) = render(tmp.path());
    let job = docs
        .iter()
        .find(|d| s(&d["kind"]) == "Job" && s(&d["metadata"]["name"]) == "slabench-shards")
        .unwrap();
    assert_eq!(job["spec"]["completions"].as_i64(), Some(7));
    assert_eq!(job["spec"]["parallelism"].as_i64(), Some(7));
    let args = strs(&container(&job["spec"]["template"]["spec"], "shard")["args"]);
    assert_eq!(flag_value(&args, "--shard").1, "$(JOB_COMPLETION_INDEX)/7");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// `$(VAR)` replaced as Kubernetes would, with sample values.
fn expand(arg: &str, index: i64) -> String {
    arg.replace("$(START_AT)", SAMPLE_START_AT)
        .replace("$(POD_NAME)", SAMPLE_POD_NAME)
        .replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
}

/// A container's command line as slabench sees it: exec-form args, or the
/// `sh -c` line split into words with its globs expanded as the shell would
/// on the volume (N shard directories, two ledger parts).
fn argv(c: &Yaml, index: i64, n: i64) -> Option<Vec<String>> {
    let command = strs(&c["command"]);
    let args = strs(&c["args"]);
    if command.is_empty() {
        let mut v = vec!["slabench".to_string()];
        v.extend(args.iter().map(|a| expand(a, index)));
        return Some(v);
    }
    if command != ["/bin/sh", "-c"] {
        return None; // mkdir, sleep: not slabench
    }
    let words: Vec<String> = args[0].split_whitespace().map(String::from).collect();
    let words = words.strip_prefix(&["exec".to_string()]).unwrap_or(&words);
    let mut v = Vec::new();
    for w in words {
        match w.as_str() {
            "/runs/shard-*" => v.extend((0..n).map(|i| format!("/runs/shard-{i}"))),
            "/runs/ledgers/*.bin" => {
                v.extend(["a", "b"].map(|p| format!("/runs/ledgers/slabench-providers-{p}.bin")))
            }
            _ => v.push(expand(w, index)),
        }
    }
    Some(v)
}

/// `--ledger /runs/ledgers/*.bin` expands to several files after one
/// flag: they must all be ledgers, not spill into the run directories
/// (checked on the parsed command's Debug form, whatever its field names).
fn assert_ledgers_are_not_run_dirs(debug: &str) {
    let at = debug
        .find("\"/runs/shard-0\"")
        .expect("the shard directories in the merge");
    let open = debug[..at]
        .rfind('[')
        .expect("the run directories are a list");
    let close = at + debug[at..].find(']').unwrap();
    let dirs = &debug[open..close];
    assert!(
        !dirs.contains("ledgers"),
        "a ledger part was taken for a run directory: {debug}"
    );
    for p in ["a", "b"] {
        assert!(
            debug.contains(&format!("slabench-providers-{p}.bin")),
            "{debug}"
        );
    }
}

#[test]
fn every_container_command_line_parses_with_slabenchs_cli() {
    use clap::Parser as _;
    let m = Manifests::load(&kube());
    let n = int(
        &m.get("Job", "slabench-shards")["spec"]["completions"],
        "completions",
    );
    let mut seen = BTreeSet::new();
    for (owner, pod, _) in m.pod_specs() {
        for c in containers(pod) {
            for index in [0, n - 1] {
                let Some(argv) = argv(c, index, n) else {
                    continue;
                };
                assert!(
                    !argv.iter().any(|a| a.contains("$(") || a.contains('*')),
                    "{owner}: {argv:?}"
                );
                let cli = slabench::cli::Cli::try_parse_from(&argv)
                    .unwrap_or_else(|e| panic!("{owner}: {argv:?} does not parse:\n{e}"));
                let cmd = format!("{:?}", cli.command);
                if cmd.starts_with("Merge") {
                    assert_ledgers_are_not_run_dirs(&cmd);
                }
                seen.insert(cmd.split(['(', ' ', '{']).next().unwrap().to_string());
            }
        }
    }
    let want = ["Merge", "Mock", "Run"].map(String::from);
    assert_eq!(
        seen,
        BTreeSet::from(want),
        "the providers, the shards and the merge"
    );
}
