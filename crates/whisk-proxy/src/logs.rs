//! The proxy's stdout and stderr are the container log: the action's output is forwarded
//! there, and the sentinel closes every `/init` and `/run`.
//!
//! Each stream remembers whether its last byte ended a line, so that the sentinel always
//! starts a line of its own even when the action's last write had no newline. Write errors
//! are ignored: with nowhere to log, the activation still gets its result.

use std::io::{self, Write};

use crate::protocol::SENTINEL;

/// Which of the proxy's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// One of the proxy's output streams.
#[derive(Debug)]
pub(crate) struct StreamLog {
    stream: Stream,
    /// True when the last byte written was not a newline.
    open_line: bool,
}

impl StreamLog {
    fn new(stream: Stream) -> Self {
        Self {
            stream,
            open_line: false,
        }
    }

    /// Writes `bytes` to the stream and flushes.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let result = match self.stream {
            Stream::Stdout => write_flush(&mut io::stdout().lock(), bytes),
            Stream::Stderr => write_flush(&mut io::stderr().lock(), bytes),
        };
        // A failed write leaves the line state unknown; assume it is open so the sentinel
        // gets a line of its own.
        self.open_line = result.is_err() || bytes.last() != Some(&b'\n');
    }

    /// Writes `line` as a line of its own (after a newline if the stream's line is open).
    pub(crate) fn line(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if self.open_line {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.write(&bytes);
    }

    fn sentinel(&mut self) {
        self.line(SENTINEL);
    }
}

fn write_flush(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Both streams of the container log.
#[derive(Debug)]
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
    pub(crate) fn end_activation(&mut self) {
        self.out.sentinel();
        self.err.sentinel();
    }
}
