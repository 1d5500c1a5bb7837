//! The one internal invoke path. REST invokes, web actions, rule-fired invokes, sequence
//! components and conductor steps all build an [`Invocation`] and call
//! [`Controller::activate`] (or [`Controller::activate_and_wait`]):
//! - primitive actions are published to an invoker, which writes the record;
//! - sequences and conductors run here, in a task the controller owns, and the controller
//!   writes their record ([`crate::composition`], [`crate::sequence`], [`crate::conductor`]);
//!   each invocation's [`Lineage`] bounds how deep and how far its compositions go;
//! - built-in actions (the alarms feeds) run here at once ([`crate::alarms`]).
//!
//! Every path ends in [`Controller::complete`], so a blocking waiter wakes the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use whisk_types::{
    now_millis, Activation, ActivationId, ActivationMessage, ActivationResponse, EntityPath, Exec,
    Identity, Parameters, TransactionId,
};

use crate::action_body::PROVIDE_API_KEY;
use crate::controller::Controller;
use crate::error::ApiError;
use crate::lineage::Lineage;
use crate::resolve::ResolvedAction;
use crate::runtimes;

/// Annotation that makes an action a conductor (reference §6.4).
pub const CONDUCTOR: &str = "conductor";
/// Annotation making defined parameters immutable at invoke time (reference §6.3).
pub const FINAL: &str = "final";

/// Extra wait for a component beyond its own time limit.
const COMPONENT_GRACE: Duration = Duration::from_secs(60);

/// One activation to start.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub id: ActivationId,
    pub tid: TransactionId,
    /// Who invokes: the record is stored in this identity's namespace.
    pub user: Identity,
    /// Shared with the entity cache: an invoke copies no action.
    pub target: Arc<ResolvedAction>,
    /// The input: a JSON object merged over the parameters, or an array passed as is.
    pub payload: Value,
    /// Epoch ms the request arrived (for `waitTime`).
    pub received_at: i64,
    /// The enclosing sequence or conductor session.
    pub cause: Option<ActivationId>,
    /// Whether somebody waits for the result.
    pub blocking: bool,
    /// Run a conductor action as a plain action (a step of its own session).
    pub plain: bool,
    /// Depth, shared accounting and cancellation scope in the tree this belongs to.
    pub lineage: Lineage,
}

impl Invocation {
    /// A fresh top-level invocation of `target`.
    pub fn new(
        tid: TransactionId,
        user: Identity,
        target: impl Into<Arc<ResolvedAction>>,
        payload: Value,
    ) -> Self {
        Self {
            id: ActivationId::generate(),
            tid,
            user,
            target: target.into(),
            payload,
            received_at: now_millis(),
            cause: None,
            blocking: false,
            plain: false,
            lineage: Lineage::root(),
        }
    }

    /// A component of this composition: same caller, caused by it, blocking.
    pub fn child(&self, target: impl Into<Arc<ResolvedAction>>, payload: Value) -> Self {
        Self {
            id: ActivationId::generate(),
            tid: self.tid.clone(),
            user: self.user.clone(),
            target: target.into(),
            payload,
            received_at: now_millis(),
            cause: Some(self.id),
            blocking: true,
            plain: false,
            lineage: self.lineage.child(),
        }
    }

    /// What runs: a composition the controller drives, a built-in, or an invoker's job.
    fn mode(&self) -> Mode {
        let action = &self.target.action;
        match &action.exec {
            Exec::Sequence { .. } => Mode::Sequence,
            _ if runtimes::is_builtin(action.exec.kind()) => Mode::Builtin,
            _ if !self.plain && action.annotations.is_truthy(CONDUCTOR) => Mode::Conductor,
            _ => Mode::Primitive,
        }
    }

    /// Whether this starts a conductor session.
    pub fn is_conductor(&self) -> bool {
        self.mode() == Mode::Conductor
    }

