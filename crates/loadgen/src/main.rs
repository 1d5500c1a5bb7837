//! `loadgen`: measures whiskd against a baseline taken in the same run.
//!
//! - `--scenario warm` (default): what whiskd adds to a warm invocation. It sends a fixed
//!   number of blocking invokes of a no-op action through whiskd at each concurrency, then
//!   the same load straight to the warm containers' `/run` (the floor), and prints p50, p99,
//!   throughput and the ratios. Both paths use the same HTTP client with keep-alive.
//! - `--scenario runtimes`: start-up paths of the native kinds (raw `docker run`, cold,
//!   from a stem cell, warm); see `runtimes.rs`.

mod runtimes;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    /// Warm blocking invokes through whiskd beside the container's own `/run`.
    Warm,
    /// Per native kind: raw `docker run`, cold start, start from a stem cell, warm.
    Runtimes,
}

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Scenario::Warm)]
    scenario: Scenario,
    /// whiskd base URL.
    #[arg(long, default_value = "http://127.0.0.1:3233")]
    apihost: String,
    /// `uuid:key` [default: contents of ~/.rwhisk/guest.key].
    #[arg(long)]
    auth: Option<String>,
    /// Image of the no-op action (the C skeleton example prints one line and a result).
    #[arg(long, default_value = "whisk/example-c")]
    image: String,
    /// Name of the action the benchmark creates and deletes.
    #[arg(long, default_value = "loadgen-noop")]
    action: String,
    /// Requests per measured run.
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Concurrency levels to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    concurrency: Vec<usize>,
    /// Unmeasured requests per worker before each run.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Runtimes scenario: the kinds to measure.
    #[arg(long, value_delimiter = ',', default_value = "nodejs:18,python:3.11")]
    kinds: Vec<String>,
    /// Runtimes scenario: samples per kind of the docker run, cold and stem-cell paths
    /// (`--count` is the number of warm invokes).
    #[arg(long, default_value_t = 20)]
    cold_count: usize,
    /// Runtimes scenario: the `rwhisk.invoker` label of whiskd's containers
    /// (`$(cat DATA_DIR/instance)-0`).
    #[arg(long)]
    invoker_label: Option<String>,
}

