//! [`Invoker`]: consumes the invoker's topic, runs each activation in its own task, tells
//! the waiting controller the result as soon as it is known, then stores the record and
//! acknowledges the message behind that answer (the caller does not wait for the store).
//!
//! Every accepted activation id ends in exactly one record: the message is acknowledged
//! only once its record is stored (or the namespace stores none), so a crash anywhere
//! before that leaves it for redelivery. Because the answer goes out first, a crash (or a
//! store that keeps failing) between the answer and the store runs the action again on
//! redelivery; the record is then the second run's, and the caller may have seen the
//! first run's result. The controller keeps the completions it received in memory for a
//! while, so a GET right after the answer finds the record before the store has it.
//!
//! An activation id runs at most once while the invoker lives:
//! - while a delivery is processed, its lease on the bus is extended every third of the
//!   bus's ack wait ([`Consumer::extend`]), so a long activation is not delivered again;
//! - an id already being processed here (a delivery that came back anyway, or a message
//!   published twice) is not run again: the second delivery waits for the first to end,
//!   then is settled like a redelivery;
//! - a redelivered message whose record already exists is only acknowledged and
//!   announced again, so every activation id ends in exactly one record.
//!
//! While it runs, the invoker sends a [`Heartbeat`] every [`HEARTBEAT_EVERY`] on
//! [`HEALTH_SUBJECT`] (controllers place work only on invokers they hear from) and
//! samples its containers for the metrics. On shutdown it drains: it stops taking
//! messages, says `draining` in its heartbeats (controllers stop sending it work), lets
//! running activations finish within the grace period, and removes its containers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};
use whisk_bus::{Bus, BusError, Consumer, Delivery, DeliveryToken, Subscription};
use whisk_store::{ActivationStore, CodeStore};
use whisk_types::message::{
    completion_subject, invoker_topic, ActionChange, Heartbeat, InvokerState,
    ACTION_CHANGED_SUBJECT, HEALTH_SUBJECT, HEARTBEAT_EVERY,
};
use whisk_types::{Activation, ActivationId, ActivationMessage, FullyQualifiedName};

use crate::code::CodeCache;
use crate::config::InvokerConfig;
use crate::factory::ContainerFactory;
use crate::pool::Pool;
use crate::runner::{stem_plans, Abandoned, Runner};

/// Attempts to store a record before giving up (the message then stays unacknowledged).
const STORE_ATTEMPTS: u32 = 3;
/// Pause after a failed bus call before trying again.
const BUS_RETRY: Duration = Duration::from_millis(200);
/// The shortest pause between two lease extensions of one delivery.
const MIN_EXTEND_EVERY: Duration = Duration::from_millis(10);

