//! Log collection (reference §8.4): one long-lived reader per container feeds a channel,
//! and each activation takes lines from it until the sentinel has been seen on stdout and
//! on stderr as often as the proxy wrote it (once per `/init` and once per `/run`).
//!
//! Lines are stored as `<timestamp padded to 30> <stream>: <text>`, sentinel lines dropped,
//! and the total text size is capped by the action's log limit.

use std::fmt;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use whisk_protocol::find_sentinel;

use crate::factory::FactoryError;
use crate::outcome;

/// Lines buffered between a container's log reader and the activation taking them.
const CHANNEL_LINES: usize = 1024;

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// `stdout` or `stderr`, as stored lines name it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

impl fmt::Display for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    /// RFC 3339 with up to nanoseconds, as the engine recorded it.
    pub timestamp: String,
    /// The text without its line end.
    pub text: String,
}

impl LogLine {
    /// Parses a log entry requested with timestamps: `<timestamp> <text>\n`.
    /// An entry without a space is all timestamp-less text stamped with the current time.
    pub fn parse_timestamped(stream: LogStream, entry: &[u8]) -> Self {
        let entry = String::from_utf8_lossy(entry);
        let entry = entry.strip_suffix('\n').unwrap_or(&entry);
        let entry = entry.strip_suffix('\r').unwrap_or(entry);
        match entry.split_once(' ') {
            Some((ts, text)) if looks_like_timestamp(ts) => Self {
                stream,
                timestamp: ts.to_owned(),
                text: text.to_owned(),
            },
            _ if looks_like_timestamp(entry) => Self {
                stream,
                timestamp: entry.to_owned(),
                text: String::new(),
            },
            _ => Self {
                stream,
                timestamp: now_timestamp(),
                text: entry.to_owned(),
            },
        }
    }

    /// The stored form: `2016-02-11T16:46:56.842065025Z stdout: hello bob!`.
    pub fn format(&self) -> String {
        format_line(&self.timestamp, self.stream, &self.text)
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[10] == b'T' && b[..4].iter().all(u8::is_ascii_digit)
}

/// `<timestamp left-justified to 30> <stream>: <text>`.
pub fn format_line(timestamp: &str, stream: LogStream, text: &str) -> String {
    format!("{timestamp:<30} {stream}: {text}")
}

/// The current time as an RFC 3339 UTC timestamp with nanoseconds
/// (`2016-02-11T16:46:56.842065025Z`).
pub fn now_timestamp() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "{}.{:09}Z",
        now.strftime("%Y-%m-%dT%H:%M:%S"),
        now.subsec_nanosecond()
    )
}

/// A container's log lines as the factory delivers them.
pub type LogLines = BoxStream<'static, Result<LogLine, FactoryError>>;

/// The receiving end of a container's log reader. Dropping it stops the reader.
#[derive(Debug)]
pub(crate) struct LogReceiver {
    rx: mpsc::Receiver<LogLine>,
    reader: JoinHandle<()>,
}

impl Drop for LogReceiver {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LogReceiver {
    /// Starts a task forwarding `lines` into a channel; it ends when the stream ends (the
    /// container stopped) or fails.
    pub(crate) fn spawn(mut lines: LogLines) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_LINES);
        let reader = tokio::spawn(async move {
            while let Some(item) = lines.next().await {
                match item {
                    Ok(line) => {
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "Container log stream failed.");
                        return;
                    }
                }
            }
        });
        Self { rx, reader }
    }

    /// True once the log stream ended, which happens when the container stopped (lines
    /// may still be buffered).
    pub(crate) fn is_closed(&self) -> bool {
        self.rx.is_closed()
    }

    /// Takes lines until the accumulator has seen its sentinels. False when the stream
    /// ended or `deadline` passed first.
    pub(crate) async fn collect(&mut self, acc: &mut LogAccumulator, deadline: Instant) -> bool {
        while !acc.is_complete() {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(line)) => acc.push(line),
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }

    /// Takes every line until the stream ends (the container is being removed) or
    /// `deadline` passes, without waiting for sentinels.
    pub(crate) async fn drain(&mut self, acc: &mut LogAccumulator, deadline: Instant) {
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            acc.push(line);
        }
    }
}