/// Latencies of one run.
struct Run {
    label: String,
    concurrency: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

/// The `p` quantile (nearest rank) of `latencies`; zero when there are none.
fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut v = latencies.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx]
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends `count` requests made by `make(worker)` from `concurrency` workers.
async fn measure(
    label: &str,
    concurrency: usize,
    count: usize,
    warmup: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder + Sync,
) -> Run {
    let per_worker = count.div_ceil(concurrency);
    let worker = |w: usize| {
        let make = &make;
        async move {
            let mut lat = Vec::with_capacity(per_worker);
            let mut errors = 0;
            for i in 0..warmup + per_worker {
                let t = Instant::now();
                let ok = match make(w).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if i >= warmup {
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }
    };
    let start = Instant::now();
    let results = futures_util::future::join_all((0..concurrency).map(worker)).await;
    let elapsed = start.elapsed();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (l, e) in results {
        latencies.extend(l);
        errors += e;
    }
    Run {
        label: label.to_owned(),
        concurrency,
        latencies,
        elapsed,
        errors,
    }
}

/// `127.0.0.1:PORT` of each running container of the action, from `docker ps`.
/// The warm containers of `fqn`: the address of the port published on 127.0.0.1 and the
/// `Authorization` value the container's proxy demands (its token, read from the
/// container's configuration; only whoever can use the Docker engine can read it).
fn container_addrs(fqn: &str) -> Result<Vec<(String, String)>> {
    let out = Command::new("docker")
        .args(["ps", "--format", "{{.ID}} {{.Ports}}", "--filter"])
        .arg(format!("label=rwhisk.action={fqn}"))
        .output()
        .context("running docker ps")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut containers = Vec::new();
    for line in text.lines() {
        let Some((id, ports)) = line.split_once(' ') else {
            continue;
        };
        let Some(addr) = ports
            .split(", ")
            .filter_map(|p| p.split("->").next())
            .map(str::trim)
            .find(|a| a.starts_with("127.0.0.1:"))
        else {
            continue;
        };
        let env = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{range .Config.Env}}{{println .}}{{end}}",
                id,
            ])
            .output()
            .context("running docker inspect")?;
        let prefix = format!("{}=", whisk_protocol::ENV_TOKEN);
        let token = String::from_utf8_lossy(&env.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_default();
        containers.push((addr.to_owned(), whisk_protocol::authorization(&token)));
    }
    Ok(containers)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let auth = match args.auth.clone() {
        Some(a) => a,
        None => {
            let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
            std::fs::read_to_string(format!("{home}/.rwhisk/guest.key"))
                .context("no --auth and no ~/.rwhisk/guest.key")?
                .trim()
                .to_owned()
        }
    };
    let (user, pass) = auth.split_once(':').context("auth is uuid:key")?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .build()?;
    if args.scenario == Scenario::Runtimes {
        let api = runtimes::Api {
            client,
            apihost: args.apihost.clone(),
            user: user.to_owned(),
            pass: pass.to_owned(),
        };
        let settings = runtimes::Settings {
            kinds: args.kinds.clone(),
            cold_count: args.cold_count,
            warm_count: args.count,
            invoker_label: args
                .invoker_label
                .clone()
                .context("--scenario runtimes needs --invoker-label")?,
        };
        return runtimes::run(&api, &settings).await;
    }
    let action_url = format!(
        "{}/api/v1/namespaces/_/actions/{}",
        args.apihost, args.action
    );

    let r = client
        .put(format!("{action_url}?overwrite=true"))
        .basic_auth(user, Some(pass))
        .json(&json!({"exec": {"kind": "blackbox", "image": args.image}}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("creating the action failed: {}", r.text().await?);
    }

    let invoke_url = format!("{action_url}?blocking=true&result=true");
    let body = json!({"k": "v"});
    let mut runs = Vec::new();
    for &c in &args.concurrency {
        runs.push(
            measure("whiskd", c, args.count, args.warmup, |_| {
                client
                    .post(&invoke_url)
                    .basic_auth(user, Some(pass))
                    .json(&body)
            })
            .await,
        );
    }

    // The floor: the same requests straight to the warm containers, round robin per worker.
    let fqn = format!("guest/{}", args.action);
    let addrs = container_addrs(&fqn)?;
    if addrs.is_empty() {
        bail!("no warm container of {fqn} found with docker ps");
    }
    let run_body: Value = json!({
        "value": body, "namespace": "guest", "action_name": format!("/{fqn}"),
        "action_version": "0.0.1", "activation_id": "0".repeat(32),
        "transaction_id": "loadgen", "deadline": "9999999999999"
    });
    let mut direct = Vec::new();
    for &c in &args.concurrency {
        direct.push(
            measure("direct /run", c, args.count, args.warmup, |w| {
                let (addr, authorization) = &addrs[w % addrs.len()];
                client
                    .post(format!("http://{addr}/run"))
                    .header("authorization", authorization)
                    .json(&run_body)
            })
            .await,
        );
    }
    // Direct runs wrote sentinels the invoker did not ask for: retire those containers.
    let _ = client
        .delete(&action_url)
        .basic_auth(user, Some(pass))
        .send()
        .await;

    println!(
        "{:<12} {:>4} {:>7} {:>9} {:>9} {:>10} {:>6}",
        "path", "conc", "count", "p50 ms", "p99 ms", "req/s", "errors"
    );
    for r in runs.iter().chain(direct.iter()) {
        println!(
            "{:<12} {:>4} {:>7} {:>9.3} {:>9.3} {:>10.0} {:>6}",
            r.label,
            r.concurrency,
            r.latencies.len(),
            ms(r.percentile(0.5)),
            ms(r.percentile(0.99)),
            r.throughput(),
            r.errors
        );
    }
    println!();
    for (w, d) in runs.iter().zip(direct.iter()) {
        println!(
            "concurrency {}: p50 ratio {:.2}x (added {:.3} ms), p99 ratio {:.2}x, throughput ratio {:.2}",
            w.concurrency,
            ms(w.percentile(0.5)) / ms(d.percentile(0.5)).max(1e-9),
            ms(w.percentile(0.5)) - ms(d.percentile(0.5)),
            ms(w.percentile(0.99)) / ms(d.percentile(0.99)).max(1e-9),
            w.throughput() / d.throughput().max(1e-9),
        );
    }
    Ok(())
}
