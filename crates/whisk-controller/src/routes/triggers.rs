//! Triggers (reference §4.4, §5.3): list, get (with the `rules` map), PUT create/update,
//! DELETE (rules stay, and read as inactive) and fire.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use whisk_store::{Collection, StoreError};
use whisk_types::{ActivationId, EntityName, EntityPath, FullyQualifiedName};

use super::invoke::{accepted, parse_payload};
use super::list_or_count;
use super::packages::FEED;
use super::{Call, ACTIVATION_ID_HEADER};
use crate::body::{self, malformed};
use crate::entities::{decode, to_value, Trigger};
use crate::error::ApiError;
use crate::fire::{Fired, Firing};
use crate::request::{list_params, read_body};

/// `GET .../triggers`: summaries, newest first.
pub(super) async fn list(call: &Call) -> Result<Response, ApiError> {
    let params = list_params(&call.query, "triggers")?;
    let ns = call.namespace.clone();
    list_or_count(call, Collection::Triggers, &params, ns, None, |d| {
        decode::<Trigger>(d).map(|t| t.summary())
    })
    .await
}

/// The trigger and its revision, or 404.
pub(crate) async fn read(
    call: &Call,
    fqn: &FullyQualifiedName,
) -> Result<(Trigger, u64), ApiError> {
    let doc = call
        .ctl
        .entities
        .get(Collection::Triggers, fqn)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((decode(&doc)?, doc.revision))
}

/// `GET .../triggers/{name}`.
pub(super) async fn get(call: &Call, name: &EntityName) -> Result<Response, ApiError> {
    let (trigger, _) = read(call, &call.fqn(name)).await?;
    Ok(Json(to_value(&trigger)?).into_response())
}

/// `PUT .../triggers/{name}?overwrite=`.
pub(super) async fn put(call: &Call, name: &EntityName, body: Body) -> Result<Response, ApiError> {
    let ctl = &call.ctl;
    let overwrite = call.query.bool("overwrite", false)?;
    let bytes = read_body(body, &call.headers, ctl.config.max_request).await?;
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?
    };
    let Value::Object(mut obj) = value else {
        return Err(malformed("JSON object expected"));
    };
    let mut take = |key: &str| obj.remove(key).filter(|v| !v.is_null());
    let parameters = take("parameters")
        .map(|v| body::key_values(v, "parameters"))
        .transpose()?;
    let annotations = take("annotations")
        .map(|v| body::key_values(v, "annotations"))
        .transpose()?;
    let publish = take("publish").map(|v| body::publish(&v)).transpose()?;
    let version = take("version").map(|v| body::version(&v)).transpose()?;
    if let Some(feed) = annotations.as_ref().and_then(|a| a.get(FEED)) {
        let valid = feed
            .as_str()
            .is_some_and(|f| FullyQualifiedName::parse(f).is_ok());
        if !valid {
            return Err(ApiError::BadRequest("Feed name is not valid".into()));
        }
    }
    let fqn = call.fqn(name);
    let existing = ctl.entities.get(Collection::Triggers, &fqn).await?;
    let (old, revision): (Option<Trigger>, Option<u64>) = match existing {
        Some(_) if !overwrite => return Err(StoreError::AlreadyExists.into()),
        Some(doc) => (Some(decode(&doc)?), Some(doc.revision)),
        None => (None, None),
    };
    if old.is_none() {
        super::check_capacity(call, Collection::Triggers).await?;
    }
    let trigger = match old {
        None => Trigger {
            namespace: EntityPath::namespace_only(call.namespace.clone()),
            name: name.clone(),
            parameters: parameters.unwrap_or_default(),
            limits: json!({}),
            version: version.unwrap_or_default(),
            publish: publish.unwrap_or(false),
            annotations: annotations.unwrap_or_default(),
            rules: None,
            updated: 0,
        },
        Some(old) => Trigger {
            parameters: parameters.unwrap_or(old.parameters),
            version: version.unwrap_or_else(|| old.version.bump_patch()),
            publish: publish.unwrap_or(old.publish),
            annotations: annotations.unwrap_or(old.annotations),
            ..old
        },
    };
    for (field, v) in [
        ("parameters", to_value(&trigger.parameters)?),
        ("annotations", to_value(&trigger.annotations)?),
    ] {
        let size = v.to_string().len();
        if size > ctl.config.max_parameters {
            return Err(ApiError::TooLarge {
                field,
                size: size as u64,
                max: ctl.config.max_parameters as u64,
            });
        }
    }
    let doc = ctl
        .entities
        .put(Collection::Triggers, &fqn, to_value(&trigger)?, revision)
        .await?;
    Ok(Json(doc.body).into_response())
}

/// `DELETE .../triggers/{name}`: its rules stay (and read as inactive).
pub(super) async fn delete(call: &Call, name: &EntityName) -> Result<Response, ApiError> {
    let fqn = call.fqn(name);
    let (trigger, revision) = read(call, &fqn).await?;
    if !call
        .ctl
        .entities
        .delete(Collection::Triggers, &fqn, revision)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(Json(to_value(&trigger)?).into_response())
}

/// `POST .../triggers/{name}`: 202 with the trigger activation id, or 204 when no rule is
/// active.
pub(super) async fn fire(call: &Call, name: &EntityName, body: Body) -> Response {
    match fire_inner(call, name, body).await {
        Ok(Fired::NoActiveRule) => StatusCode::NO_CONTENT.into_response(),
        Ok(Fired::Fired(id)) => with_id(accepted(id), id),
        Err(e) => e.into_response(),
    }
}

fn with_id(mut resp: Response, id: ActivationId) -> Response {
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        resp.headers_mut().insert(ACTIVATION_ID_HEADER, v);
    }
    resp
}

async fn fire_inner(call: &Call, name: &EntityName, body: Body) -> Result<Fired, ApiError> {
    let ctl = &call.ctl;
    let bytes = read_body(body, &call.headers, ctl.config.max_payload).await?;
    let payload = parse_payload(&bytes)?;
    let mut headers = Map::new();
    for (k, v) in &call.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers.insert(k.as_str().to_ascii_lowercase(), Value::String(v));
    }
    let firing = Firing {
        tid: call.tid.clone(),
        user: call.caller.identity.clone(),
        api_key: Some(call.caller.key.clone()),
        trigger: call.fqn(name),
        payload,
        headers: Some(headers),
    };
    ctl.fire(firing).await
}
