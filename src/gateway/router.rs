//! Routing one chat request: model → ordered providers; per provider, breaker
//! admission, retries, `Retry-After`; failover on the configured outcomes.
//!
//! Which outcomes count against a provider's breaker does not depend on
//! `failover_on`: a 5xx, a 429, a timeout or a broken connection is a sign of
//! ill health whether or not the route fails over on it, and any other answer
//! (a 400 included) shows the provider alive. `failover_on` only decides
//! whether the client gets that outcome or the next attempt. `connect`
//! covers every broken connection (refused, reset, cut mid-body), not only
//! the connect phase: to a client they are the same failure.
//!
//! `Retry-After` sets the pause before a *retry*: a 429 asking for at most
//! `max_retry_wait` is retried on the same provider after that wait if the
//! `retries` budget allows, one asking for longer (or for an HTTP date) ends
//! the provider's turn at once. It never adds attempts beyond `retries`, so
//! amplification stays bounded by the route's length × (1 + retries).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderMap, ACCEPT, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::body::{GatewayBody, Relay};
use super::breaker::BreakerState;
use super::reply::{self, AttemptLog};
use super::upstream::{self, Outcome, Outgoing, Upstream};
use crate::scenario::{BuiltinGateway, FailoverOn, RoutePolicy};

pub(crate) struct Router {
    /// Model name → indices into `upstreams`, in the order they are tried.
    routes: HashMap<String, Box<[usize]>>,
    upstreams: Vec<Arc<Upstream>>,
    policy: Policy,
    /// One kept-alive pool for every provider.
    client: reqwest::Client,
}

/// [`RoutePolicy`] with the `failover_on` list turned into flags.
#[derive(Debug, Clone, Copy)]
struct Policy {
    retries: u32,
    attempt_timeout: Duration,
    on_5xx: bool,
    on_429: bool,
    on_timeout: bool,
    on_connect: bool,
    honor_retry_after: bool,
    max_retry_wait: Duration,
}

impl From<&RoutePolicy> for Policy {
    fn from(p: &RoutePolicy) -> Self {
        let on = |kind| p.failover_on.contains(&kind);
        Policy {
            retries: p.retries,
            attempt_timeout: p.attempt_timeout,
            on_5xx: on(FailoverOn::Status5xx),
            on_429: on(FailoverOn::Status429),
            on_timeout: on(FailoverOn::Timeout),
            on_connect: on(FailoverOn::Connect),
            honor_retry_after: p.honor_retry_after,
            max_retry_wait: p.max_retry_wait,
        }
    }
}

/// The two fields of the request body the router needs; the body itself is
/// forwarded as received.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    stream: Option<bool>,
}

