//! [`RuncFactory`]: action containers started by `runc` directly, from the root filesystems
//! of the local dockerd's images, with no container engine on the activation path.
//!
//! # Images
//! Each image's root filesystem is unpacked once per image id ([`RuncFactory::image`]):
//! dockerd creates (never starts) a container of it and exports its flattened filesystem,
//! which `tar` unpacks into `images/<id>/rootfs` under the factory's directory. `--docker
//! IMAGE` actions therefore need no change, an image whose tag moved is unpacked again under
//! its new id, and concurrent first uses of one image wait for one unpacking. At start, the
//! unpacked images dockerd no longer has (and no bundle uses) are removed. The image's
//! `Entrypoint`, `Cmd`, `Env`, `WorkingDir` and `User` come from its configuration.
//!
//! # Containers
//! Each container gets a bundle `bundles/<id>/` holding the `config.json` this module writes
//! ([`bundle_config`]) and its labels (one `key=value` per line). Its isolation matches the
//! docker factory's with `--action-network none`:
//! - the image's root filesystem, shared by every container of the image and mounted
//!   read-only, with private tmpfs mounts at `/tmp` and `/action` bounded by the action's
//!   memory (the image's `/action` files, if any, are copied into the latter before the
//!   action starts, as a blackbox image's program and the skeleton's code live there);
//! - new pid, ipc, uts, mount, cgroup and network namespaces; the network namespace holds
//!   only loopback, and the invoker reaches the proxy on port 8080 through a socket opened
//!   inside it ([`ContainerHandle::netns_pid`]);
//! - the action's memory limit (memory and memory plus swap), pids limit and CPU shares in
//!   the cgroup `rwhisk/<id>` ([`RuncFactory::cgroup_path`]); a `nofile` limit of 1024;
//! - no capabilities, `no_new_privileges`, the image's user; `/proc` and `/sys` paths masked
//!   and read-only as `runc spec` has them; only runc's default devices;
//! - the same environment as the docker factory, with the container's own token.
//!
//! `runc run --detach` (or `create`, the copy into `/action`, then `start`) starts it with
//! its own state directory (`state/`, runc's `--root`). The container's stdout and stderr are
//! pipes whose read ends the factory keeps: [`ContainerFactory::logs`] follows them from the
//! first byte, and a full pipe stops the writer, so nothing buffers without bound (a line is
//! cut at 16 KiB, as Docker's log driver cuts it).
//! [`ContainerFactory::oom_killed`] reads the cgroup's memory events.
//! A pause freezes the container's cgroup directly through the cgroup freezer (v1 where the
//! host has it, else v2), and removal thaws it first.
//!
//! After a crash of the invoker, [`ContainerFactory::remove_labelled`] finds the bundles of
//! an earlier run by their labels and deletes their containers (with their cgroups) and
//! bundles. Needs root (runc, cgroups, entering network namespaces) and dockerd for images.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::{Docker, API_DEFAULT_VERSION};
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

use crate::client::check_netns_access;
use crate::factory::{
    has_label, labels_text, new_token, ContainerFactory, ContainerHandle, ContainerSpec,
    FactoryError, LABELS_FILE,
};
use crate::logs::LogLines;
use crate::process::pipe_logs;

mod bundle;
mod cgroup;
mod image;

pub use self::bundle::bundle_config;
use self::cgroup::{cgroup_of, container_freezer, freezer_of, oom_kills, remove_cgroup};
pub use self::image::RuncImage;

/// Where the `runc` binary is looked for unless told otherwise.
pub const DEFAULT_RUNC: &str = "runc";
/// The parent of every container's cgroup (`rwhisk/<id>`).
const CGROUP_PARENT: &str = "rwhisk";
/// The file in a bundle runc writes the container's init process id to.
const PID_FILE: &str = "pid";
/// Where the proxy writes the action's code, and blackbox images keep their program.
const ACTION_DIR: &str = "/action";
/// The label marking the short-lived containers images are exported from; its value is the
/// factory's directory, so a restart removes what a crash mid-export left.
const LABEL_EXPORT: &str = "rwhisk.runc-export";
/// How long one runc command may take.
const RUNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Open files per container, as the docker factory gives them.
const NOFILE: u64 = 1024;
/// runc's own log is cut back to nothing at start when it is larger than this.
const RUNC_LOG_MAX: u64 = 1 << 20;
/// How many removed containers' OOM kills are remembered.
const OOM_REMEMBERED: usize = 256;
/// The port the action protocol is served on inside the container.
const ACTION_PORT: u16 = 8080;

