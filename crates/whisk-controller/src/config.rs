//! Controller settings: identity on the bus, invoker topics, size limits, the blocking wait
//! and the runtimes manifest. Built by the binary, validated there, passed down whole.

use std::time::Duration;

use whisk_types::SigningKey;

use crate::runtimes::RuntimeManifest;

/// Per-namespace invocation limits as `GET /` and `GET .../limits` report them (reference §7.2).
/// Throttling is not enforced yet; these are the values a client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceLimits {
    pub invocations_per_minute: u64,
    pub concurrent_invocations: u64,
    pub fires_per_minute: u64,
    /// Longest sequence, in atomic actions.
    pub sequence_length: u64,
}

impl Default for NamespaceLimits {
    fn default() -> Self {
        Self {
            invocations_per_minute: 60,
            concurrent_invocations: 30,
            fires_per_minute: 60,
            sequence_length: 50,
        }
    }
}

/// Everything the controller needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// This controller's id: invokers send completions to `completion_subject(id)`.
    pub id: String,
    /// Invoker topics (`invoker_topic(n)`) invocations are spread over, round robin.
    pub invokers: Vec<u32>,
    /// Reported as `build` by `GET /api/v1` (`wsk property get --apibuild`).
    pub build: String,
    /// Reported as `buildno` by `GET /api/v1`.
    pub buildno: String,
    /// Longest a blocking invoke waits, and the upper bound of its `timeout` parameter.
    pub blocking_wait: Duration,
    /// Largest invoke payload in bytes (413 above it).
    pub max_payload: usize,
    /// Largest request body in bytes on any route (room for big code).
    pub max_request: usize,
    /// Largest `exec` (code) of an action in bytes.
    pub max_exec: usize,
    /// Largest `parameters` and `annotations` of an entity in bytes, each.
    pub max_parameters: usize,
    /// How long a looked-up subject stays cached before the identity store is asked again.
    pub auth_cache_ttl: Duration,
    /// The kinds actions may use besides `blackbox`.
    pub runtimes: RuntimeManifest,
    /// Limits reported to clients.
    pub limits: NamespaceLimits,
    /// How often the alarm scheduler looks for due ticks (its resolution).
    pub scheduler_interval: Duration,
    /// Checks the API keys invokers mint for running activations; the invokers must hold
    /// the same key. Random by default (then only invokers given this value mint keys the
    /// controller accepts); never stored.
    pub signing_key: SigningKey,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            id: "0".to_owned(),
            invokers: vec![0],
            build: env!("CARGO_PKG_VERSION").to_owned(),
            buildno: "dev".to_owned(),
            blocking_wait: Duration::from_secs(60),
            max_payload: 1024 * 1024,
            max_request: 50 * 1024 * 1024,
            max_exec: 48 * 1024 * 1024,
            max_parameters: 1024 * 1024,
            auth_cache_ttl: Duration::from_secs(10),
            runtimes: RuntimeManifest::default(),
            limits: NamespaceLimits::default(),
            scheduler_interval: Duration::from_secs(1),
            signing_key: SigningKey::generate(),
        }
    }
}
