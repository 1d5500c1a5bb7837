//! Concurrent runs in one action process (a launcher that acknowledged start-up with
//! `{"ok":true,"concurrent":true}`, given `__OW_ALLOW_CONCURRENT=true`).
//!
//! Each run gets a tag: its activation id, or a number of the proxy's when the body has
//! none (or one already running). The request line is `<tag> <body JSON>` on stdin; the
//! process answers `<tag> <answer>` on fd 3, in any order, and writes each of the run's log
//! lines as `<TAG_MARK><tag> <text>` ([`whisk_protocol::tag_line`]). One task reads the
//! answers and hands each to the run waiting for its tag; the forwarders pass whole lines
//! only, so the proxy's tagged sentinel never splits a line of another run.
//!
//! When the process ends, every waiting run gets "exited unexpectedly" and the next run
//! starts it again (see [`super::ActionLoop::concurrent`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use whisk_protocol::{valid_tag, RunRequest, KEY_ACTIVATION_ID};

use super::forward::Forwarder;
use super::process::LoopProcess;
use super::{request_line, result};
use crate::executor::Failure;
use crate::logs::Logs;

/// Runs waiting for their answers, by tag.
#[derive(Debug, Default)]
struct Waiting {
    runs: HashMap<String, oneshot::Sender<Vec<u8>>>,
    /// Fd 3 is closed: no answer will come.
    ended: bool,
}

/// One action process serving runs at once.
#[derive(Debug)]
pub(crate) struct Mux {
    stdin: tokio::sync::Mutex<ChildStdin>,
    waiting: Arc<Mutex<Waiting>>,
    child: tokio::sync::Mutex<Child>,
    out: Forwarder,
    err: Forwarder,
    reader: JoinHandle<()>,
    /// Numbers the tags of runs without a usable activation id.
    next: AtomicU64,
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(|e| e.into_inner())
}

impl Mux {
    /// Serves concurrent runs with `process`, which has acknowledged its start-up.
    pub(super) fn new(process: LoopProcess) -> Self {
        let (child, stdin, mut answers, out, err) = process.into_parts();
        out.whole_lines();
        err.whole_lines();
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let shared = Arc::clone(&waiting);
        let reader = tokio::spawn(async move {
            while let Some(line) = answers.next_line().await {
                let space = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
                let tag = String::from_utf8_lossy(&line[..space]).into_owned();
                let answer = line.get(space + 1..).unwrap_or_default().to_vec();
                if let Some(run) = lock(&shared).runs.remove(&tag) {
                    let _ = run.send(answer);
                }
            }
            let mut waiting = lock(&shared);
            waiting.ended = true;
            // Dropping the senders tells every waiting run.
            waiting.runs.clear();
        });
        Self {
            stdin: tokio::sync::Mutex::new(stdin),
            waiting,
            child: tokio::sync::Mutex::new(child),
            out,
            err,
            reader,
            next: AtomicU64::new(0),
        }
    }

    /// Whether the process can still answer.
    pub(super) fn is_running(&self) -> bool {
        !lock(&self.waiting).ended
    }

    /// Runs one activation; returns its tag (which its log lines and sentinel carry) and
    /// its outcome.
    pub(crate) async fn run(
        &self,
        request: RunRequest,
        logs: &Logs,
    ) -> (String, Result<serde_json::Value, Failure>) {
        let (tx, rx) = oneshot::channel();
        let tag = {
            let mut waiting = lock(&self.waiting);
            let tag = match request
                .context
                .get(KEY_ACTIVATION_ID)
                .and_then(|v| v.as_str())
            {
                Some(id) if valid_tag(id) && !waiting.runs.contains_key(id) => id.to_owned(),
                _ => format!("run-{}", self.next.fetch_add(1, Ordering::Relaxed)),
            };
            if waiting.ended {
                return (tag, Err(Failure::RunExited));
            }
            waiting.runs.insert(tag.clone(), tx);
            tag
        };
        let mut line = Vec::with_capacity(tag.len() + 1);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(&request_line(request));
        let written = self.stdin.lock().await.write_all(&line).await;
        if written.is_err() {
            lock(&self.waiting).runs.remove(&tag);
            return (tag, Err(Failure::RunExited));
        }
        let answer = rx.await;
        // The run's log lines were in the pipes before its answer.
        tokio::join!(self.out.flush(), self.err.flush());
        match answer {
            Ok(line) => {
                let outcome = result(&line, logs);
                (tag, outcome)
            }
            Err(_) => (tag, Err(Failure::RunExited)),
        }
    }

    /// Ends the process and forwards the last of its output.
    pub(super) async fn stop(&self) {
        let mut child = self.child.lock().await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        tokio::join!(self.out.flush(), self.err.flush());
    }
}
