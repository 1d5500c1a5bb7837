//! [`EntityStore`] for SQLite: documents keyed by fully qualified name, with revisions.
//! The alarm schedules, also part of the trait, are in `schedules`.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use whisk_types::{now_millis, FullyQualifiedName};

use super::{code, corrupt, to_i64, upkeep, Db, SqliteStore};
use crate::{Collection, Document, EntityStore, ListQuery, Schedule, StoreError};

impl SqliteStore {
    /// An entity list reading the body through the column expression `body`.
    async fn list_entities(
        &self,
        collection: Collection,
        query: &ListQuery,
        body: &'static str,
    ) -> Result<Vec<Document>, StoreError> {
        let ns = query.namespace.to_string();
        let package = query.package.as_ref().map(|p| p.to_string());
        let (skip, limit) = (to_i64(query.skip), to_i64(query.limit));
        self.read(move |c| match package {
            None => entity_rows(
                c,
                &format!(
                    "SELECT fqn, collection, {body}, revision, updated FROM entities
                     WHERE collection = ?1 AND namespace = ?2
                     ORDER BY updated DESC, fqn LIMIT ?3 OFFSET ?4"
                ),
                params![collection.as_str(), ns, limit, skip],
            ),
            Some(pkg) => entity_rows(
                c,
                &format!(
                    "SELECT fqn, collection, {body}, revision, updated FROM entities
                     WHERE collection = ?1 AND namespace = ?2 AND package = ?3
                     ORDER BY updated DESC, fqn LIMIT ?4 OFFSET ?5"
                ),
                params![collection.as_str(), ns, pkg, limit, skip],
            ),
        })
        .await
    }
}

fn parse_body(fqn: &str, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body).map_err(|e| corrupt(fqn, e))
}

fn entity_rows(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Document>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .db()?;
    let mut docs = Vec::new();
    for row in rows {
        let (fqn, collection, body, revision, updated) = row.db()?;
        docs.push(Document {
            collection: Collection::parse(&collection)
                .ok_or_else(|| corrupt(&fqn, format!("unknown collection {collection}")))?,
            body: parse_body(&fqn, &body)?,
            fqn: FullyQualifiedName::parse(&fqn).map_err(|e| corrupt(&fqn, e))?,
            revision: revision as u64,
            updated,
        });
    }
    Ok(docs)
}

