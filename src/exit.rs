//! Exit codes, and how an error reaches the user: the one place for both.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | PASS: every check was measured and passed (or a command succeeded) |
//! | 1 | FAIL: an SLA check failed |
//! | 2 | USAGE: bad usage, a bad scenario or baseline, a target that cannot be reached, a disk too small, reports that could not be written |
//! | 3 | INVALID: the numbers cannot be trusted (the generator could not hold the schedule, or slabench failed internally) |
//! | 4 | REGRESSION: worse than the stored baseline |
//! | 5 | INTERRUPTED: stopped before the schedule ended |
//! | 6 | UNMEASURED: a check could not be measured |
//!
//! Errors print as `error: <message>`, then `  help: <fix>` (and
//! `  note: …`) when the error knows one ([`Advice`]). Error types keep
//! the framing out of their `Display`, so they compose as causes; the
//! commands print every error through [`framed`]. This module imports
//! nothing from the rest of slabench, so every layer can use it.

pub const PASS: i32 = 0;
pub const FAIL: i32 = 1;
pub const USAGE: i32 = 2;
pub const INVALID: i32 = 3;
pub const REGRESSION: i32 = 4;
pub const INTERRUPTED: i32 = 5;
pub const UNMEASURED: i32 = 6;

/// An error that knows how the user can fix it.
pub trait Advice {
    /// How to fix it, in one line.
    fn help(&self) -> Option<String>;
    /// Extra context (e.g. which scenario used a broken profile).
    fn note(&self) -> Option<String> {
        None
    }
    /// The exit code this error ends the process with.
    fn exit_code(&self) -> i32 {
        USAGE
    }
}

/// A plain user error with its fix, for the commands' own checks.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub help: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

impl Advice for UserError {
    fn help(&self) -> Option<String> {
        self.help.clone()
    }
}

/// One error as printed: `error: …` with its help and note.
pub fn render_one<E: std::fmt::Display + Advice>(e: &E) -> String {
    framed(&e.to_string(), Some(e))
}

/// `error: <message>`, then the advice's help and note.
pub fn framed(message: &str, advice: Option<&dyn Advice>) -> String {
    let mut out = format!("error: {message}");
    if let Some(a) = advice {
        if let Some(help) = a.help() {
            out.push_str(&format!("\n  help: {help}"));
        }
        if let Some(note) = a.note() {
            out.push_str(&format!("\n  note: {note}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_prints_with_its_help() {
        let e = UserError::new("the port is busy", "pick another");
        assert_eq!(
            render_one(&e),
            "error: the port is busy\n  help: pick another"
        );
        assert_eq!(e.exit_code(), USAGE);
        assert_eq!(framed("plain", None), "error: plain");
    }
}
