//! The protocol between slabench's parts, in one place: the `x-slabench-*`
//! headers every hop reads or writes, and the request tag format.
//!
//! Who writes what:
//! - the load generator sends [`REQUEST_HEADER`] (and the tag in the OpenAI
//!   `user` field and the prompt's first line, [`tag`]);
//! - every simulated provider stamps its answers with [`PROVIDER_HEADER`]
//!   (LiteLLM forwards it as [`LITELLM_PROVIDER_HEADER`]);
//! - the built-in gateway adds [`SERVED_BY_HEADER`], [`ATTEMPTS_HEADER`]
//!   and [`SKIPPED_HEADER`].

/// The request's tag (`slb-42`), sent by the load generator.
pub const REQUEST_HEADER: &str = "x-slabench-request";
/// The provider that answered, stamped by every simulated provider.
pub const PROVIDER_HEADER: &str = "x-slabench-provider";
/// [`PROVIDER_HEADER`] as LiteLLM forwards provider headers.
pub const LITELLM_PROVIDER_HEADER: &str = "llm_provider-x-slabench-provider";
/// Built-in gateway: the provider whose answer this is.
pub const SERVED_BY_HEADER: &str = "x-slabench-served-by";
/// Built-in gateway: every attempt, `flash:503,flash:timeout,qwen:200`.
pub const ATTEMPTS_HEADER: &str = "x-slabench-attempts";
/// Built-in gateway: providers passed over with an open breaker.
pub const SKIPPED_HEADER: &str = "x-slabench-skipped";

/// Request tags: how a request is recognised at every hop.
///
/// The generator numbers requests 0, 1, 2, … in schedule order and sends
/// the number as `slb-<n>` in three places (header, OpenAI `user` field,
/// first line of the prompt) because gateways forward different parts of a
/// request. Providers read whichever arrives; the analysis joins on the
/// number.
pub mod tag {
    /// Header that carries the tag.
    pub const HEADER: &str = super::REQUEST_HEADER;
    /// Prefix of the prompt's first line: `[slabench-request slb-42]`.
    pub const PROMPT_PREFIX: &str = "[slabench-request ";

    /// `slb-42` for request 42.
    pub fn format(seq: u64) -> String {
        format!("slb-{seq}")
    }

    /// The request number in a tag, if it is one.
    pub fn parse(tag: &str) -> Option<u64> {
        let digits = tag.trim().strip_prefix("slb-")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The first line of the prompt for request `seq`.
    pub fn prompt_line(seq: u64) -> String {
        format!("{PROMPT_PREFIX}{}]", format(seq))
    }

    /// The tag in a prompt whose first line is a [`prompt_line`].
    pub fn parse_prompt(prompt: &str) -> Option<u64> {
        let first = prompt.lines().next()?;
        let rest = first.trim().strip_prefix(PROMPT_PREFIX)?;
        parse(rest.strip_suffix(']')?)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips() {
            for n in [0, 1, 42, u64::MAX] {
                assert_eq!(parse(&format(n)), Some(n));
                assert_eq!(parse_prompt(&format!("{}\nhello", prompt_line(n))), Some(n));
            }
        }

        #[test]
        fn rejects_lookalikes() {
            for bad in ["", "slb-", "slb-x", "slb--1", "42", "slb-1 2", "SLB-1"] {
                assert_eq!(parse(bad), None, "{bad:?}");
            }
            assert_eq!(parse_prompt("hello\n[slabench-request slb-1]"), None);
        }
    }
}
