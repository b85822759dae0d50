//! `[gateway] kind = "external"`: the URL under test (loopback unless the
//! scenario opts in), its headers, and the optional process slabench starts.
//!
//! Header values and interpolated values are secrets: no message here ever
//! prints them, only key names and variable names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;

use super::super::env::interpolate;
use super::super::error::{Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::RawGateway;
use super::super::{ExternalGateway, GatewayProcess};
use super::Env;

const URL_HELP: &str = "write the gateway's base URL with scheme and host, e.g. \"http://127.0.0.1:4000\"; slabench appends /v1/chat/completions";

pub(super) fn external(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
    env: Env,
) -> Result<ExternalGateway, ScenarioError> {
    let url_at = at.key("url");
    let Some(raw_url) = &g.url else {
        return Err(ctx.err(&url_at, "is required for kind = \"external\"", URL_HELP));
    };
    let url = expand(ctx, &url_at, raw_url, env)?;
    let parsed = parse_url(ctx, &url_at, raw_url, &url)?;
    let path = parsed.path().trim_end_matches('/');
    if path.ends_with("/chat/completions") || path.ends_with("/v1") {
        return Err(ctx.err(
            &url_at,
            format_args!("ends in {path}; got \"{raw_url}\""),
            URL_HELP,
        ));
    }
    let allow_non_loopback = g.allow_non_loopback.unwrap_or(false);
    if !allow_non_loopback && !ctx.allow_remote && !is_loopback(&parsed) {
        let host = parsed.host_str().unwrap_or_default();
        return Err(ctx.err(&url_at, format_args!("points at {host}, which is not a loopback address"), "slabench sends load at full rate, and a load tester pointed at the wrong URL is an outage; if you really mean to load this host, set allow_non_loopback = true in [gateway] or pass --allow-remote"));
    }
    Ok(ExternalGateway {
        url: url.trim_end_matches('/').to_string(),
        headers: headers(ctx, &at.key("headers"), g, env)?,
        allow_non_loopback,
        process: process(ctx, at, g, env)?,
    })
}

/// `${VAR}` expansion; errors name the variable, never a value.
fn expand(ctx: &Ctx, at: &FieldPath, template: &str, env: Env) -> Result<String, ScenarioError> {
    interpolate(template, env).map_err(|e| {
        let help = match &e {
            super::super::env::EnvError::Missing(name) => format!("export {name} before running slabench (values stay out of reports and logs); write $${{ for a literal ${{"),
            _ => "write ${NAME} with a name of letters, digits and _; write $${ for a literal ${".to_string(),
        };
        ctx.err(at, e, help)
    })
}

fn parse_url(ctx: &Ctx, at: &FieldPath, raw: &str, url: &str) -> Result<Url, ScenarioError> {
    // The URL parser silently drops tabs and line breaks; a URL is printed
    // in reports, so refuse every control character instead.
    if let Some((i, c)) = super::names::unprintable(url, false) {
        return Err(ctx.err(
            at,
            format_args!(
                "has the unprintable character U+{:04X} at position {}",
                c as u32,
                i + 1
            ),
            URL_HELP,
        ));
    }
    let parsed = Url::parse(url).map_err(|e| {
        ctx.err(
            at,
            format_args!("is not a valid URL ({e}); got \"{raw}\""),
            URL_HELP,
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ctx.err(
            at,
            format_args!("must be an http:// or https:// URL with a host; got \"{raw}\""),
            URL_HELP,
        ));
    }
    Ok(parsed)
}

fn is_loopback(url: &Url) -> bool {
    super::super::is_loopback_url(url)
}

fn headers(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
    env: Env,
) -> Result<Vec<(String, String)>, ScenarioError> {
    let mut out = Vec::new();
    for (name, template) in g.headers.iter().flatten() {
        let at = at.key(name);
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ctx.err_at_key(
                &at,
                format!("{at} is not a valid HTTP header name"),
                "header names are letters, digits and - (e.g. Authorization, X-Api-Key)".into(),
            ));
        }
        let value = expand(ctx, &at, template, env)?;
        if HeaderValue::from_str(&value).is_err() {
            return Err(ctx.err(&at, "has a character that is not allowed in an HTTP header value (the value is not shown: header values may be secrets)", "remove line breaks and control characters from the value (and from the variables it uses)"));
        }
        out.push((name.clone(), value));
    }
    Ok(out)
}

fn process(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
    env: Env,
) -> Result<Option<GatewayProcess>, ScenarioError> {
    let Some(command) = &g.command else {
        no_process_keys(ctx, at, g)?;
        return Ok(None);
    };
    check_command(ctx, &at.key("command"), command)?;
    let vars = process_env(ctx, &at.key("env"), g, env)?;
    let cwd = process_cwd(ctx, &at.key("cwd"), g)?;
    // The program is looked up on the PATH the process will get: the one
    // in `env` when it sets one, else slabench's own.
    let path_var = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| env("PATH"));
    check_program(
        ctx,
        &at.key("command").index(0),
        &command[0],
        cwd.as_deref(),
        path_var.as_deref(),
    )?;
    Ok(Some(GatewayProcess {
        command: command.clone(),
        env: vars,
        cwd,
        ready_url: ready_url(ctx, &at.key("ready_url"), g, env)?,
        ready_timeout: ctx.positive_duration_or(
            &at.key("ready_timeout"),
            &g.ready_timeout,
            Duration::from_secs(60),
        )?,
    }))
}