/// Activation ids being processed, each with a signal that turns `true` when it ends.
type InFlight = Mutex<HashMap<ActivationId, watch::Receiver<bool>>>;

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
    in_flight: InFlight,
    /// Set when shutdown starts: heartbeats say `draining`.
    draining: AtomicBool,
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
    /// An invoker over `factory`, writing records to `activations`, reading action code
    /// from `code`, taking messages from `bus`.
    pub fn new(
        config: InvokerConfig,
        factory: Arc<dyn ContainerFactory>,
        activations: Arc<dyn ActivationStore>,
        code: Arc<dyn CodeStore>,
        bus: Arc<dyn Bus>,
    ) -> Arc<Self> {
        let config = Arc::new(config);
        let pool = Pool::pausing_after(
            factory,
            config.label(),
            config.memory_mb,
            config.idle_timeout,
            stem_plans(&config),
            config.pause_grace,
        );
        let code = Arc::new(CodeCache::new(code, config.code_cache_bytes));
        Arc::new(Self {
            runner: Runner::new(Arc::clone(&pool), Arc::clone(&config), code),
            config,
            pool,
            activations,
            bus,
            in_flight: Mutex::default(),
            draining: AtomicBool::new(false),
        })
    }

    /// Whether the invoker is draining (shutdown has begun).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Activations being processed now.
    pub fn running(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Sends a heartbeat and samples the containers, every [`HEARTBEAT_EVERY`] until
    /// `stop`.
    async fn beat(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.config.metrics.set_containers(self.pool.counts());
            self.send_heartbeat().await;
        }
    }

    async fn send_heartbeat(&self) {
        let beat = Heartbeat {
            id: self.config.id,
            state: if self.is_draining() {
                InvokerState::Draining
            } else {
                InvokerState::Up
            },
            memory_mb: self.config.memory_mb,
        };
        match serde_json::to_vec(&beat) {
            Ok(payload) => {
                if let Err(e) = self.bus.notify(HEALTH_SUBJECT, payload).await {
                    debug!(error = %e, "Sending a heartbeat failed.");
                }
            }
            Err(e) => warn!(error = %e, "Encoding a heartbeat failed."),
        }
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
        // Heartbeats go on through the drain, so controllers see `draining`.
        let beats_stop = CancellationToken::new();
        let beats = tokio::spawn(Arc::clone(&self).beat(beats_stop.clone()));

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

        info!(running = tasks.len(), "Invoker draining.");
        self.draining.store(true, Ordering::SeqCst);
        self.send_heartbeat().await;
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
        beats_stop.cancel();
        let _ = beats.await;
        self.config.metrics.set_containers(self.pool.counts());
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

    /// Processes one delivery to the end: controller told, record stored, message acknowledged.
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
        keep_leased(
            consumer,
            &delivery.token,
            self.process(consumer, &delivery, &msg),
        )
        .instrument(span)
        .await;
    }

    /// Runs the activation of `msg` unless it runs here already or is recorded.
    async fn process(&self, consumer: &dyn Consumer, delivery: &Delivery, msg: &ActivationMessage) {
        let _running = match self.claim(msg.activation_id) {
            Ok(guard) => guard,
            Err(mut done) => {
                debug!("Activation already running here; not run again.");
                // An error means the other run's guard is gone: it ended.
                let _ = done.wait_for(|ended| *ended).await;
                if !self.settle_recorded(consumer, delivery, msg).await {
                    // Not recorded (the run was abandoned): leave it for redelivery.
                    debug!("Duplicate delivery left unacknowledged.");
                }
                return;
            }
        };
        // Only a redelivery can find its record already stored.
        if delivery.redeliveries > 0 && self.settle_recorded(consumer, delivery, msg).await {
            return;
        }
        let record = match self.runner.run(msg).await {
            Ok(record) => {
                self.config
                    .metrics
                    .record_activation(record.response.status_code, record.duration);
                record
            }
            Err(Abandoned) => {
                debug!("Activation left for redelivery at shutdown.");
                return;
            }
        };
        // The caller's answer first; the record and the ack follow behind it.
        self.notify(msg, &record).await;
        // `storeActivations` off for the namespace: only the completion carries it.
        let stored = !msg.store_record || self.store(&record).await;
        if stored {
            self.ack(consumer, delivery).await;
        }
    }

    /// Marks `id` as being processed; `Err` with the running one's end signal if it is.
    fn claim(&self, id: ActivationId) -> Result<Running<'_>, watch::Receiver<bool>> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(done) = in_flight.get(&id) {
            return Err(done.clone());
        }
        let (tx, rx) = watch::channel(false);
        in_flight.insert(id, rx);
        Ok(Running {
            in_flight: &self.in_flight,
            id,
            done: tx,
        })
    }

    /// Acknowledges and announces again a delivery whose record exists; `false` when
    /// there is none (or the lookup failed).
    async fn settle_recorded(
        &self,
        consumer: &dyn Consumer,
        delivery: &Delivery,
        msg: &ActivationMessage,
    ) -> bool {
        match self
            .activations
            .get(&msg.user.namespace, &msg.activation_id)
            .await
        {
            Ok(Some(record)) => {
                debug!("Redelivered activation already recorded.");
                self.notify(msg, &record).await;
                self.ack(consumer, delivery).await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.config.metrics.store_errors.inc();
                warn!(error = %e, "Looking up a redelivered activation failed.");
                false
            }
        }
    }

    /// Stores the record (a few attempts); whether it is stored (by this call, or already
    /// by an earlier run of the same id, whose record then stays the one).
    async fn store(&self, record: &Activation) -> bool {
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=STORE_ATTEMPTS {
            match self.activations.put(record).await {
                // `false`: someone stored this id first; theirs is the record.
                Ok(_) => return true,
                Err(e) if attempt < STORE_ATTEMPTS => {
                    self.config.metrics.store_errors.inc();
                    warn!(error = %e, attempt, "Storing the activation failed; retrying.");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    self.config.metrics.store_errors.inc();
                    error!(error = %e, "Storing the activation failed; it will run again on redelivery.");
                }
            }
        }
        false
    }

    async fn ack(&self, consumer: &dyn Consumer, delivery: &Delivery) {
        if let Err(e) = consumer.ack(&delivery.token).await {
            warn!(error = %e, "Acknowledging a message failed; it may be delivered again.");
        }
    }

    /// Sends the completion of `msg` to the controller that asked, encoded straight from
    /// the borrowed record (the same JSON as a [`whisk_types::CompletionMessage`]).
    async fn notify(&self, msg: &ActivationMessage, activation: &Activation) {
        let completion = CompletionRef {
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

/// A [`whisk_types::CompletionMessage`] over a borrowed record, so announcing it copies
/// nothing.
#[derive(serde::Serialize)]
struct CompletionRef<'a> {
    activation_id: ActivationId,
    activation: &'a Activation,
}

/// An activation id claimed by one delivery; dropping it releases the id and wakes
/// deliveries of the same id waiting for it.
struct Running<'a> {
    in_flight: &'a InFlight,
    id: ActivationId,
    done: watch::Sender<bool>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(&self.id);
        }
        self.done.send_replace(true);
    }
}

