//! Runs one activation from its message to its record: take a container from the pool (or
//! start one and `/init` it), `/run`, map the reply, collect the logs, give the container
//! back or remove it. Every path ends in a record, except shutdown (then the message stays
//! unacknowledged and is delivered again).
//!
//! An action with `limits.concurrency` > 1 asks `/init` for concurrent runs
//! ([`ENV_ALLOW_CONCURRENT`]). If the container confirms, the activation that started it
//! collects the `/init` lines, shares the container ([`Busy::share`]) and, like every
//! later activation in it, gathers its own tagged lines through the container's
//! [`LogRouter`](crate::logs::LogRouter); otherwise the container serves one activation at
//! a time as usual.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tracing::{debug, warn};
use whisk_protocol::{
    env_name, init_confirms_concurrent, init_env_value, InitBody, RunBody, ENV_ALLOW_CONCURRENT,
    ENV_API_HOST, ERR_INIT_EXITED, ERR_RUN_EXITED, KEY_ACTION_NAME, KEY_ACTION_VERSION,
    KEY_ACTIVATION_ID, KEY_DEADLINE, KEY_NAMESPACE, KEY_TRANSACTION_ID,
};
use whisk_types::{
    now_millis, Activation, ActivationMessage, ActivationResponse, EntityPath, Exec, KeyValue,
    Parameters, ResponseStatus,
};

use crate::client::{ContainerClient, ExchangeError};
use crate::code::CodeCache;
use crate::config::InvokerConfig;
use crate::factory::{
    cpu_shares, ContainerSpec, FactoryError, LABEL_ACTION, LABEL_INVOKER, LABEL_REVISION,
    LABEL_STEM_CELL,
};
use crate::logs::{LogAccumulator, LogReceiver, LogRoute};
use crate::metrics::Start;
use crate::outcome::{self, MAX_RESULT_BYTES};
use crate::pool::{Busy, Container, ContainerKey, Lease, Pool, PoolError, StemPlan};

/// The activation was not run because the invoker is shutting down.
#[derive(Debug)]
pub(crate) struct Abandoned;

/// Runs activations in pooled containers.
#[derive(Debug)]
pub(crate) struct Runner {
    pool: Arc<Pool>,
    client: ContainerClient,
    config: Arc<InvokerConfig>,
    /// Where a cold start gets the action's code.
    code: Arc<CodeCache>,
}

/// Why `/init` did not succeed.
struct InitFailure {
    response: ActivationResponse,
    timed_out: bool,
}

/// Timings of one activation, turned into the record at the end.
struct Recorder<'a> {
    msg: &'a ActivationMessage,
    /// Epoch ms when `/init` (cold) or `/run` (warm) started.
    start: i64,
    wait_ms: i64,
    init_ms: Option<i64>,
    run_ms: i64,
    timed_out: bool,
}

fn elapsed_ms(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX)
}

impl Runner {
    pub(crate) fn new(pool: Arc<Pool>, config: Arc<InvokerConfig>, code: Arc<CodeCache>) -> Self {
        Self {
            pool,
            client: ContainerClient::new(config.idle_timeout),
            config,
            code,
        }
    }

