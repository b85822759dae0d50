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
    fn locates_keys_themselves() {
        let p = FieldPath::root().key("load").key("stages");
        let span = locate_key(SRC, &p).unwrap();
        assert_eq!(Location::of_offset(SRC, span.start).line, 3);
        assert_eq!(&SRC[span], "stages");
    }
}
