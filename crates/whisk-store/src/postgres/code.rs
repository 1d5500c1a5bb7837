//! The SQL of [`crate::CodeStore`] for PostgreSQL: the `code` table and the
//! `entities.code_digest` column that says which action holds which blob. Holding and
//! releasing run in the transaction of the action's write.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use serde_json::Value;
use whisk_types::code_digest;

use super::{col, corrupt, execute, query, PostgresStore};
use crate::code::CODE_RETENTION;
use crate::{CodeStore, StoreError};

/// The code of an action document's `exec`, if it has any.
fn code_of(body: &Value) -> Option<&str> {
    body.get("exec")?.get("code")?.as_str()
}

fn retention_ms() -> i64 {
    i64::try_from(CODE_RETENTION.as_millis()).unwrap_or(i64::MAX)
}

/// Records that the action `fqn` now holds `code` (whose digest is `digest`), keeping the
/// blob.
async fn hold(
    tx: &impl GenericClient,
    fqn: &str,
    code: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    if let Some((code, digest)) = code {
        execute(
            tx,
            "INSERT INTO code (digest, code, released_at) VALUES ($1, $2, NULL)
             ON CONFLICT (digest) DO UPDATE SET released_at = NULL",
            &[&digest, &code.as_bytes()],
        )
        .await?;
    }
    execute(
        tx,
        "UPDATE entities SET code_digest = $2 WHERE fqn = $1",
        &[&fqn, &code.map(|(_, digest)| digest)],
    )
    .await?;
    Ok(())
}

/// Locks the code rows of `digests` in digest order, so two writes that hold and release
/// the same blobs (two actions swapping code) take turns instead of deadlocking.
async fn lock_code(tx: &impl GenericClient, digests: &[&str]) -> Result<(), StoreError> {
    query(
        tx,
        "SELECT 1 FROM code WHERE digest = ANY($1) ORDER BY digest FOR UPDATE",
        &[&digests],
    )
    .await?;
    Ok(())
}

/// Marks `digest` released at `now` if no action holds it, and removes code released
/// longer than the retention ago. Unlike SQLite's single writer, writers here run
/// concurrently, so a release also moves an earlier release time on: a blob is never
/// collected sooner than the retention after the last action let go of it.
async fn release(
    tx: &impl GenericClient,
    digest: Option<String>,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(digest) = digest {
        execute(
            tx,
            "UPDATE code SET released_at = $2
             WHERE digest = $1
               AND NOT EXISTS (SELECT 1 FROM entities WHERE code_digest = $1)",
            &[&digest, &now],
        )
        .await?;
    }
    collect(tx, now.saturating_sub(retention_ms())).await?;
    Ok(())
}

async fn held_digest(tx: &impl GenericClient, fqn: &str) -> Result<Option<String>, StoreError> {
    let rows = query(
        tx,
        "SELECT code_digest FROM entities WHERE fqn = $1",
        &[&fqn],
    )
    .await?;
    match rows.first() {
        Some(r) => col(r, 0),
        None => Ok(None),
    }
}

/// After an action document was written (its row updated, `code_digest` still the old
/// version's): keep the new code and release the old.
pub(super) async fn on_put(
    tx: &impl GenericClient,
    fqn: &str,
    body: &Value,
    now: i64,
) -> Result<(), StoreError> {
    let old = held_digest(tx, fqn).await?;
    let code = code_of(body);
    let new = code.map(code_digest);
    let mut touched: Vec<&str> = old.iter().chain(new.iter()).map(String::as_str).collect();
    touched.dedup();
    lock_code(tx, &touched).await?;
    hold(tx, fqn, code.zip(new.as_deref())).await?;
    if old != new {
        release(tx, old, now).await?;
    }
    Ok(())
}

/// Before an action document is deleted: release its code.
pub(super) async fn on_delete(
    tx: &impl GenericClient,
    fqn: &str,
    now: i64,
) -> Result<(), StoreError> {
    let old = held_digest(tx, fqn).await?;
    hold(tx, fqn, None).await?;
    release(tx, old, now).await
}

/// Removes code no action holds that was released before `released_before`. Rows another
/// write has locked (holding or collecting them) are skipped: no write waits on another's
/// collection.
async fn collect(tx: &impl GenericClient, released_before: i64) -> Result<u64, StoreError> {
    execute(
        tx,
        "DELETE FROM code WHERE digest IN
             (SELECT digest FROM code
              WHERE released_at IS NOT NULL AND released_at < $1
                AND NOT EXISTS (SELECT 1 FROM entities WHERE code_digest = code.digest)
              FOR UPDATE SKIP LOCKED)",
        &[&released_before],
    )
    .await
}

#[async_trait]
impl CodeStore for PostgresStore {
    async fn get_code(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let Some(row) = self
            .query_opt("SELECT code FROM code WHERE digest = $1", &[&digest])
            .await?
        else {
            return Ok(None);
        };
        String::from_utf8(col(&row, 0)?)
            .map(Some)
            .map_err(|e| corrupt(digest, e))
    }

    async fn collect_code(&self, released_before: i64) -> Result<u64, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            collect(&client, released_before).await
        })
        .await
    }
}
