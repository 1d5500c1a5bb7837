//! The `Controller`: shared state of every request (stores, bus, auth cache, metrics,
//! balancer) and the machinery of blocking invokes: waiters keyed by activation id,
//! resolved by the completion listener, with a store poll as the fallback for lost
//! completions. It also listens for invokers' heartbeats (the balancer's view of their
//! health) and for cache invalidations from other controllers, and can drain: once
//! [`Controller::drain`] is called it refuses new activations with 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use whisk_bus::{Bus, BusError, Subscription};
use whisk_store::{ActivationStore, EntityStore, IdentityStore};
use whisk_types::message::{
    completion_subject, invoker_topic, ActionChange, CacheInvalidation, Heartbeat,
    ACTION_CHANGED_SUBJECT, CACHE_INVALIDATION_SUBJECT, HEALTH_SUBJECT,
};
use whisk_types::{
    Activation, ActivationId, ActivationMessage, CompletionMessage, EntityName, FullyQualifiedName,
};

use crate::auth::AuthCache;
use crate::balancer::Balancer;
use crate::config::ControllerConfig;
use crate::entity_cache::EntityCache;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::recent::RecentCompletions;
use crate::throttle::Throttles;

/// Store polls of a blocking wait, as offsets from its start: 1, 3, 5, 7 s, then every 15 s.
fn poll_offsets() -> impl Iterator<Item = Duration> {
    [1, 3, 5, 7]
        .into_iter()
        .chain((1..).map(|i| 7 + 15 * i))
        .map(Duration::from_secs)
}

