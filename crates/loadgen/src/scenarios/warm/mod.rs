//! `warm`: what whiskd adds to a warm blocking invoke. For each no-op (the docker
//! skeleton and a Node.js no-op) it sends `--count` blocking invokes
//! (`?blocking=true&result=true`, through whisk-client) at each concurrency, then the same
//! load straight to the warm containers' `/run` on their published loopback ports with
//! each container's token (the floor), and prints p50, p99, throughput, whiskd's CPU time
//! per activation, the ratios and the targets.

use serde_json::json;

use crate::harness::floor;
use crate::harness::load::{self, Outcome, Shape};
use crate::harness::report::{self, fmt_ms, fmt_ratio, fmt_us, Table};
use crate::harness::stats::{ms, ratio};
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{delete_action, floor_http, invoke_ok, put_action, Noop};
use crate::{Args, NoopKind};

/// One no-op's runs: through whiskd and direct, per concurrency.
struct Measured {
    noop: Noop,
    whiskd: Vec<(usize, Outcome)>,
    direct: Vec<(usize, Outcome)>,
    direct_error: Option<String>,
}

/// Runs the scenario.
///
/// # Errors
/// whiskd could not be started or the actions not created.
pub async fn run(args: &Args, target: &Target) -> anyhow::Result<()> {
    report::heading("warm: blocking invokes through whiskd beside the container's own /run");
    let w = match Whiskd::start(target, &[], &[]).await? {
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
        };
        for &c in &args.concurrency {
            let shape = shape(args, c);
            let out = load::run(shape, w.pid, |_, _| invoke_ok(&client, &name)).await;
            m.whiskd.push((c, out));
        }
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
        for ((c, w), (_, d)) in m.whiskd.iter().zip(&m.direct) {
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
