//! Trigger fire (reference §6.5), shared by `POST .../triggers/{name}` and the alarm
//! scheduler: every active rule's action is invoked non-blocking through the internal
//! invoke path (as a POST by the firing user would), and a trigger activation record lists
//! each rule's outcome as a compact JSON string.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use whisk_store::Collection;
use whisk_types::{
    now_millis, Activation, ActivationId, ActivationResponse, EntityPath, FullyQualifiedName,
    Identity, Parameters, TransactionId,
};

use crate::controller::Controller;
use crate::entities::{decode, PathName, Trigger};
use crate::error::ApiError;
use crate::invocation::{check_final, Invocation};
use crate::ow_headers::OW_HEADERS;
use crate::resolve::invocable;

/// One fire of a trigger.
#[derive(Debug, Clone)]
pub(crate) struct Firing {
    pub tid: TransactionId,
    /// The firing identity: the trigger's owner.
    pub user: Identity,
    pub trigger: FullyQualifiedName,
    /// The fire payload (request body), merged over the trigger's parameters.
    pub payload: Map<String, Value>,
    /// Request headers for `__ow_headers` ([`crate::ow_headers`]); none for scheduled fires.
    pub headers: Option<Map<String, Value>>,
}

/// What a fire did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fired {
    /// No active rule: nothing ran and no record was written.
    NoActiveRule,
    /// The trigger activation's id.
    Fired(ActivationId),
}

/// One line of a trigger activation's logs, fields in OpenWhisk's order.
#[derive(Debug, Serialize)]
struct RuleOutcome<'a> {
    #[serde(rename = "statusCode")]
    status_code: u8,
    success: bool,
    #[serde(rename = "activationId", skip_serializing_if = "Option::is_none")]
    activation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    rule: &'a str,
    action: String,
}

// === impl Controller ===

impl Controller {
    /// Fires a trigger: invokes every active rule's action and stores the trigger record.
    ///
    /// # Errors
    /// 429 over the namespace's `firesPerMinute`; 404 when the trigger does not exist;
    /// store failures.
    pub(crate) async fn fire(self: &Arc<Self>, f: Firing) -> Result<Fired, ApiError> {
        self.admit_fire(&f.user.namespace).await?;
        let doc = self
            .entities
            .get(Collection::Triggers, &f.trigger)
            .await?
            .ok_or(ApiError::NotFound)?;
        let trigger: Trigger = decode(&doc)?;
        let active = trigger.active_rules();
        if active.is_empty() {
            return Ok(Fired::NoActiveRule);
        }
        let id = ActivationId::generate();
        let start = now_millis();
        let mut args = trigger.parameters.to_object();
        args.extend(f.payload.clone());
        if let Some(h) = &f.headers {
            args.insert(OW_HEADERS.into(), Value::Object(h.clone()));
        }
        let mut logs = Vec::with_capacity(active.len());
        for (rule, action) in &active {
            let outcome = match self.invoke_rule(&f, action, &args).await {
                Ok(aid) => RuleOutcome {
                    status_code: 0,
                    success: true,
                    activation_id: Some(aid.to_string()),
                    error: None,
                    rule,
                    action: action.fqn().to_string(),
                },
                Err(e) => RuleOutcome {
                    status_code: if e.status().is_server_error() { 3 } else { 1 },
                    success: false,
                    activation_id: None,
                    error: Some(e.client_text()),
                    rule,
                    action: action.fqn().to_string(),
                },
            };
            logs.push(serde_json::to_string(&outcome).unwrap_or_default());
        }
        let record = Activation {
            namespace: EntityPath::namespace_only(f.user.namespace.clone()),
            name: trigger.name.clone(),
            subject: f.user.subject.clone(),
            activation_id: id,
            start,
            end: 0,
            duration: None,
            cause: None,
            response: ActivationResponse::success(Value::Object(f.payload), None),
            logs,
            version: trigger.version,
            publish: false,
            annotations: Parameters::default(),
        };
        self.keep(&record).await?;
        Ok(Fired::Fired(id))
    }

    /// One rule's invoke: the same path as a non-blocking `POST .../actions/...`.
    async fn invoke_rule(
        self: &Arc<Self>,
        f: &Firing,
        action: &PathName,
        args: &Map<String, Value>,
    ) -> Result<ActivationId, ApiError> {
        let target = invocable(self, &f.user.namespace, &action.fqn()).await?;
        check_final(&target, args.keys())?;
        let inv = Invocation::new(
            f.tid.clone(),
            f.user.clone(),
            target,
            Value::Object(args.clone()),
        );
        let id = inv.id;
        self.activate(inv).await?;
        Ok(id)
    }
}
