//! The invoker against the real dockerd: images built here `FROM whisk/dockerskeleton` with
//! small shell-script actions, the embedded bus (the `over_nats_` tests: NATS JetStream on a
//! `nats-server` of their own) and the SQLite store, activations published on the bus and
//! their completions awaited as a controller would.
//!
//! Skipped only when `/var/run/docker.sock` is absent. With dockerd present, the skeleton
//! image must exist (`images/build-skeleton.sh`); a missing one fails the tests.
//! Every test uses its own invoker id, so its containers carry their own label and tests
//! can run in parallel; each test checks at the end that no container of its id is left.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::{BuildImageOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use whisk_bus::testing::TestNats;
use whisk_bus::{Bus, EmbeddedBus, NatsBus, NatsBusOptions, Subscription};
use whisk_invoker::{
    ActionNetwork, ContainerFactory, ContainerSpec, DockerFactory, Invoker, InvokerConfig,
    DEFAULT_SOCKET, LABEL_INVOKER,
};
use whisk_store::{ActivationStore, SqliteStore};
use whisk_types::message::{completion_subject, invoker_topic, ACTION_CHANGED_SUBJECT};
use whisk_types::{
    Action, ActionLimits, Activation, ActivationId, ActivationMessage, ActivationResponse,
    CompletionMessage, EntityName, EntityPath, Exec, Identity, KeyValue, Parameters,
    ResponseStatus, TransactionId,
};

const SKELETON: &str = "whisk/dockerskeleton:latest";
/// How long anything may take before a test gives up (never a speed assertion).
const PATIENCE: Duration = Duration::from_secs(90);

// === fixtures ===

/// Whether dockerd's socket exists. Without it a test is skipped with a printed reason on a
/// developer's machine, but fails under CI (`CI` set), where a skipped test would pass
/// without having run.
fn docker_available() -> bool {
    if Path::new(DEFAULT_SOCKET).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{DEFAULT_SOCKET} is absent under CI: start dockerd (scripts/setup-host.sh)"
    );
    eprintln!("skipped: {DEFAULT_SOCKET} is absent");
    false
}

/// A ustar archive of `(name, content, mode)` files: the build context.
fn tar(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content, mode) in files {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let mut field = |at: usize, len: usize, value: u64| {
            let s = format!("{value:0width$o}\0", width = len - 1);
            h[at..at + len].copy_from_slice(s.as_bytes());
        };
        field(100, 8, u64::from(*mode));
        field(108, 8, 0);
        field(116, 8, 0);
        field(124, 12, content.len() as u64);
        field(136, 12, 1_700_000_000);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Builds `rwhisk-invoker-test/<name>:latest` from the skeleton with `exec` as the action;
/// `cmd` replaces the image's command when given.
async fn build_action_image(docker: &Docker, name: &str, exec: &str, cmd: Option<&str>) -> String {
    docker
        .inspect_image(SKELETON)
        .await
        .unwrap_or_else(|e| panic!("{SKELETON} is missing (run images/build-skeleton.sh): {e}"));
    let tag = format!("rwhisk-invoker-test/{name}:latest");
    let mut dockerfile = format!("FROM {SKELETON}\nCOPY exec /action/exec\n");
    if let Some(cmd) = cmd {
        dockerfile.push_str(&format!("CMD {cmd}\n"));
    }
    let context = tar(&[
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("exec", exec.as_bytes(), 0o755),
    ]);
    let options = BuildImageOptions {
        t: Some(tag.clone()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = progress.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(detail) = info.error_detail {
            panic!("building {tag}: {detail:?}");
        }
    }
    tag
}

async fn containers_of(docker: &Docker, invoker: u32) -> Vec<String> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("{LABEL_INVOKER}={invoker}")],
        )])),
        ..Default::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

/// Waits until `invoker` has exactly `n` containers.
async fn assert_containers_eventually(docker: &Docker, invoker: u32, n: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = containers_of(docker, invoker).await;
        if found.len() == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} containers of invoker {invoker}, found {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn script(body: &str) -> String {
    format!("#!/bin/sh\n{body}\n")
}

fn action(name: &str, exec: Exec, limits: ActionLimits) -> Action {
    let mut parameters = Parameters::default();
    parameters.0.push(KeyValue {
        key: "GREETING".into(),
        value: json!("bonjour"),
        init: true,
    });
    Action {
        namespace: EntityPath::parse("guest").unwrap(),
        name: EntityName::new(name).unwrap(),
        exec,
        parameters,
        limits,
        version: Default::default(),
        publish: false,
        annotations: Parameters::default(),
        updated: whisk_types::now_millis(),
    }
}

fn blackbox(image: &str) -> Exec {
    Exec::Blackbox {
        image: image.into(),
        code: None,
        main: None,
        binary: false,
    }
}

/// An invoker on the real dockerd with an embedded bus and store, driven like a controller.
struct Harness {
    id: u32,
    docker: Docker,
    bus: Arc<dyn Bus>,
    store: Arc<SqliteStore>,
    controller: String,
    completions: Box<dyn Subscription>,
    /// Completions received while waiting for another one.
    early: HashMap<ActivationId, Activation>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn invoker_id() -> u32 {
    // Far above the ids real invokers use; distinct per test.
    1_000_000 + (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u32
}

impl Harness {
    async fn start(config: InvokerConfig) -> Self {
        let bus = Arc::new(EmbeddedBus::temporary().unwrap());
        let store = Arc::new(SqliteStore::temporary().unwrap());
        Self::start_with(config, bus, store).await
    }

    async fn start_with(config: InvokerConfig, bus: Arc<dyn Bus>, store: Arc<SqliteStore>) -> Self {
        Self::start_on(config, ActionNetwork::default(), bus, store).await
    }

    /// An invoker whose containers join `network`.
    async fn start_on(
        config: InvokerConfig,
        network: ActionNetwork,
        bus: Arc<dyn Bus>,
        store: Arc<SqliteStore>,
    ) -> Self {
        let factory = DockerFactory::connect(DEFAULT_SOCKET)
            .await
            .unwrap()
            .with_network(network);
        let docker = factory.docker().clone();
        let id = config.id;
        let controller = format!("test{id}");
        let completions = bus
            .subscribe(&completion_subject(&controller))
            .await
            .unwrap();
        let invoker = Invoker::new(
            config,
            Arc::new(factory),
            store.clone(),
            store.clone(),
            bus.clone(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            invoker
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            id,
            docker,
            bus,
            store,
            controller,
            completions,
            early: HashMap::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn config() -> InvokerConfig {
        InvokerConfig {
            id: invoker_id(),
            api_host: "https://api.example.test:3443".into(),
            ..Default::default()
        }
    }

    fn message(&self, action: &Action, content: Value) -> ActivationMessage {
        let mut msg = Self::message_for(&self.controller, action);
        msg.content = content;
        msg
    }

    async fn publish(&self, msg: &ActivationMessage) {
        self.bus
            .publish(&invoker_topic(self.id), serde_json::to_vec(msg).unwrap())
            .await
            .unwrap();
    }

    async fn completion(&mut self, id: ActivationId) -> Activation {
        if let Some(a) = self.early.remove(&id) {
            return a;
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let payload = tokio::time::timeout_at(deadline, self.completions.next())
                .await
                .unwrap_or_else(|_| panic!("no completion for {id}"))
                .unwrap();
            let c: CompletionMessage = serde_json::from_slice(&payload).unwrap();
            assert_eq!(c.activation.activation_id, c.activation_id);
            if c.activation_id == id {
                return c.activation;
            }
            self.early.insert(c.activation_id, c.activation);
        }
    }

    /// Publishes, waits for the completion, and checks that the record stored behind it
    /// (the invoker answers first, then stores) is the one announced.
    async fn invoke(&mut self, msg: &ActivationMessage) -> Activation {
        self.publish(msg).await;
        let a = self.completion(msg.activation_id).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let stored = loop {
            let found = self
                .store
                .get(&msg.user.namespace, &msg.activation_id)
                .await
                .unwrap();
            if let Some(stored) = found {
                break stored;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the record is stored after the completion"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(stored, a);
        a
    }

    /// Stops the invoker and checks that it removed all its containers.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("the invoker stops")
                .unwrap();
        }
        assert_eq!(
            containers_of(&self.docker, self.id).await,
            Vec::<String>::new()
        );
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.task.is_none() {
            return;
        }
        // A failed test: remove its containers on a runtime of our own.
        let id = self.id;
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(f) = DockerFactory::connect(DEFAULT_SOCKET).await {
                    let _ = f.remove_labelled(LABEL_INVOKER, &id.to_string()).await;
                }
            });
        })
        .join();
    }
}

fn annotation<'a>(a: &'a Activation, key: &str) -> Option<&'a Value> {
    a.annotations.get(key)
}

