//! The embedded bus: durable topics in a SQLite file and in-process broadcast subjects.
//!
//! # Topics
//! Every message is a row of `bus_queue`. `publish` inserts it and returns once the
//! insert is committed (WAL with `synchronous=NORMAL`: a commit survives a killed process;
//! an operating-system crash or power loss may lose the last few commits).
//!
//! Every statement runs on the bus's writer thread ([`whisk_sqlite::Writer`]), which owns
//! the connection and commits whatever publishes, takes and acks are queued meanwhile in
//! one transaction (a savepoint each), answering each caller after that commit: under
//! load many bus operations share one commit. Its queue is bounded; a caller waits for
//! room.
//! A consumer takes the oldest ready row of its topic with one `UPDATE … RETURNING`, which
//! marks it delivered; `ack` deletes it. Rows stay delivered but unacknowledged while a
//! consumer works on them, and become ready again when
//! - a consumer of the topic opens and no other consumer of that topic is open in this
//!   process: rows still delivered were left by a crashed (or stopped) process; or
//! - they were delivered, or last extended ([`Consumer::extend`] moves `delivered_at` to
//!   now), longer than the ack wait ago (a hung consumer).
//!
//! `Consumer::next` is cancel-safe: a message taken for a call that is dropped (say, by a
//! `select!`) is handed to the next call rather than left delivered until the ack wait.
//!
//! Row ids come from `AUTOINCREMENT`, so they are never reused and a late `ack` of a stale
//! token cannot delete a newer message.
//!
//! Waiting consumers are woken by a [`Notify`] per topic when this process publishes, and
//! poll the file every [`EmbeddedBusOptions::poll_interval`] for messages written by other
//! processes sharing it. One topic should have consumers in one process only: a consumer
//! opening in a second process makes the first process's in-flight messages ready again.
//!
//! # Subjects
//! Notifications are [`broadcast`] channels, created on first use, that never leave the
//! process. A subscriber that falls more than [`SUBJECT_CAPACITY`] messages behind skips
//! what it missed.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{broadcast, Notify};
use tracing::debug;
use whisk_sqlite::{Reply, Writer, WriterOptions};

use crate::{Bus, BusError, Consumer, Delivery, DeliveryToken, Subscription};

/// Messages a subject buffers per subscriber before a slow subscriber starts skipping.
pub const SUBJECT_CAPACITY: usize = 1024;

/// The schema version this build writes; `open` refuses files with a newer one.
const SCHEMA_VERSION: i64 = 1;

/// Tuning of the embedded bus.
#[derive(Debug, Clone)]
pub struct EmbeddedBusOptions {
    /// A delivered message that is not acknowledged within this time is delivered again.
    pub ack_wait: Duration,
    /// How often an idle consumer looks for messages published by other processes.
    pub poll_interval: Duration,
    /// How long a statement waits for another connection's write lock.
    pub busy_timeout: Duration,
}

