//! [`IdentityStore`] for PostgreSQL: subjects (with their hashed keys and blocked flag) and
//! the limits an operator set per namespace.

use async_trait::async_trait;
use tokio_postgres::Row;
use whisk_types::{EntityName, Identity};

use super::{backend, col, corrupt, is_unique_violation, Pg, PostgresStore};
use crate::{IdentityStore, LimitOverrides, StoreError, SubjectRecord};

/// The columns every subject query selects, in [`subject_record`]'s order.
const COLUMNS: &str = "uuid, subject, namespace, salt, secret_hash, blocked";

fn subject_record(row: &Row) -> Result<SubjectRecord, StoreError> {
    let (uuid, subject, namespace): (String, String, String) =
        (col(row, 0)?, col(row, 1)?, col(row, 2)?);
    Ok(SubjectRecord {
        identity: Identity {
            uuid: uuid::Uuid::parse_str(&uuid).map_err(|e| corrupt(&subject, e))?,
            namespace: EntityName::namespace(&namespace).map_err(|e| corrupt(&subject, e))?,
            subject,
        },
        salt: col(row, 3)?,
        secret_hash: col(row, 4)?,
        blocked: col(row, 5)?,
    })
}

impl PostgresStore {
    /// The subject selected by `filter` (a `WHERE ...` clause with one parameter).
    async fn subject_where(
        &self,
        filter: &'static str,
        key: String,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        self.query_opt(&format!("SELECT {COLUMNS} FROM subjects {filter}"), &[&key])
            .await?
            .as_ref()
            .map(subject_record)
            .transpose()
    }
}

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn put_subject(&self, record: &SubjectRecord) -> Result<(), StoreError> {
        self.bounded(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO subjects (uuid, subject, namespace, salt, secret_hash, blocked)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (uuid) DO UPDATE SET
                         subject = excluded.subject, namespace = excluded.namespace,
                         salt = excluded.salt, secret_hash = excluded.secret_hash,
                         blocked = excluded.blocked",
                )
                .await
                .pg()?;
            let res = client
                .execute(
                    &stmt,
                    &[
                        &record.identity.uuid.to_string(),
                        &record.identity.subject,
                        &record.identity.namespace.as_str(),
                        &record.salt,
                        &record.secret_hash,
                        &record.blocked,
                    ],
                )
                .await;
            match res {
                Ok(_) => Ok(()),
                // The subject name is held by another uuid.
                Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
                Err(e) => Err(backend(&e)),
            }
        })
        .await
    }

    async fn subject_by_uuid(
        &self,
        uuid: &uuid::Uuid,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        self.subject_where("WHERE uuid = $1", uuid.to_string())
            .await
    }

    async fn subject_by_name(&self, subject: &str) -> Result<Option<SubjectRecord>, StoreError> {
        self.subject_where("WHERE subject = $1", subject.to_owned())
            .await
    }

    async fn subject_by_namespace(
        &self,
        namespace: &EntityName,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        self.subject_where(
            "WHERE namespace = $1 AND NOT blocked ORDER BY subject LIMIT 1",
            namespace.to_string(),
        )
        .await
    }

    async fn rehash_secret(
        &self,
        uuid: &uuid::Uuid,
        old: &str,
        secret_hash: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "UPDATE subjects SET salt = '', secret_hash = $3
                 WHERE uuid = $1 AND secret_hash = $2",
                &[&uuid.to_string(), &old, &secret_hash],
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete_subject(&self, subject: &str) -> Result<bool, StoreError> {
        let n = self
            .execute("DELETE FROM subjects WHERE subject = $1", &[&subject])
            .await?;
        Ok(n > 0)
    }

    async fn list_subjects(&self) -> Result<Vec<SubjectRecord>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM subjects ORDER BY subject"),
            &[],
        )
        .await?
        .iter()
        .map(subject_record)
        .collect()
    }

    async fn block_namespace(
        &self,
        namespace: &EntityName,
        blocked: bool,
    ) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE subjects SET blocked = $2 WHERE namespace = $1",
            &[&namespace.to_string(), &blocked],
        )
        .await
    }

    async fn namespace_limits(
        &self,
        namespace: &EntityName,
    ) -> Result<Option<LimitOverrides>, StoreError> {
        let row = self
            .query_opt(
                "SELECT limits FROM namespace_limits WHERE namespace = $1",
                &[&namespace.to_string()],
            )
            .await?;
        row.map(|r| {
            let text: String = col(&r, 0)?;
            serde_json::from_str(&text).map_err(|e| corrupt(namespace, e))
        })
        .transpose()
    }

    async fn put_namespace_limits(
        &self,
        namespace: &EntityName,
        limits: &LimitOverrides,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(limits).map_err(|e| corrupt(namespace, e))?;
        self.execute(
            "INSERT INTO namespace_limits (namespace, limits) VALUES ($1, $2)
             ON CONFLICT (namespace) DO UPDATE SET limits = excluded.limits",
            &[&namespace.to_string(), &text],
        )
        .await?;
        Ok(())
    }

    async fn delete_namespace_limits(&self, namespace: &EntityName) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "DELETE FROM namespace_limits WHERE namespace = $1",
                &[&namespace.to_string()],
            )
            .await?;
        Ok(n > 0)
    }
}
