//! [`IdentityStore`] for SQLite: subjects (with their hashed keys and blocked flag) and the
//! limits an operator set per namespace.

use async_trait::async_trait;
use rusqlite::{params, ErrorCode, OptionalExtension};
use whisk_types::{EntityName, Identity};

use super::{corrupt, Db, SqliteStore};
use crate::{IdentityStore, LimitOverrides, StoreError, SubjectRecord};

/// Version 3: blocked subjects, and per-namespace limits (a JSON document each).
pub(super) const SCHEMA_V3: &str = "
ALTER TABLE subjects ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
CREATE TABLE namespace_limits (
    namespace TEXT PRIMARY KEY NOT NULL,
    limits TEXT NOT NULL
);
";

/// The columns every subject query selects, in [`subject_row`]'s order.
const COLUMNS: &str = "uuid, subject, namespace, salt, secret_hash, blocked";

type Row = (String, String, String, String, String, bool);

fn subject_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn subject_record(
    (uuid, subject, namespace, salt, secret_hash, blocked): Row,
) -> Result<SubjectRecord, StoreError> {
    Ok(SubjectRecord {
        identity: Identity {
            uuid: uuid::Uuid::parse_str(&uuid).map_err(|e| corrupt(&subject, e))?,
            namespace: EntityName::namespace(&namespace).map_err(|e| corrupt(&subject, e))?,
            subject,
        },
        salt,
        secret_hash,
        blocked,
    })
}

impl SqliteStore {
    /// The subject selected by `filter` (a `WHERE ...` clause with one parameter).
    async fn subject_where(
        &self,
        filter: &'static str,
        key: String,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        let row = self.read_now(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM subjects {filter}"))
                .db()?
                .query_row(params![key], subject_row)
                .optional()
                .db()
        })?;
        row.map(subject_record).transpose()
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn put_subject(&self, record: &SubjectRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.write(move |w| {
            let res = w
                .conn
                .prepare_cached(
                    "INSERT INTO subjects (uuid, subject, namespace, salt, secret_hash, blocked)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (uuid) DO UPDATE SET
                         subject = excluded.subject, namespace = excluded.namespace,
                         salt = excluded.salt, secret_hash = excluded.secret_hash,
                         blocked = excluded.blocked",
                )
                .db()?
                .execute(params![
                    r.identity.uuid.to_string(),
                    r.identity.subject,
                    r.identity.namespace.as_str(),
                    r.salt,
                    r.secret_hash,
                    r.blocked,
                ]);
            match res {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::AlreadyExists)
                }
                Err(e) => Err(StoreError::Backend(e.to_string())),
            }
        })
        .await
    }

    async fn subject_by_uuid(
        &self,
        uuid: &uuid::Uuid,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        self.subject_where("WHERE uuid = ?1", uuid.to_string())
            .await
    }

    async fn subject_by_name(&self, subject: &str) -> Result<Option<SubjectRecord>, StoreError> {
        self.subject_where("WHERE subject = ?1", subject.to_owned())
            .await
    }

    async fn subject_by_namespace(
        &self,
        namespace: &EntityName,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        self.subject_where(
            "WHERE namespace = ?1 AND blocked = 0 ORDER BY subject LIMIT 1",
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
        let (uuid, old, new) = (uuid.to_string(), old.to_owned(), secret_hash.to_owned());
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached(
                    "UPDATE subjects SET salt = '', secret_hash = ?3
                     WHERE uuid = ?1 AND secret_hash = ?2",
                )
                .db()?
                .execute(params![uuid, old, new])
                .db()?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_subject(&self, subject: &str) -> Result<bool, StoreError> {
        let subject = subject.to_owned();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached("DELETE FROM subjects WHERE subject = ?1")
                .db()?
                .execute(params![subject])
                .db()?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_subjects(&self) -> Result<Vec<SubjectRecord>, StoreError> {
        let rows = self
            .read(|c| {
                let mut stmt = c
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM subjects ORDER BY subject"))
                    .db()?;
                let rows = stmt.query_map([], subject_row).db()?;
                rows.collect::<Result<Vec<_>, _>>().db()
            })
            .await?;
        rows.into_iter().map(subject_record).collect()
    }

    async fn block_namespace(
        &self,
        namespace: &EntityName,
        blocked: bool,
    ) -> Result<u64, StoreError> {
        let namespace = namespace.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached("UPDATE subjects SET blocked = ?2 WHERE namespace = ?1")
                .db()?
                .execute(params![namespace, blocked])
                .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn namespace_limits(
        &self,
        namespace: &EntityName,
    ) -> Result<Option<LimitOverrides>, StoreError> {
        let key = namespace.to_string();
        let text: Option<String> = self.read_now(|c| {
            c.prepare_cached("SELECT limits FROM namespace_limits WHERE namespace = ?1")
                .db()?
                .query_row(params![key], |r| r.get(0))
                .optional()
                .db()
        })?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(namespace, e)))
            .transpose()
    }

    async fn put_namespace_limits(
        &self,
        namespace: &EntityName,
        limits: &LimitOverrides,
    ) -> Result<(), StoreError> {
        let key = namespace.to_string();
        let text = serde_json::to_string(limits).map_err(|e| corrupt(namespace, e))?;
        self.write(move |w| {
            w.conn
                .prepare_cached(
                    "INSERT INTO namespace_limits (namespace, limits) VALUES (?1, ?2)
                     ON CONFLICT (namespace) DO UPDATE SET limits = excluded.limits",
                )
                .db()?
                .execute(params![key, text])
                .db()?;
            Ok(())
        })
        .await
    }

    async fn delete_namespace_limits(&self, namespace: &EntityName) -> Result<bool, StoreError> {
        let key = namespace.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .prepare_cached("DELETE FROM namespace_limits WHERE namespace = ?1")
                .db()?
                .execute(params![key])
                .db()?;
            Ok(n > 0)
        })
        .await
    }
}