/// Runs `work`, extending the lease of the delivery `token` every third of the
/// consumer's ack wait until it ends, so the bus does not deliver it again meanwhile.
async fn keep_leased<T>(
    consumer: &dyn Consumer,
    token: &DeliveryToken,
    work: impl Future<Output = T>,
) -> T {
    let every = (consumer.ack_wait() / 3).max(MIN_EXTEND_EVERY);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            _ = tick.tick() => {
                if let Err(e) = consumer.extend(token).await {
                    warn!(error = %e, "Extending the lease of a message failed; it may be delivered again.");
                }
            }
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

    /// A consumer that only counts lease extensions (the bus itself has its contract).
    struct Extensions(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl Consumer for Extensions {
        async fn next(&self) -> Result<Delivery, BusError> {
            Err(BusError::Closed)
        }
        async fn ack(&self, _: &DeliveryToken) -> Result<(), BusError> {
            Ok(())
        }
        async fn extend(&self, _: &DeliveryToken) -> Result<(), BusError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn ack_wait(&self) -> Duration {
            Duration::from_secs(30)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_is_extended_every_third_of_the_ack_wait_while_work_runs() {
        let consumer = Extensions(Default::default());
        let token = DeliveryToken(1);
        let out = keep_leased(&consumer, &token, async {
            tokio::time::sleep(Duration::from_secs(95)).await;
            7
        })
        .await;
        assert_eq!(out, 7);
        // At 10, 20, ... 90 s; none after the work ended.
        assert_eq!(consumer.0.load(std::sync::atomic::Ordering::SeqCst), 9);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(consumer.0.load(std::sync::atomic::Ordering::SeqCst), 9);
    }

    /// The borrowed completion the invoker sends decodes as the controller reads it.
    #[test]
    fn a_borrowed_completion_is_a_completion_message() {
        let activation: Activation = serde_json::from_value(serde_json::json!({
            "namespace": "guest", "name": "a", "subject": "guest",
            "activationId": "0123456789abcdef0123456789abcdef",
            "start": 1, "end": 2, "duration": 1,
            "response": {"statusCode": 0, "result": {"ok": true}},
            "logs": ["x"], "version": "0.0.1", "publish": false, "annotations": []
        }))
        .unwrap();
        let bytes = serde_json::to_vec(&CompletionRef {
            activation_id: activation.activation_id,
            activation: &activation,
        })
        .unwrap();
        let decoded: whisk_types::CompletionMessage = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            decoded,
            whisk_types::CompletionMessage {
                activation_id: activation.activation_id,
                activation,
            }
        );
    }

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