    /// Runs the activation of `msg` and returns its record.
    ///
    /// # Errors
    /// [`Abandoned`] when the pool shut down before a container was available.
    pub(crate) async fn run(&self, msg: &ActivationMessage) -> Result<Activation, Abandoned> {
        let action = &msg.action;
        let rec = Recorder::new(msg);
        let image = match self.image_for(&action.exec) {
            Ok(image) => image,
            Err(reason) => {
                warn!(reason, "Action cannot run in a container.");
                return Ok(
                    rec.failed_early(ActivationResponse::whisk_error(outcome::PROVISION_FAILED))
                );
            }
        };
        let key = ContainerKey {
            fqn: action.fqn(),
            revision: action.revision().into(),
            namespace: msg.user.namespace.clone(),
            updated: action.updated,
            memory_mb: action.limits.memory,
            concurrency: action.limits.concurrency,
        };
        let kind = match &action.exec {
            Exec::Code { kind, .. } => Some(kind.as_str()),
            _ => None,
        };
        let wait = self.config.container_wait;
        let acquired = tokio::time::timeout(wait, self.pool.acquire(&key, kind)).await;
        let lease = match acquired {
            Ok(Ok(lease)) => lease,
            Ok(Err(PoolError::Closed)) => return Err(Abandoned),
            Err(_) => {
                // Dropping the wait withdraws it from the pool; a grant racing with the
                // deadline is given back by its drop.
                warn!(waited = ?wait, "No container became available in time.");
                return Ok(rec.failed_early(ActivationResponse::whisk_error(
                    outcome::container_wait_expired(wait),
                )));
            }
            Ok(Err(e)) => {
                warn!(error = %e, "No capacity for the action.");
                return Ok(
                    rec.failed_early(ActivationResponse::whisk_error(outcome::PROVISION_FAILED))
                );
            }
        };
        let metrics = &self.config.metrics;
        let (busy, cold) = match lease {
            Lease::Warm(busy) => {
                metrics.record_start(Start::Warm);
                (busy, false)
            }
            Lease::Prewarmed(busy) => {
                metrics.record_start(Start::Prewarm);
                (busy, true)
            }
            Lease::Cold(reservation) => {
                metrics.record_start(Start::Cold);
                let spec = self.spec(msg, image, &key);
                match reservation.start(&spec, key).await {
                    Ok(busy) => (busy, true),
                    Err(FactoryError::Exited(id)) => {
                        return Ok(self.exited_at_start(rec, &id).await);
                    }
                    Err(FactoryError::ImageUnavailable(image)) => {
                        return Ok(rec.failed_early(ActivationResponse::developer_error(
                            outcome::image_pull_failed(&image),
                        )));
                    }
                    Err(FactoryError::Unsupported(why)) => {
                        return Ok(rec.failed_early(ActivationResponse::developer_error(why)));
                    }
                    Err(e) => {
                        warn!(error = %e, "Container start failed.");
                        return Ok(rec.failed_early(ActivationResponse::whisk_error(
                            outcome::PROVISION_FAILED,
                        )));
                    }
                }
            }
        };
        Ok(self.run_in(busy, cold, rec).await)
    }

    fn image_for(&self, exec: &Exec) -> Result<String, String> {
        match exec {
            Exec::Blackbox { image, .. } => Ok(image.clone()),
            Exec::Code { kind, .. } => self
                .config
                .runtime_images
                .get(kind)
                .cloned()
                .ok_or_else(|| format!("no runtime image for kind {kind}")),
            Exec::Sequence { .. } => Err("a sequence has no container".into()),
        }
    }

    fn spec(&self, msg: &ActivationMessage, image: String, key: &ContainerKey) -> ContainerSpec {
        let short = uuid::Uuid::new_v4().simple().to_string();
        let name = container_name_part(msg.action.name.as_str());
        ContainerSpec {
            name: format!("rwhisk{}_{}_{name}", self.config.id, &short[..12]),
            kind: msg.action.exec.kind().to_owned(),
            image,
            memory_mb: key.memory_mb,
            pids_limit: self.config.pids_limit,
            cpu_shares: cpu_shares(key.memory_mb, self.config.memory_mb),
            env: vec![(ENV_API_HOST.into(), self.config.api_host.clone())],
            labels: vec![
                (LABEL_INVOKER.into(), self.config.label()),
                (LABEL_ACTION.into(), key.fqn.to_string()),
                (LABEL_REVISION.into(), key.revision.to_string()),
            ],
        }
    }

