//! Names a user chose (scenario, traffic classes, providers, regions,
//! models): they are printed on terminals, in reports and in file names, so
//! they must be printable and reasonably short. Provider names also travel
//! in HTTP headers (`x-slabench-provider`, the built-in gateway's
//! comma-separated `x-slabench-attempts`), so they are stricter still.

use super::super::error::{Ctx, ScenarioError};
use super::super::path::FieldPath;

/// The longest name (in characters). The run directory is
/// `reports/<name>-<timestamp>`, and a file name holds at most 255 bytes.
pub(crate) const MAX_NAME: usize = 100;
/// The longest model name: sent to the gateway, printed in reports.
pub(crate) const MAX_MODEL: usize = 256;
/// The longest provider name: it goes into headers on every answer.
pub(crate) const MAX_PROVIDER_NAME: usize = 64;

/// The first character that would not print as itself: control characters
/// (escape sequences, line breaks, NUL), and the invisible format characters
/// that reorder or hide text (bidi overrides, zero-width spaces).
pub(crate) fn unprintable(s: &str, allow_line_breaks: bool) -> Option<(usize, char)> {
    s.chars().enumerate().find(|&(_, c)| {
        let allowed_break = allow_line_breaks && matches!(c, '\n' | '\t' | '\r');
        !allowed_break
            && (c.is_control()
                || matches!(c,
                    '\u{200B}'..='\u{200F}'
                    | '\u{2028}'..='\u{202E}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{FEFF}'))
    })
}

impl Ctx<'_> {
    /// A name that is printed: not blank, printable, at most `max` characters.
    pub fn display_name(
        &self,
        at: &FieldPath,
        value: &str,
        max: usize,
        what: &str,
    ) -> Result<(), ScenarioError> {
        if value.trim().is_empty() {
            return Err(self.err(at, "must not be empty", format!("give the {what} a name")));
        }
        if let Some((i, c)) = unprintable(value, false) {
            return Err(self.err(
                at,
                format_args!(
                    "has the unprintable character U+{:04X} at position {}; got {}",
                    c as u32,
                    i + 1,
                    shown(value)
                ),
                format!("names are printed on terminals and in reports; remove control characters (escape sequences, line breaks, tabs) and invisible formatting characters from the {what}"),
            ));
        }
        let len = value.chars().count();
        if len > max {
            return Err(self.err(
                at,
                format_args!("is {len} characters long; at most {max} are allowed"),
                format!("shorten the {what}: it names report files and directories, and a file name holds at most 255 bytes"),
            ));
        }
        Ok(())
    }

    /// A provider name: visible ASCII without `,` and `:`, at most 64
    /// characters, because it is sent in HTTP headers (the built-in gateway
    /// lists attempts as `name:status,name:status`).
    pub fn provider_name(&self, at: &FieldPath, value: &str) -> Result<(), ScenarioError> {
        const HELP: &str = "provider names travel in HTTP headers: use letters, digits and punctuation such as - _ . (no spaces, commas, colons or non-ASCII characters), e.g. name = \"flash-eu\"";
        self.display_name(at, value, MAX_PROVIDER_NAME, "provider")?;
        if let Some(c) = value
            .chars()
            .find(|&c| !c.is_ascii_graphic() || c == ',' || c == ':')
        {
            let what = match c {
                ' ' => "a space".to_string(),
                ',' => "a comma".to_string(),
                ':' => "a colon".to_string(),
                c => format!("the character U+{:04X}", c as u32),
            };
            return Err(self.err(at, format_args!("has {what}; got {}", shown(value)), HELP));
        }
        Ok(())
    }
}

/// A value for a message: quoted with control characters escaped, and cut
/// short when long.
pub(crate) fn shown(value: &str) -> String {
    const KEEP: usize = 40;
    if value.chars().count() <= KEEP {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(KEEP).collect();
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_control_and_invisible_characters() {
        assert_eq!(unprintable("peak", false), None);
        assert_eq!(unprintable("Spitze 峰 🚀", false), None);
        assert_eq!(unprintable("a\u{1b}[31m", false), Some((1, '\u{1b}')));
        assert_eq!(unprintable("a\u{202E}b", false), Some((1, '\u{202E}')));
        assert_eq!(unprintable("a\nb", false), Some((1, '\n')));
        assert_eq!(unprintable("a\nb", true), None);
        assert_eq!(unprintable("a\u{7f}", true), Some((1, '\u{7f}')));
    }

    #[test]
    fn shows_values_escaped_and_cut_short() {
        assert_eq!(shown("a\u{1b}b"), "\"a\\u{1b}b\"");
        assert!(shown(&"x".repeat(300)).ends_with('…'));
    }
}
