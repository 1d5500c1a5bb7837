//! [`ActivationStore`] for SQLite: records keyed by activation id, listed by namespace
//! and start. The purge is in `upkeep`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use whisk_types::{Activation, ActivationId, EntityName};

use super::{corrupt, to_i64, upkeep, Db, SqliteStore};
use crate::filters::{activation_filters, package_path};
use crate::{ActivationQuery, ActivationStore, StoreError};

impl SqliteStore {
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

pub(super) fn parse_activation(text: &str) -> Result<Activation, StoreError> {
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
        let text: Option<String> = self.read_now(|c| {
            c.prepare_cached(
                "SELECT record FROM activations WHERE activation_id = ?1 AND namespace = ?2",
            )
            .db()?
            .query_row(params![id, ns], |r| r.get(0))
            .optional()
            .db()
        })?;
        text.as_deref().map(parse_activation).transpose()
    }

    async fn exists(&self, id: &ActivationId) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.read_now(|c| {
            c.prepare_cached("SELECT 1 FROM activations WHERE activation_id = ?1")
                .db()?
                .query_row(params![id], |_| Ok(()))
                .optional()
                .db()
                .map(|r| r.is_some())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_list_uses_the_namespace_index() {
        let store = SqliteStore::temporary().unwrap();
        let plan: Vec<String> = store
            .read_now(|conn| {
                Ok(conn
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
                    .unwrap())
            })
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("activations_by_start"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
