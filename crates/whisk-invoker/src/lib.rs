//! The rwhisk invoker: takes activation messages from its bus topic, runs each one in a
//! container that speaks the action protocol (`/init` once, `/run` per activation,
//! reference §8), stores the activation record, acknowledges the message and notifies the
//! controller that waits for it.
//!
//! # Layout
//! - [`InvokerConfig`]: capacity, idle timeout, container limits, API host, runtime
//!   images and [`StemCells`].
//! - [`Invoker`]: the bus loop, lease extension while an activation runs, redelivery
//!   and duplicate handling (one run per activation id), heartbeats, drain and shutdown.
//! - `runner`: one activation from message to record (timings, `/init`, `/run`, logs).
//! - `pool`: warm containers keyed by action revision, memory capacity, waiting callers,
//!   eviction, idle reaping, retirement of changed actions; `pool::stem` keeps prewarmed
//!   stem cells per kind that cold starts of that kind take.
//! - [`ContainerFactory`]: the engine seam; [`DockerFactory`] implements it over the
//!   Docker Engine API, [`ProcessFactory`] with local `whisk-proxy` processes (native kinds
//!   only, no isolation, for machines without Docker), [`RuncFactory`] with `runc` directly
//!   on the root filesystems of dockerd's images.
//! - [`freezer`]: freezing and thawing a cgroup (v1 and v2), with which the factories
//!   pause idle containers.
//! - `code`: action code fetched by digest from the store on a cold start, cached by
//!   total bytes.
//! - `client`: keep-alive HTTP to containers with a bounded body read. What goes over it
//!   (bodies, token header, error texts, the sentinel) is `whisk_protocol`'s, which the
//!   proxy in the container reads with the same code.
//! - [`outcome`]: container replies to activation responses, with OpenWhisk's texts.
//! - [`logs`]: log lines, sentinels, formatting and the log limit.
//! - [`metrics`]: activations, starts, durations and containers for `/metrics`.
#![forbid(unsafe_code)]

mod client;
mod code;
mod config;
mod docker;
mod factory;
pub mod freezer;
mod invoker;
pub mod logs;
pub mod metrics;
pub mod outcome;
mod pool;
mod process;
mod runc;
mod runner;

pub use config::{
    host_memory_budget_mb, InvokerConfig, StemCells, DEFAULT_PAUSE_GRACE, HOST_BUDGET_MAX_MB,
    HOST_BUDGET_MIN_MB,
};
pub use docker::{ActionNetwork, DockerFactory, DEFAULT_ACTION_NETWORK, DEFAULT_SOCKET};
pub use factory::{
    cpu_shares, new_token, ContainerFactory, ContainerHandle, ContainerSpec, FactoryError,
    LABEL_ACTION, LABEL_INVOKER, LABEL_REVISION, LABEL_STEM_CELL,
};
pub use freezer::Freezer;
pub use invoker::{Invoker, InvokerError};
pub use logs::{LogLine, LogLines, LogStream};
pub use metrics::InvokerMetrics;
pub use process::{ProcessConfig, ProcessFactory, ProcessRuntime};
pub use runc::{bundle_config, RuncFactory, RuncImage, DEFAULT_RUNC};
pub use whisk_protocol::ENV_API_HOST;
