//! The cgroup of a runc container: its directories in every hierarchy, its freezer (for
//! pauses), its OOM kills, and what is left of it after removal.

use std::path::{Path, PathBuf};

use tracing::debug;

use super::CGROUP_PARENT;
use crate::factory::FactoryError;
use crate::freezer::{CgroupVersion, Freezer};

/// The `linux.cgroupsPath` of container `id`.
pub(super) fn cgroup_of(id: &str) -> String {
    format!("/{CGROUP_PARENT}/{id}")
}

/// The directories of cgroup `path` in every mounted hierarchy (cgroup v1 controllers and
/// the unified one, or the single v2 root).
pub(super) fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let relative = path.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(relative)];
    }
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(relative))
        .collect()
}

/// The freezer of cgroup `path`: the v1 freezer controller's directory where the host has
/// one, else the v2 one; `None` before runc made the cgroup or after it is gone.
pub(super) fn freezer_of(path: &str) -> Option<Freezer> {
    let found: Vec<Freezer> = cgroup_dirs(path)
        .into_iter()
        .filter_map(|dir| Freezer::at(dir).ok())
        .collect();
    found
        .iter()
        .find(|f| f.version() == CgroupVersion::V1)
        .or(found.first())
        .cloned()
}

/// The freezer of running container `id`, for a pause or resume.
pub(super) fn container_freezer(id: &str) -> Result<Freezer, FactoryError> {
    freezer_of(&cgroup_of(id))
        .ok_or_else(|| FactoryError::Engine(format!("container {id} has no freezer cgroup")))
}

/// Removes what is left of cgroup `path` (after runc deleted its container, nothing).
pub(super) async fn remove_cgroup(path: &str) {
    for dir in cgroup_dirs(path) {
        match tokio::fs::remove_dir(&dir).await {
            Ok(()) => debug!(cgroup = %dir.display(), "Leftover cgroup removed."),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => debug!(cgroup = %dir.display(), error = %e, "Removing a cgroup failed."),
        }
    }
}

/// How often cgroup `path` had a process killed for lack of memory: `oom_kill` in the v1
/// memory controller's `memory.oom_control` or the v2 `memory.events`.
pub(super) fn oom_kills(path: &str) -> u64 {
    let root = Path::new("/sys/fs/cgroup");
    let relative = path.trim_start_matches('/');
    let candidates = [
        root.join("memory")
            .join(relative)
            .join("memory.oom_control"),
        root.join(relative).join("memory.events"),
        root.join("unified").join(relative).join("memory.events"),
    ];
    candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
        })
        .max()
        .unwrap_or(0)
}
