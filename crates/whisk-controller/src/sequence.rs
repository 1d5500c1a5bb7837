//! Sequences (reference §6.4), run by the controller: each component is invoked blocking
//! through the internal invoke path with the previous result as input; a component that
//! does not succeed stops the chain and its response becomes the sequence's. The record
//! lists the component activation ids as logs, sums their durations, and is marked
//! `kind: sequence` and `topmost` (components carry `cause` and `causedBy`).

use std::sync::Arc;

use serde_json::json;
use whisk_types::{
    Activation, ActivationResponse, EntityName, EntityPath, Exec, FullyQualifiedName,
};

use crate::composition;
use crate::controller::Controller;
use crate::error::ApiError;
use crate::invocation::{next_input, Invocation};
use crate::lineage::sequence_atomic;
use crate::resolve::{invocable, resolve_action, resolve_package};

/// Text of a sequence over the length limit, at PUT and at run time.
pub(crate) const TOO_LONG: &str = "Too many actions in the sequence.";
/// Text of a sequence that contains itself, directly or through others.
pub(crate) const CYCLIC: &str = "Sequence may not refer to itself.";
/// Text of a component that cannot be found (or may not be used).
pub(crate) const COMPONENT_MISSING: &str = "Sequence component does not exist.";

/// Runs the sequence `inv` names and returns its record (not yet stored).
pub(crate) async fn run(ctl: &Arc<Controller>, inv: &Invocation) -> Activation {
    let start = whisk_types::now_millis();
    let components = match &inv.target.action.exec {
        Exec::Sequence { components } => components.clone(),
        _ => Vec::new(),
    };
    let max = ctl.config.limits.sequence_length;
    // The atomic actions of this nest of sequences; the outermost checks the whole nest
    // before it starts anything, and every component is counted as it starts.
    let (nest, outermost) = inv.lineage.sequence_nest();
    let mut logs = Vec::new();
    let mut duration = 0;
    let mut memory = 0;
    let mut response = ActivationResponse::success(json!({}), None);
    let too_long = outermost
        && atomic_count(ctl, &inv.user.namespace, &components, max)
            .await
            .is_none_or(|n| n > max);
    if too_long {
        response = too_many();
    } else {
        let mut input = inv.payload.clone();
        for component in &components {
            let target = match invocable(ctl, &inv.user.namespace, component).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%component, error = %e, "A sequence component is unavailable.");
                    response =
                        ActivationResponse::application_error(json!(COMPONENT_MISSING), None);
                    break;
                }
            };
            memory = memory.max(target.action.limits.memory);
            let nested = matches!(target.action.exec, Exec::Sequence { .. });
            let mut child = inv.child(target, input.clone());
            if nested {
                child.lineage = child.lineage.within_sequence(nest.clone());
            }
            if child.lineage.too_deep(max) || (!nested && !sequence_atomic(&nest, max)) {
                response = too_many();
                break;
            }
            let id = child.id;
            let wait = child.component_wait(ctl.config.composition_wait);
            logs.push(id.to_string());
            ctl.composition_progress(inv, start, &logs, duration).await;
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
    let mut record = composition::record(inv, start, response);
    record.duration = Some(duration);
    record.logs = logs;
    let mut limits = inv.target.action.limits;
    limits.memory = limits.memory.max(memory);
    record.annotations.set("limits", json!(limits));
    record
}

fn too_many() -> ActivationResponse {
    ActivationResponse::application_error(json!(TOO_LONG), None)
}

/// What the components of a sequence stand for, nested sequences inlined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// This many atomic actions, within the limit.
    Fits(u64),
    /// More atomic actions than the limit (or a loop of other sequences).
    TooLong,
    /// A component is, or reaches, the sequence being checked.
    Cyclic,
}

/// Inlines `components` as `caller` resolves them (through bindings), counting atomic
/// actions up to `max` and looking for `me`.
///
/// # Errors
/// A component that does not exist or may not be used.
async fn shape(
    ctl: &Controller,
    caller: &EntityName,
    me: &FullyQualifiedName,
    components: &[FullyQualifiedName],
    max: u64,
) -> Result<Shape, ApiError> {
    let mut pending: Vec<FullyQualifiedName> = components.iter().rev().cloned().collect();
    let mut count = 0u64;
    // Every expansion costs a step, so a loop of other sequences ends too.
    let mut steps = 0u64;
    while let Some(c) = pending.pop() {
        steps += 1;
        if count > max || steps > max.saturating_mul(4) + 16 {
            return Ok(Shape::TooLong);
        }
        let resolved = match resolve_action(ctl, caller, &c).await {
            Ok(r) => r,
            // A sequence being created does not exist yet, but a binding may lead to it.
            Err(e) if bound_name(ctl, caller, &c).await.as_ref() == Some(me) => {
                tracing::debug!(component = %c, error = %e, "A sequence reaches itself.");
                return Ok(Shape::Cyclic);
            }
            Err(e) => return Err(e),
        };
        if &c == me || &resolved.action.fqn() == me {
            return Ok(Shape::Cyclic);
        }
        match &resolved.action.exec {
            Exec::Sequence { components } => pending.extend(components.iter().rev().cloned()),
            _ => count += 1,
        }
    }
    Ok(if count <= max {
        Shape::Fits(count)
    } else {
        Shape::TooLong
    })
}

/// The name `c` stands for once its package binding is followed; `None` outside a
/// binding or when the binding cannot be read.
async fn bound_name(
    ctl: &Controller,
    caller: &EntityName,
    c: &FullyQualifiedName,
) -> Option<FullyQualifiedName> {
    let package = FullyQualifiedName::new(
        EntityPath::namespace_only(c.namespace().clone()),
        c.path.package()?.clone(),
    );
    let real = resolve_package(ctl, caller, &package).await.ok()?.real;
    let path = EntityPath::with_package(real.namespace.namespace().clone(), real.name);
    Some(FullyQualifiedName::new(path, c.name.clone()))
}

/// The atomic actions `components` stand for at run time, `None` past `max` or in a
/// loop; components that cannot be resolved count as one (they fail when they run).
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

/// Checks the components of a sequence at PUT: not empty, within the length limit, all
/// existing, and none of them (through bindings and nested sequences) the sequence
/// itself, so a cycle cannot be made by an update either.
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
        return Err(bad(CYCLIC));
    }
    match shape(ctl, caller, me, components, max).await {
        Ok(Shape::Fits(_)) => Ok(()),
        Ok(Shape::TooLong) => Err(bad(TOO_LONG)),
        Ok(Shape::Cyclic) => Err(bad(CYCLIC)),
        // Another namespace's component is 403 as any use of it is (whether it exists or
        // not, so nothing leaks); only a missing component of one's own is "missing".
        Err(ApiError::NotFound) => Err(bad(COMPONENT_MISSING)),
        Err(e) => Err(e),
    }
}
