//! The seam between the pool and a container engine: create and start a container that
//! serves the action protocol on a loopback port, read its log, pause and resume it while
//! idle, remove it.
//!
//! Every container gets a secret of its own ([`new_token`]) when it is created; the proxy
//! in it answers only requests that carry it ([`ContainerHandle::token`]), so code in one
//! container cannot `/init` or `/run` another even where it can reach its port.

use std::net::SocketAddr;

use async_trait::async_trait;

use crate::logs::LogLines;

/// Label carrying the invoker id, used to find an invoker's containers (and leftovers).
pub const LABEL_INVOKER: &str = "rwhisk.invoker";
/// Label carrying the action's fully qualified name.
pub const LABEL_ACTION: &str = "rwhisk.action";
/// Label carrying the action's revision.
pub const LABEL_REVISION: &str = "rwhisk.revision";
/// Label carrying the kind of a stem cell (a container started before any action needed it,
/// see [`StemCells`](crate::StemCells)). Labels cannot change, so a stem cell keeps it (and
/// lacks [`LABEL_ACTION`]) after an action took it.
pub const LABEL_STEM_CELL: &str = "rwhisk.stem-cell";

/// The file a factory without an engine (process, runc) keeps beside each container, holding
/// its labels one `key=value` per line, so a restart finds an earlier run's containers.
pub(crate) const LABELS_FILE: &str = "labels";

/// The labels file's text.
pub(crate) fn labels_text(labels: &[(String, String)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// Whether `text` (a labels file) holds `key=value`.
pub(crate) fn has_label(text: &str, key: &str, value: &str) -> bool {
    text.lines()
        .any(|l| l.split_once('=') == Some((key, value)))
}

/// Why a factory operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactoryError {
    /// The image is not present and could not be pulled.
    #[error("image {0} is not available")]
    ImageUnavailable(String),
    /// The container stopped as soon as it started. It is left in place (with this id) so
    /// its log can still be read; the caller removes it.
    #[error("container {0} exited at start")]
    Exited(String),
    /// This factory cannot run actions of this kind; the text says why, for the developer.
    #[error("{0}")]
    Unsupported(String),
    /// Any other engine failure.
    #[error("container engine failed: {0}")]
    Engine(String),
}

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// A readable, unique container name.
    pub name: String,
    /// The action's kind (`nodejs:18`, `blackbox`): a factory without images (the process
    /// factory) picks its launcher by it.
    pub kind: String,
    pub image: String,
    /// Memory limit in MB (memory and memory plus swap).
    pub memory_mb: u64,
    /// Processes and threads the container may have at once (a fork bomb ends there).
    pub pids_limit: i64,
    /// The container's CPU weight against the others, by its share of the invoker's
    /// memory as OpenWhisk gives it ([`cpu_shares`]).
    pub cpu_shares: u64,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Labels (see [`LABEL_INVOKER`], [`LABEL_ACTION`], [`LABEL_REVISION`]).
    pub labels: Vec<(String, String)>,
}

/// A started container.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerHandle {
    /// The engine's id, passed back to [`ContainerFactory::destroy`] and `logs`.
    pub id: String,
    /// Where its port 8080 is reachable (a loopback address).
    pub addr: SocketAddr,
    /// The process whose network namespace `addr` is in, for a container without a
    /// network (the invoker connects from inside it); `None`: the invoker's own.
    pub netns_pid: Option<u32>,
    /// The secret the container's proxy demands on `/init` and `/run`, as
    /// `Authorization: Bearer <token>`; made by the factory for this container alone.
    pub token: String,
}

impl std::fmt::Debug for ContainerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: handles end up in logs.
        f.debug_struct("ContainerHandle")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("netns_pid", &self.netns_pid)
            .finish_non_exhaustive()
    }
}

