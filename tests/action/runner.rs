//! A small stand-in for GitHub's runner, enough to run action.yml's
//! composite steps for real: each `run:` script goes to bash as the runner
//! starts it (`bash --noprofile --norc -eo pipefail FILE`), in the
//! workspace, with the step's `env:` evaluated, and fresh GITHUB_OUTPUT,
//! GITHUB_STEP_SUMMARY, GITHUB_ENV and GITHUB_PATH files whose contents are
//! read back as the runner reads them. `if:` is evaluated (a step runs on
//! success unless its condition calls a status function such as
//! `always()`), outputs flow through `steps.ID.outputs.NAME`, and the
//! action's outputs are evaluated at the end.
//!
//! Only the expressions action.yml uses are understood; anything else
//! panics, so a change to action.yml that this runner cannot follow fails
//! the test instead of being skipped. `uses:` steps are not run: the
//! artifact upload and the cache are recorded with their evaluated `with:`
//! (the cache as a miss, as on a first run), and any other `uses:` step
//! that would run panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The repository's root: `github.action_path` for `uses: ./`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// action.yml, parsed.
pub fn action() -> Yaml {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("action.yml: {e}"))
        .remove(0)
}

/// A step as it ran (or not).
#[derive(Debug, Default)]
pub struct StepRun {
    pub name: String,
    pub ran: bool,
    /// The script's exit code (run steps that ran).
    pub code: Option<i32>,
    pub outputs: BTreeMap<String, String>,
    pub log: String,
}

/// What a run of the whole action left.
#[derive(Debug)]
pub struct Outcome {
    pub steps: Vec<StepRun>,
    /// A step failed: the action (and the job) fails.
    pub failed: bool,
    /// The job summary, every step's part in order.
    pub summary: String,
    /// The action's outputs.
    pub outputs: BTreeMap<String, String>,
    /// The upload step's (name, path), when it ran.
    pub uploaded: Option<(String, String)>,
    /// The cache step's key, when it ran (always a miss here).
    pub cache_key: Option<String>,
}

impl Outcome {
    pub fn step(&self, name: &str) -> &StepRun {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name:?}: {:?}", self.steps))
    }

    /// Every step's log, for assertion messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for s in &self.steps {
            all += &format!("--- {} (ran {}, {:?})\n{}\n", s.name, s.ran, s.code, s.log);
        }
        all
    }
}

/// The runner: a workspace, the inputs given, a PATH.
pub struct Runner {
    pub workspace: PathBuf,
    /// Where the runner's own files go (RUNNER_TEMP).
    pub temp: PathBuf,
    /// Put first on PATH (slabench's directory).
    pub path: Vec<PathBuf>,
    pub inputs: BTreeMap<String, String>,
}

/// The evaluation context: inputs (defaults filled in) and step outputs.
struct Ctx {
    inputs: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    temp: PathBuf,
    failed: bool,
}

impl Ctx {
    fn value(&self, expr: &str) -> String {
        let expr = expr.trim();
        if let Some(lit) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return lit.to_string();
        }
        let parts: Vec<&str> = expr.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => self
                .inputs
                .get(*name)
                .unwrap_or_else(|| panic!("inputs.{name} is not declared"))
                .clone(),
            ["github", "action_path"] => root().display().to_string(),
            ["runner", "temp"] => self.temp.display().to_string(),
            ["runner", "os"] => "Linux".into(),
            ["steps", id, "outputs", name] => self
                .steps
                .get(*id)
                .and_then(|o| o.get(*name))
                .cloned()
                .unwrap_or_default(),
            _ => panic!("this test's runner does not evaluate `{expr}`"),
        }
    }

    /// Replaces every `${{ expr }}` in `text`.
    fn interpolate(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${{") {
            out += &rest[..at];
            let end = rest[at..].find("}}").expect("an unclosed ${{") + at;
            out += &self.value(&rest[at + 3..end]);
            rest = &rest[end + 2..];
        }
        out + rest
    }

    /// An `if:`: `&&` of status functions and `a == b` / `a != b`.
    fn condition(&self, cond: Option<&str>) -> bool {
        let Some(cond) = cond else {
            return !self.failed;
        };
        let cond = cond.trim();
        let cond = cond
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(cond);
        let mut status_called = false;
        let mut all = true;
        for term in cond.split("&&").map(str::trim) {
            all &= match term {
                "always()" => {
                    status_called = true;
                    true
                }
                "success()" => {
                    status_called = true;
                    !self.failed
                }
                "failure()" => {
                    status_called = true;
                    self.failed
                }
                _ => self.comparison(term),
            };
        }
        all && (status_called || !self.failed)
    }

    fn comparison(&self, term: &str) -> bool {
        if let Some((a, b)) = term.split_once("==") {
            self.value(a) == self.value(b)
        } else if let Some((a, b)) = term.split_once("!=") {
            self.value(a) != self.value(b)
        } else {
            panic!("this test's runner does not evaluate the condition `{term}`")
        }
    }
}

