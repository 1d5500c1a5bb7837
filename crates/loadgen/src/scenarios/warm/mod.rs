//! `warm`: what whiskd adds to a warm blocking invoke. For each no-op (the docker
//! skeleton and a Node.js no-op) it sends `--count` blocking invokes
//! (`?blocking=true&result=true`, through whisk-client) at each concurrency, then the same
//! load straight to the warm containers' `/run` on their published loopback ports with
//! each container's token (the floor), and prints p50, p99, throughput, whiskd's CPU time
//! per activation, the ratios and the targets.
//!
//! whiskd runs with `RWHISK_PAUSE_GRACE_MS=0` (a whiskd without pausing ignores it): the
//! floor's requests go around whiskd, which would not thaw a container it had frozen
//! between two runs; under closed-loop load a container is never idle long enough to be
//! paused anyway.

use serde_json::json;

use crate::harness::floor;
use crate::harness::load::{self, Outcome, Shape};
use crate::harness::report::{self, fmt_ms, fmt_ratio, fmt_us, Table};
use crate::harness::stats::{ms, percentile_f64, ratio};
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{
    annotation, delete_action, floor_http, invoke_ok, invoke_record, put_action, Noop,
};
use crate::{Args, NoopKind};

/// Samples of the c=1 breakdown: full records read back from blocking invokes.
const BREAKDOWN_SAMPLES: usize = 200;

/// One no-op's runs: through whiskd and direct, per concurrency.
struct Measured {
    noop: Noop,
    whiskd: Vec<(usize, Outcome)>,
    direct: Vec<(usize, Outcome)>,
    direct_error: Option<String>,
    breakdown: Option<Breakdown>,
}

/// Where a warm c=1 invoke's time goes, per the records: p50 of the client's latency, of
/// `waitTime` (accepted until a container was given), of `duration` (the container's
/// `/run` as the invoker timed it), and of what is left per sample (the API, the bus, the
/// log read, the record, the answer).
struct Breakdown {
    n: usize,
    latency_ms: f64,
    wait_ms: f64,
    duration_ms: f64,
    rest_ms: f64,
}

async fn breakdown(client: &whisk_client::Client, name: &str, n: usize) -> Option<Breakdown> {
    let (mut lat, mut wait, mut dur, mut rest) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let Ok((latency, record)) = invoke_record(client, name).await else {
            continue;
        };
        let w = annotation(&record, "waitTime")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let Some(d) = record["duration"].as_f64() else {
            continue;
        };
        lat.push(ms(latency));
        wait.push(w);
        dur.push(d);
        rest.push(ms(latency) - w - d);
    }
    Some(Breakdown {
        n: lat.len(),
        latency_ms: percentile_f64(&lat, 0.5)?,
        wait_ms: percentile_f64(&wait, 0.5)?,
        duration_ms: percentile_f64(&dur, 0.5)?,
        rest_ms: percentile_f64(&rest, 0.5)?,
    })
}

/// Runs the scenario.
///
/// # Errors
/// whiskd could not be started or the actions not created.
pub async fn run(args: &Args, target: &Target) -> anyhow::Result<()> {
    report::heading("warm: blocking invokes through whiskd beside the container's own /run");
    let w = match Whiskd::start(target, &[], &[("RWHISK_PAUSE_GRACE_MS", "0")]).await? {
        Start::Up(w) => w,
        Start::Refused(reason) => {
            report::skipped("warm", &reason);
            return Ok(());
        }
    };
    println!("whiskd: `{}`\n", w.command);
    let client = w.client()?;
    let http = floor_http()?;
    let mut all = Vec::new();
    for kind in &args.warm_actions {
        let noop = match kind {
            NoopKind::Skeleton => args.skeleton(),
            NoopKind::Node => args.node(),
        };
        let name = format!("loadgen-warm-{}", noop.label());
        put_action(&client, &name, &noop.body(None)).await?;
        let mut m = Measured {
            noop,
            whiskd: Vec::new(),
            direct: Vec::new(),
            direct_error: None,
            breakdown: None,
        };
        for &c in &args.concurrency {
            let shape = shape(args, c);
            let out = load::run(shape, w.pid, |_, _| invoke_ok(&client, &name)).await;
            m.whiskd.push((c, out));
        }
        m.breakdown = breakdown(&client, &name, BREAKDOWN_SAMPLES.min(args.count)).await;
        let fqn = format!("guest/{name}");
        let body = floor::run_body(&fqn, &json!({}));
        match floor::warm_containers(&fqn, w.invoker_label.as_deref()).await {
            Ok(containers) => {
                for &c in &args.concurrency {
                    match floor::direct_run(&http, &containers, &body, shape(args, c)).await {
                        Ok(out) => m.direct.push((c, out)),
                        Err(e) => m.direct_error = Some(format!("{e:#}")),
                    }
                }
            }
            Err(e) => m.direct_error = Some(format!("{e:#}")),
        }
        // The direct runs left sentinels the invoker did not ask for: retire the
        // containers with the action.
        delete_action(&client, &name).await;
        all.push(m);
    }
    w.stop();
    print(&all);
    Ok(())
}

