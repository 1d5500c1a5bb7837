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
//! - Subjects and namespace limits live in [`identities`].

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use whisk_types::{now_millis, Activation, ActivationId, EntityName, FullyQualifiedName};

mod compositions;
mod upkeep;

use crate::{
    ActivationQuery, ActivationStore, CodeStore, Collection, Document, EntityStore, ListQuery,
    Schedule, StoreError,
};

mod code;
mod identities;

/// Reader connections kept open between reads.
const MAX_IDLE_READERS: usize = 4;
/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 32;

const SCHEMA: &str = "
CREATE TABLE entities (
    fqn TEXT PRIMARY KEY NOT NULL,
    collection TEXT NOT NULL,
    namespace TEXT NOT NULL,
    package TEXT,
    body TEXT NOT NULL,
    revision INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX entities_by_namespace ON entities (collection, namespace, updated);
CREATE INDEX entities_by_package ON entities (collection, namespace, package, updated);

CREATE TABLE subjects (
    uuid TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    salt TEXT NOT NULL,
    secret_hash TEXT NOT NULL
);

CREATE TABLE activations (
    activation_id TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    -- `pkg/name` from a `path` annotation `ns/pkg/name`; NULL outside packages.
    path TEXT,
    start INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX activations_by_start ON activations (namespace, start);
";

/// Version 2: alarm schedules, and subjects looked up by namespace.
const SCHEMA_V2: &str = "
CREATE TABLE schedules (
    trigger TEXT PRIMARY KEY NOT NULL,
    config TEXT NOT NULL,
    last_tick INTEGER NOT NULL
);
CREATE INDEX subjects_by_namespace ON subjects (namespace);
";

/// Every schema change in order: `(version, statements)`. A file at version `v` gets each
/// step above `v`, in one transaction; new steps are appended with the next free number
/// (gaps are allowed, so parallel branches can reserve numbers).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, SCHEMA),
    (2, SCHEMA_V2),
    (3, identities::SCHEMA_V3),
    (4, compositions::SCHEMA),
    (code::MIGRATION, code::SCHEMA),
    (6, upkeep::SCHEMA_V6),
];

/// The schema version this build writes: the last migration's.
const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

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

fn collection_from_str(s: &str) -> Option<Collection> {
    [
        Collection::Actions,
        Collection::Packages,
        Collection::Triggers,
        Collection::Rules,
        Collection::Apis,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             component TEXT PRIMARY KEY,
             version INTEGER NOT NULL
         );",
    )
    .db()?;
    let version: Option<i64> = tx
        .query_row(
            "SELECT version FROM schema_version WHERE component = 'store'",
            [],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    let current = version.unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "store schema version {current} is newer than this build supports ({SCHEMA_VERSION})"
        )));
    }
    for (step, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(statements).db()?;
        if *step == code::MIGRATION {
            code::backfill(&tx)?;
        }
        tx.execute(
            "INSERT INTO schema_version (component, version) VALUES ('store', ?1)
             ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            params![step],
        )
        .db()?;
    }
    tx.commit().db()
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
        migrate(&mut conn)?;
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

impl SqliteStore {
    /// An entity list reading the body through the column expression `body`.
    async fn list_entities(
        &self,
        collection: Collection,
        query: &ListQuery,
        body: &'static str,
    ) -> Result<Vec<Document>, StoreError> {
        let ns = query.namespace.to_string();
        let package = query.package.as_ref().map(|p| p.to_string());
        let (skip, limit) = (to_i64(query.skip), to_i64(query.limit));
        self.read(move |c| match package {
            None => entity_rows(
                c,
                &format!(
                    "SELECT fqn, collection, {body}, revision, updated FROM entities
                     WHERE collection = ?1 AND namespace = ?2
                     ORDER BY updated DESC, fqn LIMIT ?3 OFFSET ?4"
                ),
                params![collection.as_str(), ns, limit, skip],
            ),
            Some(pkg) => entity_rows(
                c,
                &format!(
                    "SELECT fqn, collection, {body}, revision, updated FROM entities
                     WHERE collection = ?1 AND namespace = ?2 AND package = ?3
                     ORDER BY updated DESC, fqn LIMIT ?4 OFFSET ?5"
                ),
                params![collection.as_str(), ns, pkg, limit, skip],
            ),
        })
        .await
    }