    /// How long a composition waits for this invocation as one of its components;
    /// `composition` for a nested composition (it bounds its own components).
    pub fn component_wait(&self, composition: Duration) -> Duration {
        match self.mode() {
            Mode::Sequence | Mode::Conductor => composition,
            Mode::Primitive | Mode::Builtin => {
                Duration::from_millis(self.target.action.limits.timeout) + COMPONENT_GRACE
            }
        }
    }

    /// The `/run` value: parameters under an object payload; an array passes alone.
    pub fn content(&self) -> Value {
        self.content_with(self.payload.clone())
    }

    /// [`Invocation::content`] over `payload` (this invocation's, taken rather than copied).
    fn content_with(&self, payload: Value) -> Value {
        match payload {
            Value::Object(p) => {
                let mut content = self.target.params.to_object();
                content.extend(p);
                Value::Object(content)
            }
            other => other,
        }
    }

    /// The skeleton of a record the controller writes for this invocation.
    pub fn record(&self, start: i64, response: ActivationResponse) -> Activation {
        let action = &self.target.action;
        let mut annotations = Parameters::default();
        annotations.set("path", json!(action.fqn().to_string()));
        if let Some(b) = &self.target.binding {
            annotations.set("binding", json!(b.to_string()));
        }
        annotations.set("kind", json!(action.exec.kind()));
        annotations.set("limits", json!(action.limits));
        annotations.set("waitTime", json!((start - self.received_at).max(0)));
        if self.cause.is_some() {
            annotations.set("causedBy", json!("sequence"));
        }
        let end = now_millis();
        Activation {
            namespace: EntityPath::namespace_only(self.user.namespace.clone()),
            name: action.name.clone(),
            subject: self.user.subject.clone(),
            activation_id: self.id,
            start,
            end,
            duration: Some(end - start),
            cause: self.cause,
            response,
            logs: Vec::new(),
            version: action.version,
            publish: false,
            annotations,
        }
    }
}

/// A boxed, sendable future (breaks the type cycle of compositions calling the invoke path).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Primitive,
    Sequence,
    Conductor,
    Builtin,
}

// === impl Controller ===

impl Controller {
    /// Starts an activation and returns once it is accepted (published, or its
    /// composition task spawned). The record appears later, and blocking waiters registered
    /// for `inv.id` are woken through [`Controller::complete`].
    ///
    /// # Errors
    /// 429 from the throttles; the bus refused the invocation, or no invoker is configured.
    pub(crate) async fn activate(self: &Arc<Self>, inv: Invocation) -> Result<(), ApiError> {
        // Every activation a user starts is throttled here; components of a composition
        // are not (their top-level invoke was).
        let top_level = inv.cause.is_none();
        if top_level && self.is_draining() {
            return Err(ApiError::ShuttingDown);
        }
        if top_level {
            self.admit_invocation(
                &inv.user.namespace,
                inv.id,
                inv.component_wait(self.config.composition_wait),
            )
            .await?;
        }
        let id = inv.id;
        let started = self.launch(inv).await;
        if started.is_err() && top_level {
            self.throttles.release(&id);
        }
        started
    }

    async fn launch(self: &Arc<Self>, inv: Invocation) -> Result<(), ApiError> {
        match inv.mode() {
            Mode::Primitive => {
                let store = self.limits_of(&inv.user.namespace).await.store_activations;
                if !store {
                    self.recent.skip(inv.id);
                }
                let msg = self.message(inv, store).await?;
                self.publish(&msg).await
            }
            Mode::Builtin => {
                let start = now_millis();
                let response = crate::alarms::run_feed(self, &inv).await;
                self.finish(inv.record(start, response)).await;
                Ok(())
            }
            Mode::Sequence => self.start_composition(inv, false).await,
            Mode::Conductor => self.start_composition(inv, true).await,
        }
    }

