//! The gateway's own account of a request, read from its response headers:
//! how many fallbacks and retries it says it made, and which deployment it
//! says answered. The failover analysis holds this against the providers'
//! ledger (`analysis::account`); where they disagree, that is a finding
//! about the gateway.
//!
//! Three dialects are understood (names checked against their sources):
//!
//! - LiteLLM proxy (`litellm/router_utils/add_retry_fallback_headers.py`,
//!   `proxy/common_request_processing.py`): `x-litellm-attempted-fallbacks`
//!   (fallback depth: model groups moved on to), `x-litellm-attempted-retries`
//!   (retries within the model group that answered, *not* earlier groups),
//!   `x-litellm-model-id` (the deployment's `model_info.id`).
//! - Portkey gateway (`src/globals.ts` `RESPONSE_HEADER_KEYS`,
//!   `handlers/services/responseService.ts`): `x-portkey-last-used-option-index`
//!   (`config.targets[1]`, nested as `config.targets[0].targets[2]`; for a
//!   `fallback` strategy each index is the number of targets passed over at
//!   that level), `x-portkey-retry-attempt-count` (retries on the target that
//!   answered; `-1` or absent when none).
//! - slabench's built-in gateway: `x-slabench-attempts`
//!   (`flash:503,flash:timeout,qwen:200`, every attempt) and
//!   `x-slabench-served-by`.
//!
//! LiteLLM and Portkey count only part of what they did (earlier groups'
//! retries are not in any header), so their figures give a *lower bound* on
//! attempts; the built-in gateway's list is exact.

use reqwest::header::HeaderMap;

pub use crate::metrics::request::{Account, Dialect};

pub const LITELLM_FALLBACKS: &str = "x-litellm-attempted-fallbacks";
pub const LITELLM_RETRIES: &str = "x-litellm-attempted-retries";
pub const LITELLM_MODEL_ID: &str = "x-litellm-model-id";
pub const PORTKEY_OPTION_INDEX: &str = "x-portkey-last-used-option-index";
pub const PORTKEY_RETRIES: &str = "x-portkey-retry-attempt-count";

/// Reads whatever account `headers` carry; `None` when there is none.
pub fn read(headers: &HeaderMap) -> Option<Account> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(list) = get(crate::protocol::ATTEMPTS_HEADER) {
        let mut a = builtin_attempts(list);
        a.served_by = get(crate::protocol::SERVED_BY_HEADER).map(str::to_string);
        return Some(a);
    }
    let fallbacks = get(LITELLM_FALLBACKS);
    let retries = get(LITELLM_RETRIES);
    if fallbacks.is_some() || retries.is_some() {
        return Some(Account {
            dialect: Some(Dialect::LiteLlm),
            attempts: None,
            // A successful first call carries the retries header only: no fallback.
            fallbacks: Some(fallbacks.and_then(count).unwrap_or(0)),
            retries: retries.and_then(count),
            served_by: get(LITELLM_MODEL_ID).map(str::to_string),
        });
    }
    let index = get(PORTKEY_OPTION_INDEX);
    let retries = get(PORTKEY_RETRIES);
    if index.is_some() || retries.is_some() {
        return Some(Account {
            dialect: Some(Dialect::Portkey),
            attempts: None,
            fallbacks: index.map(portkey_fallbacks),
            retries: Some(retries.and_then(count).unwrap_or(0)),
            served_by: None,
        });
    }
    None
}

/// A non-negative count; `-1` and the like (Portkey's "none") read as 0.
fn count(s: &str) -> Option<u32> {
    let n: i64 = s.trim().parse().ok()?;
    Some(n.clamp(0, i64::from(u32::MAX)) as u32)
}

/// `config.targets[0].targets[2]` → 2: the sum of the indices on the path.
fn portkey_fallbacks(path: &str) -> u32 {
    path.split('[')
        .skip(1)
        .filter_map(|part| part.split(']').next()?.trim().parse::<u32>().ok())
        // A gateway's header is input: huge indices saturate, never overflow.
        .fold(0u32, u32::saturating_add)
}

/// `flash:503,flash:timeout,qwen:200` → attempts, fallbacks and retries.
/// Fallbacks and retries count every hop, like LiteLLM's and Portkey's;
/// attempts only those that reached a provider (not `connect` failures),
/// so that they compare with the ledger.
fn builtin_attempts(list: &str) -> Account {
    let mut entries = list
        .split(',')
        .filter_map(|entry| entry.trim().rsplit_once(':'));
    let reaches = |outcome: &str| u32::from(outcome != "connect");
    let (mut attempts, mut fallbacks, mut retries) = (0, 0, 0);
    let mut last = entries.next().map(|(p, outcome)| {
        attempts += reaches(outcome);
        p
    });
    for (p, outcome) in entries {
        attempts += reaches(outcome);
        if Some(p) == last {
            retries += 1;
        } else {
            fallbacks += 1;
        }
        last = Some(p);
    }
    Account {
        dialect: Some(Dialect::Builtin),
        attempts: Some(attempts),
        fallbacks: Some(fallbacks),
        retries: Some(retries),
        served_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_litellm() {
        let a = read(&headers(&[
            (LITELLM_FALLBACKS, "1"),
            (LITELLM_RETRIES, "2"),
            (LITELLM_MODEL_ID, "qwen"),
        ]))
        .unwrap();
        assert_eq!(a.dialect, Some(Dialect::LiteLlm));
        assert_eq!((a.fallbacks, a.retries), (Some(1), Some(2)));
        assert_eq!(a.served_by.as_deref(), Some("qwen"));
        assert_eq!(a.min_attempts(), Some(4));
        // First call succeeded: only the retries header, 0.
        let a = read(&headers(&[(LITELLM_RETRIES, "0")])).unwrap();
        assert_eq!((a.fallbacks, a.min_attempts()), (Some(0), Some(1)));
    }

    #[test]
    fn reads_portkey() {
        let a = read(&headers(&[
            (PORTKEY_OPTION_INDEX, "config.targets[2]"),
            (PORTKEY_RETRIES, "1"),
        ]))
        .unwrap();
        assert_eq!(
            (a.dialect, a.fallbacks, a.retries),
            (Some(Dialect::Portkey), Some(2), Some(1))
        );
        assert_eq!(a.min_attempts(), Some(4));
        let a = read(&headers(&[
            (PORTKEY_OPTION_INDEX, "config.targets[1].targets[2]"),
            (PORTKEY_RETRIES, "-1"),
        ]))
        .unwrap();
        assert_eq!((a.fallbacks, a.retries), (Some(3), Some(0)));
        let a = read(&headers(&[(PORTKEY_OPTION_INDEX, "config")])).unwrap();
        assert_eq!(a.fallbacks, Some(0));
    }

    #[test]
    fn reads_the_builtin_list_without_unreached_attempts() {
        let a = read(&headers(&[
            (
                crate::protocol::ATTEMPTS_HEADER,
                "flash:connect,qwen:503,qwen:timeout,r1:200",
            ),
            (crate::protocol::SERVED_BY_HEADER, "r1"),
        ]))
        .unwrap();
        // flash refused (no provider saw it), qwen twice, r1: 3 attempts
        // reached a provider; 2 fallbacks and 1 retry in all.
        assert_eq!(
            (a.attempts, a.fallbacks, a.retries),
            (Some(3), Some(2), Some(1))
        );
        assert_eq!(a.served_by.as_deref(), Some("r1"));
    }

    #[test]
    fn no_headers_no_account() {
        assert_eq!(read(&headers(&[("x-other", "1")])), None);
    }
}
