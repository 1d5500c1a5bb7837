//! Messages between controller and invokers, carried by the bus as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;
use crate::activation::Activation;
use crate::code::CodeRef;
use crate::identity::Identity;
use crate::ids::{ActivationId, TransactionId};
use crate::name::{EntityPath, FullyQualifiedName};

/// One accepted invocation, published durably to an invoker's topic.
/// It carries a snapshot of the action without its code, and a reference to the code by
/// content digest ([`CodeRef`]): invokers fetch the code from the store (and cache it)
/// only when they start a container, so the bus never holds action code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationMessage {
    pub transaction_id: TransactionId,
    pub activation_id: ActivationId,
    /// The action as resolved at invoke time (its revision keys warm containers). When
    /// `code` is set, the exec's code is left empty here.
    pub action: Action,
    /// The action's code by digest, fetched by the invoker. `None`: the action has no
    /// code, or (messages published by older controllers) `action` still carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRef>,
    /// The invoking identity; the record is stored under its namespace.
    pub user: Identity,
    /// The identity the activation's API key (`__OW_API_KEY`) is minted for: the subject
    /// owning the action's root namespace (the caller for its own actions, the package's
    /// owner for a shared package's action). `None` when `provide-api-key` is false or no
    /// subject owns that namespace. Messages never carry a key: the invoker mints one,
    /// valid only while the activation runs ([`crate::activation_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_owner: Option<Identity>,
    /// The `/run` value: merged parameters and payload (init parameters excluded).
    pub content: Value,
    pub blocking: bool,
    /// The controller that waits for the completion.
    pub controller: String,
    /// Epoch ms when the controller received the request (for `waitTime`).
    pub received_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<ActivationId>,
    /// The package binding the action was invoked through (`ns/binding`), recorded as the
    /// `binding` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<EntityPath>,
    /// Whether the invoker keeps the record (`false`: the namespace's `storeActivations`
    /// limit says not to; the completion still carries it).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub store_record: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Sent back to the controller once the record is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionMessage {
    pub activation_id: ActivationId,
    pub activation: Activation,
}

/// The durable topic an invoker consumes.
pub fn invoker_topic(invoker: u32) -> String {
    format!("invoker{invoker}")
}

/// The notification subject a controller listens on for [`CompletionMessage`]s.
pub fn completion_subject(controller: &str) -> String {
    format!("completed.{controller}")
}

/// Notifications about an action that was written or deleted, so invokers retire its
/// containers. The payload is an [`ActionChange`] as JSON; the bare fully qualified name
/// (`ns[/pkg]/name`, as text or a JSON string) is also accepted and means "every container
/// of the action that exists now".
pub const ACTION_CHANGED_SUBJECT: &str = "action-changed";

/// The payload of an [`ACTION_CHANGED_SUBJECT`] notification: containers of `fqn` made for
/// an action version written before `before` are stale.
///
/// The bound, not just the name, lets an invoker that hears of a change late keep the
/// containers it already started for the new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionChange {
    pub fqn: FullyQualifiedName,
    /// Epoch ms compared with `Action::updated`: on a write, the new version's `updated`;
    /// on a delete, one more than the deleted version's.
    pub before: i64,
}

/// The notification subject every invoker sends its [`Heartbeat`] to, and every controller
/// listens on to know which invokers are there and healthy.
pub const HEALTH_SUBJECT: &str = "invoker-health";

/// The notification subject controllers tell each other on that cached state must be read
/// again (the payload is a [`CacheInvalidation`]).
pub const CACHE_INVALIDATION_SUBJECT: &str = "cache-invalidation";

/// How an invoker reports itself in a [`Heartbeat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvokerState {
    /// Taking work.
    Up,
    /// Draining (stopping): finishing what runs, taking nothing new.
    Draining,
}

/// An invoker's periodic "I am here" (OpenWhisk's ping message), sent every
/// [`HEARTBEAT_EVERY`]; a controller that hears none for [`HEARTBEAT_OFFLINE_AFTER`]
/// counts the invoker offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The invoker's number (its topic is `invoker_topic(id)`).
    pub id: u32,
    pub state: InvokerState,
    /// The memory the invoker gives to action containers, in MB: what the balancers of
    /// all controllers share.
    pub memory_mb: u64,
}

/// How often an invoker sends its heartbeat.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long without a heartbeat before a controller counts an invoker offline.
pub const HEARTBEAT_OFFLINE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// What a controller tells the others to forget on [`CACHE_INVALIDATION_SUBJECT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CacheInvalidation {
    /// The namespace's limits (or blocked flag) changed.
    Limits { namespace: String },
    /// Every cached credential (a key was regenerated, a subject blocked or deleted).
    Credentials,
    /// An action or package (`ns/name` or `ns/pkg/name`) was written or deleted: what
    /// controllers resolved from it is stale.
    Entity {
        fqn: String,
        /// The completion id of the controller that wrote it (it dropped its own entries
        /// already and ignores its own announcement).
        #[serde(default)]
        origin: String,
    },
}
