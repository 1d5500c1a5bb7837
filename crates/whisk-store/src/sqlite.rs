//! The embedded SQLite backend: entities, subjects and activation records in one file.
//!
//! # Durability
//! The file is in WAL mode with `synchronous=NORMAL`: a committed write survives a killed
//! process, but an operating-system crash or power loss may lose the last few commits.
//!
//! # Concurrency
//! One writer connection behind a mutex and a small pool of reader connections (WAL lets
//! readers run beside the writer). Every statement runs in Tokio's blocking pool, so the
//! async methods never block the runtime, and no lock is held across an `.await`.
//! Statements are prepared once per connection and cached.
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
    writer: Mutex<Writer>,
    /// Idle reader connections; a read takes one or opens a new one.
    readers: Mutex<Vec<Connection>>,
    /// Keeps the directory of a temporary store alive; dropped after the connections.
    _temp: Option<tempfile::TempDir>,
}

#[derive(Debug)]
struct Writer {
    conn: Connection,
    /// The last `updated` this process wrote, so the next one is strictly greater.
    last_updated: i64,
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
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(Writer { conn, last_updated }),
                readers: Mutex::default(),
                _temp: temp,
            }),
        })
    }

    /// Runs `f` with the writer connection in the blocking pool.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&mut *lock(&inner.writer)?))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    /// Runs `f` with a reader connection in the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
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
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

#[cfg(test)]
mod tests;