/// Added to an activation's time limit before its balancer slot is given back without a
/// completion (the completion was lost, the invoker died).
const SLOT_GRACE: Duration = Duration::from_secs(60);

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
    /// Actions as callers resolved them, and namespace owners: the invoke path's reads.
    pub(crate) entity_cache: EntityCache,
    pub(crate) metrics: Metrics,
    /// Rate and concurrency counters, and the cached limits of namespaces.
    pub(crate) throttles: Throttles,
    /// Completions received lately, for reads that reach the store before their record.
    pub(crate) recent: RecentCompletions,
    /// Blocking invokes waiting for their completion.
    waiters: Mutex<HashMap<ActivationId, oneshot::Sender<Activation>>>,
    /// Places activations on invokers; knows their health.
    pub(crate) balancer: Balancer,
    /// What `GET /metrics` shows: the controller's metrics and whatever the process adds
    /// ([`Controller::register_metrics`]).
    registry: RwLock<Registry>,
    /// Set by [`Controller::drain`]: new activations get 503.
    draining: AtomicBool,
    /// The completion, heartbeat and invalidation listeners; aborted on shutdown or drop.
    listener: Mutex<Vec<JoinHandle<()>>>,
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
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        registry.register(
            "whisk_store_errors",
            "Store calls that failed",
            metrics.store_errors.clone(),
        );
        Arc::new(Self {
            auth: AuthCache::new(config.auth_cache_ttl),
            entity_cache: EntityCache::new(config.entity_cache_ttl, config.auth_cache_ttl),
            balancer: Balancer::new(&config.invokers, config.cluster_size),
            config,
            entities,
            identities,
            activations,
            bus,
            metrics,
            registry: RwLock::new(registry),
            draining: AtomicBool::new(false),
            throttles: Throttles::default(),
            recent: RecentCompletions::default(),
            waiters: Mutex::new(HashMap::new()),
            listener: Mutex::new(Vec::new()),
            scheduler: Mutex::new(None),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            scheduler_passes: AtomicUsize::new(0),
        })
    }

    /// Subscribes to this controller's completion subject and spawns the listener that
    /// resolves blocking invokes, makes sure the `whisk.system` namespace and its `alarms`
    /// package exist, ends the compositions it left running when it last stopped, and
    /// starts the alarm scheduler. Returns once subscribed, so no
    /// completion sent afterwards is missed. The background tasks stop on
    /// [`Controller::shutdown`] or when the controller drops.
    ///
    /// # Errors
    /// The bus refused the subscription, or the system entities cannot be written.
    pub async fn start(self: &Arc<Self>) -> Result<(), ControllerError> {
        self.start_listener().await?;
        crate::system::ensure(self).await?;
        self.end_interrupted_compositions().await;
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
        let subject = completion_subject(&self.config.completion_id());
        let completions = self.bus.subscribe(&subject).await?;
        let health = self.bus.subscribe(HEALTH_SUBJECT).await?;
        let invalidations = self.bus.subscribe(CACHE_INVALIDATION_SUBJECT).await?;
        let me = Arc::downgrade(self);
        let tasks = vec![
            tokio::spawn(listen(
                me.clone(),
                completions,
                "completion",
                |ctl, bytes| {
                    let msg: CompletionMessage = serde_json::from_slice(bytes)?;
                    // Invokers announce before they store: reads find it here meanwhile.
                    ctl.recent.remember(&msg.activation);
                    ctl.complete(msg.activation);
                    Ok(())
                },
            )),
            tokio::spawn(listen(me.clone(), health, "heartbeat", |ctl, bytes| {
                let beat: Heartbeat = serde_json::from_slice(bytes)?;
                ctl.balancer.heartbeat(&beat);
                Ok(())
            })),
            tokio::spawn(listen(
                me.clone(),
                invalidations,
                "invalidation",
                |ctl, bytes| {
                    let what: CacheInvalidation = serde_json::from_slice(bytes)?;
                    ctl.invalidate(&what);
                    Ok(())
                },
            )),
            tokio::spawn(crate::recent::confirm_stored(me)),
        ];
        let old = std::mem::replace(
            &mut *self.listener.lock().unwrap_or_else(|e| e.into_inner()),
            tasks,
        );
        for task in old {
            task.abort();
        }
        tracing::info!(controller = %self.config.id, %subject, "Controller listening for completions and heartbeats.");
        Ok(())
    }

    /// Stops the listeners, the scheduler and running compositions. Blocking invokes
    /// still waiting fall back to polling.
    pub fn shutdown(&self) {
        for task in std::mem::take(&mut *self.listener.lock().unwrap_or_else(|e| e.into_inner())) {
            task.abort();
        }
        if let Some(task) = self
            .scheduler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
        self.cancel.cancel();
        self.tasks.close();
    }

    /// Stops taking new activations: from now on they get 503. Activations already
    /// accepted run on, and their blocking callers still get their results.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Controller::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Adds metrics to what `GET /metrics` shows (the invoker's in `standalone`, the
    /// bus's).
    pub fn register_metrics(&self, add: impl FnOnce(&mut Registry)) {
        add(&mut self.registry.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// `GET /metrics`: everything registered, in the OpenMetrics text format.
    pub fn render_metrics(&self) -> String {
        crate::metrics::encode(&self.registry.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Invokers known from heartbeats (and configuration) and their health.
    pub fn balancer(&self) -> &Balancer {
        &self.balancer
    }

    /// Sends `what` to every controller (this one included) on the bus.
    pub async fn announce_invalidation(&self, what: &CacheInvalidation) {
        match serde_json::to_vec(what) {
            Ok(payload) => {
                if let Err(e) = self.bus.notify(CACHE_INVALIDATION_SUBJECT, payload).await {
                    tracing::warn!(error = %e, "Could not announce a cache invalidation.");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Could not encode a cache invalidation."),
        }
    }

    /// Forgets what `what` names, so it is read from the store again.
    fn invalidate(&self, what: &CacheInvalidation) {
        match what {
            CacheInvalidation::Limits { namespace } => {
                if let Ok(ns) = EntityName::namespace(namespace) {
                    self.throttles.forget_limits(&ns);
                }
            }
            CacheInvalidation::Credentials => {
                self.auth.clear();
                self.entity_cache.forget_owners();
            }
            CacheInvalidation::Entity { origin, .. } if *origin == self.config.completion_id() => {}
            CacheInvalidation::Entity { fqn, .. } => match FullyQualifiedName::parse(fqn) {
                Ok(fqn) => self.entity_cache.invalidate(&fqn),
                Err(e) => {
                    tracing::warn!(%fqn, error = %e, "Ignoring an invalidation of an unreadable name.")
                }
            },
        }
    }

    /// After a write of the action or package `fqn` through this controller: drops what
    /// was resolved from it here at once, and on every other controller through the bus.
    pub(crate) async fn entity_changed(&self, fqn: &FullyQualifiedName) {
        self.entity_cache.invalidate(fqn);
        self.announce_invalidation(&CacheInvalidation::Entity {
            fqn: fqn.to_string(),
            origin: self.config.completion_id(),
        })
        .await;
    }

    /// How many compositions (sequences, conductor sessions) this controller is running.
    pub fn compositions_running(&self) -> usize {
        self.tasks.len()
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
        self.balancer.release(&activation.activation_id);
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

    /// Publishes an invocation to the topic of the invoker the balancer picks.
    pub(crate) async fn publish(&self, msg: &ActivationMessage) -> Result<(), ApiError> {
        let limits = &msg.action.limits;
        // A lost completion gives the memory back after the run's longest time.
        let hold = Duration::from_millis(limits.timeout) + SLOT_GRACE;
        let invoker = self
            .balancer
            .place(
                msg.activation_id,
                &msg.user.namespace,
                &msg.action.fqn(),
                limits.memory,
                hold,
            )
            .ok_or(ApiError::NoInvoker)?;
        let published = async {
            let payload = serde_json::to_vec(msg).map_err(|e| ApiError::Internal(e.to_string()))?;
            self.bus.publish(&invoker_topic(invoker), payload).await?;
            Ok(())
        }
        .await;
        if published.is_err() {
            self.balancer.release(&msg.activation_id);
        }
        published
    }

    /// Tells invokers that an action changed or went away: containers of versions written
    /// before `before` (an `updated` value) are stale; and controllers, whose entity
    /// caches drop it ([`Controller::entity_changed`]).
    pub(crate) async fn announce_action_change(&self, fqn: &FullyQualifiedName, before: i64) {
        self.entity_changed(fqn).await;
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
                        self.balancer.release(&a.activation_id);
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

/// Hands each notification of `sub` to `handle` until the bus closes or the controller
/// is gone.
async fn listen(
    controller: Weak<Controller>,
    mut sub: Box<dyn Subscription>,
    what: &'static str,
    handle: fn(&Controller, &[u8]) -> Result<(), serde_json::Error>,
) {
    loop {
        match sub.next().await {
            Ok(bytes) => {
                let Some(ctl) = controller.upgrade() else {
                    break;
                };
                if let Err(e) = handle(&ctl, &bytes) {
                    tracing::warn!(error = %e, what, "Ignoring a malformed notification.");
                }
            }
            Err(BusError::Closed) => break,
            Err(e) => {
                tracing::warn!(error = %e, what, "A subscription failed; retrying (blocking invokes fall back to polling).");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::debug!(what, "Listener stopped.");
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
