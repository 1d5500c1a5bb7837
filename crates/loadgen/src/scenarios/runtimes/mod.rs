//! `runtimes`: start-up paths of the native kinds, per kind, against a whiskd that keeps
//! one stem cell per measured kind (`--stem-cells nodejs:18=1,python:3.11=1`):
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

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::process::Command;
use whisk_client::Client;

use crate::harness::report::{self, Table};
use crate::harness::stats::{ms, percentile, percentile_f64};
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{annotation, delete_action, floor, invoke_record, put_action};
use crate::Args;

/// How long any wait for containers may take before the run fails.
const PATIENCE: Duration = Duration::from_secs(60);
/// The memory limit of cold-path actions: above the stem cells' 256 MB.
const COLD_MEMORY_MB: u64 = 512;

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

fn p_ms(v: &[f64], p: f64) -> String {
    percentile_f64(v, p).map_or_else(|| "-".into(), |v| format!("{v:.1}"))
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

async fn put(client: &Client, name: &str, kind: &str, memory_mb: u64) -> Result<()> {
    let body = json!({"exec": {"kind": kind, "code": code_for(kind)?},
                      "limits": {"memory": memory_mb}});
    put_action(client, name, &body).await
}

/// The image of `kind` from the runtimes manifest (`GET /`, outside the API's path).
async fn image_of(apihost: &str, kind: &str) -> Result<String> {
    let info: Value = reqwest::get(apihost).await?.json().await?;
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

/// Runs the scenario and prints its table.
///
/// # Errors
/// whiskd or docker failed, or containers did not appear or go in time.
pub async fn run(args: &Args, target: &Target) -> Result<()> {
    report::heading("runtimes: start-up paths of the native kinds");
    let stem_cells: Vec<String> = args.kinds.iter().map(|k| format!("{k}=1")).collect();
    let flags = if target.spawns() {
        vec!["--stem-cells".to_owned(), stem_cells.join(",")]
    } else {
        Vec::new()
    };
    let w = match Whiskd::start(target, &flags, &[]).await? {
        Start::Up(w) => w,
        Start::Refused(reason) => {
            report::skipped("runtimes", &reason);
            return Ok(());
        }
    };
    println!("whiskd: `{}`\n", w.command);
    let label = w
        .invoker_label
        .clone()
        .or_else(|| args.invoker_label.clone())
        .context("--scenario runtimes against a running whiskd needs --invoker-label")?;
    let client = w.client()?;
    let result = measure(args, &w.apihost, &client, &label).await;
    w.stop();
    print(&result?);
    Ok(())
}

async fn measure(args: &Args, apihost: &str, api: &Client, label: &str) -> Result<Vec<Path>> {
    let mut paths = Vec::new();
    let invoker = format!("rwhisk.invoker={label}");
    for kind in &args.kinds {
        let image = image_of(apihost, kind).await?;
        eprintln!("{kind}: docker run of {image} ...");
        let mut raw = Path::new(kind, "docker run");
        raw.latency = floor::docker_runs(&image, args.cold_count).await?;
        paths.push(raw);

        let stem_label = format!("rwhisk.stem-cell={kind}");
        let stem_filter = [invoker.clone(), stem_label];
        let mut ready = wait_for("a stem cell", &stem_filter, |ids| ids.len() == 1).await?;
        tokio::time::sleep(READY_SETTLE).await;

        eprintln!("{kind}: cold starts without a stem cell ...");
        let mut cold = Path::new(kind, "cold");
        for i in 0..args.cold_count {
            let name = format!("loadgen-cold-{}-{i}", kind.replace([':', '.'], "-"));
            put(api, &name, kind, COLD_MEMORY_MB).await?;
            let (latency, record) = invoke_record(api, &name).await?;
            cold.add(latency, &record);
            delete_action(api, &name).await;
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
        for i in 0..args.cold_count {
            let name = format!("loadgen-stem-{}-{i}", kind.replace([':', '.'], "-"));
            put(api, &name, kind, 256).await?;
            let (latency, record) = invoke_record(api, &name).await?;
            let host = record["response"]["result"]["host"].as_str().unwrap_or("");
            if annotation(&record, "initTime").is_none()
                || !ready
                    .iter()
                    .any(|id| id.starts_with(host) && !host.is_empty())
            {
                bail!("the invoke of {name} did not run in the stem cell {ready:?}: {record}");
            }
            stem.add(latency, &record);
            delete_action(api, &name).await;
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
        put(api, &name, kind, 256).await?;
        for _ in 0..5 {
            invoke_record(api, &name).await?;
        }
        let mut warm = Path::new(kind, "warm");
        for _ in 0..args.count {
            let (latency, record) = invoke_record(api, &name).await?;
            warm.add(latency, &record);
        }
        delete_action(api, &name).await;
        paths.push(warm);
    }
    Ok(paths)
}

fn print(paths: &[Path]) {
    let mut t = Table::new(&[
        "kind",
        "path",
        "n",
        "p50 ms",
        "p99 ms",
        "waitTime p50",
        "initTime p50",
        "latency − initTime p50",
        "latency − initTime p99",
    ]);
    for p in paths {
        t.row(vec![
            p.kind.clone(),
            p.name.to_owned(),
            p.latency.len().to_string(),
            format!("{:.1}", ms(percentile(&p.latency, 0.5))),
            format!("{:.1}", ms(percentile(&p.latency, 0.99))),
            p_ms(&p.wait_ms, 0.5),
            p_ms(&p.init_ms, 0.5),
            p_ms(&p.over_init_ms, 0.5),
            p_ms(&p.over_init_ms, 0.99),
        ]);
    }
    t.print();
}