    async fn run_in(&self, mut busy: Busy, cold: bool, mut rec: Recorder<'_>) -> Activation {
        let limits = rec.msg.action.limits;
        let timeout = Duration::from_millis(limits.timeout);
        let mut concurrent = false;
        if cold {
            rec.begin();
            let code = match self.code.code_for(rec.msg).await {
                Ok(code) => code,
                Err(response) => return self.fail(busy, rec, response, None).await,
            };
            let started = Instant::now();
            let init = self
                .init(busy.container(), rec.msg, code.as_deref(), timeout)
                .await;
            rec.init_ms = Some(elapsed_ms(started));
            match init {
                Ok(confirmed) => concurrent = confirmed && limits.concurrency > 1,
                Err(failure) => {
                    rec.timed_out = failure.timed_out;
                    return self.fail(busy, rec, failure.response, None).await;
                }
            }
        } else {
            rec.begin();
        }

        // The lines of a shared container come by activation: start gathering this one's.
        let tag = rec.msg.activation_id.as_str();
        let route = if let Some(router) = busy.router() {
            Some(router.open(tag, LogAccumulator::new(limits.logs, 1)))
        } else if concurrent {
            let mut acc = LogAccumulator::new(limits.logs, 1);
            let deadline = Instant::now() + self.config.log_wait;
            if !busy.container().logs.collect(&mut acc, deadline).await {
                warn!(
                    container = busy.id(),
                    "Log sentinels of /init missing; container removed."
                );
                busy.discard();
                let response = ActivationResponse::whisk_error(outcome::PROVISION_FAILED);
                return rec.finish(response, acc.finish(Some(outcome::LOGS_INCOMPLETE)));
            }
            acc.expect_more(1);
            busy = busy.share();
            busy.router().map(|router| router.open(tag, acc))
        } else {
            busy.serve_alone();
            None
        };

        let started = Instant::now();
        let deadline = now_millis().saturating_add(limits.timeout as i64);
        let api_key = self.api_key(rec.msg, deadline);
        let body = run_body(rec.msg, deadline, api_key.as_deref());
        let Some(uri) = busy.run_uri().cloned() else {
            let response = ActivationResponse::whisk_error(outcome::PROVISION_FAILED);
            return self.fail(busy, rec, response, route).await;
        };
        let exchange =
            tokio::time::timeout(timeout, self.client.post(&uri, body, MAX_RESULT_BYTES)).await;
        rec.run_ms = elapsed_ms(started);
        let response = match exchange {
            Ok(Ok(reply)) => outcome::run_response(&reply),
            Ok(Err(e)) => {
                debug!(container = busy.id(), error = %e, "No valid reply from /run.");
                let response = ActivationResponse::developer_error(ERR_RUN_EXITED);
                return self.fail(busy, rec, response, route).await;
            }
            Err(_) => {
                rec.timed_out = true;
                let response =
                    ActivationResponse::developer_error(outcome::timed_out(limits.timeout, false));
                return self.fail(busy, rec, response, route).await;
            }
        };
        if matches!(
            response.status(),
            ResponseStatus::DeveloperError | ResponseStatus::WhiskError
        ) {
            return self.fail(busy, rec, response, route).await;
        }

        let deadline = Instant::now() + self.config.log_wait;
        let (logs, complete) = match route {
            Some(route) => route.wait(deadline).await,
            None => {
                let mut logs = LogAccumulator::new(limits.logs, if cold { 2 } else { 1 });
                let complete = busy.container().logs.collect(&mut logs, deadline).await;
                (logs, complete)
            }
        };
        if complete {
            busy.release();
            rec.finish(response, logs.finish(None))
        } else {
            // The log is out of step with the activations: do not reuse the container.
            warn!(
                container = busy.id(),
                "Log sentinels missing; container removed."
            );
            busy.discard();
            rec.finish(response, logs.finish(Some(outcome::LOGS_INCOMPLETE)))
        }
    }

    /// The activation's own API key, acting for the action's owner until `deadline`;
    /// `None` when the message names no owner (`provide-api-key` is false).
    fn api_key(&self, msg: &ActivationMessage, deadline: i64) -> Option<String> {
        let owner = msg.api_key_owner.as_ref()?;
        let key = self
            .config
            .signing_key
            .mint(owner.uuid, msg.activation_id, deadline);
        Some(key.to_string())
    }

