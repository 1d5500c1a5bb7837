//! How `whiskd standalone` runs action containers: the container factory (`docker`, the
//! default, on an isolating action network; `runc`, from dockerd's images without dockerd on
//! the activation path; or `process`), where the process factory finds
//! `whisk-proxy` and the launchers, and the stem cells to keep per kind. Everything here is decided once at start from the
//! flags and the runtimes manifest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use whisk_controller::runtimes::ResolvedKind;
use whisk_controller::RuntimeManifest;
use whisk_invoker::{
    ActionNetwork, ContainerFactory, DockerFactory, ProcessConfig, ProcessFactory, ProcessRuntime,
    RuncFactory, StemCells, DEFAULT_SOCKET,
};
use whisk_types::action::limits;

/// The memory of a stem cell unless `--stem-cells` says otherwise: the default action limit.
pub const DEFAULT_STEM_CELL_MEMORY_MB: u64 = limits::MEMORY_DEFAULT;
/// The directory under the data directory where the process factory keeps its processes'.
pub const PROCESS_DIR: &str = "processes";
/// The directory under the data directory where the runc factory keeps its state, bundles
/// and unpacked images.
pub const RUNC_DIR: &str = "runc";
/// The static build `images/build-*.sh` make, relative to the `target` directory.
const STATIC_PROXY: &str = "x86_64-unknown-linux-gnu/release/whisk-proxy";

/// Which container factory runs actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FactoryChoice {
    /// Containers on the local dockerd.
    #[default]
    Docker,
    /// Containers started by runc directly from the local dockerd's images (needs root).
    Runc,
    /// Local `whisk-proxy` child processes; native kinds only; isolates nothing.
    Process,
}

/// Parses `--stem-cells`: `0` (none) or `KIND=COUNT[@MEMORY_MB],...`, where KIND may be
/// `<family>:default`. Absent: one stem cell of each default kind, of
/// [`DEFAULT_STEM_CELL_MEMORY_MB`]. A kind given twice keeps its last entry; a count of 0
/// drops the kind.
///
/// # Errors
/// An unknown or blackbox kind, a bad count, a memory outside the action limits.
pub fn stem_cells(text: Option<&str>, manifest: &RuntimeManifest) -> Result<Vec<StemCells>> {
    let Some(text) = text else {
        return Ok(manifest
            .default_kinds()
            .into_iter()
            .map(|k| StemCells {
                kind: k.kind.clone(),
                count: 1,
                memory_mb: DEFAULT_STEM_CELL_MEMORY_MB,
            })
            .collect());
    };
    let text = text.trim();
    if text.is_empty() || text == "0" {
        return Ok(Vec::new());
    }
    let mut cells: Vec<StemCells> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (kind, rest) = item
            .split_once('=')
            .with_context(|| format!("stem cells {item:?}: expected KIND=COUNT[@MEMORY_MB]"))?;
        let (count, memory) = match rest.split_once('@') {
            Some((count, memory)) => (count, Some(memory)),
            None => (rest, None),
        };
        let count: usize = count
            .trim()
            .parse()
            .with_context(|| format!("stem cells {item:?}: {count:?} is not a count"))?;
        let memory_mb = match memory {
            None => DEFAULT_STEM_CELL_MEMORY_MB,
            Some(m) => m
                .trim()
                .parse()
                .with_context(|| format!("stem cells {item:?}: {m:?} is not a number of MB"))?,
        };
        if !(limits::MEMORY_MIN..=limits::MEMORY_MAX).contains(&memory_mb) {
            bail!(
                "stem cells {item:?}: memory must be {} to {} MB",
                limits::MEMORY_MIN,
                limits::MEMORY_MAX
            );
        }
        let kind = match manifest.resolve(kind) {
            Ok(ResolvedKind::Runtime(k)) => k.kind.clone(),
            Ok(ResolvedKind::Blackbox) => {
                bail!("stem cells {item:?}: blackbox actions bring their own images")
            }
            Err(e) => bail!("stem cells {item:?}: {e}"),
        };
        cells.retain(|c| c.kind != kind);
        if count > 0 {
            cells.push(StemCells {
                kind,
                count,
                memory_mb,
            });
        }
    }
    Ok(cells)
}

/// The directory holding the running `whiskd` binary.
fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

/// The `whisk-proxy` the process factory starts when `--proxy-bin` is not given: the one
/// next to `whiskd`, else a build in the `target` directory `whiskd` runs from (the
/// static release build first).
pub fn default_proxy() -> Option<PathBuf> {
    let dir = exe_dir()?;
    let beside = dir.join("whisk-proxy");
    if beside.is_file() {
        return Some(beside);
    }
    let target = dir
        .ancestors()
        .find(|d| d.file_name() == Some("target".as_ref()))?;
    [STATIC_PROXY, "release/whisk-proxy", "debug/whisk-proxy"]
        .iter()
        .map(|p| target.join(p))
        .find(|p| p.is_file())
}

