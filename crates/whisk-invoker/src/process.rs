//! [`ProcessFactory`]: "containers" that are plain child processes of the invoker, for
//! machines without Docker. Each one is the `whisk-proxy` binary in its actionloop mode on
//! its own loopback port, with the language's launcher from the repository's `runtimes/`
//! and the host's `node` and `python3`.
//!
//! **It isolates almost nothing.** Actions run as the invoker's user and see its files and
//! network. What it does: each proxy demands its own token ([`new_token`]) on `/init` and
//! `/run`, so one action cannot drive another's proxy, and it gets resource limits
//! ([`apply_limits`]) that its children inherit: `RLIMIT_DATA` at the action's memory
//! (per process, not in total: `RLIMIT_AS` would stop V8 from reserving its address
//! space), `RLIMIT_NOFILE` 1024, `RLIMIT_NPROC` at the pids limit (counted per user, and
//! not enforced for root), no core files. There is no CPU-time limit: the launcher lives
//! across activations, and the activation timeout ends a loop. Only native kinds can run
//! (blackbox actions need an image); any other kind fails with [`FactoryError::Unsupported`].
//!
//! There is no port race: each proxy binds port 0 itself and reports the port the kernel
//! chose as its first stdout line (`whisk_proxy::server::LISTENING_PREFIX`), which the
//! factory reads before the rest of the output becomes the container's log.
//!
//! Each process gets a directory under the work directory, named after the container:
//! `action/` (the proxy's action directory and working directory), `pid` and `labels`
//! (one `key=value` per line). Those files let [`ProcessFactory::remove_labelled`] find and
//! kill processes left by an earlier run that crashed. Each proxy leads its own process
//! group, so removal kills the launcher and whatever the action started along with it.
//! The proxy's stdout and stderr are read line by line into the same [`LogLine`] stream a
//! Docker container's log gives, stamped when read.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use rustix::process::{prlimit, Pid, Resource, Rlimit};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tracing::{debug, warn};
use whisk_protocol::ENV_TOKEN;
use whisk_proxy::config::{
    ENV_ACTION_DIR, ENV_BIND, ENV_LAUNCHER, ENV_LAUNCHER_SOURCE, ENV_MODE, ENV_PORT,
    MODE_ACTIONLOOP,
};
use whisk_proxy::server::LISTENING_PREFIX;

use crate::factory::{
    has_label, labels_text, new_token, ContainerFactory, ContainerHandle, ContainerSpec,
    FactoryError, LABELS_FILE,
};
use crate::logs::{now_timestamp, LogLine, LogLines, LogStream};

/// The file in a process's directory holding the proxy's process id.
const PID_FILE: &str = "pid";
/// The proxy's action directory inside a process's directory.
const ACTION_DIR: &str = "action";
/// The file name of the proxy binary, checked before a leftover process is killed.
const PROXY_NAME: &str = "whisk-proxy";
/// How long a proxy may take to report its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Open files per process, as Docker containers get them.
const NOFILE: u64 = 1024;

/// The launcher of one kind, as the runtime image would have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRuntime {
    /// The launcher program (`runtimes/nodejs/launcher.js`), executable, with a `#!` line
    /// naming the host's interpreter.
    pub launcher: PathBuf,
    /// The file single-file code is written to (`index.js`, `__main__.py`).
    pub source_file: String,
}

impl ProcessRuntime {
    /// The launcher of `kind`'s family under `runtimes_dir` (the repository's `runtimes/`):
    /// `nodejs:*` → `nodejs/launcher.js` with `index.js`, `python:*` →
    /// `python/launcher.py` with `__main__.py`, as `images/build-runtimes.sh` installs
    /// them. `None` for other kinds. Does not look at the files.
    pub fn for_kind(runtimes_dir: &Path, kind: &str) -> Option<Self> {
        let family = kind.split(':').next().unwrap_or(kind);
        let (launcher, source_file) = match family {
            "nodejs" => ("nodejs/launcher.js", "index.js"),
            "python" => ("python/launcher.py", "__main__.py"),
            _ => return None,
        };
        Some(Self {
            launcher: runtimes_dir.join(launcher),
            source_file: source_file.to_owned(),
        })
    }
}

