//! The `Controller`: shared state of every request (stores, bus, auth cache, metrics) and
//! the machinery of blocking invokes: waiters keyed by activation id, resolved by the
//! completion listener, with a store poll as the fallback for lost completions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use whisk_bus::{Bus, BusError, Subscription};
use whisk_store::{ActivationStore, EntityStore, IdentityStore};
use whisk_types::message::{
    completion_subject, invoker_topic, ActionChange, ACTION_CHANGED_SUBJECT,
};
use whisk_types::{
    Activation, ActivationId, ActivationMessage, CompletionMessage, EntityName, FullyQualifiedName,
};

use crate::auth::AuthCache;
use crate::config::ControllerConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::throttle::Throttles;

/// Store polls of a blocking wait, as offsets from its start: 1, 3, 5, 7 s, then every 15 s.
fn poll_offsets() -> impl Iterator<Item = Duration> {
    [1, 3, 5, 7]
        .into_iter()
        .chain((1..).map(|i| 7 + 15 * i))
        .map(Duration::from_secs)
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("cannot subscribe to completions: {0}")]
    Subscribe(#[from] BusError),
    #[error("cannot set up the whisk.system namespace: {0}")]
    System(#[from] whisk_store::StoreError),
}

/// The controller: everything the REST handlers share.
pub struct Controller {
    pub(crate) config: ControllerConfig,
    pub(crate) entities: Arc<dyn EntityStore>,
    pub(crate) identities: Arc<dyn IdentityStore>,
    pub(crate) activations: Arc<dyn ActivationStore>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) auth: AuthCache,
    pub(crate) metrics: Metrics,
    /// Rate and concurrency counters, and the cached limits of namespaces.
    pub(crate) throttles: Throttles,
    /// Blocking invokes waiting for their completion.
    waiters: Mutex<HashMap<ActivationId, oneshot::Sender<Activation>>>,
    /// Round-robin position over `config.invokers`.
    next_invoker: AtomicUsize,
    /// The completion listener; aborted on shutdown or drop.
    listener: Mutex<Option<JoinHandle<()>>>,
    /// The alarm scheduler; aborted on shutdown or drop.
    scheduler: Mutex<Option<JoinHandle<()>>>,
    /// Compositions (sequences, conductors) the controller runs itself.
    tasks: TaskTracker,
    /// Cancels those tasks on shutdown.
    cancel: CancellationToken,
    /// Passes the scheduler has made (tests wait on it instead of sleeping).
    pub(crate) scheduler_passes: AtomicUsize,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

// === impl Controller ===

impl Controller {
    pub fn new(
        config: ControllerConfig,
        entities: Arc<dyn EntityStore>,
        identities: Arc<dyn IdentityStore>,
        activations: Arc<dyn ActivationStore>,
        bus: Arc<dyn Bus>,
    ) -> Arc<Self> {
        Arc::new(Self {
            auth: AuthCache::new(config.auth_cache_ttl),
            config,
            entities,
            identities,
            activations,
            bus,
            metrics: Metrics::default(),
            throttles: Throttles::default(),
            waiters: Mutex::new(HashMap::new()),
            next_invoker: AtomicUsize::new(0),
            listener: Mutex::new(None),
            scheduler: Mutex::new(None),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            scheduler_passes: AtomicUsize::new(0),
        })
    }

    /// Subscribes to this controller's completion subject and spawns the listener that
    /// resolves blocking invokes, makes sure the `whisk.system` namespace and its `alarms`
    /// package exist, and starts the alarm scheduler. Returns once subscribed, so no
    /// completion sent afterwards is missed. The background tasks stop on
    /// [`Controller::shutdown`] or when the controller drops.
    ///
    /// # Errors
    /// The bus refused the subscription, or the system entities cannot be written.
    pub async fn start(self: &Arc<Self>) -> Result<(), ControllerError> {
        self.start_listener().await?;
        crate::system::ensure(self).await?;
        let task = tokio::spawn(crate::alarms::scheduler::run(Arc::downgrade(self)));
        if let Some(old) = self
            .scheduler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
        Ok(())
    }

    async fn start_listener(self: &Arc<Self>) -> Result<(), ControllerError> {
        let subject = completion_subject(&self.config.id);
        let sub = self.bus.subscribe(&subject).await?;
        let task = tokio::spawn(listen(Arc::downgrade(self), sub));
        let old = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task);
        if let Some(old) = old {
            old.abort();
        }
        tracing::info!(controller = %self.config.id, %subject, "Controller listening for completions.");
        Ok(())
    }

    /// Stops the completion listener, the scheduler and running compositions. Blocking
    /// invokes still waiting fall back to polling.
    pub fn shutdown(&self) {
        for slot in [&self.listener, &self.scheduler] {
            if let Some(task) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
        }
        self.cancel.cancel();
        self.tasks.close();
    }

    /// How many passes the alarm scheduler has finished (for tests and metrics).
    pub fn scheduler_passes(&self) -> usize {
        self.scheduler_passes.load(Ordering::Relaxed)
    }

    /// Runs `fut` as a task this controller owns: cancelled on shutdown.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = fut => {}
            }
        });
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Hands a finished activation to the blocking invoke waiting for it, if any, and
    /// gives up its concurrency slot.
    pub fn complete(&self, activation: Activation) {
        self.throttles.release(&activation.activation_id);
        let sender = self
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&activation.activation_id);
        if let Some(tx) = sender {
            let _ = tx.send(activation);
        }
    }

    /// Registers interest in an activation's completion. Must happen before publishing,
    /// or a fast completion could arrive before anyone waits for it.
    pub(crate) fn register_waiter(&self, id: ActivationId) -> Waiter<'_> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        Waiter {
            controller: self,
            id,
            rx: Some(rx),
        }
    }

    /// Publishes an invocation to the next invoker's topic.
    pub(crate) async fn publish(&self, msg: &ActivationMessage) -> Result<(), ApiError> {
        let invokers = &self.config.invokers;
        if invokers.is_empty() {
            return Err(ApiError::NoInvoker);
        }
        let i = self.next_invoker.fetch_add(1, Ordering::Relaxed) % invokers.len();
        let payload = serde_json::to_vec(msg).map_err(|e| ApiError::Internal(e.to_string()))?;
        self.bus
            .publish(&invoker_topic(invokers[i]), payload)
            .await?;
        Ok(())
    }

    /// Tells invokers that an action changed or went away: containers of versions written
    /// before `before` (an `updated` value) are stale.
    pub(crate) async fn announce_action_change(&self, fqn: &FullyQualifiedName, before: i64) {
        let change = ActionChange {
            fqn: fqn.clone(),
            before,
        };
        let payload = match serde_json::to_vec(&change) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%fqn, error = %e, "Could not encode an action change.");
                return;
            }
        };
        if let Err(e) = self.bus.notify(ACTION_CHANGED_SUBJECT, payload).await {
            tracing::warn!(%fqn, error = %e, "Could not announce an action change.");
        }
    }

    /// Waits up to `timeout` for the activation: the completion, or a record found by
    /// polling the store. `None` when neither came in time.
    pub(crate) async fn wait_for(
        &self,
        mut waiter: Waiter<'_>,
        namespace: &EntityName,
        timeout: Duration,
    ) -> Option<Activation> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut polls = poll_offsets();
        let mut next_poll = start + polls.next().unwrap_or(timeout);
        let mut rx = waiter.rx.take();
        loop {
            let wake = next_poll.min(deadline);
            tokio::select! {
                res = async {
                    match rx.as_mut() {
                        Some(r) => r.await,
                        None => std::future::pending().await,
                    }
                }, if rx.is_some() => {
                    match res {
                        Ok(activation) => return Some(activation),
                        Err(_) => rx = None,
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if let Some(a) = self.poll_store(namespace, &waiter.id).await {
                        self.throttles.release(&a.activation_id);
                        return Some(a);
                    }
                    if Instant::now() >= deadline {
                        return None;
                    }
                    if let Some(offset) = polls.next() {
                        next_poll = start + offset;
                    }
                }
            }
        }
    }

    async fn poll_store(&self, namespace: &EntityName, id: &ActivationId) -> Option<Activation> {
        match self.activations.get(namespace, id).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(activation_id = %id, error = %e, "Polling for an activation failed.");
                None
            }
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Receives completions until the bus closes or the controller is gone.
async fn listen(controller: Weak<Controller>, mut sub: Box<dyn Subscription>) {
    loop {
        match sub.next().await {
            Ok(bytes) => {
                let Some(ctl) = controller.upgrade() else {
                    break;
                };
                match serde_json::from_slice::<CompletionMessage>(&bytes) {
                    Ok(msg) => ctl.complete(msg.activation),
                    Err(e) => tracing::warn!(error = %e, "Ignoring a malformed completion."),
                }
            }
            Err(BusError::Closed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "Completion subscription failed; blocking invokes fall back to polling.");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::debug!("Completion listener stopped.");
}

/// A registered blocking wait; unregisters itself when dropped (timeout, client gone).
pub(crate) struct Waiter<'a> {
    controller: &'a Controller,
    id: ActivationId,
    rx: Option<oneshot::Receiver<Activation>>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.controller
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_schedule() {
        let got: Vec<u64> = poll_offsets().take(7).map(|d| d.as_secs()).collect();
        assert_eq!(got, vec![1, 3, 5, 7, 22, 37, 52]);
    }
}
