//! [`Invoker`]: consumes the invoker's topic, runs each activation in its own task, stores
//! the record, acknowledges the message, then tells the waiting controller.
//!
//! Redelivered messages whose record already exists are only acknowledged and announced
//! again, so every activation id ends in exactly one record.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};
use whisk_bus::{Bus, BusError, Consumer, Delivery, Subscription};
use whisk_store::ActivationStore;
use whisk_types::message::{
    completion_subject, invoker_topic, ActionChange, ACTION_CHANGED_SUBJECT,
};
use whisk_types::{Activation, ActivationMessage, CompletionMessage, FullyQualifiedName};

use crate::config::InvokerConfig;
use crate::factory::ContainerFactory;
use crate::pool::Pool;
use crate::runner::{stem_plans, Abandoned, Runner};

/// Attempts to store a record before giving up (the message then stays unacknowledged).
const STORE_ATTEMPTS: u32 = 3;
/// Pause after a failed bus call before trying again.
const BUS_RETRY: Duration = Duration::from_millis(200);

/// Why the invoker could not run.
#[derive(Debug, thiserror::Error)]
pub enum InvokerError {
    /// The bus refused the topic or the subscription.
    #[error("bus failed: {0}")]
    Bus(#[from] BusError),
}

/// One invoker: a container pool and the loop that feeds it from the bus.
pub struct Invoker {
    config: Arc<InvokerConfig>,
    pool: Arc<Pool>,
    runner: Runner,
    activations: Arc<dyn ActivationStore>,
    bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for Invoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invoker")
            .field("id", &self.config.id)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Invoker {
    /// An invoker over `factory`, writing records to `activations`, reading from `bus`.
    pub fn new(
        config: InvokerConfig,
        factory: Arc<dyn ContainerFactory>,
        activations: Arc<dyn ActivationStore>,
        bus: Arc<dyn Bus>,
    ) -> Arc<Self> {
        let config = Arc::new(config);
        let pool = Pool::new(
            factory,
            config.label(),
            config.memory_mb,
            config.idle_timeout,
            stem_plans(&config),
        );
        Arc::new(Self {
            runner: Runner::new(Arc::clone(&pool), Arc::clone(&config)),
            config,
            pool,
            activations,
            bus,
        })
    }

    /// Removes the containers of the action `fqn` made for versions written before
    /// `before` (`Action::updated`; `None`: every container it has now), idle ones now, busy
    /// ones when their activation ends. Called for each notification on
    /// `ACTION_CHANGED_SUBJECT`.
    pub fn retire(&self, fqn: &FullyQualifiedName, before: Option<i64>) {
        let n = self.pool.retire(fqn, before);
        debug!(action = %fqn, removed = n, "Containers of a changed action retired.");
    }

    /// Runs until `shutdown` completes: removes leftovers of an earlier run, starts the
    /// stem cells and keeps them refilled, consumes the topic `invoker<id>`, retires
    /// containers of changed actions and reaps idle ones.
    /// On shutdown it stops taking messages, lets running activations finish within the
    /// grace period (the rest stay unacknowledged and are delivered again), and removes
    /// every container.
    ///
    /// # Errors
    /// The bus refused the topic or the subscription.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), InvokerError> {
        match self.pool.remove_leftovers().await {
            Ok(0) => {}
            Ok(n) => info!(removed = n, "Leftover containers removed."),
            Err(e) => warn!(error = %e, "Could not remove leftover containers."),
        }
        self.pool.start_stem_cells();
        let topic = invoker_topic(self.config.id);
        let consumer = self.bus.consume(&topic).await?;
        let changes = self.bus.subscribe(ACTION_CHANGED_SUBJECT).await?;
        info!(invoker = self.config.id, %topic, "Invoker started.");

        let stop = CancellationToken::new();
        let mut background = JoinSet::new();
        background.spawn(Arc::clone(&self.pool).run_reaper(stop.clone()));
        background.spawn(Arc::clone(&self).follow_changes(changes, stop.clone()));

        let mut tasks = JoinSet::new();
        let permits = Arc::new(Semaphore::new(self.config.max_in_flight.max(1)));
        tokio::pin!(shutdown);
        loop {
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done {
                    error!(error = %e, "An activation task failed.");
                }
            }
            let permit = tokio::select! {
                () = &mut shutdown => break,
                p = Arc::clone(&permits).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let delivery = tokio::select! {
                () = &mut shutdown => break,
                d = consumer.next() => d,
            };
            match delivery {
                Ok(delivery) => {
                    let this = Arc::clone(&self);
                    let consumer = Arc::clone(&consumer);
                    tasks.spawn(async move {
                        this.handle(consumer.as_ref(), delivery).await;
                        drop(permit);
                    });
                }
                Err(BusError::Closed) => {
                    warn!("The bus closed; the invoker stops.");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "Taking a message failed.");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(BUS_RETRY) => {}
                    }
                }
            }
        }