/// What the process factory needs.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The `whisk-proxy` binary (any build: it runs on the host).
    pub proxy: PathBuf,
    /// Where each process gets its directory; created if missing.
    pub work_dir: PathBuf,
    /// The kinds that can run, with their launchers.
    pub runtimes: HashMap<String, ProcessRuntime>,
}

/// One running proxy.
struct Entry {
    child: Child,
    pid: Option<u32>,
    dir: PathBuf,
    labels: Vec<(String, String)>,
    /// The proxy's stdout (past its port line) and stderr, taken by the first
    /// [`ContainerFactory::logs`] call.
    out: Option<BufReader<ChildStdout>>,
    err: Option<ChildStderr>,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct ProcessFactory {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProcessConfig,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessFactory")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn engine(what: &str, e: impl std::fmt::Display) -> FactoryError {
    FactoryError::Engine(format!("{what}: {e}"))
}

impl ProcessFactory {
    /// A factory starting `config.proxy`; creates the work directory.
    ///
    /// # Errors
    /// The proxy binary or a launcher is missing, or the work directory cannot be made.
    pub fn new(config: ProcessConfig) -> Result<Self, FactoryError> {
        if !config.proxy.is_file() {
            return Err(FactoryError::Engine(format!(
                "the proxy binary {} does not exist",
                config.proxy.display()
            )));
        }
        for (kind, runtime) in &config.runtimes {
            if !runtime.launcher.is_file() {
                return Err(FactoryError::Engine(format!(
                    "the launcher of {kind}, {}, does not exist",
                    runtime.launcher.display()
                )));
            }
        }
        std::fs::create_dir_all(&config.work_dir)
            .map_err(|e| engine(&format!("creating {}", config.work_dir.display()), e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                entries: Mutex::default(),
            }),
        })
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The developer-facing text for a kind this factory cannot run.
    fn unsupported(&self, kind: &str) -> FactoryError {
        let mut kinds: Vec<&str> = self
            .inner
            .config
            .runtimes
            .keys()
            .map(String::as_str)
            .collect();
        kinds.sort_unstable();
        FactoryError::Unsupported(format!(
            "This invoker runs actions as local processes (container factory 'process'), which \
             supports only the kinds {}; '{kind}' actions need the 'docker' container factory.",
            kinds.join(", ")
        ))
    }

    fn spawn(
        &self,
        spec: &ContainerSpec,
        runtime: &ProcessRuntime,
        dir: &Path,
        token: &str,
    ) -> Result<Child, FactoryError> {
        let action_dir = dir.join(ACTION_DIR);
        let mut command = Command::new(&self.inner.config.proxy);
        command
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
            )
            .env("LANG", "C.UTF-8")
            .env("HOME", dir)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(ENV_PORT, "0")
            .env(ENV_BIND, Ipv4Addr::LOCALHOST.to_string())
            .env(ENV_TOKEN, token)
            .env(ENV_ACTION_DIR, &action_dir)
            .env(ENV_MODE, MODE_ACTIONLOOP)
            .env(ENV_LAUNCHER, &runtime.launcher)
            .env(ENV_LAUNCHER_SOURCE, &runtime.source_file)
            .current_dir(&action_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command.spawn().map_err(|e| {
            engine(
                &format!("starting {}", self.inner.config.proxy.display()),
                e,
            )
        })
    }
}

/// Gives the process `pid` (the proxy, before it has started any action) the limits of
/// `spec`, which every process it starts inherits; see the module documentation.
fn apply_limits(pid: u32, spec: &ContainerSpec) -> Result<(), FactoryError> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| FactoryError::Engine(format!("{pid} is not a process id")))?;
    let fixed = |n: u64| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    let limits = [
        (Resource::Data, spec.memory_mb.saturating_mul(1024 * 1024)),
        (Resource::Nofile, NOFILE),
        (Resource::Nproc, u64::try_from(spec.pids_limit).unwrap_or(0)),
        (Resource::Core, 0),
    ];
    for (resource, value) in limits {
        prlimit(Some(pid), resource, fixed(value))
            .map_err(|e| engine(&format!("limiting {resource:?} of process {pid:?}"), e))?;
    }
    Ok(())
}

