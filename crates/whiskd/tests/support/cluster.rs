//! A scaled-out deployment for tests: controllers and invokers of `whiskd` over one store
//! and one bus. In-process ([`Cluster::in_process`]): the roles run as tasks of the test
//! over a shared embedded bus (notifications are in-process). As processes
//! ([`Cluster::processes`]): real `whiskd controller` / `whiskd invoker` binaries over a
//! PostgreSQL store and a NATS bus, which a test can SIGKILL and restart. Actions run in
//! real Docker containers, labelled per invoker so a test can see what an invoker left.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use whisk_controller::Balancer;
use whisk_types::{EntityName, FullyQualifiedName};
use whiskd::backends::{OpenedBus, Stores};
use whiskd::{Cli, Command as Role, Stop};

use crate::support::{eventually, free_port};

/// Flags every role gets: throttles out of the way, short waits.
const CONTROLLER_FLAGS: &[&str] = &[
    "--invocations-per-minute",
    "1000000",
    "--concurrent-invocations",
    "1000000",
    "--no-https",
    "--shutdown-grace-secs",
    "20",
];
const INVOKER_FLAGS: &[&str] = &[
    "--stem-cells",
    "0",
    "--invoker-memory-mb",
    "512",
    "--idle-timeout-secs",
    "120",
    "--shutdown-grace-secs",
    "30",
    "--bus-ack-wait-secs",
    "30",
];

enum Running {
    Task(Stop, Option<JoinHandle<anyhow::Result<()>>>),
    Process(Option<Child>),
}

/// One controller or invoker.
pub struct Member {
    /// Its data directory (guest.key, instance, log).
    pub dir: PathBuf,
    /// The API port (controller) or the metrics port (invoker).
    pub port: u16,
    /// Its flags, for a restart.
    args: Vec<String>,
    running: Running,
}