/// A fresh secret for one container: 244 random bits (two v4 UUIDs) as hex.
pub fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Docker's CPU weight of a container with `memory_mb` on an invoker with `capacity_mb`,
/// as OpenWhisk computes it: the full weight 1024 divided by how many such containers fit,
/// at least 2 (the smallest weight Docker accepts).
pub fn cpu_shares(memory_mb: u64, capacity_mb: u64) -> u64 {
    let fit = capacity_mb
        .checked_div(memory_mb.max(1))
        .unwrap_or(0)
        .max(1);
    (1024 / fit).max(2)
}

/// Creates, observes and removes action containers.
#[async_trait]
pub trait ContainerFactory: Send + Sync + 'static {
    /// Creates and starts a container serving `/init` and `/run` on its port 8080.
    /// The container may still be starting up when this returns.
    ///
    /// # Errors
    /// [`FactoryError::ImageUnavailable`] when the image is missing and cannot be pulled;
    /// [`FactoryError::Exited`] when the container stopped at once (it is left for the
    /// caller to read its log and remove it); [`FactoryError::Unsupported`] for a kind the
    /// factory cannot run; [`FactoryError::Engine`] otherwise, with nothing left behind.
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError>;

    /// Stops and removes a container; removing one that is already gone succeeds.
    ///
    /// # Errors
    /// The engine refused.
    async fn destroy(&self, id: &str) -> Result<(), FactoryError>;

    /// Removes every container (running or not) labelled `key=value`; returns how many.
    ///
    /// # Errors
    /// The engine could not list or remove them.
    async fn remove_labelled(&self, key: &str, value: &str) -> Result<usize, FactoryError>;

    /// The container's log from its start, following new lines; the stream ends when the
    /// container stops.
    fn logs(&self, id: &str) -> LogLines;

    /// Whether the container ran out of memory (asked on failure paths only).
    async fn oom_killed(&self, _id: &str) -> bool {
        false
    }

    /// Freezes every process of an idle container (it keeps its memory, uses no CPU)
    /// until [`ContainerFactory::resume`]. Pausing a paused container succeeds.
    ///
    /// # Errors
    /// [`FactoryError::Unsupported`] (the default) when this factory cannot pause: the
    /// pool then never pauses its containers. Any other error: the container could not
    /// be paused and the pool removes it.
    async fn pause(&self, _id: &str) -> Result<(), FactoryError> {
        Err(FactoryError::Unsupported(
            "this container factory cannot pause containers".into(),
        ))
    }

    /// Thaws a container paused by [`ContainerFactory::pause`]; resuming a running
    /// container succeeds. [`ContainerFactory::destroy`] must remove a paused container
    /// without a resume first.
    ///
    /// # Errors
    /// The container could not be resumed; the pool removes it.
    async fn resume(&self, _id: &str) -> Result<(), FactoryError> {
        Err(FactoryError::Unsupported(
            "this container factory cannot resume containers".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares_follow_the_share_of_memory() {
        assert_eq!(cpu_shares(256, 2048), 128);
        assert_eq!(cpu_shares(512, 2048), 256);
        assert_eq!(cpu_shares(2048, 2048), 1024);
        // 2 containers of 700 MB fit in 2048 MB; 3 of 600 MB.
        assert_eq!(cpu_shares(700, 2048), 512);
        assert_eq!(cpu_shares(600, 2048), 341);
        assert_eq!(cpu_shares(128, 1_000_000), 2);
        assert_eq!(cpu_shares(0, 2048), 2);
        assert_eq!(cpu_shares(4096, 2048), 1024);
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn labels_round_trip() {
        let text = labels_text(&[
            ("rwhisk.invoker".into(), "s1-0".into()),
            ("rwhisk.action".into(), "guest/a=b".into()),
        ]);
        assert!(has_label(&text, "rwhisk.invoker", "s1-0"));
        assert!(has_label(&text, "rwhisk.action", "guest/a=b"));
        assert!(!has_label(&text, "rwhisk.invoker", "s1"));
        assert!(!has_label("", "rwhisk.invoker", "s1-0"));
    }
}
