//! Unauthenticated routes: server info (`GET /`), API info (`GET /api/v1`), `/ping`,
//! `/metrics`, `/invokers` and the fallback for unknown paths.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::controller::Controller;
use crate::error::ApiError;

const MB: u64 = 1024 * 1024;

/// `GET /`: description, support links, limits (memory and logs in bytes) and runtimes.
pub(crate) async fn server_info(State(ctl): State<Arc<Controller>>) -> Response {
    let l = &ctl.config.limits;
    let b = &ctl.config.action_limits;
    Json(json!({
        "description": "OpenWhisk",
        "support": {
            "github": "https://github.com/apache/openwhisk/issues",
            "slack": "http://slack.openwhisk.org",
        },
        "api_paths": ["/api/v1"],
        "limits": {
            "actions_per_minute": l.invocations_per_minute,
            "triggers_per_minute": l.fires_per_minute,
            "concurrent_actions": l.concurrent_invocations,
            "sequence_length": l.sequence_length,
            "min_action_duration": b.timeout_min,
            "max_action_duration": b.timeout_max,
            "min_action_memory": b.memory_min * MB,
            "max_action_memory": b.memory_max * MB,
            "min_action_logs": b.logs_min * MB,
            "max_action_logs": b.logs_max * MB,
            "default_min_action_duration": b.timeout_min,
            "default_max_action_duration": b.timeout_max,
            "default_min_action_memory": b.memory_min * MB,
            "default_max_action_memory": b.memory_max * MB,
            "default_min_action_logs": b.logs_min * MB,
            "default_max_action_logs": b.logs_max * MB,
        },
        "runtimes": ctl.config.runtimes.to_json(),
    }))
    .into_response()
}

/// `GET /api/v1` and `GET /api/v1/`.
pub(crate) async fn api_info(State(ctl): State<Arc<Controller>>) -> Response {
    Json(json!({
        "description": "OpenWhisk API",
        "api_version": "1.0.0",
        "api_version_path": "v1",
        "build": ctl.config.build,
        "buildno": ctl.config.buildno,
        "swagger_paths": { "ui": "/docs", "api-docs": "/api-docs" },
        "runtimes": ctl.config.runtimes.to_json(),
    }))
    .into_response()
}

/// `GET /ping`: liveness.
pub(crate) async fn ping() -> &'static str {
    "pong"
}

/// `GET /metrics`: every registered metric in the OpenMetrics text format (Prometheus
/// scrapes it). Aggregates only, no namespace: it needs no authentication.
pub(crate) async fn metrics(State(ctl): State<Arc<Controller>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        ctl.render_metrics(),
    )
        .into_response()
}

/// `GET /invokers`: the invokers this controller knows and their health, as OpenWhisk
/// shows it (`{"invoker0/0": "up", "invoker1/1": "down"}`).
pub(crate) async fn invokers(State(ctl): State<Arc<Controller>>) -> Response {
    Json(ctl.balancer.invokers_json()).into_response()
}

/// Any path no route matches.
pub(crate) async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// The platform's own swagger 2.0 document.
const API_DOCS: &str = include_str!("apiv1swagger.json");

/// `GET /api/v1/api-docs`: the swagger document of this API, as OpenWhisk serves its
/// `apiv1swagger.json`.
pub(crate) async fn api_docs() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        API_DOCS,
    )
        .into_response()
}
