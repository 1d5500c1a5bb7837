//! The bus between controllers and invokers.
//!
//! Two kinds of traffic:
//! - **topics** are durable queues of invocations: `publish` returns only once the message
//!   is persisted, a consumer acknowledges a message only after its activation record is
//!   stored, and unacknowledged messages are delivered again (after a restart, or after the
//!   ack wait). A consumer still working on a message extends its lease
//!   ([`Consumer::extend`]) well within the ack wait, so a long activation is not
//!   delivered a second time while it runs. Consumers must still be idempotent on the
//!   activation id (a crash between storing the record and the ack redelivers).
//! - **subjects** are ephemeral fan-out notifications (completions, cache invalidations):
//!   fast, lost when nobody listens. Controllers also poll the store, so a lost completion
//!   costs latency, never a result.
//!
//! [`embedded::EmbeddedBus`] is the default: a queue table in a SQLite file plus in-process
//! broadcast channels. [`nats::NatsBus`] puts topics in NATS JetStream streams and subjects
//! on core NATS, for controllers and invokers in several processes or machines.
//! `contract` (feature `test-util`) holds the tests every bus backend must pass, and
//! `testing` a `nats-server` the tests start for themselves.
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "test-util"))]
pub mod contract;
pub mod embedded;
pub mod nats;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use async_trait::async_trait;

pub use embedded::EmbeddedBus;
pub use nats::{NatsBus, NatsBusOptions};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus backend failed: {0}")]
    Backend(String),
    #[error("bus is closed")]
    Closed,
    /// The topic is at one of its bounds (messages, bytes): the message was not taken.
    #[error("topic {topic} is full: {reason}")]
    Full { topic: String, reason: String },
}

/// Identifies one delivery for [`Consumer::ack`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryToken(pub u64);

/// One message handed to a consumer.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub token: DeliveryToken,
    pub payload: Vec<u8>,
    /// How many times this message was delivered before (0 on first delivery).
    pub redeliveries: u32,
}

/// A consumer of one topic. Shared by the tasks that process its deliveries.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// Waits for the next message.
    async fn next(&self) -> Result<Delivery, BusError>;
    /// Acknowledges a message: it will not be delivered again.
    async fn ack(&self, token: &DeliveryToken) -> Result<(), BusError>;
    /// Tells the bus the message is still being worked on: its ack wait starts again
    /// (NATS JetStream's "in progress"). A consumer calls it periodically, well within
    /// [`Consumer::ack_wait`], for as long as the work runs. Extending a message that was
    /// acknowledged (or taken back) is harmless and does nothing.
    async fn extend(&self, token: &DeliveryToken) -> Result<(), BusError>;
    /// How long a delivered message may go without an ack or an extension before it is
    /// delivered again.
    fn ack_wait(&self) -> std::time::Duration;
}

/// A subscription to ephemeral notifications on one subject.
#[async_trait]
pub trait Subscription: Send {
    /// The next notification; `Closed` when the bus shuts down.
    async fn next(&mut self) -> Result<Vec<u8>, BusError>;
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Appends durably to `topic`.
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), BusError>;
    /// Consumes `topic`. Messages left unacknowledged by an earlier consumer are delivered again.
    async fn consume(&self, topic: &str) -> Result<std::sync::Arc<dyn Consumer>, BusError>;
    /// Sends an ephemeral notification to every current subscriber of `subject`.
    async fn notify(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError>;
    async fn subscribe(&self, subject: &str) -> Result<Box<dyn Subscription>, BusError>;
    /// How many messages of `topic` are published and not yet acknowledged (waiting or
    /// being worked on); `None` when the backend cannot tell.
    async fn depth(&self, topic: &str) -> Result<Option<u64>, BusError> {
        let _ = topic;
        Ok(None)
    }
}
