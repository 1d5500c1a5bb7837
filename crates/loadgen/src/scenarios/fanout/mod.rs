//! `fanout`: a trigger with `--rules` rules, each to its own Node.js no-op action (all
//! warmed first). Each of `--fires` fires is timed from the fire request until every
//! rule's activation record is stored: the trigger's record (its logs name each rule's
//! activation id) and then each id is polled every few milliseconds with
//! `GET .../activations/ID`. Beside it, in the same whiskd: one warm blocking invoke of
//! one of the actions (the per-activation floor of the platform), and whiskd's CPU time
//! per activation over the fires (the polling's own cost included).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whisk_client::{Client, Method};

use crate::harness::cpu::CpuMeter;
use crate::harness::load::{self, Shape};
use crate::harness::report::{self, fmt_ms, fmt_ratio, fmt_us, Table};
use crate::harness::stats::{ms, percentile, ratio};
use crate::harness::whiskd::{Start, Target, Whiskd};
use crate::harness::{delete_action, invoke_ok, put_action};
use crate::Args;

/// Between two polls for records.
const POLL: Duration = Duration::from_millis(5);
/// Longest one fire may take until all its records are stored.
const FIRE_PATIENCE: Duration = Duration::from_secs(60);

/// Runs the scenario.
///
/// # Errors
/// whiskd could not be started, the entities not created, or a fire's records never
/// stored.
pub async fn run(args: &Args, target: &Target) -> Result<()> {
    report::heading(&format!(
        "fanout: a trigger with {} rules, fire until every record is stored",
        args.rules
    ));
    let w = match Whiskd::start(target, &[], &[]).await? {
        Start::Up(w) => w,
        Start::Refused(reason) => {
            report::skipped("fanout", &reason);
            return Ok(());
        }
    };
    println!("whiskd: `{}`\n", w.command);
    let client = w.client()?;
    let trigger = "loadgen-fan";
    let actions: Vec<String> = (0..args.rules)
        .map(|i| format!("loadgen-fan-a{i}"))
        .collect();
    let body = args.node().body(Some(128));
    for a in &actions {
        put_action(&client, a, &body).await?;
    }
    api(
        &client,
        Method::PUT,
        &format!("triggers/{trigger}"),
        &json!({}),
    )
    .await?;
    for (i, a) in actions.iter().enumerate() {
        api(
            &client,
            Method::PUT,
            &format!("rules/loadgen-fan-r{i}"),
            &json!({"trigger": format!("/_/{trigger}"), "action": format!("/_/{a}")}),
        )
        .await?;
    }
    for a in &actions {
        invoke_ok(&client, a).await;
    }
    let warm = load::run(
        Shape {
            concurrency: 1,
            count: 50,
            warmup: 5,
            max_time: args.max_time(),
        },
        None,
        |_, _| invoke_ok(&client, &actions[0]),
    )
    .await
    .summary;

    let meter = w.pid.and_then(CpuMeter::start);
    let started = Instant::now();
    let mut fires = Vec::new();
    let mut failure = None;
    for _ in 0..args.fires {
        if started.elapsed() > args.max_time() {
            break;
        }
        match fire_until_stored(&client, trigger, args.rules).await {
            Ok(d) => fires.push(d),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // Each fire stores the trigger's record and one per rule.
    let records = fires.len() * (args.rules + 1);
    let cpu = meter.and_then(|m| m.per_activation(records));
    for i in 0..args.rules {
        let _ = client
            .request(
                Method::DELETE,
                &format!("namespaces/_/rules/loadgen-fan-r{i}"),
                &[],
                None,
            )
            .await;
    }
    let _ = client
        .request(
            Method::DELETE,
            &format!("namespaces/_/triggers/{trigger}"),
            &[],
            None,
        )
        .await;
    for a in &actions {
        delete_action(&client, a).await;
    }
    w.stop();
    if let Some(e) = failure {
        report::skipped("the remaining fires", &format!("{e:#}"));
    }

    let mut t = Table::new(&[
        "path",
        "n",
        "p50 ms",
        "p99 ms",
        "per rule p50 ms",
        "whiskd CPU µs/record",
    ]);
    t.row(vec![
        format!("fire → {} records stored", args.rules),
        fires.len().to_string(),
        fmt_ms(percentile(&fires, 0.5)),
        fmt_ms(percentile(&fires, 0.99)),
        format!("{:.3}", ms(percentile(&fires, 0.5)) / args.rules as f64),
        fmt_us(cpu),
    ]);
    t.row(vec![
        "one warm blocking invoke (floor)".into(),
        warm.n().to_string(),
        fmt_ms(warm.p50()),
        fmt_ms(warm.p99()),
        String::new(),
        String::new(),
    ]);
    t.print();
    println!(
        "fire-to-all-stored p50 / one warm invoke p50: {}",
        fmt_ratio(ratio(ms(percentile(&fires, 0.5)), ms(warm.p50())))
    );
    report::CPU_PER_ACTIVATION.print(report::us(cpu));
    Ok(())
}

/// `client.request` on `namespaces/_/PATH` with `overwrite=true` for PUTs.
async fn api(client: &Client, method: Method, path: &str, body: &Value) -> Result<Value> {
    let query: &[(&str, &str)] = if method == Method::PUT {
        &[("overwrite", "true")]
    } else {
        &[]
    };
    let r = client
        .request(method, &format!("namespaces/_/{path}"), query, Some(body))
        .await
        .with_context(|| path.to_owned())?;
    Ok(r.json.unwrap_or(Value::Null))
}

/// Fires `trigger` and waits until the trigger's record and the `rules` records it names
/// are stored; the time that took.
async fn fire_until_stored(client: &Client, trigger: &str, rules: usize) -> Result<Duration> {
    let t = Instant::now();
    let deadline = t + FIRE_PATIENCE;
    let fired = api(
        client,
        Method::POST,
        &format!("triggers/{trigger}"),
        &json!({}),
    )
    .await?;
    let id = fired["activationId"]
        .as_str()
        .context("the fire returned no activation id")?
        .to_owned();
    let trigger_record = loop {
        if let Ok(r) = client.activation_get(&id).await {
            break r;
        }
        if Instant::now() > deadline {
            bail!("the trigger's record {id} was never stored");
        }
        tokio::time::sleep(POLL).await;
    };
    let mut pending: Vec<String> = trigger_record["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| serde_json::from_str::<Value>(l.as_str()?).ok())
        .filter_map(|l| l["activationId"].as_str().map(str::to_owned))
        .collect();
    if pending.len() != rules {
        bail!(
            "the trigger's record names {} activations, not {rules}: {trigger_record}",
            pending.len()
        );
    }
    while !pending.is_empty() {
        let mut left = Vec::new();
        for id in pending {
            if client.activation_get(&id).await.is_err() {
                left.push(id);
            }
        }
        pending = left;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} rule activations were never stored", pending.len());
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(t.elapsed())
}
