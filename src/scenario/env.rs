//! `${VAR}` interpolation for the few places that take secrets or
//! machine-specific values (gateway url, headers, process env). `$${` writes
//! a literal `${`. The environment is injected so tests are deterministic.

use std::fmt;

/// Why a template could not be expanded. Never carries the template text or
/// any value: templates sit in headers, and header values are secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvError {
    /// `${NAME}` where `NAME` is not set.
    Missing(String),
    /// `${` without a closing `}`.
    Unterminated,
    /// `${}` or a name with characters other than letters, digits and `_`.
    BadName,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::Missing(name) => write!(
                f,
                "uses ${{{name}}}, but {name} is not set in the environment"
            ),
            EnvError::Unterminated => f.write_str("has a `${` without a closing `}`"),
            EnvError::BadName => {
                f.write_str("has a `${...}` whose name is not a valid variable name")
            }
        }
    }
}

/// Expands every `${NAME}` in `template` with `env(NAME)`.
pub fn interpolate(
    template: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(EnvError::Unterminated)?;
            let name = &after[..end];
            if !is_var_name(name) {
                return Err(EnvError::BadName);
            }
            out.push_str(&env(name).ok_or_else(|| EnvError::Missing(name.to_string()))?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "s3cret".to_string())
    }

    #[test]
    fn expands_escapes_and_reports_missing_names() {
        assert_eq!(interpolate("Bearer ${KEY}", &env).unwrap(), "Bearer s3cret");
        assert_eq!(interpolate("$${KEY} $5 $", &env).unwrap(), "${KEY} $5 $");
        assert_eq!(
            interpolate("${NOPE}", &env),
            Err(EnvError::Missing("NOPE".into()))
        );
        assert_eq!(interpolate("${KEY", &env), Err(EnvError::Unterminated));
        assert_eq!(interpolate("${}", &env), Err(EnvError::BadName));
        assert_eq!(interpolate("${A-B}", &env), Err(EnvError::BadName));
    }
}
