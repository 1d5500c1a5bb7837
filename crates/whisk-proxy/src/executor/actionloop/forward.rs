//! Forwarding the action process's stdout or stderr to the proxy's own stream, all the
//! time (so a process that logs between activations never blocks on a full pipe), with a
//! flush barrier for the end of each activation.
//!
//! [`Forwarder::flush`] returns once everything that was in the pipe when it was called has
//! been written to the proxy's stream. The process writes its logs before its result line,
//! and a pipe write is in the pipe when the `write` returns, so flushing both streams after
//! the result line arrives puts all of the activation's logs before the sentinel.

use std::io;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::lines::{PipeReader, CHUNK};
use crate::logs::StreamLog;

/// A running forwarding task; it ends when this is dropped.
#[derive(Debug)]
pub(super) struct Forwarder {
    /// Flush requests, each answered once the pipe has been emptied.
    flush: mpsc::UnboundedSender<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Starts copying `source` (a non-blocking pipe read end) to `sink`.
    pub(super) fn start(source: PipeReader, sink: StreamLog) -> Self {
        let (flush, requests) = mpsc::unbounded_channel();
        let task = tokio::spawn(forward(source, sink, requests));
        Self { flush, task }
    }

    /// Waits until what the pipe holds now has been written to the sink.
    pub(super) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.flush.send(done).is_ok() {
            // An error means the task is gone: nothing more to forward.
            let _ = wait.await;
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    source: PipeReader,
    sink: StreamLog,
    mut requests: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut buf = Vec::with_capacity(CHUNK);
    let mut eof = false;
    loop {
        tokio::select! {
            biased;
            request = requests.recv() => {
                let Some(done) = request else { return };
                if !eof {
                    eof = drain(&source, &sink, &mut buf);
                }
                let _ = done.send(());
            }
            read = source.read(&mut buf), if !eof => {
                match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(_) => sink.write(&buf),
                }
                buf.clear();
            }
        }
    }
}

/// Reads the pipe directly until it is empty (whatever tokio's readiness says) and writes
/// what it held. Returns whether the writing side is closed.
fn drain(source: &PipeReader, sink: &StreamLog, buf: &mut Vec<u8>) -> bool {
    loop {
        buf.clear();
        match source.read_now(buf) {
            Ok(0) => return true,
            Ok(_) => sink.write(buf),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}