        info!(running = tasks.len(), "Invoker stopping.");
        stop.cancel();
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                running = tasks.len(),
                "Activations still running after the grace period are abandoned."
            );
            tasks.shutdown().await;
        }
        background.shutdown().await;
        self.pool.shutdown().await;
        info!("Invoker stopped.");
        Ok(())
    }

    async fn follow_changes(
        self: Arc<Self>,
        mut changes: Box<dyn Subscription>,
        stop: CancellationToken,
    ) {
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                n = changes.next() => n,
            };
            match next {
                Ok(payload) => match parse_changed(&payload) {
                    Some((fqn, before)) => self.retire(&fqn, before),
                    None => warn!("Undecodable action-changed notification ignored."),
                },
                Err(BusError::Closed) => return,
                Err(e) => {
                    warn!(error = %e, "Action-changed subscription failed.");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(BUS_RETRY) => {}
                    }
                }
            }
        }
    }

    /// Processes one delivery to the end: record stored, message acknowledged, controller told.
    async fn handle(&self, consumer: &dyn Consumer, delivery: Delivery) {
        let msg: ActivationMessage = match serde_json::from_slice(&delivery.payload) {
            Ok(msg) => msg,
            Err(e) => {
                error!(error = %e, "Undecodable activation message dropped.");
                if let Err(e) = consumer.ack(&delivery.token).await {
                    warn!(error = %e, "Acknowledging a message failed.");
                }
                return;
            }
        };
        let span = info_span!("activation", id = %msg.activation_id, tid = %msg.transaction_id);
        async {
            // Only a redelivery can find its record already stored.
            if delivery.redeliveries > 0 {
                match self
                    .activations
                    .get(&msg.user.namespace, &msg.activation_id)
                    .await
                {
                    Ok(Some(record)) => {
                        debug!("Redelivered activation already recorded.");
                        self.ack(consumer, &delivery).await;
                        self.notify(&msg, record).await;
                        return;
                    }
                    Ok(None) => {}
                    Err(e) => warn!(error = %e, "Looking up a redelivered activation failed."),
                }
            }
            let record = match self.runner.run(&msg).await {
                Ok(record) => record,
                Err(Abandoned) => {
                    debug!("Activation left for redelivery at shutdown.");
                    return;
                }
            };
            // `storeActivations` off for the namespace: only the completion carries it.
            let (record, stored) = if msg.store_record {
                self.store(record).await
            } else {
                (record, true)
            };
            if stored {
                self.ack(consumer, &delivery).await;
            }
            self.notify(&msg, record).await;
        }
        .instrument(span)
        .await;
    }

    /// Stores the record (a few attempts); returns the stored record and whether it is stored.
    async fn store(&self, record: Activation) -> (Activation, bool) {
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=STORE_ATTEMPTS {
            match self.activations.put(&record).await {
                Ok(true) => return (record, true),
                Ok(false) => {
                    // Someone stored this id first: theirs is the record.
                    let ns = record.namespace.namespace().clone();
                    return match self.activations.get(&ns, &record.activation_id).await {
                        Ok(Some(existing)) => (existing, true),
                        _ => (record, true),
                    };
                }
                Err(e) if attempt < STORE_ATTEMPTS => {
                    warn!(error = %e, attempt, "Storing the activation failed; retrying.");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    error!(error = %e, "Storing the activation failed; it will run again on redelivery.");
                }
            }
        }
        (record, false)
    }

    async fn ack(&self, consumer: &dyn Consumer, delivery: &Delivery) {
        if let Err(e) = consumer.ack(&delivery.token).await {
            warn!(error = %e, "Acknowledging a message failed; it may be delivered again.");
        }
    }

    async fn notify(&self, msg: &ActivationMessage, activation: Activation) {
        let completion = CompletionMessage {
            activation_id: msg.activation_id,
            activation,
        };
        let payload = match serde_json::to_vec(&completion) {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "Encoding a completion failed.");
                return;
            }
        };
        if let Err(e) = self
            .bus
            .notify(&completion_subject(&msg.controller), payload)
            .await
        {
            warn!(error = %e, "Completion notification failed; the controller polls the store.");
        }
    }
}

/// The action and the bound of an action-changed notification: an [`ActionChange`], or
/// (with no bound) `ns[/pkg]/name` with or without a leading slash, or that as a JSON string.
fn parse_changed(payload: &[u8]) -> Option<(FullyQualifiedName, Option<i64>)> {
    if let Ok(change) = serde_json::from_slice::<ActionChange>(payload) {
        return Some((change.fqn, Some(change.before)));
    }
    let text = std::str::from_utf8(payload).ok()?.trim();
    let text = match serde_json::from_str::<String>(text) {
        Ok(s) => s,
        Err(_) => text.to_owned(),
    };
    FullyQualifiedName::parse(&text).ok().map(|fqn| (fqn, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_notifications() {
        let want = FullyQualifiedName::parse("guest/pkg/a").unwrap();
        assert_eq!(
            parse_changed(br#"{"fqn":"/guest/pkg/a","before":1700000000000}"#),
            Some((want.clone(), Some(1_700_000_000_000)))
        );
        assert_eq!(parse_changed(b"guest/pkg/a"), Some((want.clone(), None)));
        assert_eq!(parse_changed(b"/guest/pkg/a\n"), Some((want.clone(), None)));
        assert_eq!(parse_changed(br#""/guest/pkg/a""#), Some((want, None)));
        assert_eq!(parse_changed(b"nope"), None);
        assert_eq!(parse_changed(&[0xff, 0xfe]), None);
    }
}
