//! The embedded SQLite backend (being written): skeleton with the final public API.

use std::path::Path;

use async_trait::async_trait;
use serde_json::Value;
use whisk_types::{Activation, ActivationId, EntityName, FullyQualifiedName};

use crate::{
    ActivationQuery, ActivationStore, Collection, Document, EntityStore, IdentityStore, ListQuery,
    StoreError, SubjectRecord,
};

/// The embedded store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    _p: (),
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or its schema created.
    pub fn open(_path: &Path) -> Result<Self, StoreError> {
        Err(StoreError::Backend("not yet implemented".into()))
    }

    /// A store in a temporary directory removed on drop, for tests.
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub fn temporary() -> Result<Self, StoreError> {
        Err(StoreError::Backend("not yet implemented".into()))
    }
}

fn todo_err<T>() -> Result<T, StoreError> {
    Err(StoreError::Backend("not yet implemented".into()))
}

#[async_trait]
impl EntityStore for SqliteStore {
    async fn get(
        &self,
        _c: Collection,
        _f: &FullyQualifiedName,
    ) -> Result<Option<Document>, StoreError> {
        todo_err()
    }
    async fn put(
        &self,
        _c: Collection,
        _f: &FullyQualifiedName,
        _b: Value,
        _e: Option<u64>,
    ) -> Result<Document, StoreError> {
        todo_err()
    }
    async fn delete(
        &self,
        _c: Collection,
        _f: &FullyQualifiedName,
        _e: u64,
    ) -> Result<bool, StoreError> {
        todo_err()
    }
    async fn list(&self, _c: Collection, _q: &ListQuery) -> Result<Vec<Document>, StoreError> {
        todo_err()
    }
    async fn count(&self, _c: Collection, _q: &ListQuery) -> Result<u64, StoreError> {
        todo_err()
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn put_subject(&self, _r: &SubjectRecord) -> Result<(), StoreError> {
        todo_err()
    }
    async fn subject_by_uuid(&self, _u: &uuid::Uuid) -> Result<Option<SubjectRecord>, StoreError> {
        todo_err()
    }
    async fn subject_by_name(&self, _s: &str) -> Result<Option<SubjectRecord>, StoreError> {
        todo_err()
    }
}

#[async_trait]
impl ActivationStore for SqliteStore {
    async fn put(&self, _a: &Activation) -> Result<bool, StoreError> {
        todo_err()
    }
    async fn get(
        &self,
        _n: &EntityName,
        _i: &ActivationId,
    ) -> Result<Option<Activation>, StoreError> {
        todo_err()
    }
    async fn exists(&self, _i: &ActivationId) -> Result<bool, StoreError> {
        todo_err()
    }
    async fn list(
        &self,
        _n: &EntityName,
        _q: &ActivationQuery,
    ) -> Result<Vec<Activation>, StoreError> {
        todo_err()
    }
    async fn count(&self, _n: &EntityName, _q: &ActivationQuery) -> Result<u64, StoreError> {
        todo_err()
    }
}
