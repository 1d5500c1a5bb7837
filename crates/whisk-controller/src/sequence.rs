//! Sequences (reference §6.4), run by the controller: each component is invoked blocking
//! through the internal invoke path with the previous result as input; a component that
//! does not succeed stops the chain and its response becomes the sequence's. The record
//! lists the component activation ids as logs, sums their durations, and is marked
//! `kind: sequence` and `topmost` (components carry `cause` and `causedBy`).

use std::sync::Arc;

use serde_json::json;
use whisk_types::{Activation, ActivationResponse, EntityName, Exec, FullyQualifiedName};

use crate::controller::Controller;
use crate::error::ApiError;
use crate::invocation::{next_input, Invocation};
use crate::resolve::resolve_action;

/// Text of a sequence over the length limit, at PUT and at run time.
pub(crate) const TOO_LONG: &str = "Too many actions in the sequence.";
/// Text of a component that cannot be found (or may not be used).
pub(crate) const COMPONENT_MISSING: &str = "Sequence component does not exist.";

/// Runs the sequence `inv` names and returns its record (not yet stored).
pub(crate) async fn run(ctl: &Arc<Controller>, inv: &Invocation) -> Activation {
    let start = whisk_types::now_millis();
    let components = match &inv.target.action.exec {
        Exec::Sequence { components } => components.clone(),
        _ => Vec::new(),
    };
    let topmost = inv.cause.is_none();
    let max = ctl.config.limits.sequence_length;
    let mut logs = Vec::new();
    let mut duration = 0;
    let mut memory = 0;
    let mut response = ActivationResponse::success(json!({}), None);
    let too_long = topmost
        && atomic_count(ctl, &inv.user.namespace, &components, max)
            .await
            .is_none_or(|n| n > max);
    if too_long {
        response = ActivationResponse::application_error(json!(TOO_LONG), None);
    } else {
        let mut input = inv.payload.clone();
        for component in &components {
            let target = match resolve_action(ctl, &inv.user.namespace, component).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%component, error = %e, "A sequence component is unavailable.");
                    response =
                        ActivationResponse::application_error(json!(COMPONENT_MISSING), None);
                    break;
                }
            };
            memory = memory.max(target.action.limits.memory);
            let child = inv.child(target, input.clone());
            let id = child.id;
            let wait = child.component_wait();
            logs.push(id.to_string());
            match ctl.activate_and_wait(child, wait).await {
                Ok(Some(a)) => {
                    duration += a.effective_duration().unwrap_or(0);
                    response = a.response;
                    if !response.is_success() {
                        break;
                    }
                    input = next_input(&response.result);
                }
                Ok(None) => {
                    response = ActivationResponse::whisk_error(format!(
                        "Timeout reached when retrieving activation {id} for sequence component."
                    ));
                    break;
                }
                Err(e) => {
                    response = ActivationResponse::whisk_error(e.client_text());
                    break;
                }
            }
        }
    }
    let mut record = inv.record(start, response);
    record.duration = Some(duration);
    record.logs = logs;
    let mut limits = inv.target.action.limits;
    limits.memory = limits.memory.max(memory);
    record.annotations.set("limits", json!(limits));
    record.annotations.set("topmost", json!(topmost));
    record
}

/// The number of atomic actions `components` stand for, nested sequences inlined, as
/// `caller` resolves them. `None` once the count passes `max` (or the nesting loops).
///
/// # Errors
/// A component that does not exist or may not be used.
pub(crate) async fn count_atomic(
    ctl: &Controller,
    caller: &EntityName,
    components: &[FullyQualifiedName],
    max: u64,
) -> Result<Option<u64>, ApiError> {
    let mut pending: Vec<FullyQualifiedName> = components.iter().rev().cloned().collect();
    let mut count = 0u64;
    // Every expansion costs a step, so a loop of sequences ends too.
    let mut steps = 0u64;
    while let Some(c) = pending.pop() {
        steps += 1;
        if count > max || steps > max.saturating_mul(4) + 16 {
            return Ok(None);
        }
        let resolved = resolve_action(ctl, caller, &c).await?;
        match &resolved.action.exec {
            Exec::Sequence { components } => pending.extend(components.iter().rev().cloned()),
            _ => count += 1,
        }
    }
    Ok((count <= max).then_some(count))
}

/// [`count_atomic`] at run time: missing components are found when they run.
async fn atomic_count(
    ctl: &Controller,
    caller: &EntityName,
    components: &[FullyQualifiedName],
    max: u64,
) -> Option<u64> {
    let mut pending: Vec<FullyQualifiedName> = components.iter().rev().cloned().collect();
    let mut count = 0u64;
    let mut steps = 0u64;
    while let Some(c) = pending.pop() {
        steps += 1;
        if count > max || steps > max.saturating_mul(4) + 16 {
            return None;
        }
        let nested = match resolve_action(ctl, caller, &c).await {
            Ok(r) => match r.action.exec {
                Exec::Sequence { components } => Some(components),
                _ => None,
            },
            Err(_) => None,
        };
        match nested {
            Some(inner) => pending.extend(inner.into_iter().rev()),
            None => count += 1,
        }
    }
    Some(count)
}

/// Checks the components of a sequence at PUT: not empty, not itself, all existing, and
/// within the length limit.
///
/// # Errors
/// 400 with OpenWhisk's texts; 403 for a component the caller may not use.
pub(crate) async fn validate(
    ctl: &Controller,
    caller: &EntityName,
    me: &FullyQualifiedName,
    components: &[FullyQualifiedName],
) -> Result<(), ApiError> {
    let bad = |t: &str| ApiError::BadRequest(t.to_owned());
    if components.is_empty() {
        return Err(bad("No component specified for the sequence."));
    }
    let max = ctl.config.limits.sequence_length;
    if components.len() as u64 > max {
        return Err(bad(TOO_LONG));
    }
    if components.iter().any(|c| c == me) {
        return Err(bad("Sequence may not refer to itself."));
    }
    match count_atomic(ctl, caller, components, max).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(bad(TOO_LONG)),
        // Another namespace's component is 403 as any use of it is (whether it exists or
        // not, so nothing leaks); only a missing component of one's own is "missing".
        Err(ApiError::NotFound) => Err(bad(COMPONENT_MISSING)),
        Err(e) => Err(e),
    }
}