    /// `/init`, retried while the container is not yet listening, within `timeout`; true
    /// when the container confirmed concurrent runs.
    async fn init(
        &self,
        container: &mut Container,
        msg: &ActivationMessage,
        code: Option<&str>,
        timeout: Duration,
    ) -> Result<bool, InitFailure> {
        let timeout_ms = msg.action.limits.timeout;
        let deadline = Instant::now() + timeout;
        let body = init_body(msg, code, now_millis().saturating_add(timeout_ms as i64));
        let timed_out = || InitFailure {
            response: ActivationResponse::developer_error(outcome::timed_out(timeout_ms, true)),
            timed_out: true,
        };
        let exited = || InitFailure {
            response: ActivationResponse::developer_error(ERR_INIT_EXITED),
            timed_out: false,
        };
        let mut backoff = Duration::from_millis(2);
        loop {
            let attempt = self
                .client
                .post(&container.init_uri, body.clone(), MAX_RESULT_BYTES);
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok(reply)) if reply.status == 200 => {
                    return Ok(init_confirms_concurrent(&reply.body))
                }
                Ok(Ok(reply)) => {
                    return Err(InitFailure {
                        response: outcome::init_error_response(&reply),
                        timed_out: false,
                    })
                }
                Ok(Err(ExchangeError::Body(e))) => {
                    debug!(container = %container.id, error = %e, "/init reply broke off.");
                    return Err(exited());
                }
                Ok(Err(ExchangeError::NoResponse(_))) => {
                    // Not listening yet (docker-proxy accepts and drops), or gone.
                    if container.logs.is_closed() {
                        return Err(exited());
                    }
                    let wake = Instant::now() + backoff;
                    if wake >= deadline {
                        tokio::time::sleep_until(deadline).await;
                        return Err(timed_out());
                    }
                    tokio::time::sleep_until(wake).await;
                    backoff = (backoff * 2).min(Duration::from_millis(20));
                }
            }
        }
    }

    /// The record for a container that stopped as soon as it started: its log, then removal.
    async fn exited_at_start(&self, mut rec: Recorder<'_>, id: &str) -> Activation {
        let factory = self.pool.factory();
        rec.begin();
        let mut logs = LogAccumulator::new(rec.msg.action.limits.logs, 0);
        LogReceiver::spawn(factory.logs(id))
            .drain(&mut logs, Instant::now() + self.config.log_wait)
            .await;
        if let Err(e) = factory.destroy(id).await {
            warn!(container = id, error = %e, "Container removal failed.");
        }
        rec.finish(
            ActivationResponse::developer_error(ERR_INIT_EXITED),
            logs.finish(Some(outcome::LOGS_AFTER_FAILURE)),
        )
    }

    /// Ends an activation whose container failed: remove the container, take the lines it
    /// wrote without waiting for sentinels, and note that logs may be missing. Unless it
    /// timed out, a container that ran out of memory says so instead of `response`.
    ///
    /// In a shared container (`route`), the other activations in it finish first: the
    /// container is only marked broken, and this activation's lines are taken up to its
    /// sentinel (written before a reply) or the log wait.
    async fn fail(
        &self,
        busy: Busy,
        rec: Recorder<'_>,
        response: ActivationResponse,
        route: Option<LogRoute>,
    ) -> Activation {
        let id = busy.id().to_owned();
        let deadline = Instant::now() + self.config.log_wait;
        let receiver = busy.discard();
        let mut logs = match route {
            // A timed-out run may never write its sentinel: take what came.
            Some(route) if rec.timed_out => route.wait(Instant::now()).await.0,
            Some(route) => route.wait(deadline).await.0,
            None => LogAccumulator::new(rec.msg.action.limits.logs, 0),
        };
        if let Some(mut receiver) = receiver {
            receiver.drain(&mut logs, deadline).await;
        }
        // Asked after the drain (the container's end), so the engine has seen any OOM kill.
        let response = if !rec.timed_out && self.pool.factory().oom_killed(&id).await {
            ActivationResponse::developer_error(outcome::MEMORY_EXHAUSTED)
        } else {
            response
        };
        rec.finish(response, logs.finish(Some(outcome::LOGS_AFTER_FAILURE)))
    }
}

/// `text` with characters Docker refuses in names replaced by `_`, at most 40 of them.
fn container_name_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

