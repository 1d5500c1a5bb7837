//! Storage of entities (actions, packages, triggers, rules), identities and activation
//! records behind traits, so the embedded SQLite default and PostgreSQL share one contract.
//!
//! # Layout
//! - [`EntityStore`]: JSON documents keyed by fully qualified name, with a revision for
//!   optimistic concurrency. Typed helpers for actions are in [`actions`].
//! - [`IdentityStore`]: subjects, their hashed keys, the blocked flag and per-namespace
//!   limits set by an operator ([`LimitOverrides`]).
//! - [`keys`]: hashing and checking of subject secrets (Argon2id, PHC strings).
//! - [`ActivationStore`]: activation records; `put` is idempotent on the activation id.
//! - [`CompositionStore`] (part of every `ActivationStore`): the state of running
//!   sequences and conductors, so they end in a record after a crash; in [`compositions`].
//! - [`CodeStore`] ([`code`]): action code by content digest, written with the actions,
//!   read by invokers.
//! - [`sqlite`]: the embedded backend, one file, the default.
//! - [`postgres`]: the PostgreSQL backend, shared by any number of processes. Both are
//!   split alike: a module per concern (schema, entities, schedules, activations,
//!   identities, compositions, code).
//! - `testing` (feature `test-util`): [`testing::TestPostgres`], a PostgreSQL server of a
//!   test's own.
//! - `contract` (feature `test-util`): the tests every backend must pass.
#![forbid(unsafe_code)]

pub mod actions;
pub mod code;
pub mod compositions;
#[cfg(any(test, feature = "test-util"))]
pub mod contract;
mod filters;
pub mod keys;
pub mod postgres;
pub mod sqlite;
#[cfg(feature = "test-util")]
pub mod testing;

use async_trait::async_trait;
use serde_json::Value;
use whisk_types::{Activation, ActivationId, EntityName, FullyQualifiedName, Identity};

pub use code::CodeStore;
pub use compositions::{CompositionStore, RunningComposition};
pub use keys::{hash_key, verify_secret};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::SqliteStore;

/// Failures of a store operation. Controllers map them to HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Create of a document that exists (`overwrite=false`).
    #[error("resource already exists")]
    AlreadyExists,
    /// The revision given does not match the stored one.
    #[error("Concurrent modification to resource detected.")]
    Conflict,
    /// A document with this name exists in another collection.
    #[error("Resource by this name exists but is not in this collection.")]
    WrongCollection,
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
    #[error("store backend failed: {0}")]
    Backend(String),
}

/// The entity collections. A fully qualified name is unique across all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Actions,
    Packages,
    Triggers,
    Rules,
}

impl Collection {
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Actions => "actions",
            Collection::Packages => "packages",
            Collection::Triggers => "triggers",
            Collection::Rules => "rules",
        }
    }

    /// The collection named `s` (as [`Collection::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Collection> {
        [
            Collection::Actions,
            Collection::Packages,
            Collection::Triggers,
            Collection::Rules,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A stored entity document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub collection: Collection,
    pub fqn: FullyQualifiedName,
    /// The entity JSON as the API shows it (with `updated` set by the store).
    pub body: Value,
    /// Increases on every write; pass it back to update or delete exactly this version.
    pub revision: u64,
    /// Epoch ms of the last write.
    pub updated: i64,
}

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The root namespace; documents in its packages are included.
    pub namespace: EntityName,
    /// Only documents directly inside this package.
    pub package: Option<EntityName>,
    pub skip: u64,
    pub limit: u64,
}