/// One started container.
struct Entry {
    pid: u32,
    cgroup: String,
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
}

/// See the module documentation. Cheap to clone; clones share their state.
#[derive(Clone)]
pub struct RuncFactory {
    inner: Arc<Inner>,
}

struct Inner {
    runc: PathBuf,
    /// `state/` (runc's root), `bundles/`, `images/` and `runc.log` live here.
    dir: PathBuf,
    docker: Docker,
    /// One unpacking per image id.
    images: Mutex<HashMap<String, Arc<OnceCell<PathBuf>>>>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Removed containers that had an OOM kill, newest last (at most [`OOM_REMEMBERED`]):
    /// the pool asks [`ContainerFactory::oom_killed`] while removal may already have taken
    /// the cgroup with its count.
    oomed: Mutex<std::collections::VecDeque<String>>,
}

impl std::fmt::Debug for RuncFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuncFactory")
            .field("runc", &self.inner.runc)
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn engine(what: &str, e: impl std::fmt::Display) -> FactoryError {
    FactoryError::Engine(format!("{what}: {e}"))
}

fn status_of(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether `id` can name a runc container and a bundle directory.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl RuncFactory {
    /// A factory running `runc` (a path, or a name looked up in `PATH`) with its state under
    /// `dir` (created, private to root), taking images from dockerd at `docker_socket`.
    ///
    /// # Errors
    /// Not root, `runc` missing or not running, network namespaces not enterable, the
    /// directory not creatable, or dockerd unreachable; each with a text saying what to do.
    pub async fn connect(
        runc: &Path,
        dir: PathBuf,
        docker_socket: &str,
    ) -> Result<Self, FactoryError> {
        if !rustix::process::geteuid().is_root() {
            return Err(FactoryError::Engine(
                "the runc container factory needs root (it creates cgroups and namespaces and \
                 enters containers' network namespaces); run whiskd as root or use \
                 --factory docker"
                    .into(),
            ));
        }
        let version = Command::new(runc)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                FactoryError::Engine(format!(
                    "cannot run {} ({e}); install runc (apt-get install runc, or \
                     scripts/setup-host.sh) or use --factory docker",
                    runc.display()
                ))
            })?;
        if !version.status.success() {
            return Err(FactoryError::Engine(format!(
                "{} --version failed: {}",
                runc.display(),
                String::from_utf8_lossy(&version.stderr).trim()
            )));
        }
        check_netns_access().map_err(|e| {
            engine(
                "the invoker cannot enter network namespaces, which runc containers need",
                e,
            )
        })?;
        for sub in ["state", "bundles", "images"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| engine(&format!("creating {}", dir.join(sub).display()), e))?;
        }
        // runc and the bundles want absolute paths.
        let dir = std::fs::canonicalize(&dir)
            .map_err(|e| engine(&format!("resolving {}", dir.display()), e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| engine(&format!("protecting {}", dir.display()), e))?;
        }
        // Unpackings an earlier run left half done.
        if let Ok(entries) = std::fs::read_dir(dir.join("images")) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with('.') {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let log = dir.join("runc.log");
        if std::fs::metadata(&log).is_ok_and(|m| m.len() > RUNC_LOG_MAX) {
            let _ = std::fs::write(&log, b"");
        }
        let docker = Docker::connect_with_unix(docker_socket, 120, API_DEFAULT_VERSION)
            .map_err(|e| engine("connecting to Docker for images", e))?
            .negotiate_version()
            .await
            .map_err(|e| {
                engine(
                    &format!(
                        "the runc factory takes images from dockerd, which does not answer at \
                         {docker_socket}"
                    ),
                    e,
                )
            })?;
        info!(
            runc = %String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or_default(),
            dir = %dir.display(),
            "runc container factory ready."
        );
        let factory = Self {
            inner: Arc::new(Inner {
                runc: runc.to_owned(),
                dir,
                docker,
                images: Mutex::default(),
                entries: Mutex::default(),
                oomed: Mutex::default(),
            }),
        };
        factory.remove_export_leftovers().await;
        factory.remove_stale_images().await;
        Ok(factory)
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state_dir(&self) -> PathBuf {
        self.inner.dir.join("state")
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.inner.dir.join("bundles").join(id)
    }

    /// The cgroup of a running container as its `linux.cgroupsPath` names it
    /// (`/rwhisk/<id>`), relative to each hierarchy's root (cgroup v1) or the unified root.
    pub fn cgroup_path(&self, id: &str) -> Option<String> {
        self.entries().get(id).map(|e| e.cgroup.clone())
    }

    /// A runc command with this factory's state directory and log.
    fn runc(&self) -> Command {
        let mut command = Command::new(&self.inner.runc);
        command
            .arg("--root")
            .arg(self.state_dir())
            .arg("--log")
            .arg(self.inner.dir.join("runc.log"))
            .args(["--log-format", "json"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs a runc command to its end; its stderr is the error text.
    async fn runc_status(&self, args: &[&str]) -> Result<(), String> {
        let mut command = self.runc();
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = tokio::time::timeout(RUNC_TIMEOUT, command.output())
            .await
            .map_err(|_| format!("runc {} timed out", args.join(" ")))?
            .map_err(|e| format!("running runc: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Starts the container of the bundle written for `id`; returns its init's process id
    /// and its stdout and stderr.
    async fn start(
        &self,
        id: &str,
        image: &RuncImage,
        bundle: &Path,
    ) -> Result<(u32, ChildStdout, ChildStderr), FactoryError> {
        let copy = image.action_files;
        let mut command = self.runc();
        if copy {
            command.arg("create");
        } else {
            command.args(["run", "--detach"]);
        }
        command
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(bundle.join(PID_FILE))
            .arg(id)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| engine("running runc", e))?;
        let (out, mut err) = match (child.stdout.take(), child.stderr.take()) {
            (Some(out), Some(err)) => (out, err),
            _ => return Err(engine("running runc", "no pipes")),
        };
        let status = tokio::time::timeout(RUNC_TIMEOUT, child.wait())
            .await
            .map_err(|_| engine("starting a container", "runc timed out"))?
            .map_err(|e| engine("running runc", e))?;
        if !status.success() {
            // runc failed: nothing else holds the pipe, its error is all there is.
            let mut text = String::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut text)).await;
            return Err(engine("runc could not start the container", text.trim()));
        }
        let pid: u32 = tokio::fs::read_to_string(bundle.join(PID_FILE))
            .await
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| engine("starting a container", "runc wrote no process id"))?;
        if copy {
            // The init waits for `start`; its mounts are in place, `/action` empty.
            let from = image.rootfs.join("action/.");
            let to = format!("/proc/{pid}/root{ACTION_DIR}/");
            let out = Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(&to)
                .stdin(Stdio::null())
                .output()
                .await
                .map_err(|e| engine("running cp", e))?;
            if !out.status.success() {
                return Err(engine(
                    "copying the image's /action",
                    String::from_utf8_lossy(&out.stderr).trim(),
                ));
            }
            self.runc_status(&["start", id])
                .await
                .map_err(|e| engine("runc could not start the container", e))?;
        }
        Ok((pid, out, err))
    }

    /// Deletes container `id` (killing what runs in it), its cgroup and its bundle.
    async fn remove(&self, id: &str) -> Result<(), FactoryError> {
        if !valid_id(id) {
            return Ok(());
        }
        if oom_kills(&cgroup_of(id)) > 0 {
            let mut oomed = self.inner.oomed.lock().unwrap_or_else(|p| p.into_inner());
            if oomed.len() >= OOM_REMEMBERED {
                oomed.pop_front();
            }
            oomed.push_back(id.to_owned());
        }
        // Under cgroup v1 a frozen (paused) process does not die of SIGKILL until thawed.
        if let Some(freezer) = freezer_of(&cgroup_of(id)) {
            if freezer.is_frozen().unwrap_or(false) {
                if let Err(e) = freezer.thaw().await {
                    warn!(container = %id, error = %e, "Could not thaw a paused container before removing it.");
                }
            }
        }
        if let Err(e) = self.runc_status(&["delete", "--force", id]).await {
            if !e.contains("does not exist") && !e.contains("not exist") {
                return Err(engine(&format!("deleting container {id}"), e));
            }
        }
        remove_cgroup(&cgroup_of(id)).await;
        match tokio::fs::remove_dir_all(self.bundle_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(engine(&format!("removing the bundle of {id}"), e)),
        }
    }
}

/// Whether process `pid` exists and has not ended (a zombie has).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.rsplit_once(')')?.1.split_whitespace().next()?.to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[async_trait]
impl ContainerFactory for RuncFactory {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError> {
        let id = spec.name.as_str();
        if !valid_id(id) {
            return Err(FactoryError::Engine(format!(
                "{id:?} cannot name a runc container"
            )));
        }
        let image = self.image(&spec.image).await?;
        let token = new_token();
        let bundle = self.bundle_dir(id);
        let config = bundle_config(id, spec, &image, &token);
        let written = async {
            tokio::fs::create_dir(&bundle).await?;
            tokio::fs::write(bundle.join(LABELS_FILE), labels_text(&spec.labels)).await?;
            let config = serde_json::to_vec(&config).map_err(std::io::Error::other)?;
            tokio::fs::write(bundle.join("config.json"), config).await
        };
        if let Err(e) = written.await {
            let _ = tokio::fs::remove_dir_all(&bundle).await;
            return Err(engine(
                &format!("writing the bundle {}", bundle.display()),
                e,
            ));
        }
        let (pid, out, err) = match self.start(id, &image, &bundle).await {
            Ok(started) => started,
            Err(e) => {
                if let Err(cleanup) = self.remove(id).await {
                    warn!(container = id, error = %cleanup, "Container left behind after a failed start.");
                }
                return Err(e);
            }
        };
        debug!(container = id, pid, image = %spec.image, "runc container started.");
        self.entries().insert(
            id.to_owned(),
            Entry {
                pid,
                cgroup: cgroup_of(id),
                out: Some(out),
                err: Some(err),
            },
        );
        if !running(pid) {
            return Err(FactoryError::Exited(id.to_owned()));
        }
        Ok(ContainerHandle {
            id: id.to_owned(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, ACTION_PORT)),
            netns_pid: Some(pid),
            token,
        })
    }

    /// Freezes the container's cgroup directly (no runc process: `runc pause` would cost a
    /// fork and exec per pause).
    async fn pause(&self, id: &str) -> Result<(), FactoryError> {
        container_freezer(id)?
            .freeze()
            .await
            .map_err(|e| engine(&format!("freezing container {id}"), e))
    }

    async fn resume(&self, id: &str) -> Result<(), FactoryError> {
        container_freezer(id)?
            .thaw()
            .await
            .map_err(|e| engine(&format!("thawing container {id}"), e))
    }

    async fn destroy(&self, id: &str) -> Result<(), FactoryError> {
        let entry = self.entries().remove(id);
        if let Some(entry) = &entry {
            debug!(container = id, pid = entry.pid, "Removing runc container.");
        }
        self.remove(id).await
    }

    async fn remove_labelled(&self, key: &str, value: &str) -> Result<usize, FactoryError> {
        let bundles = self.inner.dir.join("bundles");
        let mut dirs = tokio::fs::read_dir(&bundles)
            .await
            .map_err(|e| engine(&format!("listing {}", bundles.display()), e))?;
        let mut found = Vec::new();
        while let Ok(Some(item)) = dirs.next_entry().await {
            let labels = tokio::fs::read_to_string(item.path().join(LABELS_FILE))
                .await
                .unwrap_or_default();
            if has_label(&labels, key, value) {
                found.push(item.file_name().to_string_lossy().into_owned());
            }
        }
        let results = futures_util::future::join_all(found.iter().map(|id| self.destroy(id))).await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(found.len())
    }

    fn logs(&self, id: &str) -> LogLines {
        let (out, err) = match self.entries().get_mut(id) {
            Some(e) => (e.out.take(), e.err.take()),
            None => (None, None),
        };
        pipe_logs(out, err)
    }

    async fn oom_killed(&self, id: &str) -> bool {
        // The cgroup first: `remove` notes a count before it deletes the cgroup.
        if oom_kills(&cgroup_of(id)) > 0 {
            return true;
        }
        let oomed = self.inner.oomed.lock().unwrap_or_else(|p| p.into_inner());
        oomed.iter().any(|o| o == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_runc_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = RuncFactory::connect(
            Path::new("/nonexistent/runc"),
            dir.path().join("runc"),
            crate::DEFAULT_SOCKET,
        )
        .await
        .unwrap_err()
        .to_string();
        // As root the runc check speaks; otherwise the root check does.
        let expected = if rustix::process::geteuid().is_root() {
            "install runc"
        } else {
            "needs root"
        };
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("rwhisk0_0123456789ab_hello-world.v2"));
        for bad in ["", ".hidden", "a/b", "a b", "..", "x\n"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
