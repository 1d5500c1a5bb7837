//! `cold`: cold start to result per container factory (`whiskd standalone` started with
//! `RWHISK_CONTAINER_FACTORY=docker|runc|process`, no stem cells), beside two floors
//! measured in the same run: raw `docker run` of the same image to its first HTTP byte,
//! and `runc run` of the image's root filesystem as an OCI bundle to its first output
//! byte. A factory whiskd does not know is reported as skipped with whiskd's own words.
//!
//! docker and runc run the docker skeleton no-op (`--image`); the process factory runs
//! native kinds only, so it runs the Node.js no-op. Each sample creates a new action,
//! invokes it once (blocking, the full record), deletes it, and waits until its container
//! is gone (docker) or half a second (other factories) before the next.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::harness::floor::{self, RuncBundle};
use crate::harness::report::{self, Table};
use crate::harness::stats::{ms, percentile, percentile_f64, ratio};
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{annotation, delete_action, invoke_record, put_action, Noop};
use crate::Args;

/// How long the removal of a sample's container may take.
const GONE_PATIENCE: Duration = Duration::from_secs(30);
/// Pause between samples of factories whose containers docker does not show.
const SETTLE: Duration = Duration::from_millis(500);

/// The cold samples of one factory.
struct Factory {
    name: String,
    noop: Noop,
    latency: Vec<Duration>,
    init_ms: Vec<f64>,
    wait_ms: Vec<f64>,
}

/// Runs the scenario.
///
/// # Errors
/// A floor or an invoke failed.
pub async fn run(args: &Args, target: &Target) -> Result<()> {
    report::heading("cold: cold start to result per factory beside docker run and runc run");
    if !target.spawns() {
        report::skipped(
            "cold",
            "needs whiskd started by loadgen (run without --apihost)",
        );
        return Ok(());
    }
    let image = &args.image;
    eprintln!("cold: docker run of {image} ...");
    let docker_floor = floor::docker_runs(image, args.cold_count).await?;
    eprintln!("cold: runc run of {image}'s root filesystem ...");
    let runc_floor = match RuncBundle::prepare(image).await {
        Ok(mut b) => b.runs(args.cold_count).await.map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let mut measured = Vec::new();
    for factory in &args.factories {
        let noop = if factory == "process" {
            args.node()
        } else {
            args.skeleton()
        };
        let env = [("RWHISK_CONTAINER_FACTORY", factory.as_str())];
        let w = match Whiskd::start(target, &[], &env).await? {
            Start::Up(w) => w,
            Start::Refused(reason) => {
                report::skipped(&format!("factory {factory}"), &reason);
                continue;
            }
        };
        eprintln!("cold: factory {factory} ...");
        let client = w.client()?;
        let mut f = Factory {
            name: factory.clone(),
            noop,
            latency: Vec::new(),
            init_ms: Vec::new(),
            wait_ms: Vec::new(),
        };
        let mut failure = None;
        for i in 0..args.cold_count {
            let name = format!("loadgen-cold-{factory}-{i}");
            if let Err(e) = put_action(&client, &name, &f.noop.body(Some(128))).await {
                failure = Some(e);
                break;
            }
            match invoke_record(&client, &name).await {
                Ok((latency, record)) => {
                    f.latency.push(latency);
                    if let Some(v) = annotation(&record, "initTime").and_then(|v| v.as_f64()) {
                        f.init_ms.push(v);
                    }
                    if let Some(v) = annotation(&record, "waitTime").and_then(|v| v.as_f64()) {
                        f.wait_ms.push(v);
                    }
                }
                Err(e) => failure = Some(e),
            }
            delete_action(&client, &name).await;
            if failure.is_some() {
                break;
            }
            wait_gone(factory, &name).await;
        }
        w.stop();
        if let Some(e) = failure {
            report::skipped(&format!("factory {factory}"), &format!("{e:#}"));
        }
        measured.push(f);
    }
    print(args, &docker_floor, &runc_floor, &measured);
    Ok(())
}

/// Waits until the sample's container is gone: docker shows it; other factories' are
/// given a fixed pause.
async fn wait_gone(factory: &str, action: &str) {
    if factory != "docker" {
        tokio::time::sleep(SETTLE).await;
        return;
    }
    let deadline = Instant::now() + GONE_PATIENCE;
    while Instant::now() < deadline {
        let out = tokio::process::Command::new("docker")
            .args(["ps", "-q", "--filter"])
            .arg(format!("label=rwhisk.action=guest/{action}"))
            .output()
            .await;
        if out.is_ok_and(|o| o.status.success() && o.stdout.trim_ascii().is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn p_ms(v: &[Duration], p: f64) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        format!("{:.1}", ms(percentile(v, p)))
    }
}

fn print(
    args: &Args,
    docker_floor: &[Duration],
    runc_floor: &Result<Vec<Duration>, String>,
    measured: &[Factory],
) {
    let mut t = Table::new(&[
        "path",
        "action",
        "n",
        "p50 ms",
        "p99 ms",
        "waitTime p50",
        "initTime p50",
        "p50 / floor",
    ]);
    t.row(vec![
        "raw `docker run` to first byte".into(),
        args.image.clone(),
        docker_floor.len().to_string(),
        p_ms(docker_floor, 0.5),
        p_ms(docker_floor, 0.99),
    ]);
    let runc = runc_floor.as_deref().unwrap_or(&[]);
    if !runc.is_empty() {
        t.row(vec![
            "raw `runc run` (OCI bundle) to first byte".into(),
            args.image.clone(),
            runc.len().to_string(),
            p_ms(runc, 0.5),
            p_ms(runc, 0.99),
        ]);
    }
    let opt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}"));
    let mut docker_ratio = None;
    let mut runc_p50 = None;
    for f in measured {
        let floor = match f.name.as_str() {
            "docker" => Some(docker_floor),
            "runc" => Some(runc),
            _ => None,
        };
        let r = floor
            .filter(|v| !v.is_empty() && !f.latency.is_empty())
            .and_then(|v| ratio(ms(percentile(&f.latency, 0.5)), ms(percentile(v, 0.5))));
        if f.name == "docker" {
            docker_ratio = r;
        }
        if f.name == "runc" && !f.latency.is_empty() {
            runc_p50 = Some(ms(percentile(&f.latency, 0.5)));
        }
        t.row(vec![
            format!("whiskd, factory {}", f.name),
            f.noop.describe(),
            f.latency.len().to_string(),
            p_ms(&f.latency, 0.5),
            p_ms(&f.latency, 0.99),
            opt(percentile_f64(&f.wait_ms, 0.5)),
            opt(percentile_f64(&f.init_ms, 0.5)),
            report::fmt_ratio(r),
        ]);
    }
    t.print();
    if let Err(e) = runc_floor {
        report::skipped("runc run floor", e);
    }
    report::DOCKER_COLD_RATIO.print(docker_ratio);
    report::RUNC_COLD_P50.print(runc_p50);
}