/// Entities keyed by fully qualified name. Lists are newest `updated` first.
#[async_trait]
pub trait EntityStore: Send + Sync + 'static {
    async fn get(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
    ) -> Result<Option<Document>, StoreError>;

    /// Writes `body`. `expected = None` creates (fails with `AlreadyExists` if present);
    /// `Some(rev)` replaces exactly that revision (`Conflict` otherwise).
    /// The store sets `updated` in the stored body and returns the new document.
    async fn put(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        body: Value,
        expected: Option<u64>,
    ) -> Result<Document, StoreError>;

    /// Deletes exactly revision `expected`; `Ok(false)` if absent, `Conflict` if changed.
    async fn delete(
        &self,
        collection: Collection,
        fqn: &FullyQualifiedName,
        expected: u64,
    ) -> Result<bool, StoreError>;

    async fn list(
        &self,
        collection: Collection,
        query: &ListQuery,
    ) -> Result<Vec<Document>, StoreError>;

    async fn count(&self, collection: Collection, query: &ListQuery) -> Result<u64, StoreError>;

    /// [`EntityStore::list`] for list routes: the bodies leave out an action's `exec.code`,
    /// which lists never show and which may be megabytes per action. A backend should not
    /// even read it; the default strips it after a full `list`.
    async fn list_metadata(
        &self,
        collection: Collection,
        query: &ListQuery,
    ) -> Result<Vec<Document>, StoreError> {
        let mut docs = self.list(collection, query).await?;
        for d in &mut docs {
            if let Some(exec) = d.body.get_mut("exec").and_then(Value::as_object_mut) {
                exec.remove("code");
            }
        }
        Ok(docs)
    }

    // Alarm schedules (the built-in alarms feeds). Default methods keep the trait
    // additive: a backend without them refuses schedules with `Backend`.

    /// Creates or replaces the schedule of `schedule.trigger`.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let _ = schedule;
        Err(schedules_unsupported())
    }

    async fn get_schedule(
        &self,
        trigger: &FullyQualifiedName,
    ) -> Result<Option<Schedule>, StoreError> {
        let _ = trigger;
        Err(schedules_unsupported())
    }

    /// `Ok(false)` when there was none.
    async fn delete_schedule(&self, trigger: &FullyQualifiedName) -> Result<bool, StoreError> {
        let _ = trigger;
        Err(schedules_unsupported())
    }

    /// Every schedule, in trigger order.
    async fn list_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        Err(schedules_unsupported())
    }

    /// Moves the schedule's `last_tick` from `previous` to `tick` if it is still `previous`
    /// (compare-and-set). Of several controllers claiming one tick, exactly one gets `true`;
    /// `false` also when the schedule is gone.
    async fn claim_tick(
        &self,
        trigger: &FullyQualifiedName,
        previous: i64,
        tick: i64,
    ) -> Result<bool, StoreError> {
        let _ = (trigger, previous, tick);
        Err(schedules_unsupported())
    }
}

fn schedules_unsupported() -> StoreError {
    StoreError::Backend("this store keeps no alarm schedules".into())
}

/// The alarm schedule of one trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The trigger it fires (`ns/name`); one schedule per trigger.
    pub trigger: FullyQualifiedName,
    /// The feed's configuration (cron, dates, payload...), as the controller writes it.
    pub config: Value,
    /// Epoch ms of the last tick claimed; ticks at or before it never fire again, which
    /// is what makes a tick fire once across restarts and several controllers.
    pub last_tick: i64,
}

/// A subject as stored: its identity and a hash of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRecord {
    pub identity: Identity,
    /// The salt of a legacy salted SHA-256 hash; empty for an Argon2 PHC string, which
    /// carries its own salt.
    pub salt: String,
    /// An Argon2id PHC string (`$argon2id$...`, made by [`hash_key`]) or, for subjects
    /// made before it, a salted SHA-256 ([`hash_secret`]); [`verify_secret`] takes both.
    pub secret_hash: String,
    /// A blocked subject cannot authenticate, and does not own its namespace for web
    /// actions and alarms (OpenWhisk's `wskadmin user block`).
    pub blocked: bool,
}

/// Limits an operator set for one namespace (`whiskd admin limits set`, OpenWhisk's
/// `wskadmin limits set`). `None` means the system default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocations_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_invocations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fires_per_minute: Option<u64>,
    /// The only kinds actions of the namespace may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_kinds: Option<Vec<String>>,
    /// `false`: activation records of the namespace are not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_activations: Option<bool>,
}

impl LimitOverrides {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

fn identities_unsupported() -> StoreError {
    StoreError::Backend("this store cannot manage subjects and limits".into())
}

/// Subjects and their keys, and the limits of namespaces. The management methods have
/// defaults that refuse, so a read-only backend stays possible.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Creates or replaces the subject with this uuid.
    async fn put_subject(&self, record: &SubjectRecord) -> Result<(), StoreError>;
    async fn subject_by_uuid(&self, uuid: &uuid::Uuid)
        -> Result<Option<SubjectRecord>, StoreError>;
    async fn subject_by_name(&self, subject: &str) -> Result<Option<SubjectRecord>, StoreError>;

    /// An unblocked subject owning `namespace` (web actions and alarms run as the
    /// namespace's owner). The default looks for a subject named like the namespace.
    async fn subject_by_namespace(
        &self,
        namespace: &EntityName,
    ) -> Result<Option<SubjectRecord>, StoreError> {
        Ok(self
            .subject_by_name(namespace.as_str())
            .await?
            .filter(|r| &r.identity.namespace == namespace && !r.blocked))
    }

