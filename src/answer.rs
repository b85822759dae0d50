//! Verifiable answers: the text a simulated provider sends, and the check
//! the client makes of what reached it.
//!
//! A gateway can heal a stream the provider cut (it adds `[DONE]` and keeps
//! the 200), or hand one request's answer to another; with fixed filler
//! text neither would show. So the answer text is a deterministic function
//! of (run seed, request tag, serving provider index, token index): one
//! word per token, made of two or three syllables from a small table chosen
//! by a hash, each word led by a space, and the last word of a complete
//! answer ends with `.` (no other word does). The client alone can then tell
//! a complete answer from a shortened one, and which provider's sequence the
//! content is, or that it is no provider's answer to this request.
//!
//! The [`Verifier`] is incremental and small (under 40 bytes): it never
//! holds the text, only the providers whose sequence still matches (a
//! bitmask), the number of words checked, and a partial word carried across
//! chunk boundaries, since a gateway may re-chunk. Words are separated by
//! whitespace, so a gateway that trims or adds whitespace at the ends of
//! chunks changes nothing; one that joins or splits words is caught.

/// Syllables of the generated words: 32, so five hash bits pick one.
const SYLLABLES: [&str; 32] = [
    "ba", "de", "fi", "go", "hu", "ka", "le", "mi", "no", "pu", "ra", "se", "ti", "vo", "wu", "za",
    "bel", "dor", "fin", "gal", "hin", "kor", "lun", "mar", "nel", "por", "rin", "sul", "tam",
    "ven", "wor", "zed",
];

/// Longest word stem (three syllables of three letters).
const MAX_STEM: usize = 9;
/// The mark of the last word of a complete answer.
const END: u8 = b'.';
/// The most providers a verifier tells apart (one bit each).
pub const MAX_PROVIDERS: usize = 64;

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The answer key of one request in one run: every provider's answer to
/// it derives from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerKey(u64);

impl AnswerKey {
    /// `tag` is the request number; a provider that received no tag uses
    /// `u64::MAX`, which no client request expects.
    pub fn new(seed: u64, tag: u64) -> Self {
        AnswerKey(mix(mix(seed ^ 0x616e_7377_6572) ^ tag))
    }

    /// The stem (without the leading space or end mark) of word `i` of
    /// `provider`'s answer, into `buf`; returns its length.
    fn stem(self, provider: u16, i: u32, buf: &mut [u8; MAX_STEM]) -> usize {
        let h = mix(self.0 ^ (u64::from(provider) << 32 | u64::from(i)));
        let syllables = 2 + (h & 1) as usize;
        let mut len = 0;
        for j in 0..syllables {
            let s = SYLLABLES[((h >> (1 + 5 * j)) & 31) as usize].as_bytes();
            buf[len..len + s.len()].copy_from_slice(s);
            len += s.len();
        }
        len
    }

    /// The text of tokens `from..from + count` of `provider`'s answer of
    /// `total` tokens: one word per token, each led by a space, the last
    /// word of the answer (token `total - 1`) ending with `.`.
    pub fn text(self, provider: u16, from: u32, count: u32, total: u32) -> String {
        let end = from.saturating_add(count);
        let mut out = String::with_capacity(count as usize * 8);
        let mut buf = [0; MAX_STEM];
        for i in from..end {
            let n = self.stem(provider, i, &mut buf);
            out.push(' ');
            out.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII syllables"));
            if i + 1 == total {
                out.push(char::from(END));
            }
        }
        out
    }
}

/// What the client received, as the [`Verifier`] judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No words at all (an answer of 0 tokens is legitimate).
    Empty,
    /// A complete answer of `tokens` words, the sequence of every provider
    /// in `providers` (a bitmask by provider index; usually one bit).
    Complete { tokens: u32, providers: u64 },
    /// Words of a provider's answer up to `tokens`, without its end.
    Truncated { tokens: u32, providers: u64 },
    /// Content no provider would have sent for this request: another
    /// request's answer, rewritten text, words after the end. `tokens`
    /// words matched before it went wrong.
    Wrong { tokens: u32 },
}

