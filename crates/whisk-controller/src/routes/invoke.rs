//! `POST .../actions/{name}`: invoke (reference §6.1). Publishes the activation to an
//! invoker topic; non-blocking calls get 202 at once, blocking ones wait for the completion
//! (or a stored record) up to `timeout`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use whisk_types::{Activation, ActivationId, FullyQualifiedName, ResponseStatus};

use super::Call;
use crate::error::ApiError;
use crate::invocation::{check_final, Invocation};
use crate::metrics::InvokeOutcome;
use crate::request::read_body;
use crate::resolve::invocable;

/// Header carrying the activation id on every invoke response.
pub const ACTIVATION_ID_HEADER: HeaderName = HeaderName::from_static("x-openwhisk-activation-id");

/// Invokes the action. Responses once the activation id exists carry it as a header:
/// 200, 202, 502 and every 5xx; refusals of the request itself (4xx) do not.
pub(super) async fn invoke(call: &Call, fqn: &FullyQualifiedName, body: Body) -> Response {
    let id = ActivationId::generate();
    let mut resp = match run(call, fqn, body, id).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    if !resp.status().is_client_error() {
        if let Ok(v) = HeaderValue::from_str(id.as_str()) {
            resp.headers_mut().insert(ACTIVATION_ID_HEADER, v);
        }
    }
    resp
}

async fn run(
    call: &Call,
    fqn: &FullyQualifiedName,
    body: Body,
    id: ActivationId,
) -> Result<Response, ApiError> {
    let ctl = &call.ctl;
    let q = &call.query;
    let blocking = q.bool("blocking", false)?;
    let result_only = q.bool("result", false)?;
    let timeout = parse_timeout(q.get("timeout"), ctl.config.blocking_wait)?;
    let bytes = read_body(body, &call.headers, ctl.config.max_payload).await?;
    let payload = parse_payload(&bytes)?;

    let target = invocable(ctl, call.own(), fqn).await?;
    check_final(&target, payload.keys())?;
    let mut inv = Invocation::new(
        call.tid.clone(),
        call.caller.identity.clone(),
        target,
        Value::Object(payload),
    );
    inv.id = id;
    inv.received_at = call.received_at;
    inv.blocking = blocking;

    if !blocking {
        ctl.activate(inv).await?;
        ctl.metrics.record_invocation(InvokeOutcome::Accepted);
        return Ok(accepted(id));
    }
    let started = tokio::time::Instant::now();
    let finished = ctl.activate_and_wait(inv, timeout).await?;
    ctl.metrics.record_blocking_wait(started.elapsed());
    let Some(activation) = finished else {
        ctl.metrics.record_invocation(InvokeOutcome::Timeout);
        return Ok(accepted(id));
    };
    let (status, outcome) = match activation.response.status() {
        ResponseStatus::Success => (StatusCode::OK, InvokeOutcome::Success),
        ResponseStatus::ApplicationError => {
            (StatusCode::BAD_GATEWAY, InvokeOutcome::ApplicationError)
        }
        ResponseStatus::DeveloperError => (StatusCode::BAD_GATEWAY, InvokeOutcome::DeveloperError),
        ResponseStatus::WhiskError => {
            (StatusCode::INTERNAL_SERVER_ERROR, InvokeOutcome::WhiskError)
        }
    };
    ctl.metrics.record_invocation(outcome);
    Ok((status, Json(activation_body(&activation, result_only))).into_response())
}

pub(crate) fn accepted(id: ActivationId) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "activationId": id }))).into_response()
}

/// The full record, or only the result; an array result is always bare.
fn activation_body(a: &Activation, result_only: bool) -> Value {
    if result_only || a.response.result.is_array() {
        a.response.result.clone()
    } else {
        a.to_api_json()
    }
}

/// `timeout` in ms, 1..=max; the max when absent.
fn parse_timeout(v: Option<&str>, max: Duration) -> Result<Duration, ApiError> {
    let Some(v) = v else {
        return Ok(max);
    };
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    match v.trim().parse::<u64>() {
        Ok(ms) if ms >= 1 && ms <= max_ms => Ok(Duration::from_millis(ms)),
        _ => Err(ApiError::MalformedQuery {
            name: "timeout",
            message: format!("Timeout must be number of milliseconds up to {max_ms}."),
        }),
    }
}

/// An invoke payload: a JSON object, or empty.
pub(crate) fn parse_payload(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::Malformed("JSON object expected".into())),
        Err(e) => Err(ApiError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        let max = Duration::from_secs(60);
        assert_eq!(parse_timeout(None, max).unwrap(), max);
        assert_eq!(
            parse_timeout(Some("250"), max).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_timeout(Some("60000"), max).unwrap(), max);
        for bad in ["0", "60001", "-5", "x", ""] {
            assert_eq!(
                parse_timeout(Some(bad), max).unwrap_err().to_string(),
                "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 60000.",
                "{bad}"
            );
        }
    }

    #[test]
    fn payloads() {
        assert!(parse_payload(b"").unwrap().is_empty());
        assert!(parse_payload(b" \n").unwrap().is_empty());
        assert_eq!(parse_payload(br#"{"a":1}"#).unwrap()["a"], 1);
        assert!(parse_payload(b"[1]").is_err());
        assert!(parse_payload(b"{").is_err());
    }
}