    /// Starts an activation and waits up to `timeout` for its record; `None` on timeout.
    /// Boxed, because compositions call it from inside [`Controller::activate`].
    ///
    /// # Errors
    /// As [`Controller::activate`].
    pub(crate) fn activate_and_wait(
        self: &Arc<Self>,
        inv: Invocation,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Option<Activation>, ApiError>> {
        Box::pin(async move {
            let namespace = inv.user.namespace.clone();
            let waiter = self.register_waiter(inv.id);
            self.activate(inv).await?;
            Ok(self.wait_for(waiter, &namespace, timeout).await)
        })
    }

    /// Stores a record the controller made and wakes whoever waits for it.
    pub(crate) async fn finish(&self, record: Activation) {
        if let Err(e) = self.keep(&record).await {
            tracing::error!(activation_id = %record.activation_id, error = %e, "Could not store an activation record.");
        }
        self.complete(record);
    }

    /// Stores a record the controller made, unless its namespace's `storeActivations`
    /// limit is off (as OpenWhisk's `storeAfterCheck`).
    ///
    /// # Errors
    /// The store failed.
    pub(crate) async fn keep(&self, record: &Activation) -> Result<(), whisk_store::StoreError> {
        if self
            .limits_of(record.namespace.namespace())
            .await
            .store_activations
        {
            self.activations.put(record).await?;
        }
        Ok(())
    }

    /// The message of a primitive invocation, built from it without copying its input.
    async fn message(
        &self,
        mut inv: Invocation,
        store_record: bool,
    ) -> Result<ActivationMessage, ApiError> {
        let api_key_owner = self.api_key_owner(&inv).await?;
        // The code stays in the store; the invoker fetches it by digest.
        let (action, code) = inv.target.message_parts();
        let payload = std::mem::take(&mut inv.payload);
        let content = inv.content_with(payload);
        Ok(ActivationMessage {
            transaction_id: inv.tid,
            activation_id: inv.id,
            action,
            code,
            user: inv.user,
            api_key_owner,
            content,
            blocking: inv.blocking,
            controller: self.config.completion_id(),
            received_at: inv.received_at,
            cause: inv.cause,
            binding: inv.target.binding.clone(),
            store_record,
        })
    }

    /// Whom the activation's API key acts for: the subject owning the action's root
    /// namespace (never the caller's identity when that differs), or nobody when the
    /// action's `provide-api-key` is false.
    async fn api_key_owner(&self, inv: &Invocation) -> Result<Option<Identity>, ApiError> {
        let annotations = &inv.target.action.annotations;
        let provide =
            annotations.get(PROVIDE_API_KEY).is_none() || annotations.is_truthy(PROVIDE_API_KEY);
        if !provide {
            return Ok(None);
        }
        let owner = inv.target.action.namespace.namespace();
        if owner == &inv.user.namespace {
            return Ok(Some(inv.user.clone()));
        }
        crate::resolve::owner_identity(self, owner).await
    }
}

/// The input the next sequence component gets from a result: objects and arrays pass,
/// anything else becomes no input.
pub(crate) fn next_input(result: &Value) -> Value {
    match result {
        Value::Object(_) | Value::Array(_) => result.clone(),
        _ => json!({}),
    }
}

/// Text of a request naming a parameter it may not set.
pub(crate) const NOT_ALLOWED: &str =
    "Request defines parameters that are not allowed (e.g., reserved properties).";

/// With `final`, no defined (non-null) parameter may be overridden by the request.
///
/// # Errors
/// 400 when a key names one.
pub(crate) fn check_final<'a>(
    target: &ResolvedAction,
    mut keys: impl Iterator<Item = &'a String>,
) -> Result<(), ApiError> {
    if !target.action.annotations.is_truthy(FINAL) {
        return Ok(());
    }
    let params = &target.params;
    if keys.any(|k| params.get(k).is_some_and(|v| !v.is_null())) {
        return Err(ApiError::BadRequest(NOT_ALLOWED.into()));
    }
    Ok(())
}
