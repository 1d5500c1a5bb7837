//! [`CompositionStore`] for the embedded backend: one row per running composition.

use async_trait::async_trait;
use rusqlite::params;
use whisk_types::ActivationId;

use super::activations::parse_activation;
use super::{corrupt, Db, SqliteStore};
use crate::{CompositionStore, RunningComposition, StoreError};

/// Migration step 4: running compositions.
pub(super) const SCHEMA: &str = "
CREATE TABLE compositions (
    activation_id TEXT PRIMARY KEY NOT NULL,
    controller TEXT NOT NULL,
    created INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX compositions_by_controller ON compositions (controller, created);
";

#[async_trait]
impl CompositionStore for SqliteStore {
    async fn put_composition(&self, composition: &RunningComposition) -> Result<(), StoreError> {
        let id = composition.record.activation_id;
        let record = serde_json::to_string(&composition.record).map_err(|e| corrupt(id, e))?;
        let (id, controller) = (id.to_string(), composition.controller.clone());
        let created = whisk_types::now_millis();
        self.write(move |w| {
            w.conn
                .prepare_cached(
                    "INSERT INTO compositions (activation_id, controller, created, record)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (activation_id) DO UPDATE
                         SET controller = excluded.controller, record = excluded.record",
                )
                .db()?
                .execute(params![id, controller, created, record])
                .db()?;
            Ok(())
        })
        .await
    }

    async fn delete_composition(&self, id: &ActivationId) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached("DELETE FROM compositions WHERE activation_id = ?1")
                .db()?
                .execute(params![id])
                .db()?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_compositions(
        &self,
        controller: &str,
    ) -> Result<Vec<RunningComposition>, StoreError> {
        let owner = controller.to_owned();
        let rows: Vec<String> = self
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT record FROM compositions WHERE controller = ?1
                         ORDER BY created, activation_id",
                    )
                    .db()?;
                let rows = stmt
                    .query_map(params![owner], |r| r.get(0))
                    .db()?
                    .collect::<Result<Vec<String>, _>>()
                    .db()?;
                Ok(rows)
            })
            .await?;
        rows.iter()
            .map(|text| {
                Ok(RunningComposition {
                    controller: controller.to_owned(),
                    record: parse_activation(text)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract;

    /// Rows survive reopening the file, as they must across a crash.
    #[tokio::test]
    async fn rows_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let ns = contract::random_namespace();
        let row = RunningComposition {
            controller: "c0".into(),
            record: contract::activation(&ns, "seq", 1_000, None),
        };
        SqliteStore::open(&path)
            .unwrap()
            .put_composition(&row)
            .await
            .unwrap();
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.list_compositions("c0").await.unwrap(), vec![row]);
    }
}
