//! Conductor actions (reference §6.4): the controller invokes the conductor, which names
//! the next action (`action`, `params`, `state`); that action's result, with `state`
//! merged in, goes back to the conductor, until the conductor returns no `action`. The
//! session record is `kind: sequence` with `conductor: true` and lists every step's id.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use whisk_types::{Activation, ActivationResponse, FullyQualifiedName};

use crate::composition;
use crate::controller::Controller;
use crate::error::ApiError;
use crate::invocation::Invocation;

const TOO_MANY: &str = "Too many actions in the composition.";

/// `x` as an object: objects pass, anything else is boxed under `key`.
fn boxed(x: &Value, key: &str) -> Map<String, Value> {
    match x {
        Value::Object(m) => m.clone(),
        other => {
            let mut m = Map::new();
            m.insert(key.to_owned(), other.clone());
            m
        }
    }
}

/// Runs a conductor session and returns its record (not yet stored). Conductor calls and
/// components count against the accounting of the whole tree ([`crate::lineage`]).
pub(crate) async fn run(ctl: &Arc<Controller>, inv: &Invocation) -> Activation {
    let start = whisk_types::now_millis();
    let max = ctl.config.limits.sequence_length;
    let mut logs = Vec::new();
    let mut duration = 0;
    let mut params = inv.payload.clone();
    let response = loop {
        let mut step = inv.child(inv.target.clone(), params.clone());
        step.plain = true;
        if !inv.lineage.conductor_call(max) || step.lineage.too_deep(max) {
            break ActivationResponse::application_error(json!(TOO_MANY), None);
        }
        let (id, wait) = (step.id, step.component_wait(ctl.config.composition_wait));
        logs.push(id.to_string());
        ctl.composition_progress(inv, start, &logs, duration).await;
        let result = match ctl.activate_and_wait(step, wait).await {
            Ok(Some(a)) => {
                duration += a.effective_duration().unwrap_or(0);
                if !a.response.is_success() {
                    break a.response;
                }
                a.response.result
            }
            Ok(None) => break timeout(id),
            Err(e) => break ActivationResponse::whisk_error(e.client_text()),
        };
        let Some(next) = result.get("action") else {
            let out = result.get("params").cloned().unwrap_or(result);
            break ActivationResponse::success(out, None);
        };
        let state = result.get("state").map(|s| boxed(s, "state"));
        let step_params = result
            .get("params")
            .map(|p| Value::Object(boxed(p, "value")))
            .unwrap_or_else(|| json!({}));
        let child = match component(ctl, inv, next).await {
            Ok(target) => {
                // A nested session counts by its own conductor calls.
                let session = inv.child(target, step_params);
                let counts = !session.is_conductor();
                if inv.lineage.component(max, counts) && !session.lineage.too_deep(max) {
                    Ok(session)
                } else {
                    Err(TOO_MANY.to_owned())
                }
            }
            Err(message) => Err(message),
        };
        let child = match child {
            Ok(c) => c,
            Err(message) => {
                let mut input = Map::new();
                input.insert("error".into(), json!(message));
                params = Value::Object(with_state(input, state));
                continue;
            }
        };
        let (id, wait) = (child.id, child.component_wait(ctl.config.composition_wait));
        logs.push(id.to_string());
        ctl.composition_progress(inv, start, &logs, duration).await;
        let out = match ctl.activate_and_wait(child, wait).await {
            Ok(Some(a)) => {
                duration += a.effective_duration().unwrap_or(0);
                a.response.result
            }
            Ok(None) => break timeout(id),
            Err(e) => break ActivationResponse::whisk_error(e.client_text()),
        };
        params = Value::Object(with_state(boxed(&out, "value"), state));
    };
    let mut record = composition::record(inv, start, response);
    record.duration = Some(duration);
    record.logs = logs;
    record
}

fn timeout(id: whisk_types::ActivationId) -> ActivationResponse {
    ActivationResponse::whisk_error(format!(
        "Timeout reached when retrieving activation {id} for sequence component."
    ))
}

fn with_state(mut m: Map<String, Value>, state: Option<Map<String, Value>>) -> Map<String, Value> {
    if let Some(s) = state {
        m.extend(s);
    }
    m
}

/// Resolves the action a conductor named, relative to the caller's namespace; the error
/// is the message handed back to the conductor.
async fn component(
    ctl: &Arc<Controller>,
    inv: &Invocation,
    name: &Value,
) -> Result<std::sync::Arc<crate::resolve::ResolvedAction>, String> {
    let Some(text) = name.as_str() else {
        return Err(format!(
            "Failed to parse action name from json value {name} during composition."
        ));
    };
    let fqn = FullyQualifiedName::resolve_relative(text, &inv.user.namespace).map_err(|_| {
        format!("Failed to parse action name from json value {name} during composition.")
    })?;
    match crate::resolve::invocable(ctl, &inv.user.namespace, &fqn).await {
        Ok(t) => Ok(t),
        Err(ApiError::Forbidden(_)) => Err(format!(
            "Failed entitlement check for action with name '{text}' during composition."
        )),
        Err(_) => Err(format!(
            "Failed to resolve action with name '{text}' during composition."
        )),
    }
}