/// Reads the proxy's first stdout line, the address it listens on.
async fn listening_addr(out: &mut BufReader<ChildStdout>) -> Option<SocketAddr> {
    let mut line = String::new();
    out.read_line(&mut line).await.ok()?;
    line.trim_end().strip_prefix(LISTENING_PREFIX)?.parse().ok()
}

/// The longest log line read from a pipe; a longer one is cut into lines of this size, as
/// Docker's log driver cuts at 16 KiB, so a line without end cannot grow without bound.
const MAX_LINE: u64 = 16 * 1024;

/// A container's log from its stdout and stderr pipes, as lines arrive on either; the
/// stream ends when both reach end of file (a missing pipe counts as ended).
pub(crate) fn pipe_logs(
    out: Option<impl AsyncRead + Unpin + Send + 'static>,
    err: Option<impl AsyncRead + Unpin + Send + 'static>,
) -> LogLines {
    let out = out.map(|p| pipe_lines(p, LogStream::Stdout));
    let err = err.map(|p| pipe_lines(p, LogStream::Stderr));
    futures_util::stream::select(
        futures_util::stream::iter(out).flatten(),
        futures_util::stream::iter(err).flatten(),
    )
    .boxed()
}

/// The lines of `pipe` until end of file (every writer gone), stamped when read, each at
/// most [`MAX_LINE`] bytes.
pub(crate) fn pipe_lines(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    stream: LogStream,
) -> LogLines {
    let reader = (BufReader::new(pipe), Vec::new());
    futures_util::stream::unfold(reader, move |(mut reader, mut buf)| async move {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                let line = LogLine {
                    stream,
                    timestamp: now_timestamp(),
                    text: text.to_owned(),
                };
                Some((Ok(line), (reader, buf)))
            }
        }
    })
    .boxed()
}

/// Kills the process group led by `pid` (the proxy, its launcher, what the action started).
async fn kill_group(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    if let Err(e) = status {
        debug!(pid, error = %e, "Running kill failed.");
    }
}

/// Kills what a leftover directory's `pid` names, if that process is still a proxy, and
/// removes the directory.
async fn remove_leftover(dir: &Path) {
    if let Ok(text) = tokio::fs::read_to_string(dir.join(PID_FILE)).await {
        if let Ok(pid) = text.trim().parse::<u32>() {
            let cmdline = tokio::fs::read(format!("/proc/{pid}/cmdline"))
                .await
                .unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(PROXY_NAME) {
                kill_group(pid).await;
            }
        }
    }
    remove_dir(dir).await;
}

async fn remove_dir(dir: &Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(dir = %dir.display(), error = %e, "Removing a process directory failed."),
    }
}

#[async_trait]
impl ContainerFactory for ProcessFactory {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError> {
        let Some(runtime) = self.inner.config.runtimes.get(&spec.kind) else {
            return Err(self.unsupported(&spec.kind));
        };
        if spec.name.is_empty() || spec.name.contains('/') || spec.name.starts_with('.') {
            return Err(FactoryError::Engine(format!(
                "{:?} cannot name a process directory",
                spec.name
            )));
        }
        let dir = self.inner.config.work_dir.join(&spec.name);
        tokio::fs::create_dir_all(dir.join(ACTION_DIR))
            .await
            .map_err(|e| engine(&format!("creating {}", dir.display()), e))?;
        tokio::fs::write(dir.join(LABELS_FILE), labels_text(&spec.labels))
            .await
            .map_err(|e| engine("writing the labels", e))?;
        let token = new_token();
        let mut child = match self.spawn(spec, runtime, &dir, &token) {
            Ok(child) => child,
            Err(e) => {
                remove_dir(&dir).await;
                return Err(e);
            }
        };
        let pid = child.id();
        if let Some(pid) = pid {
            if let Err(e) = tokio::fs::write(dir.join(PID_FILE), pid.to_string()).await {
                warn!(error = %e, "Writing a process id failed; a crash may leave the process.");
            }
        }
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let started = async {
            // Before the proxy can have run anything of the action's: it needs `/init`.
            apply_limits(
                pid.ok_or_else(|| engine("starting the proxy", "it exited"))?,
                spec,
            )?;
            let mut out =
                BufReader::new(out.ok_or_else(|| engine("starting the proxy", "no stdout"))?);
            let addr = tokio::time::timeout(START_TIMEOUT, listening_addr(&mut out))
                .await
                .ok()
                .flatten()
                .ok_or_else(|| engine("starting the proxy", "it did not report its port"))?;
            Ok::<_, FactoryError>((addr, out))
        };
        let (addr, out) = match started.await {
            Ok(started) => started,
            Err(e) => {
                if let Some(pid) = pid {
                    kill_group(pid).await;
                }
                let _ = child.start_kill();
                let _ = child.wait().await;
                remove_dir(&dir).await;
                return Err(e);
            }
        };
        debug!(name = %spec.name, %addr, ?pid, kind = %spec.kind, "Action process started.");
        self.entries().insert(
            spec.name.clone(),
            Entry {
                child,
                pid,
                dir,
                labels: spec.labels.clone(),
                out: Some(out),
                err,
            },
        );
        Ok(ContainerHandle {
            id: spec.name.clone(),
            addr,
            token,
            netns_pid: None,
        })
    }