/// The stem cells `config` asks for, for kinds with an image; others are skipped with a
/// warning. Each container is named `rwhisk<id>_stem_<kind>_<unique>`, carries the
/// invoker label and [`LABEL_STEM_CELL`], and gets the API host like any action container.
pub(crate) fn stem_plans(config: &InvokerConfig) -> Vec<StemPlan> {
    config
        .stem_cells
        .iter()
        .filter(|s| s.count > 0)
        .filter_map(|s| {
            let Some(image) = config.runtime_images.get(&s.kind) else {
                warn!(kind = %s.kind, "No image for the kind of a stem cell; none started.");
                return None;
            };
            Some(StemPlan {
                kind: Arc::from(s.kind.as_str()),
                count: s.count,
                memory_mb: s.memory_mb,
                spec: ContainerSpec {
                    name: format!("rwhisk{}_stem_{}_", config.id, container_name_part(&s.kind)),
                    kind: s.kind.clone(),
                    image: image.clone(),
                    memory_mb: s.memory_mb,
                    pids_limit: config.pids_limit,
                    cpu_shares: cpu_shares(s.memory_mb, config.memory_mb),
                    env: vec![(ENV_API_HOST.into(), config.api_host.clone())],
                    labels: vec![
                        (LABEL_INVOKER.into(), config.label()),
                        (LABEL_STEM_CELL.into(), s.kind.clone()),
                    ],
                },
            })
        })
        .collect()
}

// === request bodies ===

/// The `__OW_*` context of an activation, as `/init` passes it in `env`. Never the API
/// key: `/init`'s environment stays with the container for every later activation, and
/// the key belongs to one activation (it comes with each `/run`).
fn activation_env(msg: &ActivationMessage, deadline: i64) -> Map<String, Value> {
    let mut env = Map::new();
    let mut set = |key: &str, value: String| {
        env.insert(env_name(key), Value::String(value));
    };
    set(KEY_NAMESPACE, msg.user.namespace.as_str().to_owned());
    set(KEY_ACTION_NAME, msg.action.fqn().with_slash());
    set(KEY_ACTION_VERSION, msg.action.version.to_string());
    set(KEY_ACTIVATION_ID, msg.activation_id.as_str().to_owned());
    set(KEY_TRANSACTION_ID, msg.transaction_id.as_str().to_owned());
    set(KEY_DEADLINE, deadline.to_string());
    env
}

/// The `/init` body ([`InitBody`], reference §8.1), with `code` as fetched for the message
/// (the action in the message carries none).
pub(crate) fn init_body(msg: &ActivationMessage, code: Option<&str>, deadline: i64) -> Bytes {
    let action = &msg.action;
    let main = match &action.exec {
        Exec::Blackbox { main, .. } | Exec::Code { main, .. } => main.as_deref(),
        Exec::Sequence { .. } => None,
    };
    let mut env = activation_env(msg, deadline);
    for kv in action.parameters.0.iter().filter(|kv| kv.init) {
        env.insert(kv.key.clone(), init_env_value(&kv.value).into());
    }
    // Set by the limit alone: an init parameter of that name neither allows nor forbids.
    if action.limits.concurrency > 1 {
        env.insert(ENV_ALLOW_CONCURRENT.to_owned(), "true".into());
    } else {
        env.remove(ENV_ALLOW_CONCURRENT);
    }
    let body = InitBody {
        name: action.name.as_str(),
        main: main.unwrap_or("main"),
        binary: action.exec.is_binary(),
        code,
        env: &env,
    };
    Bytes::from(body.to_vec())
}

/// The `/run` body ([`RunBody`], reference §8.2); `api_key` is the activation's minted key.
pub(crate) fn run_body(msg: &ActivationMessage, deadline: i64, api_key: Option<&str>) -> Bytes {
    let action_name = msg.action.fqn().with_slash();
    let action_version = msg.action.version.to_string();
    let deadline = deadline.to_string();
    let body = RunBody {
        value: &msg.content,
        namespace: msg.user.namespace.as_str(),
        action_name: &action_name,
        action_version: &action_version,
        activation_id: msg.activation_id.as_str(),
        transaction_id: msg.transaction_id.as_str(),
        deadline: &deadline,
        api_key,
    };
    Bytes::from(body.to_vec())
}

// === impl Recorder ===

impl<'a> Recorder<'a> {
    fn new(msg: &'a ActivationMessage) -> Self {
        Self {
            msg,
            start: 0,
            wait_ms: 0,
            init_ms: None,
            run_ms: 0,
            timed_out: false,
        }
    }

    /// Marks the start of `/init` (cold) or `/run` (warm): the end of the wait.
    fn begin(&mut self) {
        self.start = now_millis();
        self.wait_ms = (self.start - self.msg.received_at).max(0);
    }

