//! What every scenario shares: starting whiskd ([`whiskd`]), closed-loop load with count
//! and time bounds ([`load`]), the floors measured in the same run ([`floor`]), whiskd's
//! CPU time from `/proc` ([`cpu`]), percentiles and ratios ([`stats`]), and printing with
//! the targets ([`report`]). Scenarios talk to whiskd only through the project's
//! own client library (`whisk-client`); only the floors go around it.

pub mod cpu;
pub mod floor;
pub mod load;
pub mod report;
pub mod stats;
pub mod whiskd;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whisk_client::{Client, InvokeOutcome};

/// The no-op actions the scenarios invoke.
#[derive(Debug, Clone)]
pub enum Noop {
    /// A Docker action (`blackbox`) of this image: by default `whisk/example-c`, the
    /// docker skeleton with a C program that prints one line and returns a result.
    Skeleton(String),
    /// A Node.js action returning `{}`, of this kind (`nodejs:18`).
    Node(String),
}

impl Noop {
    /// Short name for tables and action names.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Skeleton(_) => "skeleton",
            Self::Node(_) => "node",
        }
    }

    /// What it runs, for tables.
    pub fn describe(&self) -> String {
        match self {
            Self::Skeleton(image) => format!("docker skeleton ({image})"),
            Self::Node(kind) => format!("{kind} no-op"),
        }
    }

    /// The action document, with `memory_mb` as its memory limit when given.
    pub fn body(&self, memory_mb: Option<u64>) -> Value {
        let exec = match self {
            Self::Skeleton(image) => json!({"kind": "blackbox", "image": image}),
            Self::Node(kind) => json!({"kind": kind, "code": "function main() { return {}; }"}),
        };
        match memory_mb {
            Some(m) => json!({"exec": exec, "limits": {"memory": m}}),
            None => json!({"exec": exec}),
        }
    }
}

/// Creates (or overwrites) action `name`.
///
/// # Errors
/// whiskd refused it.
pub async fn put_action(client: &Client, name: &str, body: &Value) -> Result<()> {
    client
        .action_put(name, body, true)
        .await
        .with_context(|| format!("creating action {name}"))?;
    Ok(())
}

/// Deletes action `name`, ignoring failures (cleanup).
pub async fn delete_action(client: &Client, name: &str) {
    let _ = client.action_delete(name).await;
}

/// A blocking invoke returning only the result; true when it completed with success.
pub async fn invoke_ok(client: &Client, name: &str) -> bool {
    matches!(
        client.action_invoke(name, &Value::Null, true, true).await,
        Ok(InvokeOutcome::Completed { .. })
    )
}

/// A blocking invoke returning the record: its latency and the record.
///
/// # Errors
/// The invoke failed or did not complete.
pub async fn invoke_record(client: &Client, name: &str) -> Result<(Duration, Value)> {
    let t = Instant::now();
    let outcome = client
        .action_invoke(name, &Value::Null, true, false)
        .await
        .with_context(|| format!("invoking {name}"))?;
    let latency = t.elapsed();
    match outcome {
        InvokeOutcome::Completed { body, .. } => Ok((latency, body)),
        other => bail!("invoking {name} did not complete: {other:?}"),
    }
}

/// An annotation of an activation record.
pub fn annotation<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    record["annotations"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

/// Longest a floor's request to a container may take (a frozen container never answers).
const FLOOR_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client of the floors: keep-alive, no Nagle, a timeout per request.
///
/// # Errors
/// TLS setup failed.
pub fn floor_http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .timeout(FLOOR_REQUEST_TIMEOUT)
        .build()?)
}

/// whiskd's `/metrics` samples whose name starts with `prefix`, by their full name with
/// labels (`whisk_invoker_starts_total{start="cold"}`). Empty when unreachable.
pub async fn metrics(apihost: &str, prefix: &str) -> BTreeMap<String, f64> {
    let Ok(r) = reqwest::get(format!("{apihost}/metrics")).await else {
        return BTreeMap::new();
    };
    let text = r.text().await.unwrap_or_default();
    parse_metrics(&text, prefix)
}

/// The samples of an OpenMetrics text whose name starts with `prefix`.
pub fn parse_metrics(text: &str, prefix: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The container starts counted between two readings of `whisk_invoker_starts_total`,
/// as `cold 3, warm 997` (only kinds that moved).
pub fn starts_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> String {
    let parts: Vec<String> = after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0.0);
            let kind = k.split('"').nth(1).unwrap_or(k);
            (d > 0.0).then(|| format!("{kind} {d:.0}"))
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP whisk_invoker_starts Containers given to activations\n\
        # TYPE whisk_invoker_starts counter\n\
        whisk_invoker_starts_total{start=\"cold\"} 3\n\
        whisk_invoker_starts_total{start=\"warm\"} 997\n\
        whisk_invoker_containers{state=\"paused\"} 2\n";

    #[test]
    fn reads_metric_samples_by_prefix() {
        let m = parse_metrics(METRICS, "whisk_invoker_starts_total");
        assert_eq!(m.len(), 2);
        assert_eq!(m["whisk_invoker_starts_total{start=\"warm\"}"], 997.0);
        let p = parse_metrics(METRICS, "whisk_invoker_containers{state=\"paused\"}");
        assert_eq!(p.values().copied().collect::<Vec<_>>(), vec![2.0]);
    }

    #[test]
    fn start_deltas_name_only_what_moved() {
        let before = parse_metrics(METRICS, "whisk_invoker_starts_total");
        let mut after = before.clone();
        *after
            .get_mut("whisk_invoker_starts_total{start=\"cold\"}")
            .unwrap() += 5.0;
        after.insert("whisk_invoker_starts_total{start=\"prewarm\"}".into(), 1.0);
        assert_eq!(starts_delta(&before, &after), "cold 5, prewarm 1");
        assert_eq!(starts_delta(&before, &before), "-");
    }

    #[test]
    fn noop_bodies() {
        let b = Noop::Skeleton("whisk/example-c".into()).body(Some(128));
        assert_eq!(b["exec"]["kind"], "blackbox");
        assert_eq!(b["limits"]["memory"], 128);
        let n = Noop::Node("nodejs:18".into()).body(None);
        assert_eq!(n["exec"]["kind"], "nodejs:18");
        assert!(n.get("limits").is_none());
    }
}