fn shape(args: &Args, concurrency: usize) -> Shape {
    Shape {
        concurrency,
        count: args.count,
        warmup: args.warmup,
        max_time: args.max_time(),
    }
}

fn print(all: &[Measured]) {
    let mut t = Table::new(&[
        "action",
        "path",
        "conc",
        "n",
        "errors",
        "p50 ms",
        "p99 ms",
        "req/s",
        "whiskd CPU µs/act",
        "whiskd cores busy",
    ]);
    for m in all {
        let rows = m
            .whiskd
            .iter()
            .map(|r| ("whiskd", r))
            .chain(m.direct.iter().map(|r| ("direct /run", r)));
        for (path, (c, out)) in rows {
            let s = &out.summary;
            let cut = if out.cut_short { " (time bound)" } else { "" };
            t.row(vec![
                m.noop.describe(),
                path.into(),
                c.to_string(),
                format!("{}{cut}", s.n()),
                s.errors.to_string(),
                fmt_ms(s.p50()),
                fmt_ms(s.p99()),
                format!("{:.0}", s.rate()),
                if path == "whiskd" {
                    fmt_us(out.cpu_per_request())
                } else {
                    String::new()
                },
                match out.cpu {
                    Some(cpu) if path == "whiskd" => {
                        fmt_ratio(ratio(cpu.as_secs_f64(), s.elapsed.as_secs_f64()))
                            .trim_end_matches('x')
                            .to_owned()
                    }
                    _ => String::new(),
                },
            ]);
        }
    }
    t.print();
    let mut ratios = Table::new(&[
        "action",
        "conc",
        "p50 ratio",
        "added p50 ms",
        "p99 ratio",
        "added p99 ms",
        "throughput ratio",
    ]);
    for m in all {
        for (c, w) in &m.whiskd {
            let Some((_, d)) = m.direct.iter().find(|(dc, _)| dc == c) else {
                continue;
            };
            let (w, d) = (&w.summary, &d.summary);
            ratios.row(vec![
                m.noop.describe(),
                c.to_string(),
                fmt_ratio(ratio(ms(w.p50()), ms(d.p50()))),
                format!("{:.3}", ms(w.p50()) - ms(d.p50())),
                fmt_ratio(ratio(ms(w.p99()), ms(d.p99()))),
                format!("{:.3}", ms(w.p99()) - ms(d.p99())),
                fmt_ratio(ratio(w.rate(), d.rate())),
            ]);
        }
        if let Some(e) = &m.direct_error {
            report::skipped(&format!("direct /run floor of {}", m.noop.describe()), e);
        }
    }
    ratios.print();
    let mut b = Table::new(&[
        "action",
        "records (c=1)",
        "latency p50 ms",
        "waitTime p50 ms",
        "duration p50 ms",
        "rest p50 ms",
    ]);
    for m in all {
        if let Some(x) = &m.breakdown {
            b.row(vec![
                m.noop.describe(),
                x.n.to_string(),
                format!("{:.3}", x.latency_ms),
                format!("{:.3}", x.wait_ms),
                format!("{:.3}", x.duration_ms),
                format!("{:.3}", x.rest_ms),
            ]);
        }
    }
    println!(
        "Where a c=1 invoke's time goes, from its record (full record returned; rest = \
         latency − waitTime − duration per sample: API, bus, log read, record, answer):\n"
    );
    b.print();
    for m in all {
        println!("{}:", m.noop.describe());
        let c1 = |v: &[(usize, Outcome)]| {
            v.iter()
                .find(|(c, _)| *c == 1)
                .map(|(_, o)| o.summary.clone())
        };
        let (w1, d1) = (c1(&m.whiskd), c1(&m.direct));
        let added = |f: fn(&crate::harness::stats::Summary) -> std::time::Duration| {
            Some(ms(f(w1.as_ref()?)) - ms(f(d1.as_ref()?)))
        };
        report::ADDED_P50_C1.print(added(crate::harness::stats::Summary::p50));
        report::ADDED_P99_C1.print(added(crate::harness::stats::Summary::p99));
        // CPU per activation where whiskd is busiest: the run with the highest throughput.
        let best = m
            .whiskd
            .iter()
            .max_by(|a, b| a.1.summary.rate().total_cmp(&b.1.summary.rate()));
        if let Some((c, out)) = best {
            println!("  (CPU and rate at c={c}, the highest throughput)");
            report::CPU_PER_ACTIVATION.print(report::us(out.cpu_per_request()));
            if matches!(m.noop, Noop::Node(_)) {
                report::NODE_WARM_RATE.print(Some(out.summary.rate()));
            }
        }
    }
}
