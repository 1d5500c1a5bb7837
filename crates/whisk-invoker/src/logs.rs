//! Log collection (reference §8.4): one long-lived reader per container feeds a channel,
//! and each activation takes lines from it until the sentinel has been seen on stdout and
//! on stderr as often as the proxy wrote it (once per `/init` and once per `/run`).
//!
//! Lines are stored as `<timestamp padded to 30> <stream>: <text>`, sentinel lines dropped,
//! and the total text size is capped by the action's log limit.
//!
//! A container that serves several activations at once (`limits.concurrency` > 1) tags
//! every line of a run, and its sentinel, with the run's activation id
//! ([`whisk_protocol::tag_line`]). Its log then goes to a [`LogRouter`]: one task that
//! hands each tagged line, without its tag, to the accumulator of that activation
//! ([`LogRoute`]), so every record holds its own lines and no other's. Untagged lines
//! (written outside any run) and lines of activations no longer waiting are dropped.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use whisk_protocol::{find_sentinel, split_tag};

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

    /// Takes the receiver out, leaving one whose stream has ended.
    pub(crate) fn detach(&mut self) -> LogReceiver {
        let (_, rx) = mpsc::channel(1);
        let ended = LogReceiver {
            rx,
            reader: tokio::spawn(async {}),
        };
        std::mem::replace(self, ended)
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

/// The activations of a container with tagged lines, waiting for them.
#[derive(Debug, Default)]
struct Routes {
    open: HashMap<String, Route>,
    /// The log stream ended: no more lines will come.
    ended: bool,
}

#[derive(Debug)]
struct Route {
    acc: LogAccumulator,
    /// Fired when `acc` has its sentinels.
    done: Option<oneshot::Sender<()>>,
}

/// Sorts the tagged lines of a container that serves activations at once (see the module
/// documentation). Dropping it stops the routing.
#[derive(Debug)]
pub(crate) struct LogRouter {
    routes: Arc<Mutex<Routes>>,
    task: JoinHandle<()>,
}

impl Drop for LogRouter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock_routes(routes: &Mutex<Routes>) -> std::sync::MutexGuard<'_, Routes> {
    routes.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogRouter {
    /// Routes the lines of `receiver` from now on.
    pub(crate) fn spawn(mut receiver: LogReceiver) -> Self {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let shared = Arc::clone(&routes);
        let task = tokio::spawn(async move {
            while let Some(line) = receiver.rx.recv().await {
                let Some((tag, text)) = split_tag(&line.text) else {
                    continue;
                };
                let mut routes = lock_routes(&shared);
                let Some(route) = routes.open.get_mut(tag) else {
                    continue;
                };
                let text = text.to_owned();
                route.acc.push(LogLine { text, ..line });
                if route.acc.is_complete() {
                    if let Some(done) = route.done.take() {
                        let _ = done.send(());
                    }
                }
            }
            let mut routes = lock_routes(&shared);
            routes.ended = true;
            for route in routes.open.values_mut() {
                route.done = None;
            }
        });
        Self { routes, task }
    }

    /// Starts gathering the lines tagged `tag` into `acc`, before the run that writes them
    /// starts.
    pub(crate) fn open(&self, tag: &str, acc: LogAccumulator) -> LogRoute {
        let (tx, rx) = oneshot::channel();
        let mut routes = lock_routes(&self.routes);
        let done = (!routes.ended).then_some(tx);
        routes.open.insert(tag.to_owned(), Route { acc, done });
        LogRoute {
            routes: Arc::clone(&self.routes),
            tag: tag.to_owned(),
            done: rx,
        }
    }
}

/// One activation's lines being gathered by a [`LogRouter`].
#[derive(Debug)]
pub(crate) struct LogRoute {
    routes: Arc<Mutex<Routes>>,
    tag: String,
    done: oneshot::Receiver<()>,
}

impl LogRoute {
    /// Waits until the activation's sentinels came, the log ended or `deadline` passed;
    /// returns its lines and whether they are complete.
    pub(crate) async fn wait(self, deadline: Instant) -> (LogAccumulator, bool) {
        let _ = tokio::time::timeout_at(deadline, self.done).await;
        let route = lock_routes(&self.routes).open.remove(&self.tag);
        match route {
            Some(route) => {
                let complete = route.acc.is_complete();
                (route.acc, complete)
            }
            None => (LogAccumulator::new(0, 0), false),
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

    /// Expects `n` more sentinels on each stream (a run after an `/init` already collected).
    pub(crate) fn expect_more(&mut self, n: u32) {
        self.sentinels += n;
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

    #[tokio::test]
    async fn router_gives_each_activation_its_own_lines() {
        use whisk_protocol::tag_line;
        let (a, b) = ("aaaa", "bbbb");
        let items: Vec<Result<LogLine, FactoryError>> = [
            (O, tag_line(a, "a one")),
            (O, "untagged".to_owned()),
            (E, tag_line(b, "b one")),
            (O, tag_line("zzzz", "of nobody")),
            (O, tag_line(b, SENTINEL)),
            (O, tag_line(a, "a two")),
            (E, tag_line(b, SENTINEL)),
            (O, tag_line(a, SENTINEL)),
            (E, tag_line(a, SENTINEL)),
        ]
        .into_iter()
        .map(|(s, t)| Ok(line(s, TS, &t)))
        .collect();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // The stream holds its lines until both routes are open.
        let stream = futures_util::stream::once(async move {
            let _ = rx.await;
            futures_util::stream::iter(items)
        })
        .flatten()
        .boxed();
        let router = LogRouter::spawn(LogReceiver::spawn(stream));
        let ra = router.open(a, LogAccumulator::new(10, 1));
        let rb = router.open(b, LogAccumulator::new(10, 1));
        tx.send(()).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let (acc_b, complete_b) = rb.wait(deadline).await;
        assert!(complete_b);
        assert_eq!(acc_b.finish(None), vec![format!("{TS} stderr: b one")]);
        let (acc_a, complete_a) = ra.wait(deadline).await;
        assert!(complete_a);
        assert_eq!(
            acc_a.finish(None),
            vec![format!("{TS} stdout: a one"), format!("{TS} stdout: a two")]
        );
    }

    #[tokio::test]
    async fn a_route_ends_incomplete_when_the_log_ends() {
        let items: Vec<Result<LogLine, FactoryError>> =
            vec![Ok(line(O, TS, &whisk_protocol::tag_line("aaaa", "x")))];
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stream = futures_util::stream::once(async move {
            let _ = rx.await;
            futures_util::stream::iter(items)
        })
        .flatten()
        .boxed();
        let router = LogRouter::spawn(LogReceiver::spawn(stream));
        let route = router.open("aaaa", LogAccumulator::new(10, 1));
        tx.send(()).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        let (acc, complete) = route.wait(deadline).await;
        assert!(!complete);
        assert_eq!(acc.finish(None), vec![format!("{TS} stdout: x")]);
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