fn assert_log_format(line: &str) {
    // `<timestamp padded to 30> stdout|stderr: text`
    let (ts, rest) = line.split_at(30);
    assert!(ts.trim_end().ends_with('Z'), "{line}");
    assert!(ts.starts_with("20"), "{line}");
    assert!(
        rest.starts_with(" stdout: ") || rest.starts_with(" stderr: "),
        "{line}"
    );
}

fn assert_developer_error(a: &Activation, error: &str) {
    assert_eq!(a.response.status(), ResponseStatus::DeveloperError, "{a:?}");
    assert_eq!(a.response.result, json!({ "error": error }), "{a:?}");
}

// === tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_with_logs_then_warm_reuse() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let image = build_action_image(
        &h.docker,
        "hello",
        &script(
            r#"echo "hello from stdout"
echo "hello from stderr" >&2
echo "api host: $__OW_API_HOST"
echo "action: $__OW_ACTION_NAME activation: $__OW_ACTIVATION_ID"
echo "greeting: $GREETING"
echo "{\"msg\":\"Hello from a shell script!\",\"args\":$1}""#,
        ),
        None,
    )
    .await;
    let act = action("hello", blackbox(&image), ActionLimits::default());

    let first = h.message(&act, json!({"key": "value"}));
    let a = h.invoke(&first).await;
    assert_eq!(a.response.status(), ResponseStatus::Success, "{a:?}");
    let result = json!({"msg": "Hello from a shell script!", "args": {"key": "value"}});
    assert_eq!(a.response.result, result);
    // The raw body: the result line as the proxy sent it (with or without its newline).
    let len = serde_json::to_string(&result).unwrap().len();
    assert!(
        a.response.size == Some(len) || a.response.size == Some(len + 1),
        "{:?}",
        a.response.size
    );
    assert_eq!(a.namespace.to_string(), "guest");
    assert_eq!(a.name.as_str(), "hello");
    assert_eq!(a.subject, "guest-subject");
    assert_eq!(a.version.to_string(), "0.0.1");
    assert!(!a.publish);
    assert!(a.end >= a.start && a.duration == Some(a.end - a.start));
    assert_eq!(annotation(&a, "path"), Some(&json!("guest/hello")));
    assert_eq!(annotation(&a, "kind"), Some(&json!("blackbox")));
    assert_eq!(
        annotation(&a, "limits"),
        Some(&json!({"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}))
    );
    assert_eq!(annotation(&a, "timeout"), Some(&json!(false)));
    assert!(annotation(&a, "waitTime").is_some_and(Value::is_i64));
    assert!(annotation(&a, "initTime").is_some_and(Value::is_i64));

    for line in &a.logs {
        assert_log_format(line);
    }
    let texts: Vec<&str> = a.logs.iter().map(|l| &l[31..]).collect();
    let want = [
        "stdout: hello from stdout".to_owned(),
        "stderr: hello from stderr".to_owned(),
        "stdout: api host: https://api.example.test:3443".to_owned(),
        format!(
            "stdout: action: /guest/hello activation: {}",
            first.activation_id
        ),
        "stdout: greeting: bonjour".to_owned(),
    ];
    for w in &want {
        assert!(texts.contains(&w.as_str()), "{w:?} not in {texts:?}");
    }
    assert!(
        !a.logs.iter().any(|l| l.contains(whisk_protocol::SENTINEL)),
        "{:?}",
        a.logs
    );
    let containers = containers_of(&h.docker, h.id).await;
    assert_eq!(containers.len(), 1);

    // Warm: same container, no initTime, only this activation's logs.
    let second = h.message(&act, json!({"n": 2}));
    let b = h.invoke(&second).await;
    assert_eq!(b.response.status(), ResponseStatus::Success, "{b:?}");
    assert_eq!(b.response.result["args"], json!({"n": 2}));
    assert!(annotation(&b, "initTime").is_none(), "{b:?}");
    assert!(annotation(&b, "waitTime").is_some());
    assert_eq!(containers_of(&h.docker, h.id).await, containers);
    let texts: Vec<&str> = b.logs.iter().map(|l| &l[31..]).collect();
    assert!(
        texts.contains(
            &format!(
                "stdout: action: /guest/hello activation: {}",
                second.activation_id
            )
            .as_str()
        ),
        "{texts:?}"
    );
    assert!(
        !texts
            .iter()
            .any(|t| t.contains(first.activation_id.as_str())),
        "{texts:?}"
    );
    assert_eq!(b.logs.len(), 5, "{:?}", b.logs);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_activations_start_a_second_container() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let image = build_action_image(
        &h.docker,
        "slow",
        &script("sleep 1\necho '{\"ok\":true}'"),
        None,
    )
    .await;
    let act = action("slow", blackbox(&image), ActionLimits::default());
    let one = h.message(&act, json!({}));
    let two = h.message(&act, json!({}));
    h.publish(&one).await;
    h.publish(&two).await;
    for id in [one.activation_id, two.activation_id] {
        let a = h.completion(id).await;
        assert_eq!(a.response.result, json!({"ok": true}), "{a:?}");
        assert!(
            annotation(&a, "initTime").is_some(),
            "both were cold: {a:?}"
        );
    }
    assert_eq!(containers_of(&h.docker, h.id).await.len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_capacity_an_activation_waits_for_the_warm_container() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(InvokerConfig {
        memory_mb: 256,
        ..Harness::config()
    })
    .await;
    let image = build_action_image(
        &h.docker,
        "slow",
        &script("sleep 1\necho '{\"ok\":true}'"),
        None,
    )
    .await;
    let act = action("slow", blackbox(&image), ActionLimits::default());
    let one = h.message(&act, json!({}));
    let two = h.message(&act, json!({}));
    h.publish(&one).await;
    h.publish(&two).await;
    let a = h.completion(one.activation_id).await;
    let b = h.completion(two.activation_id).await;
    assert_eq!(a.response.result, json!({"ok": true}));
    assert_eq!(b.response.result, json!({"ok": true}));
    let cold = [&a, &b]
        .iter()
        .filter(|x| annotation(x, "initTime").is_some())
        .count();
    assert_eq!(cold, 1, "one cold start, then reuse: {a:?} {b:?}");
    assert_eq!(containers_of(&h.docker, h.id).await.len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_error_keeps_only_error_and_the_container() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let image = build_action_image(
        &h.docker,
        "apperror",
        &script("echo '{\"error\":\"bad input\",\"extra\":1}'"),
        None,
    )
    .await;
    let act = action("apperror", blackbox(&image), ActionLimits::default());
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_eq!(
        a.response.status(),
        ResponseStatus::ApplicationError,
        "{a:?}"
    );
    assert_eq!(a.response.result, json!({"error": "bad input"}));
    assert_eq!(containers_of(&h.docker, h.id).await.len(), 1);
    let b = h.invoke(&h.message(&act, json!({}))).await;
    assert!(annotation(&b, "initTime").is_none(), "reused: {b:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_proxy_is_a_developer_error_and_removes_the_container() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    // The shell is PID 1 so the proxy (the action's parent) can be killed.
    let image = build_action_image(
        &h.docker,
        "crash",
        &script("echo 'about to crash'\nkill -9 $PPID\nsleep 5"),
        Some(r#"["/bin/sh", "-c", "/usr/local/bin/whisk-proxy; exit 3"]"#),
    )
    .await;
    let act = action("crash", blackbox(&image), ActionLimits::default());
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_developer_error(
        &a,
        "The action did not produce a valid response and exited unexpectedly.",
    );
    assert!(
        a.logs.last().is_some_and(|l| l.ends_with(
            "stderr: The action did not initialize or run as expected. Log data might be missing."
        )),
        "{:?}",
        a.logs
    );
    assert_containers_eventually(&h.docker, h.id, 0).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_without_output_and_non_json_are_developer_errors() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    // Code given at /init to the skeleton itself (a "native" action).
    let native = |name: &str, code: &str| {
        action(
            name,
            Exec::Blackbox {
                image: SKELETON.into(),
                code: Some(script(code)),
                main: None,
                binary: false,
            },
            ActionLimits::default(),
        )
    };
    let silent = native("silent", "echo 'dying' >&2\nexit 1");
    let a = h.invoke(&h.message(&silent, json!({}))).await;
    assert_developer_error(&a, "The action did not return a dictionary or array.");
    assert!(
        a.logs.iter().any(|l| l.ends_with("stderr: dying")),
        "{:?}",
        a.logs
    );

    let text = native("text", "echo 'this is not json'");
    let b = h.invoke(&h.message(&text, json!({}))).await;
    assert_developer_error(&b, "The action did not return a dictionary or array.");
    assert_containers_eventually(&h.docker, h.id, 0).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_action_times_out_and_its_container_is_removed() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let image = build_action_image(
        &h.docker,
        "hang",
        &script("echo 'going to sleep'\necho 'zzz'\necho 'on stderr' >&2\nsleep 30\necho '{}'"),
        None,
    )
    .await;
    let limits = ActionLimits {
        timeout: 1000,
        ..Default::default()
    };
    let act = action("hang", blackbox(&image), limits);
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_developer_error(
        &a,
        "The action exceeded its time limits of 1000 milliseconds.",
    );
    assert_eq!(annotation(&a, "timeout"), Some(&json!(true)));
    // Lines written before the timeout are kept (the proxy holds back the last stdout
    // line, which could have been the result).
    assert!(
        a.logs.iter().any(|l| l.ends_with("stdout: going to sleep")),
        "{:?}",
        a.logs
    );
    assert!(
        a.logs.iter().any(|l| l.ends_with("stderr: on stderr")),
        "{:?}",
        a.logs
    );
    assert!(a.logs.last().is_some_and(|l| l.ends_with(
        "The action did not initialize or run as expected. Log data might be missing."
    )));
    assert_containers_eventually(&h.docker, h.id, 0).await;

    // The next activation gets a fresh container and works as far as it can.
    let b = h.invoke(&h.message(&act, json!({}))).await;
    assert!(annotation(&b, "initTime").is_some());
    assert_eq!(b.response.status(), ResponseStatus::DeveloperError);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failure_is_a_developer_error() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let act = action(
        "badzip",
        Exec::Blackbox {
            image: SKELETON.into(),
            code: Some("UEsDBAoAAAAAAA==".into()),
            main: None,
            binary: true,
        },
        ActionLimits::default(),
    );
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_eq!(a.response.status(), ResponseStatus::DeveloperError, "{a:?}");
    assert!(a.response.result["error"].is_string(), "{a:?}");
    assert!(annotation(&a, "initTime").is_some());
    assert_containers_eventually(&h.docker, h.id, 0).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_is_a_developer_error() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let act = action(
        "ghost",
        blackbox("rwhisk-invoker-test/does-not-exist:nope"),
        ActionLimits::default(),
    );
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_developer_error(
        &a,
        "Failed to pull container image 'rwhisk-invoker-test/does-not-exist:nope'.",
    );
    assert!(a.logs.is_empty());
    assert!(annotation(&a, "waitTime").is_some());
    assert!(annotation(&a, "initTime").is_none());
    assert_eq!(containers_of(&h.docker, h.id).await.len(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_truncated_at_the_limit() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    // 2500 lines of 500 characters: about 1.2 MB against a 1 MB limit.
    let image = build_action_image(
        &h.docker,
        "chatty",
        &script(
            r#"line=$(printf '%0500d' 0)
i=0
while [ $i -lt 2500 ]; do echo "$line"; i=$((i+1)); done
echo '{"done":true}'"#,
        ),
        None,
    )
    .await;
    let limits = ActionLimits {
        logs: 1,
        ..Default::default()
    };
    let act = action("chatty", blackbox(&image), limits);
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_eq!(a.response.result, json!({"done": true}), "{:?}", a.response);
    let kept = 1024 * 1024 / 500;
    assert_eq!(a.logs.len(), kept + 1);
    assert!(a.logs[..kept].iter().all(|l| l.ends_with(&"0".repeat(500))));
    assert!(a.logs[kept].ends_with(
        " stderr: Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes."
    ), "{}", a.logs[kept]);
    // The container stays in step: the next activation's logs are its own.
    let b = h.invoke(&h.message(&act, json!({}))).await;
    assert!(annotation(&b, "initTime").is_none());
    assert_eq!(b.logs.len(), kept + 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_removed_at_start_and_changed_actions_retired() {
    if !docker_available() {
        return;
    }
    let config = Harness::config();
    let id = config.id;
    let factory = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
    let leftover = factory
        .create(&ContainerSpec {
            name: format!("rwhisk{id}_leftover"),
            kind: "blackbox".into(),
            image: SKELETON.into(),
            memory_mb: 128,
            pids_limit: 64,
            cpu_shares: 128,
            env: vec![],
            labels: vec![(LABEL_INVOKER.into(), id.to_string())],
        })
        .await
        .unwrap();
    assert_eq!(
        containers_of(factory.docker(), id).await,
        vec![leftover.id.clone()]
    );

    let mut h = Harness::start(config).await;
    let image =
        build_action_image(&h.docker, "apperror", &script("echo '{\"error\":1}'"), None).await;
    let act = action("retired", blackbox(&image), ActionLimits::default());
    h.invoke(&h.message(&act, json!({}))).await;
    let now = containers_of(&h.docker, id).await;
    assert_eq!(now.len(), 1);
    assert!(!now.contains(&leftover.id), "the leftover is gone");

    h.bus
        .notify(ACTION_CHANGED_SUBJECT, b"/guest/retired".to_vec())
        .await
        .unwrap();
    assert_containers_eventually(&h.docker, id, 0).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_activation_with_a_record_is_only_acknowledged() {
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    let config = Harness::config();
    let id = config.id;
    let store = Arc::new(SqliteStore::temporary().unwrap());
    let act = action("done", blackbox(SKELETON), ActionLimits::default());
    let msg = {
        let bus = EmbeddedBus::open(&path).unwrap();
        let controller = format!("test{id}");
        let mut msg = Harness::message_for(&controller, &act);
        msg.received_at = 0;
        bus.publish(&invoker_topic(id), serde_json::to_vec(&msg).unwrap())
            .await
            .unwrap();
        // A consumer takes it and "crashes" after storing the record.
        let consumer = bus.consume(&invoker_topic(id)).await.unwrap();
        consumer.next().await.unwrap();
        let mut record = stored_record(&act, &msg);
        record.response = ActivationResponse::success(json!({"stored": true}), Some(15));
        assert!(store.put(&record).await.unwrap());
        msg
    };
    let bus = Arc::new(EmbeddedBus::open(&path).unwrap());
    let mut h = Harness::start_with(config, bus, store).await;
    let a = h.completion(msg.activation_id).await;
    assert_eq!(a.response.result, json!({"stored": true}));
    assert_eq!(containers_of(&h.docker, id).await.len(), 0, "nothing ran");
    let bus = h.bus.clone();
    h.stop().await;
    // Acknowledged: a new consumer gets nothing.
    let consumer = bus.consume(&invoker_topic(id)).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), consumer.next())
            .await
            .is_err(),
        "the message was acknowledged"
    );
}

/// Over NATS JetStream: an invoker took the message, stored the record and died before
/// its ack; after the ack wait the message comes to the next invoker, which finds the
/// record, only acknowledges it and tells the controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_nats_a_redelivered_activation_with_a_record_is_only_acknowledged() {
    if !docker_available() {
        return;
    }
    let nats = TestNats::start();
    let options = NatsBusOptions {
        ack_wait: Duration::from_secs(1),
        ..Default::default()
    };
    let config = Harness::config();
    let id = config.id;
    let store = Arc::new(SqliteStore::temporary().unwrap());
    let act = action("done", blackbox(SKELETON), ActionLimits::default());
    let msg = {
        let bus = NatsBus::connect(&nats.url(), options.clone())
            .await
            .unwrap();
        let mut msg = Harness::message_for(&format!("test{id}"), &act);
        msg.received_at = 0;
        bus.publish(&invoker_topic(id), serde_json::to_vec(&msg).unwrap())
            .await
            .unwrap();
        let consumer = bus.consume(&invoker_topic(id)).await.unwrap();
        consumer.next().await.unwrap();
        let mut record = stored_record(&act, &msg);
        record.response = ActivationResponse::success(json!({"stored": true}), Some(15));
        assert!(store.put(&record).await.unwrap());
        // The first invoker's connection dies with it, without an ack.
        msg
    };
    let bus: Arc<dyn Bus> = Arc::new(NatsBus::connect(&nats.url(), options).await.unwrap());
    let mut h = Harness::start_with(config, Arc::clone(&bus), store).await;
    let a = h.completion(msg.activation_id).await;
    assert_eq!(a.response.result, json!({"stored": true}));
    assert_eq!(containers_of(&h.docker, id).await.len(), 0, "nothing ran");
    h.stop().await;
    assert_eq!(bus.depth(&invoker_topic(id)).await.unwrap(), Some(0));
}

/// The record an invoker stores for `msg` (its result set by the caller).
fn stored_record(act: &Action, msg: &ActivationMessage) -> Activation {
    Activation {
        namespace: EntityPath::parse("guest").unwrap(),
        name: act.name.clone(),
        subject: "guest-subject".into(),
        activation_id: msg.activation_id,
        start: 1,
        end: 2,
        duration: Some(1),
        cause: None,
        response: ActivationResponse::success(json!({}), Some(2)),
        logs: vec![],
        version: act.version,
        publish: false,
        annotations: Parameters::default(),
    }
}

impl Harness {
    fn message_for(controller: &str, action: &Action) -> ActivationMessage {
        ActivationMessage {
            transaction_id: TransactionId::generate(),
            activation_id: ActivationId::generate(),
            action: action.clone(),
            user: Identity {
                subject: "guest-subject".into(),
                namespace: EntityName::new("guest").unwrap(),
                uuid: uuid::Uuid::new_v4(),
            },
            api_key_owner: None,
            code: None,
            content: json!({}),
            blocking: true,
            controller: controller.into(),
            received_at: whisk_types::now_millis(),
            cause: None,
            binding: None,
            store_record: true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_exiting_or_never_listening_fails_init() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let exits = build_action_image(
        &h.docker,
        "exits",
        &script("echo '{}'"),
        Some(r#"["/bin/sh", "-c", "echo 'cannot start'; exit 1"]"#),
    )
    .await;
    let act = action("exits", blackbox(&exits), ActionLimits::default());
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_developer_error(&a, "The action did not initialize and exited unexpectedly.");
    assert_eq!(annotation(&a, "timeout"), Some(&json!(false)));
    assert!(
        a.logs.iter().any(|l| l.ends_with("stdout: cannot start")),
        "{:?}",
        a.logs
    );

    let deaf = build_action_image(
        &h.docker,
        "deaf",
        &script("echo '{}'"),
        Some(r#"["/bin/sleep", "60"]"#),
    )
    .await;
    let limits = ActionLimits {
        timeout: 1000,
        ..Default::default()
    };
    let act = action("deaf", blackbox(&deaf), limits);
    let b = h.invoke(&h.message(&act, json!({}))).await;
    assert_developer_error(
        &b,
        "The action exceeded its time limits of 1000 milliseconds during initialization.",
    );
    assert_eq!(annotation(&b, "timeout"), Some(&json!(true)));
    assert!(annotation(&b, "initTime").is_some());
    assert_containers_eventually(&h.docker, h.id, 0).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_exhaustion_is_reported() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    // Holds about 300 MB in a shell variable against a 128 MB limit.
    let image = build_action_image(
        &h.docker,
        "hungry",
        &script("x=$(head -c 300000000 /dev/zero | tr '\\0' a)\necho '{}'"),
        None,
    )
    .await;
    let limits = ActionLimits {
        memory: 128,
        ..Default::default()
    };
    let act = action("hungry", blackbox(&image), limits);
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_developer_error(&a, "The action exhausted its memory and was aborted.");
    assert_containers_eventually(&h.docker, h.id, 0).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_running_activations_finish() {
    if !docker_available() {
        return;
    }
    let h = Harness::start(Harness::config()).await;
    let image = build_action_image(
        &h.docker,
        "slow",
        &script("sleep 1\necho '{\"ok\":true}'"),
        None,
    )
    .await;
    let act = action("slow", blackbox(&image), ActionLimits::default());
    let msg = h.message(&act, json!({}));
    h.publish(&msg).await;
    assert_containers_eventually(&h.docker, h.id, 1).await;
    let store = h.store.clone();
    h.stop().await;
    let a = store
        .get(&msg.user.namespace, &msg.activation_id)
        .await
        .unwrap()
        .expect("finished within the grace period and stored");
    assert_eq!(a.response.result, json!({"ok": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_abandons_activations_past_the_grace_period() {
    if !docker_available() {
        return;
    }
    let h = Harness::start(InvokerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..Harness::config()
    })
    .await;
    let image = build_action_image(
        &h.docker,
        "hang",
        &script("echo 'going to sleep'\necho 'zzz'\necho 'on stderr' >&2\nsleep 30\necho '{}'"),
        None,
    )
    .await;
    let act = action("hang", blackbox(&image), ActionLimits::default());
    let msg = h.message(&act, json!({}));
    h.publish(&msg).await;
    assert_containers_eventually(&h.docker, h.id, 1).await;
    let (store, bus, id) = (h.store.clone(), h.bus.clone(), h.id);
    h.stop().await;
    assert!(store
        .get(&msg.user.namespace, &msg.activation_id)
        .await
        .unwrap()
        .is_none());
    // Not acknowledged: the next consumer gets it again.
    let consumer = bus.consume(&invoker_topic(id)).await.unwrap();
    let again = tokio::time::timeout(PATIENCE, consumer.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.redeliveries, 1);
    let back: ActivationMessage = serde_json::from_slice(&again.payload).unwrap();
    assert_eq!(back.activation_id, msg.activation_id);
}

// === isolation and hostile actions ===

/// A shell-script action run by the skeleton itself (its code given at `/init`).
fn shell(name: &str, body: &str, limits: ActionLimits) -> Action {
    let exec = Exec::Blackbox {
        image: SKELETON.into(),
        code: Some(script(body)),
        main: None,
        binary: false,
    };
    action(name, exec, limits)
}

/// `msg` as invoked by namespace `ns`.
fn by(ns: &str, mut msg: ActivationMessage) -> ActivationMessage {
    msg.user.namespace = EntityName::new(ns).unwrap();
    msg.user.subject = format!("{ns}-subject");
    msg
}

/// One request to `addr` with an optional `Authorization` value; the response's status,
/// or `None` when no response came.
async fn post_status(
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.ok()?;
        let text = String::from_utf8_lossy(&reply);
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .ok()
        .flatten()
}

/// An action that echoes, invoked by namespace `other`: succeeds while anything else runs.
async fn assert_others_are_served(h: &mut Harness) {
    let echo = shell(
        "bystander",
        r#"echo "{\"ok\":true}""#,
        ActionLimits::default(),
    );
    let a = h.invoke(&by("other", h.message(&echo, json!({})))).await;
    assert_eq!(a.response.status(), ResponseStatus::Success, "{a:?}");
    assert_eq!(a.response.result, json!({"ok": true}));
}

/// The address of `container` on the network it is attached to (a bridge address).
async fn bridge_ip(docker: &Docker, container: &str) -> String {
    let info = docker
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    info.network_settings
        .and_then(|n| n.networks)
        .into_iter()
        .flatten()
        .find_map(|(_, e)| e.ip_address.filter(|ip| !ip.is_empty()))
        .unwrap_or_else(|| panic!("{container} has no bridge address"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_refuses_requests_without_the_containers_token() {
    if !docker_available() {
        return;
    }
    let factory = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
    let id = invoker_id();
    let handle = factory
        .create(&ContainerSpec {
            name: format!("rwhisk{id}_tokened"),
            kind: "blackbox".into(),
            image: SKELETON.into(),
            memory_mb: 128,
            pids_limit: 64,
            cpu_shares: 128,
            env: vec![],
            labels: vec![(LABEL_INVOKER.into(), id.to_string())],
        })
        .await
        .unwrap();
    let init =
        json!({"value": {"code": script("echo '{\"pwned\":true}'"), "binary": false}}).to_string();
    // The container may still be starting: wait until it answers at all.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = post_status(handle.addr, "/init", None, &init).await {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the container never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 401, "an /init without the token");
    let wrong = whisk_protocol::authorization(&whisk_invoker::new_token());
    assert_eq!(
        post_status(handle.addr, "/init", Some(&wrong), &init).await,
        Some(403)
    );
    assert_eq!(
        post_status(handle.addr, "/run", None, r#"{"value":{}}"#).await,
        Some(401)
    );
    // The holder of the token is served.
    let right = whisk_protocol::authorization(&handle.token);
    assert_eq!(
        post_status(handle.addr, "/init", Some(&right), &init).await,
        Some(200)
    );
    factory.destroy(&handle.id).await.unwrap();
    assert_eq!(
        containers_of(factory.docker(), id).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_cannot_reach_another_container_or_a_stem_cell() {
    if !docker_available() {
        return;
    }
    // A stem cell of a made-up kind served by the skeleton image: a container no action
    // has touched yet, waiting for its `/init`.
    let config = InvokerConfig {
        runtime_images: HashMap::from([("shell:1".to_owned(), SKELETON.to_owned())]),
        stem_cells: vec![whisk_invoker::StemCells {
            kind: "shell:1".into(),
            count: 1,
            memory_mb: 128,
        }],
        ..Harness::config()
    };
    let mut h = Harness::start(config).await;
    let victim = shell(
        "victim",
        r#"echo "{\"victim\":true}""#,
        ActionLimits::default(),
    );
    let a = h.invoke(&h.message(&victim, json!({}))).await;
    assert_eq!(a.response.result, json!({"victim": true}));
    // Both containers now exist: the victim's (warm) and the stem cell.
    assert_containers_eventually(&h.docker, h.id, 2).await;
    let mut targets = Vec::new();
    for id in containers_of(&h.docker, h.id).await {
        targets.push(bridge_ip(&h.docker, &id).await);
    }
    // The attacker tries one bounded /init on each target's proxy port; any answer, even a
    // refusal, means it reached the port.
    let attacker = shell(
        "attacker",
        r##"body='{"value":{"code":"#!/bin/sh\necho {}","binary":false}}'
for ip in $(echo "$1" | sed 's/.*"targets":"\([^"]*\)".*/\1/'); do
  # busybox's wget crashes in these static images; nc speaks the HTTP by hand.
  reply=$( (printf 'POST /init HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' ${#body} "$body"; sleep 3) | nc -w 3 "$ip" 8080 | head -n 1)
  echo "tried $ip: $reply"
  [ -z "$reply" ] || reached="$reached $ip"
done
echo "{\"reached\":\"$reached\"}""##,
        ActionLimits::default(),
    );
    let b = h
        .invoke(&by(
            "mallory",
            h.message(&attacker, json!({"targets": targets.join(" ")})),
        ))
        .await;
    assert_eq!(b.response.status(), ResponseStatus::Success, "{b:?}");
    assert_eq!(b.response.result, json!({"reached": ""}), "{:?}", b.logs);
    let tried = b
        .logs
        .iter()
        .filter(|l| l.contains("stdout: tried "))
        .count();
    assert_eq!(tried, 2, "{:?}", b.logs);
    // The victim is unharmed.
    let c = h.invoke(&h.message(&victim, json!({}))).await;
    assert_eq!(c.response.result, json!({"victim": true}));
    assert!(annotation(&c, "initTime").is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_without_capabilities_and_never_see_their_token() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let probe = shell(
        "probe",
        r#"cap=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
uid=$(id -u)
token=$(env | grep -c WHISK_PROXY_TOKEN)
environ=$(tr '\0' '\n' < /proc/1/environ 2>/dev/null | grep -c WHISK_PROXY_TOKEN)
echo "{\"cap\":\"$cap\",\"uid\":\"$uid\",\"token\":\"$token\",\"environ\":\"$environ\"}""#,
        ActionLimits::default(),
    );
    let a = h.invoke(&h.message(&probe, json!({}))).await;
    assert_eq!(
        a.response.result,
        json!({"cap": "0000000000000000", "uid": "1000", "token": "0", "environ": "0"}),
        "{a:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_containers_have_a_read_only_root_and_a_writable_tmp() {
    if !docker_available() {
        return;
    }
    const NODE: &str = "whisk/action-nodejs:18";
    let docker = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
    docker
        .docker()
        .inspect_image(NODE)
        .await
        .unwrap_or_else(|e| panic!("{NODE} is missing (run images/build-runtimes.sh): {e}"));
    let config = InvokerConfig {
        runtime_images: HashMap::from([("nodejs:18".to_owned(), NODE.to_owned())]),
        ..Harness::config()
    };
    let mut h = Harness::start(config).await;
    let code = r#"
const fs = require('fs');
function writable(path) {
  try { fs.writeFileSync(path, 'x'); return true; } catch (e) { return false; }
}
function main() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return {
    cap: /CapEff:\s*(\S+)/.exec(status)[1],
    uid: process.getuid(),
    root: writable('/probe'),
    usr: writable('/usr/probe'),
    tmp: writable('/tmp/probe'),
    token: Object.keys(process.env).some(k => k.includes('PROXY_TOKEN')),
  };
}
"#;
    let exec = Exec::Code {
        kind: "nodejs:18".into(),
        code: code.into(),
        main: None,
        binary: false,
    };
    let act = action("readonly", exec, ActionLimits::default());
    let a = h.invoke(&h.message(&act, json!({}))).await;
    assert_eq!(
        a.response.result,
        json!({"cap": "0000000000000000", "uid": 1000, "root": false, "usr": false, "tmp": true, "token": false}),
        "{a:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_containers_are_not_shared_across_namespaces() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    // Remembers, in its container, who ran it last.
    let shared = shell(
        "shared",
        r#"last=$(cat /tmp/last 2>/dev/null || echo nobody)
echo "$__OW_NAMESPACE" > /tmp/last
echo "{\"last\":\"$last\"}""#,
        ActionLimits::default(),
    );
    let first = h.invoke(&by("alice", h.message(&shared, json!({})))).await;
    assert_eq!(first.response.result, json!({"last": "nobody"}));
    let other = h.invoke(&by("bob", h.message(&shared, json!({})))).await;
    assert_eq!(
        other.response.result,
        json!({"last": "nobody"}),
        "bob saw alice's state"
    );
    assert!(annotation(&other, "initTime").is_some());
    // Each namespace still reuses its own warm container.
    let again = h.invoke(&by("alice", h.message(&shared, json!({})))).await;
    assert_eq!(again.response.result, json!({"last": "alice"}));
    assert!(annotation(&again, "initTime").is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_actions_end_in_errors_while_other_namespaces_are_served() {
    if !docker_available() {
        return;
    }
    let config = InvokerConfig {
        pids_limit: 64,
        ..Harness::config()
    };
    let mut h = Harness::start(config).await;
    let short = ActionLimits {
        timeout: 3000,
        ..Default::default()
    };

    // A fork bomb stops at the pids limit; the timeout ends it.
    let bomb = shell("bomb", "bomb() { bomb | bomb & }\nbomb\nwait", short);
    let a = h.invoke(&h.message(&bomb, json!({}))).await;
    assert_eq!(a.response.status(), ResponseStatus::DeveloperError, "{a:?}");
    assert_others_are_served(&mut h).await;

    // A memory hog is stopped by the memory limit, and the record says so.
    let hog = shell(
        "hog",
        "x=$(head -c 300000000 /dev/zero | tr '\\0' a)\necho '{}'",
        ActionLimits {
            memory: 128,
            ..Default::default()
        },
    );
    let a = h.invoke(&h.message(&hog, json!({}))).await;
    assert_developer_error(&a, "The action exhausted its memory and was aborted.");
    assert_others_are_served(&mut h).await;

    // An endless loop ends at its time limit.
    let spin = shell("spin", "while :; do :; done", short);
    let a = h.invoke(&h.message(&spin, json!({}))).await;
    assert_developer_error(
        &a,
        "The action exceeded its time limits of 3000 milliseconds.",
    );
    assert_others_are_served(&mut h).await;

    // 100 MB of logs: kept up to the limit with a note, the record stored, the result there.
    let chatty = shell(
        "flood",
        "yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678 | head -c 100000000\necho '{\"done\":true}'",
        ActionLimits {
            logs: 1,
            ..Default::default()
        },
    );
    let a = h.invoke(&h.message(&chatty, json!({}))).await;
    assert_eq!(a.response.result, json!({"done": true}), "{:?}", a.response);
    let note =
        "Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes.";
    // The note comes where the limit was reached. Reading the rest of the 100 MB to the
    // sentinel may outlast the log wait: then the container is removed and a second note
    // says logs may be missing.
    assert!(
        a.logs.iter().rev().take(2).any(|l| l.ends_with(note)),
        "{:?}",
        a.logs.iter().rev().take(2).collect::<Vec<_>>()
    );
    let kept: usize = a.logs.iter().map(String::len).sum();
    assert!(kept < 2 * 1024 * 1024, "{kept} bytes of logs kept");
    assert_others_are_served(&mut h).await;

    // A result over the limit is an application error, as in OpenWhisk.
    let huge = shell(
        "huge",
        "printf '{\"x\":\"'\nhead -c 3000000 /dev/zero | tr '\\0' a\necho '\"}'",
        ActionLimits::default(),
    );
    let a = h.invoke(&h.message(&huge, json!({}))).await;
    assert_eq!(
        a.response.status(),
        ResponseStatus::ApplicationError,
        "{:?}",
        a.response.status()
    );
    let error = a.response.result["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("The action produced a response that exceeded the allowed length: "),
        "{}",
        &error[..error.len().min(200)]
    );
    assert_others_are_served(&mut h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_network_actions_reach_nothing_and_still_run() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start_on(
        Harness::config(),
        ActionNetwork::None,
        Arc::new(EmbeddedBus::temporary().unwrap()),
        Arc::new(SqliteStore::temporary().unwrap()),
    )
    .await;
    // Its only interface is loopback; cold start, warm reuse and logs work through the
    // container's namespace.
    let probe = shell(
        "alone",
        r#"echo "interfaces: $(ls /sys/class/net | tr '\n' ' ')"
echo "{\"interfaces\":\"$(ls /sys/class/net | tr '\n' ' ')\"}""#,
        ActionLimits::default(),
    );
    let a = h.invoke(&h.message(&probe, json!({}))).await;
    assert_eq!(a.response.result, json!({"interfaces": "lo "}), "{a:?}");
    assert!(
        a.logs
            .iter()
            .any(|l| l.ends_with("stdout: interfaces: lo ")),
        "{:?}",
        a.logs
    );
    let b = h.invoke(&h.message(&probe, json!({}))).await;
    assert_eq!(b.response.result, json!({"interfaces": "lo "}));
    assert!(annotation(&b, "initTime").is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_network_removed_while_running_is_made_again() {
    if !docker_available() {
        return;
    }
    // A network of this test's own, so removing it disturbs no one else.
    let network = format!("rwhisk-test-{}", invoker_id());
    let mut h = Harness::start_on(
        Harness::config(),
        ActionNetwork::Isolated(network.clone()),
        Arc::new(EmbeddedBus::temporary().unwrap()),
        Arc::new(SqliteStore::temporary().unwrap()),
    )
    .await;
    let echo = shell("echo", r#"echo "{\"ok\":true}""#, ActionLimits::default());
    let a = h.invoke(&h.message(&echo, json!({}))).await;
    assert_eq!(a.response.result, json!({"ok": true}), "{a:?}");
    // What `docker network prune` does once no container uses it.
    let echo2 = shell("echo2", r#"echo "{\"ok\":2}""#, ActionLimits::default());
    for id in containers_of(&h.docker, h.id).await {
        let removed = h
            .docker
            .remove_container(
                &id,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        // The invoker may be removing it too: its pause failed as it was killed.
        if let Err(e) = removed {
            assert!(
                matches!(
                    e,
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 404 | 409,
                        ..
                    }
                ),
                "{e}"
            );
        }
    }
    h.docker.remove_network(&network).await.unwrap();
    let b = h.invoke(&h.message(&echo2, json!({}))).await;
    assert_eq!(b.response.result, json!({"ok": 2}), "{b:?}");
    let net = h.docker.inspect_network(&network, None).await.unwrap();
    assert_eq!(
        net.options
            .unwrap_or_default()
            .get("com.docker.network.bridge.enable_icc"),
        Some(&"false".to_owned())
    );
    h.stop().await;
    let _ = remove_network(&network).await;
}

/// Removes a network a test made.
async fn remove_network(network: &str) -> Result<(), bollard::errors::Error> {
    let docker = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
    docker.docker().remove_network(network).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_minted_for_the_owner_and_this_activation_only() {
    if !docker_available() {
        return;
    }
    let config = Harness::config();
    let signing = config.signing_key.clone();
    let mut h = Harness::start(config).await;
    let image = build_action_image(
        &h.docker,
        "keyecho",
        &script(r#"echo "{\"key\":\"$__OW_API_KEY\"}""#),
        None,
    )
    .await;
    let act = action("keyecho", blackbox(&image), ActionLimits::default());
    let owner = Identity {
        subject: "owner-subject".into(),
        namespace: EntityName::new("guest").unwrap(),
        uuid: uuid::Uuid::new_v4(),
    };

    let mut msg = h.message(&act, json!({}));
    msg.api_key_owner = Some(owner.clone());
    let a = h.invoke(&msg).await;
    assert_eq!(a.response.status(), ResponseStatus::Success, "{a:?}");
    let text = a.response.result["key"].as_str().unwrap();
    let key = whisk_types::AuthKey::parse(text).expect("a uuid:key");
    let grant = signing
        .verify(&key)
        .expect("minted with the shared signing key");
    assert_eq!(grant.owner, owner.uuid);
    assert_eq!(key.uuid, owner.uuid);
    assert_eq!(grant.activation_id, msg.activation_id);
    assert!(grant.expires_at >= a.start, "{grant:?} {a:?}");
    assert!(
        grant.expires_at <= a.start + 60_000 + 5_000,
        "{grant:?} {a:?}"
    );
    assert!(!serde_json::to_string(&msg).unwrap().contains(&key.secret));

    // Warm: the next activation gets a key of its own.
    let mut next = h.message(&act, json!({}));
    next.api_key_owner = Some(owner);
    let b = h.invoke(&next).await;
    let key_b = whisk_types::AuthKey::parse(b.response.result["key"].as_str().unwrap()).unwrap();
    assert_ne!(key_b, key);
    assert_eq!(
        signing.verify(&key_b).unwrap().activation_id,
        next.activation_id
    );

    // No owner (provide-api-key false): no key.
    let c = h.invoke(&h.message(&act, json!({}))).await;
    assert_eq!(c.response.result, json!({"key": ""}));
    h.stop().await;
}
// === delivery: leases, duplicates, the container wait, code by digest ===

/// A bus whose lease (ack wait) is one second.
fn short_lease_bus() -> Arc<EmbeddedBus> {
    Arc::new(
        EmbeddedBus::temporary_with(whisk_bus::embedded::EmbeddedBusOptions {
            ack_wait: Duration::from_secs(1),
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        })
        .unwrap(),
    )
}

impl Harness {
    /// Completions of `id` that arrive within `window` (they are not kept).
    async fn count_completions(&mut self, id: ActivationId, window: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + window;
        let mut n = usize::from(self.early.remove(&id).is_some());
        while let Ok(payload) = tokio::time::timeout_at(deadline, self.completions.next()).await {
            let c: CompletionMessage = serde_json::from_slice(&payload.unwrap()).unwrap();
            if c.activation_id == id {
                n += 1;
            }
        }
        n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_longer_than_the_bus_lease_runs_once() {
    if !docker_available() {
        return;
    }
    activation_longer_than_the_lease_runs_once(short_lease_bus()).await;
}

/// The same over NATS JetStream (a `nats-server` of the test's own): the invoker extends
/// the message ("in progress") while the action runs, stores the record, then acknowledges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_nats_an_activation_longer_than_the_bus_lease_runs_once() {
    if !docker_available() {
        return;
    }
    let nats = TestNats::start();
    let bus = NatsBus::connect(
        &nats.url(),
        NatsBusOptions {
            ack_wait: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    activation_longer_than_the_lease_runs_once(Arc::new(bus)).await;
}

/// An action that runs four leases long completes once, in one container, and leaves
/// nothing on the bus.
async fn activation_longer_than_the_lease_runs_once(bus: Arc<dyn Bus>) {
    let store = Arc::new(SqliteStore::temporary().unwrap());
    let mut h = Harness::start_with(Harness::config(), bus, store).await;
    // Runs four leases long, and says so once per run in its log.
    let exec = Exec::Blackbox {
        image: SKELETON.into(),
        code: Some(script("echo run >&2\nsleep 4\necho '{\"ok\":true}'")),
        main: None,
        binary: false,
    };
    let act = action("long", exec, ActionLimits::default());
    let msg = h.message(&act, json!({}));
    let a = h.invoke(&msg).await;
    assert_eq!(a.response.result, json!({"ok": true}), "{a:?}");
    assert_eq!(a.logs.len(), 1, "{a:?}");
    // A second run would need a second container (the first was busy) and would announce
    // a second completion; give a late redelivery a few leases to show up.
    assert_eq!(
        h.count_completions(msg.activation_id, Duration::from_secs(3))
            .await,
        0,
        "the activation completed again"
    );
    assert_eq!(
        containers_of(&h.docker, h.id).await.len(),
        1,
        "the activation ran more than once"
    );
    let (bus, id) = (h.bus.clone(), h.id);
    h.stop().await;
    // Acknowledged once: nothing is left to deliver.
    let consumer = bus.consume(&invoker_topic(id)).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), consumer.next())
            .await
            .is_err(),
        "the message was left on the bus"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_container_ends_in_a_whisk_error_at_the_deadline() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(InvokerConfig {
        memory_mb: 256,
        container_wait: Duration::from_secs(1),
        ..Harness::config()
    })
    .await;
    let hog = action(
        "hog",
        Exec::Blackbox {
            image: SKELETON.into(),
            code: Some(script("sleep 6\necho '{\"ok\":true}'")),
            main: None,
            binary: false,
        },
        ActionLimits::default(),
    );
    let other = action(
        "starved",
        Exec::Blackbox {
            image: SKELETON.into(),
            code: Some(script("echo '{\"ok\":true}'")),
            main: None,
            binary: false,
        },
        ActionLimits::default(),
    );
    let first = h.message(&hog, json!({}));
    h.publish(&first).await;
    assert_containers_eventually(&h.docker, h.id, 1).await;
    let second = h.message(&other, json!({}));
    let b = h.invoke(&second).await;
    assert_eq!(b.response.status(), ResponseStatus::WhiskError, "{b:?}");
    assert_eq!(
        b.response.result,
        json!({"error": whisk_invoker::outcome::container_wait_expired(Duration::from_secs(1))})
    );
    let a = h.completion(first.activation_id).await;
    assert_eq!(a.response.result, json!({"ok": true}), "{a:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_is_fetched_by_digest_and_an_update_does_not_change_what_runs() {
    if !docker_available() {
        return;
    }
    use whisk_store::actions::{get_action, put_action};
    use whisk_store::{CodeStore, Collection, EntityStore};

    let mut h = Harness::start(Harness::config()).await;
    let exec = |v: &str| Exec::Blackbox {
        image: SKELETON.into(),
        code: Some(script(&format!("echo '{{\"version\":\"{v}\"}}'"))),
        main: None,
        binary: false,
    };
    let store = h.store.clone();
    let (v1, rev) = put_action(
        store.as_ref(),
        &action("racy", exec("v1"), ActionLimits::default()),
        None,
    )
    .await
    .unwrap();
    // The message of an invoke of v1, as the controller makes it: no code, a digest.
    let (stripped, code) = v1.split_code();
    let mut one = h.message(&stripped, json!({}));
    one.code = code;
    let payload = serde_json::to_string(&one).unwrap();
    assert!(
        !payload.contains("echo"),
        "the message carries no code: {payload}"
    );

    // The action is updated before the invoker takes the message.
    let mut changed = v1.clone();
    changed.exec = exec("v2");
    changed.version = changed.version.bump_patch();
    let (v2, rev2) = put_action(store.as_ref(), &changed, Some(rev))
        .await
        .unwrap();
    let a = h.invoke(&one).await;
    assert_eq!(a.response.result, json!({"version": "v1"}), "{a:?}");
    assert_eq!(
        a.version, v1.version,
        "the record names the version that ran"
    );

    let (stripped, code) = v2.split_code();
    let mut two = h.message(&stripped, json!({}));
    two.code = code;
    let b = h.invoke(&two).await;
    assert_eq!(b.response.result, json!({"version": "v2"}), "{b:?}");
    assert!(
        annotation(&b, "initTime").is_some(),
        "a new revision, a new container"
    );

    // A message whose action is deleted (and its code collected) before the invoker
    // takes it fails as OpenWhisk fails an action deleted while invoked. (Code the
    // invoker fetched before stays cached: a digest's code never changes.)
    let mut v3 = v2.clone();
    v3.exec = exec("v3");
    v3.version = v3.version.bump_patch();
    let (v3, rev3) = put_action(store.as_ref(), &v3, Some(rev2)).await.unwrap();
    let (stripped, code) = v3.split_code();
    let mut gone = h.message(&stripped, json!({}));
    gone.code = code;
    let (_, current) = get_action(store.as_ref(), &v3.fqn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current, rev3);
    assert!(store
        .delete(Collection::Actions, &v3.fqn(), rev3)
        .await
        .unwrap());
    store
        .collect_code(whisk_types::now_millis() + 1)
        .await
        .unwrap();
    let c = h.invoke(&gone).await;
    assert_eq!(
        c.response.status(),
        ResponseStatus::ApplicationError,
        "{c:?}"
    );
    assert_eq!(
        c.response.result,
        json!({"error": whisk_invoker::outcome::ACTION_REMOVED})
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_activation_delivered_twice_at_once_runs_once() {
    if !docker_available() {
        return;
    }
    let mut h = Harness::start(Harness::config()).await;
    let exec = Exec::Blackbox {
        image: SKELETON.into(),
        code: Some(script("sleep 2\necho '{\"ok\":true}'")),
        main: None,
        binary: false,
    };
    let act = action("twice", exec, ActionLimits::default());
    let msg = h.message(&act, json!({}));
    // Two messages of one activation id (a duplicate publish) reach the invoker together.
    h.publish(&msg).await;
    h.publish(&msg).await;
    let a = h.completion(msg.activation_id).await;
    assert_eq!(a.response.result, json!({"ok": true}), "{a:?}");
    // The duplicate is settled after the first run, from its record.
    let again = h.completion(msg.activation_id).await;
    assert_eq!(again, a);
    assert_eq!(
        containers_of(&h.docker, h.id).await.len(),
        1,
        "the activation ran twice"
    );
    let (bus, id) = (h.bus.clone(), h.id);
    h.stop().await;
    let consumer = bus.consume(&invoker_topic(id)).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), consumer.next())
            .await
            .is_err(),
        "a message was left on the bus"
    );
}

// === pausing idle containers ===

/// Whether this process may write cgroup files (root). Skipped with a printed reason on a
/// developer's machine, but fails under CI, which runs as root.
fn freezer_available() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "pausing needs root (the cgroup freezer), and CI runs as root"
    );
    eprintln!("skipped: pausing needs root (the cgroup freezer)");
    false
}

/// Whether container `id` is frozen now, read from its cgroup's freezer.
async fn frozen(docker: &Docker, id: &str) -> bool {
    let info = docker
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let pid = info.state.and_then(|s| s.pid).unwrap();
    whisk_invoker::Freezer::of_pid(u32::try_from(pid).unwrap())
        .unwrap()
        .is_frozen()
        .unwrap()
}

/// Waits until every container of `invoker` is frozen; returns them.
async fn all_frozen_eventually(docker: &Docker, invoker: u32) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ids = containers_of(docker, invoker).await;
        let mut all = !ids.is_empty();
        for id in &ids {
            all &= frozen(docker, id).await;
        }
        if all {
            return ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "containers of {invoker} never all frozen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The containers of action `guest/<name>` started by `invoker`.
async fn containers_of_action(docker: &Docker, invoker: u32, name: &str) -> Vec<String> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{LABEL_INVOKER}={invoker}"),
                format!("{}=guest/{name}", whisk_invoker::LABEL_ACTION),
            ],
        )])),
        ..Default::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The docker factory freezes a container through its cgroup: a frozen container answers
/// nothing until resumed, then answers at once; a container left frozen (as by a killed
/// invoker) is still removed by a new factory. Prints the freezer's and Docker's own
/// pause/resume times (not asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_factory_freezes_and_a_new_one_removes_a_frozen_leftover() {
    if !docker_available() || !freezer_available() {
        return;
    }
    let factory = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
    let id = invoker_id();
    let handle = factory
        .create(&ContainerSpec {
            name: format!("rwhisk{id}_frozen"),
            kind: "blackbox".into(),
            image: SKELETON.into(),
            memory_mb: 128,
            pids_limit: 64,
            cpu_shares: 128,
            env: vec![],
            labels: vec![(LABEL_INVOKER.into(), id.to_string())],
        })
        .await
        .unwrap();
    let auth = whisk_protocol::authorization(&handle.token);
    let init =
        json!({"value": {"code": script("echo '{\"ok\":true}'"), "binary": false}}).to_string();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while post_status(handle.addr, "/init", Some(&auth), &init).await != Some(200) {
        assert!(tokio::time::Instant::now() < deadline, "never initialized");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = r#"{"value":{}}"#;
    assert_eq!(
        post_status(handle.addr, "/run", Some(&auth), run).await,
        Some(200)
    );

    factory.pause(&handle.id).await.unwrap();
    assert!(frozen(factory.docker(), &handle.id).await);
    factory.pause(&handle.id).await.unwrap();
    let stalled = tokio::time::timeout(
        Duration::from_millis(300),
        post_status(handle.addr, "/run", Some(&auth), run),
    )
    .await;
    assert!(stalled.is_err(), "a frozen container answered: {stalled:?}");
    factory.resume(&handle.id).await.unwrap();
    assert!(!frozen(factory.docker(), &handle.id).await);
    assert_eq!(
        post_status(handle.addr, "/run", Some(&auth), run).await,
        Some(200)
    );

    // Figures: the freezer against Docker's own pause (dockerd, containerd, runc).
    let (mut ours, mut first_run, mut theirs) = (vec![], vec![], vec![]);
    for _ in 0..10 {
        factory.pause(&handle.id).await.unwrap();
        let t = std::time::Instant::now();
        factory.resume(&handle.id).await.unwrap();
        ours.push(t.elapsed());
        assert_eq!(
            post_status(handle.addr, "/run", Some(&auth), run).await,
            Some(200)
        );
        first_run.push(t.elapsed());
        let t = std::time::Instant::now();
        factory.docker().pause_container(&handle.id).await.unwrap();
        factory
            .docker()
            .unpause_container(&handle.id)
            .await
            .unwrap();
        theirs.push(t.elapsed());
    }
    eprintln!(
        "freezer resume p50 {:?}; resume + a /run on a new connection p50 {:?}; docker pause + unpause p50 {:?}",
        median(ours),
        median(first_run),
        median(theirs)
    );

    // Left frozen; a new factory (a restarted invoker) knows nothing of it.
    factory.pause(&handle.id).await.unwrap();
    let restarted = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
    assert_eq!(
        restarted
            .remove_labelled(LABEL_INVOKER, &id.to_string())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        containers_of(factory.docker(), id).await,
        Vec::<String>::new()
    );
}

/// Invokes spaced around the pause grace, four at a time: every result is the caller's
/// own, no container serves two activations at once, containers are seen frozen between
/// rounds and resumed for the next, none is lost, and shutdown removes them paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_containers_serve_concurrent_invokes_each_result_its_own() {
    if !docker_available() || !freezer_available() {
        return;
    }
    let mut h = Harness::start(InvokerConfig {
        pause_grace: Duration::from_millis(30),
        memory_mb: 4 * 128,
        ..Harness::config()
    })
    .await;
    let limits = ActionLimits {
        memory: 128,
        ..ActionLimits::default()
    };
    let act = shell(
        "exclusive",
        r#"if ! mkdir /tmp/inuse 2>/dev/null; then echo '{"error":"two activations at once"}'; exit 0; fi
sleep 0.02
rmdir /tmp/inuse
echo "{\"args\":$1,\"host\":\"$(hostname)\"}""#,
        limits,
    );
    let mut hosts = std::collections::BTreeSet::new();
    let mut seen_frozen = 0;
    for (round, gap_ms) in [0u64, 20, 30, 40, 200, 10, 60, 200, 0, 35]
        .into_iter()
        .enumerate()
    {
        if gap_ms >= 200 {
            // Long enough for every container to be paused.
            seen_frozen += all_frozen_eventually(&h.docker, h.id).await.len();
        } else {
            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        }
        let msgs: Vec<_> = (0..4)
            .map(|i| h.message(&act, json!({"round": round, "n": i})))
            .collect();
        for m in &msgs {
            h.publish(m).await;
        }
        for (i, m) in msgs.iter().enumerate() {
            let a = h.completion(m.activation_id).await;
            assert_eq!(a.response.status(), ResponseStatus::Success, "{a:?}");
            assert_eq!(
                a.response.result["args"],
                json!({"round": round, "n": i}),
                "{a:?}"
            );
            hosts.insert(a.response.result["host"].as_str().unwrap().to_owned());
        }
    }
    assert!(seen_frozen > 0);
    // Every container that served is still there (none lost), at most one per memory slot.
    let containers = containers_of(&h.docker, h.id).await;
    assert!(hosts.len() <= 4, "{hosts:?}");
    assert_eq!(containers.len(), hosts.len(), "{containers:?} {hosts:?}");
    for host in &hosts {
        assert!(
            containers.iter().any(|c| c.starts_with(host.as_str())),
            "{host} is gone"
        );
    }
    all_frozen_eventually(&h.docker, h.id).await;
    h.stop().await;
}

/// A paused container keeps its memory in the budget; a cold start of another action
/// evicts the least recently used one, paused or not; a kept one is resumed warm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_containers_count_their_memory_and_are_evicted_lru_first() {
    if !docker_available() || !freezer_available() {
        return;
    }
    let mut h = Harness::start(InvokerConfig {
        pause_grace: Duration::from_millis(20),
        memory_mb: 2 * 128,
        ..Harness::config()
    })
    .await;
    let limits = ActionLimits {
        memory: 128,
        ..ActionLimits::default()
    };
    let echo = |name: &str| shell(name, r#"echo "{\"host\":\"$(hostname)\"}""#, limits);
    let (a, b, c) = (echo("pa"), echo("pb"), echo("pc"));
    for act in [&a, &b] {
        let r = h.invoke(&h.message(act, json!({}))).await;
        assert_eq!(r.response.status(), ResponseStatus::Success, "{r:?}");
    }
    let paused = all_frozen_eventually(&h.docker, h.id).await;
    assert_eq!(paused.len(), 2, "both kept, paused, within the budget");
    let a_id = containers_of_action(&h.docker, h.id, "pa").await;
    let b_id = containers_of_action(&h.docker, h.id, "pb").await;
    assert_eq!((a_id.len(), b_id.len()), (1, 1));
    // No memory left: pc's cold start evicts pa's container (used least recently).
    let r = h.invoke(&h.message(&c, json!({}))).await;
    assert_eq!(r.response.status(), ResponseStatus::Success, "{r:?}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !containers_of_action(&h.docker, h.id, "pa").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pa's container stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(containers_of_action(&h.docker, h.id, "pb").await, b_id);
    assert!(frozen(&h.docker, &b_id[0]).await);
    // pb's paused container is resumed and reused: no init.
    let r = h.invoke(&h.message(&b, json!({}))).await;
    assert_eq!(r.response.status(), ResponseStatus::Success, "{r:?}");
    assert!(annotation(&r, "initTime").is_none(), "{r:?}");
    assert!(b_id[0].starts_with(r.response.result["host"].as_str().unwrap()));
    all_frozen_eventually(&h.docker, h.id).await;
    h.stop().await;
}
