//! The SQL of [`crate::CodeStore`] for the SQLite backend: the `code` table and the
//! `entities.code_digest` column that says which action holds which blob.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use whisk_types::code_digest;

use super::{Db, SqliteStore};
use crate::code::CODE_RETENTION;
use crate::{CodeStore, StoreError};

/// The migration step that adds the table (its number is reserved for this change).
pub(super) const MIGRATION: i64 = 5;

/// Schema of [`MIGRATION`]; existing actions are filled in by [`backfill`].
pub(super) const SCHEMA: &str = "
CREATE TABLE code (
    digest TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL,
    -- Epoch ms when the last action holding it let go; NULL while an action holds it.
    released_at INTEGER
);
CREATE INDEX code_released ON code (released_at) WHERE released_at IS NOT NULL;
ALTER TABLE entities ADD COLUMN code_digest TEXT;
CREATE INDEX entities_by_code ON entities (code_digest) WHERE code_digest IS NOT NULL;
";

/// The code of an action document's `exec`, if it has any.
fn code_of(body: &Value) -> Option<&str> {
    body.get("exec")?.get("code")?.as_str()
}

fn retention_ms() -> i64 {
    i64::try_from(CODE_RETENTION.as_millis()).unwrap_or(i64::MAX)
}

/// Keeps the code of every action already stored (run once, in the migration's transaction).
pub(super) fn backfill(tx: &Connection) -> Result<(), StoreError> {
    let actions: Vec<(String, String)> = tx
        .prepare("SELECT fqn, body FROM entities WHERE collection = 'actions'")
        .db()?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    for (fqn, body) in actions {
        let Ok(body) = serde_json::from_str::<Value>(&body) else {
            continue;
        };
        hold(tx, &fqn, code_of(&body))?;
    }
    Ok(())
}

/// Records that the action `fqn` now holds `code`, keeping the blob.
fn hold(tx: &Connection, fqn: &str, code: Option<&str>) -> Result<Option<String>, StoreError> {
    let digest = code.map(code_digest);
    if let (Some(code), Some(digest)) = (code, &digest) {
        tx.prepare_cached(
            "INSERT INTO code (digest, code, released_at) VALUES (?1, ?2, NULL)
             ON CONFLICT (digest) DO UPDATE SET released_at = NULL",
        )
        .db()?
        .execute(params![digest, code])
        .db()?;
    }
    tx.prepare_cached("UPDATE entities SET code_digest = ?2 WHERE fqn = ?1")
        .db()?
        .execute(params![fqn, digest])
        .db()?;
    Ok(digest)
}

/// Marks `digest` released at `now` if no action holds it, and removes code released
/// longer than the retention ago.
fn release(tx: &Connection, digest: Option<String>, now: i64) -> Result<(), StoreError> {
    if let Some(digest) = digest {
        tx.prepare_cached(
            "UPDATE code SET released_at = ?2
             WHERE digest = ?1 AND released_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM entities WHERE code_digest = ?1)",
        )
        .db()?
        .execute(params![digest, now])
        .db()?;
    }
    collect(tx, now.saturating_sub(retention_ms()))?;
    Ok(())
}

fn held_digest(tx: &Connection, fqn: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT code_digest FROM entities WHERE fqn = ?1")
        .db()?
        .query_row(params![fqn], |r| r.get::<_, Option<String>>(0))
        .optional()
        .db()?
        .flatten())
}

/// After an action document was written (its row updated, `code_digest` still the old
/// version's): keep the new code and release the old.
pub(super) fn on_put(tx: &Connection, fqn: &str, body: &Value, now: i64) -> Result<(), StoreError> {
    let old = held_digest(tx, fqn)?;
    let new = hold(tx, fqn, code_of(body))?;
    if old != new {
        release(tx, old, now)?;
    }
    Ok(())
}

/// Before an action document is deleted: release its code.
pub(super) fn on_delete(tx: &Connection, fqn: &str, now: i64) -> Result<(), StoreError> {
    let old = held_digest(tx, fqn)?;
    hold(tx, fqn, None)?;
    release(tx, old, now)
}

/// Removes code no action holds that was released before `released_before`.
pub(super) fn collect(tx: &Connection, released_before: i64) -> Result<u64, StoreError> {
    let n = tx
        .prepare_cached(
            "DELETE FROM code
             WHERE released_at IS NOT NULL AND released_at < ?1
               AND NOT EXISTS (SELECT 1 FROM entities WHERE code_digest = code.digest)",
        )
        .db()?
        .execute(params![released_before])
        .db()?;
    Ok(n as u64)
}

fn get(c: &Connection, digest: &str) -> Result<Option<String>, StoreError> {
    c.prepare_cached("SELECT code FROM code WHERE digest = ?1")
        .db()?
        .query_row(params![digest], |r| r.get(0))
        .optional()
        .db()
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn get_code(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let digest = digest.to_owned();
        self.read(move |c| get(c, &digest)).await
    }

    async fn collect_code(&self, released_before: i64) -> Result<u64, StoreError> {
        self.write(move |w| collect(&w.conn, released_before)).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use whisk_types::{code_digest, FullyQualifiedName};

    use super::super::schema::{SCHEMA as SCHEMA_V1, SCHEMA_V2};
    use super::super::SqliteStore;
    use crate::{CodeStore, Collection, EntityStore};

    /// A file written before code was kept by digest gets the code of its actions at
    /// migration, so messages of those actions can be served.
    #[tokio::test]
    async fn the_migration_keeps_the_code_of_existing_actions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL);",
        )
        .unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute_batch(SCHEMA_V2).unwrap();
        conn.execute_batch("INSERT INTO schema_version (component, version) VALUES ('store', 2);")
            .unwrap();
        let body = json!({"name": "old", "exec": {"kind": "nodejs:18", "code": "old code"}});
        conn.execute(
            "INSERT INTO entities (fqn, collection, namespace, package, body, revision, updated)
             VALUES ('guest/old', 'actions', 'guest', NULL, ?1, 1, 1)",
            [body.to_string()],
        )
        .unwrap();
        drop(conn);

        let store = SqliteStore::open(&path).unwrap();
        let digest = code_digest("old code");
        assert_eq!(
            store.get_code(&digest).await.unwrap().as_deref(),
            Some("old code")
        );
        // Held by the action: collection leaves it; deleting the action releases it.
        store.collect_code(i64::MAX).await.unwrap();
        assert!(store.get_code(&digest).await.unwrap().is_some());
        let fqn = FullyQualifiedName::parse("guest/old").unwrap();
        assert!(store.delete(Collection::Actions, &fqn, 1).await.unwrap());
        assert!(store.get_code(&digest).await.unwrap().is_some());
        store.collect_code(i64::MAX).await.unwrap();
        assert!(store.get_code(&digest).await.unwrap().is_none());
    }
}
