//! The GitHub Action (action.yml at the root): its shape (every input it
//! uses declared and every declared one used, no `${{ }}` inside a script,
//! the summary, upload and exit-code steps after the run with `if:
//! always()`, the exit code passed through last), and its behaviour: its
//! composite steps' scripts run with bash as GitHub's runner runs them
//! (`tests/action/runner.rs`), with this build of slabench on PATH, on a
//! passing run, a failing one, a run against a baseline, a bad scenario
//! whose name is shell syntax, an install that cannot happen, and
//! `install: build` with a stand-in for cargo.
//!
//! With check-jsonschema (CI installs it), action.yml, the workflows and
//! the GitLab CI example also pass their published schemas.

mod common;
#[path = "action/runner.rs"]
mod runner;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fake::{completion, serve};
use runner::{action, root, Outcome, Runner};
use wiremock::ResponseTemplate;
use yaml_rust2::Yaml;

fn steps(action: &Yaml) -> &Vec<Yaml> {
    action["runs"]["steps"].as_vec().expect("runs.steps")
}

/// Every string in the document (keys and values).
fn strings<'a>(y: &'a Yaml, out: &mut Vec<&'a str>) {
    match y {
        Yaml::String(s) => out.push(s),
        Yaml::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// Every expression: the inside of each `${{ }}`, and every `if:`.
fn expressions(action: &Yaml) -> Vec<String> {
    let mut all = Vec::new();
    strings(action, &mut all);
    let mut out: Vec<String> = steps(action)
        .iter()
        .filter_map(|s| s["if"].as_str().map(String::from))
        .collect();
    for s in all {
        let mut rest = s;
        while let Some(at) = rest.find("${{") {
            let end = rest[at..].find("}}").expect("an unclosed ${{") + at;
            out.push(rest[at + 3..end].to_string());
            rest = &rest[end + 2..];
        }
    }
    out
}

/// The NAME of every `inputs.NAME` in `expr`.
fn inputs_named(expr: &str) -> Vec<String> {
    expr.match_indices("inputs.")
        .map(|(at, m)| {
            expr[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_input_used_is_declared_and_every_declared_input_is_used() {
    let action = action();
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let declared: BTreeSet<String> = action["inputs"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let used: BTreeSet<String> = expressions(&action)
        .iter()
        .flat_map(|e| inputs_named(e))
        .collect();
    assert_eq!(used, declared, "inputs used vs declared");
    for (name, spec) in action["inputs"].as_hash().unwrap() {
        assert!(
            spec["description"].as_str().is_some_and(|d| !d.is_empty()),
            "input {name:?} has no description"
        );
    }
    assert_eq!(
        action["inputs"]["scenario"]["required"].as_bool(),
        Some(true)
    );
    for (name, spec) in action["outputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(
            spec["value"].as_str(),
            Some(format!("${{{{ steps.run.outputs.{name} }}}}").as_str()),
            "output {name}"
        );
    }
}

/// An input reaches a script only through `env:`: a `${{ }}` inside `run:`
/// would paste a user's text into bash (a scenario path with `$(...)` in it
/// would run).
#[test]
fn no_script_holds_an_expression_and_every_one_runs_in_bash() {
    for step in steps(&action()) {
        let name = step["name"].as_str().expect("every step has a name");
        if let Some(script) = step["run"].as_str() {
            assert!(!script.contains("${{"), "{name}: an expression in run:");
            assert_eq!(step["shell"].as_str(), Some("bash"), "{name}: shell");
        } else {
            assert!(
                step["uses"].as_str().is_some(),
                "{name}: neither run nor uses"
            );
        }
    }
}

#[test]
fn after_the_run_the_summary_upload_and_exit_code_steps_always_run_and_the_code_goes_last() {
    let action = action();
    let steps = steps(&action);
    let at = steps
        .iter()
        .position(|s| s["id"].as_str() == Some("run"))
        .expect("a step with id: run");
    assert!(
        steps[at]["run"].as_str().unwrap().contains("slabench run"),
        "the run step runs slabench run"
    );
    let after = &steps[at + 1..];
    let always = |s: &Yaml| s["if"].as_str().is_some_and(|c| c.contains("always()"));
    let summary = after
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("GITHUB_STEP_SUMMARY"))
        })
        .expect("a step that writes the job summary after the run");
    assert!(always(summary), "the summary step: if: always()");
    let upload = after
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@v4"))
        })
        .expect("actions/upload-artifact@v4 after the run");
    assert!(always(upload), "the upload step: if: always()");
    assert_eq!(upload["with"]["path"].as_str(), Some("${{ inputs.out }}"));
    assert_eq!(
        upload["with"]["name"].as_str(),
        Some("${{ inputs.artifact-name }}")
    );

    let last = steps.last().unwrap();
    assert!(always(last), "the exit code step: if: always()");
    let var = last["env"]
        .as_hash()
        .and_then(|env| {
            env.iter()
                .find(|(_, v)| v.as_str() == Some("${{ steps.run.outputs.exit-code }}"))
        })
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .expect("the last step reads steps.run.outputs.exit-code");
    let script = last["run"].as_str().expect("the last step is a script");
    assert_eq!(
        script.trim_end().lines().last().map(str::trim),
        Some(format!("exit \"${var}\"").as_str()),
        "the last step ends by exiting with slabench's code"
    );
}