/// Without `command` there is no process, so the keys that configure one
/// are mistakes.
fn no_process_keys(ctx: &Ctx, at: &FieldPath, g: &RawGateway) -> Result<(), ScenarioError> {
    let needs_command = [
        ("env", g.env.is_some()),
        ("cwd", g.cwd.is_some()),
        ("ready_url", g.ready_url.is_some()),
        ("ready_timeout", g.ready_timeout.is_some()),
    ];
    if let Some((key, _)) = needs_command.iter().find(|(_, set)| *set) {
        return Err(ctx.err(&at.key(key), "applies only when command is set (it configures the process slabench starts)", "add command = [\"your-gateway\", \"--port\", \"4000\"], or remove this key if the gateway is already running"));
    }
    Ok(())
}

/// `command`: a program and its arguments, none holding NUL.
fn check_command(ctx: &Ctx, at: &FieldPath, command: &[String]) -> Result<(), ScenarioError> {
    if command.first().is_none_or(|c| c.trim().is_empty()) {
        return Err(ctx.err(at, "is empty", "write the program and its arguments, e.g. command = [\"litellm\", \"--config\", \"config.yaml\"]"));
    }
    for (i, arg) in command.iter().enumerate() {
        no_nul(ctx, &at.index(i), arg)?;
    }
    Ok(())
}

/// `env`: the variables the process gets on top of slabench's, with
/// `${VAR}` expanded; errors never print a value.
fn process_env(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
    env: Env,
) -> Result<Vec<(String, String)>, ScenarioError> {
    let mut vars = Vec::new();
    for (name, template) in g.env.iter().flatten() {
        let var_at = at.key(name);
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(ctx.err_at_key(
                &var_at,
                format!("{var_at} is not a valid environment variable name"),
                "a variable name is not empty and has no `=` or NUL, e.g. LITELLM_LOG".into(),
            ));
        }
        let value = expand(ctx, &var_at, template, env)?;
        if value.contains('\0') {
            return Err(ctx.err(
                &var_at,
                "has a NUL character (the value is not shown)",
                "an environment value cannot hold NUL; remove it (and from the variables it uses)",
            ));
        }
        vars.push((name.clone(), value));
    }
    Ok(vars)
}

/// `cwd`: a directory relative to the scenario file.
fn process_cwd(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
) -> Result<Option<PathBuf>, ScenarioError> {
    let Some(c) = &g.cwd else {
        return Ok(None);
    };
    no_nul(ctx, at, c)?;
    let dir = ctx.file.parent().unwrap_or(Path::new(""));
    let path = dir.join(c);
    if !path.is_dir() {
        return Err(ctx.err(
            at,
            format_args!("is \"{c}\", but {} is not a directory", path.display()),
            "cwd is the folder the gateway command starts in, relative to the scenario file",
        ));
    }
    Ok(Some(path))
}

/// `ready_url`: where to probe the started gateway, on this machine unless
/// the scenario allows other hosts.
fn ready_url(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
    env: Env,
) -> Result<Option<String>, ScenarioError> {
    let Some(raw) = &g.ready_url else {
        return Ok(None);
    };
    let url = expand(ctx, at, raw, env)?;
    let parsed = parse_url(ctx, at, raw, &url)?;
    if !g.allow_non_loopback.unwrap_or(false) && !ctx.allow_remote && !is_loopback(&parsed) {
        let host = parsed.host_str().unwrap_or_default();
        return Err(ctx.err(at, format_args!("points at {host}, which is not a loopback address"), "the readiness probe goes to the gateway slabench starts, on this machine; use 127.0.0.1, or set allow_non_loopback = true in [gateway] (or pass --allow-remote)"));
    }
    Ok(Some(url))
}

fn no_nul(ctx: &Ctx, at: &FieldPath, value: &str) -> Result<(), ScenarioError> {
    if value.contains('\0') {
        return Err(ctx.err(
            at,
            "has a NUL character",
            "a process argument or path cannot hold NUL (\\u0000); remove it",
        ));
    }
    Ok(())
}

/// The gateway program must exist before anything starts, found the way
/// starting it would: a name with a `/` relative to the process's working
/// directory (`cwd` when set), a bare name on `PATH` (the one in `env` when
/// it sets one). When the environment has no `PATH` at all (an injected one
/// in tests), bare names cannot be checked and are left to the start.
fn check_program(
    ctx: &Ctx,
    at: &FieldPath,
    program: &str,
    cwd: Option<&Path>,
    path_var: Option<&str>,
) -> Result<(), ScenarioError> {
    let base = cwd.unwrap_or(Path::new(""));
    if program.contains('/') {
        let file = base.join(program);
        if is_executable(&file) {
            return Ok(());
        }
        let why = if file.exists() {
            "is not an executable file"
        } else {
            "does not exist"
        };
        return Err(ctx.err(
            at,
            format_args!("is \"{program}\", but {} {why}", file.display()),
            "a program path with a / is relative to cwd (or to where slabench runs, without cwd); give the right path, or a name found on PATH",
        ));
    }
    let Some(path_var) = path_var else {
        return Ok(());
    };
    let found = std::env::split_paths(path_var)
        .map(|d| base.join(d).join(program))
        .any(|f| is_executable(&f));
    if found {
        return Ok(());
    }
    Err(ctx.err(
        at,
        format_args!("is \"{program}\", which is not an executable on PATH"),
        format!("install {program} (or put it on PATH), or give its path, e.g. command = [\"/usr/local/bin/{program}\", ...]"),
    ))
}

fn is_executable(file: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(file) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}
