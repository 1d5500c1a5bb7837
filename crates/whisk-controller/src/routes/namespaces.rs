//! `GET /api/v1/namespaces` and `GET /api/v1/namespaces/{ns}/limits`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use whisk_types::action::limits;

use super::Call;
use crate::auth::Caller;

/// The caller's namespaces: one per key.
pub(super) fn list(caller: &Caller) -> Response {
    Json(json!([caller.identity.namespace])).into_response()
}

/// Effective limits of the namespace (memory and logs in MB, timeouts in ms).
pub(super) fn limits(call: &Call) -> Response {
    let c = &call.ctl.config;
    Json(json!({
        "invocationsPerMinute": c.limits.invocations_per_minute,
        "concurrentInvocations": c.limits.concurrent_invocations,
        "firesPerMinute": c.limits.fires_per_minute,
        "minActionMemory": limits::MEMORY_MIN,
        "maxActionMemory": limits::MEMORY_MAX,
        "minActionLogs": limits::LOGS_MIN,
        "maxActionLogs": limits::LOGS_MAX,
        "minActionTimeout": limits::TIMEOUT_MIN,
        "maxActionTimeout": limits::TIMEOUT_MAX,
        "minActionConcurrency": 1,
        "maxActionConcurrency": limits::CONCURRENCY_MAX,
        "maxParameterSize": format!("{} B", c.max_parameters),
        "maxActionInstances": c.limits.concurrent_invocations,
    }))
    .into_response()
}
