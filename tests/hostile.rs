//! The hostile-input corpus (`tests/hostile/`, written by `gen.py`) through
//! the real binary. Every file in `reject/` names the field its error must
//! name (`# expect: ...`); `slabench validate` must exit 2 with exactly one
//! located `error:` line naming it, a `help:` line, and no panic. Every
//! file in `accept/` must validate; those marked `# run: yes` also run for
//! about a second and must end with a verdict (exit 0 or 1) and a summary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus files of `folder`, as paths relative to the crate root (the
/// form error messages then show).
fn corpus(folder: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/hostile").join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    files.sort();
    files
}

fn slabench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slabench"))
        .args(args)
        .current_dir(root())
        .env_remove("SLABENCH_HOSTILE_UNSET_VAR")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the binary runs")
}

/// `# key: value` from the file's leading comments.
fn directive(text: &str, key: &str) -> Option<String> {
    let prefix = format!("# {key}: ");
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

/// Why `file`'s rejection is not as it must be, if it is not.
fn check_rejected(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let expect = directive(&text, "expect").ok_or("no `# expect:` line")?;
    let shown = file.to_str().unwrap();
    let out = slabench(&["validate", shown]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    if stderr.contains("panicked") || code == Some(101) || code.is_none() {
        return Err(format!("panicked or was killed ({code:?}):\n{stderr}"));
    }
    if code != Some(2) {
        return Err(format!("exit {code:?}, not 2:\n{stderr}"));
    }
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    let [line] = errors[..] else {
        return Err(format!("{} error lines, not one:\n{stderr}", errors.len()));
    };
    let error_file = directive(&text, "expect-file").unwrap_or_else(|| shown.to_string());
    let located = line
        .strip_prefix(&format!("error: {error_file}:"))
        .and_then(|rest| {
            let mut parts = rest.splitn(3, ':');
            let line_no: usize = parts.next()?.parse().ok()?;
            let col: usize = parts.next()?.parse().ok()?;
            (line_no >= 1 && col >= 1).then(|| parts.next())?
        });
    let Some(message) = located else {
        return Err(format!(
            "the error does not start with {error_file}:LINE:COL:\n{stderr}"
        ));
    };
    if !message.contains(&expect) {
        return Err(format!("the error does not name `{expect}`:\n{stderr}"));
    }
    if !stderr
        .lines()
        .any(|l| l.starts_with("  help: ") && l.len() > 10)
    {
        return Err(format!("no help line:\n{stderr}"));
    }
    Ok(())
}

#[test]
fn every_hostile_file_is_refused_with_one_located_error_naming_its_field() {
    let files = corpus("reject");
    assert!(
        files.len() >= 80,
        "the corpus shrank to {} files",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            check_rejected(f)
                .err()
                .map(|why| format!("{}: {why}", f.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} files:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn hostile_but_valid_files_validate() {
    let files = corpus("accept");
    assert!(
        files.len() >= 15,
        "the corpus shrank to {} files",
        files.len()
    );
    for file in &files {
        let out = slabench(&["validate", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn hostile_but_valid_files_run_to_a_verdict() {
    let runs: Vec<PathBuf> = corpus("accept")
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(root().join(f)).unwrap();
            directive(&text, "run").is_some()
        })
        .collect();
    assert!(runs.len() >= 2, "only {} files run", runs.len());
    for file in &runs {
        let out_dir = tempfile::tempdir().unwrap();
        let out = slabench(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out_dir.path().to_str().unwrap(),
            "--quiet",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 1)) && !stderr.contains("panicked"),
            "{}: exit {:?}\n{stderr}",
            file.display(),
            out.status.code()
        );
        assert!(
            out_dir.path().join("summary.json").is_file(),
            "{}: no summary.json",
            file.display()
        );
    }
}

#[test]
fn profiles_resolve_relative_to_the_scenario_from_any_working_directory() {
    let abs = root().join("scenarios/smoke.toml");
    let cases: [(&str, &str); 4] = [
        ("scenarios", "smoke.toml"),
        ("scenarios", "./smoke.toml"),
        ("tests", "../scenarios/smoke.toml"),
        ("/", abs.to_str().unwrap()),
    ];
    for (cwd, file) in cases {
        let dir = root().join(cwd);
        let out = Command::new(env!("CARGO_BIN_EXE_slabench"))
            .args(["validate", file])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "validate {file} in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
