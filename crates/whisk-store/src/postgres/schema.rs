//! The tables of the PostgreSQL backend and their migrations, versioned in `schema_version`
//! and applied under an advisory lock, so processes starting together migrate once.

use deadpool_postgres::GenericClient;

use super::{col, Pg};
use crate::StoreError;

/// The key of the advisory lock held while migrating ("whisk" and a 1).
const MIGRATION_LOCK: i64 = 0x0077_6869_736b_0001;

/// Version 1: every table the SQLite schema has reached by its version 6, at once.
const SCHEMA_V1: &str = r#"
CREATE TABLE entities (
    fqn TEXT COLLATE "C" PRIMARY KEY,
    collection TEXT NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    package TEXT COLLATE "C",
    body TEXT NOT NULL,
    -- The body as lists show it: an action's without `exec.code`.
    metadata TEXT NOT NULL,
    revision BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    -- The code blob this action holds (see `code`).
    code_digest TEXT
);
CREATE INDEX entities_by_namespace ON entities (collection, namespace, updated DESC, fqn);
CREATE INDEX entities_by_package ON entities (collection, namespace, package, updated DESC, fqn);
CREATE INDEX entities_by_code ON entities (code_digest) WHERE code_digest IS NOT NULL;

CREATE TABLE code (
    digest TEXT PRIMARY KEY,
    -- The code's UTF-8 bytes: TEXT cannot hold the NUL characters a string may have.
    code BYTEA NOT NULL,
    -- Epoch ms when the last action holding it let go; NULL while an action holds it.
    released_at BIGINT
);
CREATE INDEX code_released ON code (released_at) WHERE released_at IS NOT NULL;

CREATE TABLE subjects (
    uuid TEXT PRIMARY KEY,
    subject TEXT COLLATE "C" NOT NULL UNIQUE,
    namespace TEXT COLLATE "C" NOT NULL,
    salt TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    blocked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX subjects_by_namespace ON subjects (namespace, subject);

CREATE TABLE namespace_limits (
    namespace TEXT PRIMARY KEY,
    limits TEXT NOT NULL
);

CREATE TABLE activations (
    -- Insertion order: the tie-break of equal starts, as SQLite's rowid.
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    activation_id TEXT PRIMARY KEY,
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    -- `pkg/name` from a `path` annotation `ns/pkg/name`; NULL outside packages.
    path TEXT,
    start BIGINT NOT NULL,
    record TEXT NOT NULL,
    -- The record as a list without `docs` shows it: no logs, no result.
    summary TEXT NOT NULL
);
CREATE INDEX activations_by_start ON activations (namespace, start DESC, seq DESC);
CREATE INDEX activations_by_age ON activations (start);

CREATE TABLE schedules (
    trigger TEXT COLLATE "C" PRIMARY KEY,
    config TEXT NOT NULL,
    last_tick BIGINT NOT NULL
);

CREATE TABLE compositions (
    activation_id TEXT COLLATE "C" PRIMARY KEY,
    controller TEXT NOT NULL,
    created BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX compositions_by_controller ON compositions (controller, created);
"#;

/// Every schema change in order: `(version, statements)`; new steps are appended.
const MIGRATIONS: &[(i64, &str)] = &[(1, SCHEMA_V1)];

/// The schema version this build writes: the last migration's.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database's schema up to [`SCHEMA_VERSION`] in one transaction, holding the
/// migration lock so concurrent starts take turns (the second finds the work done).
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let tx = client.transaction().await.pg()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .pg()?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             component TEXT PRIMARY KEY,
             version BIGINT NOT NULL
         )",
    )
    .await
    .pg()?;
    let current = match tx
        .query_opt(
            "SELECT version FROM schema_version WHERE component = 'store'",
            &[],
        )
        .await
        .pg()?
    {
        Some(row) => col::<i64>(&row, 0)?,
        None => 0,
    };
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "store schema version {current} is newer than this build supports ({SCHEMA_VERSION})"
        )));
    }
    for (step, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(statements).await.pg()?;
        tx.execute(
            "INSERT INTO schema_version (component, version) VALUES ('store', $1)
             ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            &[step],
        )
        .await
        .pg()?;
        tracing::info!(version = step, "Migrated the PostgreSQL store.");
    }
    tx.commit().await.pg()
}
