//! [`ActivationStore`] for PostgreSQL: records keyed by activation id, listed by namespace
//! and start, and purged in batches.

use async_trait::async_trait;
use serde_json::Value;
use whisk_types::{Activation, ActivationId, EntityName};

use super::{col, corrupt, to_i64, PostgresStore};
use crate::filters::{activation_filters, package_path};
use crate::{ActivationQuery, ActivationStore, StoreError};

/// Rows one purge statement deletes, so no statement runs long or locks much.
const PURGE_BATCH: i64 = 500;

fn parse_activation(text: &str) -> Result<Activation, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("activation record", e))
}

/// The record's text and its summary's (no logs, no result), as stored.
fn texts(activation: &Activation) -> Result<(String, String), StoreError> {
    let id = activation.activation_id;
    let mut value = serde_json::to_value(activation).map_err(|e| corrupt(id, e))?;
    let record = serde_json::to_string(&value).map_err(|e| corrupt(id, e))?;
    if let Some(m) = value.as_object_mut() {
        m.remove("logs");
        if let Some(r) = m.get_mut("response").and_then(Value::as_object_mut) {
            r.remove("result");
        }
    }
    let summary = serde_json::to_string(&value).map_err(|e| corrupt(id, e))?;
    Ok((record, summary))
}

impl PostgresStore {
    /// An activation list reading the record from column `record` (`record` or `summary`).
    async fn list_activations(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
        record: &'static str,
    ) -> Result<Vec<Activation>, StoreError> {
        let (ns, name, path, since, upto) = activation_filters(namespace, query);
        let (skip, limit) = (to_i64(query.skip), to_i64(query.limit));
        let rows = self
            .query(
                &format!(
                    "SELECT {record} FROM activations
                     WHERE namespace = $1 AND start >= $4 AND start <= $5
                       AND ($2::TEXT IS NULL OR name = $2) AND ($3::TEXT IS NULL OR path = $3)
                     ORDER BY start DESC, seq DESC LIMIT $6 OFFSET $7"
                ),
                &[&ns, &name, &path, &since, &upto, &limit, &skip],
            )
            .await?;
        rows.iter()
            .map(|r| parse_activation(&col::<String>(r, 0)?))
            .collect()
    }

    /// Runs a batched `DELETE` (`$1` the bound, `$2` the batch size, `$3`/`$4` an optional
    /// namespace and sequence number) until a batch deletes less than a full batch. Rows
    /// another purge (another controller) is deleting are skipped, not waited for.
    async fn delete_in_batches(
        &self,
        sql: &'static str,
        bound: i64,
        scope: Option<(&str, i64)>,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let n = match scope {
                None => self.execute(sql, &[&bound, &PURGE_BATCH]).await?,
                Some((ns, seq)) => {
                    self.execute(sql, &[&bound, &PURGE_BATCH, &ns, &seq])
                        .await?
                }
            };
            total += n;
            if to_i64(n) < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl ActivationStore for PostgresStore {
    async fn put(&self, activation: &Activation) -> Result<bool, StoreError> {
        let (record, summary) = texts(activation)?;
        let n = self
            .execute(
                "INSERT INTO activations
                     (activation_id, namespace, name, path, start, record, summary)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (activation_id) DO NOTHING",
                &[
                    &activation.activation_id.to_string(),
                    &activation.namespace.namespace().to_string(),
                    &activation.name.to_string(),
                    &package_path(activation),
                    &activation.start,
                    &record,
                    &summary,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn get(
        &self,
        namespace: &EntityName,
        id: &ActivationId,
    ) -> Result<Option<Activation>, StoreError> {
        let row = self
            .query_opt(
                "SELECT record FROM activations WHERE activation_id = $1 AND namespace = $2",
                &[&id.to_string(), &namespace.to_string()],
            )
            .await?;
        row.map(|r| parse_activation(&col::<String>(&r, 0)?))
            .transpose()
    }

    async fn exists(&self, id: &ActivationId) -> Result<bool, StoreError> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM activations WHERE activation_id = $1",
                &[&id.to_string()],
            )
            .await?
            .is_some())
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
        self.list_activations(namespace, query, "summary").await
    }

    async fn count(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<u64, StoreError> {
        let (ns, name, path, since, upto) = activation_filters(namespace, query);
        let row = self
            .query_opt(
                "SELECT COUNT(*) FROM activations
                 WHERE namespace = $1 AND start >= $4 AND start <= $5
                   AND ($2::TEXT IS NULL OR name = $2) AND ($3::TEXT IS NULL OR path = $3)",
                &[&ns, &name, &path, &since, &upto],
            )
            .await?;
        Ok(row.map(|r| col::<i64>(&r, 0)).transpose()?.unwrap_or(0) as u64)
    }

    async fn purge(&self, older_than: i64, keep_per_namespace: u64) -> Result<u64, StoreError> {
        let mut deleted = self
            .delete_in_batches(
                "DELETE FROM activations WHERE seq IN
                     (SELECT seq FROM activations WHERE start < $1
                      LIMIT $2 FOR UPDATE SKIP LOCKED)",
                older_than,
                None,
            )
            .await?;
        let keep = to_i64(keep_per_namespace);
        let crowded = self
            .query(
                "SELECT namespace FROM activations GROUP BY namespace HAVING COUNT(*) > $1",
                &[&keep],
            )
            .await?;
        for row in crowded {
            let ns: String = col(&row, 0)?;
            // The newest record past the ones kept: it and everything older goes.
            let first_gone = self
                .query_opt(
                    "SELECT start, seq FROM activations WHERE namespace = $1
                     ORDER BY start DESC, seq DESC LIMIT 1 OFFSET $2",
                    &[&ns, &keep],
                )
                .await?;
            let Some(first_gone) = first_gone else {
                continue;
            };
            let (start, seq): (i64, i64) = (col(&first_gone, 0)?, col(&first_gone, 1)?);
            deleted += self
                .delete_in_batches(
                    "DELETE FROM activations WHERE seq IN
                         (SELECT seq FROM activations
                          WHERE namespace = $3 AND (start < $1 OR (start = $1 AND seq <= $4))
                          LIMIT $2 FOR UPDATE SKIP LOCKED)",
                    start,
                    Some((&ns, seq)),
                )
                .await?;
        }
        if deleted > 0 {
            tracing::debug!(deleted, "Purged activation records.");
        }
        Ok(deleted)
    }
}
