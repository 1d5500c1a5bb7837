//! Controller settings: identity on the bus, invoker topics, size limits, the blocking wait,
//! throttles and the runtimes manifest. Built by the binary, validated there, passed down
//! whole.

use std::time::Duration;

use whisk_types::{LimitBounds, SigningKey};

use crate::runtimes::RuntimeManifest;

/// The system's per-namespace limits (reference §7.2), enforced by the throttles and
/// reported by `GET /` and `GET .../limits`. An operator overrides the first three per
/// namespace (`whiskd admin limits set`).
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
    /// This controller's id, stable across its restarts: the compositions it leaves
    /// running when it stops are found again by it.
    pub id: String,
    /// Names this process among running controllers: invokers send completions to
    /// `completion_subject("<id>-<boot>")` (just `<id>` when empty), so two processes
    /// never take each other's completions, even given the same id. `whiskd controller`
    /// makes a random one per start.
    pub boot: String,
    /// Invokers counted as up before (and without) any heartbeat of theirs: the one in
    /// `whiskd standalone`. Controllers of a scaled-out deployment leave it empty and
    /// learn invokers from their heartbeats.
    pub invokers: Vec<u32>,
    /// How many controllers share the deployment: each admits `1 / cluster_size` of a
    /// namespace's throttles and uses `1 / cluster_size` of each invoker's memory.
    pub cluster_size: u64,
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
    /// How long a successful authentication stays cached before the identity store is asked
    /// again: the longest a deleted, blocked or replaced key keeps working.
    pub auth_cache_ttl: Duration,
    /// How long an action resolved for an invoke stays cached without a store read (the
    /// identity owning an action's namespace is cached for `auth_cache_ttl`). Writes through any controller drop entries at once; this
    /// bounds what a lost invalidation costs. Zero turns the cache off.
    pub entity_cache_ttl: Duration,
    /// The kinds actions may use besides `blackbox`.
    pub runtimes: RuntimeManifest,
    /// Per-namespace limits: the throttles' defaults, reported to clients.
    pub limits: NamespaceLimits,
    /// The length of a throttle window: one minute, as the limits' names say. Only tests
    /// shorten it, to see a window end without waiting a minute.
    pub throttle_window: Duration,
    /// How long the limits an operator set for a namespace are cached before the store is
    /// asked again (how soon `whiskd admin limits set` takes effect).
    pub limits_cache_ttl: Duration,
    /// Most entities of one collection (actions, packages, triggers, rules) a namespace
    /// may hold; creating one more is refused with 403.
    pub max_entities: u64,
    /// The ranges action limits (timeout, memory, logs, concurrency) must fall in.
    pub action_limits: LimitBounds,
    /// Shortest period between two ticks of an alarm; feeds asking for more often are
    /// refused with 400.
    pub alarm_min_period: Duration,
    /// The latest second of its minute a 5-field cron alarm that is not `strict` fires at
    /// (a hash of the trigger's name picks it, as openwhisk-package-alarms'
    /// `ALARM_DELAY_LIMIT`); 0 fires every alarm at the top of its minute. At most 59.
    pub alarm_delay_limit: u8,
    /// How often the alarm scheduler looks for due ticks (its resolution).
    pub scheduler_interval: Duration,
    /// Longest a sequence or conductor waits for a nested composition; when it gives up
    /// (and so ends), the nested one is cancelled.
    pub composition_wait: Duration,
    /// Checks the API keys invokers mint for running activations; the invokers must hold
    /// the same key. Random by default (then only invokers given this value mint keys the
    /// controller accepts); never stored.
    pub signing_key: SigningKey,
}

impl ControllerConfig {
    /// Where invokers send this process's completions (see `boot`).
    pub fn completion_id(&self) -> String {
        if self.boot.is_empty() {
            self.id.clone()
        } else {
            format!("{}-{}", self.id, self.boot)
        }
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            id: "0".to_owned(),
            boot: String::new(),
            invokers: vec![0],
            cluster_size: 1,
            build: env!("CARGO_PKG_VERSION").to_owned(),
            buildno: "dev".to_owned(),
            blocking_wait: Duration::from_secs(60),
            max_payload: 1024 * 1024,
            max_request: 50 * 1024 * 1024,
            max_exec: 48 * 1024 * 1024,
            max_parameters: 1024 * 1024,
            auth_cache_ttl: Duration::from_secs(5),
            entity_cache_ttl: Duration::from_secs(5),
            runtimes: RuntimeManifest::default(),
            limits: NamespaceLimits::default(),
            throttle_window: Duration::from_secs(60),
            limits_cache_ttl: Duration::from_secs(2),
            max_entities: 1000,
            action_limits: LimitBounds::default(),
            alarm_min_period: Duration::from_secs(60),
            alarm_delay_limit: 59,
            scheduler_interval: Duration::from_secs(1),
            composition_wait: Duration::from_secs(3600),
            signing_key: SigningKey::generate(),
        }
    }
}
