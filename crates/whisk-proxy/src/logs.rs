//! The proxy's stdout and stderr are the container log: the action's output is forwarded
//! there, and the sentinel closes every `/init` and `/run`.
//!
//! Each stream remembers whether its last byte ended a line, so that the sentinel always
//! starts a line of its own even when the action's last write had no newline. Write errors
//! are ignored: with nowhere to log, the activation still gets its result.
//!
//! A [`StreamLog`] is a cheap handle: clones share the line state, and every write happens
//! under a short lock, so the actionloop executor's forwarding tasks and the proxy (writing
//! the sentinel) can write to the same stream without tearing lines or losing the state.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use whisk_protocol::SENTINEL;

/// Which of the proxy's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// One of the proxy's output streams. Clones write to the same stream and share its state.
#[derive(Debug, Clone)]
pub(crate) struct StreamLog {
    stream: Stream,
    /// True when the last byte written was not a newline. The lock is also held for the
    /// write itself, so writes from several tasks never interleave.
    open_line: Arc<Mutex<bool>>,
}

impl StreamLog {
    fn new(stream: Stream) -> Self {
        Self {
            stream,
            open_line: Arc::new(Mutex::new(false)),
        }
    }

    /// Writes `bytes` to the stream and flushes.
    pub(crate) fn write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut open_line = self.lock();
        *open_line = self.write_locked(bytes);
    }

    /// Writes `line` as a line of its own (after a newline if the stream's line is open).
    pub(crate) fn line(&self, line: &str) {
        let mut open_line = self.lock();
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if *open_line {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        *open_line = self.write_locked(&bytes);
    }

    fn sentinel(&self) {
        self.line(SENTINEL);
    }

    /// Writes and flushes; returns the new "line is open" state.
    fn write_locked(&self, bytes: &[u8]) -> bool {
        let result = match self.stream {
            Stream::Stdout => write_flush(&mut io::stdout().lock(), bytes),
            Stream::Stderr => write_flush(&mut io::stderr().lock(), bytes),
        };
        // A failed write leaves the line state unknown; assume it is open so the sentinel
        // gets a line of its own.
        result.is_err() || bytes.last() != Some(&b'\n')
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        // A panic while writing cannot leave the flag inconsistent: use it anyway.
        self.open_line.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn write_flush(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Both streams of the container log. Clones share the streams.
#[derive(Debug, Clone)]
pub(crate) struct Logs {
    /// The proxy's stdout.
    pub(crate) out: StreamLog,
    /// The proxy's stderr.
    pub(crate) err: StreamLog,
}

impl Default for Logs {
    fn default() -> Self {
        Self {
            out: StreamLog::new(Stream::Stdout),
            err: StreamLog::new(Stream::Stderr),
        }
    }
}

impl Logs {
    /// Ends an `/init` or `/run`: the sentinel line on stdout, then on stderr, flushed.
    pub(crate) fn end_activation(&self) {
        self.out.sentinel();
        self.err.sentinel();
    }
}
