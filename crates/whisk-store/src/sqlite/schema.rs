//! The tables of the SQLite backend and their migrations, versioned in `schema_version`.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{code, compositions, identities, upkeep, Db};
use crate::StoreError;

pub(super) const SCHEMA: &str = "
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
pub(super) const SCHEMA_V2: &str = "
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
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use whisk_types::EntityName;

    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::{contract, ActivationStore, IdentityStore};

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
}
