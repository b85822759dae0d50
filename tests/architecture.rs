//! The structure ARCHITECTURE.md promises, checked from the source: no
//! import cycle between the top-level modules of src/, report/ and
//! baseline/ independent of each other, the layers that must stay leaves
//! importing nothing, and no function over 80 lines or file over 600.
//!
//! It reads `crate::<module>` paths as text (test modules left out), which
//! is enough for a codebase that always imports through `crate::`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The top-level module a file belongs to (`report/html/mod.rs` → report).
fn module_of(rel: &str) -> String {
    let first = rel.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// Code without its test module and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in src_files() {
        let m = module_of(&rel);
        if m == "lib" || m == "main" || rel.ends_with("tests.rs") {
            continue;
        }
        let deps = g.entry(m.clone()).or_default();
        for piece in code(&text).split("crate::").skip(1) {
            let dep: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !dep.is_empty() && dep != m {
                deps.insert(dep);
            }
        }
    }
    g
}

/// Modules on a cycle, found by depth-first search.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), BTreeSet::from([v.to_string()])))
        .collect();
    assert!(cycle(&g).is_some_and(|c| c.len() == 4), "{:?}", cycle(&g));
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&acyclic), None);
}

#[test]
fn top_level_modules_form_no_cycle() {
    let g = graph();
    assert!(g.len() > 10, "read {} modules", g.len());
    assert_eq!(cycle(&g), None, "import cycle; the graph: {g:#?}");
}

#[test]
fn report_and_baseline_do_not_import_each_other() {
    let g = graph();
    assert!(!g["report"].contains("baseline"), "{:?}", g["report"]);
    assert!(!g["baseline"].contains("report"), "{:?}", g["baseline"]);
}

#[test]
fn the_leaves_stay_leaves() {
    let g = graph();
    // Exit codes, protocol names, the answer text, formatting and the clock
    // are used by every layer, so they may use nothing above them.
    for (leaf, allowed) in [
        ("exit", &[][..]),
        ("protocol", &[][..]),
        ("answer", &[][..]),
        ("clock", &[][..]),
        ("fmt", &["metrics"][..]),
        ("atomic_file", &[][..]),
        // What reaches a terminal: used by every layer that prints.
        ("term", &[][..]),
        ("cli_docs", &["cli", "term", "atomic_file", "exit"][..]),
        // The connection watcher reads packets and the run clock, nothing else.
        ("connwatch", &["clock"][..]),
    ] {
        let extra: Vec<&String> = g[leaf]
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{leaf} imports {extra:?}");
    }
    // The analysis never reads files, and nothing under report/ decides a
    // verdict: report/ does not import the SLA checks.
    for (rel, text) in src_files() {
        if rel.starts_with("report/") {
            assert!(
                !code(&text).contains("analysis::sla"),
                "{rel} decides a verdict"
            );
        }
        if rel.starts_with("analysis/") {
            let c = code(&text);
            assert!(
                !c.contains("std::fs::") && !c.contains("File::"),
                "{rel} reads files"
            );
        }
    }
}

/// ARCHITECTURE.md's code map: what each layer must not depend on.
#[test]
fn no_layer_depends_on_what_the_code_map_forbids() {
    let g = graph();
    let rules: &[(&str, &[&str])] = &[
        (
            "scenario",
            &[
                "providers",
                "gateway",
                "load",
                "metrics",
                "analysis",
                "results",
                "report",
                "baseline",
                "run",
                "stack",
                "commands",
            ],
        ),
        (
            "providers",
            &[
                "load", "gateway", "metrics", "analysis", "results", "report", "baseline", "run",
                "stack", "commands",
            ],
        ),
        (
            "gateway",
            &[
                "providers",
                "load",
                "metrics",
                "exporter",
                "analysis",
                "results",
                "report",
                "baseline",
                "run",
                "stack",
                "commands",
            ],
        ),
        (
            "stack",
            &[
                "load", "metrics", "analysis", "results", "report", "baseline", "run", "commands",
            ],
        ),
        (
            "load",
            &[
                "providers",
                "stack",
                "analysis",
                "results",
                "report",
                "baseline",
                "run",
                "commands",
            ],
        ),
        (
            "metrics",
            &[
                "load", "analysis", "results", "report", "baseline", "run", "commands",
            ],
        ),
        (
            "analysis",
            &["results", "report", "baseline", "run", "commands"],
        ),
        ("results", &["report", "baseline", "run", "commands"]),
        ("report", &["baseline", "run", "commands"]),
        ("baseline", &["report", "run", "commands"]),
        ("run", &["commands", "cli"]),
        ("capacity", &["commands", "cli", "scorecard", "baseline"]),
        (
            "exporter",
            &["report", "baseline", "run", "commands", "cli"],
        ),
    ];
    for (layer, forbidden) in rules {
        let bad: Vec<&&str> = forbidden
            .iter()
            .filter(|f| g[*layer].contains(**f))
            .collect();
        assert!(bad.is_empty(), "{layer} depends on {bad:?}");
    }
}

#[test]
fn no_function_over_80_lines_and_no_file_over_600() {
    let mut long = Vec::new();
    for (rel, text) in src_files() {
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 600 {
            long.push(format!("{rel}: {} lines", lines.len()));
        }
        let mut open: Option<(usize, usize)> = None;
        for (i, l) in lines.iter().enumerate() {
            let indent = l.len() - l.trim_start().len();
            let t = l.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(super) fn ",
                "pub(crate) fn ",
                "pub(super) async fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if open.is_none() && is_fn && !t.ends_with(';') {
                open = Some((i, indent));
            } else if let Some((start, ind)) = open {
                if l.len() == ind + 1 && t == "}" {
                    if i - start + 1 > 80 {
                        long.push(format!(
                            "{rel}:{}: function of {} lines",
                            start + 1,
                            i - start + 1
                        ));
                    }
                    open = None;
                }
            }
        }
    }
    assert!(long.is_empty(), "too long:\n{}", long.join("\n"));
}
