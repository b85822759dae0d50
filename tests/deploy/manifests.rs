//! Reading the manifests: YAML documents, the objects kustomization.yaml
//! lists, their pod specs and the ConfigMaps it generates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn kube() -> PathBuf {
    root().join("deploy/kubernetes")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn yaml_docs(text: &str, what: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"))
}

pub fn s(y: &Yaml) -> &str {
    y.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {y:?}"))
}

pub fn strs(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::BadValue => Vec::new(),
        _ => y
            .as_vec()
            .unwrap_or_else(|| panic!("expected a list, got {y:?}"))
            .iter()
            .map(|v| s(v).to_string())
            .collect(),
    }
}

pub fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

/// kustomization.yaml and the objects of every file it lists.
pub struct Manifests {
    pub kustomization: Yaml,
    /// (file, object)
    pub objects: Vec<(String, Yaml)>,
}

impl Manifests {
    pub fn load(dir: &Path) -> Self {
        let kustomization =
            yaml_docs(&read(&dir.join("kustomization.yaml")), "kustomization.yaml").remove(0);
        let mut objects = Vec::new();
        for file in strs(&kustomization["resources"]) {
            for doc in yaml_docs(&read(&dir.join(&file)), &file) {
                if !doc.is_null() {
                    objects.push((file.clone(), doc));
                }
            }
        }
        Manifests {
            kustomization,
            objects,
        }
    }

    pub fn get(&self, kind: &str, name: &str) -> &Yaml {
        self.objects
            .iter()
            .map(|(_, o)| o)
            .find(|o| s(&o["kind"]) == kind && s(&o["metadata"]["name"]) == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
    }

    pub fn of_kind(&self, kind: &str) -> Vec<&Yaml> {
        self.objects
            .iter()
            .map(|(_, o)| o)
            .filter(|o| s(&o["kind"]) == kind)
            .collect()
    }

    /// Every pod spec: (what it belongs to, the spec, the owning Job if any).
    pub fn pod_specs(&self) -> Vec<(String, &Yaml, Option<&Yaml>)> {
        let mut out = Vec::new();
        for (_, o) in &self.objects {
            let name = format!("{} {}", s(&o["kind"]), s(&o["metadata"]["name"]));
            match s(&o["kind"]) {
                "Deployment" => out.push((name, &o["spec"]["template"]["spec"], None)),
                "Job" => out.push((name, &o["spec"]["template"]["spec"], Some(o))),
                "Pod" => out.push((name, &o["spec"], None)),
                _ => {}
            }
        }
        assert!(out.len() >= 4, "the providers, shards, merge and runs pods");
        out
    }

    /// configMapGenerator: ConfigMap name → its keys (and the files behind them).
    pub fn generated(&self) -> BTreeMap<String, BTreeMap<String, Option<PathBuf>>> {
        let mut out = BTreeMap::new();
        for g in list(&self.kustomization["configMapGenerator"]) {
            let mut keys = BTreeMap::new();
            for lit in strs(&g["literals"]) {
                let (k, _) = lit.split_once('=').expect("a literal is KEY=VALUE");
                keys.insert(k.to_string(), None);
            }
            for f in strs(&g["files"]) {
                let (k, path) = match f.split_once('=') {
                    Some((k, p)) => (k.to_string(), p.to_string()),
                    None => (f.rsplit('/').next().unwrap().to_string(), f.clone()),
                };
                keys.insert(k, Some(kube().join(path)));
            }
            out.insert(s(&g["name"]).to_string(), keys);
        }
        out
    }
}

pub fn containers(pod: &Yaml) -> Vec<&Yaml> {
    list(&pod["initContainers"])
        .iter()
        .chain(list(&pod["containers"]))
        .collect()
}

pub fn container<'a>(pod: &'a Yaml, name: &str) -> &'a Yaml {
    containers(pod)
        .into_iter()
        .find(|c| s(&c["name"]) == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

pub fn int(y: &Yaml, what: &str) -> i64 {
    y.as_i64()
        .unwrap_or_else(|| panic!("{what}: expected an integer, got {y:?}"))
}

/// The value after `flag` in `args`, and its index.
pub fn flag_value(args: &[String], flag: &str) -> (usize, String) {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    (i + 1, args[i + 1].clone())
}

/// `$(NAME)` references in one string.
pub fn var_refs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("$(") {
        let after = &rest[i + 2..];
        let end = after.find(')').expect("an unclosed $(");
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}
