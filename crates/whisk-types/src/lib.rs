//! Types shared by every rwhisk crate: entity names and paths, actions, activation records,
//! identities and the messages that travel on the bus. This crate does no I/O.
//!
//! # Layout
//! - [`name`]: `EntityName`, `EntityPath`, `FullyQualifiedName` and their parsing rules.
//! - [`ids`]: `ActivationId` and `TransactionId`.
//! - [`action`]: the `Action` entity with its `Exec`, `ActionLimits` and key/value lists.
//! - [`activation`]: the stored `Activation` record and its API form.
//! - [`identity`]: subjects, namespaces and keys.
//! - [`message`]: what the controller publishes to invokers and what comes back.
#![forbid(unsafe_code)]

pub mod action;
pub mod activation;
pub mod identity;
pub mod ids;
pub mod message;
pub mod name;

pub use action::{Action, ActionLimits, Exec, KeyValue, LimitBounds, Parameters, SemVer};
pub use activation::{Activation, ActivationResponse, ResponseStatus};
pub use identity::{AuthKey, Identity};
pub use ids::{ActivationId, TransactionId};
pub use message::{ActivationMessage, CompletionMessage};
pub use name::{EntityName, EntityPath, FullyQualifiedName, NameError};

/// Milliseconds since the Unix epoch, the unit of every timestamp in OpenWhisk records.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
