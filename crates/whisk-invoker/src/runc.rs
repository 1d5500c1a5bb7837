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
use bollard::models::{ContainerCreateBody, ImageConfig};
use bollard::query_parameters::RemoveContainerOptions;
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};
use whisk_protocol::ENV_TOKEN;

use crate::client::check_netns_access;
use crate::factory::{new_token, ContainerFactory, ContainerHandle, ContainerSpec, FactoryError};
use crate::freezer::{CgroupVersion, Freezer};
use crate::logs::{LogLines, LogStream};
use crate::process::pipe_lines;

/// Where the `runc` binary is looked for unless told otherwise.
pub const DEFAULT_RUNC: &str = "runc";
/// The parent of every container's cgroup (`rwhisk/<id>`).
const CGROUP_PARENT: &str = "rwhisk";
/// The file in a bundle holding its labels, one `key=value` per line.
const LABELS_FILE: &str = "labels";
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

/// `/proc` and `/sys` paths hidden from the container, as `runc spec` has them.
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];
/// `/proc` paths the container may only read, as `runc spec` has them.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// System calls no action needs that widen the kernel surface open to it, refused with
/// `EPERM` (most need capabilities the container lacks anyway; this also holds for the ones
/// that do not: keyrings, user namespaces, BPF, perf, userfaultfd).
const DENIED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
    "iopl",
    "ioperm",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "move_mount",
    "name_to_handle_at",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "userfaultfd",
];
/// `clone` flags that make namespaces: a `clone` with any of them is refused.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];
/// `EPERM`, and `ENOSYS` (for `clone3`, whose flags a filter cannot read: the C library
/// then falls back to `clone`).
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The container's seccomp filter: everything allowed except [`DENIED_SYSCALLS`], `clone`
/// making namespaces and `clone3`.
fn seccomp() -> Value {
    let mut rules = vec![
        json!({ "names": DENIED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM }),
        json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }),
    ];
    rules.extend(CLONE_NAMESPACE_FLAGS.iter().map(|flag| {
        json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EPERM,
            "args": [{ "index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ" }],
        })
    }));
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": rules,
    })
}

