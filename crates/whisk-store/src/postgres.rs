//! The PostgreSQL backend: entities, subjects, activation records, schedules, running
//! compositions and action code in one database shared by any number of controllers and
//! invokers. It passes the same contract ([`crate::contract`]) as the embedded SQLite
//! backend, and its modules mirror [`crate::sqlite`]'s one for one.
//!
//! # Client
//! `tokio-postgres` with a `deadpool-postgres` pool. Of the maintained async clients it is
//! the lean one: the protocol crate, its types and a small pool (about 30 crates), against
//! `sqlx`'s runtime-agnostic core, URL and Unicode tables, and its macro crates even with
//! only the `postgres` feature. We need neither compile-time checked queries nor several
//! databases, so the extra tree would buy nothing.
//!
//! # Connections
//! - The pool holds at most [`PostgresOptions::max_connections`]; a caller waits at most
//!   `acquire_timeout` for one, a new connection gets `connect_timeout`, and every
//!   statement runs under the server's `statement_timeout`; the whole call is bounded by
//!   their sum on the client too (a peer that vanished without closing the connection is
//!   also noticed by TCP keepalives). A call that cannot get an answer fails with
//!   [`StoreError::Backend`]; none hangs.
//! - When the server goes away (restart, failover), calls fail with `Backend` while it is
//!   down; the pool drops the closed connections on their next checkout and opens new ones,
//!   so the store recovers by itself once the server answers again.
//! - No TLS: the URL's `sslmode` must allow a plain connection (`prefer`, the default, or
//!   `disable`). Run the database on a private network or loopback.
//!
//! # Schema
//! Created and migrated by [`PostgresStore::connect`] in one transaction under an advisory
//! lock, so processes that start together migrate once and the others wait; versioned in
//! `schema_version` (row `store`) like the SQLite file, and a newer version is refused.
//! Bodies and records are stored as JSON text (not `jsonb`, which rejects `\u0000` that
//! action logs may hold and reorders keys); what lists show without the large parts (an
//! action's code, a record's logs and result) is kept in a column of its own at write.
//!
//! # Semantics beyond the traits
//! As the SQLite backend's: `WrongCollection` for a name of another collection; `updated`
//! strictly increasing per document (and across the documents this process writes);
//! `count` ignores skip and limit; a subject name held by another uuid is `AlreadyExists`.
//! `purge` deletes in batches and leaves the freed space to autovacuum, which makes it
//! reusable (PostgreSQL never shrinks the files by itself; there is no `reclaim`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use whisk_types::now_millis;

use crate::StoreError;

mod activations;
mod code;
mod compositions;
mod entities;
mod identities;
mod schedules;
mod schema;

/// Added to the sum of the timeouts to make [`Inner::call_timeout`].
const CALL_MARGIN: Duration = Duration::from_secs(5);

/// Idle time before TCP keepalives probe a connection, so a dead peer is noticed.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// How the store uses the server; [`PostgresOptions::default`] suits a controller or invoker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections the pool keeps at most (the server's `max_connections` is shared by
    /// every process, so each takes a bounded share).
    pub max_connections: usize,
    /// How long a call waits for a free connection.
    pub acquire_timeout: Duration,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// The server aborts any statement running longer (`statement_timeout`).
    pub statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL store. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The longest one call may take, end to end: it also bounds a call on a connection
    /// whose peer vanished without closing it, which no server-side timeout can.
    call_timeout: Duration,
    /// The last `updated` this process wrote, so the next one is strictly greater.
    last_updated: AtomicI64,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("max_connections", &status.max_size)
            .field("connections", &status.size)
            .finish()
    }
}

/// Maps client errors into [`StoreError::Backend`], with the server's message if any.
pub(crate) trait Pg<T> {
    fn pg(self) -> Result<T, StoreError>;
}

impl<T> Pg<T> for Result<T, tokio_postgres::Error> {
    fn pg(self) -> Result<T, StoreError> {
        self.map_err(|e| backend(&e))
    }
}

fn backend(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!("postgres: {}: {}", db.code().code(), db)),
        None => StoreError::Backend(format!("postgres: {e}")),
    }
}

/// Whether `e` (made by [`backend`]) says the server aborted the transaction for a
/// deadlock or a serialization failure: the transaction may simply run again.
fn is_transient(e: &StoreError) -> bool {
    let codes = [
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
    ];
    matches!(e, StoreError::Backend(m)
        if codes.iter().any(|c| m.starts_with(&format!("postgres: {}:", c.code()))))
}

/// How often a transaction aborted for [`is_transient`] reasons runs.
const TRANSACTION_ATTEMPTS: usize = 3;

/// Whether a transaction that failed with `e` on its `tries`-th run runs again.
fn run_again(e: &StoreError, tries: usize) -> bool {
    let again = is_transient(e) && tries < TRANSACTION_ATTEMPTS;
    if again {
        tracing::debug!(error = %e, tries, "Retrying a PostgreSQL transaction.");
    }
    again
}

