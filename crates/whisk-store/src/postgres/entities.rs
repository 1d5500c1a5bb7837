//! [`EntityStore`] for PostgreSQL: documents keyed by fully qualified name, with revisions
//! checked under a row lock. A write the server aborts for a deadlock runs again. The alarm schedules, also part of the trait, are in
//! `schedules`.

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::Row;
use whisk_types::FullyQualifiedName;

use deadpool_postgres::GenericClient;

use super::{code, col, corrupt, is_unique_violation, run_again, to_i64, Pg, PostgresStore};
use crate::{Collection, Document, EntityStore, ListQuery, Schedule, StoreError};

/// The body text and the list text (an action's without `exec.code`) of a document.
fn texts(
    collection: Collection,
    key: &str,
    body: &mut Value,
) -> Result<(String, String), StoreError> {
    let text = serde_json::to_string(body).map_err(|e| corrupt(key, e))?;
    if collection != Collection::Actions {
        return Ok((text.clone(), text));
    }
    let exec = body.get_mut("exec").and_then(Value::as_object_mut);
    let Some(code) = exec.and_then(|e| e.remove("code")) else {
        return Ok((text.clone(), text));
    };
    let metadata = serde_json::to_string(body).map_err(|e| corrupt(key, e));
    if let Some(exec) = body.get_mut("exec").and_then(Value::as_object_mut) {
        exec.insert("code".into(), code);
    }
    Ok((text, metadata?))
}

/// A document from a row of `fqn, collection, <body>, revision, updated`.
fn document(row: &Row) -> Result<Document, StoreError> {
    let fqn: String = col(row, 0)?;
    let collection: String = col(row, 1)?;
    let body: String = col(row, 2)?;
    Ok(Document {
        collection: Collection::parse(&collection)
            .ok_or_else(|| corrupt(&fqn, format!("unknown collection {collection}")))?,
        body: serde_json::from_str(&body).map_err(|e| corrupt(&fqn, e))?,
        revision: col::<i64>(row, 3)? as u64,
        updated: col(row, 4)?,
        fqn: FullyQualifiedName::parse(&fqn).map_err(|e| corrupt(&fqn, e))?,
    })
}

impl PostgresStore {
    /// An entity list reading the body from column `body` (`body` or `metadata`).
    async fn list_entities(
        &self,
        collection: Collection,
        query: &ListQuery,
        body: &'static str,
    ) -> Result<Vec<Document>, StoreError> {
        let ns = query.namespace.to_string();
        let (skip, limit) = (to_i64(query.skip), to_i64(query.limit));
        let rows = match &query.package {
            None => {
                self.query(
                    &format!(
                        "SELECT fqn, collection, {body}, revision, updated FROM entities
                         WHERE collection = $1 AND namespace = $2
                         ORDER BY updated DESC, fqn LIMIT $3 OFFSET $4"
                    ),
                    &[&collection.as_str(), &ns, &limit, &skip],
                )
                .await?
            }
            Some(pkg) => {
                self.query(
                    &format!(
                        "SELECT fqn, collection, {body}, revision, updated FROM entities
                         WHERE collection = $1 AND namespace = $2 AND package = $3
                         ORDER BY updated DESC, fqn LIMIT $4 OFFSET $5"
                    ),
                    &[&collection.as_str(), &ns, &pkg.to_string(), &limit, &skip],
                )
                .await?
            }
        };
        rows.iter().map(document).collect()
    }