/// The lines of one activation, built line by line; pure so it is tested without Docker.
#[derive(Debug)]
pub(crate) struct LogAccumulator {
    limit_bytes: u64,
    used_bytes: u64,
    truncated: bool,
    /// Sentinels expected on each stream (2 for a cold start: `/init` and `/run`).
    sentinels: u32,
    seen_stdout: u32,
    seen_stderr: u32,
    lines: Vec<String>,
}

impl LogAccumulator {
    /// `limit_mb` is the action's log limit (0 keeps nothing).
    pub(crate) fn new(limit_mb: u64, sentinels: u32) -> Self {
        Self {
            limit_bytes: limit_mb.saturating_mul(1024 * 1024),
            used_bytes: 0,
            truncated: false,
            sentinels,
            seen_stdout: 0,
            seen_stderr: 0,
            lines: Vec::new(),
        }
    }

    /// True once every expected sentinel was seen on both streams.
    pub(crate) fn is_complete(&self) -> bool {
        self.seen_stdout >= self.sentinels && self.seen_stderr >= self.sentinels
    }

    pub(crate) fn push(&mut self, line: LogLine) {
        match find_sentinel(&line.text) {
            Some(at) => {
                match line.stream {
                    LogStream::Stdout => self.seen_stdout += 1,
                    LogStream::Stderr => self.seen_stderr += 1,
                }
                // Output without a final newline shares the sentinel's line: keep it.
                if at > 0 {
                    let text = line.text[..at].to_owned();
                    self.keep(LogLine { text, ..line });
                }
            }
            None => self.keep(line),
        }
    }

    fn keep(&mut self, line: LogLine) {
        if self.truncated || self.limit_bytes == 0 {
            return;
        }
        let size = line.text.len() as u64;
        if self.used_bytes + size > self.limit_bytes {
            self.truncated = true;
            self.lines.push(format_line(
                &now_timestamp(),
                LogStream::Stderr,
                &outcome::logs_truncated(self.limit_bytes),
            ));
            return;
        }
        self.used_bytes += size;
        self.lines.push(line.format());
    }

