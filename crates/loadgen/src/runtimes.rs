//! `--scenario runtimes`: start-up paths of the native kinds, per kind, against a whiskd
//! that keeps one stem cell per measured kind (`--stem-cells nodejs:18=1,python:3.11=1`):
//!
//! - `docker run`: the raw floor, `docker run -d -p 127.0.0.1:PORT:8080 IMAGE` of the kind's
//!   image until its proxy answers a first HTTP request (any status);
//! - `cold`: a blocking invoke of a new action that no stem cell can serve (its memory
//!   limit, 512 MB, is above the stem cells' 256 MB), so whiskd creates a container;
//! - `stem`: a blocking invoke of a new action while a stem cell of its kind is ready;
//! - `warm`: blocking invokes of one action whose container is warm.
//!
//! Cold and stem actions are deleted after their invoke, and the next one waits until their
//! container is gone (and, for stem, until the refill is ready), so each sample starts from
//! the same state. Reports p50/p99 of the client's latency, and the records' `waitTime` and
//! `initTime`; for stem, also the latency minus `initTime` (what the platform adds to
//! `/init`). Figures only; it asserts nothing.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::{ms, percentile};

/// How long any wait for containers may take before the run fails.
const PATIENCE: Duration = Duration::from_secs(60);
/// The memory limit of cold-path actions: above the stem cells' 256 MB.
const COLD_MEMORY_MB: u64 = 512;

/// Where and how to reach whiskd.
#[derive(Debug)]
pub struct Api {
    pub client: reqwest::Client,
    pub apihost: String,
    pub user: String,
    pub pass: String,
}

/// The settings of the scenario.
#[derive(Debug)]
pub struct Settings {
    pub kinds: Vec<String>,
    /// Samples per kind of the docker run, cold and stem paths.
    pub cold_count: usize,
    /// Samples per kind of the warm path.
    pub warm_count: usize,
    /// The `rwhisk.invoker` label of whiskd's containers (`<instance>-0`).
    pub invoker_label: String,
}

/// One measured path of one kind.
struct Path {
    kind: String,
    name: &'static str,
    latency: Vec<Duration>,
    wait_ms: Vec<f64>,
    init_ms: Vec<f64>,
    /// Latency minus initTime, per sample (stem path).
    over_init_ms: Vec<f64>,
}

impl Path {
    fn new(kind: &str, name: &'static str) -> Self {
        Self {
            kind: kind.to_owned(),
            name,
            latency: Vec::new(),
            wait_ms: Vec::new(),
            init_ms: Vec::new(),
            over_init_ms: Vec::new(),
        }
    }

    /// Adds one invoke: its latency and what its record says.
    fn add(&mut self, latency: Duration, record: &Value) {
        self.latency.push(latency);
        if let Some(w) = annotation(record, "waitTime").and_then(Value::as_f64) {
            self.wait_ms.push(w);
        }
        if let Some(i) = annotation(record, "initTime").and_then(Value::as_f64) {
            self.init_ms.push(i);
            self.over_init_ms.push(ms(latency) - i);
        }
    }
}

fn annotation<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    record["annotations"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn p_ms(v: &[f64], p: f64) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return "-".into();
    }
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.1}", v[idx])
}

/// A small action of `kind` returning its host name (in Docker, the first 12 characters of
/// the container id), so the stem path can check where it ran.
fn code_for(kind: &str) -> Result<&'static str> {
    match kind.split(':').next() {
        Some("nodejs") => Ok("function main(p) { return {host: require('os').hostname()}; }"),
        Some("python") => {
            Ok("import socket\ndef main(p):\n    return {'host': socket.gethostname()}\n")
        }
        _ => bail!("no benchmark action for kind {kind}"),
    }
}

/// docker ps shows a container running a little before whiskd has it (the port is read
/// after the start): pause this long before using a stem cell docker ps shows.
const READY_SETTLE: Duration = Duration::from_millis(100);

impl Api {
    fn action_url(&self, name: &str) -> String {
        format!("{}/api/v1/namespaces/_/actions/{name}", self.apihost)
    }

