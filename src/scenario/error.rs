//! What a user got wrong in a scenario or profile file, as one error that
//! names the file, line, column, field path and the fix:
//!
//! ```text
//! error: scenarios/peak.toml:12:15: load.stages[1].hold_rpm must be > 0; got -5
//!   help: a hold stage sends at a positive rate; use ramp_to_rpm = 0 to stop
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use super::locate::{locate, locate_key, Location};
use super::path::FieldPath;

/// A scenario or provider profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read at all.
    /// (The I/O error is in the message, not a `source`: as a source it
    /// would be printed a second time by the error chain.)
    #[error("{}: cannot read the file: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// The file was read but is not valid: malformed TOML, an unknown key, a
    /// wrong type or a value that fails validation.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file at fault (a provider profile's own file for errors inside it).
    pub file: PathBuf,
    /// Where in `file`; `None` only when nothing more precise than the file exists.
    pub location: Option<Location>,
    /// The field path, e.g. `load.stages[1].hold_rpm` (empty for syntax errors
    /// and whole-document problems).
    pub field: String,
    /// The complete message, usually starting with the field path.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Extra context, e.g. which scenario used a broken profile.
    pub note: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The `error:` framing and the help are the printer's
        // (`crate::exit::framed`), through [`crate::exit::Advice`].
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.location {
            write!(f, ":{}:{}", l.line, l.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl crate::exit::Advice for ScenarioError {
    fn help(&self) -> Option<String> {
        match self {
            ScenarioError::Read { error, .. } => Some(read_help(error).to_string()),
            ScenarioError::Invalid(d) => d.help.clone(),
        }
    }
    fn note(&self) -> Option<String> {
        self.diagnostic().and_then(|d| d.note.clone())
    }
}

/// How to get past an unreadable scenario or profile file.
fn read_help(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path: a scenario is relative to the working directory, a profile ending in .toml to the scenario file"
        }
        std::io::ErrorKind::PermissionDenied => "make the file readable by this user",
        std::io::ErrorKind::IsADirectory => "name a .toml file, not a directory",
        _ => "name a readable TOML file",
    }
}

/// Reads a scenario or profile file as UTF-8 text. Bytes that are not
/// UTF-8 are one located error (the line and column of the first bad
/// byte), like any other problem in the file.
pub(crate) fn read_source(path: &Path) -> Result<String, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|error| ScenarioError::Read {
        file: path.to_path_buf(),
        error,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let good = String::from_utf8_lossy(&bytes[..at]);
        ScenarioError::Invalid(Box::new(Diagnostic {
            file: path.to_path_buf(),
            location: Some(Location::of_offset(&good, good.len())),
            field: String::new(),
            message: format!(
                "the file is not UTF-8 text: byte 0x{:02x} at offset {at} is not valid UTF-8",
                bytes[at]
            ),
            help: Some(
                "TOML files are UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    .into(),
            ),
            note: None,
        }))
    })
}

impl ScenarioError {
    /// The diagnostic, unless the file could not be read.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            ScenarioError::Invalid(d) => Some(d),
            ScenarioError::Read { .. } => None,
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            ScenarioError::Read { file, .. } => file,
            ScenarioError::Invalid(d) => &d.file,
        }
    }

    pub fn line(&self) -> Option<usize> {
        self.diagnostic()?.location.map(|l| l.line)
    }

    pub fn column(&self) -> Option<usize> {
        self.diagnostic()?.location.map(|l| l.column)
    }

    /// The field path; empty when the error is not about one field.
    pub fn field(&self) -> &str {
        self.diagnostic().map_or("", |d| d.field.as_str())
    }

    pub fn help(&self) -> Option<&str> {
        self.diagnostic()?.help.as_deref()
    }

    pub(crate) fn with_note(mut self, note: String) -> Self {
        if let ScenarioError::Invalid(d) = &mut self {
            d.note = Some(note);
        }
        self
    }
}

