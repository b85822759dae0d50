//! The binary's command-line conventions, as a user meets them: shell
//! completions and man pages generated from the clap definitions, the
//! table on stdout with everything else on stderr, `--json`, and colour
//! (`--color`, `NO_COLOR`, a terminal or not).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::CommandFactory;
use common::fake::*;
use wiremock::ResponseTemplate;

const ESC: char = '\x1b';

/// `slabench ARGS` with `env` set and the colour variables of the
/// caller's environment removed, so that only the test decides.
fn slabench_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slabench"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn slabench(args: &[&str]) -> Output {
    slabench_env(args, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every subcommand's name, from the definitions the binary is built from.
fn subcommands() -> Vec<String> {
    slabench::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn completions_are_generated_for_every_shell() {
    let subs = subcommands();
    assert!(subs.len() >= 10, "{subs:?}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = slabench(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.len() > 1000, "{shell}: {script}");
        assert!(!script.contains(ESC), "{shell}");
        for sub in &subs {
            assert!(script.contains(sub.as_str()), "{shell} lacks {sub}");
        }
        // Flags too, the global one included (fish writes `-l json`).
        for flag in ["color", "json", "save-baseline"] {
            assert!(script.contains(flag), "{shell} lacks {flag}");
        }
    }
    // bash, which the tests run under anyway, reads its script cleanly.
    let out = slabench(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slabench.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    // An unknown shell is a usage error that names the ones there are.
    let out = slabench(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("powershell"),
        "{}",
        text(&out.stderr)
    );
}

/// The `.TH` line of a roff page, which names the page.
fn title_line(page: &str) -> &str {
    page.lines()
        .find(|l| l.starts_with(".TH "))
        .unwrap_or_else(|| panic!("no .TH line in {page}"))
}

#[test]
fn man_pages_are_generated_for_the_command_and_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    let out = slabench(&["man", "--dir", man.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: Vec<PathBuf> = text(&out.stdout).lines().map(PathBuf::from).collect();
    let mut names = vec!["slabench".to_string()];
    names.extend(subcommands().iter().map(|s| format!("slabench-{s}")));
    assert_eq!(listed.len(), names.len(), "{listed:?}");
    for name in &names {
        let path = man.join(format!("{name}.1"));
        assert!(listed.contains(&path), "{} not listed", path.display());
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(
            title_line(&page).starts_with(&format!(".TH {name} 1 ")),
            "{name}"
        );
        for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS"] {
            assert!(page.contains(section), "{name} lacks {section}");
        }
        assert!(!page.contains(ESC), "{name}");
    }
    let run = std::fs::read_to_string(man.join("slabench-run.1")).unwrap();
    assert!(run.contains("json") && run.contains("color"), "{run}");
    let top = std::fs::read_to_string(man.join("slabench.1")).unwrap();
    assert!(
        top.contains("Exit codes") && top.contains("INVALID"),
        "{top}"
    );
    // Nothing else was written (no page for clap's `help`).
    assert_eq!(std::fs::read_dir(&man).unwrap().count(), names.len());
    // `slabench man` alone prints slabench(1), the same page.
    let out = slabench(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), top);
    // A --dir that cannot be made says which and how to fix it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = slabench(&["man", "--dir", file.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--dir") && err.contains("help:"), "{err}");
}

#[test]
#[ignore = "needs groff"]
fn the_man_pages_are_roff_that_groff_reads_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = slabench(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        // -k: UTF-8 input through preconv, as man(1) reads a page (the
        // help text has ×, · and —); -ww: every warning.
        let groff = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff");
        assert!(groff.status.success(), "{}", path.display());
        assert!(
            groff.stderr.is_empty(),
            "{}: {}",
            path.display(),
            text(&groff.stderr)
        );
    }
}

#[test]
fn help_follows_color_and_no_color() {
    for args in [&["--help"][..], &["run", "--help"]] {
        let plain = slabench_env(args, &[("NO_COLOR", "1")]);
        assert!(plain.status.success());
        assert!(!text(&plain.stdout).contains(ESC), "{args:?}");
        // Not a terminal: auto is plain too.
        assert!(!text(&slabench(args).stdout).contains(ESC), "{args:?}");
        let mut always = vec!["--color", "always"];
        always.extend(args);
        let colored = slabench_env(&always, &[("NO_COLOR", "1")]);
        assert!(colored.status.success());
        assert!(text(&colored.stdout).contains(ESC), "{always:?}");
    }
    // clap's own usage errors too, with the flag anywhere.
    let err = slabench_env(&["frobnicate", "--color=always"], &[("NO_COLOR", "1")]);
    assert_eq!(err.status.code(), Some(2));
    assert!(text(&err.stderr).contains(ESC));
    let err = slabench_env(&["frobnicate"], &[("NO_COLOR", "1")]);
    assert!(!text(&err.stderr).contains(ESC));
    assert!(
        slabench(&["--color", "sometimes", "validate", "x"])
            .status
            .code()
            == Some(2)
    );
}

/// A one-second scenario against `url`, with a generous lag limit (a
/// loaded CI machine must not make it INVALID).
fn scenario_file(dir: &Path, url: &str) -> String {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        format!("name = \"conventions\"\n[load]\nmax_lag_p99 = \"1s\"\nstages = [{{ hold_rpm = 600, for = \"1s\" }}]\n\n[[traffic]]\nmodel = \"m\"\n\n[gateway]\nurl = \"{url}\"\n\n[sla]\nuptime = \"99%\"\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `slabench ARGS` off the async runtime (the fake gateway runs on it).
async fn run_blocking(args: Vec<String>, env: Vec<(&'static str, &'static str)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        slabench_env(&args, &env)
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_goes_to_stdout_and_the_rest_to_stderr_without_colour_when_asked() {
    // Every answer a 500: the run FAILs, and the preflight's failure is a
    // warning on stderr; both would be in colour.
    let failing = serve(ResponseTemplate::new(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), &failing.uri());
    let out_dir = dir.path().join("plain");
    let plain = run_blocking(
        args(&["run", "--out", out_dir.to_str().unwrap(), &file]),
        vec![("NO_COLOR", "1")],
    )
    .await;
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain.stderr));
    let (table, log) = (text(&plain.stdout), text(&plain.stderr));
    // stdout is the table and nothing else.
    assert!(
        table.starts_with("\nslabench · conventions · seed "),
        "{table}"
    );
    assert!(
        table.contains("verdict: FAIL") && table.contains("uptime"),
        "{table}"
    );
    let reports = format!("  reports:  {}\n", out_dir.display());
    assert!(table.ends_with(&reports), "{table}");
    assert!(!table.contains("warning"), "{table}");
    // stderr has the warning, and none of the table.
    assert!(log.contains("warning: preflight request to"), "{log}");
    assert!(
        !log.contains("verdict") && !log.contains("latency (ok)"),
        "{log}"
    );
    // NO_COLOR: not one escape code on either stream.
    assert!(
        !table.contains(ESC) && !log.contains(ESC),
        "{table:?}\n{log:?}"
    );

    // --color always beats NO_COLOR: the verdict, the failed checks and
    // the warning's label are coloured; the words are the same.
    let out_dir = dir.path().join("color");
    let colored = run_blocking(
        args(&[
            "--color",
            "always",
            "run",
            "--out",
            out_dir.to_str().unwrap(),
            &file,
        ]),
        vec![("NO_COLOR", "1")],
    )
    .await;
    assert_eq!(colored.status.code(), Some(1));
    let (table, log) = (text(&colored.stdout), text(&colored.stderr));
    assert!(
        table.contains("verdict: \x1b[1m\x1b[31mFAIL\x1b[0m"),
        "{table:?}"
    );
    assert!(log.contains("\x1b[33mwarning:\x1b[0m"), "{log:?}");
    let stripped = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == ESC {
                chars.by_ref().find(|c| *c == 'm');
            } else {
                out.push(c);
            }
        }
        out
    };
    // The same lines once the colour is taken out (numbers may differ
    // between the two runs: compare each line's first word).
    let words = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(words(&stripped(&table)), words(&text(&plain.stdout)));

    // The default (auto) with both streams piped: no colour either.
    let out_dir = dir.path().join("auto");
    let auto = run_blocking(
        args(&["run", "--out", out_dir.to_str().unwrap(), &file]),
        vec![],
    )
    .await;
    assert_eq!(auto.status.code(), Some(1));
    assert!(!text(&auto.stdout).contains(ESC) && !text(&auto.stderr).contains(ESC));
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_prints_summary_json_byte_for_byte_and_keeps_the_exit_code() {
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let failing = serve(ResponseTemplate::new(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    // The failing run with --quiet too: --json still prints.
    for (name, url, quiet, code, verdict) in [
        ("ok", ok.uri(), false, 0, "PASS"),
        ("bad", failing.uri(), true, 1, "FAIL"),
    ] {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let file = scenario_file(&sub, &url);
        let out_dir = sub.join("out");
        let mut list = args(&["run", "--json", "--out", out_dir.to_str().unwrap(), &file]);
        if quiet {
            list.push("--quiet".into());
        }
        let out = run_blocking(list, vec![]).await;
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        let on_disk = std::fs::read(out_dir.join("summary.json")).unwrap();
        assert_eq!(text(&out.stdout), text(&on_disk), "{name}");
        assert_eq!(json(&out.stdout)["verdict"], verdict);
        // Where the reports are is on stderr (not with --quiet); no
        // table anywhere.
        let log = text(&out.stderr);
        let reports = format!("reports: {}", out_dir.display());
        assert_eq!(log.contains(&reports), !quiet, "{log}");
        assert!(!log.contains("verdict:"), "{log}");
        runs.push(out_dir);
    }

    // `report --json`: the stored summary.json as it is; paths on stderr.
    let out = slabench(&["report", "--json", runs[0].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let on_disk = std::fs::read(runs[0].join("summary.json")).unwrap();
    assert_eq!(out.stdout, on_disk);
    assert!(
        text(&out.stderr).contains("report.html"),
        "{}",
        text(&out.stderr)
    );
    // Without --json, the paths are the result.
    let out = slabench(&["report", runs[0].to_str().unwrap()]);
    assert!(text(&out.stdout).contains("report.html") && out.stderr.is_empty());

    // `merge --json` of the failing run (one shard of one): its own
    // summary.json, and the run's verdict as its exit code.
    let merged = dir.path().join("merged");
    let out = slabench(&[
        "merge",
        runs[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let on_disk = std::fs::read(merged.join("summary.json")).unwrap();
    assert_eq!(out.stdout, on_disk);
    assert_eq!(json(&out.stdout)["verdict"], "FAIL");
    // Without --json, the merged table on stdout.
    let table = slabench(&[
        "merge",
        runs[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(table.status.code(), Some(1));
    assert!(
        text(&table.stdout).contains("verdict: FAIL"),
        "{}",
        text(&table.stdout)
    );
    assert!(!text(&table.stderr).contains("verdict"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs script (util-linux) for a terminal"]
async fn on_a_terminal_auto_colours_and_no_color_leaves_no_escape_code() {
    let ok = serve(ResponseTemplate::new(200).set_body_json(completion("x"))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), &ok.uri());
    let exe = env!("CARGO_BIN_EXE_slabench");
    let mut seen = Vec::new();
    for (name, no_color) in [("tty-plain", true), ("tty-color", false)] {
        let out_dir = dir.path().join(name);
        // Both streams on one terminal, as a user sees them.
        let line = format!("{exe} run --out {} {file}", out_dir.display());
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .stdin(Stdio::null());
        match no_color {
            true => cmd.env("NO_COLOR", "1"),
            false => cmd.env_remove("NO_COLOR"),
        };
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        seen.push(text(&out.stdout));
    }
    let (plain, colored) = (&seen[0], &seen[1]);
    // The live progress line was drawn (it is on a terminal) ...
    assert!(plain.contains(" rpm · errors "), "{plain:?}");
    // ... with a carriage return, not an erase-line code, under NO_COLOR.
    assert!(!plain.contains(ESC), "{plain:?}");
    assert!(plain.contains("verdict: PASS"), "{plain:?}");
    assert!(colored.contains("\x1b[2K"), "{colored:?}");
    assert!(
        colored.contains("verdict: \x1b[1m\x1b[32mPASS"),
        "{colored:?}"
    );
}