/// Whether `e` is a unique-constraint violation (a concurrent create of one key).
fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn corrupt(what: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Column `i` of `row`, or `Corrupt` when it has another type.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| corrupt(format!("column {i}"), e))
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

// === impl PostgresStore ===

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form) with the default [`PostgresOptions`] and brings its schema up to date.
    ///
    /// # Errors
    /// `Backend` when the URL is malformed, the server cannot be reached, or the schema is
    /// newer than this build.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with explicit pool and timeout settings.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`]; also when `max_connections` is 0.
    pub async fn connect_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        if options.max_connections == 0 {
            return Err(StoreError::Backend(
                "the PostgreSQL pool needs at least one connection".into(),
            ));
        }
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("postgres URL: {e}")))?;
        let timeout = format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis().max(1)
        );
        let server_options = match config.get_options() {
            Some(given) => format!("{given} {timeout}"),
            None => timeout,
        };
        config
            .options(&server_options)
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE);
        if config.get_application_name().is_none() {
            config.application_name("rwhisk");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A closed connection (server restarted) is dropped at checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres pool: {e}")))?;
        let store = PostgresStore {
            inner: Arc::new(Inner {
                pool,
                call_timeout: options.acquire_timeout
                    + options.connect_timeout
                    + options.statement_timeout
                    + CALL_MARGIN,
                last_updated: AtomicI64::new(0),
            }),
        };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await?;
        let last: i64 = col(
            &client
                .query_one(
                    "SELECT COALESCE(MAX(updated), 0)::BIGINT FROM entities",
                    &[],
                )
                .await
                .pg()?,
            0,
        )?;
        store.inner.last_updated.fetch_max(last, Ordering::SeqCst);
        Ok(store)
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.inner.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => backend(&e),
            e => StoreError::Backend(format!("postgres pool: {e}")),
        })
    }

    /// Runs `call` (which takes its own connection) within the call timeout.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = self.inner.call_timeout;
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(StoreError::Backend(format!(
                "postgres: no answer within {} s",
                limit.as_secs()
            )))
        })
    }

    /// Runs the transaction `attempt` makes, again when the server aborted it for a deadlock
    /// (action writes lock entity and code rows; two writes may meet in opposite order).
    async fn transaction<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 1;
        loop {
            match self.bounded(attempt()).await {
                Err(e) if run_again(&e, tries) => tries += 1,
                other => return other,
            }
        }
    }

    /// Runs `sql` (a prepared statement cached per connection) and returns its rows.
    async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            query(&client, sql, params).await
        })
        .await
    }

    /// Runs `sql` and returns its row, if it gave one.
    async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.pg()?;
            client.query_opt(&stmt, params).await.pg()
        })
        .await
    }

    /// Runs `sql` and returns how many rows it changed.
    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            execute(&client, sql, params).await
        })
        .await
    }

    /// A stamp for `updated`: now, but strictly after every stamp this process gave.
    fn stamp(&self) -> i64 {
        let now = now_millis();
        let previous = self
            .inner
            .last_updated
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(now.max(l.saturating_add(1)))
            })
            .unwrap_or_else(|l| l);
        now.max(previous.saturating_add(1))
    }

    /// Notes an `updated` written, so later stamps are after it.
    fn observe(&self, updated: i64) {
        self.inner.last_updated.fetch_max(updated, Ordering::SeqCst);
    }
}

/// [`PostgresStore::query`] on a given connection or transaction.
async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = client.prepare_cached(sql).await.pg()?;
    client.query(&stmt, params).await.pg()
}

/// [`PostgresStore::execute`] on a given connection or transaction.
async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(sql).await.pg()?;
    client.execute(&stmt, params).await.pg()
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::testing::TestPostgres;

    /// Every pooled connection carries the statement timeout, and the pool its bound.
    #[tokio::test]
    async fn connections_carry_the_timeouts_and_the_pool_is_bounded() {
        let pg = TestPostgres::shared().await;
        let options = PostgresOptions {
            max_connections: 3,
            statement_timeout: Duration::from_millis(1234),
            ..PostgresOptions::default()
        };
        let store = PostgresStore::connect_with(&pg.url(), options)
            .await
            .unwrap();
        let client = store.client().await.unwrap();
        let row = client
            .query_one("SHOW statement_timeout", &[])
            .await
            .unwrap();
        assert_eq!(col::<String>(&row, 0).unwrap(), "1234ms");
        let slow = client.query_one("SELECT pg_sleep(5)", &[]).await;
        assert!(
            slow.as_ref()
                .is_err_and(|e| e.code() == Some(&SqlState::QUERY_CANCELED)),
            "a statement past the timeout is cancelled: {slow:?}"
        );
        drop(client);
        assert_eq!(store.inner.pool.status().max_size, 3);
        assert!(matches!(
            PostgresStore::connect_with(
                &pg.url(),
                PostgresOptions {
                    max_connections: 0,
                    ..PostgresOptions::default()
                }
            )
            .await,
            Err(StoreError::Backend(_))
        ));
    }
}
