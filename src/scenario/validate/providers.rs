//! `[[providers]]`: resolve each profile to its file, load it, and check
//! names and ports.

use std::path::{Path, PathBuf};

use super::super::error::{suggest, Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::profile::load_profile;
use super::super::raw::RawProvider;
use super::super::Provider;
use super::names::MAX_PROVIDER_NAME;

const PROFILE_DIR: &str = "mock-providers";
/// The most providers in one scenario (the request log keeps the serving
/// provider in one byte, with two values reserved).
pub(crate) const MAX_PROVIDERS: usize = 100;

pub(super) fn providers(ctx: &Ctx, raw: &[RawProvider]) -> Result<Vec<Provider>, ScenarioError> {
    let at = FieldPath::root().key("providers");
    if raw.len() > MAX_PROVIDERS {
        return Err(ctx.err(
            &at.index(MAX_PROVIDERS),
            format_args!("is one provider too many: at most {MAX_PROVIDERS} are allowed"),
            "the request log stores a provider as one byte, and each provider is a server on its own port; use fewer providers",
        ));
    }
    let mut out: Vec<Provider> = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        let at = at.index(i);
        let provider = provider(ctx, &at, p)?;
        let name_at = if p.name.is_some() {
            at.key("name")
        } else {
            at.key("profile")
        };
        if let Some(first) = out.iter().position(|o| o.name == provider.name) {
            return Err(ctx.err(&name_at, format_args!("gives the provider name \"{}\", already used by providers[{first}]", provider.name), "faults and routes refer to providers by name; give each one its own name = \"...\" (it defaults to the profile name)"));
        }
        if provider.port != 0 {
            if let Some(first) = out.iter().position(|o| o.port == provider.port) {
                return Err(ctx.err(
                    &at.key("port"),
                    format_args!("is {}, already taken by providers[{first}]", provider.port),
                    "each provider listens on its own port; use port = 0 to pick a free one",
                ));
            }
        }
        out.push(provider);
    }
    Ok(out)
}

fn provider(ctx: &Ctx, at: &FieldPath, p: &RawProvider) -> Result<Provider, ScenarioError> {
    let profile_at = at.key("profile");
    let Some(profile) = p.profile.as_deref() else {
        return Err(ctx.err(&profile_at, "is required", format!("name a profile in {PROFILE_DIR}/, e.g. profile = \"deepseek-v4-flash\", or a .toml path relative to the scenario")));
    };
    let file = resolve(ctx, &profile_at, profile)?;
    let profile = load_profile(&file).map_err(|e| {
        let line = ctx.location(&profile_at).line;
        e.with_note(format!(
            "the profile of {at} ({}:{line})",
            ctx.file.display()
        ))
    })?;
    let name = match &p.name {
        Some(n) if n.trim().is_empty() => {
            return Err(ctx.err(
                &at.key("name"),
                "must not be empty",
                "leave name out to use the profile's name",
            ))
        }
        Some(n) => {
            ctx.provider_name(&at.key("name"), n)?;
            n.clone()
        }
        None => {
            ctx.provider_name(&profile_at, &profile.name)
                .map_err(|e| e.with_note("the provider is named after its profile; set name = \"...\" to name it otherwise".into()))?;
            profile.name.clone()
        }
    };
    let port = ctx.int(
        &at.key("port"),
        p.port,
        0,
        0,
        u16::MAX.into(),
        "a TCP port, or 0 for any free loopback port",
    )?;
    let group = match &p.group {
        Some(g) => {
            // Printed in reports only (never sent in a header): any printable
            // name, as a gateway's config spells it (`llama3:8b`, `gpt-4o`).
            ctx.display_name(&at.key("group"), g, MAX_PROVIDER_NAME, "deployment group")?;
            Some(g.clone())
        }
        None => None,
    };
    Ok(Provider {
        name,
        port: port as u16,
        profile,
        group,
    })
}

/// `name` → `mock-providers/name.toml` next to the scenario or one folder up;
/// `x.toml` → that path relative to the scenario file.
fn resolve(ctx: &Ctx, at: &FieldPath, profile: &str) -> Result<PathBuf, ScenarioError> {
    let dir = ctx.file.parent().unwrap_or(Path::new(""));
    if profile.ends_with(".toml") {
        let file = dir.join(profile);
        if file.is_file() {
            return Ok(file);
        }
        return Err(ctx.err(at, format_args!("\"{profile}\" names no file: {} does not exist", file.display()), "a profile ending in .toml is a path relative to the scenario file; without .toml it is a name in mock-providers/"));
    }
    if profile.is_empty() || profile.contains(['/', '\\']) {
        return Err(ctx.err(
            at,
            format_args!("\"{profile}\" is not a profile name"),
            "write a name from mock-providers/ (no slashes), or a path ending in .toml",
        ));
    }
    let dirs = profile_dirs(dir);
    if let Some(file) = dirs
        .iter()
        .map(|d| d.join(format!("{profile}.toml")))
        .find(|f| f.is_file())
    {
        return Ok(file);
    }
    let available = available(&dirs);
    let names: Vec<&str> = available.iter().map(String::as_str).collect();
    let searched = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    let help = if names.is_empty() {
        format!("no profiles found in {searched}; put {profile}.toml there, or give a path ending in .toml")
    } else {
        suggest(profile, &names, "available profiles")
    };
    Err(ctx.err(
        at,
        format_args!("\"{profile}\" is not a known provider profile (looked in {searched})"),
        help,
    ))
}

/// Where profile names are looked up, in order: next to the scenario, then
/// one folder up. Works for any working directory: `smoke.toml` (run from
/// inside `scenarios/`), `../scenarios/smoke.toml` and absolute paths.
fn profile_dirs(scenario_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![scenario_dir.join(PROFILE_DIR)];
    if let Some(parent) = parent_dir(scenario_dir) {
        dirs.push(parent.join(PROFILE_DIR));
    }
    dirs
}

/// The folder above `dir`. `Path::parent` is lexical: for `""` (a scenario
/// named without a folder) it has none, and for `..` it would give `""`,
/// which is not the folder above. Those get `..` appended instead.
fn parent_dir(dir: &Path) -> Option<PathBuf> {
    use std::path::Component;
    match dir.components().next_back() {
        Some(Component::Normal(_)) => dir.parent().map(Path::to_path_buf),
        Some(Component::RootDir | Component::Prefix(_)) => None,
        Some(Component::CurDir | Component::ParentDir) | None => Some(dir.join("..")),
    }
}

/// Profile names found in `dirs`, sorted.
fn available(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_above_works_for_bare_relative_and_absolute_folders() {
        let up = |d: &str| parent_dir(Path::new(d)).map(|p| p.display().to_string());
        assert_eq!(up("scenarios").as_deref(), Some(""));
        assert_eq!(up("a/scenarios").as_deref(), Some("a"));
        assert_eq!(up("").as_deref(), Some(".."));
        assert_eq!(up("..").as_deref(), Some("../.."));
        assert_eq!(up("../scenarios").as_deref(), Some(".."));
        assert_eq!(up("/work/x").as_deref(), Some("/work"));
        assert_eq!(up("/"), None);
    }
}