/// The launchers' directory when `--runtimes-dir` is not given: `runtimes/` next to
/// `whiskd`, else the repository's `runtimes/` this binary was built from.
pub fn default_runtimes_dir() -> Option<PathBuf> {
    let beside = exe_dir()?.join("runtimes");
    if beside.is_dir() {
        return Some(beside);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../runtimes")
        .canonicalize()
        .ok()
}

/// What the process factory needs besides the manifest.
#[derive(Debug, Clone)]
pub struct ProcessPaths {
    pub proxy: Option<PathBuf>,
    pub runtimes_dir: Option<PathBuf>,
    pub work_dir: PathBuf,
}

/// What the runc factory needs.
#[derive(Debug, Clone)]
pub struct RuncPaths {
    /// The runc binary (a path, or a name in `PATH`).
    pub runc: PathBuf,
    /// Its state, bundles and unpacked images.
    pub dir: PathBuf,
}

/// Builds the chosen factory; Docker containers join `network`.
///
/// # Errors
/// Docker unreachable, or the action network cannot be made isolating; for `process`, no
/// proxy binary or launchers found; for `runc`, runc missing, not root, or no dockerd.
pub async fn factory(
    choice: FactoryChoice,
    manifest: &RuntimeManifest,
    paths: ProcessPaths,
    runc: RuncPaths,
    network: ActionNetwork,
) -> Result<Arc<dyn ContainerFactory>> {
    match choice {
        FactoryChoice::Docker => {
            let docker = DockerFactory::connect(DEFAULT_SOCKET)
                .await
                .with_context(|| {
                    format!(
                        "connecting to Docker at {DEFAULT_SOCKET} (start dockerd, e.g. with \
                         scripts/setup-host.sh; on a machine without Docker, \
                         --factory process runs actions unisolated)"
                    )
                })?
                .with_network(network);
            // Refuse to run actions where they could reach each other.
            docker
                .prepare()
                .await
                .context("preparing the action network")?;
            Ok(Arc::new(docker))
        }
        FactoryChoice::Runc => {
            let factory = RuncFactory::connect(&runc.runc, runc.dir, DEFAULT_SOCKET)
                .await
                .context("setting up the runc container factory")?;
            Ok(Arc::new(factory))
        }
        FactoryChoice::Process => {
            let proxy = paths.proxy.or_else(default_proxy).context(
                "no whisk-proxy binary found next to whiskd or in the target directory; \
                 build it (cargo build -p whisk-proxy) or pass --proxy-bin",
            )?;
            let runtimes_dir = paths
                .runtimes_dir
                .or_else(default_runtimes_dir)
                .context("no runtimes directory found; pass --runtimes-dir")?;
            let runtimes: HashMap<String, ProcessRuntime> = manifest
                .kinds()
                .iter()
                .filter(|k| !k.deprecated)
                .filter_map(|k| {
                    ProcessRuntime::for_kind(&runtimes_dir, &k.kind).map(|r| (k.kind.clone(), r))
                })
                .collect();
            tracing::warn!(
                proxy = %proxy.display(),
                runtimes = %runtimes_dir.display(),
                "CONTAINER FACTORY 'process': actions run as plain child processes of whiskd, \
                 as its user, with its files and network and no memory limit. This isolates \
                 NOTHING; use it only on a machine without Docker and only for trusted code."
            );
            let factory = ProcessFactory::new(ProcessConfig {
                proxy,
                work_dir: paths.work_dir,
                runtimes,
            })
            .context("setting up the process container factory")?;
            Ok(Arc::new(factory))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(text: Option<&str>) -> Result<Vec<(String, usize, u64)>> {
        Ok(stem_cells(text, &RuntimeManifest::standard())?
            .into_iter()
            .map(|c| (c.kind, c.count, c.memory_mb))
            .collect())
    }

    fn check(text: Option<&str>, want: &[(&str, usize, u64)]) {
        let want: Vec<(String, usize, u64)> = want
            .iter()
            .map(|(k, n, m)| (k.to_string(), *n, *m))
            .collect();
        assert_eq!(cells(text).unwrap(), want, "{text:?}");
    }

    fn refused(text: &str, fragment: &str) {
        let err = format!("{:#}", cells(Some(text)).unwrap_err());
        assert!(err.contains(fragment), "{text:?}: {err}");
    }

    fn factory_of(args: &[&str]) -> Result<FactoryChoice, clap::Error> {
        let args: Vec<String> = std::iter::once("standalone")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        match crate::Cli::from_args(&args)?.command {
            crate::Command::Standalone(a) => Ok(a.pool.container_factory),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_factory_flag_and_its_old_name() {
        assert_eq!(factory_of(&[]).unwrap(), FactoryChoice::Docker);
        assert_eq!(
            factory_of(&["--factory", "runc"]).unwrap(),
            FactoryChoice::Runc
        );
        assert_eq!(
            factory_of(&["--container-factory", "process"]).unwrap(),
            FactoryChoice::Process
        );
        assert!(factory_of(&["--factory", "lxc"]).is_err());
    }

    #[test]
    fn stem_cells_default_to_one_per_default_kind() {
        check(None, &[("nodejs:18", 1, 256), ("python:3.11", 1, 256)]);
    }

    #[test]
    fn stem_cells_flag() {
        check(Some("0"), &[]);
        check(Some(" "), &[]);
        check(Some("nodejs:18=2"), &[("nodejs:18", 2, 256)]);
        check(
            Some("nodejs:18=1,python:default=3@512"),
            &[("nodejs:18", 1, 256), ("python:3.11", 3, 512)],
        );
        check(Some("nodejs:18=1,NODEJS:default=0"), &[]);
        check(
            Some("python:3.11=1, python:3.11=2@128"),
            &[("python:3.11", 2, 128)],
        );
        refused("nodejs:18", "expected KIND=COUNT");
        refused("nodejs:18=x", "is not a count");
        refused("nodejs:18=1@lots", "is not a number of MB");
        refused("nodejs:18=1@1024", "memory must be 128 to 512 MB");
        refused("cobol=1", "The specified runtime 'cobol' is not supported");
        refused("blackbox=1", "bring their own images");
    }
}
