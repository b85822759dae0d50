//! The error messages answers carried, interned: every HTTP error answer's
//! (status, start of message) pair gets a one-byte index that the request's
//! `ClientRecord` keeps, so that after the ledger join the errors a gateway
//! made itself can be shown with their status and message without holding a
//! string per request.
//!
//! The table is bounded: the first `MAX_MESSAGES` distinct pairs are kept as
//! they are; a later pair is folded into one "other" entry per status, so the
//! status is never lost. HTTP statuses are three digits, so the table would
//! hold at most `MAX_MESSAGES` + 900 entries; a byte holds fewer, so the last
//! index is one shared overflow entry ([`ErrorMessage::is_overflow`]: status
//! 0, no type) that every later new pair gets: its status and type are
//! nobody's, and whoever compares statuses must skip it.

/// Distinct (status, message) pairs kept word for word.
pub const MAX_MESSAGES: usize = 32;
/// What a message folded into its status's "other" entry reads.
pub const OTHER: &str = "(other messages)";
/// What the shared overflow entry reads.
pub const OVERFLOW: &str = "(statuses past the table's end)";

/// One entry of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    pub status: u16,
    /// The start of the message on one line; empty when the body had none.
    pub message: String,
    /// The body's error type (`error.type`, or vLLM's top-level `type`);
    /// empty when it had none.
    pub error_type: String,
}

impl ErrorMessage {
    /// The shared overflow entry: the answers it stands for had statuses
    /// and types the table could not keep (status 0, which no answer has).
    pub fn is_overflow(&self) -> bool {
        self.status == 0
    }
}

/// The interned messages. Index `NONE` means "no HTTP error answer".
#[derive(Debug, Clone, Default)]
pub struct ErrorMessages {
    entries: Vec<ErrorMessage>,
    kept: usize,
}

impl ErrorMessages {
    /// No message: a success, or a failure without an HTTP answer.
    pub const NONE: u8 = u8::MAX;
    /// The last index a byte holds besides `NONE`.
    const LAST: usize = u8::MAX as usize - 1;

    /// The index of `(status, message)`, adding it if new.
    pub fn intern(&mut self, status: u16, message: &str) -> u8 {
        self.intern_typed(status, "", message)
    }

    /// The index of `(status, error type, message)`, adding it if new. A
    /// folded entry keeps the status and the type.
    pub fn intern_typed(&mut self, status: u16, error_type: &str, message: &str) -> u8 {
        if let Some(i) = self.find(status, error_type, message) {
            return i;
        }
        let entry = if self.kept < MAX_MESSAGES {
            self.kept += 1;
            ErrorMessage {
                status,
                message: message.to_string(),
                error_type: error_type.to_string(),
            }
        } else {
            if let Some(i) = self.find(status, error_type, OTHER) {
                return i;
            }
            ErrorMessage {
                status,
                message: OTHER.to_string(),
                error_type: error_type.to_string(),
            }
        };
        if self.entries.len() >= Self::LAST {
            // Hundreds of distinct statuses: the rest share the last entry,
            // which says so rather than being another answer's.
            if self.entries.len() == Self::LAST {
                self.entries.push(ErrorMessage {
                    status: 0,
                    message: OVERFLOW.to_string(),
                    error_type: String::new(),
                });
            }
            return Self::LAST as u8;
        }
        self.entries.push(entry);
        (self.entries.len() - 1) as u8
    }

    /// A table read back (a shard folder's): the entries as they were.
    pub fn from_entries(entries: Vec<ErrorMessage>) -> Self {
        let kept = entries
            .iter()
            .filter(|e| !e.is_overflow() && e.message != OTHER)
            .count();
        ErrorMessages { entries, kept }
    }

    /// Adds `other`'s entries (interned as any answer's would be); returns
    /// where each of `other`'s indices went, for its requests' records.
    pub fn absorb(&mut self, other: &ErrorMessages) -> Vec<u8> {
        other
            .entries
            .iter()
            .map(|e| self.intern_typed(e.status, &e.error_type, &e.message))
            .collect()
    }

    /// The entry at `index`, `None` for `NONE` or an index never given.
    pub fn get(&self, index: u8) -> Option<&ErrorMessage> {
        self.entries.get(usize::from(index))
    }

    pub fn entries(&self) -> &[ErrorMessage] {
        &self.entries
    }

    fn find(&self, status: u16, error_type: &str, message: &str) -> Option<u8> {
        self.entries
            .iter()
            .position(|e| e.status == status && e.error_type == error_type && e.message == message)
            .map(|i| i as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_interned_and_the_table_stays_bounded() {
        let mut t = ErrorMessages::default();
        let a = t.intern(429, "No deployments available");
        assert_eq!(t.intern(503, "No deployments available"), a + 1);
        assert_eq!(t.intern(429, "No deployments available"), a);
        for i in 0..100 {
            t.intern(500, &format!("error {i}"));
        }
        // 32 kept word for word, then one "other" per status.
        assert_eq!(t.entries().len(), MAX_MESSAGES + 1);
        let other = t.intern(500, "error 99");
        assert_eq!(
            t.get(other),
            Some(&ErrorMessage {
                status: 500,
                message: OTHER.into(),
                error_type: String::new(),
            })
        );
        let other_429 = t.intern(429, "something new");
        assert_eq!(t.get(other_429).unwrap().status, 429);
        assert_ne!(other, other_429);
        for status in 100..999 {
            let i = t.intern(status, "many statuses");
            assert!(i < ErrorMessages::NONE);
        }
        assert_eq!(t.entries().len(), usize::from(ErrorMessages::NONE));
        assert_eq!(t.get(ErrorMessages::NONE), None);
    }

    #[test]
    fn past_the_last_index_pairs_share_an_overflow_entry_that_is_nobodys() {
        let mut t = ErrorMessages::default();
        let mut given = Vec::new();
        for status in 100..700 {
            given.push((status, t.intern_typed(status, "t", "m")));
        }
        let last = ErrorMessages::LAST as u8;
        // Every index below the last is its own pair's, word for word.
        for &(status, i) in &given {
            let e = t.get(i).unwrap();
            if i < last {
                assert_eq!((e.status, e.error_type.as_str()), (status, "t"));
                assert!(!e.is_overflow());
            }
        }
        // The last index is shared, and says so: no pair's status or type.
        let shared = given.iter().filter(|&&(_, i)| i == last).count();
        assert!(shared > 1, "{shared}");
        let e = t.get(last).unwrap();
        assert!(e.is_overflow(), "{e:?}");
        assert_eq!(e.message, OVERFLOW);
        assert!(given.iter().all(|&(s, _)| s != e.status));
        // Pairs interned before the table filled keep their own index.
        assert_eq!(t.intern_typed(100, "t", "m"), given[0].1);
    }
}
