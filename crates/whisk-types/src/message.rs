//! Messages between controller and invokers, carried by the bus as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;
use crate::activation::Activation;
use crate::identity::Identity;
use crate::ids::{ActivationId, TransactionId};
use crate::name::{EntityPath, FullyQualifiedName};

/// One accepted invocation, published durably to an invoker's topic.
/// It carries a snapshot of the action so the invoker never reads entities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationMessage {
    pub transaction_id: TransactionId,
    pub activation_id: ActivationId,
    /// The action as resolved at invoke time (its revision keys warm containers).
    pub action: Action,
    /// The invoking identity; the record is stored under its namespace.
    pub user: Identity,
    /// `uuid:key` of the invoker's identity, sent only when `provide-api-key` allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
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
