//! Group commit for a SQLite database: the one place rwhisk writes its SQLite files from.
//!
//! A [`Writer`] owns the write connection of one database on a thread of its own, fed by
//! a bounded queue. The thread takes everything queued (at most
//! [`WriterOptions::batch`] requests), runs the requests in ONE transaction, each inside a
//! `SAVEPOINT` of its own, commits once, and only then answers each caller. So:
//! - durability is unchanged: a caller is told "done" only once its write is committed;
//! - a failing request (its closure returns `Err`, or panics) is rolled back to its
//!   savepoint and fails alone; its neighbours in the batch commit;
//! - if the transaction itself fails (the `COMMIT`, or an error that makes SQLite roll the
//!   whole transaction back), every request of the batch is told so, none is told "done";
//! - under load many requests share one commit (and one WAL append, one round of file
//!   locks); alone, a request costs one commit as before.
//!
//! The queue is bounded ([`WriterOptions::queue`]): a caller waits for room
//! (backpressure), it never grows without bound. Dropping the [`Writer`] closes the queue,
//! lets the thread run and commit everything already accepted, and joins it: shutdown
//! flushes. A process that dies loses only requests nobody was answered for.
//!
//! Reads do not go through the writer: callers keep their own read connections (WAL lets
//! them read beside the writer).
//!
//! Requests that must run outside any transaction (`PRAGMA wal_checkpoint`, `VACUUM`) are
//! submitted with [`Writer::write_alone`]: the thread commits the batch before them and
//! runs them in autocommit mode.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::{JoinHandle, ThreadId};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// What a writer thread owns: the write connection, and whatever state its requests
/// keep beside it (the store's last `updated`, say).
pub trait WriterState: Send + 'static {
    /// The write connection.
    fn connection(&self) -> &Connection;
}

impl WriterState for Connection {
    fn connection(&self) -> &Connection {
        self
    }
}

/// Bounds of a writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Requests accepted and not yet taken by the thread; a caller beyond it waits.
    pub queue: usize,
    /// Requests run in one transaction at most.
    pub batch: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            queue: 1024,
            batch: 256,
        }
    }
}

/// Why a request got no answer of its own.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The writer stopped (its thread ended) before answering.
    #[error("the database writer has stopped")]
    Closed,
    /// The transaction the request ran in, or its savepoint, failed; nothing it wrote stays.
    #[error("database write failed: {0}")]
    Failed(String),
}

/// What a request's caller is told: the request's own result, once committed.
pub type Reply<T, E> = Result<Result<T, E>, WriteError>;

/// Counters of a writer, for measurements and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Requests run (in a transaction or alone).
    pub requests: u64,
    /// Transactions committed or attempted (one per batch, plus one per request alone).
    pub commits: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    commits: AtomicU64,
}

/// Called once the fate of the request's transaction is known.
type Done = Box<dyn FnOnce(Result<(), &WriteError>) + Send>;