/// The file being checked: builds errors that point into it.
pub(crate) struct Ctx<'a> {
    pub src: &'a str,
    pub file: &'a Path,
    /// `--allow-remote`: a non-loopback gateway URL is accepted as if the
    /// scenario said `allow_non_loopback = true`.
    pub allow_remote: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(src: &'a str, file: &'a Path) -> Self {
        Ctx {
            src,
            file,
            allow_remote: false,
        }
    }

    /// Where `at` is written (its nearest existing ancestor if it is absent).
    pub fn location(&self, at: &FieldPath) -> Location {
        Location::of_offset(self.src, locate(self.src, at).map_or(0, |s| s.start))
    }

    /// An error about the value at `at`; `rest` follows the field path in the
    /// message ("must be > 0; got -5").
    pub fn err(
        &self,
        at: &FieldPath,
        rest: impl fmt::Display,
        help: impl Into<String>,
    ) -> ScenarioError {
        let message = if at.is_root() {
            rest.to_string()
        } else {
            format!("{at} {rest}")
        };
        self.build(at, message, Some(help.into()), false)
    }

    /// An error about the key at `at` itself (not its value).
    pub fn err_at_key(&self, at: &FieldPath, message: String, help: String) -> ScenarioError {
        self.build(at, message, Some(help), true)
    }

    /// An error with a message of its own, placed at `span` when known, else at `at`.
    pub fn err_span(
        &self,
        at: &FieldPath,
        span: Option<std::ops::Range<usize>>,
        message: String,
        help: Option<String>,
    ) -> ScenarioError {
        let span = span.or_else(|| locate(self.src, at));
        self.finish(at, span, message, help)
    }

    fn build(
        &self,
        at: &FieldPath,
        message: String,
        help: Option<String>,
        key: bool,
    ) -> ScenarioError {
        let span = if key {
            locate_key(self.src, at)
        } else {
            locate(self.src, at)
        };
        self.finish(at, span, message, help)
    }

    fn finish(
        &self,
        at: &FieldPath,
        span: Option<std::ops::Range<usize>>,
        message: String,
        help: Option<String>,
    ) -> ScenarioError {
        // A whole-document problem still gets a position, so that every
        // message has the same `file:line:col:` shape editors can jump to.
        let start = span.map_or(0, |s| s.start);
        ScenarioError::Invalid(Box::new(Diagnostic {
            file: self.file.to_path_buf(),
            location: Some(Location::of_offset(self.src, start)),
            field: at.to_string(),
            message,
            help,
            note: None,
        }))
    }
}

/// The candidate closest to `word`, if any is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `did you mean "x"?` or the full list of choices when nothing is close.
pub(crate) fn suggest(word: &str, candidates: &[&str], what: &str) -> String {
    let list = candidates
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean \"{best}\"? {what}: {list}"),
        None if candidates.is_empty() => format!("there are no {what}"),
        None => format!("{what}: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_or_lists_all() {
        assert_eq!(
            did_you_mean("hold_rmp", ["hold_rpm", "for"]),
            Some("hold_rpm")
        );
        assert_eq!(did_you_mean("zzz", ["hold_rpm", "for"]), None);
        assert_eq!(
            suggest("zzz", &["a", "b"], "valid keys"),
            "valid keys: \"a\", \"b\""
        );
    }

    #[test]
    fn formats_file_line_column_message_and_help() {
        let src = "a = 1\nb = -5\n";
        let ctx = Ctx::new(src, Path::new("x.toml"));
        let e = ctx.err(&FieldPath::root().key("b"), "must be > 0; got -5", "fix it");
        assert_eq!((e.line(), e.column(), e.field()), (Some(2), Some(5), "b"));
        assert_eq!(e.to_string(), "x.toml:2:5: b must be > 0; got -5");
        assert_eq!(
            crate::exit::render_one(&e),
            "error: x.toml:2:5: b must be > 0; got -5\n  help: fix it"
        );
    }
}