/// Parses a GITHUB_OUTPUT (or GITHUB_ENV) file: `name=value` lines and
/// `name<<DELIMITER` blocks.
pub fn parse_key_values(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        } else if !line.is_empty() {
            panic!("GITHUB_OUTPUT: a line the runner would refuse: {line:?}");
        }
    }
    out
}

/// The files the runner gives one step.
struct StepFiles {
    dir: PathBuf,
}

impl StepFiles {
    fn new(temp: &Path, n: usize) -> StepFiles {
        let dir = temp.join(format!("step-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["output", "summary", "env", "path"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        StepFiles { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap()
    }
}

impl Runner {
    pub fn new(workspace: &Path, temp: &Path, slabench_dir: &Path) -> Runner {
        Runner {
            workspace: workspace.to_path_buf(),
            temp: temp.to_path_buf(),
            path: vec![slabench_dir.to_path_buf()],
            inputs: BTreeMap::new(),
        }
    }

    pub fn input(mut self, name: &str, value: &str) -> Runner {
        self.inputs.insert(name.into(), value.into());
        self
    }

    /// The inputs as the runner gives them: the declared ones, with their
    /// defaults; a required one missing, or one not declared, panics.
    fn evaluated_inputs(&self, action: &Yaml) -> BTreeMap<String, String> {
        let declared = action["inputs"].as_hash().expect("inputs");
        for name in self.inputs.keys() {
            assert!(
                declared.contains_key(&Yaml::String(name.clone())),
                "input {name} is not declared"
            );
        }
        let mut out = BTreeMap::new();
        for (name, spec) in declared {
            let name = name.as_str().unwrap().to_string();
            let value = match (self.inputs.get(&name), spec["default"].as_str()) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d.to_string(),
                (None, None) => {
                    assert!(
                        spec["required"].as_bool() != Some(true),
                        "required input {name} not given"
                    );
                    String::new()
                }
            };
            out.insert(name, value);
        }
        out
    }

    /// Runs every step of the action in order.
    pub fn run(&self) -> Outcome {
        let action = action();
        let mut ctx = Ctx {
            inputs: self.evaluated_inputs(&action),
            steps: BTreeMap::new(),
            temp: self.temp.clone(),
            failed: false,
        };
        let mut path = self.path.clone();
        let (mut steps, mut summary) = (Vec::new(), String::new());
        let (mut uploaded, mut cache_key) = (None, None);
        for (n, step) in action["runs"]["steps"].as_vec().unwrap().iter().enumerate() {
            let mut run = StepRun {
                name: step["name"].as_str().expect("every step has a name").into(),
                ..StepRun::default()
            };
            if ctx.condition(step["if"].as_str()) {
                run.ran = true;
                if let Some(uses) = step["uses"].as_str() {
                    let with =
                        |k: &str| ctx.interpolate(step["with"][k].as_str().unwrap_or_default());
                    if uses.starts_with("actions/upload-artifact@") {
                        uploaded = Some((with("name"), with("path")));
                    } else if uses.starts_with("actions/cache@") {
                        // A cold cache: nothing restored.
                        cache_key = Some(with("key"));
                        run.outputs.insert("cache-hit".into(), "false".into());
                    } else {
                        panic!("this test's runner cannot run `uses: {uses}`");
                    }
                } else {
                    let files = StepFiles::new(&self.temp, n);
                    self.script(step, &ctx, &files, &path, &mut run);
                    summary += &files.read("summary");
                    path.splice(0..0, files.read("path").lines().rev().map(PathBuf::from));
                    ctx.failed |= run.code != Some(0);
                }
                if let Some(id) = step["id"].as_str() {
                    ctx.steps.insert(id.into(), run.outputs.clone());
                }
            }
            steps.push(run);
        }
        let outputs = action["outputs"]
            .as_hash()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let value = ctx.interpolate(v["value"].as_str().unwrap());
                (k.as_str().unwrap().to_string(), value)
            })
            .collect();
        Outcome {
            steps,
            failed: ctx.failed,
            summary,
            outputs,
            uploaded,
            cache_key,
        }
    }

    /// A `run:` step, with bash as the runner starts it.
    fn script(
        &self,
        step: &Yaml,
        ctx: &Ctx,
        files: &StepFiles,
        path: &[PathBuf],
        run: &mut StepRun,
    ) {
        assert_eq!(step["shell"].as_str(), Some("bash"), "{}: shell", run.name);
        let script = files.file("script.sh");
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&self.workspace);
        let old_path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = path.iter().cloned().chain(std::env::split_paths(&old_path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("HOME", self.temp.join("home"))
            .env("RUNNER_TEMP", &self.temp)
            .env("RUNNER_OS", "Linux")
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_OUTPUT", files.file("output"))
            .env("GITHUB_STEP_SUMMARY", files.file("summary"))
            .env("GITHUB_ENV", files.file("env"))
            .env("GITHUB_PATH", files.file("path"));
        if let Some(env) = step["env"].as_hash() {
            for (k, v) in env {
                cmd.env(
                    k.as_str().unwrap(),
                    ctx.interpolate(v.as_str().unwrap_or_default()),
                );
            }
        }
        let out = cmd.output().expect("bash runs");
        run.code = out.status.code();
        run.log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        run.outputs = parse_key_values(&files.read("output"));
    }
}
