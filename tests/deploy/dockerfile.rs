//! The Dockerfile and .dockerignore: multi-stage, locked, a non-root
//! user, pinned base images, and a build context that holds what the build
//! reads.

use std::collections::BTreeSet;
use std::path::Path;

use crate::manifests::{read, root};

/// The Dockerfile's instructions, continuation lines joined, comments out.
fn dockerfile() -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in read(&root().join("Dockerfile")).lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => cur.push_str(head),
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out
}

/// The instructions of each stage, FROM first.
fn stages() -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for ins in dockerfile() {
        if ins.starts_with("FROM ") {
            out.push(Vec::new());
        }
        out.last_mut()
            .expect("an instruction before FROM")
            .push(ins);
    }
    out
}

#[test]
fn the_dockerfile_builds_locked_in_stages_and_runs_as_a_user() {
    let text = read(&root().join("Dockerfile"));
    let syntax = text.lines().next().unwrap();
    assert!(
        syntax.starts_with("# syntax=docker/dockerfile:1"),
        "a pinned BuildKit syntax: {syntax}"
    );
    let stages = stages();
    assert!(
        stages.len() >= 2,
        "multi-stage: a build stage and a runtime stage"
    );
    for st in &stages {
        let image = st[0].split_whitespace().nth(1).unwrap();
        let tag = image
            .rsplit('/')
            .next()
            .unwrap()
            .split_once(':')
            .map(|(_, t)| t);
        assert!(
            matches!(tag, Some(t) if t != "latest"),
            "{image}: name a tag, not latest"
        );
    }
    let builder = &stages[0];
    assert!(builder[0].ends_with(" AS builder"), "{}", builder[0]);
    let build = builder
        .iter()
        .find(|i| i.contains("cargo build"))
        .expect("cargo build");
    for flag in ["--release", "--locked", "--mount=type=cache"] {
        assert!(build.contains(flag), "cargo build without {flag}: {build}");
    }
    let runtime = stages.last().unwrap();
    assert!(runtime
        .iter()
        .any(|i| i.starts_with("COPY --from=builder ")));
    assert!(runtime.iter().any(|i| i.contains("ca-certificates")));
    let user = runtime
        .iter()
        .rfind(|i| i.starts_with("USER "))
        .expect("a USER in the runtime stage");
    let uid = user[5..].split(':').next().unwrap().trim();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "USER {uid}: a numeric non-root user (runAsNonRoot checks numbers)"
    );
    assert_eq!(runtime.last().map(String::as_str), Some("CMD [\"--help\"]"));
    assert!(runtime.iter().any(|i| i == "ENTRYPOINT [\"slabench\"]"));
    for dir in ["mock-providers/", "scenarios/"] {
        assert!(
            runtime
                .iter()
                .any(|i| i.starts_with(&format!("COPY {dir}"))),
            "the image ships {dir}"
        );
    }
}

/// Top-level paths that `src/` includes at compile time.
fn compile_time_inputs() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
                continue;
            }
            let text = read(&p);
            for m in ["include_str!(\"", "include_bytes!(\""] {
                for (i, _) in text.match_indices(m) {
                    let rel = text[i + m.len()..].split('"').next().unwrap();
                    let abs = p.parent().unwrap().join(rel);
                    let abs = abs
                        .canonicalize()
                        .unwrap_or_else(|e| panic!("{}: {rel}: {e}", p.display()));
                    let top = abs.strip_prefix(root().canonicalize().unwrap()).unwrap();
                    out.insert(
                        top.components()
                            .next()
                            .unwrap()
                            .as_os_str()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("src"), &mut out);
    out
}

/// The sources of a COPY instruction (its words but the flags and the last).
fn copy_sources(ins: &str) -> Vec<&str> {
    let words: Vec<&str> = ins
        .split_whitespace()
        .skip(1)
        .filter(|w| !w.starts_with("--"))
        .collect();
    words[..words.len() - 1].to_vec()
}

#[test]
fn the_build_context_holds_what_the_build_reads() {
    let ignore = read(&root().join(".dockerignore"));
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"*"), ".dockerignore is an allow-list");
    let allowed: BTreeSet<&str> = rules[1..]
        .iter()
        .map(|r| {
            r.strip_prefix('!')
                .expect("after *, only !allowed paths")
                .trim_end_matches('/')
        })
        .collect();
    let stages = stages();
    let mut copied = BTreeSet::new();
    for ins in stages
        .iter()
        .flatten()
        .filter(|i| i.starts_with("COPY ") && !i.contains("--from="))
    {
        let words = copy_sources(ins);
        for src in &words {
            let top = src.trim_end_matches('/');
            assert!(
                allowed.contains(top),
                "{ins}: {top} is not allowed by .dockerignore"
            );
        }
    }
    for ins in stages[0].iter().filter(|i| i.starts_with("COPY ")) {
        copied.extend(
            copy_sources(ins)
                .iter()
                .map(|w| w.trim_end_matches('/').to_string()),
        );
    }
    let mut needed = compile_time_inputs();
    needed.extend(["Cargo.toml", "Cargo.lock", "src"].map(String::from));
    let manifest: toml::Value = toml::from_str(&read(&root().join("Cargo.toml"))).unwrap();
    if manifest.get("bench").is_some() {
        needed.insert("benches".into());
    }
    assert!(
        needed.contains("mock-providers"),
        "the include_str! scan found nothing: {needed:?}"
    );
    for n in &needed {
        assert!(
            copied.contains(n),
            "the build stage does not COPY {n}, which the build reads"
        );
    }
}