/// A workspace, a runner's temp directory, and slabench on PATH.
struct Fixture {
    _dir: tempfile::TempDir,
    workspace: PathBuf,
    temp: PathBuf,
    bin: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (workspace, temp, bin) = (
            dir.path().join("work"),
            dir.path().join("runner-temp"),
            dir.path().join("bin"),
        );
        for d in [&workspace, &temp, &bin, &temp.join("home")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_slabench"), bin.join("slabench")).unwrap();
        Fixture {
            _dir: dir,
            workspace,
            temp,
            bin,
        }
    }

    /// A one-second scenario against `url` at `scenarios/NAME.toml`.
    fn scenario(&self, name: &str, url: &str) -> String {
        let rel = format!("scenarios/{name}.toml");
        let path = self.workspace.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            format!("name = \"{name}\"\n[load]\nmax_lag_p99 = \"1s\"\nstages = [{{ hold_rpm = 600, for = \"1s\" }}]\n\n[[traffic]]\nmodel = \"m\"\n\n[gateway]\nurl = \"{url}\"\n\n[sla]\nuptime = \"99%\"\n"),
        )
        .unwrap();
        rel
    }

    fn runner(&self) -> Runner {
        Runner::new(&self.workspace, &self.temp, &self.bin).input("install", "path")
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.workspace.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn summary_json(&self, run_dir: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(&format!("{run_dir}/summary.json"))).unwrap()
    }
}

/// Runs the action off the async test's threads (the fake server lives there).
async fn run_action(runner: Runner) -> Outcome {
    tokio::task::spawn_blocking(move || runner.run())
        .await
        .unwrap()
}

