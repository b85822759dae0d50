//! `[gateway]`: which kind, and the builtin router's routes, retry policy and
//! breaker. The external kind lives in `external.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::error::{suggest, Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::{RawBreaker, RawFailoverOn, RawGateway, RawGatewayKind, RawPolicy};
use super::super::{
    BreakerPolicy, BuiltinGateway, FailoverOn, Gateway, Provider, RoutePolicy, TrafficClass,
};
use super::external::external;
use super::Env;

pub(super) fn gateway(
    ctx: &Ctx,
    raw: Option<&RawGateway>,
    traffic: &[TrafficClass],
    providers: &[Provider],
    env: Env,
) -> Result<Gateway, ScenarioError> {
    let at = FieldPath::root().key("gateway");
    let Some(g) = raw else {
        if providers.is_empty() {
            return Err(ctx.err(&at, "is missing and there are no [[providers]]: the scenario has nothing to test", "add [[providers]] to test the builtin gateway, or a [gateway] with kind = \"external\" and url = \"http://127.0.0.1:4000\" to test your own"));
        }
        return builtin(ctx, &at, &RawGateway::default(), traffic, providers).map(Gateway::Builtin);
    };
    // An external gateway is recognised by its url (or command) even without
    // `kind`, so a scenario that only sets `url` does what it says.
    let kind = g.kind.unwrap_or(if g.url.is_some() || g.command.is_some() {
        RawGatewayKind::External
    } else {
        RawGatewayKind::Builtin
    });
    match kind {
        RawGatewayKind::Builtin => builtin(ctx, &at, g, traffic, providers).map(Gateway::Builtin),
        RawGatewayKind::External => {
            let builtin_keys = [
                ("port", g.port.is_some()),
                ("routes", g.routes.is_some()),
                ("policy", g.policy.is_some()),
                ("breaker", g.breaker.is_some()),
            ];
            if let Some((key, _)) = builtin_keys.iter().find(|(_, set)| *set) {
                return Err(ctx.err(&at.key(key), "applies only to kind = \"builtin\"", "an external gateway does its own routing; remove this key, or test the builtin gateway with kind = \"builtin\""));
            }
            external(ctx, &at, g, env).map(Gateway::External)
        }
    }
}

fn builtin(
    ctx: &Ctx,
    at: &FieldPath,
    g: &RawGateway,
    traffic: &[TrafficClass],
    providers: &[Provider],
) -> Result<BuiltinGateway, ScenarioError> {
    no_external_keys(ctx, at, g)?;
    if providers.is_empty() {
        let kind_at = if g.kind.is_some() {
            at.key("kind")
        } else {
            at.clone()
        };
        return Err(ctx.err(&kind_at, "is the builtin gateway, but there are no [[providers]] for it to route to", "add [[providers]] (e.g. profile = \"deepseek-v4-flash\"), or test your own gateway with kind = \"external\" and url = \"http://127.0.0.1:4000\""));
    }
    let port = port(ctx, &at.key("port"), g.port, providers)?;
    let routes = match &g.routes {
        Some(r) => routes(ctx, &at.key("routes"), r, providers)?,
        None => every_model_to_all(traffic, providers),
    };
    every_class_routed(ctx, &routes, traffic, providers)?;
    let default = RawPolicy::default();
    let policy = policy(
        ctx,
        &at.key("policy"),
        g.policy.as_ref().unwrap_or(&default),
    )?;
    let default = RawBreaker::default();
    let breaker = breaker(
        ctx,
        &at.key("breaker"),
        g.breaker.as_ref().unwrap_or(&default),
    )?;
    Ok(BuiltinGateway {
        port,
        routes,
        policy,
        breaker,
    })
}

/// The keys of `kind = "external"` are mistakes in a builtin gateway.
fn no_external_keys(ctx: &Ctx, at: &FieldPath, g: &RawGateway) -> Result<(), ScenarioError> {
    let external_keys = [
        ("url", g.url.is_some()),
        ("headers", g.headers.is_some()),
        ("allow_non_loopback", g.allow_non_loopback.is_some()),
        ("command", g.command.is_some()),
        ("env", g.env.is_some()),
        ("cwd", g.cwd.is_some()),
        ("ready_url", g.ready_url.is_some()),
        ("ready_timeout", g.ready_timeout.is_some()),
    ];
    if let Some((key, _)) = external_keys.iter().find(|(_, set)| *set) {
        return Err(ctx.err(&at.key(key), "applies only to kind = \"external\"", "set kind = \"external\" to test your own gateway, or remove this key to use the builtin one"));
    }
    Ok(())
}

/// The gateway's port: 0 (any free one) by default, and not a provider's.
fn port(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<i64>,
    providers: &[Provider],
) -> Result<u16, ScenarioError> {
    let port = ctx.int(
        at,
        raw,
        0,
        0,
        u16::MAX.into(),
        "a TCP port, or 0 for any free loopback port",
    )?;
    if port != 0 {
        if let Some(i) = providers.iter().position(|p| i64::from(p.port) == port) {
            return Err(ctx.err(at, format_args!("is {port}, already taken by providers[{i}]"), "the gateway and each provider need their own port; use port = 0 to pick a free one"));
        }
    }
    Ok(port as u16)
}