impl Default for EmbeddedBusOptions {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(600),
            poll_interval: Duration::from_millis(200),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The embedded bus. Cloning is cheap and shares the same queue and subjects.
#[derive(Debug, Clone)]
pub struct EmbeddedBus {
    queue: Arc<Queue>,
    subjects: Arc<Subjects>,
}

/// The durable part, shared by the bus and its consumers.
#[derive(Debug)]
struct Queue {
    /// The thread owning the one connection; all statements are short and SQLite has one
    /// writer anyway. Dropping it (with the last bus clone and consumer) commits what it
    /// accepted.
    writer: Writer<Connection>,
    /// Wakes waiting consumers of a topic when this process publishes to it.
    notifies: Mutex<HashMap<String, Arc<Notify>>>,
    /// Consumers open in this process, per topic: crash recovery runs only for the first.
    open_consumers: Mutex<HashMap<String, usize>>,
    options: EmbeddedBusOptions,
}

/// The ephemeral part. Dropping it (with the last bus clone) closes every subscription.
#[derive(Debug, Default)]
struct Subjects {
    senders: Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>,
}

fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

/// A writer's answer as the bus's result.
fn answer<T>(reply: Reply<T, rusqlite::Error>) -> Result<T, BusError> {
    reply.map_err(backend)?.map_err(backend)
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, BusError> {
    m.lock()
        .map_err(|_| BusError::Backend("a bus lock was poisoned".into()))
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), String>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             component TEXT PRIMARY KEY,
             version INTEGER NOT NULL
         );",
    )?;
    let version: Option<i64> = tx
        .query_row(
            "SELECT version FROM schema_version WHERE component = 'bus'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Ok(Err(format!(
                "bus schema version {v} is newer than this build supports ({SCHEMA_VERSION})"
            )));
        }
        Some(_) => {}
        None => {
            tx.execute_batch(
                "CREATE TABLE bus_queue (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     topic TEXT NOT NULL,
                     payload BLOB NOT NULL,
                     delivered INTEGER NOT NULL DEFAULT 0,
                     deliveries INTEGER NOT NULL DEFAULT 0,
                     delivered_at INTEGER
                 );
                 CREATE INDEX bus_queue_ready ON bus_queue (topic, delivered, id);
                 INSERT INTO schema_version (component, version) VALUES ('bus', 1);",
            )?;
        }
    }
    tx.commit()?;
    Ok(Ok(()))
}

impl EmbeddedBus {
    /// Opens (creating if needed) the queue in the SQLite file at `path`. The file may be
    /// shared with the store: the bus uses its own tables.
    ///
    /// # Errors
    /// The file cannot be opened, is not a database, or has a newer schema.
    pub fn open(path: &Path) -> Result<Self, BusError> {
        Self::open_with(path, EmbeddedBusOptions::default())
    }

    /// [`EmbeddedBus::open`] with explicit options.
    ///
    /// # Errors
    /// As [`EmbeddedBus::open`].
    pub fn open_with(path: &Path, options: EmbeddedBusOptions) -> Result<Self, BusError> {
        let conn = Connection::open(path).map_err(backend)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(BusError::Backend(format!(
                "cannot switch {} to WAL (journal mode is {mode})",
                path.display()
            )));
        }
        Self::setup(conn, options)
    }

    /// A bus over a private in-memory database, for tests: nothing survives the process.
    ///
    /// # Errors
    /// SQLite could not be initialised.
    pub fn temporary() -> Result<Self, BusError> {
        Self::temporary_with(EmbeddedBusOptions::default())
    }

    /// [`EmbeddedBus::temporary`] with explicit options.
    ///
    /// # Errors
    /// As [`EmbeddedBus::temporary`].
    pub fn temporary_with(options: EmbeddedBusOptions) -> Result<Self, BusError> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        Self::setup(conn, options)
    }

    fn setup(mut conn: Connection, options: EmbeddedBusOptions) -> Result<Self, BusError> {
        conn.busy_timeout(options.busy_timeout).map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(16);
        incremental_vacuum(&conn).map_err(backend)?;
        migrate(&mut conn)
            .map_err(backend)?
            .map_err(BusError::Backend)?;
        let writer = Writer::start("whisk-bus-writer", conn, WriterOptions::default())
            .map_err(|e| BusError::Backend(format!("bus writer thread: {e}")))?;
        Ok(Self {
            queue: Arc::new(Queue {
                writer,
                notifies: Mutex::default(),
                open_consumers: Mutex::default(),
                options,
            }),
            subjects: Arc::default(),
        })
    }
}

/// The write-ahead log is truncated to this size after each checkpoint.
const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// Turns on incremental auto-vacuum, so the pages of acknowledged messages can be given
/// back to the file system ([`EmbeddedBus::reclaim`]), with one `VACUUM` (a file made
/// before this setting is rewritten once).
fn incremental_vacuum(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        // Once WAL is on, only a VACUUM applies the setting (instant on an empty file).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch("VACUUM")?;
    }
    Ok(())
}

impl EmbeddedBus {
    /// Writer requests run and transactions committed so far (measurements, tests).
    pub fn writer_stats(&self) -> whisk_sqlite::WriterStats {
        self.queue.writer.stats()
    }

