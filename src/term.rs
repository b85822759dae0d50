//! What slabench prints on a terminal: whether a stream gets colour, the
//! few styles it uses, and the printing of warnings and results.
//!
//! One decision governs every escape code slabench prints, clap's help
//! and errors included: anstream's process-wide colour choice, which
//! `cli::ColorWhen::apply` sets from `--color` before clap parses.
//! With `--color auto` (the default) a stream gets colour when `NO_COLOR`
//! is unset or empty, and then when `CLICOLOR_FORCE` is set, or when the
//! stream is a terminal (whose `TERM` is not `dumb`) and `CLICOLOR` is not
//! `0`. `--color always` and `--color never` beat every variable
//! (<https://no-color.org>: a command-line flag overrides `NO_COLOR`).
//!
//! Text goes out through anstream's streams, which strip escape codes
//! when their stream gets no colour: a gateway's coloured log lines quoted
//! in the summary or in an error come out plain too. The live progress
//! line ([`redraw`]) is redrawn with a carriage return and padding
//! instead of an erase-line code when stderr gets no colour.
//!
//! Stdout carries a command's result (the summary table, or summary.json
//! with `--json`); stderr carries everything else (progress, warnings,
//! errors), so `slabench run … > summary.txt` keeps the table alone.
//! This module imports nothing from the rest of slabench (a leaf).

use std::fmt::Display;
use std::io::Write;

use anstyle::{AnsiColor, Style};

/// One of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether text written to `stream` keeps its colour (see the module
/// comment for the rules).
pub fn colored(stream: Stream) -> bool {
    let choice = match stream {
        Stream::Stdout => anstream::AutoStream::choice(&std::io::stdout()),
        Stream::Stderr => anstream::AutoStream::choice(&std::io::stderr()),
    };
    choice != anstream::ColorChoice::Never
}

/// A run's or a check's outcome, as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Passed: green.
    Good,
    /// Failed, invalid, broken: red.
    Bad,
    /// Neither a pass nor a failure (not measured, interrupted, a
    /// regression, a warning): yellow.
    Doubt,
    /// A heading or label: bold.
    Strong,
}

impl Tone {
    fn style(self) -> Style {
        let color = |c: AnsiColor| Style::new().fg_color(Some(c.into())).bold();
        match self {
            Tone::Good => color(AnsiColor::Green),
            Tone::Bad => color(AnsiColor::Red),
            Tone::Doubt => color(AnsiColor::Yellow),
            Tone::Strong => Style::new().bold(),
        }
    }
}

/// Paints text for one stream: in colour, or as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// No escape codes at all (files, tests, a stream without colour).
    pub const PLAIN: Paint = Paint { on: false };
    /// Always colour (tests of the coloured form).
    pub const COLOR: Paint = Paint { on: true };

    /// Colour when `stream` gets colour.
    pub fn of(stream: Stream) -> Paint {
        Paint {
            on: colored(stream),
        }
    }

    pub fn is_on(self) -> bool {
        self.on
    }

    /// `text` in `tone`, or `text` as it is.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if !self.on || text.is_empty() {
            return text.to_string();
        }
        let style = tone.style();
        format!("{style}{text}{style:#}")
    }

    /// The labels of `error: …`, `warning: …` and their `  help: …` and
    /// `  note: …` lines painted; the rest as it is.
    pub fn labels(self, text: &str) -> String {
        const LABELS: [(&str, Tone); 4] = [
            ("error:", Tone::Bad),
            ("warning:", Tone::Doubt),
            ("  help:", Tone::Strong),
            ("  note:", Tone::Strong),
        ];
        text.split('\n')
            .map(|line| {
                LABELS
                    .iter()
                    .find_map(|(label, tone)| {
                        line.strip_prefix(label)
                            .map(|rest| format!("{}{rest}", self.paint(*tone, label)))
                    })
                    .unwrap_or_else(|| line.to_string())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `warning: …` on stderr, its label in colour when stderr gets colour.
pub fn warning(message: impl Display) {
    let text = format!("warning: {message}");
    anstream::eprintln!("{}", Paint::of(Stream::Stderr).labels(&text));
}

/// `error: …` (with its help and note lines) on stderr.
pub fn error(framed: &str) {
    anstream::eprintln!("{}", Paint::of(Stream::Stderr).labels(framed));
}

/// A command's result on stdout, escape codes stripped when stdout gets
/// no colour. A closed stdout (`slabench run … | head -3`) is told on
/// stderr and is not an error: the run's files hold everything.
pub fn result(text: &[u8]) {
    told(write_to(&mut anstream::stdout().lock(), text));
}

/// A file's bytes on stdout exactly (summary.json with `--json`, a
/// completion script, a man page); a closed stdout as for [`result`].
pub fn data(bytes: &[u8]) {
    told(write_to(&mut std::io::stdout().lock(), bytes));
}

fn write_to(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

fn told(written: std::io::Result<()>) {
    if let Err(e) = written {
        warning(format_args!("cannot write the result to stdout: {e}"));
    }
}

/// `line` drawn over the live line on stderr, which was `previous`
/// characters long: `\r` and an erase-line code when stderr gets colour,
/// else `\r` and the line padded with spaces over the old one.
pub fn redraw(line: &str, previous: usize) -> String {
    redraw_for(colored(Stream::Stderr), line, previous)
}

/// The live line on stderr, `previous` characters long, wiped.
pub fn erase(previous: usize) -> String {
    match colored(Stream::Stderr) {
        true => "\r\x1b[2K".to_string(),
        false => format!("{}\r", redraw_for(false, "", previous)),
    }
}

fn redraw_for(color: bool, line: &str, previous: usize) -> String {
    if color {
        return format!("\r\x1b[2K{line}");
    }
    let n = line.chars().count();
    format!("\r{line}{}", " ".repeat(previous.saturating_sub(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paint_adds_nothing_and_colour_wraps_the_text() {
        assert_eq!(Paint::PLAIN.paint(Tone::Bad, "FAIL"), "FAIL");
        let red = Paint::COLOR.paint(Tone::Bad, "FAIL");
        assert!(red.starts_with('\x1b') && red.contains("FAIL"), "{red:?}");
        assert!(red.ends_with("\x1b[0m"), "{red:?}");
        assert_eq!(Paint::COLOR.paint(Tone::Good, ""), "");
    }

    #[test]
    fn labels_are_painted_only_at_the_start_of_their_lines() {
        let text = "error: the port is busy\n  help: pick another\nnot an error: here";
        assert_eq!(Paint::PLAIN.labels(text), text);
        let painted = Paint::COLOR.labels(text);
        // error: bold red (two codes, a reset); help: bold (one, a reset).
        assert_eq!(painted.matches('\x1b').count(), 5, "{painted:?}");
        assert!(painted.ends_with("\nnot an error: here"), "{painted:?}");
        assert!(Paint::COLOR
            .labels("warning: x")
            .contains("\x1b[1m\x1b[33m"));
    }

    #[test]
    fn a_live_line_is_redrawn_without_escape_codes_when_plain() {
        assert_eq!(redraw_for(false, "ab", 5), "\rab   ");
        assert_eq!(redraw_for(false, "abcdef", 5), "\rabcdef");
        assert_eq!(redraw_for(false, "é", 2), "\ré ");
        assert_eq!(redraw_for(true, "ab", 5), "\r\x1b[2Kab");
    }
}
