//! How activations run. The proxy holds one [`Executor`], chosen from the configured
//! [`ProxyMode`] when it starts, and hands it each `/init` and `/run`.
//!
//! - [`ExecPerRun`]: a new process of `exec` per activation, as the Docker skeleton does.
//! - [`ActionLoop`]: one long-lived process per container, started at `/init`, that reads
//!   the `/run` body as a JSON line on its stdin and writes the result as a line on its
//!   fd 3 (OpenWhisk's ActionLoop protocol); the Node.js and Python images use it.
//!
//! Either way the proxy around it is the same: it serialises requests and writes the
//! sentinel after each one.

mod actionloop;
mod exec;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::config::ProxyMode;
use crate::install::{self, Layout};
use crate::logs::Logs;
use crate::reply::Reply;
use whisk_protocol::{
    valid_tag, InitRequest, RunRequest, ERR_INIT_EXITED, ERR_INIT_FAILED, ERR_LOOP_START,
    ERR_RUN_BAD_RESULT, ERR_RUN_EXITED, ERR_RUN_NO_BINARY, KEY_ACTIVATION_ID,
};

pub(crate) use actionloop::mux::Mux;
pub(crate) use actionloop::ActionLoop;
pub(crate) use exec::ExecPerRun;

/// Why an `/init` or `/run` produced no result; each is answered 502 `{"error": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `/init` could not install an executable `exec`.
    InitFailed,
    /// There is no program to run, or it cannot be started (exec-per-run).
    NoBinary,
    /// The result line is not a JSON object or array.
    BadResult,
    /// The action's process cannot be started, or its start-up acknowledgement is wrong.
    StartFailed,
    /// The action's process ended before acknowledging its start-up.
    InitExited,
    /// The action's process ended before writing its result line.
    RunExited,
    /// The action reported this error itself (how a launcher reports a developer error).
    Reported(String),
}

impl Failure {
    /// The reply to send.
    pub(crate) fn reply(self) -> Reply {
        let message = match self {
            Failure::InitFailed => ERR_INIT_FAILED.to_owned(),
            Failure::NoBinary => ERR_RUN_NO_BINARY.to_owned(),
            Failure::BadResult => ERR_RUN_BAD_RESULT.to_owned(),
            Failure::StartFailed => ERR_LOOP_START.to_owned(),
            Failure::InitExited => ERR_INIT_EXITED.to_owned(),
            Failure::RunExited => ERR_RUN_EXITED.to_owned(),
            Failure::Reported(message) => message,
        };
        Reply::error(502, message)
    }
}

/// Runs activations.
#[derive(Debug)]
pub(crate) enum Executor {
    /// A new process of `exec` per activation.
    ExecPerRun(ExecPerRun),
    /// One long-lived process per container (boxed: it holds the process's state).
    ActionLoop(Box<ActionLoop>),
}

impl Executor {
    /// The executor `mode` asks for, for the action in `dir`.
    pub(crate) fn new(dir: PathBuf, mode: &ProxyMode) -> Self {
        match mode {
            ProxyMode::ExecPerRun => Executor::ExecPerRun(ExecPerRun::new(dir)),
            ProxyMode::ActionLoop {
                launcher,
                source_file,
            } => Executor::ActionLoop(Box::new(ActionLoop::new(
                dir,
                launcher.clone(),
                source_file.clone(),
            ))),
        }
    }

    /// Sets the action up as `request` says; true when runs may go at once from now on.
    /// The caller writes the sentinel afterwards.
    pub(crate) async fn init(
        &mut self,
        request: InitRequest,
        logs: &Logs,
    ) -> Result<bool, Failure> {
        match self {
            Executor::ExecPerRun(exec) => exec.init(request, logs).await,
            Executor::ActionLoop(action) => action.init(request, logs).await,
        }
    }

    /// What serves concurrent runs, when `/init` set that up (`None`: one at a time).
    pub(crate) async fn concurrent(&mut self, logs: &Logs) -> Option<Result<Concurrent, Failure>> {
        match self {
            Executor::ExecPerRun(exec) => {
                exec.concurrent.then(|| Ok(Concurrent::Exec(exec.clone())))
            }
            Executor::ActionLoop(action) => action
                .concurrent(logs)
                .await
                .map(|r| r.map(Concurrent::Loop)),
        }
    }

    /// Runs one activation. The action's logs go to `logs`, all of them before this
    /// returns; the caller writes the sentinel afterwards.
    pub(crate) async fn run(&mut self, request: RunRequest, logs: &Logs) -> Result<Value, Failure> {
        match self {
            Executor::ExecPerRun(exec) => exec.run(&request, logs).await,
            Executor::ActionLoop(action) => action.run(request, logs).await,
        }
    }
}

/// Runs one of several concurrent runs, outside the proxy's lock.
#[derive(Debug)]
pub(crate) enum Concurrent {
    /// A process per run, logging through the run's tagged handles.
    Exec(ExecPerRun),
    /// One process serving runs at once; it tags its lines itself.
    Loop(Arc<Mux>),
}

/// Numbers the tags of exec runs without a usable activation id.
static UNTAGGED_RUNS: AtomicU64 = AtomicU64::new(0);

impl Concurrent {
    /// Runs one activation; returns its tag (which its log lines and sentinel carry) and
    /// its outcome.
    pub(crate) async fn run(
        &self,
        request: RunRequest,
        logs: &Logs,
    ) -> (String, Result<Value, Failure>) {
        match self {
            Concurrent::Loop(mux) => mux.run(request, logs).await,
            Concurrent::Exec(exec) => {
                let tag = match request
                    .context
                    .get(KEY_ACTIVATION_ID)
                    .and_then(Value::as_str)
                {
                    Some(id) if valid_tag(id) => id.to_owned(),
                    _ => format!("run-{}", UNTAGGED_RUNS.fetch_add(1, Ordering::Relaxed)),
                };
                let own = logs.tagged(&tag);
                let outcome = exec.run(&request, &own).await;
                own.end_partial();
                (tag, outcome)
            }
        }
    }
}

/// Installs the code of `request` into `dir` off the async threads; see [`install::install`].
async fn install_code(
    dir: &Path,
    request: &InitRequest,
    layout: Layout<'_>,
) -> Result<PathBuf, String> {
    let dir = dir.to_owned();
    let code = request.code.clone();
    let binary = request.binary;
    let source = match layout {
        Layout::Exec => None,
        Layout::Source(name) => Some(name.to_owned()),
    };
    let installed = tokio::task::spawn_blocking(move || {
        let layout = match &source {
            None => Layout::Exec,
            Some(name) => Layout::Source(name),
        };
        install::install(&dir, code.as_deref(), binary, layout)
    })
    .await;
    match installed {
        Ok(Ok(path)) => Ok(path),
        Ok(Err(err)) => Err(err.to_string()),
        Err(err) => Err(err.to_string()),
    }
}
