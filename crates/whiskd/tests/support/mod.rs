//! Harness for end-to-end tests: starts the real `whiskd standalone` binary on free loopback
//! ports with its own data directory, and talks to it over real HTTP. Actions run in real
//! containers: on the machine's dockerd, or started by runc from dockerd's images
//! ([`Factory`]); [`per_factory!`] runs one test body on each.
#![allow(dead_code)]

/// Runs each named `async fn NAME(factory: Factory)` of the test file once per container
/// factory, as the tests `NAME::docker` and `NAME::runc` (`cargo test -p whiskd --test e2e
/// runc` runs the runc ones). Needs `#[macro_use] mod support;`.
#[allow(unused_macros)]
macro_rules! per_factory {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn docker() {
                super::$test(crate::support::Factory::Docker).await;
            }
            #[tokio::test]
            async fn runc() {
                super::$test(crate::support::Factory::Runc).await;
            }
        }
    )*};
}

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long eventual conditions may take (override with RWHISK_TEST_PATIENCE_SECS).
pub fn patience() -> Duration {
    let secs = std::env::var("RWHISK_TEST_PATIENCE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90);
    Duration::from_secs(secs)
}

/// Retries `f` until it returns `Some` or patience runs out.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback port that no other test of this process was given. Ports come from a counter
/// in 20000-29999 (below the kernel's ephemeral range, which `bind(0)` and docker-proxy use),
/// offset by the process id, so two tests never race for the same port: with `bind(0)` a
/// server that lost such a race exits, and the test then talks to the other test's server.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = (std::process::id() % 400) * 25;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((offset + n) % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_whiskd"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The container factory a [`Server`] runs actions with (`whiskd standalone --factory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factory {
    Docker,
    Runc,
}

impl Factory {
    pub fn name(self) -> &'static str {
        match self {
            Factory::Docker => "docker",
            Factory::Runc => "runc",
        }
    }
}

