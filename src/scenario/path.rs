//! Field paths such as `load.stages[1].hold_rpm`: how errors name a key, and
//! what `locate` walks to find that key's line and column.

use std::fmt;

/// One step of a path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root to a key, as written in error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The document root (an empty path).
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub fn segs(&self) -> &[Seg] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        FieldPath(segs)
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        FieldPath(segs)
    }

    pub fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    /// The path without its last step, and that step.
    pub fn split_last(&self) -> Option<(FieldPath, &Seg)> {
        let (last, rest) = self.0.split_last()?;
        Some((FieldPath(rest.to_vec()), last))
    }
}

/// A key that TOML accepts without quotes.
fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_indices_and_quoted_keys() {
        let p = FieldPath::root()
            .key("load")
            .key("stages")
            .index(1)
            .key("hold_rpm");
        assert_eq!(p.to_string(), "load.stages[1].hold_rpm");
        let q = FieldPath::root()
            .key("gateway")
            .key("routes")
            .key("openai/gpt-4o");
        assert_eq!(q.to_string(), "gateway.routes.\"openai/gpt-4o\"");
    }
}
