//! The embedded SQLite backend: entities, subjects and activation records in one file.
//!
//! # Durability
//! The file is in WAL mode with `synchronous=NORMAL`: a committed write survives a killed
//! process, but an operating-system crash or power loss may lose the last few commits.
//!
//! # Concurrency
//! Writes go to one writer thread ([`whisk_sqlite::Writer`]) that owns the write
//! connection: it runs every write queued meanwhile in one transaction (a savepoint per
//! write, so a failing write fails alone) and answers each caller after the one commit
//! (group commit). Its queue is bounded; a caller waits for room.
//!
//! Reads use a small pool of reader connections (WAL lets readers run beside the
//! writer). Point lookups by key (an entity, a subject, an activation, code by digest,
//! namespace limits) run right on the caller's thread: they take microseconds, and a hop
//! to another thread would cost more than the read. Lists, counts and the purge's scans
//! run in Tokio's blocking pool. No lock is held across an `.await` or during a
//! statement. Statements are prepared once per connection and cached.
//!
//! # Schema
//! Created at open and versioned in the `schema_version` table (row `store`), shared with
//! the embedded bus if both use one file. A file with a newer version is refused.
//!
//! # Semantics beyond the traits
//! - `EntityStore::get`, `put` and `delete` on a name that belongs to another collection
//!   fail with [`StoreError::WrongCollection`].
//! - `updated` is strictly increasing per document, and also across documents written by
//!   this process, so lists follow write order even within one millisecond.
//! - `count` ignores `skip` and `limit`.
//! - `put_subject` with a subject name held by another uuid fails with `AlreadyExists`.
//!
//! # Layout
//! One module per concern, mirroring the PostgreSQL backend ([`crate::postgres`]):
//! `schema` (tables and migrations), `entities`, `schedules`, `activations`,
//! `identities` (subjects and namespace limits), `compositions`, `code` (action code by
//! digest) and `upkeep` (purge, reclaim, lean list columns).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;
use whisk_sqlite::{WriteError, WriterOptions, WriterState};

use crate::StoreError;

mod activations;
mod code;
mod compositions;
mod entities;
mod identities;
mod schedules;
mod schema;
mod upkeep;

/// Reader connections kept open between reads.
const MAX_IDLE_READERS: usize = 4;
/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 32;

/// The embedded store. Cloning is cheap and shares the connections.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: std::path::PathBuf,
    /// The writer thread; dropping it commits what it accepted.
    writer: whisk_sqlite::Writer<Writer>,
    /// Idle reader connections; a read takes one or opens a new one.
    readers: Mutex<Vec<Connection>>,
    /// Keeps the directory of a temporary store alive; dropped after the connections.
    _temp: Option<tempfile::TempDir>,
}

/// What the writer thread owns. Each write runs inside a savepoint of the batch's
/// transaction: it must not begin or commit one of its own.
#[derive(Debug)]
struct Writer {
    conn: Connection,
    /// The last `updated` this process wrote, so the next one is strictly greater.
    last_updated: i64,
}

impl WriterState for Writer {
    fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn write_failed(e: WriteError) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps SQLite errors into [`StoreError::Backend`].
trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(e.to_string()))
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Backend("a store lock was poisoned".into()))
}

fn corrupt(what: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// The file cannot be opened, is not a database, cannot use WAL, or has a newer schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_inner(path, None)
    }

    /// A store in a temporary directory that is removed when the last clone is dropped.
    ///
    /// # Errors
    /// The directory or file cannot be created.
    pub fn temporary() -> Result<Self, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("whisk-store-")
            .tempdir()
            .map_err(|e| StoreError::Backend(format!("temporary directory: {e}")))?;
        let path = dir.path().join("store.db");
        Self::open_inner(&path, Some(dir))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn open_inner(path: &Path, temp: Option<tempfile::TempDir>) -> Result<Self, StoreError> {
        let mut conn = open_connection(path)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "cannot switch {} to WAL (journal mode is {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL").db()?;
        upkeep::prepare(&conn)?;
        schema::migrate(&mut conn)?;
        let last_updated = conn
            .query_row("SELECT COALESCE(MAX(updated), 0) FROM entities", [], |r| {
                r.get(0)
            })
            .db()?;
        let writer = whisk_sqlite::Writer::start(
            "whisk-store-writer",
            Writer { conn, last_updated },
            WriterOptions::default(),
        )
        .map_err(|e| StoreError::Backend(format!("store writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                readers: Mutex::default(),
                _temp: temp,
            }),
        })
    }

    /// Runs `f` in the writer's next batch; returns once it is committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.write(f).await.map_err(write_failed)?
    }

    /// Runs `f` on the writer outside any transaction (checkpoints, vacuum).
    async fn write_alone<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner
            .writer
            .write_alone(f)
            .await
            .map_err(write_failed)?
    }

    /// Writer requests run and transactions committed so far (measurements, tests).
    pub fn writer_stats(&self) -> whisk_sqlite::WriterStats {
        self.inner.writer.stats()
    }

    /// Runs `f` with a reader connection on this thread: for point lookups by key only.
    fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read_with(&self.inner, f)
    }

    /// Runs `f` with a reader connection in the blocking pool: for scans.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || read_with(&inner, f))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

/// Runs `f` with an idle reader connection (or a new one), kept afterwards if few are idle.
fn read_with<T>(
    inner: &Inner,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let idle = lock(&inner.readers)?.pop();
    let conn = match idle {
        Some(c) => c,
        None => {
            let c = open_connection(&inner.path)?;
            c.pragma_update(None, "query_only", true).db()?;
            c
        }
    };
    let out = f(&conn);
    let mut readers = lock(&inner.readers)?;
    if readers.len() < MAX_IDLE_READERS {
        readers.push(conn);
    }
    out
}

#[cfg(test)]
mod tests;
