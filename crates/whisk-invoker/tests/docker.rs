//! The invoker against the real dockerd: images built here `FROM whisk/dockerskeleton` with
//! small shell-script actions, the embedded bus and the SQLite store, activations published
//! on the bus and their completions awaited as a controller would.
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
use whisk_bus::{Bus, EmbeddedBus, Subscription};
use whisk_invoker::{
    ContainerFactory, ContainerSpec, DockerFactory, Invoker, InvokerConfig, DEFAULT_SOCKET,
    LABEL_INVOKER,
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

fn docker_available() -> bool {
    if Path::new(DEFAULT_SOCKET).exists() {
        true
    } else {
        eprintln!("skipped: {DEFAULT_SOCKET} is absent");
        false
    }
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
    bus: Arc<EmbeddedBus>,
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

    async fn start_with(
        config: InvokerConfig,
        bus: Arc<EmbeddedBus>,
        store: Arc<SqliteStore>,
    ) -> Self {
        let factory = DockerFactory::connect(DEFAULT_SOCKET).await.unwrap();
        let docker = factory.docker().clone();
        let id = config.id;
        let controller = format!("test{id}");
        let completions = bus
            .subscribe(&completion_subject(&controller))
            .await
            .unwrap();
        let invoker = Invoker::new(config, Arc::new(factory), store.clone(), bus.clone());
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

    /// Publishes, waits for the completion, and checks that the record was stored.
    async fn invoke(&mut self, msg: &ActivationMessage) -> Activation {
        self.publish(msg).await;
        let a = self.completion(msg.activation_id).await;
        let stored = self
            .store
            .get(&msg.user.namespace, &msg.activation_id)
            .await
            .unwrap()
            .expect("the record is stored before the completion");
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
        !a.logs
            .iter()
            .any(|l| l.contains("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX")),
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
        let record = Activation {
            namespace: EntityPath::parse("guest").unwrap(),
            name: act.name.clone(),
            subject: "guest-subject".into(),
            activation_id: msg.activation_id,
            start: 1,
            end: 2,
            duration: Some(1),
            cause: None,
            response: ActivationResponse::success(json!({"stored": true}), Some(15)),
            logs: vec![],
            version: act.version,
            publish: false,
            annotations: Parameters::default(),
        };
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
            api_key: None,
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