    /// Gives the pages freed by acknowledged messages back to the file system and
    /// truncates the write-ahead log, so the file shrinks after a backlog drains. Cheap
    /// when there is nothing to give back; the server calls it periodically.
    ///
    /// # Errors
    /// The database failed.
    pub async fn reclaim(&self) -> Result<(), BusError> {
        self.queue
            .with_conn_alone(|c| {
                // Stepped to the end: the statement frees pages as it steps.
                let mut vacuum = c.prepare("PRAGMA incremental_vacuum")?;
                let mut rows = vacuum.query([])?;
                while rows.next()?.is_some() {}
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            })
            .await
    }
}

impl Queue {
    /// Runs `f` in the writer's next batch; returns once it is committed.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, BusError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        answer(self.writer.write(move |c| f(c)).await)
    }

    /// Runs `f` on the writer outside any transaction (checkpoints, vacuum).
    async fn with_conn_alone<T, F>(&self, f: F) -> Result<T, BusError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        answer(self.writer.write_alone(move |c| f(c)).await)
    }

    fn notify_for(&self, topic: &str) -> Result<Arc<Notify>, BusError> {
        Ok(Arc::clone(
            lock(&self.notifies)?
                .entry(topic.to_owned())
                .or_insert_with(|| Arc::new(Notify::new())),
        ))
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let t = topic.to_owned();
        self.queue
            .with_conn(move |c| {
                c.prepare_cached("INSERT INTO bus_queue (topic, payload) VALUES (?1, ?2)")?
                    .execute(params![t, payload])
            })
            .await?;
        let notify = lock(&self.queue.notifies)?.get(topic).cloned();
        if let Some(n) = notify {
            n.notify_one();
        }
        Ok(())
    }

    async fn consume(&self, topic: &str) -> Result<Arc<dyn Consumer>, BusError> {
        let first = {
            let mut open = lock(&self.queue.open_consumers)?;
            let n = open.entry(topic.to_owned()).or_insert(0);
            *n += 1;
            *n == 1
        };
        // Built before recovery so that a failure below unregisters it on drop.
        let consumer = EmbeddedConsumer {
            queue: Arc::clone(&self.queue),
            topic: topic.into(),
            notify: self.queue.notify_for(topic)?,
            last_sweep: Mutex::new(Instant::now()),
            pending: Arc::default(),
        };
        if first {
            let t = topic.to_owned();
            let recovered = self
                .queue
                .with_conn(move |c| {
                    c.prepare_cached(
                        "UPDATE bus_queue SET delivered = 0 WHERE topic = ?1 AND delivered = 1",
                    )?
                    .execute(params![t])
                })
                .await?;
            if recovered > 0 {
                debug!(
                    topic,
                    recovered, "Unacknowledged messages made ready again."
                );
            }
        }
        Ok(Arc::new(consumer))
    }

    async fn notify(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let mut senders = lock(&self.subjects.senders)?;
        if let Some(tx) = senders.get(subject) {
            if tx.send(payload).is_err() {
                // Nobody listens any more: drop the channel; the next subscriber makes a new one.
                senders.remove(subject);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Box<dyn Subscription>, BusError> {
        let rx = lock(&self.subjects.senders)?
            .entry(subject.to_owned())
            .or_insert_with(|| broadcast::channel(SUBJECT_CAPACITY).0)
            .subscribe();
        Ok(Box::new(EmbeddedSubscription {
            subject: subject.into(),
            rx,
        }))
    }

    async fn depth(&self, topic: &str) -> Result<Option<u64>, BusError> {
        let t = topic.to_owned();
        let n: i64 = self
            .queue
            .with_conn(move |c| {
                c.prepare_cached("SELECT COUNT(*) FROM bus_queue WHERE topic = ?1")?
                    .query_row(params![t], |r| r.get(0))
            })
            .await?;
        Ok(Some(u64::try_from(n).unwrap_or(0)))
    }
}

/// A consumer of one topic; several tasks may call `next` on it at once.
#[derive(Debug)]
struct EmbeddedConsumer {
    queue: Arc<Queue>,
    topic: Arc<str>,
    notify: Arc<Notify>,
    /// When expired deliveries were last made ready again.
    last_sweep: Mutex<Instant>,
    /// Deliveries taken for a `next` call that was cancelled, handed out first.
    pending: Arc<Mutex<VecDeque<Delivery>>>,
}

impl EmbeddedConsumer {
    /// How often `next` looks for deliveries older than the ack wait.
    fn sweep_interval(&self) -> Duration {
        (self.queue.options.ack_wait / 4).min(Duration::from_secs(1))
    }

    fn sweep_due(&self) -> Result<bool, BusError> {
        let mut last = lock(&self.last_sweep)?;
        if last.elapsed() >= self.sweep_interval() {
            *last = Instant::now();
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Makes deliveries older than the ack wait ready again (at most every sweep interval),
    /// then takes the oldest ready message.
    ///
    /// Cancel-safe: if the caller stops waiting after the row was taken, the delivery is
    /// parked in `pending` and handed out by the next call instead of being lost until
    /// the ack wait.
    async fn try_take(&self) -> Result<Option<Delivery>, BusError> {
        if let Some(d) = lock(&self.pending)?.pop_front() {
            return Ok(Some(d));
        }
        let sweep = self.sweep_due()?;
        let ack_wait_ms =
            i64::try_from(self.queue.options.ack_wait.as_millis()).unwrap_or(i64::MAX);
        let topic = Arc::clone(&self.topic);
        let park = Park {
            pending: Arc::clone(&self.pending),
            notify: Arc::clone(&self.notify),
        };
        let reply = self
            .queue
            .writer
            .submit(
                false,
                move |c: &mut Connection| take(c, &topic, sweep, ack_wait_ms),
                move |d: Option<Delivery>| park.put(d),
            )
            .await
            .map_err(backend)?;
        // Dropping `reply` before it is answered parks the delivery (see `Park`).
        answer(reply.await)
    }
}

/// Where a take whose `next` call was dropped leaves its delivery: in the consumer's
/// pending queue, for the next call.
#[derive(Debug, Clone)]
struct Park {
    pending: Arc<Mutex<VecDeque<Delivery>>>,
    notify: Arc<Notify>,
}

impl Park {
    fn put(self, delivery: Option<Delivery>) {
        let Some(d) = delivery else {
            return;
        };
        if let Ok(mut p) = self.pending.lock() {
            p.push_back(d);
            // A `next` may be waiting already: the parked delivery is for it.
            self.notify.notify_one();
        }
    }
}

/// The statements of one take: the optional ack-wait sweep, then the oldest ready row.
fn take(
    c: &Connection,
    topic: &str,
    sweep: bool,
    ack_wait_ms: i64,
) -> rusqlite::Result<Option<Delivery>> {
    let now = now_millis();
    if sweep {
        let n = c
            .prepare_cached(
                "UPDATE bus_queue SET delivered = 0
                 WHERE topic = ?1 AND delivered = 1 AND delivered_at <= ?2",
            )?
            .execute(params![topic, now.saturating_sub(ack_wait_ms)])?;
        if n > 0 {
            debug!(
                topic,
                expired = n,
                "Unacknowledged messages past the ack wait made ready again."
            );
        }
    }
    c.prepare_cached(
        "UPDATE bus_queue
         SET delivered = 1, deliveries = deliveries + 1, delivered_at = ?2
         WHERE id = (SELECT id FROM bus_queue
                     WHERE topic = ?1 AND delivered = 0 ORDER BY id LIMIT 1)
         RETURNING id, payload, deliveries",
    )?
    .query_row(params![topic, now], |r| {
        let id: i64 = r.get(0)?;
        let deliveries: i64 = r.get(2)?;
        Ok(Delivery {
            token: DeliveryToken(id as u64),
            payload: r.get(1)?,
            redeliveries: u32::try_from(deliveries.saturating_sub(1)).unwrap_or(u32::MAX),
        })
    })
    .optional()
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn next(&self) -> Result<Delivery, BusError> {
        loop {
            // Registered before looking, so a publish between the look and the wait is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.try_take().await? {
                return Ok(d);
            }
            // Timing out is the poll for other processes and for expired deliveries.
            let _ = tokio::time::timeout(self.queue.options.poll_interval, notified).await;
        }
    }

    async fn ack(&self, token: &DeliveryToken) -> Result<(), BusError> {
        let id = i64::try_from(token.0).map_err(backend)?;
        self.queue
            .with_conn(move |c| {
                c.prepare_cached("DELETE FROM bus_queue WHERE id = ?1")?
                    .execute(params![id])
            })
            .await?;
        Ok(())
    }

    async fn extend(&self, token: &DeliveryToken) -> Result<(), BusError> {
        let id = i64::try_from(token.0).map_err(backend)?;
        self.queue
            .with_conn(move |c| {
                c.prepare_cached(
                    "UPDATE bus_queue SET delivered_at = ?2 WHERE id = ?1 AND delivered = 1",
                )?
                .execute(params![id, now_millis()])
            })
            .await?;
        Ok(())
    }

    fn ack_wait(&self) -> Duration {
        self.queue.options.ack_wait
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        if let Ok(mut open) = self.queue.open_consumers.lock() {
            if let Some(n) = open.get_mut(&*self.topic) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&*self.topic);
                }
            }
        }
    }
}

