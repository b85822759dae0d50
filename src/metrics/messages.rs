//! The error messages answers carried, interned: every HTTP error answer's
//! (status, start of message) pair gets a one-byte index that the request's
//! `ClientRecord` keeps, so that after the ledger join the errors a gateway
//! made itself can be shown with their status and message without holding a
//! string per request.
//!
//! The table is bounded: the first `MAX_MESSAGES` distinct pairs are kept as
//! they are; a later pair is folded into one "other" entry per status, so the
//! status is never lost. HTTP statuses are three digits, so the table holds
//! at most `MAX_MESSAGES` + 900 entries, and indexes beyond a byte share the
//! last one.

/// Distinct (status, message) pairs kept word for word.
pub const MAX_MESSAGES: usize = 32;
/// What a message folded into its status's "other" entry reads.
pub const OTHER: &str = "(other messages)";

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
        if self.entries.len() > Self::LAST {
            // Hundreds of distinct statuses: the rest share the last entry.
            return Self::LAST as u8;
        }
        self.entries.push(entry);
        (self.entries.len() - 1) as u8
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
}