    async fn destroy(&self, id: &str) -> Result<(), FactoryError> {
        let entry = self.entries().remove(id);
        match entry {
            Some(mut entry) => {
                if let Some(pid) = entry.pid {
                    kill_group(pid).await;
                }
                let _ = entry.child.start_kill();
                let _ = entry.child.wait().await;
                remove_dir(&entry.dir).await;
            }
            None => {
                let dir = self.inner.config.work_dir.join(id);
                if !id.is_empty() && !id.contains('/') && dir.is_dir() {
                    remove_leftover(&dir).await;
                }
            }
        }
        Ok(())
    }

    async fn remove_labelled(&self, key: &str, value: &str) -> Result<usize, FactoryError> {
        let live: Vec<String> = self
            .entries()
            .iter()
            .filter(|(_, e)| e.labels.iter().any(|(k, v)| k == key && v == value))
            .map(|(id, _)| id.clone())
            .collect();
        let mut removed = 0;
        for id in &live {
            self.destroy(id).await?;
            removed += 1;
        }
        // Directories of processes this factory did not start: an earlier run's.
        let work_dir = &self.inner.config.work_dir;
        let mut dirs = match tokio::fs::read_dir(work_dir).await {
            Ok(d) => d,
            Err(e) => return Err(engine(&format!("listing {}", work_dir.display()), e)),
        };
        while let Ok(Some(item)) = dirs.next_entry().await {
            let name = item.file_name().to_string_lossy().into_owned();
            if self.entries().contains_key(&name) {
                continue;
            }
            let dir = item.path();
            let labels = tokio::fs::read_to_string(dir.join(LABELS_FILE))
                .await
                .unwrap_or_default();
            if has_label(&labels, key, value) {
                remove_leftover(&dir).await;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn logs(&self, id: &str) -> LogLines {
        let (out, err) = match self.entries().get_mut(id) {
            Some(e) => (e.out.take(), e.err.take()),
            None => (None, None),
        };
        pipe_logs(out, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launchers_by_family() {
        let dir = Path::new("/repo/runtimes");
        assert_eq!(
            ProcessRuntime::for_kind(dir, "nodejs:18"),
            Some(ProcessRuntime {
                launcher: dir.join("nodejs/launcher.js"),
                source_file: "index.js".into(),
            })
        );
        assert_eq!(
            ProcessRuntime::for_kind(dir, "python:3.11").map(|r| r.source_file),
            Some("__main__.py".into())
        );
        assert_eq!(ProcessRuntime::for_kind(dir, "blackbox"), None);
        assert_eq!(ProcessRuntime::for_kind(dir, "java:8"), None);
    }

    #[tokio::test]
    async fn pipe_lines_are_cut_at_the_limit() {
        let long = "x".repeat(MAX_LINE as usize + 10);
        let text = format!("short\r\n{long}\nlast");
        let lines: Vec<String> =
            pipe_lines(std::io::Cursor::new(text.into_bytes()), LogStream::Stdout)
                .map(|l| l.unwrap().text)
                .collect()
                .await;
        assert_eq!(
            lines,
            [
                "short".to_owned(),
                "x".repeat(MAX_LINE as usize),
                "x".repeat(10),
                "last".to_owned()
            ]
        );
    }
}
