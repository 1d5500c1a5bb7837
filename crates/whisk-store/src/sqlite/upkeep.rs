//! Keeping the store's file bounded: the purge of old activation records, giving freed
//! pages back to the file system, and the column expressions that let lists skip what
//! they do not show (an action's code, an activation's logs and result).
//!
//! The file uses `auto_vacuum = INCREMENTAL`: deleted rows leave free pages, and
//! [`SqliteStore::reclaim`] truncates them off the file, then checkpoints and truncates
//! the write-ahead log, whose size `journal_size_limit` also caps between reclaims.

use rusqlite::{params, Connection, OptionalExtension};

use super::{to_i64, Db, SqliteStore};
use crate::StoreError;

/// Version 6: activation records by age alone, for the purge.
pub(super) const SCHEMA_V6: &str = "
CREATE INDEX activations_by_age ON activations (start);
";

/// An entity body as lists read it: an action without `exec.code`.
pub(super) const ENTITY_METADATA: &str =
    "CASE WHEN collection = 'actions' THEN json_remove(body, '$.exec.code') ELSE body END";

/// An activation record as a list without `docs` reads it: no logs, no result.
pub(super) const ACTIVATION_SUMMARY: &str = "json_remove(record, '$.logs', '$.response.result')";

/// Rows one purge statement deletes, so the writer is never held for long.
const PURGE_BATCH: i64 = 500;

/// The write-ahead log is truncated to this size after each checkpoint.
const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// Turns on incremental auto-vacuum (and the log size limit) on a connection to the file,
/// before its schema is made or migrated.
pub(super) fn prepare(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .db()?;
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .db()?;
    if mode == 2 {
        return Ok(());
    }
    // Once the file is in WAL mode only a VACUUM applies the setting: instant on a new
    // file, a one-time rewrite of a file made before version 6.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .db()?;
    conn.execute_batch("VACUUM").db()?;
    Ok(())
}

/// Gives free pages back to the file system and truncates the write-ahead log.
fn reclaim(conn: &Connection) -> Result<(), StoreError> {
    // Stepped to the end: the statement frees pages as it steps.
    let mut vacuum = conn.prepare("PRAGMA incremental_vacuum").db()?;
    let mut rows = vacuum.query([]).db()?;
    while rows.next().db()?.is_some() {}
    // Busy readers make the checkpoint partial, not failed; the next reclaim finishes it.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .db()
}

impl SqliteStore {
    /// See [`crate::ActivationStore::purge`].
    pub(super) async fn purge_activations(
        &self,
        older_than: i64,
        keep_per_namespace: u64,
    ) -> Result<u64, StoreError> {
        let mut deleted = self
            .delete_in_batches(
                "DELETE FROM activations WHERE rowid IN
                     (SELECT rowid FROM activations WHERE start < ?1 LIMIT ?2)",
                older_than,
                None,
            )
            .await?;
        let keep = to_i64(keep_per_namespace);
        let crowded: Vec<String> = self
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT namespace FROM activations GROUP BY namespace HAVING COUNT(*) > ?1",
                    )
                    .db()?;
                let rows = stmt.query_map(params![keep], |r| r.get(0)).db()?;
                rows.collect::<Result<_, _>>().db()
            })
            .await?;
        for ns in crowded {
            // The newest record past the ones kept: it and everything older goes.
            let ns2 = ns.clone();
            let first_gone: Option<(i64, i64)> = self
                .read(move |c| {
                    c.prepare_cached(
                        "SELECT start, rowid FROM activations WHERE namespace = ?1
                         ORDER BY start DESC, rowid DESC LIMIT 1 OFFSET ?2",
                    )
                    .db()?
                    .query_row(params![ns2, keep], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .db()
                })
                .await?;
            let Some((start, rowid)) = first_gone else {
                continue;
            };
            deleted += self
                .delete_in_batches(
                    "DELETE FROM activations WHERE rowid IN
                         (SELECT rowid FROM activations
                          WHERE namespace = ?3 AND (start < ?1 OR (start = ?1 AND rowid <= ?4))
                          LIMIT ?2)",
                    start,
                    Some((ns, rowid)),
                )
                .await?;
        }
        if deleted > 0 {
            tracing::debug!(deleted, "Purged activation records.");
        }
        self.reclaim().await?;
        Ok(deleted)
    }

    /// Runs a batched `DELETE` (`?1` the bound, `?2` the batch size, `?3`/`?4` an optional
    /// namespace and row id) until a batch deletes less than a full batch.
    async fn delete_in_batches(
        &self,
        sql: &'static str,
        bound: i64,
        scope: Option<(String, i64)>,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let scope = scope.clone();
            let n = self
                .write(move |w| {
                    let mut stmt = w.conn.prepare_cached(sql).db()?;
                    match scope {
                        None => stmt.execute(params![bound, PURGE_BATCH]),
                        Some((ns, rowid)) => stmt.execute(params![bound, PURGE_BATCH, ns, rowid]),
                    }
                    .db()
                })
                .await?;
            total += n as u64;
            if (n as i64) < PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    /// Gives the free pages of the file back to the file system and truncates the
    /// write-ahead log. Purges call it; it is cheap when there is nothing to give back.
    ///
    /// # Errors
    /// The database failed.
    pub async fn reclaim(&self) -> Result<(), StoreError> {
        self.write_alone(|w| reclaim(&w.conn)).await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::{contract, ActivationStore};

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
}