    /// One run of [`EntityStore::put`]'s transaction; sets `updated` in `body` and returns
    /// the new revision and `updated`.
    async fn put_once(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        body: &mut Value,
        expected: Option<u64>,
    ) -> Result<(i64, i64), StoreError> {
        let key = fqn.to_string();
        let mut client = self.client().await?;
        let tx = client.transaction().await.pg()?;
        let existing = super::query(
            &tx,
            "SELECT collection, revision, updated FROM entities WHERE fqn = $1 FOR UPDATE",
            &[&key],
        )
        .await?;
        let existing = match existing.first() {
            Some(r) => Some((col::<String>(r, 0)?, col::<i64>(r, 1)?, col::<i64>(r, 2)?)),
            None => None,
        };
        let now = self.stamp();
        let (revision, updated) = match (existing, expected) {
            (None, None) => (1, now),
            (None, Some(_)) => return Err(StoreError::Conflict),
            (Some((c, _, _)), _) if c != collection.as_str() => {
                return Err(StoreError::WrongCollection)
            }
            (Some(_), None) => return Err(StoreError::AlreadyExists),
            (Some((_, rev, _)), Some(e)) if rev as u64 != e => return Err(StoreError::Conflict),
            (Some((_, rev, old)), Some(_)) => (rev + 1, now.max(old + 1)),
        };
        if let Some(m) = body.as_object_mut() {
            m.insert("updated".into(), updated.into());
        }
        let (text, metadata) = texts(collection, &key, body)?;
        let written = if revision == 1 {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO entities
                         (fqn, collection, namespace, package, body, metadata, revision, updated)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .await
                .pg()?;
            tx.execute(
                &stmt,
                &[
                    &key,
                    &collection.as_str(),
                    &fqn.namespace().to_string(),
                    &fqn.path.package().map(|p| p.to_string()),
                    &text,
                    &metadata,
                    &revision,
                    &updated,
                ],
            )
            .await
        } else {
            let stmt = tx
                .prepare_cached(
                    "UPDATE entities SET body = $2, metadata = $3, revision = $4, updated = $5
                     WHERE fqn = $1",
                )
                .await
                .pg()?;
            tx.execute(&stmt, &[&key, &text, &metadata, &revision, &updated])
                .await
        };
        match written {
            Ok(_) => {}
            // Another process created the same name between our read and insert.
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            Err(e) => return Err(super::backend(&e)),
        }
        if collection == Collection::Actions {
            code::on_put(&tx, &key, body, now).await?;
        }
        tx.commit().await.pg()?;
        self.observe(updated);
        Ok((revision, updated))
    }

    /// One run of [`EntityStore::delete`]'s transaction.
    async fn delete_once(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let key = fqn.to_string();
        let mut client = self.client().await?;
        let tx = client.transaction().await.pg()?;
        let existing = super::query(
            &tx,
            "SELECT collection, revision FROM entities WHERE fqn = $1 FOR UPDATE",
            &[&key],
        )
        .await?;
        match existing.first() {
            None => return Ok(false),
            Some(r) => {
                if col::<String>(r, 0)? != collection.as_str() {
                    return Err(StoreError::WrongCollection);
                }
                if col::<i64>(r, 1)? as u64 != expected {
                    return Err(StoreError::Conflict);
                }
            }
        }
        if collection == Collection::Actions {
            code::on_delete(&tx, &key, whisk_types::now_millis()).await?;
        }
        super::execute(&tx, "DELETE FROM entities WHERE fqn = $1", &[&key]).await?;
        tx.commit().await.pg()?;
        Ok(true)
    }
}

#[async_trait]
impl EntityStore for PostgresStore {
    async fn get(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
    ) -> Result<Option<Document>, StoreError> {
        let row = self
            .query_opt(
                "SELECT fqn, collection, body, revision, updated FROM entities WHERE fqn = $1",
                &[&fqn.to_string()],
            )
            .await?;
        let Some(doc) = row.as_ref().map(document).transpose()? else {
            return Ok(None);
        };
        if doc.collection != collection {
            return Err(StoreError::WrongCollection);
        }
        Ok(Some(doc))
    }

    async fn put(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        mut body: Value,
        expected: Option<u64>,
    ) -> Result<Document, StoreError> {
        let mut tries = 1;
        let (revision, updated) = loop {
            match self
                .bounded(self.put_once(collection, fqn, &mut body, expected))
                .await
            {
                Err(e) if run_again(&e, tries) => tries += 1,
                other => break other?,
            }
        };
        Ok(Document {
            collection,
            fqn: fqn.clone(),
            body,
            revision: revision as u64,
            updated,
        })
    }

    async fn delete(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        expected: u64,
    ) -> Result<bool, StoreError> {
        self.transaction(|| self.delete_once(collection, fqn, expected))
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
        self.list_entities(collection, query, "metadata").await
    }

    async fn count(&self, collection: Collection, query: &ListQuery) -> Result<u64, StoreError> {
        let ns = query.namespace.to_string();
        let row = match &query.package {
            None => {
                self.query_opt(
                    "SELECT COUNT(*) FROM entities WHERE collection = $1 AND namespace = $2",
                    &[&collection.as_str(), &ns],
                )
                .await?
            }
            Some(pkg) => {
                self.query_opt(
                    "SELECT COUNT(*) FROM entities
                     WHERE collection = $1 AND namespace = $2 AND package = $3",
                    &[&collection.as_str(), &ns, &pkg.to_string()],
                )
                .await?
            }
        };
        Ok(row.map(|r| col::<i64>(&r, 0)).transpose()?.unwrap_or(0) as u64)
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