    /// An activation list reading the record through the column expression `record`.
    async fn list_activations(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
        record: &'static str,
    ) -> Result<Vec<Activation>, StoreError> {
        let (ns, name, path, since, upto) = activation_filters(namespace, query);
        let (skip, limit) = (to_i64(query.skip), to_i64(query.limit));
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {record} FROM activations
                     WHERE namespace = ?1 AND start >= ?4 AND start <= ?5
                       AND (?2 IS NULL OR name = ?2) AND (?3 IS NULL OR path = ?3)
                     ORDER BY start DESC, rowid DESC LIMIT ?6 OFFSET ?7"
                ))
                .db()?;
            let rows = stmt
                .query_map(params![ns, name, path, since, upto, limit, skip], |r| {
                    r.get::<_, String>(0)
                })
                .db()?;
            let mut out = Vec::new();
            for text in rows {
                out.push(parse_activation(&text.db()?)?);
            }
            Ok(out)
        })
        .await
    }
}

fn parse_body(fqn: &str, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body).map_err(|e| corrupt(fqn, e))
}

fn entity_rows(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Document>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .db()?;
    let mut docs = Vec::new();
    for row in rows {
        let (fqn, collection, body, revision, updated) = row.db()?;
        docs.push(Document {
            collection: collection_from_str(&collection)
                .ok_or_else(|| corrupt(&fqn, format!("unknown collection {collection}")))?,
            body: parse_body(&fqn, &body)?,
            fqn: FullyQualifiedName::parse(&fqn).map_err(|e| corrupt(&fqn, e))?,
            revision: revision as u64,
            updated,
        });
    }
    Ok(docs)
}

