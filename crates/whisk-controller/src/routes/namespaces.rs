//! `GET /api/v1/namespaces` and `GET /api/v1/namespaces/{ns}/limits`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::Call;
use crate::auth::Caller;

/// The caller's namespaces: one per key.
pub(super) fn list(caller: &Caller) -> Response {
    Json(json!([caller.identity.namespace])).into_response()
}

/// The limits enforced for the namespace: the system's, with what an operator set for it
/// (`allowedKinds` and `storeActivations` only when set). Memory and logs in MB, timeouts
/// in ms.
pub(super) async fn limits(call: &Call) -> Response {
    let c = &call.ctl.config;
    let l = call.ctl.limits_of(&call.namespace).await;
    let b = &c.action_limits;
    let mut body = json!({
        "invocationsPerMinute": l.invocations_per_minute,
        "concurrentInvocations": l.concurrent_invocations,
        "firesPerMinute": l.fires_per_minute,
        "minActionMemory": b.memory_min,
        "maxActionMemory": b.memory_max,
        "minActionLogs": b.logs_min,
        "maxActionLogs": b.logs_max,
        "minActionTimeout": b.timeout_min,
        "maxActionTimeout": b.timeout_max,
        "minActionConcurrency": 1,
        "maxActionConcurrency": b.concurrency_max,
        "maxParameterSize": format!("{} B", c.max_parameters),
        "maxActionInstances": l.concurrent_invocations,
    });
    if let Some(kinds) = &l.allowed_kinds {
        body["allowedKinds"] = json!(kinds);
    }
    if !l.store_activations {
        body["storeActivations"] = json!(false);
    }
    Json(body).into_response()
}