    /// A record for an activation that never reached a container.
    fn failed_early(mut self, response: ActivationResponse) -> Activation {
        self.begin();
        self.finish(response, Vec::new())
    }

    fn finish(self, response: ActivationResponse, logs: Vec<String>) -> Activation {
        let msg = self.msg;
        let action = &msg.action;
        let duration = self.init_ms.unwrap_or(0) + self.run_ms;
        let mut annotations = Vec::with_capacity(7);
        let mut add = |key: &str, value: Value| {
            annotations.push(KeyValue {
                key: key.into(),
                value,
                init: false,
            })
        };
        add("path", action.fqn().to_string().into());
        add("kind", action.exec.kind().into());
        add("limits", json!(action.limits));
        add("timeout", self.timed_out.into());
        add("waitTime", self.wait_ms.into());
        if let Some(init) = self.init_ms {
            add("initTime", init.into());
        }
        if msg.cause.is_some() {
            add("causedBy", "sequence".into());
        }
        if let Some(binding) = &msg.binding {
            add("binding", binding.to_string().into());
        }
        Activation {
            namespace: EntityPath::namespace_only(msg.user.namespace.clone()),
            name: action.name.clone(),
            subject: msg.user.subject.clone(),
            activation_id: msg.activation_id,
            start: self.start,
            end: self.start + duration,
            duration: Some(duration),
            cause: msg.cause,
            response,
            logs,
            version: action.version,
            publish: false,
            annotations: Parameters(annotations),
        }
    }
}

#[cfg(test)]
mod tests {
    use whisk_types::{Action, ActionLimits, ActivationId, EntityName, Identity, TransactionId};

    use super::*;

    fn message(exec: Exec) -> ActivationMessage {
        let mut parameters = Parameters::default();
        parameters.0.push(KeyValue {
            key: "SECRET".into(),
            value: json!({"a": 1}),
            init: true,
        });
        parameters.0.push(KeyValue {
            key: "FLAG".into(),
            value: json!(true),
            init: true,
        });
        parameters.0.push(KeyValue {
            key: "NOTHING".into(),
            value: Value::Null,
            init: true,
        });
        parameters.set("plain", json!("x"));
        ActivationMessage {
            transaction_id: TransactionId::generate(),
            activation_id: ActivationId::generate(),
            action: Action {
                namespace: EntityPath::parse("guest/pkg").unwrap(),
                name: EntityName::new("hello").unwrap(),
                exec,
                parameters,
                limits: ActionLimits::default(),
                version: Default::default(),
                publish: false,
                annotations: Parameters::default(),
                updated: 1,
            },
            user: Identity {
                subject: "alice".into(),
                namespace: EntityName::new("caller").unwrap(),
                uuid: uuid::Uuid::new_v4(),
            },
            api_key_owner: None,
            code: None,
            content: json!({"name": "World"}),
            blocking: true,
            controller: "c0".into(),
            received_at: 1000,
            cause: None,
            binding: None,
            store_record: true,
        }
    }

    fn blackbox(code: Option<&str>) -> Exec {
        Exec::Blackbox {
            image: "img".into(),
            code: code.map(Into::into),
            main: None,
            binary: false,
        }
    }

