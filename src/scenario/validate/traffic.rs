//! `[[traffic]]`: the weighted request classes.

use super::super::error::{Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::{RawBudgets, RawTraffic};
use super::super::TrafficClass;
use super::budgets;
use super::names::{MAX_MODEL, MAX_NAME};
use super::Num;

pub(super) fn traffic(
    ctx: &Ctx,
    raw: Option<&[RawTraffic]>,
) -> Result<Vec<TrafficClass>, ScenarioError> {
    let at = FieldPath::root().key("traffic");
    let raw = match raw {
        None | Some([]) => {
            return Err(ctx.err(&at, "is missing: the scenario needs at least one traffic class", "add a [[traffic]] table with model = \"default\" (weight, prompt_tokens, max_tokens and stream have defaults)"));
        }
        Some(r) => r,
    };
    if raw.len() > MAX_CLASSES {
        return Err(ctx.err(
            &at.index(MAX_CLASSES),
            format_args!("is one class too many: at most {MAX_CLASSES} traffic classes are allowed"),
            "each class gets its own histograms and report columns; merge classes that share a model and budgets",
        ));
    }
    let mut classes: Vec<TrafficClass> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        classes.push(class(ctx, &at.index(i), t)?);
    }
    check_weights(ctx, &at, raw, &classes)?;
    for (i, c) in classes.iter().enumerate() {
        if let Some(first) = classes[..i].iter().position(|o| o.name == c.name) {
            let name_at = if raw[i].name.is_some() {
                at.index(i).key("name")
            } else {
                at.index(i).key("model")
            };
            return Err(ctx.err(&name_at, format_args!("gives the class name \"{}\", already used by traffic[{first}]", c.name), "class names label the report; give each [[traffic]] its own name = \"...\" (it defaults to the model)"));
        }
    }
    Ok(classes)
}

/// The most traffic classes in one scenario (the request log stores a
/// class as one byte, and each class has its own report columns).
const MAX_CLASSES: usize = 100;
/// The largest weight. Weights are relative, so no mix needs more, and the
/// sum of 100 of them stays finite (two weights near f64::MAX would sum to
/// infinity and send every request to the last class).
const MAX_WEIGHT: f64 = 1e9;
/// The largest prompt: `prompt_tokens` × 4 characters must fit in a
/// request body (the simulated providers take 8 MiB, the built-in gateway
/// 16 MiB); a million tokens is about 4 MB, beyond any model's context.
pub(crate) const MAX_PROMPT_TOKENS: i64 = 1_000_000;
/// The largest `max_tokens`, for the same reason: answers of that many
/// tokens are built in memory by the simulated providers.
pub(crate) const MAX_OUTPUT_TOKENS: i64 = 1_000_000;

fn class(ctx: &Ctx, at: &FieldPath, t: &RawTraffic) -> Result<TrafficClass, ScenarioError> {
    let model = match &t.model {
        Some(m) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err(ctx.err(&at.key("model"), "must not be empty", "the model name sent to the gateway, e.g. model = \"default\"")),
        None => return Err(ctx.err(&at.key("model"), "is required", "the model name sent to the gateway, e.g. model = \"default\" (a route name for the builtin gateway)")),
    };
    ctx.display_name(&at.key("model"), &model, MAX_MODEL, "model")?;
    let name = match &t.name {
        Some(n) if n.trim().is_empty() => {
            return Err(ctx.err(
                &at.key("name"),
                "must not be empty",
                "leave name out to use the model name",
            ))
        }
        Some(n) => {
            ctx.display_name(&at.key("name"), n, MAX_NAME, "traffic class")?;
            n.clone()
        }
        None => {
            // The model names the class: it must make a good name too.
            ctx.display_name(
                &at.key("model"),
                &model,
                MAX_NAME,
                "traffic class (named after its model; set name = \"...\" for a shorter one)",
            )?;
            model.clone()
        }
    };
    let weight = match t.weight {
        None => 1.0,
        Some(w) => ctx.finite(&at.key("weight"), w)?,
    };
    if weight < 0.0 {
        return Err(ctx.err(
            &at.key("weight"),
            format_args!("must be > 0; got {}", Num(weight)),
            "weights are relative shares of the traffic, e.g. 80, 15 and 5",
        ));
    }
    if weight > MAX_WEIGHT {
        return Err(ctx.err(
            &at.key("weight"),
            format_args!("must be at most 1000000000; got {}", Num(weight)),
            "weights are relative shares of the traffic, e.g. 80, 15 and 5; scale them down together",
        ));
    }
    let prompt_tokens = ctx.int(
        &at.key("prompt_tokens"),
        t.prompt_tokens,
        100,
        0,
        MAX_PROMPT_TOKENS,
        "the approximate prompt size in tokens; at most 1000000, so that the request body (about 4 bytes a token) fits what the providers and the gateway accept",
    )?;
    let max_tokens = ctx.int(
        &at.key("max_tokens"),
        t.max_tokens,
        256,
        1,
        MAX_OUTPUT_TOKENS,
        "the most output tokens a request asks for: at least 1, at most 1000000",
    )?;
    let default = RawBudgets::default();
    let budgets = budgets(ctx, &at.key("sla"), t.sla.as_ref().unwrap_or(&default))?;
    Ok(TrafficClass {
        name,
        weight,
        model,
        prompt_tokens: prompt_tokens as u32,
        max_tokens: max_tokens as u32,
        stream: t.stream.unwrap_or(false),
        budgets,
    })
}

/// Weights are > 0 one by one; all-zero gets its own message because the
/// fix differs (the mix is empty, not one class).
fn check_weights(
    ctx: &Ctx,
    at: &FieldPath,
    raw: &[RawTraffic],
    classes: &[TrafficClass],
) -> Result<(), ScenarioError> {
    let sum: f64 = classes.iter().map(|c| c.weight).sum();
    if sum <= 0.0 {
        let first = raw.iter().position(|t| t.weight.is_some()).unwrap_or(0);
        return Err(ctx.err(
            &at.index(first).key("weight"),
            "is 0, like every class's weight: the weights sum to zero, so no request could be sent",
            "give the classes positive relative weights, e.g. 80, 15 and 5",
        ));
    }
    if let Some(i) = classes.iter().position(|c| c.weight == 0.0) {
        return Err(ctx.err(&at.index(i).key("weight"), "must be > 0; got 0", "a class with weight 0 is never sent; remove the [[traffic]] table or give it a positive weight"));
    }
    Ok(())
}