/// A subscriber of one subject.
#[derive(Debug)]
struct EmbeddedSubscription {
    subject: Arc<str>,
    rx: broadcast::Receiver<Vec<u8>>,
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    async fn next(&mut self) -> Result<Vec<u8>, BusError> {
        loop {
            match self.rx.recv().await {
                Ok(v) => return Ok(v),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    debug!(
                        subject = &*self.subject,
                        missed, "Slow subscriber skipped notifications."
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return Err(BusError::Closed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::task::Poll;

    use super::*;

    use crate::contract::{assert_nothing, next_within, PATIENCE};

    fn fast() -> EmbeddedBusOptions {
        EmbeddedBusOptions {
            poll_interval: Duration::from_millis(20),
            ..Default::default()
        }
    }

    fn no_poll() -> EmbeddedBusOptions {
        EmbeddedBusOptions {
            poll_interval: Duration::from_secs(3600),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn publish_consume_ack_in_order() {
        let bus = EmbeddedBus::temporary_with(fast()).unwrap();
        for p in [b"a", b"b", b"c"] {
            bus.publish("t", p.to_vec()).await.unwrap();
        }
        bus.publish("other", b"x".to_vec()).await.unwrap();
        let c = bus.consume("t").await.unwrap();
        let mut tokens = vec![];
        for want in [b"a", b"b", b"c"] {
            let d = next_within(&c).await;
            assert_eq!(d.payload, want.to_vec());
            assert_eq!(d.redeliveries, 0);
            tokens.push(d.token);
        }
        for t in &tokens {
            c.ack(t).await.unwrap();
        }
        // Acking twice is harmless.
        c.ack(&tokens[0]).await.unwrap();
        assert_nothing(&c, Duration::from_millis(200)).await;
        let other = bus.consume("other").await.unwrap();
        assert_eq!(next_within(&other).await.payload, b"x".to_vec());
    }

    #[tokio::test]
    async fn waiting_consumer_is_woken_by_publish() {
        // No polling: only the in-process wake-up can deliver in time.
        let bus = EmbeddedBus::temporary_with(no_poll()).unwrap();
        let c = bus.consume("t").await.unwrap();
        let waiter = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.next().await }
        });
        tokio::task::yield_now().await;
        bus.publish("t", b"hello".to_vec()).await.unwrap();
        let d = tokio::time::timeout(PATIENCE, waiter)
            .await
            .expect("woken")
            .unwrap()
            .unwrap();
        assert_eq!(d.payload, b"hello".to_vec());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_next_gets_distinct_messages() {
        let bus = EmbeddedBus::temporary_with(no_poll()).unwrap();
        let c = bus.consume("t").await.unwrap();
        // Half the messages exist before the consumers ask, half arrive while they wait.
        for i in 0..20u32 {
            bus.publish("t", i.to_string().into_bytes()).await.unwrap();
        }
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    let d = tokio::time::timeout(PATIENCE, c.next()).await??;
                    c.ack(&d.token).await?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(d)
                })
            })
            .collect();
        for i in 20..40u32 {
            bus.publish("t", i.to_string().into_bytes()).await.unwrap();
        }
        let mut seen = HashSet::new();
        let mut tokens = HashSet::new();
        for t in tasks {
            let d = t.await.unwrap().expect("delivery");
            assert_eq!(d.redeliveries, 0);
            assert!(seen.insert(d.payload), "a message went to two consumers");
            assert!(tokens.insert(d.token));
        }
        let want: HashSet<Vec<u8>> = (0..40u32).map(|i| i.to_string().into_bytes()).collect();
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn unacked_message_is_redelivered_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.db");
        {
            let bus = EmbeddedBus::open(&path).unwrap();
            bus.publish("t", b"one".to_vec()).await.unwrap();
            bus.publish("t", b"two".to_vec()).await.unwrap();
            bus.publish("t", b"three".to_vec()).await.unwrap();
            let c = bus.consume("t").await.unwrap();
            let one = next_within(&c).await;
            assert_eq!(one.payload, b"one".to_vec());
            c.ack(&one.token).await.unwrap();
            let two = next_within(&c).await;
            assert_eq!(two.payload, b"two".to_vec());
            // "Crash": drop everything without acking `two`.
        }
        let bus = EmbeddedBus::open_with(&path, fast()).unwrap();
        let c = bus.consume("t").await.unwrap();
        let two = next_within(&c).await;
        assert_eq!(two.payload, b"two".to_vec());
        assert_eq!(two.redeliveries, 1);
        let three = next_within(&c).await;
        assert_eq!(three.payload, b"three".to_vec());
        assert_eq!(three.redeliveries, 0);
        c.ack(&two.token).await.unwrap();
        c.ack(&three.token).await.unwrap();
        drop(c);
        drop(bus);

        // Acknowledged messages never come back.
        let bus = EmbeddedBus::open_with(&path, fast()).unwrap();
        let c = bus.consume("t").await.unwrap();
        assert_nothing(&c, Duration::from_millis(300)).await;
    }

    /// Group commit: many publishers and consumers at once share the writer's commits;
    /// every publish answered survives a reopen, and every ack answered stays acked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_publishes_and_acks_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.db");
        {
            let bus = EmbeddedBus::open_with(&path, fast()).unwrap();
            let c = bus.consume("t").await.unwrap();
            let tasks: Vec<_> = (0..16u32)
                .map(|t| {
                    let (bus, c) = (bus.clone(), Arc::clone(&c));
                    tokio::spawn(async move {
                        for i in 0..25u32 {
                            bus.publish("t", format!("{t}-{i}").into_bytes())
                                .await
                                .unwrap();
                            bus.publish("kept", format!("{t}-{i}").into_bytes())
                                .await
                                .unwrap();
                            let d = next_within(&c).await;
                            c.ack(&d.token).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let stats = bus.writer_stats();
            assert!(stats.commits <= stats.requests);
        }
        let bus = EmbeddedBus::open_with(&path, fast()).unwrap();
        assert_eq!(bus.depth("t").await.unwrap(), Some(0));
        assert_eq!(bus.depth("kept").await.unwrap(), Some(400));
        let c = bus.consume("kept").await.unwrap();
        let mut seen = HashSet::new();
        for _ in 0..400 {
            let d = next_within(&c).await;
            assert!(seen.insert(d.payload));
            c.ack(&d.token).await.unwrap();
        }
        assert_nothing(&c, Duration::from_millis(100)).await;
    }

    const CRASH_CHILD_ENV: &str = "WHISK_BUS_CRASH_CHILD_DB";

    /// The child half of `redelivery_after_a_killed_process`: does nothing unless the parent
    /// set the environment variable, then publishes, takes one message and aborts.
    #[tokio::test]
    async fn crash_child() {
        let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
            return;
        };
        let bus = EmbeddedBus::open(Path::new(&path)).unwrap();
        bus.publish("t", b"taken".to_vec()).await.unwrap();
        bus.publish("t", b"waiting".to_vec()).await.unwrap();
        let c = bus.consume("t").await.unwrap();
        assert_eq!(next_within(&c).await.payload, b"taken".to_vec());
        std::process::abort();
    }

    #[tokio::test]
    async fn redelivery_after_a_killed_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.db");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "embedded::tests::crash_child",
                "--test-threads=1",
            ])
            .env(CRASH_CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the child should have aborted");
        let bus = EmbeddedBus::open_with(&path, fast()).unwrap();
        let c = bus.consume("t").await.unwrap();
        let taken = next_within(&c).await;
        assert_eq!(taken.payload, b"taken".to_vec());
        assert_eq!(taken.redeliveries, 1);
        let waiting = next_within(&c).await;
        assert_eq!(waiting.payload, b"waiting".to_vec());
        assert_eq!(waiting.redeliveries, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_next_loses_no_message() {
        let bus = EmbeddedBus::temporary_with(no_poll()).unwrap();
        let c = bus.consume("t").await.unwrap();
        for i in 0..5u8 {
            bus.publish("t", vec![i]).await.unwrap();
        }
        let mut got = vec![];
        // Each call starts a take and is dropped before the take can finish, unless it
        // completes at once with a delivery parked by an earlier dropped call.
        let mut cancelled = 0;
        for _ in 0..5 {
            let mut fut = c.next();
            let once = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            match once {
                Poll::Ready(d) => got.push(d.unwrap()),
                Poll::Pending => cancelled += 1,
            }
        }
        assert!(cancelled > 0);
        while got.len() < 5 {
            got.push(next_within(&c).await);
        }
        for d in &got {
            assert_eq!(d.redeliveries, 0);
            c.ack(&d.token).await.unwrap();
        }
        let mut got: Vec<u8> = got.iter().map(|d| d.payload[0]).collect();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_nothing(&c, Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn second_consumer_in_process_does_not_steal_in_flight_messages() {
        let bus = EmbeddedBus::temporary_with(fast()).unwrap();
        bus.publish("t", b"m".to_vec()).await.unwrap();
        let c1 = bus.consume("t").await.unwrap();
        let d = next_within(&c1).await;
        let c2 = bus.consume("t").await.unwrap();
        assert_nothing(&c2, Duration::from_millis(200)).await;
        c1.ack(&d.token).await.unwrap();
    }

    #[tokio::test]
    async fn unacked_message_is_redelivered_after_the_ack_wait() {
        let bus = EmbeddedBus::temporary_with(EmbeddedBusOptions {
            ack_wait: Duration::from_millis(100),
            poll_interval: Duration::from_millis(20),
            ..Default::default()
        })
        .unwrap();
        bus.publish("t", b"m".to_vec()).await.unwrap();
        let c = bus.consume("t").await.unwrap();
        let first = next_within(&c).await;
        assert_eq!(first.redeliveries, 0);
        let again = next_within(&c).await;
        assert_eq!(again.payload, b"m".to_vec());
        assert_eq!(again.redeliveries, 1);
        assert_eq!(again.token, first.token);
        c.ack(&again.token).await.unwrap();
    }

    #[tokio::test]
    async fn notify_fans_out_to_every_subscriber() {
        let bus = EmbeddedBus::temporary().unwrap();
        // Nobody listens: dropped, not an error.
        bus.notify("s", b"lost".to_vec()).await.unwrap();
        let mut a = bus.subscribe("s").await.unwrap();
        let mut b = bus.subscribe("s").await.unwrap();
        let mut other = bus.subscribe("other").await.unwrap();
        bus.notify("s", b"1".to_vec()).await.unwrap();
        bus.notify("s", b"2".to_vec()).await.unwrap();
        for s in [&mut a, &mut b] {
            assert_eq!(s.next().await.unwrap(), b"1".to_vec());
            assert_eq!(s.next().await.unwrap(), b"2".to_vec());
        }
        bus.notify("other", b"o".to_vec()).await.unwrap();
        assert_eq!(other.next().await.unwrap(), b"o".to_vec());
        // A dropped subscriber does not break the others.
        drop(b);
        bus.notify("s", b"3".to_vec()).await.unwrap();
        assert_eq!(a.next().await.unwrap(), b"3".to_vec());
    }

    #[tokio::test]
    async fn lagged_subscriber_skips_and_keeps_going() {
        let bus = EmbeddedBus::temporary().unwrap();
        let mut s = bus.subscribe("s").await.unwrap();
        let total = SUBJECT_CAPACITY + 10;
        for i in 0..total {
            bus.notify("s", i.to_string().into_bytes()).await.unwrap();
        }
        // The oldest ten were overwritten; the first one received is the eleventh.
        assert_eq!(s.next().await.unwrap(), b"10".to_vec());
        bus.notify("s", b"after".to_vec()).await.unwrap();
        let mut last = vec![];
        for _ in 0..SUBJECT_CAPACITY {
            last = s.next().await.unwrap();
        }
        assert_eq!(last, b"after".to_vec());
    }

    fn short_lease() -> EmbeddedBusOptions {
        EmbeddedBusOptions {
            ack_wait: crate::contract::SHORT_ACK_WAIT,
            poll_interval: Duration::from_millis(20),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn contract_publish_consume_ack() {
        let bus = EmbeddedBus::temporary_with(fast()).unwrap();
        crate::contract::publish_consume_ack(&bus).await;
    }

    #[tokio::test]
    async fn contract_redelivery_after_the_ack_wait() {
        let bus = EmbeddedBus::temporary_with(short_lease()).unwrap();
        crate::contract::redelivery_after_the_ack_wait(&bus).await;
    }

    #[tokio::test]
    async fn contract_no_redelivery_while_extended() {
        let bus = EmbeddedBus::temporary_with(short_lease()).unwrap();
        crate::contract::no_redelivery_while_extended(&bus).await;
    }

    #[tokio::test]
    async fn contract_unacknowledged_work_goes_to_the_next_consumer() {
        let bus = EmbeddedBus::temporary_with(short_lease()).unwrap();
        crate::contract::unacknowledged_work_goes_to_the_next_consumer(&bus).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contract_two_consumers_share_a_topic() {
        let bus = EmbeddedBus::temporary_with(fast()).unwrap();
        crate::contract::two_consumers_share_a_topic(&bus).await;
    }

    #[tokio::test]
    async fn contract_depth_counts_unacknowledged_messages() {
        let bus = EmbeddedBus::temporary_with(fast()).unwrap();
        crate::contract::depth_counts_unacknowledged_messages(&bus).await;
    }

    #[tokio::test]
    async fn contract_notify_subscribe() {
        let bus = EmbeddedBus::temporary().unwrap();
        crate::contract::notify_subscribe(&bus).await;
    }

    #[tokio::test]
    async fn subscriptions_close_with_the_bus() {
        let bus = EmbeddedBus::temporary().unwrap();
        let mut s = bus.subscribe("s").await.unwrap();
        drop(bus);
        assert!(matches!(s.next().await, Err(BusError::Closed)));
    }

    /// A drained backlog gives its space back: the file shrinks to a fraction of its peak
    /// and the write-ahead log is truncated.
    #[tokio::test]
    async fn a_drained_backlog_gives_its_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.db");
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let bus = EmbeddedBus::open(&path).unwrap();
        for _ in 0..100 {
            bus.publish("t", vec![7u8; 100_000]).await.unwrap();
        }
        bus.reclaim().await.unwrap();
        let peak = size(&path);
        assert!(peak > 9_000_000, "100 messages of 100 kB make {peak} bytes");
        let c = bus.consume("t").await.unwrap();
        for _ in 0..100 {
            let d = next_within(&c).await;
            c.ack(&d.token).await.unwrap();
        }
        bus.reclaim().await.unwrap();
        let after = size(&path);
        assert!(after < peak / 10, "the file kept {after} of {peak} bytes");
        assert_eq!(size(&dir.path().join("bus.db-wal")), 0);
    }
}
