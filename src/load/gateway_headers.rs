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

/// The header a Portkey routing config travels in.
pub const PORTKEY_CONFIG: &str = "x-portkey-config";

/// Which levels of a Portkey routing config fall back (`strategy.mode =
/// "fallback"`), so that an option index on the path counts as fallbacks
/// only there: `config.targets[0].targets[1]` under a `loadbalance` first
/// target picked its second deployment, which is no fallback at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortkeyModes {
    fallback: bool,
    targets: Vec<PortkeyModes>,
}

impl PortkeyModes {
    /// From the config JSON sent in `x-portkey-config`; `None` when it is
    /// not a config this can read (then every index counts, as before).
    pub fn parse(config: &str) -> Option<Self> {
        fn walk(v: &serde_json::Value, depth: usize) -> PortkeyModes {
            let mode = v.pointer("/strategy/mode").and_then(|m| m.as_str());
            PortkeyModes {
                fallback: mode == Some("fallback"),
                targets: match v.get("targets").and_then(|t| t.as_array()) {
                    Some(ts) if depth < 16 => ts.iter().map(|t| walk(t, depth + 1)).collect(),
                    _ => Vec::new(),
                },
            }
        }
        let v: serde_json::Value = serde_json::from_str(config).ok()?;
        v.is_object().then(|| walk(&v, 0))
    }

    /// The fallbacks a path of option indices means under this config.
    fn fallbacks(&self, path: &str) -> u32 {
        let mut level = Some(self);
        let mut sum = 0u32;
        for i in indices(path) {
            // Below what the config describes (a path into a leaf), an index
            // counts as before.
            if level.is_none_or(|l| l.fallback || l.targets.is_empty()) {
                sum = sum.saturating_add(i);
            }
            level = level.and_then(|l| l.targets.get(i as usize));
        }
        sum
    }
}

/// Reads whatever account `headers` carry; `None` when there is none.
pub fn read(headers: &HeaderMap) -> Option<Account> {
    read_with(headers, None)
}

/// [`read`], counting Portkey's fallbacks by the routing config sent.
pub fn read_with(headers: &HeaderMap, portkey: Option<&PortkeyModes>) -> Option<Account> {
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
            fallbacks: index.map(|i| match portkey {
                Some(modes) => modes.fallbacks(i),
                None => portkey_fallbacks(i),
            }),
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
    // A gateway's header is input: huge indices saturate, never overflow.
    indices(path).fold(0u32, u32::saturating_add)
}

/// `config.targets[0].targets[2]` → 0, 2.
fn indices(path: &str) -> impl Iterator<Item = u32> + '_ {
    path.split('[')
        .skip(1)
        .filter_map(|part| part.split(']').next()?.trim().parse::<u32>().ok())
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
    fn portkey_counts_fallbacks_only_where_the_config_falls_back() {
        let config = r#"{"strategy":{"mode":"fallback"},"targets":[
            {"strategy":{"mode":"loadbalance"},"targets":[{"provider":"openai"},{"provider":"openai"}]},
            {"provider":"openai"},{"provider":"openai"}]}"#;
        let modes = PortkeyModes::parse(config).unwrap();
        // The load balancer's second deployment: no fallback.
        assert_eq!(modes.fallbacks("config.targets[0].targets[1]"), 0);
        assert_eq!(modes.fallbacks("config.targets[1]"), 1);
        assert_eq!(modes.fallbacks("config.targets[2]"), 2);
        // Past what the config describes: every index counts.
        assert_eq!(modes.fallbacks("config.targets[2].targets[3]"), 5);
        assert_eq!(PortkeyModes::parse("not json"), None);
        let mut h = HeaderMap::new();
        h.insert(
            PORTKEY_OPTION_INDEX,
            "config.targets[0].targets[1]".parse().unwrap(),
        );
        assert_eq!(read_with(&h, Some(&modes)).unwrap().fallbacks, Some(0));
        assert_eq!(read(&h).unwrap().fallbacks, Some(1));
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