impl Verdict {
    /// The provider the content belongs to, when exactly one matches.
    pub fn provider(&self) -> Option<u16> {
        match *self {
            Verdict::Complete { providers, .. } | Verdict::Truncated { providers, .. }
                if providers.count_ones() == 1 =>
            {
                Some(providers.trailing_zeros() as u16)
            }
            _ => None,
        }
    }

    /// Words received that matched.
    pub fn tokens(&self) -> u32 {
        match *self {
            Verdict::Empty => 0,
            Verdict::Complete { tokens, .. }
            | Verdict::Truncated { tokens, .. }
            | Verdict::Wrong { tokens } => tokens,
        }
    }
}

/// The incremental check of one answer's content; see the module comment.
#[derive(Debug, Clone)]
pub struct Verifier {
    key: AnswerKey,
    /// Providers whose sequence matches every word so far.
    candidates: u64,
    /// Words checked.
    tokens: u32,
    ended: bool,
    wrong: bool,
    /// A word not yet ended by whitespace (at most a stem and its mark).
    partial: [u8; MAX_STEM + 1],
    partial_len: u8,
}

impl Verifier {
    /// Checks an answer to request `tag` of a run with `seed`, served by any
    /// of `providers` providers (at most [`MAX_PROVIDERS`]; more are not
    /// told apart and should not be verified).
    pub fn new(seed: u64, tag: u64, providers: usize) -> Self {
        let n = providers.min(MAX_PROVIDERS);
        Verifier {
            key: AnswerKey::new(seed, tag),
            candidates: if n == MAX_PROVIDERS {
                u64::MAX
            } else {
                (1u64 << n) - 1
            },
            tokens: 0,
            ended: false,
            wrong: providers == 0,
            partial: [0; MAX_STEM + 1],
            partial_len: 0,
        }
    }

    /// Feeds the next piece of content, cut anywhere.
    pub fn feed(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if self.wrong {
                return;
            }
            if b.is_ascii_whitespace() {
                self.end_word();
            } else if usize::from(self.partial_len) < self.partial.len() {
                self.partial[usize::from(self.partial_len)] = b;
                self.partial_len += 1;
            } else {
                // Longer than any word a provider sends.
                self.wrong = true;
            }
        }
    }

    /// The verdict once the answer is over.
    pub fn finish(mut self) -> Verdict {
        if !self.wrong && self.partial_len > 0 {
            // The last word may have been cut inside: a strict prefix of a
            // remaining candidate's word is a truncation, not a wrong word.
            let word = self.partial;
            let word = &word[..usize::from(self.partial_len)];
            let prefix_of = self.matching(|stem| stem.len() > word.len() && stem.starts_with(word));
            if prefix_of != 0 {
                return Verdict::Truncated {
                    tokens: self.tokens,
                    providers: prefix_of,
                };
            }
            self.end_word();
        }
        match (self.wrong, self.tokens, self.ended) {
            (true, tokens, _) => Verdict::Wrong { tokens },
            (false, 0, _) => Verdict::Empty,
            (false, tokens, true) => Verdict::Complete {
                tokens,
                providers: self.candidates,
            },
            (false, tokens, false) => Verdict::Truncated {
                tokens,
                providers: self.candidates,
            },
        }
    }

    /// The candidates whose word stem at the current index satisfies `ok`.
    fn matching(&self, ok: impl Fn(&[u8]) -> bool) -> u64 {
        let mut out = 0;
        let mut bits = self.candidates;
        let mut stem = [0; MAX_STEM];
        while bits != 0 {
            let p = bits.trailing_zeros();
            bits &= bits - 1;
            let n = self.key.stem(p as u16, self.tokens, &mut stem);
            if ok(&stem[..n]) {
                out |= 1 << p;
            }
        }
        out
    }

    fn end_word(&mut self) {
        if self.partial_len == 0 {
            return;
        }
        let len = usize::from(self.partial_len);
        self.partial_len = 0;
        if self.ended {
            // Anything after the end mark is not the provider's answer.
            self.wrong = true;
            return;
        }
        let word = self.partial;
        let (stem, last) = match word[..len].split_last() {
            Some((&END, stem)) => (stem, true),
            _ => (&word[..len], false),
        };
        let matched = self.matching(|expected| expected == stem);
        if matched == 0 {
            self.wrong = true;
            return;
        }
        self.candidates = matched;
        self.tokens += 1;
        self.ended = last;
    }
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