    /// The stored lines, with `note` (a collection problem) appended on stderr.
    pub(crate) fn finish(mut self, note: Option<&str>) -> Vec<String> {
        if let Some(note) = note {
            if self.limit_bytes > 0 {
                self.lines
                    .push(format_line(&now_timestamp(), LogStream::Stderr, note));
            }
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisk_protocol::SENTINEL;

    fn line(stream: LogStream, ts: &str, text: &str) -> LogLine {
        LogLine {
            stream,
            timestamp: ts.into(),
            text: text.into(),
        }
    }

    const TS: &str = "2016-02-11T16:46:56.842065025Z";

    fn check_parse(entry: &str, want_ts: Option<&str>, want_text: &str) {
        let l = LogLine::parse_timestamped(LogStream::Stdout, entry.as_bytes());
        if let Some(ts) = want_ts {
            assert_eq!(l.timestamp, ts, "{entry:?}");
        } else {
            assert!(looks_like_timestamp(&l.timestamp), "{entry:?}");
        }
        assert_eq!(l.text, want_text, "{entry:?}");
    }

    #[test]
    fn parses_docker_entries() {
        check_parse(&format!("{TS} hello bob!\n"), Some(TS), "hello bob!");
        check_parse(&format!("{TS} hello\r\n"), Some(TS), "hello");
        check_parse(&format!("{TS}  two spaces\n"), Some(TS), " two spaces");
        check_parse(&format!("{TS} \n"), Some(TS), "");
        check_parse(&format!("{TS}\n"), Some(TS), "");
        check_parse(
            "2016-02-11T16:46:56.8Z partial",
            Some("2016-02-11T16:46:56.8Z"),
            "partial",
        );
        check_parse("no timestamp here\n", None, "no timestamp here");
    }

    #[test]
    fn formats_like_openwhisk() {
        assert_eq!(
            line(LogStream::Stdout, TS, "hello bob!").format(),
            "2016-02-11T16:46:56.842065025Z stdout: hello bob!"
        );
        // Go trims trailing zeros of the nanoseconds: the timestamp is padded to 30.
        assert_eq!(
            line(LogStream::Stderr, "2016-02-11T16:46:56.84Z", "x").format(),
            "2016-02-11T16:46:56.84Z        stderr: x"
        );
        let now = now_timestamp();
        assert_eq!(now.len(), 30, "{now}");
        assert!(looks_like_timestamp(&now));
    }

    fn feed(acc: &mut LogAccumulator, lines: &[(LogStream, &str)]) {
        for (s, t) in lines {
            acc.push(line(*s, TS, t));
        }
    }

    use LogStream::{Stderr as E, Stdout as O};

    #[test]
    fn stops_after_sentinels_on_both_streams() {
        let mut acc = LogAccumulator::new(10, 1);
        feed(&mut acc, &[(O, "a"), (E, "b"), (O, SENTINEL)]);
        assert!(!acc.is_complete());
        feed(&mut acc, &[(E, "c"), (E, SENTINEL)]);
        assert!(acc.is_complete());
        assert_eq!(
            acc.finish(None),
            vec![
                format!("{TS} stdout: a"),
                format!("{TS} stderr: b"),
                format!("{TS} stderr: c"),
            ]
        );
    }

    #[test]
    fn cold_start_waits_for_two_pairs_and_keeps_init_lines() {
        let mut acc = LogAccumulator::new(10, 2);
        feed(
            &mut acc,
            &[(O, "init"), (O, SENTINEL), (E, SENTINEL), (O, "run")],
        );
        assert!(!acc.is_complete());
        feed(&mut acc, &[(E, SENTINEL), (O, SENTINEL)]);
        assert!(acc.is_complete());
        let lines = acc.finish(None);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("stdout: init"));
        assert!(lines[1].ends_with("stdout: run"));
    }

    #[test]
    fn text_before_a_sentinel_on_the_same_line_is_kept() {
        let mut acc = LogAccumulator::new(10, 1);
        feed(
            &mut acc,
            &[(O, &format!("partial{SENTINEL}")), (E, SENTINEL)],
        );
        assert!(acc.is_complete());
        assert_eq!(acc.finish(None), vec![format!("{TS} stdout: partial")]);
    }

    #[test]
    fn truncates_at_the_limit_with_the_message_last() {
        let mut acc = LogAccumulator::new(1, 1);
        let big = "x".repeat(600 * 1024);
        feed(
            &mut acc,
            &[(O, &big), (O, &big), (O, "later"), (O, SENTINEL)],
        );
        assert!(!acc.is_complete());
        feed(&mut acc, &[(E, SENTINEL)]);
        assert!(acc.is_complete());
        let lines = acc.finish(None);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(&big));
        assert!(lines[1].ends_with(
            " stderr: Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes."
        ));
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut acc = LogAccumulator::new(0, 1);
        feed(&mut acc, &[(O, "a"), (O, SENTINEL), (E, SENTINEL)]);
        assert!(acc.is_complete());
        assert!(acc.finish(Some(outcome::LOGS_AFTER_FAILURE)).is_empty());
    }

    #[test]
    fn a_note_is_appended_on_stderr() {
        let mut acc = LogAccumulator::new(10, 1);
        feed(&mut acc, &[(O, "a")]);
        let lines = acc.finish(Some(outcome::LOGS_INCOMPLETE));
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with(
            " stderr: There was an issue while collecting your logs. Data might be missing."
        ));
    }

    #[tokio::test]
    async fn receiver_collects_until_sentinels_then_leaves_the_rest() {
        let items: Vec<Result<LogLine, FactoryError>> = [
            (O, "one"),
            (O, SENTINEL),
            (E, SENTINEL),
            (O, "two"),
            (O, SENTINEL),
            (E, SENTINEL),
        ]
        .iter()
        .map(|(s, t)| Ok(line(*s, TS, t)))
        .collect();
        let mut rx = LogReceiver::spawn(futures_util::stream::iter(items).boxed());
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut first = LogAccumulator::new(10, 1);
        assert!(rx.collect(&mut first, deadline).await);
        assert_eq!(first.finish(None), vec![format!("{TS} stdout: one")]);
        let mut second = LogAccumulator::new(10, 1);
        assert!(rx.collect(&mut second, deadline).await);
        assert_eq!(second.finish(None), vec![format!("{TS} stdout: two")]);
        // The stream ended: the next collection stops without its sentinels.
        let mut third = LogAccumulator::new(10, 1);
        assert!(!rx.collect(&mut third, deadline).await);
        assert!(rx.is_closed());
    }

    #[tokio::test(start_paused = true)]
    async fn receiver_gives_up_at_the_deadline() {
        let mut rx = LogReceiver::spawn(futures_util::stream::pending().boxed());
        let mut acc = LogAccumulator::new(10, 1);
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        assert!(!rx.collect(&mut acc, deadline).await);
        assert!(!rx.is_closed());
    }
}