#[async_trait]
impl EntityStore for SqliteStore {
    async fn get(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
    ) -> Result<Option<Document>, StoreError> {
        let key = fqn.to_string();
        let row = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT collection, body, revision, updated FROM entities WHERE fqn = ?1",
                )
                .db()?
                .query_row(params![key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()
                .db()
            })
            .await?;
        let Some((stored, body, revision, updated)) = row else {
            return Ok(None);
        };
        if stored != collection.as_str() {
            return Err(StoreError::WrongCollection);
        }
        Ok(Some(Document {
            collection,
            fqn: fqn.clone(),
            body: parse_body(&fqn.to_string(), &body)?,
            revision: revision as u64,
            updated,
        }))
    }

    async fn put(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        mut body: Value,
        expected: Option<u64>,
    ) -> Result<Document, StoreError> {
        let key = fqn.to_string();
        let namespace = fqn.namespace().to_string();
        let package = fqn.path.package().map(|p| p.to_string());
        let out_fqn = fqn.clone();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let existing: Option<(String, i64, i64)> = tx
                .prepare_cached("SELECT collection, revision, updated FROM entities WHERE fqn = ?1")
                .db()?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            let now = now_millis().max(w.last_updated + 1);
            let (revision, updated) = match (existing, expected) {
                (None, None) => (1, now),
                (None, Some(_)) => return Err(StoreError::Conflict),
                (Some((c, _, _)), _) if c != collection.as_str() => {
                    return Err(StoreError::WrongCollection)
                }
                (Some(_), None) => return Err(StoreError::AlreadyExists),
                (Some((_, rev, _)), Some(e)) if rev as u64 != e => {
                    return Err(StoreError::Conflict)
                }
                (Some((_, rev, old)), Some(_)) => (rev + 1, now.max(old + 1)),
            };
            if let Some(m) = body.as_object_mut() {
                m.insert("updated".into(), updated.into());
            }
            let text = serde_json::to_string(&body).map_err(|e| corrupt(&key, e))?;
            tx.prepare_cached(
                "INSERT INTO entities (fqn, collection, namespace, package, body, revision, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (fqn) DO UPDATE SET
                     body = excluded.body, revision = excluded.revision, updated = excluded.updated",
            )
            .db()?
            .execute(params![
                key,
                collection.as_str(),
                namespace,
                package,
                text,
                revision,
                updated
            ])
            .db()?;
            if collection == Collection::Actions {
                code::on_put(&tx, &key, &body, now)?;
            }
            tx.commit().db()?;
            w.last_updated = w.last_updated.max(updated);
            Ok(Document {
                collection,
                fqn: out_fqn,
                body,
                revision: revision as u64,
                updated,
            })
        })
        .await
    }

    async fn delete(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let key = fqn.to_string();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let existing: Option<(String, i64)> = tx
                .prepare_cached("SELECT collection, revision FROM entities WHERE fqn = ?1")
                .db()?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            match existing {
                None => return Ok(false),
                Some((c, _)) if c != collection.as_str() => {
                    return Err(StoreError::WrongCollection)
                }
                Some((_, rev)) if rev as u64 != expected => return Err(StoreError::Conflict),
                Some(_) => {}
            }
            if collection == Collection::Actions {
                code::on_delete(&tx, &key, now_millis())?;
            }
            tx.prepare_cached("DELETE FROM entities WHERE fqn = ?1")
                .db()?
                .execute(params![key])
                .db()?;
            tx.commit().db()?;
            Ok(true)
        })
        .await
    }

    async fn list(
        &self,
        collection: Collection,
        query: &ListQuery,
    ) -> Result<Vec<Document>, StoreError> {
        self.list_entities(collection, query, "body").await
    }

    async fn list_metadata(
        &self,
        collection: Collection,
        query: &ListQuery,
    ) -> Result<Vec<Document>, StoreError> {
        self.list_entities(collection, query, upkeep::ENTITY_METADATA)
            .await
    }

    async fn count(&self, collection: Collection, query: &ListQuery) -> Result<u64, StoreError> {
        let ns = query.namespace.to_string();
        let package = query.package.as_ref().map(|p| p.to_string());
        self.read(move |c| {
            let n: i64 = match package {
                None => c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM entities WHERE collection = ?1 AND namespace = ?2",
                    )
                    .db()?
                    .query_row(params![collection.as_str(), ns], |r| r.get(0)),
                Some(pkg) => c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM entities
                         WHERE collection = ?1 AND namespace = ?2 AND package = ?3",
                    )
                    .db()?
                    .query_row(params![collection.as_str(), ns, pkg], |r| r.get(0)),
            }
            .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let key = schedule.trigger.to_string();
        let config = serde_json::to_string(&schedule.config).map_err(|e| corrupt(&key, e))?;
        let last_tick = schedule.last_tick;
        self.write(move |w| {
            w.conn
                .prepare_cached(
                    "INSERT INTO schedules (trigger, config, last_tick) VALUES (?1, ?2, ?3)
                     ON CONFLICT (trigger) DO UPDATE SET
                         config = excluded.config, last_tick = excluded.last_tick",
                )
                .db()?
                .execute(params![key, config, last_tick])
                .db()?;
            Ok(())
        })
        .await
    }

    async fn get_schedule(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<Option<Schedule>, StoreError> {
        let key = trigger.to_string();
        self.read(move |c| {
            let row: Option<(String, String, i64)> = c
                .prepare_cached(
                    "SELECT trigger, config, last_tick FROM schedules WHERE trigger = ?1",
                )
                .db()?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            row.map(schedule_from_row).transpose()
        })
        .await
    }

    async fn delete_schedule(&self, trigger: &FullyQualifiedName) -> Result<bool, StoreError> {
        let key = trigger.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached("DELETE FROM schedules WHERE trigger = ?1")
                .db()?
                .execute(params![key])
                .db()?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT trigger, config, last_tick FROM schedules ORDER BY trigger")
                .db()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .db()?;
            let mut out = Vec::new();
            for row in rows {
                out.push(schedule_from_row(row.db()?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn claim_tick(
        &self,
        trigger: &FullyQualifiedName,
        previous: i64,
        tick: i64,
    ) -> Result<bool, StoreError> {
        let key = trigger.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached(
                    "UPDATE schedules SET last_tick = ?3 WHERE trigger = ?1 AND last_tick = ?2",
                )
                .db()?
                .execute(params![key, previous, tick])
                .db()?;
            Ok(n == 1)
        })
        .await
    }
}

fn schedule_from_row(
    (trigger, config, last_tick): (String, String, i64),
) -> Result<Schedule, StoreError> {
    Ok(Schedule {
        config: serde_json::from_str(&config).map_err(|e| corrupt(&trigger, e))?,
        trigger: FullyQualifiedName::parse(&trigger).map_err(|e| corrupt(&trigger, e))?,
        last_tick,
    })
}

/// `pkg/name` from a `path` annotation `ns/pkg/name`, the key of `pkg/name` list filters.
fn package_path(activation: &Activation) -> Option<String> {
    let path = activation.annotations.get("path")?.as_str()?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [_, pkg, name] => Some(format!("{pkg}/{name}")),
        _ => None,
    }
}

/// The parameters shared by activation list and count: namespace, name, path, since, upto.
fn activation_filters(
    namespace: &EntityName,
    query: &ActivationQuery,
) -> (String, Option<String>, Option<String>, i64, i64) {
    let (mut name, mut path) = (None, None);
    if let Some(filter) = &query.name {
        let parts: Vec<&str> = filter.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [n] => name = Some((*n).to_owned()),
            [.., pkg, n] => path = Some(format!("{pkg}/{n}")),
            // An empty filter matches nothing, like any name that no record has.
            [] => name = Some(String::new()),
        }
    }
    (
        namespace.to_string(),
        name,
        path,
        query.since.unwrap_or(i64::MIN),
        query.upto.unwrap_or(i64::MAX),
    )
}