impl Router {
    /// `upstreams`: provider name → base URL. Every provider a route names
    /// must be among them.
    pub fn new(cfg: &BuiltinGateway, upstreams: &[(String, String)]) -> anyhow::Result<Self> {
        let mut index = HashMap::new();
        let mut list = Vec::with_capacity(upstreams.len());
        for (name, url) in upstreams {
            anyhow::ensure!(
                index.insert(name.as_str(), list.len()).is_none(),
                "provider {name:?} is given twice"
            );
            list.push(Arc::new(Upstream::new(name, url, &cfg.breaker)?));
        }
        let mut routes = HashMap::new();
        for (model, names) in &cfg.routes {
            anyhow::ensure!(!names.is_empty(), "route {model:?} names no provider");
            let order = names
                .iter()
                .map(|name| {
                    index.get(name.as_str()).copied().ok_or_else(|| {
                        anyhow::anyhow!(
                            "route {model:?} names provider {name:?}, which has no upstream \
                             (known: {})",
                            upstreams
                                .iter()
                                .map(|u| u.0.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            routes.insert(model.clone(), order);
        }
        let client = reqwest::Client::builder()
            // Providers are on loopback; a proxy from the environment would
            // only add a hop (or send the traffic somewhere else entirely).
            .no_proxy()
            .tcp_nodelay(true)
            // A 3xx is an answer to pass on, not a place to re-send a POST.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Router {
            routes,
            upstreams: list,
            policy: Policy::from(&cfg.policy),
            client,
        })
    }

    /// Each provider's breaker state, in the order the upstreams were given.
    pub fn breaker_states(&self) -> impl Iterator<Item = (&str, BreakerState)> + '_ {
        let now = Instant::now();
        self.upstreams
            .iter()
            .map(move |u| (u.name.as_str(), u.state(now)))
    }

    /// Handles `POST /v1/chat/completions`.
    pub async fn chat(&self, headers: &HeaderMap, body: Bytes) -> Response<GatewayBody> {
        let peek: Peek = match serde_json::from_slice(&body) {
            Ok(peek) => peek,
            Err(e) => {
                let msg = format!("request body is not a chat completion request: {e}");
                return reply::invalid_request(StatusCode::BAD_REQUEST, &msg, "invalid_body");
            }
        };
        let Some(route) = self.routes.get(&*peek.model) else {
            let msg = format!("model `{}` has no route in this gateway", peek.model);
            return reply::invalid_request(StatusCode::NOT_FOUND, &msg, "model_not_found");
        };
        let out = Outgoing {
            body: &body,
            tag: headers.get(crate::protocol::tag::HEADER),
            accept: headers.get(ACCEPT),
            stream: peek.stream.unwrap_or(false),
        };
        let mut log = AttemptLog::default();
        let mut last_status = None;
        for &i in route.iter() {
            let up = &self.upstreams[i];
            if let Some(resp) = self
                .try_provider(up, &out, &mut log, &mut last_status)
                .await
            {
                return resp;
            }
        }
        exhausted(&peek.model, last_status, log)
    }

    /// Up to 1 + `retries` attempts on `up`. `None`: move on to the next
    /// provider (`last_status` holds the last attempt's status, if it had one).
    async fn try_provider(
        &self,
        up: &Arc<Upstream>,
        out: &Outgoing<'_>,
        log: &mut AttemptLog,
        last_status: &mut Option<StatusCode>,
    ) -> Option<Response<GatewayBody>> {
        let p = self.policy;
        for attempt in 0..=p.retries {
            let Some(permit) = up.admit(Instant::now()) else {
                log.skip(up);
                return None;
            };
            let outcome = upstream::send(&self.client, up, out, p.attempt_timeout).await;
            log.attempt(up, &outcome);
            let mut wait = None;
            match outcome {
                Outcome::Stream(s) => {
                    let body = Relay::new(s.first, s.rest, p.attempt_timeout, permit);
                    let body = GatewayBody::Relay(Box::new(body));
                    return Some(reply::answer(
                        up,
                        s.status,
                        &s.headers,
                        body,
                        std::mem::take(log),
                    ));
                }
                Outcome::Answer(a) => {
                    let status = a.status;
                    let too_many = status == StatusCode::TOO_MANY_REQUESTS;
                    permit.finish(!(status.is_server_error() || too_many));
                    let fail_over =
                        (status.is_server_error() && p.on_5xx) || (too_many && p.on_429);
                    if !fail_over {
                        let body = GatewayBody::full(a.body);
                        return Some(reply::answer(
                            up,
                            status,
                            &a.headers,
                            body,
                            std::mem::take(log),
                        ));
                    }
                    *last_status = Some(status);
                    if too_many && p.honor_retry_after {
                        match retry_after(&a.headers) {
                            Some(w) if w > p.max_retry_wait => return None,
                            w => wait = w,
                        }
                    }
                }
                Outcome::Timeout | Outcome::Connect | Outcome::Broken => {
                    permit.finish(false);
                    let timeout = matches!(outcome, Outcome::Timeout);
                    if !(if timeout { p.on_timeout } else { p.on_connect }) {
                        return Some(transport_error(up, timeout, std::mem::take(log)));
                    }
                    *last_status = None;
                }
            }
            if attempt < p.retries {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        None
    }
}

/// A timeout or connection failure the route does not fail over on.
fn transport_error(up: &Upstream, timeout: bool, log: AttemptLog) -> Response<GatewayBody> {
    let (status, what) = if timeout {
        (StatusCode::GATEWAY_TIMEOUT, "did not answer in time")
    } else {
        (StatusCode::BAD_GATEWAY, "could not be reached")
    };
    let msg = format!("provider {} {what}", up.name);
    let code = if timeout {
        "upstream_timeout"
    } else {
        "upstream_unreachable"
    };
    reply::error(status, &msg, "upstream_error", code, log)
}

/// Every provider of the route failed or was skipped: the last upstream
/// status if the last attempt had one, else 502.
fn exhausted(
    model: &str,
    last_status: Option<StatusCode>,
    log: AttemptLog,
) -> Response<GatewayBody> {
    if log.is_empty() {
        let msg =
            format!("no provider for model `{model}` is available: every circuit breaker is open");
        return reply::error(
            StatusCode::BAD_GATEWAY,
            &msg,
            "upstream_error",
            "no_provider_available",
            log,
        );
    }
    let msg = format!(
        "every provider for model `{model}` failed ({})",
        log.summary()
    );
    let status = last_status.unwrap_or(StatusCode::BAD_GATEWAY);
    reply::error(status, &msg, "upstream_error", "providers_exhausted", log)
}

/// How long a 429 asks to wait: `retry-after-ms` (sent by OpenAI and Azure)
/// or `Retry-After` in seconds (fractions accepted). `None` if neither is
/// present. A value that is not a number (an HTTP date, garbage) counts as
/// too long to wait for, so the router moves on rather than guess.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let parse = |name, scale: f64| {
        let value = headers.get(name)?;
        let secs = value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|n| n / scale);
        Some(
            secs.and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or(Duration::MAX),
        )
    };
    parse("retry-after-ms", 1000.0).or_else(|| parse(RETRY_AFTER.as_str(), 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn retry_after_forms() {
        let secs = Duration::from_secs_f64;
        assert_eq!(retry_after(&headers(&[])), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(secs(2.0))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 0.25 ")])),
            Some(secs(0.25))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "5"), ("retry-after-ms", "150")])),
            Some(Duration::from_millis(150))
        );
        for unusable in ["Wed, 21 Oct 2015 07:28:00 GMT", "-1", "soon", "inf"] {
            let h = headers(&[("retry-after", unusable)]);
            assert_eq!(retry_after(&h), Some(Duration::MAX), "{unusable}");
        }
    }

    #[test]
    fn failover_list_becomes_flags() {
        let p = Policy::from(&RoutePolicy {
            retries: 1,
            attempt_timeout: Duration::from_secs(1),
            failover_on: vec![FailoverOn::Status5xx, FailoverOn::Connect],
            honor_retry_after: true,
            max_retry_wait: Duration::from_secs(1),
        });
        assert!(p.on_5xx && p.on_connect && !p.on_429 && !p.on_timeout);
    }
}