/// The action ended as slabench did: failed exactly when it exited
/// non-zero, and then at the last step, with its code; every other step
/// that ran succeeded.
fn assert_passed_through(o: &Outcome, code: i32) {
    let logs = o.logs();
    assert_eq!(o.outputs["exit-code"], code.to_string(), "{logs}");
    assert_eq!(o.failed, code != 0, "{logs}");
    let last = o.steps.last().unwrap();
    assert!(last.ran, "{logs}");
    assert_eq!(last.code, Some(code), "{logs}");
    for s in &o.steps[..o.steps.len() - 1] {
        assert!(s.code.is_none_or(|c| c == 0), "{}: {logs}", s.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_run_is_summarised_uploaded_and_exits_0_then_one_against_its_baseline() {
    let f = Fixture::new();
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let scenario = f.scenario("ok", &ok.uri());
    let runner = f
        .runner()
        .input("scenario", &scenario)
        .input("args", " --seed 11\n  --requests-csv ");
    let o = run_action(runner).await;
    assert_passed_through(&o, 0);
    assert_eq!(o.outputs["verdict"], "PASS");
    assert_eq!(o.outputs["run-dir"], "slabench-run");
    // The install step (install: path) found this slabench.
    assert!(
        o.step("Install slabench").log.contains("slabench "),
        "{}",
        o.logs()
    );
    assert!(!o.step("slabench cache").ran, "no cache without a build");
    assert_eq!(
        o.summary,
        f.read("slabench-run/summary.md"),
        "the job summary"
    );
    assert!(o.summary.contains("PASS"), "{}", o.summary);
    assert_eq!(
        o.uploaded,
        Some(("slabench-run".into(), "slabench-run".into()))
    );
    // args reached slabench, split on any whitespace.
    assert_eq!(f.summary_json("slabench-run")["scenario"]["seed"], 11);
    assert!(f.workspace.join("slabench-run/requests.csv").is_file());
    // What the GitLab example publishes.
    assert!(f.workspace.join("slabench-run/junit.xml").is_file());

    let runner = f
        .runner()
        .input("scenario", &scenario)
        .input("baseline", "slabench-run/baseline.json")
        .input("out", "second")
        .input("artifact-name", "second-run");
    let o = run_action(runner).await;
    let s = f.summary_json("second");
    assert!(s["baseline"].is_object(), "compared with the baseline: {s}");
    let code: i32 = o.outputs["exit-code"].parse().unwrap();
    let want = match code {
        0 => "PASS",
        4 => "REGRESSION",
        _ => panic!("exit {code} against its own baseline: {}", o.logs()),
    };
    assert_eq!(o.outputs["verdict"], want);
    assert_passed_through(&o, code);
    assert_eq!(o.uploaded, Some(("second-run".into(), "second".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_is_summarised_and_uploaded_and_fails_the_action_with_its_code() {
    let f = Fixture::new();
    let failing = serve(ResponseTemplate::new(500)).await;
    let scenario = f.scenario("failing", &failing.uri());
    let runner = f
        .runner()
        .input("scenario", &scenario)
        .input("out", "runs/failing");
    let o = run_action(runner).await;
    assert_passed_through(&o, 1);
    assert_eq!(o.outputs["verdict"], "FAIL");
    assert_eq!(o.summary, f.read("runs/failing/summary.md"));
    assert!(o.summary.contains("FAIL"), "{}", o.summary);
    assert_eq!(
        o.uploaded,
        Some(("slabench-run".into(), "runs/failing".into()))
    );
    let last = o.steps.last().unwrap();
    assert!(last.log.contains("slabench exited with 1"), "{}", last.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_named_with_shell_syntax_is_only_a_name_and_exits_2_without_a_summary() {
    let f = Fixture::new();
    let scenario = "scenarios/$(touch pwned-1) `touch pwned-2`.toml";
    let runner = f
        .runner()
        .input("scenario", scenario)
        .input("baseline", "$(touch pwned-3).json")
        .input("args", "--quiet; touch pwned-4 *");
    let o = run_action(runner).await;
    assert_passed_through(&o, 2);
    assert_eq!(o.outputs["verdict"], "", "no summary.json, no verdict");
    let pwned: Vec<_> = std::fs::read_dir(&f.workspace)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("pwned"))
        .collect();
    assert!(pwned.is_empty(), "an input ran as shell: {pwned:?}");
    assert!(
        o.summary.contains("no summary.md")
            && o.summary.contains("exited with 2")
            && o.summary.contains("nothing was measured"),
        "{}",
        o.summary
    );
    // The upload still runs (with if-no-files-found: warn).
    assert!(o.uploaded.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_that_fails_runs_nothing_and_fails_the_action() {
    let f = Fixture::new();
    let runner = f
        .runner()
        .input("scenario", "scenarios/any.toml")
        .input("install", "brew");
    let o = run_action(runner).await;
    let logs = o.logs();
    assert_eq!(o.step("Install slabench").code, Some(2), "{logs}");
    assert!(logs.contains("install must be build or path"), "{logs}");
    assert!(!o.step("slabench run").ran, "{logs}");
    assert_eq!(o.outputs["exit-code"], "");
    assert!(o.failed);
    assert_eq!(o.steps.last().unwrap().code, Some(1), "{logs}");
    assert!(o.summary.contains("slabench did not run"), "{}", o.summary);
}

/// `check-jsonschema --builtin-schema NAME FILES...` (its schemas ship in
/// the package: no network).
fn check_jsonschema(schema: &str, files: &[PathBuf]) {
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", schema])
        .args(files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run check-jsonschema (pip install check-jsonschema): {e}")
        });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check-jsonschema {schema} {files:?}:\n{text}"
    );
    assert!(text.contains("ok -- validation done"), "{text}");
}

fn files_in(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| ext.iter().any(|x| e == *x)))
        .collect();
    files.sort();
    files
}

#[test]
#[ignore = "needs check-jsonschema (pip install check-jsonschema)"]
fn action_workflows_and_the_gitlab_example_pass_their_schemas() {
    // The schema is applied: an action without `runs` is refused.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("action.yml");
    std::fs::write(&broken, "name: x\ndescription: y\n").unwrap();
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-actions"])
        .arg(&broken)
        .output()
        .expect("cannot run check-jsonschema (pip install check-jsonschema)");
    assert!(!out.status.success(), "an action without runs passed");

    check_jsonschema("vendor.github-actions", &[root().join("action.yml")]);
    let workflows = files_in(Path::new(".github/workflows"), &["yml", "yaml"]);
    assert!(!workflows.is_empty());
    check_jsonschema("vendor.github-workflows", &workflows);
    check_jsonschema("vendor.gitlab-ci", &[root().join(GITLAB_EXAMPLE)]);
}

/// The GitLab CI example the README shows.
const GITLAB_EXAMPLE: &str = "docs/ci/gitlab-ci.yml";

fn yaml_file(rel: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .remove(0)
}

/// The GitLab job publishes the junit.xml slabench writes into the
/// directory it runs with, and keeps that directory, also on failure.
#[test]
fn the_gitlab_example_publishes_the_junit_xml_of_its_run_directory() {
    let doc = yaml_file(GITLAB_EXAMPLE);
    let job = &doc["slabench"];
    let out = job["variables"]["SLABENCH_OUT"]
        .as_str()
        .expect("SLABENCH_OUT");
    assert!(!out.is_empty());
    let script: Vec<&str> = job["script"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let run = script
        .iter()
        .find(|l| l.contains("slabench run "))
        .expect("a slabench run line");
    assert!(run.contains("--out \"$SLABENCH_OUT\""), "{run}");
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    assert_eq!(
        artifacts["reports"]["junit"].as_str(),
        Some("$SLABENCH_OUT/junit.xml")
    );
    let paths = artifacts["paths"].as_vec().unwrap();
    assert!(paths.iter().any(|p| p.as_str() == Some("$SLABENCH_OUT/")));
}

/// The README's "Use in CI" snippets use the action's inputs, with the
/// required one, and link the GitLab example.
#[test]
fn the_readmes_snippets_use_declared_inputs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Use in CI").expect("a Use in CI section")..];
    let declared = action()["inputs"].clone();
    let mut seen = 0;
    for block in section.split("```yaml\n").skip(1) {
        let block = &block[..block.find("```").unwrap()];
        if !block.contains("team/slabench@") {
            continue;
        }
        let steps = yaml_rust2::YamlLoader::load_from_str(block)
            .unwrap()
            .remove(0);
        for step in steps.as_vec().unwrap() {
            if !step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("team/slabench@"))
            {
                continue;
            }
            seen += 1;
            let with = step["with"].as_hash().expect("with:");
            for key in with.keys() {
                assert!(
                    !declared[key.as_str().unwrap()].is_badvalue(),
                    "{key:?} is no input"
                );
            }
            assert!(with.contains_key(&Yaml::String("scenario".into())));
        }
    }
    assert!(seen >= 2, "the README shows the action: {seen} uses");
    assert!(section.contains(&format!("]({GITLAB_EXAMPLE})")));
    let first = section.split("```yaml\n").nth(1).unwrap();
    let lines = first[..first.find("```").unwrap()].lines().count();
    assert_eq!(lines, 5, "the action in five lines");
}

/// `install: build` with a stand-in for cargo (a real build is minutes):
/// the key is computed from the action's files, the cache is asked for it,
/// `cargo install --locked --path ACTION_PATH` is what runs, and the
/// slabench it installs is the one the run step finds (through
/// GITHUB_PATH: slabench is nowhere else on PATH here).
#[test]
fn install_build_runs_cargo_install_on_the_actions_source_and_puts_it_on_path() {
    let f = Fixture::new();
    let fake = f.temp.join("fake-cargo");
    std::fs::create_dir_all(&fake).unwrap();
    let log = f.temp.join("cargo-args");
    let script = format!(
        "#!/bin/bash\nprintf '%s\\n' \"$@\" > '{log}'\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\nmkdir -p \"$root/bin\"\nln -sf '{exe}' \"$root/bin/slabench\"\n",
        log = log.display(),
        exe = env!("CARGO_BIN_EXE_slabench"),
    );
    let cargo = fake.join("cargo");
    std::fs::write(&cargo, script).unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut runner = Runner::new(&f.workspace, &f.temp, &fake)
        .input("scenario", "scenarios/missing.toml")
        .input("install", "build");
    runner.path = vec![fake];
    let o = runner.run();
    let logs = o.logs();
    let key = o.cache_key.clone().expect("the cache step ran");
    assert!(key.starts_with("slabench-Linux-rustc-"), "{key}");
    assert_eq!(o.step("slabench cache key").outputs["key"], key);
    let args = std::fs::read_to_string(&log).expect("cargo ran");
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        &args[..4],
        ["install", "--locked", "--path", root().to_str().unwrap()],
        "{logs}"
    );
    assert!(
        o.step("Install slabench").log.contains("slabench "),
        "{logs}"
    );
    // The run step found the installed slabench: a missing scenario is
    // its exit 2, not bash's 127.
    assert_passed_through(&o, 2);
    assert!(
        o.step("slabench run").log.contains("missing.toml"),
        "{logs}"
    );
}
