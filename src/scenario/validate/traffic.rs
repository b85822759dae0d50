//! `[[traffic]]`: the weighted request classes.

use super::super::error::{Ctx, ScenarioError};
use super::super::path::FieldPath;
use super::super::raw::{RawBudgets, RawTraffic};
use super::super::TrafficClass;
use super::budgets;

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

fn class(ctx: &Ctx, at: &FieldPath, t: &RawTraffic) -> Result<TrafficClass, ScenarioError> {
    let model = match &t.model {
        Some(m) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err(ctx.err(&at.key("model"), "must not be empty", "the model name sent to the gateway, e.g. model = \"default\"")),
        None => return Err(ctx.err(&at.key("model"), "is required", "the model name sent to the gateway, e.g. model = \"default\" (a route name for the builtin gateway)")),
    };
    let name = match &t.name {
        Some(n) if n.trim().is_empty() => {
            return Err(ctx.err(
                &at.key("name"),
                "must not be empty",
                "leave name out to use the model name",
            ))
        }
        Some(n) => n.clone(),
        None => model.clone(),
    };
    let weight = match t.weight {
        None => 1.0,
        Some(w) => ctx.finite(&at.key("weight"), w)?,
    };
    if weight < 0.0 {
        return Err(ctx.err(
            &at.key("weight"),
            format_args!("must be > 0; got {weight}"),
            "weights are relative shares of the traffic, e.g. 80, 15 and 5",
        ));
    }
    let prompt_tokens = ctx.int(
        &at.key("prompt_tokens"),
        t.prompt_tokens,
        100,
        0,
        u32::MAX.into(),
        "the approximate prompt size in tokens",
    )?;
    let max_tokens = ctx.int(
        &at.key("max_tokens"),
        t.max_tokens,
        256,
        1,
        u32::MAX.into(),
        "the most output tokens a request asks for; a request needs at least 1",
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