impl Member {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("whiskd.log")).unwrap_or_default()
    }

    /// The `rwhisk.invoker` label of an invoker's containers.
    pub fn invoker_label(&self, id: u32) -> String {
        let instance = std::fs::read_to_string(self.dir.join("instance")).unwrap();
        format!("{}-{id}", instance.trim())
    }

    /// SIGTERM (or the stop signal in-process) and wait for a clean exit.
    pub async fn stop(&mut self) {
        match &mut self.running {
            Running::Task(stop, task) => {
                stop.stop();
                if let Some(task) = task.take() {
                    let r = tokio::time::timeout(Duration::from_secs(90), task)
                        .await
                        .expect("the role stops within its grace")
                        .expect("the role's task");
                    r.expect("the role stops cleanly");
                }
            }
            Running::Process(child) => {
                if let Some(mut c) = child.take() {
                    let _ = Command::new("kill")
                        .arg("-TERM")
                        .arg(c.id().to_string())
                        .status();
                    let deadline = Instant::now() + Duration::from_secs(90);
                    loop {
                        if let Some(status) = c.try_wait().unwrap() {
                            assert!(status.success(), "exit {status}: {}", self.log());
                            break;
                        }
                        assert!(Instant::now() < deadline, "did not stop: {}", self.log());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    /// SIGKILL (processes only).
    pub fn kill9(&mut self) {
        if let Running::Process(child) = &mut self.running {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Task(stop, _) => stop.stop(),
            Running::Process(child) => {
                if let Some(mut c) = child.take() {
                    let _ = Command::new("kill")
                        .arg("-TERM")
                        .arg(c.id().to_string())
                        .status();
                    let deadline = Instant::now() + Duration::from_secs(40);
                    while Instant::now() < deadline {
                        if c.try_wait().ok().flatten().is_some() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
    }
}

enum Backends {
    InProcess { stores: Stores, bus: OpenedBus },
    Servers { store: String, bus: String },
}

/// Controllers and invokers over one store and bus.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    backends: Backends,
    pub controllers: Vec<Member>,
    /// By invoker id.
    pub invokers: std::collections::BTreeMap<u32, Member>,
    pub client: reqwest::Client,
    /// The guest's `uuid:key`, once the first controller made it.
    pub key: String,
}

impl Cluster {
    /// Roles as tasks of this process over the embedded SQLite store and bus.
    pub fn in_process() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let store = whisk_store::SqliteStore::open(&dir.path().join("whisk.db")).unwrap();
        let stores = Stores::from_backend(std::sync::Arc::new(store));
        let embedded = whisk_bus::EmbeddedBus::open_with(
            &dir.path().join("bus.db"),
            whisk_bus::embedded::EmbeddedBusOptions {
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .unwrap();
        let bus = OpenedBus {
            bus: std::sync::Arc::new(embedded.clone()),
            embedded: Some(embedded),
        };
        Self::new(dir, Backends::InProcess { stores, bus })
    }

    /// Roles as `whiskd` processes over a PostgreSQL store and a NATS bus.
    pub fn processes(store_url: &str, bus_url: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Self::new(
            dir,
            Backends::Servers {
                store: store_url.to_owned(),
                bus: bus_url.to_owned(),
            },
        )
    }

    fn new(dir: tempfile::TempDir, backends: Backends) -> Cluster {
        Cluster {
            dir,
            backends,
            controllers: Vec::new(),
            invokers: Default::default(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            key: String::new(),
        }
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("signing.key")
    }

    fn start(&self, role: &str, dir: &Path, args: &[String]) -> Running {
        std::fs::create_dir_all(dir).unwrap();
        let mut all: Vec<String> = vec![
            role.to_owned(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--signing-key-file".into(),
            self.key_file().display().to_string(),
        ];
        all.extend(args.iter().cloned());
        match &self.backends {
            Backends::InProcess { stores, bus } => {
                let cli = Cli::from_args(&all).expect("role flags");
                let stop = Stop::default();
                let (stores, bus, s) = (stores.clone(), bus.clone(), stop.clone());
                let task = match cli.command {
                    Role::Controller(a) => tokio::spawn(whiskd::controller_role::run_with(
                        *a,
                        stores,
                        bus,
                        Counter::default(),
                        s,
                    )),
                    Role::Invoker(a) => tokio::spawn(whiskd::invoker_role::run_with(
                        *a,
                        stores,
                        bus,
                        Counter::default(),
                        s,
                    )),
                    _ => unreachable!(),
                };
                Running::Task(stop, Some(task))
            }
            Backends::Servers { store, bus } => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("whiskd.log"))
                    .unwrap();
                let child = Command::new(env!("CARGO_BIN_EXE_whiskd"))
                    .args(&all)
                    .arg("--store")
                    .arg(store)
                    .arg("--bus")
                    .arg(bus)
                    .env("RUST_LOG", "info")
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("starting whiskd");
                Running::Process(Some(child))
            }
        }
    }

    /// Starts controller number `n` (of `of`) and waits for it to answer.
    pub async fn add_controller(&mut self, n: usize, of: usize) {
        let port = free_port();
        let dir = self.dir.path().join(format!("controller{n}"));
        let mut args: Vec<String> = vec![
            "--id".into(),
            n.to_string(),
            "--controllers".into(),
            of.to_string(),
            "--http-addr".into(),
            format!("127.0.0.1:{port}"),
        ];
        args.extend(CONTROLLER_FLAGS.iter().map(|s| s.to_string()));
        let running = self.start("controller", &dir, &args);
        let member = Member {
            dir,
            port,
            args,
            running,
        };
        self.wait_ping(&member).await;
        if self.key.is_empty() {
            if let Ok(k) = std::fs::read_to_string(member.dir.join("guest.key")) {
                self.key = k.trim().to_owned();
            }
        }
        if n < self.controllers.len() {
            self.controllers[n] = member;
        } else {
            self.controllers.push(member);
        }
    }

    /// Restarts controller `n` with its flags (after a stop or kill).
    pub async fn restart_controller(&mut self, n: usize) {
        let (dir, args) = {
            let m = &self.controllers[n];
            (m.dir.clone(), m.args.clone())
        };
        let running = self.start("controller", &dir, &args);
        let m = &mut self.controllers[n];
        m.running = running;
        let base = m.base();
        let client = self.client.clone();
        eventually("the controller answers again", || {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let r = client.get(format!("{base}/ping")).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
    }

    async fn wait_ping(&self, m: &Member) {
        let client = self.client.clone();
        let base = m.base();
        eventually(&format!("{base} answers"), || {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let r = client.get(format!("{base}/ping")).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
    }

    /// Starts invoker `id` (a fresh data directory unless it ran before) and waits until
    /// its health endpoint answers.
    pub async fn add_invoker(&mut self, id: u32) {
        let port = free_port();
        let dir = self.dir.path().join(format!("invoker{id}"));
        let mut args: Vec<String> = vec![
            "--id".into(),
            id.to_string(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{port}"),
        ];
        args.extend(INVOKER_FLAGS.iter().map(|s| s.to_string()));
        let running = self.start("invoker", &dir, &args);
        let member = Member {
            dir,
            port,
            args,
            running,
        };
        let client = self.client.clone();
        let url = format!("{}/health", member.base());
        eventually("the invoker's health endpoint", || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client.get(url).send().await.ok()?;
                (r.status() == 200).then_some(())
            }
        })
        .await;
        self.invokers.insert(id, member);
    }

    /// `GET /invokers` of controller `n`.
    pub async fn invokers_seen(&self, n: usize) -> Value {
        self.client
            .get(format!("{}/invokers", self.controllers[n].base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until controller `n` shows `invoker` as `state`.
    pub async fn wait_invoker_state(&self, n: usize, invoker: u32, state: &str) {
        let key = format!("invoker{invoker}/{invoker}");
        eventually(&format!("{key} {state} at controller {n}"), || async {
            let seen = self.invokers_seen(n).await;
            (seen[&key] == state).then_some(())
        })
        .await;
    }

    /// A request as the guest to controller `n`, path under `/api/v1/namespaces/_/`.
    pub fn req(&self, n: usize, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let (u, p) = self.key.split_once(':').expect("uuid:key");
        self.client
            .request(
                method,
                format!("{}/api/v1/namespaces/_/{path}", self.controllers[n].base()),
            )
            .basic_auth(u, Some(p))
    }

    /// Creates a Node.js action through controller `n`.
    pub async fn node_action(&self, n: usize, name: &str) {
        let r = self
            .req(
                n,
                reqwest::Method::PUT,
                &format!("actions/{name}?overwrite=true"),
            )
            .json(&json!({
                "exec": {"kind": "nodejs:18", "code": "function main(p) { return {n: p.n}; }"},
                "limits": {"memory": 128},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// One invoke through controller `n`: status and body (None: no answer at all).
    pub async fn invoke(
        &self,
        n: usize,
        name: &str,
        blocking: bool,
        params: Value,
    ) -> Option<(u16, Value)> {
        let r = self
            .req(
                n,
                reqwest::Method::POST,
                &format!("actions/{name}?blocking={blocking}"),
            )
            .json(&params)
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// The record of `id` through controller `n`, if there is one now.
    pub async fn record(&self, n: usize, id: &str) -> Option<Value> {
        let r = self
            .req(n, reqwest::Method::GET, &format!("activations/{id}"))
            .send()
            .await
            .ok()?;
        if r.status() == 200 {
            r.json().await.ok()
        } else {
            None
        }
    }

    /// `/metrics` of a member.
    pub async fn metrics(&self, m: &Member) -> String {
        self.client
            .get(format!("{}/metrics", m.base()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The value of the sample `name{labels}` in a metrics text (0 when absent).
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// Containers (running or not) with the `rwhisk.invoker` label `label`.
pub fn containers_labelled(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label=rwhisk.invoker={label}"))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An action name whose home invoker among `n` is `home`.
pub fn homed_at(home: u32, n: u32, prefix: &str) -> String {
    let ns = EntityName::namespace("guest").unwrap();
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|name| {
            let fqn = FullyQualifiedName::parse(&format!("guest/{name}")).unwrap();
            Balancer::path(&ns, &fqn, n).0 == home
        })
        .unwrap()
}