/// The runc container list of the runc state directory `state` (`runc list` as JSON).
pub fn runc_list(state: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("runc")
        .arg("--root")
        .arg(state)
        .args(["list", "--format", "json"])
        .output()
        .expect("runc list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Option<Vec<Value>>>(&out.stdout)
        .expect("runc list output")
        .unwrap_or_default()
}

/// A running `whiskd standalone`.
pub struct Server {
    /// What runs its actions.
    pub factory: Factory,
    pub data: tempfile::TempDir,
    pub http: u16,
    pub https: u16,
    pub key: String,
    child: Option<Child>,
    pub client: reqwest::Client,
    /// More `whiskd standalone` flags, passed on every (re)start.
    pub extra_args: Vec<String>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(&[]).await
    }

    /// Starts with more `whiskd standalone` flags (`["--stem-cells", "0"]`).
    pub async fn start_with(args: &[&str]) -> Server {
        Self::start_on(Factory::Docker, args).await
    }

    /// Starts with `factory` and more flags. Under runc, without stem cells unless `args`
    /// ask for them: each server unpacks the images it uses into its own data directory,
    /// and the runtime images are large.
    pub async fn start_on(factory: Factory, args: &[&str]) -> Server {
        let mut extra = Vec::new();
        if factory == Factory::Runc {
            extra.extend(["--factory", "runc"].map(str::to_owned));
            if !args.contains(&"--stem-cells") {
                extra.extend(["--stem-cells", "0"].map(str::to_owned));
            }
        }
        extra.extend(args.iter().map(|a| a.to_string()));
        let data = tempfile::Builder::new()
            .prefix("rwhisk-e2e")
            .tempdir()
            .unwrap();
        let mut s = Server {
            factory,
            data,
            http: 0,
            https: 0,
            key: String::new(),
            child: None,
            client: reqwest::Client::new(),
            extra_args: extra,
        };
        s.spawn().await;
        s
    }

    /// Starts the process (again) on the same data directory.
    pub async fn spawn(&mut self) {
        self.http = free_port();
        self.https = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("whiskd.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_whiskd"))
            .arg("standalone")
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", self.http))
            .arg("--https-addr")
            .arg(format!("127.0.0.1:{}", self.https))
            .args(&self.extra_args)
            .env("RUST_LOG", "info,whisk_invoker=debug")
            // Throttles out of the way and alarms every second; tests of those pass flags,
            // which win over these.
            .env("RWHISK_INVOCATIONS_PER_MINUTE", "1000000")
            .env("RWHISK_CONCURRENT_INVOCATIONS", "1000000")
            .env("RWHISK_FIRES_PER_MINUTE", "1000000")
            .env("RWHISK_ALARM_MIN_PERIOD_SECS", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting whiskd");
        self.child = Some(child);
        // With `--no-http` only the HTTPS listener (self-signed by default) can answer.
        let (url, client) = if self.extra_args.iter().any(|a| a == "--no-http") {
            let insecure = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap();
            (format!("{}/ping", self.https_base()), insecure)
        } else {
            (format!("{}/ping", self.base()), self.client.clone())
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("whiskd exited with {status}; log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "whiskd did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.key = std::fs::read_to_string(self.data.path().join("guest.key"))
            .unwrap()
            .trim()
            .to_owned();
    }

    /// The value of the `rwhisk.invoker` label on this server's containers.
    pub fn invoker_label(&self) -> String {
        let instance = std::fs::read_to_string(self.data.path().join("instance")).unwrap();
        format!("{}-0", instance.trim())
    }

    /// Ids of the running containers labelled `key=value` (under runc, in this server's
    /// runc state directory).
    pub fn containers_labelled(&self, key: &str, value: &str) -> Vec<String> {
        match self.factory {
            Factory::Docker => docker_containers(&format!("label={key}={value}")),
            Factory::Runc => runc_list(&self.runc_dir().join("state"))
                .into_iter()
                // A paused container is still there (runc reads its frozen cgroup as paused).
                .filter(|c| c["status"] == "running" || c["status"] == "paused")
                .filter(|c| c["annotations"][key] == value)
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect(),
        }
    }

    /// Ids of the running containers of an action (`ns/name`).
    pub fn containers_of(&self, fqn: &str) -> Vec<String> {
        self.containers_labelled("rwhisk.action", fqn)
    }

    /// Whether container `id` is frozen (paused), read from the freezer of its init
    /// process's cgroup, not from the engine.
    pub fn frozen(&self, id: &str) -> bool {
        let pid = match self.factory {
            Factory::Docker => {
                let out = Command::new("docker")
                    .args(["inspect", "-f", "{{.State.Pid}}", id])
                    .output()
                    .expect("docker inspect");
                String::from_utf8_lossy(&out.stdout).trim().parse().ok()
            }
            Factory::Runc => runc_list(&self.runc_dir().join("state"))
                .into_iter()
                .find(|c| c["id"] == id)
                .and_then(|c| c["pid"].as_u64())
                .and_then(|p| u32::try_from(p).ok()),
        };
        pid.and_then(|pid| whisk_invoker::Freezer::of_pid(pid).ok())
            .and_then(|f| f.is_frozen().ok())
            .unwrap_or(false)
    }

    /// The runc factory's directory (state, bundles, images).
    pub fn runc_dir(&self) -> PathBuf {
        self.data.path().join("runc")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("whiskd.log")).unwrap_or_default()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    pub fn https_base(&self) -> String {
        format!("https://127.0.0.1:{}", self.https)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/namespaces/_/{path}", self.base())
    }

    /// A request with the guest's credentials.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.req_as(&self.key, method, &format!("_/{path}"))
    }

    /// A request with the credentials `key` (`uuid:secret`) to `/api/v1/namespaces/{path}`.
    pub fn req_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let (u, p) = key.split_once(':').expect("uuid:key");
        self.client
            .request(method, format!("{}/api/v1/namespaces/{path}", self.base()))
            .basic_auth(u, Some(p))
    }

    /// Creates subject `name` (its namespace has the same name) with `whiskd admin user
    /// create` beside the running server; returns its `uuid:key`.
    pub fn add_subject(&self, name: &str) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_whiskd"))
            .args(["admin", "user", "create", name, "--data-dir"])
            .arg(self.data.path())
            .output()
            .expect("whiskd admin");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub async fn put_action(&self, name: &str, exec: Value) -> reqwest::Response {
        self.req(reqwest::Method::PUT, &format!("actions/{name}"))
            .json(&json!({ "exec": exec }))
            .send()
            .await
            .unwrap()
    }

    /// Creates (or replaces) a blackbox action of `image`, optionally with skeleton `code`.
    pub async fn docker_action(&self, name: &str, image: &str, code: Option<&str>, limits: Value) {
        let mut exec = json!({ "kind": "blackbox", "image": image });
        if let Some(c) = code {
            exec["code"] = json!(c);
        }
        let r = self
            .req(
                reqwest::Method::PUT,
                &format!("actions/{name}?overwrite=true"),
            )
            .json(&json!({ "exec": exec, "limits": limits }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// POST invoke; returns status and JSON body.
    pub async fn invoke(&self, name: &str, query: &str, params: Value) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, &format!("actions/{name}?{query}"))
            .json(&params)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits for the record of `id`.
    pub async fn activation(&self, id: &str) -> Value {
        eventually(&format!("activation {id}"), || async {
            let r = self
                .req(reqwest::Method::GET, &format!("activations/{id}"))
                .send()
                .await
                .ok()?;
            if r.status() == 200 {
                r.json().await.ok()
            } else {
                None
            }
        })
        .await
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait, as an orderly stop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if c.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ids of the Docker containers running an action (`ns/name`).
pub fn containers_of(fqn: &str) -> Vec<String> {
    docker_containers(&format!("label=rwhisk.action={fqn}"))
}

/// Ids of the running Docker containers `filter` (`docker ps --filter`) selects.
fn docker_containers(filter: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", filter])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A random action name so parallel tests never share containers.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The annotation `key` of a record, if present.
pub fn annotation<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    record["annotations"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

/// A Docker bridge network of one test, isolated as the action network must be
/// (`enable_icc=false`), removed with the containers still on it when dropped. Pass
/// `--action-network {name}`; its gateway is the host's address on it.
pub struct TestNetwork {
    pub name: String,
    pub gateway: std::net::IpAddr,
}

impl TestNetwork {
    pub fn create() -> TestNetwork {
        let name = unique("rwhisk-test-net");
        let out = Command::new("docker")
            .args(["network", "create", "--driver", "bridge", "-o"])
            .arg("com.docker.network.bridge.enable_icc=false")
            .arg(&name)
            .output()
            .expect("docker network create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("docker")
            .args([
                "network",
                "inspect",
                "--format",
                "{{(index .IPAM.Config 0).Gateway}}",
            ])
            .arg(&name)
            .output()
            .expect("docker network inspect");
        let gateway = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the network's gateway");
        TestNetwork { name, gateway }
    }

    /// A port free on the gateway address now.
    pub fn free_port(&self) -> u16 {
        std::net::TcpListener::bind((self.gateway, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("network={}", self.name))
            .output();
        if let Ok(out) = out {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .arg("rm")
                    .arg("-f")
                    .args(&ids)
                    .output();
            }
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// Runs our `wsk` with its own properties file; returns (exit code, stdout, stderr).
pub fn wsk(props: &Path, args: &[&str]) -> (i32, String, String) {
    let bin = bin_dir().join("wsk");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p whisk-cli`",
        bin.display()
    );
    let out = Command::new(bin)
        .args(args)
        .env("WSK_CONFIG_FILE", props)
        .env_remove("WHISK_AUTH")
        .env_remove("WHISK_APIHOST")
        .output()
        .expect("running wsk");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