    #[test]
    fn init_body_has_env_strings_and_optional_code() {
        let msg = message(blackbox(None));
        let v: Value = serde_json::from_slice(&init_body(&msg, None, 5000)).unwrap();
        let value = &v["value"];
        assert_eq!(value["name"], "hello");
        assert_eq!(value["main"], "main");
        assert_eq!(value["binary"], false);
        assert!(value.get("code").is_none());
        let env = value["env"].as_object().unwrap();
        assert_eq!(env["__OW_NAMESPACE"], "caller");
        assert_eq!(env["__OW_ACTION_NAME"], "/guest/pkg/hello");
        assert_eq!(env["__OW_ACTION_VERSION"], "0.0.1");
        assert_eq!(env["__OW_ACTIVATION_ID"], msg.activation_id.as_str());
        assert_eq!(env["__OW_TRANSACTION_ID"], msg.transaction_id.as_str());
        assert_eq!(env["__OW_DEADLINE"], "5000");
        assert!(env.get("__OW_API_KEY").is_none());
        assert_eq!(env["SECRET"], r#"{"a":1}"#);
        assert_eq!(env["FLAG"], "true");
        assert_eq!(env["NOTHING"], "");
        assert!(env.get("plain").is_none());
        assert!(env.get("__OW_ALLOW_CONCURRENT").is_none());
        assert!(env.values().all(Value::is_string));

        let mut concurrent = message(blackbox(None));
        concurrent.action.limits.concurrency = 4;
        let v: Value = serde_json::from_slice(&init_body(&concurrent, None, 1)).unwrap();
        assert_eq!(v["value"]["env"]["__OW_ALLOW_CONCURRENT"], "true");
        // An init parameter of that name does not turn it on.
        let mut forged = message(blackbox(None));
        forged.action.parameters.0.push(KeyValue {
            key: "__OW_ALLOW_CONCURRENT".into(),
            value: json!("true"),
            init: true,
        });
        let v: Value = serde_json::from_slice(&init_body(&forged, None, 1)).unwrap();
        assert!(v["value"]["env"].get("__OW_ALLOW_CONCURRENT").is_none());

        let msg = message(Exec::Code {
            kind: "nodejs:20".into(),
            code: "code!".into(),
            main: Some("run".into()),
            binary: false,
        });
        let v: Value = serde_json::from_slice(&init_body(&msg, Some("code!"), 1)).unwrap();
        assert_eq!(v["value"]["code"], "code!");
        assert_eq!(v["value"]["main"], "run");
    }

    #[test]
    fn run_body_fields() {
        let msg = message(blackbox(Some("#!/bin/sh")));
        let v: Value = serde_json::from_slice(&run_body(&msg, 1_570_223_213_407, None)).unwrap();
        assert_eq!(
            v,
            json!({
                "value": {"name": "World"},
                "namespace": "caller",
                "action_name": "/guest/pkg/hello",
                "action_version": "0.0.1",
                "activation_id": msg.activation_id.as_str(),
                "transaction_id": msg.transaction_id.as_str(),
                "deadline": "1570223213407",
            })
        );
        let v: Value = serde_json::from_slice(&run_body(&msg, 1, Some("u:k"))).unwrap();
        assert_eq!(v["api_key"], "u:k");
    }

    #[test]
    fn record_fields_and_annotations() {
        let mut msg = message(blackbox(None));
        msg.cause = Some(ActivationId::generate());
        let mut rec = Recorder::new(&msg);
        rec.begin();
        rec.init_ms = Some(30);
        rec.run_ms = 12;
        let start = rec.start;
        let a = rec.finish(
            ActivationResponse::success(json!({"ok": true}), Some(11)),
            vec!["l".into()],
        );
        assert_eq!(a.namespace.to_string(), "caller");
        assert_eq!(a.name.as_str(), "hello");
        assert_eq!(a.subject, "alice");
        assert_eq!(a.activation_id, msg.activation_id);
        assert_eq!(a.end - a.start, 42);
        assert_eq!(a.duration, Some(42));
        assert_eq!(a.start, start);
        assert_eq!(a.cause, msg.cause);
        assert!(!a.publish);
        let ann = &a.annotations;
        assert_eq!(ann.get("path"), Some(&json!("guest/pkg/hello")));
        assert_eq!(ann.get("kind"), Some(&json!("blackbox")));
        assert_eq!(
            ann.get("limits"),
            Some(&json!({"timeout":60000,"memory":256,"logs":10,"concurrency":1}))
        );
        assert_eq!(ann.get("timeout"), Some(&json!(false)));
        assert_eq!(ann.get("waitTime"), Some(&json!(start - 1000)));
        assert_eq!(ann.get("initTime"), Some(&json!(30)));
        assert_eq!(ann.get("causedBy"), Some(&json!("sequence")));

        let msg = message(blackbox(None));
        let a = Recorder::new(&msg).failed_early(ActivationResponse::developer_error("x"));
        assert!(a.annotations.get("initTime").is_none());
        assert!(a.annotations.get("causedBy").is_none());
        assert_eq!(a.duration, Some(0));
    }
}
