//! Routing one chat request: model → ordered providers; per provider,
//! admission (cool-down, then breaker), retries, `Retry-After`; failover on
//! the configured outcomes. The rules, in the order they apply:
//!
//! - **`Retry-After` is provider-wide.** The gateway is one client of each
//!   provider, so any answer carrying `retry-after-ms` or `Retry-After`
//!   (seconds, fractions accepted, or an HTTP date) puts that provider in a
//!   cool-down until now + the wait, set as soon as the answer's headers
//!   arrive. No attempt of any request goes to it before then: it is
//!   skipped like an open breaker (`x-slabench-skipped`). Only attempts
//!   already under way are exceptions. `honor_retry_after = false` turns
//!   this off, with the per-request wait below.
//! - **Retrying after a wait.** A retryable answer asking for at most
//!   `max_retry_wait`, with `retries` left, is waited out and retried on
//!   the same provider (the cool-down it set is over by then; a longer one
//!   set meanwhile is waited out too if it fits `max_retry_wait`); one
//!   asking for longer, or unreadable, ends the provider's turn at once. It
//!   never adds attempts beyond `retries`, so amplification stays bounded
//!   by the route's length × (1 + retries).
//! - **What may not be retried is relayed at once**: a 2xx that is an
//!   answer (see below), any 4xx but 429 (a 400 `context_length_exceeded`
//!   fails the same way everywhere), and a 429 whose body says the quota is
//!   spent (`insufficient_quota` as `error.code` or `error.type`, in OpenAI,
//!   Anthropic or vLLM shape). No retry, no failover; status, body and
//!   content type as received.
//! - **Retryable failures** (5xx, other 429s, timeouts, broken connections,
//!   a stream with an error before its first content, a malformed success)
//!   are retried and failed over as `failover_on` says; an outcome left out
//!   of it goes to the client.
//! - **Errors are passed through, not rewritten.** When every provider has
//!   failed, the client gets the last provider's error answer as received
//!   (a 529 stays a 529 with its body, its `Retry-After` kept). Only when
//!   the last attempt got no answer (timeout, connect, broken) or a
//!   malformed one does the gateway answer with its own 504 or 502. When
//!   the request sent nothing because every provider was cooling down or
//!   open, it answers 429 with the shortest wait left as `Retry-After`
//!   (502 if none was cooling).
//! - **A success must be an answer.** A non-streaming 2xx whose body is not
//!   a chat completion (not a JSON object with a non-empty `choices` array
//!   of objects, or not a JSON content type), and a stream that breaks
//!   before its first content (data that is not JSON, `[DONE]` first, 64
//!   KiB without content), are `malformed`: the provider answered, badly,
//!   so it is treated like a 5xx (`5xx` in `failover_on` decides). If it is
//!   the last attempt, the client gets the gateway's 502
//!   `upstream_malformed` naming the provider, never the broken body. A
//!   stream whose connection closes before any content is `broken`.
//! - **Streams commit on their first content**: a chunk with a non-empty
//!   `delta.content`, `tool_calls` or `function_call`, a `refusal`,
//!   non-empty `reasoning_content` or `reasoning`, or a `finish_reason`.
//!   Not on a `: ping` comment, an empty `data:` heartbeat, a usage-only
//!   chunk or the role-only chunk OpenAI, vLLM and LiteLLM send first
//!   (those go to the client with the first content). Until then
//!   `attempt_timeout` bounds the wait, and an error (`event: error`, or
//!   data that is an error object) is a failure before any content, treated
//!   like a 5xx. After content has gone out, an error event is relayed as
//!   it is, and silence between chunks is allowed up to
//!   `stream_idle_timeout`.
//!
//! Which outcomes count against a provider's breaker does not depend on
//! `failover_on`: a 5xx, a retryable 429, a malformed success, a timeout, a
//! broken connection or an error before a stream's content is a sign of ill
//! health whether or not the route fails over on it, and any other answer
//! (a 400 or a spent quota included) shows the provider alive. `connect` covers every broken connection
//! (refused, reset, cut mid-body), not only the connect phase: to a client
//! they are the same failure.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderMap, ACCEPT};
use hyper::{Response, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::body::{GatewayBody, Relay};
use super::breaker::BreakerState;
use super::classify::{self, Kind};
use super::cooldown::Hint;
use super::reply::{self, AttemptLog};
use super::stats::{ProviderSnapshot, RequestStats, Snapshot};
use super::upstream::{self, Answer, Outcome, Outgoing, Permit, Skip, Upstream};
use crate::scenario::{BuiltinGateway, FailoverOn, RoutePolicy};

pub(crate) struct Router {
    /// Model name → indices into `upstreams`, in the order they are tried.
    routes: HashMap<String, Box<[usize]>>,
    upstreams: Vec<Arc<Upstream>>,
    policy: Policy,
    /// One kept-alive pool for every provider.
    client: reqwest::Client,
    /// Requests answered and in flight, for the live metrics.
    stats: RequestStats,
}

/// [`RoutePolicy`] with the `failover_on` list turned into flags.
#[derive(Debug, Clone, Copy)]
struct Policy {
    retries: u32,
    attempt_timeout: Duration,
    stream_idle_timeout: Duration,
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
            stream_idle_timeout: p.stream_idle_timeout,
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
            let place = (list.len(), upstreams.len());
            list.push(Arc::new(Upstream::new(name, url, &cfg.breaker, place)?));
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
            stats: RequestStats::new(routes.keys()),
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

    /// What the gateway counted so far, and its providers' state now.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let names: Vec<&str> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
        let providers: Vec<ProviderSnapshot> = self
            .upstreams
            .iter()
            .map(|u| {
                u.stats
                    .snapshot(&names, u.index, u.state(now), u.cooling(now))
            })
            .collect();
        Snapshot {
            requests: self.stats.requests(),
            in_flight: self.stats.in_flight(),
            providers,
        }
    }

    /// A chat request answered before routing (its body was too large or
    /// could not be read).
    pub fn refused(&self, status: StatusCode) {
        self.stats.answered(self.stats.other(), status.as_u16());
    }

    /// Handles `POST /v1/chat/completions`, counting the answer by model
    /// and status.
    pub async fn chat(&self, headers: &HeaderMap, body: Bytes) -> Response<GatewayBody> {
        let _in_flight = self.stats.enter();
        let (model, resp) = self.route(headers, &body).await;
        self.stats.answered(model, resp.status().as_u16());
        resp
    }

    /// The answer, and the slot of its model in the stats.
    async fn route(&self, headers: &HeaderMap, body: &Bytes) -> (usize, Response<GatewayBody>) {
        let peek: Peek = match serde_json::from_slice(body) {
            Ok(peek) => peek,
            Err(e) => {
                let msg = format!("request body is not a chat completion request: {e}");
                let resp = reply::invalid_request(StatusCode::BAD_REQUEST, &msg, "invalid_body");
                return (self.stats.other(), resp);
            }
        };
        let model = self.stats.model(&peek.model);
        let Some(route) = self.routes.get(&*peek.model) else {
            let msg = format!("model `{}` has no route in this gateway", peek.model);
            let resp = reply::invalid_request(StatusCode::NOT_FOUND, &msg, "model_not_found");
            return (model, resp);
        };
        let out = Outgoing {
            body,
            tag: headers.get(crate::protocol::tag::HEADER),
            accept: headers.get(ACCEPT),
            stream: peek.stream.unwrap_or(false),
            cooldowns: self.policy.honor_retry_after,
        };
        let mut trail = Trail::default();
        for &i in route.iter() {
            let up = &self.upstreams[i];
            if let Some(resp) = self.try_provider(up, &out, &mut trail).await {
                return (model, resp);
            }
        }
        (model, trail.exhausted(&peek.model))
    }

    /// Up to 1 + `retries` attempts on `up`. `None`: move on to the next
    /// provider (`trail` holds what the last attempt came to).
    async fn try_provider(
        &self,
        up: &Arc<Upstream>,
        out: &Outgoing<'_>,
        trail: &mut Trail,
    ) -> Option<Response<GatewayBody>> {
        let p = self.policy;
        let mut attempt = 0;
        loop {
            let permit = self.admit(up, attempt > 0, trail).await?;
            let outcome = upstream::send(&self.client, up, out, p.attempt_timeout).await;
            up.stats.attempt(outcome.slot(), attempt > 0);
            trail.log.attempt(up, &outcome);
            let wait = match self.judge(up, outcome, permit, trail) {
                Step::Reply(resp) => return Some(resp),
                Step::MoveOn => return None,
                Step::Retry(wait) => wait,
            };
            if attempt >= p.retries {
                return None;
            }
            attempt += 1;
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// A permit for the next attempt on `up`, or `None` (logged as skipped)
    /// when it is open or cooling down. A retry finds the provider cooling
    /// down when another answer asked for longer than the wait it took:
    /// that is waited out too, within `max_retry_wait` each time.
    async fn admit(&self, up: &Arc<Upstream>, retry: bool, trail: &mut Trail) -> Option<Permit> {
        let mut rewaits = 0;
        loop {
            match up.admit(Instant::now()) {
                Ok(permit) => return Some(permit),
                Err(Skip::Cooling(left))
                    if retry && rewaits < MAX_REWAITS && left <= self.policy.max_retry_wait =>
                {
                    rewaits += 1;
                    tokio::time::sleep(left).await;
                }
                Err(skip) => {
                    trail.skip(up, skip);
                    return None;
                }
            }
        }
    }

    /// What to do after one attempt's outcome; reports it to the breaker.
    fn judge(&self, up: &Arc<Upstream>, outcome: Outcome, permit: Permit, t: &mut Trail) -> Step {
        let p = self.policy;
        match outcome {
            Outcome::Stream(s) => {
                let body = Relay::new(s.first, s.rest, p.stream_idle_timeout, permit);
                let body = GatewayBody::Relay(Box::new(body));
                Step::Reply(reply::answer(up, s.status, &s.headers, body, t.take_log()))
            }
            Outcome::StreamError(a) => {
                permit.finish(false);
                self.failed(up, a, p.on_5xx, t)
            }
            Outcome::Malformed => {
                permit.finish(false);
                if !p.on_5xx {
                    return Step::Reply(reply::malformed(up, t.take_log()));
                }
                t.last = Last::Malformed(Arc::clone(up));
                Step::Retry(None)
            }
            Outcome::Answer(a) => {
                match classify::kind(a.status, classify::should_retry(&a.headers), &a.body) {
                    Kind::Relay => {
                        // A 5xx relayed because it said not to retry still
                        // speaks about the provider's health.
                        permit.finish(!a.status.is_server_error());
                        Step::Reply(relay(up, a, t.take_log()))
                    }
                    kind => {
                        permit.finish(false);
                        let on = if kind == Kind::RateLimited {
                            p.on_429
                        } else {
                            p.on_5xx
                        };
                        self.failed(up, a, on, t)
                    }
                }
            }
            Outcome::Timeout | Outcome::Connect | Outcome::Broken => {
                permit.finish(false);
                let timeout = matches!(outcome, Outcome::Timeout);
                if !(if timeout { p.on_timeout } else { p.on_connect }) {
                    return Step::Reply(transport_error(up, timeout, t.take_log()));
                }
                t.last = Last::Transport { timeout };
                Step::Retry(None)
            }
        }
    }

    /// A retryable error answer: relayed if the route does not fail over
    /// on it (`fail_over` false), else retried after its `Retry-After`.
    fn failed(&self, up: &Arc<Upstream>, a: Answer, fail_over: bool, t: &mut Trail) -> Step {
        let p = self.policy;
        if !fail_over {
            return Step::Reply(relay(up, a, t.take_log()));
        }
        let hint = if p.honor_retry_after {
            a.retry_after
        } else {
            None
        };
        t.last = Last::Answer(Arc::clone(up), a);
        match hint {
            None => Step::Retry(None),
            Some(Hint::For(wait)) if wait <= p.max_retry_wait => Step::Retry(Some(wait)),
            Some(_) => Step::MoveOn,
        }
    }
}

/// How often a retry waits out a cool-down that others keep extending
/// before it gives the provider up.
const MAX_REWAITS: usize = 3;

/// After one attempt.
enum Step {
    /// This goes to the client.
    Reply(Response<GatewayBody>),
    /// Retry on the same provider if the budget allows, after the wait.
    Retry(Option<Duration>),
    /// Next provider.
    MoveOn,
}

/// What the last attempt of a request came to.
#[derive(Default)]
enum Last {
    /// None was sent.
    #[default]
    Nothing,
    /// An error answer, kept to relay if it stays the last.
    Answer(Arc<Upstream>, Answer),
    /// No answer.
    Transport { timeout: bool },
    /// A success status whose answer is not one ([`Outcome::Malformed`]).
    Malformed(Arc<Upstream>),
}

/// One request's way through its route.
#[derive(Default)]
struct Trail {
    log: AttemptLog,
    last: Last,
    /// The shortest cool-down left among providers skipped for one.
    cooling: Option<Duration>,
}

impl Trail {
    fn take_log(&mut self) -> AttemptLog {
        std::mem::take(&mut self.log)
    }

    fn skip(&mut self, up: &Upstream, why: Skip) {
        self.log.skip(up);
        up.stats.skipped(matches!(why, Skip::Cooling(_)));
        if let Skip::Cooling(left) = why {
            self.cooling = Some(self.cooling.map_or(left, |c| c.min(left)));
        }
    }

    /// Every provider of the route failed or was skipped.
    fn exhausted(self, model: &str) -> Response<GatewayBody> {
        match (self.last, self.cooling) {
            (Last::Answer(up, a), _) => relay(&up, a, self.log),
            (Last::Malformed(up), _) => reply::malformed(&up, self.log),
            (Last::Nothing, Some(left)) => reply::cooling(model, left, self.log),
            (Last::Transport { timeout }, _) => {
                let (status, what) = if timeout {
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "the last one did not answer in time",
                    )
                } else {
                    (
                        StatusCode::BAD_GATEWAY,
                        "the last one could not be reached or broke off",
                    )
                };
                let msg = format!(
                    "every provider for model `{model}` failed ({}); {what}",
                    self.log.summary()
                );
                reply::error(
                    status,
                    &msg,
                    "upstream_error",
                    "providers_exhausted",
                    self.log,
                )
            }
            (Last::Nothing, None) => {
                let msg = format!(
                    "no provider for model `{model}` is available: every circuit breaker is open"
                );
                let code = "no_provider_available";
                reply::error(
                    StatusCode::BAD_GATEWAY,
                    &msg,
                    "upstream_error",
                    code,
                    self.log,
                )
            }
        }
    }
}

/// A provider's complete answer, to the client as received.
fn relay(up: &Upstream, a: Answer, log: AttemptLog) -> Response<GatewayBody> {
    reply::answer(up, a.status, &a.headers, GatewayBody::full(a.body), log)
}

/// A timeout or connection failure the route does not fail over on.
fn transport_error(up: &Upstream, timeout: bool, log: AttemptLog) -> Response<GatewayBody> {
    let (status, what) = if timeout {
        (StatusCode::GATEWAY_TIMEOUT, "did not answer in time")
    } else {
        (StatusCode::BAD_GATEWAY, "could not be reached or broke off")
    };
    let msg = format!("provider {} {what}", up.name);
    let code = if timeout {
        "upstream_timeout"
    } else {
        "upstream_unreachable"
    };
    reply::error(status, &msg, "upstream_error", code, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_list_becomes_flags() {
        let p = Policy::from(&RoutePolicy {
            retries: 1,
            attempt_timeout: Duration::from_secs(1),
            stream_idle_timeout: Duration::from_secs(30),
            failover_on: vec![FailoverOn::Status5xx, FailoverOn::Connect],
            honor_retry_after: true,
            max_retry_wait: Duration::from_secs(1),
        });
        assert!(p.on_5xx && p.on_connect && !p.on_429 && !p.on_timeout);
    }
}
