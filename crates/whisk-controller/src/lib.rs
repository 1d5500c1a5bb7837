//! The rwhisk controller: OpenWhisk's REST API (`/api/v1`) over the store and bus traits.
//! It authenticates callers, keeps entities (actions, packages, triggers, rules) in the
//! [`EntityStore`](whisk_store::EntityStore), publishes invocations to invoker topics, waits
//! for completions of blocking invokes, runs sequences and conductors itself, fires
//! triggers through their rules, serves web actions and activation records, and hosts the
//! built-in `/whisk.system/alarms` feeds with their scheduler. `whiskd` serves [`router`]
//! on HTTP and HTTPS; it includes the web UI of `whisk-ui` at `/ui/`.
//!
//! # Layout
//! - [`config`] holds [`ControllerConfig`].
//! - [`controller`] holds [`Controller`], the shared state, its background tasks, and the
//!   blocking-wait machinery.
//! - `routes` has the handlers; everything under `/api/v1/namespaces` is parsed and
//!   dispatched by hand so encoded and unencoded package paths both work; `routes/web`
//!   serves `/api/v1/web`.
//! - `resolve` turns names into entities with entitlement, bindings and parameter merge;
//!   `entity_cache` keeps what invokes resolved, dropped on every write.
//! - `invocation` is the one internal invoke path (REST, web, rules, compositions);
//!   `composition` runs sequences and conductors as tasks with a row in the store (so a
//!   crash still ends them in a record), `sequence` and `conductor` step them, and
//!   `lineage` bounds the depth and size of what one invocation causes; `fire` fires
//!   triggers.
//! - `apis` is the API gateway: routes stored as swagger per base path, the `apimgmt`
//!   endpoints OpenWhisk's clients call, and `/api/{tenant}/...` serving routes through
//!   the web action path.
//! - `entities` types packages, triggers and rules; `system` makes `whisk.system`.
//! - `alarms` runs the built-in feeds; `alarms::cron`, `alarms::plan` and
//!   `alarms::scheduler` compute and fire their ticks.
//! - `action_body` has the action PUT rules (create, update merge, validation).
//! - `body` parses the fields every entity PUT shares (parameters, annotations, publish,
//!   version) and makes the malformed-content error.
//! - [`error`] holds [`ApiError`], the one mapping of failures to statuses and texts.
//! - `transaction` is the layer giving every response `X-Request-ID`, CORS and the error body.
//! - `auth` does Basic authentication (Argon2-hashed keys) with a short-lived cache, and
//!   accepts the activation keys invokers mint for running activations.
//! - `ow_headers` builds the `__ow_headers` actions see, without what authenticated.
//! - `throttle` enforces the per-namespace rate and concurrency limits and reads the
//!   limits an operator set per namespace.
//! - `recent` keeps the completions received lately, so a record is readable before the
//!   invoker has stored it (read-your-writes).
//! - [`metrics`] counts requests and invocations for `GET /metrics`.
//! - [`balancer`] places activations on invokers (OpenWhisk's sharding balancer) and
//!   keeps their health from heartbeats, shown by `GET /invokers`.
//! - [`runtimes`] is the runtimes manifest.
#![forbid(unsafe_code)]

mod action_body;
mod alarms;
mod apis;
mod auth;
pub mod balancer;
mod body;
mod composition;
mod conductor;
pub mod config;
pub mod controller;
mod entities;
mod entity_cache;
pub mod error;
mod fire;
mod invocation;
mod lineage;
pub mod metrics;
mod ow_headers;
mod recent;
mod request;
mod resolve;
mod routes;
pub mod runtimes;
mod sequence;
mod system;
mod throttle;
mod transaction;

use std::sync::Arc;

use axum::routing::{any, get};
use axum::Router;

pub use action_body::{EXEC_ANNOTATION, PROVIDE_API_KEY};
pub use apis::Https;
pub use auth::Caller;
pub use balancer::{Balancer, InvokerHealth, MAX_INVOKERS};
pub use config::{ControllerConfig, NamespaceLimits};
pub use controller::{Controller, ControllerError};
pub use error::ApiError;
pub use metrics::{InvokeOutcome, Metrics};
pub use request::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};
pub use routes::ACTIVATION_ID_HEADER;
pub use runtimes::{RuntimeKind, RuntimeManifest};
pub use transaction::REQUEST_ID;

/// The whole HTTP API of a controller, ready to serve (`axum::serve(listener, router(c))`).
pub fn router(controller: Arc<Controller>) -> Router {
    let ns = routes::NAMESPACES;
    let routes = Router::new()
        .route("/", get(routes::server_info))
        .route("/ping", get(routes::ping))
        .route("/metrics", get(routes::metrics))
        .route("/invokers", get(routes::invokers))
        .route("/api/v1", get(routes::api_info))
        .route("/api/v1/", get(routes::api_info))
        .route("/api/v1/api-docs", get(routes::api_docs))
        .route(
            "/api/v1/web/whisk.system/apimgmt/{op}",
            any(apis::mgmt::handle),
        )
        .route("/api/{tenant}", any(apis::serve::handle))
        .route("/api/{tenant}/", any(apis::serve::handle))
        .route("/api/{tenant}/{*rest}", any(apis::serve::handle))
        .route(routes::WEB, any(routes::web::handle))
        .route(
            &format!("{}/{{*rest}}", routes::WEB),
            any(routes::web::handle),
        )
        .route(ns, any(routes::namespaced))
        .route(&format!("{ns}/"), any(routes::namespaced))
        .route(&format!("{ns}/{{*rest}}"), any(routes::namespaced))
        .merge(whisk_ui::router())
        .fallback(routes::not_found)
        .with_state(controller.clone());
    // The transaction layer wraps the router as one service, so it sees every response
    // as sent (axum's `Router::layer` would wrap each route before `Allow` is set on 405s).
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn_with_state(
            controller,
            transaction::layer,
        ))
}