/// What an action container is started from: one image, unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuncImage {
    /// The image id (`sha256:...`).
    pub id: String,
    /// The unpacked root filesystem.
    pub rootfs: PathBuf,
    /// `Entrypoint` followed by `Cmd`.
    pub args: Vec<String>,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Whether the image has files under `/action` to copy into the container's.
    pub action_files: bool,
}

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

    /// The value of [`LABEL_EXPORT`] on this factory's export containers.
    fn export_label(&self) -> String {
        self.inner.dir.display().to_string()
    }

    /// Removes export containers an earlier run of this factory left (killed mid-export).
    async fn remove_export_leftovers(&self) {
        let options = bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{LABEL_EXPORT}={}", self.export_label())],
            )])),
            ..Default::default()
        };
        let found = match self.inner.docker.list_containers(Some(options)).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "Listing leftover export containers failed.");
                return;
            }
        };
        for id in found.into_iter().filter_map(|c| c.id) {
            let options = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            if let Err(e) = self.inner.docker.remove_container(&id, Some(options)).await {
                warn!(container = %id, error = %e, "Removing a leftover export container failed.");
            }
        }
    }

    /// Removes unpacked images that dockerd no longer has and no bundle uses (the disk an
    /// image whose tag moved, or that was removed, took). Done at start, before any
    /// container of this factory's is created.
    async fn remove_stale_images(&self) {
        let images = self.inner.dir.join("images");
        let bundles = self.inner.dir.join("bundles");
        let mut used = String::new();
        for bundle in std::fs::read_dir(&bundles).into_iter().flatten().flatten() {
            used.push_str(
                &std::fs::read_to_string(bundle.path().join("config.json")).unwrap_or_default(),
            );
        }
        for entry in std::fs::read_dir(&images).into_iter().flatten().flatten() {
            let hex = entry.file_name().to_string_lossy().into_owned();
            if hex.starts_with('.') || used.contains(&*entry.path().to_string_lossy()) {
                continue;
            }
            match self
                .inner
                .docker
                .inspect_image(&format!("sha256:{hex}"))
                .await
            {
                Err(e) if status_of(&e) == Some(404) => {
                    info!(id = %hex, "Removing an unpacked image dockerd no longer has.");
                    if let Err(e) = tokio::fs::remove_dir_all(entry.path()).await {
                        warn!(id = %hex, error = %e, "Removing an unpacked image failed.");
                    }
                }
                _ => {}
            }
        }
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

    /// The image `name` as the local dockerd has it now, unpacked (once per image id).
    ///
    /// # Errors
    /// [`FactoryError::ImageUnavailable`] when dockerd does not have it; unpacking failed.
    pub async fn image(&self, name: &str) -> Result<RuncImage, FactoryError> {
        let inspected = match self.inner.docker.inspect_image(name).await {
            Ok(i) => i,
            Err(e) if status_of(&e) == Some(404) => {
                return Err(FactoryError::ImageUnavailable(name.to_owned()))
            }
            Err(e) => return Err(engine(&format!("inspecting image {name}"), e)),
        };
        let id = inspected
            .id
            .ok_or_else(|| engine(&format!("inspecting image {name}"), "no id"))?;
        let hex: String = id
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect();
        if hex.len() < 12 {
            return Err(engine(&format!("image {name}"), format!("odd id {id:?}")));
        }
        let cell = {
            let mut images = self.inner.images.lock().unwrap_or_else(|p| p.into_inner());
            images.entry(hex.clone()).or_default().clone()
        };
        let rootfs = cell
            .get_or_try_init(|| self.unpack(name, &hex))
            .await?
            .clone();
        image_from_config(id, rootfs, inspected.config.unwrap_or_default())
    }

    /// Unpacks image `name` (id `hex`) into `images/<hex>/rootfs` unless it is there.
    async fn unpack(&self, name: &str, hex: &str) -> Result<PathBuf, FactoryError> {
        let images = self.inner.dir.join("images");
        let done = images.join(hex);
        let rootfs = done.join("rootfs");
        if rootfs.is_dir() {
            return Ok(rootfs);
        }
        let started = std::time::Instant::now();
        let partial = images.join(format!(".{hex}.{}", uuid::Uuid::new_v4().simple()));
        let result = self.export_into(name, &partial.join("rootfs")).await;
        let result = match result {
            // Another process may have finished the same image meanwhile: keep either.
            Ok(()) => match tokio::fs::rename(&partial, &done).await {
                Ok(()) => Ok(rootfs),
                Err(_) if rootfs.is_dir() => Ok(rootfs),
                Err(e) => Err(engine("placing an unpacked image", e)),
            },
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_dir_all(&partial).await;
        if result.is_ok() {
            info!(
                image = name,
                id = hex,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "Image unpacked for runc."
            );
        }
        result
    }

    /// Exports image `name`'s filesystem through a created (never started) container and
    /// unpacks it into `rootfs`, with the mount points the bundles need.
    async fn export_into(&self, name: &str, rootfs: &Path) -> Result<(), FactoryError> {
        tokio::fs::create_dir_all(rootfs)
            .await
            .map_err(|e| engine(&format!("creating {}", rootfs.display()), e))?;
        let docker = &self.inner.docker;
        let body = ContainerCreateBody {
            image: Some(name.to_owned()),
            // Never run; images without a command cannot be created without one.
            cmd: Some(vec!["/rwhisk-export".into()]),
            labels: Some(HashMap::from([(
                LABEL_EXPORT.to_owned(),
                self.export_label(),
            )])),
            network_disabled: Some(true),
            ..Default::default()
        };
        let created = docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
            .map_err(|e| match status_of(&e) {
                Some(404) => FactoryError::ImageUnavailable(name.to_owned()),
                _ => engine(&format!("creating a container of {name} to export"), e),
            })?;
        let exported = self.untar(&created.id, rootfs).await;
        let removed = docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        if let Err(e) = removed {
            warn!(container = %created.id, error = %e, "Removing an export container failed.");
        }
        exported?;
        for dir in ["proc", "sys", "dev", "tmp", "action"] {
            let path = rootfs.join(dir);
            if tokio::fs::symlink_metadata(&path).await.is_err() {
                tokio::fs::create_dir(&path)
                    .await
                    .map_err(|e| engine(&format!("creating {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// Streams container `id`'s export into `tar -x` in `rootfs`.
    async fn untar(&self, id: &str, rootfs: &Path) -> Result<(), FactoryError> {
        let mut tar = Command::new("tar")
            .args([
                "-x",
                "-p",
                "--numeric-owner",
                "--same-owner",
                "-f",
                "-",
                "-C",
            ])
            .arg(rootfs)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| engine("running tar", e))?;
        let mut stdin = tar
            .stdin
            .take()
            .ok_or_else(|| engine("running tar", "no stdin"))?;
        let mut stream = self.inner.docker.export_container(id);
        let mut fed = Ok(());
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(e) = stdin.write_all(&bytes).await {
                        fed = Err(engine("unpacking an image", e));
                        break;
                    }
                }
                Err(e) => {
                    fed = Err(engine("exporting an image", e));
                    break;
                }
            }
        }
        drop(stdin);
        let out = tar
            .wait_with_output()
            .await
            .map_err(|e| engine("running tar", e))?;
        fed?;
        if !out.status.success() {
            return Err(engine(
                "unpacking an image",
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        Ok(())
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

/// The `linux.cgroupsPath` of container `id`.
fn cgroup_of(id: &str) -> String {
    format!("/{CGROUP_PARENT}/{id}")
}

/// The directories of cgroup `path` in every mounted hierarchy (cgroup v1 controllers and
/// the unified one, or the single v2 root).
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
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
fn freezer_of(path: &str) -> Option<Freezer> {
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
fn container_freezer(id: &str) -> Result<Freezer, FactoryError> {
    freezer_of(&cgroup_of(id))
        .ok_or_else(|| FactoryError::Engine(format!("container {id} has no freezer cgroup")))
}

/// Removes what is left of cgroup `path` (after runc deleted its container, nothing).
async fn remove_cgroup(path: &str) {
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
fn oom_kills(path: &str) -> u64 {
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

/// The image's user (`uid[:gid]` or names in its `/etc/passwd` and `/etc/group`) as ids;
/// empty is root.
fn resolve_user(user: &str, rootfs: &Path) -> Result<(u32, u32), FactoryError> {
    let (name, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // The id (field 2) and the next field of the entry whose field `at` (0: name, 2: id)
    // is `key`.
    let lookup_at = |file: &str, at: usize, key: &str| -> Option<(u32, Option<u32>)> {
        let text = std::fs::read_to_string(rootfs.join(file)).ok()?;
        text.lines().find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            if fields.len() < 4 || fields[at] != key {
                return None;
            }
            Some((fields[2].parse().ok()?, fields[3].parse().ok()))
        })
    };
    let passwd = |at: usize, key: &str| match lookup_at("etc/passwd", at, key) {
        Some((uid, Some(gid))) => Some((uid, gid)),
        _ => None,
    };
    let (uid, primary) = if name.is_empty() {
        (0, 0)
    } else if let Ok(uid) = name.parse::<u32>() {
        (uid, passwd(2, name).map_or(uid, |(_, g)| g))
    } else {
        passwd(0, name).ok_or_else(|| {
            FactoryError::Engine(format!(
                "the image's user {name:?} is not in its /etc/passwd"
            ))
        })?
    };
    let gid = match group {
        None | Some("") => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup_at("etc/group", 0, g)
                .map(|(gid, _)| gid)
                .ok_or_else(|| {
                    FactoryError::Engine(format!(
                        "the image's group {g:?} is not in its /etc/group"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}

/// What to start from an image's configuration, unpacked at `rootfs`.
fn image_from_config(
    id: String,
    rootfs: PathBuf,
    config: ImageConfig,
) -> Result<RuncImage, FactoryError> {
    let mut args = config.entrypoint.unwrap_or_default();
    args.extend(config.cmd.unwrap_or_default());
    if args.is_empty() {
        return Err(FactoryError::Engine(format!(
            "image {id} has neither an entrypoint nor a command"
        )));
    }
    let (uid, gid) = resolve_user(config.user.as_deref().unwrap_or_default(), &rootfs)?;
    let action_files = std::fs::read_dir(rootfs.join("action"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    Ok(RuncImage {
        id,
        args,
        env: config.env.unwrap_or_default(),
        cwd: config
            .working_dir
            .filter(|d| d.starts_with('/'))
            .unwrap_or_else(|| "/".into()),
        uid,
        gid,
        action_files,
        rootfs,
    })
}

/// `image`'s environment, then `spec`'s, then the token: a later entry replaces an earlier
/// one of the same name, in the earlier one's place.
fn environment(image: &RuncImage, spec: &ContainerSpec, token: &str) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let entries = image
        .env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (e.clone(), String::new()),
        })
        .chain(spec.env.iter().cloned())
        .chain([(ENV_TOKEN.to_owned(), token.to_owned())]);
    for (k, v) in entries {
        match env.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The OCI runtime configuration (`config.json`) of container `id` from `spec` and `image`,
/// with `token` for its proxy; see the module documentation for what it isolates.
pub fn bundle_config(id: &str, spec: &ContainerSpec, image: &RuncImage, token: &str) -> Value {
    let memory = i64::try_from(spec.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
    let tmpfs_size = format!("size={}m", spec.memory_mb.max(1));
    let no_caps: Vec<String> = Vec::new();
    let hostname: String = id.chars().take(63).collect();
    let namespaces: Vec<Value> = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|t| json!({ "type": t }))
        .collect();
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": image.rootfs, "readonly": true },
        "hostname": hostname,
        "annotations": spec.labels.iter().cloned().collect::<HashMap<String, String>>(),
        "process": {
            "terminal": false,
            "user": { "uid": image.uid, "gid": image.gid },
            "args": image.args,
            "env": environment(image, spec, token),
            "cwd": image.cwd,
            "noNewPrivileges": true,
            "capabilities": {
                "bounding": no_caps,
                "effective": no_caps,
                "permitted": no_caps,
                "inheritable": no_caps,
                "ambient": no_caps,
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": NOFILE, "soft": NOFILE },
                { "type": "RLIMIT_CORE", "hard": 0, "soft": 0 },
            ],
        },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=1777", tmpfs_size] },
            { "destination": ACTION_DIR, "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=755", tmpfs_size,
                          format!("uid={}", image.uid), format!("gid={}", image.gid)] },
        ],
        "linux": {
            "cgroupsPath": cgroup_of(id),
            "resources": {
                "devices": [{ "allow": false, "access": "rwm" }],
                "memory": { "limit": memory, "swap": memory },
                "cpu": { "shares": spec.cpu_shares },
                "pids": { "limit": spec.pids_limit },
            },
            "namespaces": namespaces,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp(),
        },
    })
}

/// The labels file's text.
fn labels_text(labels: &[(String, String)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// Whether `text` (a labels file) holds `key=value`.
fn has_label(text: &str, key: &str, value: &str) -> bool {
    text.lines()
        .any(|l| l.split_once('=') == Some((key, value)))
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
        let out = out.map(|p| pipe_lines(p, LogStream::Stdout));
        let err = err.map(|p| pipe_lines(p, LogStream::Stderr));
        futures_util::stream::select(
            futures_util::stream::iter(out).flatten(),
            futures_util::stream::iter(err).flatten(),
        )
        .boxed()
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

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "rwhisk0_abc_hello".into(),
            kind: "blackbox".into(),
            image: "whisk/example-c".into(),
            memory_mb: 256,
            pids_limit: 64,
            cpu_shares: 128,
            env: vec![
                ("__OW_API_HOST".into(), "http://127.0.0.1:3233".into()),
                ("HOME".into(), "/home/override".into()),
            ],
            labels: vec![("rwhisk.invoker".into(), "s1-0".into())],
        }
    }

    fn image() -> RuncImage {
        RuncImage {
            id: "sha256:0123456789abcdef".into(),
            rootfs: "/data/runc/images/0123456789abcdef/rootfs".into(),
            args: vec!["/usr/local/bin/whisk-proxy".into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "HOME=/tmp".into()],
            cwd: "/".into(),
            uid: 1000,
            gid: 1000,
            action_files: true,
        }
    }

    #[test]
    fn the_bundle_isolates_and_limits() {
        let c = bundle_config("rwhisk0_abc_hello", &spec(), &image(), "t0k");
        assert_eq!(c["root"]["readonly"], true);
        assert_eq!(
            c["root"]["path"],
            "/data/runc/images/0123456789abcdef/rootfs"
        );
        let p = &c["process"];
        assert_eq!(p["terminal"], false);
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["user"], json!({"uid": 1000, "gid": 1000}));
        assert_eq!(p["args"], json!(["/usr/local/bin/whisk-proxy"]));
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            assert_eq!(p["capabilities"][set], json!([]), "{set}");
        }
        assert!(p["rlimits"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024})));
        let l = &c["linux"];
        assert_eq!(l["cgroupsPath"], "/rwhisk/rwhisk0_abc_hello");
        let mb256 = 256 * 1024 * 1024;
        assert_eq!(
            l["resources"]["memory"],
            json!({"limit": mb256, "swap": mb256})
        );
        assert_eq!(l["resources"]["pids"]["limit"], 64);
        assert_eq!(l["resources"]["cpu"]["shares"], 128);
        assert_eq!(
            l["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        let namespaces: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            namespaces,
            ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        );
        // A network namespace of our own, never a path to someone else's.
        assert!(l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.get("path").is_none()));
        assert!(l["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(l["readonlyPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/sys")));
        assert_eq!(c["annotations"]["rwhisk.invoker"], "s1-0");
        let seccomp = &l["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ALLOW");
        let denied: Vec<&str> = seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ERRNO" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap())
            .collect();
        for call in ["unshare", "setns", "keyctl", "bpf", "mount", "clone3"] {
            assert!(denied.contains(&call), "{call} allowed");
        }
        let clone_rules = seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"] == json!(["clone"]))
            .count();
        assert_eq!(clone_rules, 7, "one per namespace flag");
    }

    #[test]
    fn only_tmp_and_action_are_writable_and_both_are_bounded() {
        let c = bundle_config("x", &spec(), &image(), "t0k");
        let mounts = c["mounts"].as_array().unwrap();
        let find = |dest: &str| {
            mounts
                .iter()
                .find(|m| m["destination"] == dest)
                .unwrap_or_else(|| panic!("no {dest} mount"))
        };
        for dest in ["/tmp", "/action"] {
            let m = find(dest);
            assert_eq!(m["type"], "tmpfs");
            assert!(
                m["options"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("size=256m")),
                "{m}"
            );
        }
        assert!(find("/action")["options"]
            .as_array()
            .unwrap()
            .contains(&json!("uid=1000")));
        assert!(find("/sys")["options"]
            .as_array()
            .unwrap()
            .contains(&json!("ro")));
        // No bind mount of anything of the host's.
        assert!(mounts.iter().all(|m| m["type"] != "bind"), "{mounts:?}");
    }

    #[test]
    fn the_environment_is_the_images_then_the_specs_then_the_token() {
        let c = bundle_config("x", &spec(), &image(), "t0k");
        assert_eq!(
            c["process"]["env"],
            json!([
                "PATH=/usr/bin:/bin",
                "HOME=/home/override",
                "__OW_API_HOST=http://127.0.0.1:3233",
                format!("{ENV_TOKEN}=t0k"),
            ])
        );
    }

    #[test]
    fn users_resolve_by_number_or_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let r = |u: &str| resolve_user(u, dir.path());
        assert_eq!(r(""), Ok((0, 0)));
        assert_eq!(r("1000:1000"), Ok((1000, 1000)));
        assert_eq!(r("1000"), Ok((1000, 1001)));
        assert_eq!(r("4242"), Ok((4242, 4242)));
        assert_eq!(r("app"), Ok((1000, 1001)));
        assert_eq!(r("app:staff"), Ok((1000, 50)));
        assert!(r("nobody").is_err());
        assert!(r("app:wheel").is_err());
    }

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

    #[test]
    fn labels_round_trip() {
        let text = labels_text(&[("rwhisk.invoker".into(), "s1-0".into())]);
        assert!(has_label(&text, "rwhisk.invoker", "s1-0"));
        assert!(!has_label(&text, "rwhisk.invoker", "s1"));
    }

    #[test]
    fn image_config_gives_args_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let config = ImageConfig {
            entrypoint: Some(vec!["/bin/tini".into(), "--".into()]),
            cmd: Some(vec!["/proxy".into()]),
            working_dir: Some(String::new()),
            user: Some("7:7".into()),
            ..Default::default()
        };
        let image = image_from_config("sha256:ab".into(), dir.path().into(), config).unwrap();
        assert_eq!(image.args, ["/bin/tini", "--", "/proxy"]);
        assert_eq!(image.cwd, "/");
        assert_eq!((image.uid, image.gid), (7, 7));
        assert!(!image.action_files);
        let empty = image_from_config(
            "sha256:ab".into(),
            dir.path().into(),
            ImageConfig::default(),
        );
        assert!(empty.is_err());
    }
}
