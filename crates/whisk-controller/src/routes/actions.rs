//! Action CRUD: list (with packaged actions, and of a package or binding), get
//! (`?code=false`, through packages and bindings with merged parameters), PUT create/update
//! (`?overwrite=`, sequences checked) and DELETE. Invoke is in `invoke.rs`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use whisk_store::{Collection, Document, StoreError};
use whisk_types::{Action, EntityName, Exec, FullyQualifiedName, Parameters};

use super::list_or_count;
use super::Call;
use crate::action_body::{build_action, parse_put, PutLimits};
use crate::error::ApiError;
use crate::request::{list_params, read_body};
use crate::resolve::{entitled_package, resolve_action, resolve_package};
use crate::runtimes::SEQUENCE;

/// The parameter a sequence stores its components in.
const SEQUENCE_ACTIONS: &str = "_actions";

/// Fields of an action summary in lists (reference §4.0).
const SUMMARY_FIELDS: [&str; 7] = [
    "namespace",
    "name",
    "version",
    "publish",
    "annotations",
    "limits",
    "updated",
];

/// `GET .../actions` and `GET .../actions/{pkg}/`: summaries, newest first.
pub(super) async fn list(call: &Call, package: Option<EntityName>) -> Result<Response, ApiError> {
    let params = list_params(&call.query, "actions")?;
    let (namespace, package) = match &package {
        Some(pkg) => {
            let rp = resolve_package(&call.ctl, call.own(), &call.fqn(pkg)).await?;
            (
                rp.real.namespace.namespace().clone(),
                Some(rp.real.name.clone()),
            )
        }
        None => (call.namespace.clone(), None),
    };
    list_or_count(
        call,
        Collection::Actions,
        &params,
        namespace,
        package,
        |d| Ok::<_, ApiError>(summary(&d.body)),
    )
    .await
}

fn summary(body: &Value) -> Value {
    let mut m = Map::new();
    for key in SUMMARY_FIELDS {
        if let Some(v) = body.get(key) {
            m.insert(key.to_owned(), v.clone());
        }
    }
    let binary = body
        .pointer("/exec/binary")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    m.insert("exec".into(), json!({ "binary": binary }));
    Value::Object(m)
}

/// `GET .../actions/{name}`; `?code=false` leaves out `exec.code`. An action in a package
/// or reached through a binding shows the merged package, binding and action parameters.
pub(super) async fn get(call: &Call, fqn: &FullyQualifiedName) -> Result<Response, ApiError> {
    let code = call.query.bool("code", true)?;
    let resolved = resolve_action(&call.ctl, call.own(), fqn).await?;
    let mut action = resolved.action;
    action.parameters = resolved.params;
    let mut body = serde_json::to_value(&action).map_err(|e| ApiError::Internal(e.to_string()))?;
    if !code {
        if let Some(exec) = body.get_mut("exec").and_then(Value::as_object_mut) {
            exec.remove("code");
        }
    }
    Ok(Json(body).into_response())
}

/// `PUT .../actions/{name}?overwrite=`: create, or update an existing action.
pub(super) async fn put(
    call: &Call,
    fqn: &FullyQualifiedName,
    body: Body,
) -> Result<Response, ApiError> {
    let ctl = &call.ctl;
    let overwrite = call.query.bool("overwrite", false)?;
    let bytes = read_body(body, &call.headers, ctl.config.max_request).await?;
    let put = parse_put(&bytes, &ctl.config.runtimes)?;
    if let Some(pkg) = fqn.path.package() {
        let package = entitled_package(ctl, call.own(), &call.fqn(pkg)).await?;
        if package.binding.is_some() {
            return Err(ApiError::BadRequest(
                "Operation not permitted on package binding.".into(),
            ));
        }
    }
    let existing = ctl.entities.get(Collection::Actions, fqn).await?;
    let (old, revision) = match existing {
        Some(_) if !overwrite => return Err(StoreError::AlreadyExists.into()),
        Some(doc) => (Some(decode_action(&doc)?), Some(doc.revision)),
        None => (None, None),
    };
    if old.is_none() {
        super::check_capacity(call, Collection::Actions).await?;
    }
    let sizes = PutLimits {
        exec: ctl.config.max_exec,
        parameters: ctl.config.max_parameters,
        limits: ctl.config.action_limits,
    };
    let mut action = build_action(put, fqn.path.clone(), fqn.name.clone(), old, sizes)?;
    let kind = action.exec.kind();
    if kind != SEQUENCE && !ctl.limits_of(call.own()).await.allows_kind(kind) {
        return Err(ApiError::KindNotAllowed(kind.to_owned()));
    }
    if let Exec::Sequence { components } = &mut action.exec {
        for c in components.iter_mut() {
            *c = c.clone().resolve(call.own());
        }
        crate::sequence::validate(ctl, call.own(), fqn, components).await?;
        let names: Vec<String> = components.iter().map(|c| c.with_slash()).collect();
        let mut params = Parameters::default();
        params.set(SEQUENCE_ACTIONS, json!(names));
        action.parameters = params;
    }
    let value = serde_json::to_value(&action).map_err(|e| ApiError::Internal(e.to_string()))?;
    let doc = ctl
        .entities
        .put(Collection::Actions, fqn, value, revision)
        .await?;
    // Containers of earlier versions are stale; those of this one (an invoke may already
    // have started one) are not.
    ctl.announce_action_change(fqn, doc.updated).await;
    Ok(Json(doc.body).into_response())
}

/// `DELETE .../actions/{name}`: answers with the deleted action.
pub(super) async fn delete(call: &Call, fqn: &FullyQualifiedName) -> Result<Response, ApiError> {
    let doc = action_document(call, fqn).await?;
    if !call
        .ctl
        .entities
        .delete(Collection::Actions, fqn, doc.revision)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    call.ctl
        .announce_action_change(fqn, doc.updated.saturating_add(1))
        .await;
    Ok(Json(doc.body).into_response())
}

/// The stored action, or 404.
pub(super) async fn action_document(
    call: &Call,
    fqn: &FullyQualifiedName,
) -> Result<Document, ApiError> {
    call.ctl
        .entities
        .get(Collection::Actions, fqn)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The typed action of a stored document.
pub(super) fn decode_action(doc: &Document) -> Result<Action, ApiError> {
    serde_json::from_value(doc.body.clone())
        .map_err(|e| StoreError::Corrupt(format!("action {}: {e}", doc.fqn)).into())
}
