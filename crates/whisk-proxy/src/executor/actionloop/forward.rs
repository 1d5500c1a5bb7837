//! Forwarding the action process's stdout or stderr to the proxy's own stream, all the
//! time (so a process that logs between activations never blocks on a full pipe), with a
//! flush barrier for the end of each activation.
//!
//! [`Forwarder::flush`] returns once everything that was in the pipe when it was called has
//! been written to the proxy's stream. The process writes its logs before its result line,
//! and a pipe write is in the pipe when the `write` returns, so flushing both streams after
//! the result line arrives puts all of the activation's logs before the sentinel.
//!
//! When the process serves concurrent runs ([`Forwarder::whole_lines`]) the sink gets whole
//! lines only: a line the pipe holds in part waits for its end, so a sentinel written
//! meanwhile never lands inside another run's line.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::lines::{PipeReader, CHUNK};
use crate::logs::StreamLog;

/// A running forwarding task; it ends when this is dropped.
#[derive(Debug)]
pub(super) struct Forwarder {
    /// Flush requests, each answered once the pipe has been emptied.
    flush: mpsc::UnboundedSender<oneshot::Sender<()>>,
    /// Whether only whole lines go to the sink.
    whole: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Starts copying `source` (a non-blocking pipe read end) to `sink`.
    pub(super) fn start(source: PipeReader, sink: StreamLog) -> Self {
        let (flush, requests) = mpsc::unbounded_channel();
        let whole = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(forward(source, sink, requests, Arc::clone(&whole)));
        Self { flush, whole, task }
    }

    /// From now on, writes only whole lines (the rest of a line waits for its newline, or
    /// for the end of the stream).
    pub(super) fn whole_lines(&self) {
        self.whole.store(true, Ordering::Relaxed);
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
    whole: Arc<AtomicBool>,
) {
    let mut out = Output {
        sink,
        whole,
        carry: Vec::new(),
    };
    let mut buf = Vec::with_capacity(CHUNK);
    let mut eof = false;
    loop {
        tokio::select! {
            biased;
            request = requests.recv() => {
                let Some(done) = request else { return };
                if !eof {
                    eof = drain(&source, &mut out, &mut buf);
                }
                let _ = done.send(());
            }
            read = source.read(&mut buf), if !eof => {
                match read {
                    Ok(0) | Err(_) => {
                        eof = true;
                        out.end();
                    }
                    Ok(_) => out.write(&buf),
                }
                buf.clear();
            }
        }
    }
}

/// The sink, with the start of a line held back in whole-lines mode.
struct Output {
    sink: StreamLog,
    whole: Arc<AtomicBool>,
    /// Bytes after the last newline written, waiting for the rest of their line.
    carry: Vec<u8>,
}

impl Output {
    fn write(&mut self, bytes: &[u8]) {
        if !self.whole.load(Ordering::Relaxed) && self.carry.is_empty() {
            self.sink.write(bytes);
            return;
        }
        self.carry.extend_from_slice(bytes);
        if let Some(last) = self.carry.iter().rposition(|&b| b == b'\n') {
            let rest = self.carry.split_off(last + 1);
            self.sink.write(&self.carry);
            self.carry = rest;
        }
    }

    /// The stream ended: whatever is held back goes out as it is.
    fn end(&mut self) {
        let rest = std::mem::take(&mut self.carry);
        self.sink.write(&rest);
    }
}

/// Reads the pipe directly until it is empty (whatever tokio's readiness says) and writes
/// what it held. Returns whether the writing side is closed.
fn drain(source: &PipeReader, out: &mut Output, buf: &mut Vec<u8>) -> bool {
    loop {
        buf.clear();
        match source.read_now(buf) {
            Ok(0) => {
                out.end();
                return true;
            }
            Ok(_) => out.write(buf),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => {
                out.end();
                return true;
            }
        }
    }
}
