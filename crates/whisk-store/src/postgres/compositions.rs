//! [`CompositionStore`] for PostgreSQL: one row per running composition.

use async_trait::async_trait;
use whisk_types::ActivationId;

use super::{col, corrupt, PostgresStore};
use crate::{CompositionStore, RunningComposition, StoreError};

#[async_trait]
impl CompositionStore for PostgresStore {
    async fn put_composition(&self, composition: &RunningComposition) -> Result<(), StoreError> {
        let id = composition.record.activation_id;
        let record = serde_json::to_string(&composition.record).map_err(|e| corrupt(id, e))?;
        self.execute(
            "INSERT INTO compositions (activation_id, controller, created, record)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (activation_id) DO UPDATE
                 SET controller = excluded.controller, record = excluded.record",
            &[
                &id.to_string(),
                &composition.controller,
                &whisk_types::now_millis(),
                &record,
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_composition(&self, id: &ActivationId) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "DELETE FROM compositions WHERE activation_id = $1",
                &[&id.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn list_compositions(
        &self,
        controller: &str,
    ) -> Result<Vec<RunningComposition>, StoreError> {
        let rows = self
            .query(
                "SELECT record FROM compositions WHERE controller = $1
                 ORDER BY created, activation_id",
                &[&controller],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let text: String = col(r, 0)?;
                Ok(RunningComposition {
                    controller: controller.to_owned(),
                    record: serde_json::from_str(&text)
                        .map_err(|e| corrupt("composition record", e))?,
                })
            })
            .collect()
    }
}
