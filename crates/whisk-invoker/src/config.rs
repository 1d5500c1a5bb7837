//! The invoker's settings, built by the binary and passed down unchanged.

use std::collections::HashMap;
use std::time::Duration;

use whisk_types::SigningKey;

use crate::metrics::InvokerMetrics;

/// How one invoker runs. Build it with struct update syntax over [`Default`].
#[derive(Debug, Clone)]
pub struct InvokerConfig {
    /// The invoker's number: it names the topic consumed (`invoker<id>`) and labels the
    /// containers, so a restarted invoker finds and removes its own leftovers.
    pub id: u32,
    /// Names the installation this invoker belongs to. Together with `id` it forms the
    /// value of the `rwhisk.invoker` label, so two installations on one Docker engine (two
    /// data directories, parallel tests) never remove each other's containers.
    pub instance: String,
    /// Memory capacity in MB shared by all containers; a cold start needs the action's
    /// memory limit free (idle and paused containers of other actions are evicted to make
    /// room, least recently used first). [`host_memory_budget_mb`] sizes it to the host.
    pub memory_mb: u64,
    /// An idle container is removed after this long without an activation.
    pub idle_timeout: Duration,
    /// An idle container is paused (frozen, keeping its memory) after this long without
    /// an activation, and resumed when taken; zero: never paused. Only where the factory
    /// can pause (Docker, runc).
    pub pause_grace: Duration,
    /// The pids limit of every container.
    pub pids_limit: i64,
    /// Given to containers as `__OW_API_HOST`, so actions can call the API back.
    pub api_host: String,
    /// Images for code kinds (`nodejs:20` → image); blackbox actions name their own image.
    pub runtime_images: HashMap<String, String>,
    /// Prewarmed containers to keep per kind (none by default). Their memory counts
    /// against `memory_mb`; they are evicted last when memory is short.
    pub stem_cells: Vec<StemCells>,
    /// Deliveries being processed at once (running or waiting for pool capacity).
    pub max_in_flight: usize,
    /// How long shutdown waits for running activations before removing their containers.
    pub shutdown_grace: Duration,
    /// How long log collection waits for the sentinel lines after `/run` returned.
    pub log_wait: Duration,
    /// Signs the API keys minted for activations (`__OW_API_KEY`); the controllers must
    /// hold the same key to accept them. Random by default; never stored.
    pub signing_key: SigningKey,
    /// How long an activation waits for a container (memory to start one, or a warm one
    /// to come free) before it ends in a whisk error record.
    pub container_wait: Duration,
    /// The most bytes of action code kept in memory, fetched by digest from the store.
    pub code_cache_bytes: u64,
    /// Where the invoker counts what it does (`whiskd` registers and serves them).
    pub metrics: InvokerMetrics,
}

impl Default for InvokerConfig {
    fn default() -> Self {
        Self {
            id: 0,
            instance: String::new(),
            memory_mb: 2048,
            idle_timeout: Duration::from_secs(600),
            pause_grace: DEFAULT_PAUSE_GRACE,
            pids_limit: 1024,
            api_host: "http://127.0.0.1:3233".into(),
            runtime_images: HashMap::new(),
            stem_cells: Vec::new(),
            max_in_flight: 128,
            shutdown_grace: Duration::from_secs(30),
            log_wait: Duration::from_secs(2),
            signing_key: SigningKey::generate(),
            container_wait: Duration::from_secs(120),
            code_cache_bytes: 256 * 1024 * 1024,
            metrics: InvokerMetrics::default(),
        }
    }
}

/// OpenWhisk's pause grace: an idle container is paused 50 ms after its last activation.
pub const DEFAULT_PAUSE_GRACE: Duration = Duration::from_millis(50);

/// The smallest and largest container memory budget [`host_memory_budget_mb`] gives.
pub const HOST_BUDGET_MIN_MB: u64 = 1024;
pub const HOST_BUDGET_MAX_MB: u64 = 256 * 1024;

/// The container memory budget sized to this host: three quarters of `MemTotal` in
/// `/proc/meminfo`, at least [`HOST_BUDGET_MIN_MB`] and at most [`HOST_BUDGET_MAX_MB`];
/// [`HOST_BUDGET_MIN_MB`] where `/proc/meminfo` cannot be read. What is counted are the
/// containers' memory limits, which idle (and paused) containers rarely fill.
pub fn host_memory_budget_mb() -> u64 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total_kb(&m));
    budget_of(total_kb)
}

fn budget_of(total_kb: Option<u64>) -> u64 {
    total_kb.map_or(HOST_BUDGET_MIN_MB, |kb| {
        (kb / 1024 / 4 * 3).clamp(HOST_BUDGET_MIN_MB, HOST_BUDGET_MAX_MB)
    })
}

/// `MemTotal` of a `/proc/meminfo` text, in kB.
fn mem_total_kb(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?.trim();
        rest.strip_suffix("kB").unwrap_or(rest).trim().parse().ok()
    })
}

/// Prewarmed containers of one kind (OpenWhisk's stem cells): started when the invoker
/// starts, before any action needs them, and refilled in the background after one is
/// taken, so a cold start of that kind pays only `/init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StemCells {
    /// The kind (`nodejs:18`); the image is the kind's entry in `runtime_images`.
    pub kind: String,
    /// How many to keep ready.
    pub count: usize,
    /// The memory limit of each, in MB. An action takes a stem cell whose memory is at
    /// least its own limit (the container keeps the stem cell's limit).
    pub memory_mb: u64,
}

impl InvokerConfig {
    /// The value of the `rwhisk.invoker` label on this invoker's containers.
    pub fn label(&self) -> String {
        if self.instance.is_empty() {
            self.id.to_string()
        } else {
            format!("{}-{}", self.instance, self.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_budget_is_three_quarters_of_memory_within_bounds() {
        let meminfo = "MemTotal:       24634120 kB\nMemFree:  1000 kB\n";
        assert_eq!(mem_total_kb(meminfo), Some(24_634_120));
        assert_eq!(budget_of(mem_total_kb(meminfo)), 24_634_120 / 1024 / 4 * 3);
        assert_eq!(budget_of(Some(512 * 1024)), HOST_BUDGET_MIN_MB);
        assert_eq!(budget_of(Some(4096 * 1024 * 1024)), HOST_BUDGET_MAX_MB);
        assert_eq!(budget_of(None), HOST_BUDGET_MIN_MB);
        assert_eq!(mem_total_kb("garbage"), None);
        let here = host_memory_budget_mb();
        assert!((HOST_BUDGET_MIN_MB..=HOST_BUDGET_MAX_MB).contains(&here));
    }
}