    async fn put_action(&self, name: &str, kind: &str, memory_mb: u64) -> Result<()> {
        let r = self
            .client
            .put(format!("{}?overwrite=true", self.action_url(name)))
            .basic_auth(&self.user, Some(&self.pass))
            .json(&json!({"exec": {"kind": kind, "code": code_for(kind)?},
                          "limits": {"memory": memory_mb}}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating {name} failed: {}", r.text().await?);
        }
        Ok(())
    }

    /// A blocking invoke; its latency and record.
    async fn invoke(&self, name: &str) -> Result<(Duration, Value)> {
        let t = Instant::now();
        let r = self
            .client
            .post(format!("{}?blocking=true", self.action_url(name)))
            .basic_auth(&self.user, Some(&self.pass))
            .json(&json!({}))
            .send()
            .await?;
        let status = r.status();
        let record: Value = r.json().await?;
        let latency = t.elapsed();
        if !status.is_success() {
            bail!("invoking {name} failed ({status}): {record}");
        }
        Ok((latency, record))
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.client
            .delete(self.action_url(name))
            .basic_auth(&self.user, Some(&self.pass))
            .send()
            .await?;
        Ok(())
    }

    /// The image of `kind` from the runtimes manifest (`GET /`).
    async fn image_of(&self, kind: &str) -> Result<String> {
        let info: Value = self.client.get(&self.apihost).send().await?.json().await?;
        let family = kind.split(':').next().unwrap_or(kind);
        info["runtimes"][family]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["kind"] == kind)
            .and_then(|k| k["image"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("kind {kind} is not in the manifest"))
    }
}

/// Ids of running containers matching every `label` filter.
async fn docker_ps(labels: &[String]) -> Result<Vec<String>> {
    let mut cmd = Command::new("docker");
    cmd.args(["ps", "-q", "--no-trunc"]);
    for l in labels {
        cmd.arg("--filter").arg(format!("label={l}"));
    }
    let out = cmd.output().await.context("running docker ps")?;
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    ids.sort();
    Ok(ids)
}

/// Polls `docker_ps(labels)` until `done` holds; returns the ids then.
async fn wait_for(
    what: &str,
    labels: &[String],
    done: impl Fn(&[String]) -> bool,
) -> Result<Vec<String>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ids = docker_ps(labels).await?;
        if done(&ids) {
            return Ok(ids);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what} (containers: {ids:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `docker run` of `image` until its proxy answers its first request.
async fn raw_docker_run(image: &str) -> Result<Duration> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/");
    let t = Instant::now();
    let out = Command::new("docker")
        .args(["run", "-d", "--rm", "-p"])
        .arg(format!("127.0.0.1:{port}:8080"))
        .arg(image)
        .output()
        .await
        .context("running docker run")?;
    if !out.status.success() {
        bail!(
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let deadline = Instant::now() + PATIENCE;
    let elapsed = loop {
        if probe.get(&url).send().await.is_ok() {
            break t.elapsed();
        }
        if Instant::now() > deadline {
            bail!("{image} never answered on {url}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = Command::new("docker")
        .args(["rm", "-f", &id])
        .output()
        .await;
    Ok(elapsed)
}

/// Runs the scenario and prints its table.
///
/// # Errors
/// whiskd or docker failed, or containers did not appear or go in time.
pub async fn run(api: &Api, settings: &Settings) -> Result<()> {
    let mut paths = Vec::new();
    let invoker = format!("rwhisk.invoker={}", settings.invoker_label);
    for kind in &settings.kinds {
        let image = api.image_of(kind).await?;
        eprintln!("{kind}: docker run of {image} ...");
        let mut raw = Path::new(kind, "docker run");
        for _ in 0..settings.cold_count {
            raw.latency.push(raw_docker_run(&image).await?);
        }
        paths.push(raw);

        let stem_label = format!("rwhisk.stem-cell={kind}");
        let stem_filter = [invoker.clone(), stem_label];
        let mut ready = wait_for("a stem cell", &stem_filter, |ids| ids.len() == 1).await?;
        tokio::time::sleep(READY_SETTLE).await;

        eprintln!("{kind}: cold starts without a stem cell ...");
        let mut cold = Path::new(kind, "cold");
        for i in 0..settings.cold_count {
            let name = format!("loadgen-cold-{}-{i}", kind.replace([':', '.'], "-"));
            api.put_action(&name, kind, COLD_MEMORY_MB).await?;
            let (latency, record) = api.invoke(&name).await?;
            cold.add(latency, &record);
            api.delete(&name).await?;
            let action = [format!("rwhisk.action=guest/{name}")];
            wait_for(
                "the cold container's removal",
                &action,
                <[String]>::is_empty,
            )
            .await?;
        }
        paths.push(cold);

        eprintln!("{kind}: cold starts from a stem cell ...");
        let mut stem = Path::new(kind, "stem");
        for i in 0..settings.cold_count {
            let name = format!("loadgen-stem-{}-{i}", kind.replace([':', '.'], "-"));
            api.put_action(&name, kind, 256).await?;
            let (latency, record) = api.invoke(&name).await?;
            let host = record["response"]["result"]["host"].as_str().unwrap_or("");
            if annotation(&record, "initTime").is_none()
                || !ready
                    .iter()
                    .any(|id| id.starts_with(host) && !host.is_empty())
            {
                bail!("the invoke of {name} did not run in the stem cell {ready:?}: {record}");
            }
            stem.add(latency, &record);
            api.delete(&name).await?;
            let taken = ready.clone();
            ready = wait_for("the refilled stem cell", &stem_filter, |ids| {
                ids.len() == 1 && ids != taken.as_slice()
            })
            .await?;
            tokio::time::sleep(READY_SETTLE).await;
        }
        paths.push(stem);

        eprintln!("{kind}: warm invokes ...");
        let name = format!("loadgen-warm-{}", kind.replace([':', '.'], "-"));
        api.put_action(&name, kind, 256).await?;
        for _ in 0..5 {
            api.invoke(&name).await?;
        }
        let mut warm = Path::new(kind, "warm");
        for _ in 0..settings.warm_count {
            let (latency, record) = api.invoke(&name).await?;
            warm.add(latency, &record);
        }
        api.delete(&name).await?;
        paths.push(warm);
    }

    println!(
        "{:<12} {:<11} {:>5} {:>9} {:>9} {:>10} {:>10} {:>13} {:>13}",
        "kind",
        "path",
        "n",
        "p50 ms",
        "p99 ms",
        "wait p50",
        "init p50",
        "-init p50 ms",
        "-init p99 ms"
    );
    for p in &paths {
        println!(
            "{:<12} {:<11} {:>5} {:>9.1} {:>9.1} {:>10} {:>10} {:>13} {:>13}",
            p.kind,
            p.name,
            p.latency.len(),
            ms(percentile(&p.latency, 0.5)),
            ms(percentile(&p.latency, 0.99)),
            p_ms(&p.wait_ms, 0.5),
            p_ms(&p.init_ms, 0.5),
            p_ms(&p.over_init_ms, 0.5),
            p_ms(&p.over_init_ms, 0.99),
        );
    }
    Ok(())
}