/// How the writer runs a request.
enum Mode<'a, S> {
    /// It cannot run: its transaction failed to start.
    Fail,
    /// Outside any transaction.
    Alone(&'a mut S),
    /// In a savepoint of the batch's transaction.
    Savepoint(&'a mut S),
    /// As the only request of its transaction: rolled back with it if it fails.
    Whole(&'a mut S),
}

/// A request's answer to come, and whether the request succeeded.
type Ran = (Done, bool);

/// Runs a request in a mode, giving back what to tell its caller once the commit is done.
type RunFn<S> = Box<dyn FnOnce(Mode<'_, S>) -> Ran + Send>;

/// One request.
struct Job<S> {
    alone: bool,
    run: RunFn<S>,
}

/// The writer of one database. Dropping it flushes what it accepted and joins its thread.
#[derive(Debug)]
pub struct Writer<S> {
    tx: Option<mpsc::Sender<Job<S>>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
    counters: Arc<Counters>,
}

impl<S> std::fmt::Debug for Job<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("alone", &self.alone).finish()
    }
}

impl<S: WriterState> Writer<S> {
    /// Starts the thread `name` owning `state`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(name: &str, state: S, options: WriterOptions) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let batch = options.batch.max(1);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(state, rx, batch, &thread_counters))?;
        Ok(Self {
            tx: Some(tx),
            thread_id: thread.thread().id(),
            thread: Some(thread),
            counters,
        })
    }

    /// Runs `f` in the next batch and answers once it is committed.
    ///
    /// # Errors
    /// [`WriteError`] when the request got no answer of its own; `f`'s own error inside.
    pub async fn write<T, E, F>(&self, f: F) -> Reply<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut S) -> Result<T, E> + Send + 'static,
    {
        self.submit(false, f, |_| {}).await?.await
    }

    /// Runs `f` alone, outside any transaction (after the batch before it is committed).
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub async fn write_alone<T, E, F>(&self, f: F) -> Reply<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut S) -> Result<T, E> + Send + 'static,
    {
        self.submit(true, f, |_| {}).await?.await
    }

    /// Queues `f` (waiting for room) and gives back the answer to come. When the caller
    /// stops waiting for it (drops the [`Pending`]) after `f` succeeded, the value is handed
    /// to `undelivered` instead of being lost (say, a message taken from a queue is parked
    /// for the next taker).
    ///
    /// # Errors
    /// [`WriteError::Closed`] when the writer no longer takes requests.
    pub async fn submit<T, E, F, U>(
        &self,
        alone: bool,
        f: F,
        undelivered: U,
    ) -> Result<Pending<T, E, U>, WriteError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut S) -> Result<T, E> + Send + 'static,
        U: FnOnce(T) + Clone + Send + Unpin + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel::<Reply<T, E>>();
        let hook = undelivered.clone();
        let run = Box::new(move |mode: Mode<'_, S>| -> Ran {
            let out = match mode {
                Mode::Fail => None,
                Mode::Alone(s) | Mode::Whole(s) => Some(guarded(s, f)),
                Mode::Savepoint(s) => Some(in_savepoint(s, f)),
            };
            let ok = matches!(out, Some(Ok(_)));
            let done: Done = Box::new(move |commit: Result<(), &WriteError>| {
                let reply = match (out, commit) {
                    (Some(Ok(t)), Ok(())) => Ok(Ok(t)),
                    // Its own failure: what it wrote was rolled back whatever the commit did.
                    (Some(Err(Ok(e))), _) => Ok(Err(e)),
                    (Some(Err(Err(e))), _) => Err(e),
                    (_, Err(e)) => Err(e.clone()),
                    (None, Ok(())) => Err(WriteError::Closed),
                };
                if let Err(Ok(Ok(t))) = reply_tx.send(reply) {
                    hook(t);
                }
            });
            (done, ok)
        });
        let tx = self.tx.as_ref().ok_or(WriteError::Closed)?;
        tx.send(Job { alone, run })
            .await
            .map_err(|_| WriteError::Closed)?;
        Ok(Pending {
            rx: reply_rx,
            undelivered: Some(undelivered),
        })
    }

    /// Requests run and transactions committed so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }
}

impl<S> Drop for Writer<S> {
    fn drop(&mut self) {
        // Closing the queue lets the thread finish (and commit) what it accepted.
        drop(self.tx.take());
        if std::thread::current().id() == self.thread_id {
            return;
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                warn!("A database writer thread panicked.");
            }
        }
    }
}

/// The answer to one submitted request. Dropping it before the answer hands a
/// successful result to the request's `undelivered` hook.
#[derive(Debug)]
pub struct Pending<T, E, U: FnOnce(T)> {
    rx: oneshot::Receiver<Reply<T, E>>,
    undelivered: Option<U>,
}

