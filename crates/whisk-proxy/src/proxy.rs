//! The proxy's state machine: `/init` at most once (successfully), then runs, one at a time
//! unless the action serves concurrent runs.
//!
//! Every `/init` and `/run` takes the same lock for its whole handling, including the
//! sentinel, so activations never mix their input, output or logs, and concurrent requests
//! are served in arrival order (tokio's mutex is fair). The work happens in a task of its
//! own: a client that hangs up mid-run does not cut the activation short, so its logs and
//! sentinel are still written and the next request finds a consistent state.
//!
//! After an `/init` that set up concurrent runs (the executor's launcher confirmed it; the
//! reply then says `"concurrent":true`), a `/run` holds the lock only to find the process:
//! runs go at once, each one's log lines and sentinel tagged with its tag.

use std::path::PathBuf;
use std::sync::Arc;

use hyper::body::Bytes;
use tokio::sync::Mutex;

use crate::config::{ProxyConfig, ProxyMode};
use crate::executor::{Concurrent, Executor};
use crate::logs::Logs;
use crate::reply::Reply;
use whisk_protocol::{
    init_ok_body, init_ok_concurrent_body, parse_init, parse_run, RunRequestError, ERR_REINIT,
    ERR_RUN_BAD_ARGUMENT,
};

/// The action proxy: what `/init` and `/run` do, independent of HTTP. Clones share one state.
#[derive(Debug, Clone)]
pub struct Proxy {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// Set by the first successful `/init`; later ones are refused.
    initialized: bool,
    /// How runs happen.
    executor: Executor,
    /// The container log.
    logs: Logs,
}

impl Proxy {
    /// An exec-per-run proxy (the Docker skeleton) for the action in `action_dir`
    /// (`/action` in a container).
    pub fn new(action_dir: PathBuf) -> Self {
        Self::with_mode(action_dir, &ProxyMode::ExecPerRun)
    }

    /// A proxy for the action directory and executor that `config` names.
    pub fn from_config(config: &ProxyConfig) -> Self {
        Self::with_mode(config.action_dir.clone(), &config.mode)
    }

    /// A proxy for the action in `action_dir`, running activations as `mode` says.
    pub fn with_mode(action_dir: PathBuf, mode: &ProxyMode) -> Self {
        let state = State {
            executor: Executor::new(action_dir, mode),
            initialized: false,
            logs: Logs::default(),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Handles a `/init` body; writes the sentinel before returning.
    pub async fn init(&self, body: Bytes) -> Reply {
        self.exclusive(Work::Init(body)).await
    }

    /// Handles a `/run` body; writes the sentinel before returning.
    pub async fn run(&self, body: Bytes) -> Reply {
        self.exclusive(Work::Run(body)).await
    }

    /// Answers an `/init` or `/run` whose body could not be read with `reply`, after
    /// writing the sentinel like every other `/init` and `/run`.
    pub async fn reject(&self, reply: Reply) -> Reply {
        self.exclusive(Work::Reject(reply)).await
    }

    /// Does `work` under the lock, in a task of its own, and writes the sentinel.
    async fn exclusive(&self, work: Work) -> Reply {
        let state = Arc::clone(&self.state);
        let task = tokio::spawn(async move {
            let mut state = state.lock_owned().await;
            if let Work::Run(body) = &work {
                let logs = state.logs.clone();
                match state.executor.concurrent(&logs).await {
                    None => {}
                    Some(Err(failure)) => {
                        state.logs.end_activation();
                        return failure.reply();
                    }
                    Some(Ok(runs)) => {
                        drop(state);
                        return run_concurrent(&runs, body, &logs).await;
                    }
                }
            }
            let reply = match work {
                Work::Init(body) => state.init(&body).await,
                Work::Run(body) => state.run(&body).await,
                Work::Reject(reply) => reply,
            };
            state.logs.end_activation();
            reply
        });
        match task.await {
            Ok(reply) => reply,
            Err(err) => Reply::error(500, format!("The proxy failed: {err}")),
        }
    }
}

/// One of several runs at once: its lines and sentinel carry its tag. A body that cannot
/// be read gets an untagged sentinel (it never reached the action).
async fn run_concurrent(runs: &Concurrent, body: &[u8], logs: &Logs) -> Reply {
    let request = match parse_run(body) {
        Ok(request) => request,
        Err(err) => {
            logs.end_activation();
            return match err {
                RunRequestError::BadArgument => Reply::error(404, ERR_RUN_BAD_ARGUMENT),
                RunRequestError::BadRequest(err) => Reply::error(400, err.to_string()),
            };
        }
    };
    let (tag, outcome) = runs.run(request, logs).await;
    logs.end_tagged(&tag);
    match outcome {
        Ok(result) => Reply::ok(result),
        Err(failure) => failure.reply(),
    }
}

/// One `/init` or `/run` to handle.
#[derive(Debug)]
enum Work {
    Init(Bytes),
    Run(Bytes),
    Reject(Reply),
}

impl State {
    async fn init(&mut self, body: &[u8]) -> Reply {
        if self.initialized {
            return Reply::error(403, ERR_REINIT);
        }
        let request = match parse_init(body) {
            Ok(request) => request,
            Err(err) => return Reply::error(400, err.to_string()),
        };
        match self.executor.init(request, &self.logs).await {
            Ok(concurrent) => {
                self.initialized = true;
                Reply::ok(if concurrent {
                    init_ok_concurrent_body()
                } else {
                    init_ok_body()
                })
            }
            Err(failure) => failure.reply(),
        }
    }

    async fn run(&mut self, body: &[u8]) -> Reply {
        let request = match parse_run(body) {
            Ok(request) => request,
            Err(RunRequestError::BadArgument) => return Reply::error(404, ERR_RUN_BAD_ARGUMENT),
            Err(RunRequestError::BadRequest(err)) => return Reply::error(400, err.to_string()),
        };
        match self.executor.run(request, &self.logs).await {
            Ok(result) => Reply::ok(result),
            Err(failure) => failure.reply(),
        }
    }
}
