//! Alarm schedules (the schedule methods of [`crate::EntityStore`]) for PostgreSQL: one row
//! per trigger, with the last tick claimed by compare-and-set, so of several controllers
//! exactly one fires a tick.

use tokio_postgres::Row;
use whisk_types::FullyQualifiedName;

use super::{col, corrupt, PostgresStore};
use crate::{Schedule, StoreError};

impl PostgresStore {
    pub(super) async fn put_schedule_row(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let key = schedule.trigger.to_string();
        let config = serde_json::to_string(&schedule.config).map_err(|e| corrupt(&key, e))?;
        self.execute(
            "INSERT INTO schedules (trigger, config, last_tick) VALUES ($1, $2, $3)
             ON CONFLICT (trigger) DO UPDATE SET
                 config = excluded.config, last_tick = excluded.last_tick",
            &[&key, &config, &schedule.last_tick],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn get_schedule_row(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<Option<Schedule>, StoreError> {
        self.query_opt(
            "SELECT trigger, config, last_tick FROM schedules WHERE trigger = $1",
            &[&trigger.to_string()],
        )
        .await?
        .as_ref()
        .map(schedule_from_row)
        .transpose()
    }

    pub(super) async fn delete_schedule_row(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "DELETE FROM schedules WHERE trigger = $1",
                &[&trigger.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    pub(super) async fn list_schedule_rows(&self) -> Result<Vec<Schedule>, StoreError> {
        self.query(
            "SELECT trigger, config, last_tick FROM schedules ORDER BY trigger",
            &[],
        )
        .await?
        .iter()
        .map(schedule_from_row)
        .collect()
    }

    pub(super) async fn claim_tick_row(
        &self,
        trigger: &FullyQualifiedName,
        previous: i64,
        tick: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "UPDATE schedules SET last_tick = $3 WHERE trigger = $1 AND last_tick = $2",
                &[&trigger.to_string(), &previous, &tick],
            )
            .await?;
        Ok(n == 1)
    }
}

fn schedule_from_row(row: &Row) -> Result<Schedule, StoreError> {
    let trigger: String = col(row, 0)?;
    let config: String = col(row, 1)?;
    Ok(Schedule {
        config: serde_json::from_str(&config).map_err(|e| corrupt(&trigger, e))?,
        trigger: FullyQualifiedName::parse(&trigger).map_err(|e| corrupt(&trigger, e))?,
        last_tick: col(row, 2)?,
    })
}
