//! `resume`: a paused container's next invoke. Two whiskds in turn, each with one warm
//! Node.js no-op: one started with `--pause-grace-ms G` (idle containers are frozen after
//! G ms), one with `--pause-grace-ms 0` (never paused). In each, every sample waits
//! `--idle-ms` (longer than G), reads whether the pool shows a paused container
//! (`whisk_invoker_containers{state="paused"}`), then times one blocking invoke. The
//! difference of the medians is what resuming adds (issue 11: at most 1 ms); back-to-back
//! warm invokes of the same whiskd are printed beside. A whiskd that does not know
//! `--pause-grace-ms` yet is reported as skipped with its own words.

use std::time::Duration;

use anyhow::Result;

use crate::harness::load::{self, Shape};
use crate::harness::report::{self, fmt_ms, Table};
use crate::harness::stats::{ms, percentile, Summary};
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{invoke_ok, metrics, put_action};
use crate::Args;

const PAUSED: &str = "whisk_invoker_containers{state=\"paused\"}";

/// One whiskd's samples.
struct Side {
    label: String,
    idle: Vec<Duration>,
    paused_seen: usize,
    back_to_back: Summary,
}

/// Runs the scenario.
///
/// # Errors
/// whiskd could not be started or an invoke failed.
pub async fn run(args: &Args, target: &Target) -> Result<()> {
    report::heading(&format!(
        "resume: the next invoke of a paused container (grace {} ms, idle {} ms)",
        args.pause_grace_ms, args.idle_ms
    ));
    let mut sides = Vec::new();
    for grace in [args.pause_grace_ms, 0] {
        let flags = ["--pause-grace-ms".to_owned(), grace.to_string()];
        let w = match Whiskd::start(target, &flags, &[]).await? {
            Start::Up(w) => w,
            Start::Refused(reason) => {
                report::skipped("resume", &reason);
                return Ok(());
            }
        };
        let label = if grace == 0 {
            "idle, never paused (--pause-grace-ms 0)".to_owned()
        } else {
            format!("idle, paused after {grace} ms (--pause-grace-ms {grace})")
        };
        let side = measure(args, &w, label).await;
        w.stop();
        sides.push(side?);
    }
    let mut t = Table::new(&["path", "n", "p50 ms", "p99 ms", "paused before the invoke"]);
    for s in &sides {
        t.row(vec![
            s.label.clone(),
            s.idle.len().to_string(),
            fmt_ms(percentile(&s.idle, 0.5)),
            fmt_ms(percentile(&s.idle, 0.99)),
            format!("{} of {}", s.paused_seen, s.idle.len()),
        ]);
        t.row(vec![
            "  same whiskd, warm back to back".into(),
            s.back_to_back.n().to_string(),
            fmt_ms(s.back_to_back.p50()),
            fmt_ms(s.back_to_back.p99()),
            String::new(),
        ]);
    }
    t.print();
    let added = match sides.as_slice() {
        [paused, unpaused] if paused.paused_seen > 0 => {
            Some(ms(percentile(&paused.idle, 0.5)) - ms(percentile(&unpaused.idle, 0.5)))
        }
        [paused, _] if paused.paused_seen == 0 => {
            println!("- no paused container was seen before any invoke: nothing resumed");
            None
        }
        _ => None,
    };
    report::RESUME_ADDED.print(added);
    Ok(())
}

async fn measure(args: &Args, w: &Whiskd, label: String) -> Result<Side> {
    let client = w.client()?;
    let name = "loadgen-resume";
    put_action(&client, name, &args.node().body(None)).await?;
    let back_to_back = load::run(
        Shape {
            concurrency: 1,
            count: args.resume_count,
            warmup: 5,
            max_time: args.max_time(),
        },
        None,
        |_, _| invoke_ok(&client, name),
    )
    .await
    .summary;
    let mut side = Side {
        label,
        idle: Vec::new(),
        paused_seen: 0,
        back_to_back,
    };
    let started = std::time::Instant::now();
    for _ in 0..args.resume_count {
        if started.elapsed() > args.max_time() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(args.idle_ms)).await;
        let paused = metrics(&w.apihost, PAUSED).await;
        if paused.values().any(|&v| v >= 1.0) {
            side.paused_seen += 1;
        }
        let t = std::time::Instant::now();
        if !invoke_ok(&client, name).await {
            anyhow::bail!("invoking {name} after {} ms idle failed", args.idle_ms);
        }
        side.idle.push(t.elapsed());
    }
    Ok(side)
}