fn parse_activation(text: &str) -> Result<Activation, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("activation record", e))
}

#[async_trait]
impl ActivationStore for SqliteStore {
    async fn put(&self, activation: &Activation) -> Result<bool, StoreError> {
        let record =
            serde_json::to_string(activation).map_err(|e| corrupt(activation.activation_id, e))?;
        let id = activation.activation_id.to_string();
        let namespace = activation.namespace.namespace().to_string();
        let name = activation.name.to_string();
        let path = package_path(activation);
        let start = activation.start;
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO activations
                         (activation_id, namespace, name, path, start, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .db()?
                .execute(params![id, namespace, name, path, start, record])
                .db()?;
            Ok(n == 1)
        })
        .await
    }

    async fn get(
        &self,
        namespace: &EntityName,
        id: &ActivationId,
    ) -> Result<Option<Activation>, StoreError> {
        let (ns, id) = (namespace.to_string(), id.to_string());
        let text: Option<String> = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT record FROM activations WHERE activation_id = ?1 AND namespace = ?2",
                )
                .db()?
                .query_row(params![id, ns], |r| r.get(0))
                .optional()
                .db()
            })
            .await?;
        text.as_deref().map(parse_activation).transpose()
    }

    async fn exists(&self, id: &ActivationId) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM activations WHERE activation_id = ?1")
                .db()?
                .query_row(params![id], |_| Ok(()))
                .optional()
                .db()
                .map(|r| r.is_some())
        })
        .await
    }

    async fn list(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<Vec<Activation>, StoreError> {
        self.list_activations(namespace, query, "record").await
    }

    async fn list_summaries(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<Vec<Activation>, StoreError> {
        self.list_activations(namespace, query, upkeep::ACTIVATION_SUMMARY)
            .await
    }

    async fn purge(&self, older_than: i64, keep_per_namespace: u64) -> Result<u64, StoreError> {
        self.purge_activations(older_than, keep_per_namespace).await
    }

    async fn count(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<u64, StoreError> {
        let (ns, name, path, since, upto) = activation_filters(namespace, query);
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM activations
                     WHERE namespace = ?1 AND start >= ?4 AND start <= ?5
                       AND (?2 IS NULL OR name = ?2) AND (?3 IS NULL OR path = ?3)",
                )
                .db()?
                .query_row(params![ns, name, path, since, upto], |r| r.get(0))
                .db()?;
            Ok(n as u64)
        })
        .await
    }
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn get_code(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let digest = digest.to_owned();
        self.read(move |c| code::get(c, &digest)).await
    }

    async fn collect_code(&self, released_before: i64) -> Result<u64, StoreError> {
        self.write(move |w| code::collect(&w.conn, released_before))
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{contract, IdentityStore};

    #[tokio::test]
    async fn contract_entity_lifecycle() {
        contract::entity_lifecycle(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_entity_lists() {
        contract::entity_lists(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_api_documents() {
        contract::api_documents(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_identities() {
        contract::identities(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_activation_records() {
        contract::activation_records(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_activation_lists() {
        contract::activation_lists(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_schedules() {
        contract::schedules(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_code_by_digest() {
        let store = SqliteStore::temporary().unwrap();
        contract::code_by_digest(&store, &store).await;
    }

    #[tokio::test]
    async fn contract_entity_list_metadata() {
        contract::entity_list_metadata(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_activation_summaries() {
        contract::activation_summaries(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_activation_purge() {
        contract::activation_purge(&SqliteStore::temporary().unwrap()).await;
    }

    /// Purged records give their space back: the file shrinks, the log is truncated, and
    /// a file made before version 6 is switched to incremental vacuum at open.
    #[tokio::test]
    async fn a_purge_shrinks_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).unwrap();
        let ns = contract::random_namespace();
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let wal = dir.path().join("store.db-wal");
        for i in 0..200 {
            let mut a = contract::activation(&ns, "x", i, None);
            a.logs = vec!["l".repeat(50_000)];
            ActivationStore::put(&store, &a).await.unwrap();
        }
        store.reclaim().await.unwrap();
        let full = size(&path);
        assert!(full > 10_000_000, "200 records of 50 kB make {full} bytes");
        assert_eq!(store.purge(i64::MAX, u64::MAX).await.unwrap(), 200);
        let after = size(&path);
        assert!(after < full / 10, "the file kept {after} of {full} bytes");
        assert_eq!(size(&wal), 0, "the log was not truncated");
    }

    #[tokio::test]
    async fn an_old_file_switches_to_incremental_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                .unwrap();
        }
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2);
        let x: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 1);
    }

    #[tokio::test]
    async fn contract_subjects_by_namespace() {
        contract::subjects_by_namespace(&SqliteStore::temporary().unwrap()).await;
    }

    #[tokio::test]
    async fn contract_subject_management() {
        contract::subject_management(&SqliteStore::temporary().unwrap()).await;
    }

    /// A file made by schema version 1 gains the schedules table and keeps its data.
    #[tokio::test]
    async fn a_version_1_file_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL);",
        )
        .unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch("INSERT INTO schema_version (component, version) VALUES ('store', 1);")
            .unwrap();
        conn.execute(
            "INSERT INTO subjects (uuid, subject, namespace, salt, secret_hash)
             VALUES ('00000000-0000-4000-8000-000000000000', 'old', 'old', 's', 'h')",
            [],
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&path).unwrap();
        let ns = EntityName::namespace("old").unwrap();
        assert!(store.subject_by_namespace(&ns).await.unwrap().is_some());
        contract::schedules(&store).await;
        drop(store);
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn
            .query_row(
                "SELECT version FROM schema_version WHERE component = 'store'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// The whole contract at once on one store, from concurrent tasks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contract_concurrently_on_one_store() {
        let store = SqliteStore::temporary().unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let s = store.clone();
            tasks.spawn(async move {
                contract::entity_lifecycle(&s).await;
                contract::entity_lists(&s).await;
                contract::identities(&s).await;
                contract::activation_records(&s).await;
                contract::activation_lists(&s).await;
                contract::schedules(&s).await;
                contract::subjects_by_namespace(&s).await;
                contract::subject_management(&s).await;
                contract::entity_list_metadata(&s).await;
                contract::activation_summaries(&s).await;
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    }

    #[tokio::test]
    async fn reopening_the_file_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let ns = contract::random_namespace();
        let f = FullyQualifiedName::parse(&format!("{ns}/pkg/a")).unwrap();
        let act = contract::activation(&ns, "a", 42, Some(&format!("{ns}/pkg/a")));
        let rec = contract::subject_record("someone", &ns, "secret");
        let doc = {
            let store = SqliteStore::open(&path).unwrap();
            let doc = EntityStore::put(&store, Collection::Actions, &f, json!({"x": 1}), None)
                .await
                .unwrap();
            assert!(ActivationStore::put(&store, &act).await.unwrap());
            store.put_subject(&rec).await.unwrap();
            doc
        };
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            EntityStore::get(&store, Collection::Actions, &f)
                .await
                .unwrap(),
            Some(doc.clone())
        );
        assert_eq!(
            ActivationStore::get(&store, &ns, &act.activation_id)
                .await
                .unwrap(),
            Some(act.clone())
        );
        assert!(!ActivationStore::put(&store, &act).await.unwrap());
        assert_eq!(
            store.subject_by_name("someone").await.unwrap(),
            Some(rec.clone())
        );
        // `updated` keeps increasing across a reopen.
        let next = EntityStore::put(
            &store,
            Collection::Actions,
            &f,
            json!({"x": 2}),
            Some(doc.revision),
        )
        .await
        .unwrap();
        assert!(next.updated > doc.updated);
        assert_eq!(next.revision, doc.revision + 1);
    }

    #[tokio::test]
    async fn the_secret_is_never_written_to_the_file() {
        let store = SqliteStore::temporary().unwrap();
        let ns = contract::random_namespace();
        let key = whisk_types::AuthKey::generate();
        let rec = contract::subject_record("guest", &ns, &key.secret);
        store.put_subject(&rec).await.unwrap();
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            let mut p = store.path().as_os_str().to_owned();
            p.push(suffix);
            if let Ok(b) = std::fs::read(&p) {
                bytes.extend(b);
            }
        }
        let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        // The search works: the hash is in the file, the secret is not.
        assert!(contains(&rec.secret_hash));
        assert!(!contains(&key.secret));
    }

    #[tokio::test]
    async fn same_subject_name_under_another_uuid_is_refused() {
        let store = SqliteStore::temporary().unwrap();
        let ns = contract::random_namespace();
        store
            .put_subject(&contract::subject_record("dup", &ns, "a"))
            .await
            .unwrap();
        assert!(matches!(
            store
                .put_subject(&contract::subject_record("dup", &ns, "b"))
                .await,
            Err(StoreError::AlreadyExists)
        ));
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE schema_version SET version = 99 WHERE component = 'store'",
            [],
        )
        .unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[tokio::test]
    async fn two_opens_of_one_file_share_data() {
        // The second open finds the schema made by the first and leaves it alone.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whisk.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        let ns = contract::random_namespace();
        let act = contract::activation(&ns, "a", 1, None);
        assert!(ActivationStore::put(&a, &act).await.unwrap());
        assert!(ActivationStore::exists(&b, &act.activation_id)
            .await
            .unwrap());
    }

    #[test]
    fn activation_list_uses_the_namespace_index() {
        let store = SqliteStore::temporary().unwrap();
        let conn = lock(&store.inner.writer).unwrap();
        let plan: Vec<String> = conn
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT record FROM activations
                 WHERE namespace = ?1 AND start >= ?4 AND start <= ?5
                   AND (?2 IS NULL OR name = ?2) AND (?3 IS NULL OR path = ?3)
                 ORDER BY start DESC, rowid DESC LIMIT ?6 OFFSET ?7",
            )
            .unwrap()
            .query_map(
                params!["ns", None::<String>, None::<String>, 0, 1, 10, 0],
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("activations_by_start"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
