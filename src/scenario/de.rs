//! TOML → raw structs, turning toml and serde errors into diagnostics:
//! malformed TOML keeps toml's position; unknown keys and values get a
//! did-you-mean (or the list of valid ones); wrong types say what was
//! expected in words a user knows ("a number", not "f64").

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::error::{suggest, Ctx, ScenarioError};
use super::locate::path_at;
use super::path::{FieldPath, Seg};
use super::units::{DURATION_HELP, RATIO_HELP};

const REFERENCE: &str = "see docs/scenario-reference.md for every key and its type";

/// Deserializes `ctx.src` into `T`, or the one error that explains why not.
pub(crate) fn parse<T: DeserializeOwned>(ctx: &Ctx) -> Result<T, ScenarioError> {
    let de = toml::Deserializer::new(ctx.src);
    serde_path_to_error::deserialize(de).map_err(|e| convert(ctx, e))
}

fn convert(ctx: &Ctx, e: serde_path_to_error::Error<toml::de::Error>) -> ScenarioError {
    let path = field_path(e.path());
    let inner = e.into_inner();
    let span = inner.span();
    let msg = inner.message().trim().replace('\n', "; ");
    let quoted = backticked(&msg);

    if let Some((word, valid)) = quoted
        .split_first()
        .filter(|_| msg.starts_with("unknown field"))
    {
        return unknown_key(ctx, path, word, valid);
    }
    if let Some((word, valid)) = quoted
        .split_first()
        .filter(|_| msg.starts_with("unknown variant"))
    {
        return unknown_value(ctx, path, span, word, valid);
    }
    if let Some(rest) = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))
    {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            return wrong_type(ctx, path, span, got, expected);
        }
    }
    if let Some(field) = quoted.first().filter(|_| msg.starts_with("missing field")) {
        let at = path.key(field);
        return ctx.err_span(
            &path,
            span,
            format!("{at} is required"),
            Some(REFERENCE.into()),
        );
    }
    if msg == "wanted string or table" {
        let message = format!("{path} must be a string (one of its documented values)");
        return ctx.err_span(&path, span, message, Some(REFERENCE.into()));
    }
    if path.is_root() {
        return pathless(ctx, span, &msg);
    }
    ctx.err_span(
        &path,
        span,
        format!("{path}: {msg}"),
        Some(REFERENCE.into()),
    )
}

/// serde_path_to_error's path as a scenario field path.
fn field_path(p: &serde_path_to_error::Path) -> FieldPath {
    let mut path = FieldPath::root();
    for seg in p {
        match seg {
            Segment::Seq { index } => path.push(Seg::Index(*index)),
            Segment::Map { key } => path.push(Seg::Key(key.clone())),
            Segment::Enum { variant } => path.push(Seg::Key(variant.clone())),
            Segment::Unknown => {}
        }
    }
    path
}

/// An enum value that is not one of the variants.
fn unknown_value(
    ctx: &Ctx,
    path: FieldPath,
    span: Option<std::ops::Range<usize>>,
    word: &str,
    valid: &[String],
) -> ScenarioError {
    let choices: Vec<&str> = valid.iter().map(String::as_str).collect();
    let message = format!("{path} cannot be \"{word}\"");
    ctx.err_span(
        &path,
        span,
        message,
        Some(suggest(word, &choices, "valid values")),
    )
}

/// An error without a field path: TOML syntax, or a bad value (a number out
/// of range, a control character in a string) that has a position but no
/// path, so find the field it is in.
fn pathless(ctx: &Ctx, span: Option<std::ops::Range<usize>>, msg: &str) -> ScenarioError {
    let bad_value = [
        "number",
        "floating-point",
        "integer",
        "string",
        "escape",
        "unicode",
    ]
    .iter()
    .any(|w| msg.contains(w));
    if let Some(at) = span
        .as_ref()
        .filter(|_| bad_value)
        .and_then(|s| path_at(ctx.src, s.start))
    {
        return lexical(ctx, at, span, msg);
    }
    let what = if msg.is_empty() {
        "expected a value"
    } else {
        msg
    };
    let message = format!("invalid TOML: {what}");
    let help = "fix the TOML syntax here (quotes around strings, commas between inline-table entries, one definition per key); see https://toml.io";
    ctx.err_span(&FieldPath::root(), span, message, Some(help.into()))
}

/// A value the TOML parser refused, now with the field it belongs to.
fn lexical(
    ctx: &Ctx,
    at: FieldPath,
    span: Option<std::ops::Range<usize>>,
    msg: &str,
) -> ScenarioError {
    let (message, help) = if msg.contains("floating-point") || msg.contains("too large") {
        (
            format!("{at} is a number out of range ({msg})"),
            "write a finite number within each field's range (floats stop near 1.8e308, integers at 9223372036854775807); see docs/scenario-reference.md",
        )
    } else if msg.contains("string") {
        (
            format!("{at} is not a valid TOML string ({msg})"),
            "strings may not hold control characters (escape sequences, NUL, raw line breaks in \"...\"); remove them, or write them as \\uXXXX if you must",
        )
    } else {
        (
            format!("{at}: invalid TOML: {msg}"),
            "fix the TOML syntax here (quotes around strings, commas between inline-table entries, one definition per key); see https://toml.io",
        )
    };
    ctx.err_span(&at, span, message, Some(help.into()))
}

/// serde names the offending key first and the valid ones after it, each in
/// backticks: "unknown field `hold_rmp`, expected one of `hold_rpm`, `for`".
fn backticked(msg: &str) -> Vec<String> {
    msg.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn unknown_key(ctx: &Ctx, mut path: FieldPath, key: &str, valid: &[String]) -> ScenarioError {
    // serde_path_to_error may or may not have recorded the unknown key itself.
    if path.segs().last() != Some(&Seg::Key(key.to_string())) {
        path = path.key(key);
    }
    let table = match path.split_last() {
        Some((parent, _)) if !parent.is_root() => format!("in {parent}"),
        _ => "at the top level".to_string(),
    };
    let choices: Vec<&str> = valid.iter().map(String::as_str).collect();
    let message = format!("unknown key `{key}` {table}");
    ctx.err_at_key(&path, message, suggest(key, &choices, "valid keys"))
}

fn wrong_type(
    ctx: &Ctx,
    path: FieldPath,
    span: Option<std::ops::Range<usize>>,
    got: &str,
    expected: &str,
) -> ScenarioError {
    let expected = humanize(expected);
    let got = match got {
        "map" => "a table",
        "sequence" => "an array",
        other => other,
    };
    let help = if expected.contains("duration") {
        DURATION_HELP.to_string()
    } else if expected.contains("ratio") {
        RATIO_HELP.to_string()
    } else if expected == "an array" && got == "a table" {
        let name = path.to_string();
        format!("write [[{name}]] (double brackets) for each entry, or {name} = [ ... ]")
    } else {
        REFERENCE.to_string()
    };
    let message = format!("{path} must be {expected}; got {got}");
    ctx.err_span(&path, span, message, Some(help))
}

/// serde's type names → words.
fn humanize(expected: &str) -> String {
    let words = match expected {
        "f64" | "f32" => "a number",
        "i64" | "i32" => "an integer",
        "u64" | "u32" | "u16" | "usize" => "a non-negative integer",
        "a boolean" => "true or false",
        "a sequence" => "an array",
        "a map" => "a table",
        other if other.starts_with("struct ") => "a table",
        other if other.starts_with("enum ") => "one of the listed values (a string)",
        other => other,
    };
    words.to_string()
}
