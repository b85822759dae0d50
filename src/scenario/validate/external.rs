//! `[gateway] kind = "external"`: the URL under test (loopback unless the
//! scenario opts in), its headers, and the optional process slabench starts.
//!
//! Header values and interpolated values are secrets: no message here ever
//! prints them, only key names and variable names.

use std::path::Path;
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
    if !allow_non_loopback && !is_loopback(&parsed) {
        let host = parsed.host_str().unwrap_or_default();
        return Err(ctx.err(&url_at, format_args!("points at {host}, which is not a loopback address"), "slabench sends load at full rate, and a load tester pointed at the wrong URL is an outage; if you really mean to load this host, set allow_non_loopback = true in [gateway]"));
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
        let needs_command = [
            ("env", g.env.is_some()),
            ("cwd", g.cwd.is_some()),
            ("ready_url", g.ready_url.is_some()),
            ("ready_timeout", g.ready_timeout.is_some()),
        ];
        if let Some((key, _)) = needs_command.iter().find(|(_, set)| *set) {
            return Err(ctx.err(&at.key(key), "applies only when command is set (it configures the process slabench starts)", "add command = [\"your-gateway\", \"--port\", \"4000\"], or remove this key if the gateway is already running"));
        }
        return Ok(None);
    };
    if command.first().map_or(true, |c| c.trim().is_empty()) {
        return Err(ctx.err(&at.key("command"), "is empty", "write the program and its arguments, e.g. command = [\"litellm\", \"--config\", \"config.yaml\"]"));
    }
    let mut vars = Vec::new();
    for (name, template) in g.env.iter().flatten() {
        vars.push((
            name.clone(),
            expand(ctx, &at.key("env").key(name), template, env)?,
        ));
    }
    let dir = ctx.file.parent().unwrap_or(Path::new(""));
    let ready_url = match &g.ready_url {
        None => None,
        Some(raw) => {
            let at = at.key("ready_url");
            let url = expand(ctx, &at, raw, env)?;
            parse_url(ctx, &at, raw, &url)?;
            Some(url)
        }
    };
    Ok(Some(GatewayProcess {
        command: command.clone(),
        env: vars,
        cwd: g.cwd.as_ref().map(|c| dir.join(c)),
        ready_url,
        ready_timeout: ctx.positive_duration_or(
            &at.key("ready_timeout"),
            &g.ready_timeout,
            Duration::from_secs(60),
        )?,
    }))
}
