//! Test harness: a controller over a temporary SQLite store and embedded bus, driven through
//! `router()` with `tower::ServiceExt::oneshot`, and a tiny fake invoker at the bus seam
//! (the invoker is not under test here).
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tower::ServiceExt;
use whisk_bus::{Bus, EmbeddedBus};
use whisk_controller::{router, Controller, ControllerConfig, NamespaceLimits};
use whisk_store::{
    hash_secret, new_salt, ActivationStore, Collection, EntityStore, IdentityStore, SqliteStore,
    SubjectRecord,
};
use whisk_types::message::{completion_subject, invoker_topic};
use whisk_types::{
    now_millis, Activation, ActivationMessage, ActivationResponse, AuthKey, CompletionMessage,
    EntityName, EntityPath, FullyQualifiedName, Identity, Parameters,
};

/// How long eventual conditions may take (`RUST_TEST_PATIENCE_MS`, default 10 s).
pub fn patience() -> Duration {
    let ms = std::env::var("RUST_TEST_PATIENCE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    Duration::from_millis(ms)
}

/// Retries `f` until it yields `Some`, failing the test after the patience.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within patience: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn basic(key: &AuthKey) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(key.to_string())
    )
}

/// The configuration tests start from: the defaults, with throttles out of the way (the
/// throttle tests set their own) and alarms allowed to tick every second.
pub fn config() -> ControllerConfig {
    ControllerConfig {
        limits: NamespaceLimits {
            invocations_per_minute: 1_000_000,
            concurrent_invocations: 1_000_000,
            fires_per_minute: 1_000_000,
            ..NamespaceLimits::default()
        },
        alarm_min_period: Duration::from_secs(1),
        ..ControllerConfig::default()
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub uri: String,
    pub body: Vec<u8>,
    /// `None`: the guest's credentials; `Some("")`: no header; else the header value.
    pub auth: Option<String>,
    pub headers: Vec<(String, String)>,
}

pub fn req(method: Method, uri: &str) -> Req {
    Req {
        method,
        uri: uri.to_owned(),
        body: Vec::new(),
        auth: None,
        headers: Vec::new(),
    }
}

pub fn get(uri: &str) -> Req {
    req(Method::GET, uri)
}

pub fn delete(uri: &str) -> Req {
    req(Method::DELETE, uri)
}

pub fn put(uri: &str, body: Value) -> Req {
    req(Method::PUT, uri).body(body.to_string())
}

pub fn post(uri: &str, body: Value) -> Req {
    req(Method::POST, uri).body(body.to_string())
}

impl Req {
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn no_auth(mut self) -> Self {
        self.auth = Some(String::new());
        self
    }

    pub fn auth(mut self, value: &str) -> Self {
        self.auth = Some(value.to_owned());
        self
    }

    /// Sends the request with `key`'s Basic credentials.
    pub fn with_key(self, key: &AuthKey) -> Self {
        self.auth(&basic(key))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A response, body read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A chosen behaviour of the fake invoker for one action: input to response.
pub type Behaviour = Arc<dyn Fn(&Value) -> ActivationResponse + Send + Sync>;

/// Behaviours by fully qualified action name (`guest/pkg/a`).
pub type Behaviours = Arc<Mutex<HashMap<String, Behaviour>>>;

/// A controller with its store and bus, and optionally a fake invoker.
pub struct Stack {
    pub router: Router,
    pub controller: Arc<Controller>,
    pub store: Arc<SqliteStore>,
    pub bus: Arc<EmbeddedBus>,
    pub guest: AuthKey,
    pub config: ControllerConfig,
    behaviours: Behaviours,
    /// Every message the fake invoker consumed, as the bytes the bus held.
    published: Arc<Mutex<Vec<Vec<u8>>>>,
    invoker: Option<JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(task) = self.invoker.take() {
            task.abort();
        }
        self.controller.shutdown();
    }
}

impl Stack {
    /// A stack with the fake invoker consuming `invoker_topic(0)`, and [`config`].
    pub async fn start() -> Self {
        Self::start_with(config()).await
    }

    /// A stack with the fake invoker, and `config` (its `id` is set to `c0`).
    pub async fn start_with(config: ControllerConfig) -> Self {
        let mut s = Self::without_invoker_with(config).await;
        let consumer = s.bus.consume(&invoker_topic(0)).await.expect("consume");
        s.invoker = Some(tokio::spawn(fake_invoker(
            consumer,
            s.bus.clone(),
            s.store.clone(),
            s.behaviours.clone(),
            s.published.clone(),
        )));
        s
    }

    /// A stack where nobody consumes invocations.
    pub async fn without_invoker() -> Self {
        Self::without_invoker_with(config()).await
    }

    /// A stack where nobody consumes invocations, with `config` (its `id` set to `c0`).
    pub async fn without_invoker_with(config: ControllerConfig) -> Self {
        let store = Arc::new(SqliteStore::temporary().expect("store"));
        let bus = Arc::new(EmbeddedBus::temporary().expect("bus"));
        let config = ControllerConfig {
            id: "c0".into(),
            ..config
        };
        let controller = new_controller(&config, &store, &bus).await;
        let mut s = Self {
            router: router(controller.clone()),
            controller,
            store,
            bus,
            guest: AuthKey::generate(),
            config,
            behaviours: Arc::default(),
            published: Arc::default(),
            invoker: None,
        };
        s.guest = s.add_subject("guest").await;
        s
    }

    /// Stops the controller and starts a new one over the same store and bus, as a
    /// restarted process would.
    pub async fn restart_controller(&mut self) {
        self.controller.shutdown();
        let controller = new_controller(&self.config, &self.store, &self.bus).await;
        self.router = router(controller.clone());
        self.controller = controller;
    }

    /// Another controller over the same store and bus (its own id), started.
    pub async fn second_controller(&self, id: &str) -> Arc<Controller> {
        let config = ControllerConfig {
            id: id.into(),
            ..self.config.clone()
        };
        new_controller(&config, &self.store, &self.bus).await
    }

    /// Makes the fake invoker answer invocations of `action` (`guest/pkg/a`) with `f`.
    pub fn behave(
        &self,
        action: &str,
        f: impl Fn(&Value) -> ActivationResponse + Send + Sync + 'static,
    ) {
        self.behaviours
            .lock()
            .unwrap()
            .insert(action.to_owned(), Arc::new(f));
    }

    /// The activation messages the fake invoker consumed so far, as published bytes.
    pub fn published(&self) -> Vec<Vec<u8>> {
        self.published.lock().unwrap().clone()
    }

    /// Activation records of `namespace`, newest first.
    pub async fn records(&self, namespace: &str) -> Vec<Activation> {
        ActivationStore::list(
            self.store.as_ref(),
            &EntityName::new(namespace).unwrap(),
            &whisk_store::ActivationQuery {
                limit: 200,
                ..Default::default()
            },
        )
        .await
        .expect("list records")
    }

    /// Creates a subject whose namespace has the same name; returns its key.
    pub async fn add_subject(&self, name: &str) -> AuthKey {
        let key = AuthKey::generate();
        let salt = new_salt();
        let record = SubjectRecord {
            identity: Identity {
                subject: name.to_owned(),
                namespace: EntityName::new(name).unwrap(),
                uuid: key.uuid,
            },
            secret_hash: hash_secret(&salt, &key.secret),
            salt,
            blocked: false,
        };
        IdentityStore::put_subject(self.store.as_ref(), &record)
            .await
            .expect("put subject");
        key
    }

    /// Stores a package document straight into the store (the packages API comes later).
    pub async fn add_package(&self, name: &str, parameters: Value, binding: Value) {
        let fqn = FullyQualifiedName::parse(&format!("guest/{name}")).unwrap();
        let body = json!({
            "namespace": "guest", "name": name, "binding": binding,
            "parameters": parameters, "annotations": [], "version": "0.0.1", "publish": false,
        });
        EntityStore::put(self.store.as_ref(), Collection::Packages, &fqn, body, None)
            .await
            .expect("put package");
    }

    pub async fn send(&self, r: Req) -> Resp {
        let mut b = Request::builder().method(r.method).uri(&r.uri);
        match r.auth.as_deref() {
            None => b = b.header("authorization", basic(&self.guest)),
            Some("") => {}
            Some(v) => b = b.header("authorization", v),
        }
        for (k, v) in &r.headers {
            b = b.header(k, v);
        }
        let request = b.body(Body::from(r.body)).expect("request");
        let resp = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Sends `r` and asserts the status and a fragment of the body.
    pub async fn check(&self, r: Req, status: u16, fragment: &str) -> Resp {
        let what = format!("{} {}", r.method, r.uri);
        let resp = self.send(r).await;
        assert_eq!(resp.status, status, "{what}: {}", resp.text);
        assert!(
            resp.text.contains(fragment),
            "{what}: body {:?} lacks {fragment:?}",
            resp.text
        );
        resp
    }

    /// Creates a blackbox action `name` (may be `pkg/name`) with optional extra fields.
    pub async fn create_action(&self, name: &str, extra: Value) -> Value {
        let mut body = json!({"exec": {"kind": "blackbox", "image": "whisk/test"}});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        self.check(
            put(&format!("/api/v1/namespaces/_/actions/{name}"), body),
            200,
            "",
        )
        .await
        .json()
    }
}

async fn new_controller(
    config: &ControllerConfig,
    store: &Arc<SqliteStore>,
    bus: &Arc<EmbeddedBus>,
) -> Arc<Controller> {
    let controller = Controller::new(
        config.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        bus.clone(),
    );
    controller.start().await.expect("controller start");
    controller
}

/// Consumes invocations and completes them: with the action's chosen behaviour when the
/// test set one, else with a result derived from the content: `outcome` picks the status
/// (`application`, `developer`, `whisk`, `array`), `hang` never finishes,
/// `lose_completion` stores the record but sends no completion, `unstored` sends the
/// completion but never stores the record (a store write that has not landed yet).
async fn fake_invoker(
    consumer: Arc<dyn whisk_bus::Consumer>,
    bus: Arc<EmbeddedBus>,
    store: Arc<SqliteStore>,
    behaviours: Behaviours,
    published: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    while let Ok(delivery) = consumer.next().await {
        published.lock().unwrap().push(delivery.payload.to_vec());
        let msg: ActivationMessage =
            serde_json::from_slice(&delivery.payload).expect("activation message");
        let content = &msg.content;
        let flag = |k: &str| content.get(k).is_some_and(|v| v == &json!(true));
        if flag("hang") {
            consumer.ack(&delivery.token).await.expect("ack");
            continue;
        }
        let chosen = behaviours
            .lock()
            .unwrap()
            .get(&msg.action.fqn().to_string())
            .cloned();
        let response = match content.get("outcome").and_then(Value::as_str) {
            _ if chosen.is_some() => chosen.expect("checked")(content),
            Some("application") => ActivationResponse::application_error(json!("app failed"), None),
            Some("developer") => ActivationResponse::developer_error("dev failed"),
            Some("whisk") => ActivationResponse::whisk_error("whisk failed"),
            Some("array") => ActivationResponse::success(json!([1, 2, 3]), None),
            _ => {
                let mut result = json!({
                    "echo": content,
                    "action": msg.action.fqn().to_string(),
                    "api_key": msg.api_key_owner.is_some(),
                });
                if let Some(owner) = &msg.api_key_owner {
                    result["api_key_owner"] = json!(owner.namespace);
                }
                ActivationResponse::success(result, Some(10))
            }
        };
        let now = now_millis();
        let mut annotations = Parameters::default();
        annotations.set("path", json!(msg.action.fqn().to_string()));
        annotations.set("kind", json!(msg.action.exec.kind()));
        if msg.cause.is_some() {
            annotations.set("causedBy", json!("sequence"));
        }
        let activation = Activation {
            namespace: EntityPath::namespace_only(msg.user.namespace.clone()),
            name: msg.action.name.clone(),
            subject: msg.user.subject.clone(),
            activation_id: msg.activation_id,
            start: now,
            end: now + 1,
            duration: None,
            cause: msg.cause,
            response,
            logs: vec!["2024-01-01T00:00:00.000000000Z stdout: hello".into()],
            version: msg.action.version,
            publish: false,
            annotations,
        };
        // Stored before the completion, so tests may read the store once answered; the
        // real invoker answers first, which `unstored` stands for (a write not landed yet).
        if msg.store_record && !flag("unstored") {
            ActivationStore::put(store.as_ref(), &activation)
                .await
                .expect("store record");
        }
        if !flag("lose_completion") {
            let completion = CompletionMessage {
                activation_id: msg.activation_id,
                activation,
            };
            bus.notify(
                &completion_subject(&msg.controller),
                serde_json::to_vec(&completion).expect("json"),
            )
            .await
            .expect("notify");
        }
        consumer.ack(&delivery.token).await.expect("ack");
    }
}