    /// Replaces the key hash of subject `uuid` with `secret_hash` (an Argon2 PHC string)
    /// if it is still `old` (compare-and-set, so a concurrent key change wins); whether
    /// it was replaced. Used to rehash legacy hashes on a successful login.
    async fn rehash_secret(
        &self,
        uuid: &uuid::Uuid,
        old: &str,
        secret_hash: &str,
    ) -> Result<bool, StoreError> {
        let _ = (uuid, old, secret_hash);
        Ok(false)
    }

    /// Removes the subject; `Ok(false)` when there was none.
    async fn delete_subject(&self, subject: &str) -> Result<bool, StoreError> {
        let _ = subject;
        Err(identities_unsupported())
    }

    /// Every subject, by name.
    async fn list_subjects(&self) -> Result<Vec<SubjectRecord>, StoreError> {
        Err(identities_unsupported())
    }

    /// Sets the blocked flag of every subject of `namespace`; returns how many there are.
    async fn block_namespace(
        &self,
        namespace: &EntityName,
        blocked: bool,
    ) -> Result<u64, StoreError> {
        let _ = (namespace, blocked);
        Err(identities_unsupported())
    }

    /// The limits set for `namespace`, if any.
    async fn namespace_limits(
        &self,
        namespace: &EntityName,
    ) -> Result<Option<LimitOverrides>, StoreError> {
        let _ = namespace;
        Ok(None)
    }

    /// Sets (replaces) the limits of `namespace`.
    async fn put_namespace_limits(
        &self,
        namespace: &EntityName,
        limits: &LimitOverrides,
    ) -> Result<(), StoreError> {
        let _ = (namespace, limits);
        Err(identities_unsupported())
    }

    /// Removes the limits of `namespace`; `Ok(false)` when none were set.
    async fn delete_namespace_limits(&self, namespace: &EntityName) -> Result<bool, StoreError> {
        let _ = namespace;
        Err(identities_unsupported())
    }
}

/// Salted SHA-256 of a secret: the format of subjects made before keys were hashed with
/// Argon2 ([`hash_key`]). Still accepted by [`verify_secret`]; new keys never use it.
pub fn hash_secret(salt: &str, secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A random salt for [`hash_secret`].
pub fn new_salt() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Filters of an activation list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationQuery {
    /// `action` or `pkg/action`, matched against the record's name (and `path` annotation).
    pub name: Option<String>,
    /// Inclusive bounds on `start`, epoch ms.
    pub since: Option<i64>,
    pub upto: Option<i64>,
    pub skip: u64,
    pub limit: u64,
}

/// Activation records, always scoped by the namespace they were stored under, and the
/// running compositions that will write some of them.
#[async_trait]
pub trait ActivationStore: CompositionStore + Send + Sync + 'static {
    /// Stores the record unless one with the same id exists; `Ok(false)` when it did.
    async fn put(&self, activation: &Activation) -> Result<bool, StoreError>;
    async fn get(
        &self,
        namespace: &EntityName,
        id: &ActivationId,
    ) -> Result<Option<Activation>, StoreError>;
    /// Whether a record with this id exists in any namespace (used for redelivery).
    async fn exists(&self, id: &ActivationId) -> Result<bool, StoreError>;
    /// Newest `start` first.
    async fn list(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<Vec<Activation>, StoreError>;
    async fn count(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<u64, StoreError>;

    /// [`ActivationStore::list`] as a list without `docs` shows it: `logs` empty and
    /// `response.result` null. A backend should not even read them; the default clears
    /// them after a full `list`.
    async fn list_summaries(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Result<Vec<Activation>, StoreError> {
        let mut records = self.list(namespace, query).await?;
        for a in &mut records {
            a.logs = Vec::new();
            a.response.result = Value::Null;
        }
        Ok(records)
    }

    /// Deletes every record whose `start` is before `older_than` (epoch ms) and, in each
    /// namespace, all but the newest `keep_per_namespace` records; returns how many went.
    /// The backend gives the space back where it can, so its files stay bounded.
    async fn purge(&self, older_than: i64, keep_per_namespace: u64) -> Result<u64, StoreError> {
        let _ = (older_than, keep_per_namespace);
        Err(StoreError::Backend(
            "this store cannot purge activation records".into(),
        ))
    }
}