impl<T, E, U: FnOnce(T) + Unpin> Future for Pending<T, E, U> {
    type Output = Reply<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(r) => {
                self.undelivered = None;
                Poll::Ready(r.unwrap_or(Err(WriteError::Closed)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, E, U: FnOnce(T)> Drop for Pending<T, E, U> {
    fn drop(&mut self) {
        let Some(hook) = self.undelivered.take() else {
            return;
        };
        // After `close` the writer can no longer send: either the answer is here already,
        // or the writer's send fails and the writer calls the hook itself.
        self.rx.close();
        if let Ok(Ok(Ok(t))) = self.rx.try_recv() {
            hook(t);
        }
    }
}

/// Runs `f`, turning a panic into a failure of the request.
fn guarded<S, T, E>(
    state: &mut S,
    f: impl FnOnce(&mut S) -> Result<T, E>,
) -> Result<T, Result<E, WriteError>> {
    match catch_unwind(AssertUnwindSafe(|| f(state))) {
        Ok(r) => r.map_err(Ok),
        Err(_) => Err(Err(WriteError::Failed("the request panicked".into()))),
    }
}

/// Runs `f` inside a savepoint: released when `f` succeeds, rolled back when it fails or
/// panics. The outer `Err` is a failed savepoint statement or a panic.
fn in_savepoint<S: WriterState, T, E>(
    state: &mut S,
    f: impl FnOnce(&mut S) -> Result<T, E>,
) -> Result<T, Result<E, WriteError>> {
    let failed = |e: rusqlite::Error| Err(WriteError::Failed(e.to_string()));
    exec(state.connection(), "SAVEPOINT request").map_err(failed)?;
    let out = guarded(state, f);
    let conn = state.connection();
    match out {
        Ok(t) => {
            exec(conn, "RELEASE request").map_err(failed)?;
            Ok(t)
        }
        Err(e) => {
            rollback_to(conn).map_err(failed)?;
            Err(e)
        }
    }
}

fn rollback_to(conn: &Connection) -> rusqlite::Result<()> {
    if conn.is_autocommit() {
        // The error rolled the whole transaction back: nothing left to undo here.
        return Ok(());
    }
    exec(conn, "ROLLBACK TO request")?;
    exec(conn, "RELEASE request")
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The writer thread: batches until the queue is closed and drained.
fn run<S: WriterState>(
    mut state: S,
    mut rx: mpsc::Receiver<Job<S>>,
    batch: usize,
    counters: &Counters,
) {
    let mut jobs = Vec::with_capacity(batch);
    let mut done: Vec<Done> = Vec::with_capacity(batch);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        counters
            .requests
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        if jobs.len() == 1 && !jobs[0].alone {
            // Alone in its transaction: no savepoint needed (two statements fewer).
            if let Some(job) = jobs.pop() {
                run_whole(&mut state, job, counters);
            }
            continue;
        }
        let mut open = false;
        for job in jobs.drain(..) {
            if job.alone {
                if open {
                    finish(state.connection(), &mut done, counters);
                    open = false;
                }
                counters.commits.fetch_add(1, Ordering::Relaxed);
                (job.run)(Mode::Alone(&mut state)).0(Ok(()));
                continue;
            }
            if !open {
                if let Err(e) = exec(state.connection(), "BEGIN IMMEDIATE") {
                    let e = WriteError::Failed(e.to_string());
                    (job.run)(Mode::Fail).0(Err(&e));
                    continue;
                }
                open = true;
            }
            done.push((job.run)(Mode::Savepoint(&mut state)).0);
            if state.connection().is_autocommit() {
                // An error rolled the transaction back: the requests run in it are lost.
                let e = WriteError::Failed("the transaction was rolled back".into());
                counters.commits.fetch_add(1, Ordering::Relaxed);
                for d in done.drain(..) {
                    d(Err(&e));
                }
                open = false;
            }
        }
        if open {
            finish(state.connection(), &mut done, counters);
        }
    }
}

/// Runs one request as a transaction of its own: committed if it succeeds, rolled back
/// if it fails.
fn run_whole<S: WriterState>(state: &mut S, job: Job<S>, counters: &Counters) {
    if let Err(e) = exec(state.connection(), "BEGIN IMMEDIATE") {
        counters.commits.fetch_add(1, Ordering::Relaxed);
        let e = WriteError::Failed(e.to_string());
        (job.run)(Mode::Fail).0(Err(&e));
        return;
    }
    let (done, ok) = (job.run)(Mode::Whole(state));
    let conn = state.connection();
    if ok {
        finish(conn, &mut vec![done], counters);
        return;
    }
    counters.commits.fetch_add(1, Ordering::Relaxed);
    if !conn.is_autocommit() {
        if let Err(e) = exec(conn, "ROLLBACK") {
            warn!(error = %e, "Rolling back a failed request failed.");
        }
    }
    done(Ok(()));
}

/// Commits the open transaction and answers its requests.
fn finish(conn: &Connection, done: &mut Vec<Done>, counters: &Counters) {
    counters.commits.fetch_add(1, Ordering::Relaxed);
    let result = exec(conn, "COMMIT").map_err(|e| {
        if !conn.is_autocommit() {
            if let Err(r) = exec(conn, "ROLLBACK") {
                warn!(error = %r, "Rolling back a failed commit failed.");
            }
        }
        WriteError::Failed(e.to_string())
    });
    for d in done.drain(..) {
        d(result.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests;
