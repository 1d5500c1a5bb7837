//! Alarm schedules (the schedule methods of [`crate::EntityStore`]) for SQLite: one row
//! per trigger, with the last tick claimed by compare-and-set.

use rusqlite::{params, OptionalExtension};
use whisk_types::FullyQualifiedName;

use super::{corrupt, Db, SqliteStore};
use crate::{Schedule, StoreError};

impl SqliteStore {
    pub(super) async fn put_schedule_row(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let key = schedule.trigger.to_string();
        let config = serde_json::to_string(&schedule.config).map_err(|e| corrupt(&key, e))?;
        let last_tick = schedule.last_tick;
        self.write(move |w| {
            w.conn
                .prepare_cached(
                    "INSERT INTO schedules (trigger, config, last_tick) VALUES (?1, ?2, ?3)
                     ON CONFLICT (trigger) DO UPDATE SET
                         config = excluded.config, last_tick = excluded.last_tick",
                )
                .db()?
                .execute(params![key, config, last_tick])
                .db()?;
            Ok(())
        })
        .await
    }

    pub(super) async fn get_schedule_row(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<Option<Schedule>, StoreError> {
        let key = trigger.to_string();
        self.read(move |c| {
            let row: Option<(String, String, i64)> = c
                .prepare_cached(
                    "SELECT trigger, config, last_tick FROM schedules WHERE trigger = ?1",
                )
                .db()?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            row.map(schedule_from_row).transpose()
        })
        .await
    }

    pub(super) async fn delete_schedule_row(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<bool, StoreError> {
        let key = trigger.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached("DELETE FROM schedules WHERE trigger = ?1")
                .db()?
                .execute(params![key])
                .db()?;
            Ok(n == 1)
        })
        .await
    }

    pub(super) async fn list_schedule_rows(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT trigger, config, last_tick FROM schedules ORDER BY trigger")
                .db()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .db()?;
            let mut out = Vec::new();
            for row in rows {
                out.push(schedule_from_row(row.db()?)?);
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn claim_tick_row(
        &self,
        trigger: &FullyQualifiedName,
        previous: i64,
        tick: i64,
    ) -> Result<bool, StoreError> {
        let key = trigger.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached(
                    "UPDATE schedules SET last_tick = ?3 WHERE trigger = ?1 AND last_tick = ?2",
                )
                .db()?
                .execute(params![key, previous, tick])
                .db()?;
            Ok(n == 1)
        })
        .await
    }
}

fn schedule_from_row(
    (trigger, config, last_tick): (String, String, i64),
) -> Result<Schedule, StoreError> {
    Ok(Schedule {
        config: serde_json::from_str(&config).map_err(|e| corrupt(&trigger, e))?,
        trigger: FullyQualifiedName::parse(&trigger).map_err(|e| corrupt(&trigger, e))?,
        last_tick,
    })
}