/// The routes without `[gateway.routes]`: every traffic class's model to
/// every provider, in the order they are listed.
fn every_model_to_all(
    traffic: &[TrafficClass],
    providers: &[Provider],
) -> BTreeMap<String, Vec<String>> {
    let all: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    traffic
        .iter()
        .map(|t| (t.model.clone(), all.clone()))
        .collect()
}

/// Every traffic class's model needs a route, or its requests could go
/// nowhere.
fn every_class_routed(
    ctx: &Ctx,
    routes: &BTreeMap<String, Vec<String>>,
    traffic: &[TrafficClass],
    providers: &[Provider],
) -> Result<(), ScenarioError> {
    for (i, t) in traffic.iter().enumerate() {
        if !routes.contains_key(&t.model) {
            let known: Vec<&str> = routes.keys().map(String::as_str).collect();
            let model_at = FieldPath::root().key("traffic").index(i).key("model");
            return Err(ctx.err(
                &model_at,
                format_args!("is \"{}\", which has no route in [gateway.routes]", t.model),
                format!(
                    "add {} = [\"{}\"] to [gateway.routes] (the providers to try, in order); {}",
                    toml_key(&t.model),
                    providers[0].name,
                    suggest(&t.model, &known, "routed models")
                ),
            ));
        }
    }
    Ok(())
}

fn toml_key(key: &str) -> String {
    FieldPath::root().key(key).to_string()
}

fn routes(
    ctx: &Ctx,
    at: &FieldPath,
    raw: &BTreeMap<String, Vec<String>>,
    providers: &[Provider],
) -> Result<BTreeMap<String, Vec<String>>, ScenarioError> {
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    for (model, list) in raw {
        let at = at.key(model);
        ctx.display_name(&at, model, super::MAX_MODEL, "model of this route")?;
        if list.is_empty() {
            return Err(ctx.err(
                &at,
                "is empty: requests for this model could go nowhere",
                format!(
                    "list the providers to try in order, e.g. [\"{}\"]",
                    names[0]
                ),
            ));
        }
        for (i, name) in list.iter().enumerate() {
            if !names.contains(&name.as_str()) {
                return Err(ctx.err(
                    &at.index(i),
                    format_args!("names no provider in this scenario; got \"{name}\""),
                    suggest(name, &names, "providers"),
                ));
            }
            if list[..i].contains(name) {
                return Err(ctx.err(&at.index(i), format_args!("lists \"{name}\" a second time"), "a route tries each provider once; use [gateway.policy] retries for more attempts on the same one"));
            }
        }
    }
    Ok(raw.clone())
}

fn policy(ctx: &Ctx, at: &FieldPath, p: &RawPolicy) -> Result<RoutePolicy, ScenarioError> {
    let retries = ctx.int(
        &at.key("retries"),
        p.retries,
        0,
        0,
        100,
        "extra attempts on the same provider before moving on; 0 moves on at once",
    )?;
    let failover_on = match &p.failover_on {
        None => vec![
            FailoverOn::Status5xx,
            FailoverOn::Status429,
            FailoverOn::Timeout,
            FailoverOn::Connect,
        ],
        Some(list) => {
            let mut v: Vec<FailoverOn> = list
                .iter()
                .map(|f| match f {
                    RawFailoverOn::Status5xx => FailoverOn::Status5xx,
                    RawFailoverOn::Status429 => FailoverOn::Status429,
                    RawFailoverOn::Timeout => FailoverOn::Timeout,
                    RawFailoverOn::Connect => FailoverOn::Connect,
                })
                .collect();
            v.sort();
            v.dedup();
            v
        }
    };
    Ok(RoutePolicy {
        retries: retries as u32,
        attempt_timeout: ctx.positive_duration_or(
            &at.key("attempt_timeout"),
            &p.attempt_timeout,
            Duration::from_secs(10),
        )?,
        stream_idle_timeout: ctx.positive_duration_or(
            &at.key("stream_idle_timeout"),
            &p.stream_idle_timeout,
            Duration::from_secs(30),
        )?,
        failover_on,
        honor_retry_after: p.honor_retry_after.unwrap_or(true),
        max_retry_wait: ctx.duration_or(
            &at.key("max_retry_wait"),
            &p.max_retry_wait,
            Duration::from_secs(1),
        )?,
    })
}

fn breaker(ctx: &Ctx, at: &FieldPath, b: &RawBreaker) -> Result<BreakerPolicy, ScenarioError> {
    Ok(BreakerPolicy {
        enabled: b.enabled.unwrap_or(true),
        failures: ctx.int(
            &at.key("failures"),
            b.failures,
            20,
            0,
            u32::MAX.into(),
            "the breaker opens after this many failures within the window; 0 turns the count rule off",
        )? as u32,
        failure_rate: ctx.ratio(&at.key("failure_rate"), &b.failure_rate, false)?,
        min_requests: ctx.int(
            &at.key("min_requests"),
            b.min_requests,
            20,
            1,
            u32::MAX.into(),
            "attempts needed in the window before failure_rate is judged",
        )? as u32,
        window: ctx.positive_duration_or(&at.key("window"), &b.window, Duration::from_secs(10))?,
        cool_off: ctx.positive_duration_or(
            &at.key("cool_off"),
            &b.cool_off,
            Duration::from_secs(30),
        )?,
        half_open_probes: ctx.int(
            &at.key("half_open_probes"),
            b.half_open_probes,
            1,
            1,
            u32::MAX.into(),
            "probes sent while half-open; at least 1, or the breaker never closes",
        )? as u32,
    })
}
