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
//!
//! [`Logs::tagged`] gives one of several concurrent runs its own handles: they write whole
//! lines only, each tagged with the run's tag ([`whisk_protocol::tag_line`]), holding the
//! start of a line back until its end (or the run's end), so runs never share a line.

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
    /// A concurrent run's tag and the start of its line not yet written.
    tagged: Option<Arc<Tagged>>,
}

/// What a tagged handle adds: the run's tag and its unfinished line.
#[derive(Debug)]
struct Tagged {
    tag: String,
    partial: Mutex<Vec<u8>>,
}

impl StreamLog {
    fn new(stream: Stream) -> Self {
        Self {
            stream,
            open_line: Arc::new(Mutex::new(false)),
            tagged: None,
        }
    }

    /// A handle on the same stream for the run tagged `tag`.
    fn tagged(&self, tag: &str) -> Self {
        Self {
            stream: self.stream,
            open_line: Arc::clone(&self.open_line),
            tagged: Some(Arc::new(Tagged {
                tag: tag.to_owned(),
                partial: Mutex::new(Vec::new()),
            })),
        }
    }

    /// Writes `bytes` to the stream and flushes.
    pub(crate) fn write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(tagged) = &self.tagged {
            let mut partial = tagged.partial.lock().unwrap_or_else(|e| e.into_inner());
            partial.extend_from_slice(bytes);
            let Some(last) = partial.iter().rposition(|&b| b == b'\n') else {
                return;
            };
            let rest = partial.split_off(last + 1);
            let whole = std::mem::replace(&mut *partial, rest);
            drop(partial);
            // `whole` ends with a newline: every piece but the empty last one is a line.
            for line in whole[..whole.len() - 1].split(|&b| b == b'\n') {
                self.tagged_line(&tagged.tag, line);
            }
            return;
        }
        let mut open_line = self.lock();
        *open_line = self.write_locked(bytes);
    }

    /// Ends a tagged handle's unfinished line, if any.
    fn end_partial(&self) {
        if let Some(tagged) = &self.tagged {
            let rest =
                std::mem::take(&mut *tagged.partial.lock().unwrap_or_else(|e| e.into_inner()));
            if !rest.is_empty() {
                self.tagged_line(&tagged.tag, &rest);
            }
        }
    }

    /// Writes `text` as a whole line tagged `tag`.
    fn tagged_line(&self, tag: &str, text: &[u8]) {
        let line = whisk_protocol::tag_line(tag, &String::from_utf8_lossy(text));
        self.plain_line(&line);
    }

    /// Writes `line` as a line of its own (after a newline if the stream's line is open);
    /// tagged, for a tagged handle.
    pub(crate) fn line(&self, line: &str) {
        if let Some(tagged) = &self.tagged {
            self.end_partial();
            self.tagged_line(&tagged.tag, line.as_bytes());
            return;
        }
        self.plain_line(line);
    }

    fn plain_line(&self, line: &str) {
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

    /// Ends one of several concurrent runs: the sentinel tagged with the run's tag
    /// ([`whisk_protocol::tag_line`]) on stdout, then on stderr.
    pub(crate) fn end_tagged(&self, tag: &str) {
        let line = whisk_protocol::tag_line(tag, SENTINEL);
        self.out.plain_line(&line);
        self.err.plain_line(&line);
    }

    /// Handles on both streams for one of several concurrent runs, tagged `tag`.
    pub(crate) fn tagged(&self, tag: &str) -> Logs {
        Logs {
            out: self.out.tagged(tag),
            err: self.err.tagged(tag),
        }
    }

    /// Writes out the unfinished lines of tagged handles (at the end of their run).
    pub(crate) fn end_partial(&self) {
        self.out.end_partial();
        self.err.end_partial();
    }
}
