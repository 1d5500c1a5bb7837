//! `many`: throughput of `--distinct` actions invoked round robin against one action's,
//! measured in the same whiskd at the same concurrency (OpenWhisk collapses to 30-40/s
//! with many distinct actions; issue 11's target is at least half the one-action rate).
//! Every action is the docker skeleton no-op with `--many-memory-mb` of memory; each is
//! invoked once before the measured run. The invoker's container starts during each run
//! (from its `whisk_invoker_starts_total` metric) say whether the pool kept them warm.

use std::time::Instant;

use crate::harness::load::{self, Outcome, Shape};
use crate::harness::report::{self, fmt_ms, fmt_ratio, fmt_us, Table};
use crate::harness::stats::ratio;
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{delete_action, invoke_ok, metrics, put_action, starts_delta};
use crate::Args;

const STARTS: &str = "whisk_invoker_starts_total";

/// Runs the scenario.
///
/// # Errors
/// whiskd could not be started or the actions not created.
pub async fn run(args: &Args, target: &Target) -> anyhow::Result<()> {
    report::heading(&format!(
        "many: {} distinct actions against one, c={}",
        args.distinct, args.many_concurrency
    ));
    let w = match Whiskd::start(target, &[], &[]).await? {
        Start::Up(w) => w,
        Start::Refused(reason) => {
            report::skipped("many", &reason);
            return Ok(());
        }
    };
    println!("whiskd: `{}`\n", w.command);
    let client = w.client()?;
    let noop = args.skeleton();
    let body = noop.body(Some(args.many_memory_mb));
    let one = "loadgen-one".to_owned();
    let names: Vec<String> = (0..args.distinct)
        .map(|i| format!("loadgen-many-{i}"))
        .collect();
    put_action(&client, &one, &body).await?;
    for n in &names {
        put_action(&client, n, &body).await?;
    }
    // Each action once (cold starts), bounded by the run's time.
    let t = Instant::now();
    let mut first_errors = 0;
    for n in std::iter::once(&one).chain(&names) {
        if t.elapsed() > args.max_time() {
            break;
        }
        if !invoke_ok(&client, n).await {
            first_errors += 1;
        }
    }
    let shape = Shape {
        concurrency: args.many_concurrency,
        count: args.count,
        warmup: args.warmup,
        max_time: args.max_time(),
    };
    let before = metrics(&w.apihost, STARTS).await;
    let one_run = load::run(shape, w.pid, |_, _| invoke_ok(&client, &one)).await;
    let mid = metrics(&w.apihost, STARTS).await;
    let c = shape.concurrency;
    let k = names.len();
    let many_run = load::run(shape, w.pid, |wk, i| {
        invoke_ok(&client, &names[(i * c + wk) % k])
    })
    .await;
    let after = metrics(&w.apihost, STARTS).await;
    for n in std::iter::once(&one).chain(&names) {
        delete_action(&client, n).await;
    }
    w.stop();

    if first_errors > 0 {
        println!("- {first_errors} first invokes failed");
    }
    let mut t = Table::new(&[
        "actions",
        "n",
        "errors",
        "p50 ms",
        "p99 ms",
        "req/s",
        "whiskd CPU µs/act",
        "container starts in the run",
    ]);
    let row = |label: String, o: &Outcome, starts: String| {
        let s = &o.summary;
        vec![
            label,
            format!(
                "{}{}",
                s.n(),
                if o.cut_short { " (time bound)" } else { "" }
            ),
            s.errors.to_string(),
            fmt_ms(s.p50()),
            fmt_ms(s.p99()),
            format!("{:.0}", s.rate()),
            fmt_us(o.cpu_per_request()),
            starts,
        ]
    };
    t.row(row("1".into(), &one_run, starts_delta(&before, &mid)));
    t.row(row(k.to_string(), &many_run, starts_delta(&mid, &after)));
    t.print();
    let r = ratio(many_run.summary.rate(), one_run.summary.rate());
    println!(
        "throughput ratio {k} actions / 1 action: {} ({} MB each)",
        fmt_ratio(r),
        args.many_memory_mb
    );
    report::MANY_RATIO.print(r);
    report::CPU_PER_ACTIVATION.print(report::us(many_run.cpu_per_request()));
    Ok(())
}