#[async_trait]
impl EntityStore for SqliteStore {
    async fn get(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
    ) -> Result<Option<Document>, StoreError> {
        let key = fqn.to_string();
        let row = self.read_now(|c| {
            c.prepare_cached(
                "SELECT collection, body, revision, updated FROM entities WHERE fqn = ?1",
            )
            .db()?
            .query_row(params![key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .optional()
            .db()
        })?;
        let Some((stored, body, revision, updated)) = row else {
            return Ok(None);
        };
        if stored != collection.as_str() {
            return Err(StoreError::WrongCollection);
        }
        Ok(Some(Document {
            collection,
            fqn: fqn.clone(),
            body: parse_body(&fqn.to_string(), &body)?,
            revision: revision as u64,
            updated,
        }))
    }

    async fn put(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        mut body: Value,
        expected: Option<u64>,
    ) -> Result<Document, StoreError> {
        let key = fqn.to_string();
        let namespace = fqn.namespace().to_string();
        let package = fqn.path.package().map(|p| p.to_string());
        let out_fqn = fqn.clone();
        self.write(move |w| {
            // The writer's savepoint makes this one atomic write.
            let tx = &w.conn;
            let existing: Option<(String, i64, i64)> = tx
                .prepare_cached("SELECT collection, revision, updated FROM entities WHERE fqn = ?1")
                .db()?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            let now = now_millis().max(w.last_updated + 1);
            let (revision, updated) = match (existing, expected) {
                (None, None) => (1, now),
                (None, Some(_)) => return Err(StoreError::Conflict),
                (Some((c, _, _)), _) if c != collection.as_str() => {
                    return Err(StoreError::WrongCollection)
                }
                (Some(_), None) => return Err(StoreError::AlreadyExists),
                (Some((_, rev, _)), Some(e)) if rev as u64 != e => {
                    return Err(StoreError::Conflict)
                }
                (Some((_, rev, old)), Some(_)) => (rev + 1, now.max(old + 1)),
            };
            if let Some(m) = body.as_object_mut() {
                m.insert("updated".into(), updated.into());
            }
            let text = serde_json::to_string(&body).map_err(|e| corrupt(&key, e))?;
            tx.prepare_cached(
                "INSERT INTO entities (fqn, collection, namespace, package, body, revision, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (fqn) DO UPDATE SET
                     body = excluded.body, revision = excluded.revision, updated = excluded.updated",
            )
            .db()?
            .execute(params![
                key,
                collection.as_str(),
                namespace,
                package,
                text,
                revision,
                updated
            ])
            .db()?;
            if collection == Collection::Actions {
                code::on_put(tx, &key, &body, now)?;
            }
            w.last_updated = w.last_updated.max(updated);
            Ok(Document {
                collection,
                fqn: out_fqn,
                body,
                revision: revision as u64,
                updated,
            })
        })
        .await
    }

    async fn delete(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let key = fqn.to_string();
        self.write(move |w| {
            let tx = &w.conn;
            let existing: Option<(String, i64)> = tx
                .prepare_cached("SELECT collection, revision FROM entities WHERE fqn = ?1")
                .db()?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            match existing {
                None => return Ok(false),
                Some((c, _)) if c != collection.as_str() => {
                    return Err(StoreError::WrongCollection)
                }
                Some((_, rev)) if rev as u64 != expected => return Err(StoreError::Conflict),
                Some(_) => {}
            }
            if collection == Collection::Actions {
                code::on_delete(tx, &key, now_millis())?;
            }
            tx.prepare_cached("DELETE FROM entities WHERE fqn = ?1")
                .db()?
                .execute(params![key])
                .db()?;
            Ok(true)
        })
        .await
    }

    async fn list(
        &self,
        collection: Collection,
        query: &ListQuery,
    ) -> Result<Vec<Document>, StoreError> {
        self.list_entities(collection, query, "body").await
    }

    async fn list_metadata(
        &self,
        collection: Collection,
        query: &ListQuery,
    ) -> Result<Vec<Document>, StoreError> {
        self.list_entities(collection, query, upkeep::ENTITY_METADATA)
            .await
    }

    async fn count(&self, collection: Collection, query: &ListQuery) -> Result<u64, StoreError> {
        let ns = query.namespace.to_string();
        let package = query.package.as_ref().map(|p| p.to_string());
        self.read(move |c| {
            let n: i64 = match package {
                None => c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM entities WHERE collection = ?1 AND namespace = ?2",
                    )
                    .db()?
                    .query_row(params![collection.as_str(), ns], |r| r.get(0)),
                Some(pkg) => c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM entities
                         WHERE collection = ?1 AND namespace = ?2 AND package = ?3",
                    )
                    .db()?
                    .query_row(params![collection.as_str(), ns, pkg], |r| r.get(0)),
            }
            .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        self.put_schedule_row(schedule).await
    }

    async fn get_schedule(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<Option<Schedule>, StoreError> {
        self.get_schedule_row(trigger).await
    }

    async fn delete_schedule(&self, trigger: &FullyQualifiedName) -> Result<bool, StoreError> {
        self.delete_schedule_row(trigger).await
    }

    async fn list_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.list_schedule_rows().await
    }

    async fn claim_tick(
        &self,
        trigger: &FullyQualifiedName,
        previous: i64,
        tick: i64,
    ) -> Result<bool, StoreError> {
        self.claim_tick_row(trigger, previous, tick).await
    }
}
