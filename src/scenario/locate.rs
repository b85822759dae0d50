//! Find where a field path is written in a TOML document, so that errors
//! found after deserializing (semantic checks) still point at a line and
//! column. One general walk over `toml_edit`'s spanned document replaces
//! per-field bookkeeping: validation only has to know the path it checked.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, TableLike, Value};

use super::path::{FieldPath, Seg};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The line and column of byte offset `at` in `src`.
    pub fn of_offset(src: &str, at: usize) -> Location {
        let at = floor_char_boundary(src, at.min(src.len()));
        let before = &src[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Where `path` is written in `src`: the span of its value (or of the table
/// header / key for tables). When the path does not exist in full (a missing
/// key), the span of its deepest existing ancestor, so "x is required"
/// points at the table that lacks it. `None` when nothing along the path has a
/// span (the root, or a document that does not parse).
pub fn locate(src: &str, path: &FieldPath) -> Option<Range<usize>> {
    let doc = ImDocument::parse(src).ok()?;
    let mut node = Node::Table(doc.as_table());
    let mut best = None;
    for seg in path.segs() {
        let Some((next, span)) = node.child(seg) else {
            break;
        };
        if span.is_some() {
            best = span;
        }
        node = next;
    }
    best
}

/// Where the key of `path` (its last step) is written, for errors about the
/// key itself (an unknown key). Falls back to [`locate`].
pub fn locate_key(src: &str, path: &FieldPath) -> Option<Range<usize>> {
    let key_span = (|| {
        let (parent, Seg::Key(key)) = path.split_last()? else {
            return None;
        };
        let doc = ImDocument::parse(src).ok()?;
        let mut node = Node::Table(doc.as_table());
        for seg in parent.segs() {
            node = node.child(seg)?.0;
        }
        let (k, _) = node.table_like()?.get_key_value(key)?;
        k.span()
    })();
    key_span.or_else(|| locate(src, path))
}

/// The field path of the value written at byte `offset`, when `src` (after a
/// lexical repair) parses: used for errors the TOML parser reports with a
/// position but no path, such as `1e309` or a control character inside a
/// string. The token at `offset` is replaced by a harmless `0`, so that the
/// rest of the document can be walked.
pub fn path_at(src: &str, offset: usize) -> Option<FieldPath> {
    // Later tokens may be just as bad: repair those too, a few at most.
    let mut patched = patch_token(src, offset)?;
    let mut tries = 0;
    let doc = loop {
        match ImDocument::parse(patched.clone()) {
            Ok(doc) => break doc,
            Err(e) if tries < 16 => {
                let at = e.span()?.start;
                if at == offset {
                    return None;
                }
                patched = patch_token(&patched, at)?;
                tries += 1;
            }
            Err(_) => return None,
        }
    };
    let mut path = FieldPath::root();
    let mut node = Node::Table(doc.as_table());
    while let Some((seg, next)) = node.child_containing(offset) {
        path.push(seg);
        node = next;
    }
    (!path.is_root()).then_some(path)
}

/// `src` with the token at `offset` (a number, or else one character)
/// replaced by `0` and spaces, keeping every other byte where it was.
fn patch_token(src: &str, offset: usize) -> Option<String> {
    let bytes = src.as_bytes();
    if offset >= bytes.len() || !src.is_char_boundary(offset) {
        return None;
    }
    let number_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-');
    let end = if number_char(bytes[offset]) {
        (offset..bytes.len())
            .find(|&i| !number_char(bytes[i]))
            .unwrap_or(bytes.len())
    } else {
        offset + src[offset..].chars().next()?.len_utf8()
    };
    let mut patched = bytes.to_vec();
    for (i, b) in patched[offset..end].iter_mut().enumerate() {
        *b = if i == 0 { b'0' } else { b' ' };
    }
    String::from_utf8(patched).ok()
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
    Value(&'a Value),
}

type Step<'a> = (Node<'a>, Option<Range<usize>>);

impl<'a> Node<'a> {
    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Table(t) => Some(t),
            Node::Item(i) => i.as_table_like(),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    /// The child whose written span (key through value) holds `offset`.
    fn child_containing(self, offset: usize) -> Option<(Seg, Node<'a>)> {
        let inside = |span: Option<Range<usize>>| span.is_some_and(|s| s.contains(&offset));
        match self {
            Node::Item(Item::ArrayOfTables(a)) => {
                // A table of an array of tables has no span of its own
                // beyond its header: pick the last one that starts before.
                let i = a
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.span().is_some_and(|s| s.start <= offset))
                    .map(|(i, _)| i)
                    .last()?;
                return Some((Seg::Index(i), Node::Table(a.get(i)?)));
            }
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                let i = a.iter().position(|v| inside(v.span()))?;
                return Some((Seg::Index(i), Node::Value(a.get(i)?)));
            }
            _ => {}
        }
        let table = self.table_like()?;
        let mut best: Option<(usize, Seg, Node<'a>)> = None;
        for (key, item) in table.iter() {
            let (k, _) = table.get_key_value(key)?;
            let key_start = k.span().map(|s| s.start);
            let hit = match item {
                Item::Value(v) => {
                    inside(v.span())
                        || v.span()
                            .zip(key_start)
                            .is_some_and(|(v, k)| (k..v.end).contains(&offset))
                }
                Item::Table(t) => t.span().is_some_and(|s| s.start <= offset) || inside(k.span()),
                Item::ArrayOfTables(a) => a
                    .iter()
                    .any(|t| t.span().is_some_and(|s| s.start <= offset)),
                Item::None => false,
            };
            if !hit {
                continue;
            }
            // Tables and arrays of tables are matched by where they begin:
            // the latest beginning before `offset` holds it.
            let start = match item {
                Item::Value(v) => v.span().map_or(0, |s| s.start),
                Item::Table(t) => t.span().map_or(0, |s| s.start),
                Item::ArrayOfTables(a) => a
                    .iter()
                    .filter_map(|t| t.span().map(|s| s.start))
                    .filter(|&s| s <= offset)
                    .max()
                    .unwrap_or(0),
                Item::None => 0,
            };
            if best.as_ref().is_none_or(|(b, _, _)| start >= *b) {
                best = Some((start, Seg::Key(key.to_string()), Node::Item(item)));
            }
        }
        best.map(|(_, seg, node)| (seg, node))
    }

    fn child(self, seg: &Seg) -> Option<Step<'a>> {
        match seg {
            Seg::Key(key) => {
                let (k, item) = self.table_like()?.get_key_value(key)?;
                // Values point at the value; tables at their `[header]`, or at
                // the key when they are implicit (dotted keys) and have none.
                let span = match item {
                    Item::Value(v) => v.span(),
                    Item::Table(t) => t.span(),
                    _ => None,
                };
                Some((Node::Item(item), span.or_else(|| k.span())))
            }
            Seg::Index(i) => match self {
                Node::Item(Item::ArrayOfTables(a)) => {
                    let t = a.get(*i)?;
                    Some((Node::Table(t), t.span()))
                }
                Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                    let v = a.get(*i)?;
                    Some((Node::Value(v), v.span()))
                }
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(src: &str, path: &FieldPath) -> Option<(usize, usize)> {
        let span = locate(src, path)?;
        let l = Location::of_offset(src, span.start);
        Some((l.line, l.column))
    }

    const SRC: &str = "name = \"x\"\n[load]\nstages = [\n  { hold_rpm = 10, for = \"1s\" },\n  { hold_rpm = -5, for = \"1s\" },\n]\n[[traffic]]\nmodel = \"a\"\n[[traffic]]\nmodel = \"b\"\n";

    #[test]
    fn finds_values_in_inline_tables_and_arrays_of_tables() {
        let p = FieldPath::root()
            .key("load")
            .key("stages")
            .index(1)
            .key("hold_rpm");
        assert_eq!(at(SRC, &p), Some((5, 16)));
        let t = FieldPath::root().key("traffic").index(1).key("model");
        assert_eq!(at(SRC, &t), Some((10, 9)));
    }

    #[test]
    fn missing_keys_fall_back_to_the_nearest_ancestor() {
        let p = FieldPath::root().key("traffic").index(1).key("weight");
        assert_eq!(at(SRC, &p), Some((9, 1)));
        assert_eq!(at(SRC, &FieldPath::root().key("sla")), None);
    }

    #[test]
    fn finds_the_path_of_a_token_the_parser_refused() {
        let src = "name = \"x\"\n[load]\nstages = [\n  { hold_rpm = 1e309, for = \"1s\" },\n]\n[[traffic]]\nmodel = \"a\"\n[[traffic]]\nmodel = \"b\u{1b}\"\nweight = 99999999999999999999\n";
        let at = |needle: &str| src.find(needle).unwrap();
        let path = |o| path_at(src, o).map(|p| p.to_string());
        assert_eq!(
            path(at("1e309")).as_deref(),
            Some("load.stages[0].hold_rpm")
        );
        assert_eq!(path(at("\u{1b}")).as_deref(), Some("traffic[1].model"));
        assert_eq!(path(at("9999")).as_deref(), Some("traffic[1].weight"));
    }

    #[test]
    fn locates_keys_themselves() {
        let p = FieldPath::root().key("load").key("stages");
        let span = locate_key(SRC, &p).unwrap();
        assert_eq!(Location::of_offset(SRC, span.start).line, 3);
        assert_eq!(&SRC[span], "stages");
    }
}
