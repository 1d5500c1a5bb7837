//! Scale-out: `whiskd controller` and `whiskd invoker` roles side by side over one store
//! and one bus, with actions in real Docker containers. In-process here (the roles as
//! tasks over the embedded store and bus); `chaos.rs` runs them as processes over
//! PostgreSQL and NATS and breaks things.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::json;

use cluster::{containers_labelled, homed_at, sample, Cluster};
use support::{eventually, unique};

async fn wait_records(c: &Cluster, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        eventually(&format!("the record of {id}"), || c.record(i % 2, id)).await;
    }
}

/// Every id in `ids` has exactly one record in the namespace, and there are no others.
async fn exactly_one_record_each(c: &Cluster, ids: &[String]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut skip = 0;
    loop {
        let page: Vec<serde_json::Value> = c
            .req(
                0,
                reqwest::Method::GET,
                &format!("activations?limit=200&skip={skip}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in &page {
            *seen
                .entry(r["activationId"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if page.len() < 200 {
            break;
        }
        skip += 200;
    }
    let want: HashSet<&String> = ids.iter().collect();
    assert_eq!(want.len(), ids.len(), "ids are distinct");
    for id in ids {
        assert_eq!(seen.get(id), Some(&1), "one record of {id}");
    }
    let extra: Vec<&String> = seen.keys().filter(|k| !want.contains(k)).collect();
    assert!(extra.is_empty(), "records nobody asked for: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controllers_and_invokers_share_load_join_and_drain() {
    let mut c = Cluster::in_process();
    c.add_controller(0, 2).await;
    c.add_controller(1, 2).await;
    assert!(!c.key.is_empty(), "the first controller made the guest");
    for id in 0..3 {
        c.add_invoker(id).await;
    }
    for n in 0..2 {
        for id in 0..3 {
            c.wait_invoker_state(n, id, "up").await;
        }
    }
    assert_eq!(
        c.invokers_seen(0).await,
        json!({"invoker0/0": "up", "invoker1/1": "up", "invoker2/2": "up"})
    );

    // One action homed at each invoker, so every invoker gets work.
    let tag = unique("s");
    let actions: Vec<String> = (0..3)
        .map(|home| homed_at(home, 3, &format!("{tag}-h{home}-")))
        .collect();
    for a in &actions {
        c.node_action(0, a).await;
    }

    // Load through both controllers; blocking callers get their result.
    let mut ids = Vec::new();
    for i in 0..24 {
        let (st, body) = c
            .invoke(i % 2, &actions[i % 3], false, json!({"n": i}))
            .await
            .expect("an answer");
        assert_eq!(st, 202, "{body}");
        ids.push(body["activationId"].as_str().unwrap().to_owned());
    }
    for (i, a) in actions.iter().enumerate() {
        let (st, body) = c
            .invoke(i % 2, a, true, json!({"n": 100 + i}))
            .await
            .unwrap();
        assert!(st == 200 || st == 202, "{st} {body}");
        if st == 200 {
            assert_eq!(body["response"]["result"]["n"], 100 + i, "{body}");
        }
        ids.push(body["activationId"].as_str().unwrap().to_owned());
    }
    wait_records(&c, &ids).await;
    for (id, m) in &c.invokers {
        let text = c.metrics(m).await;
        assert!(
            sample(&text, "whisk_invoker_activations_total{status=\"success\"}") >= 1.0,
            "invoker {id} ran its share:\n{text}"
        );
        assert!(
            sample(&text, "whisk_invoker_starts_total{start=\"cold\"}") >= 1.0,
            "{text}"
        );
        assert!(
            text.contains("whisk_invoker_containers{state=\"warm\"}"),
            "{text}"
        );
        assert!(text.contains("whisk_bus_errors_total"), "{text}");
    }

    // A new invoker takes load within seconds: an action homed at it among four.
    c.add_invoker(3).await;
    for n in 0..2 {
        c.wait_invoker_state(n, 3, "up").await;
    }
    let late = homed_at(3, 4, &format!("{tag}-late-"));
    c.node_action(1, &late).await;
    for i in 0..4 {
        let (st, body) = c
            .invoke(i % 2, &late, false, json!({"n": i}))
            .await
            .unwrap();
        assert_eq!(st, 202, "{body}");
        ids.push(body["activationId"].as_str().unwrap().to_owned());
    }
    let m3 = &c.invokers[&3];
    eventually("invoker 3 runs the new action", || async {
        let text = c.metrics(m3).await;
        (sample(&text, "whisk_invoker_activations_total{status=\"success\"}") >= 4.0).then_some(())
    })
    .await;

    // Drain invoker 2 while load runs: it finishes what it has and leaves no container.
    let label2 = c.invokers[&2].invoker_label(2);
    assert!(
        !containers_labelled(&label2).is_empty(),
        "invoker 2 has warm containers"
    );
    let mut leaving = c.invokers.remove(&2).unwrap();
    let load = {
        let mut batch = Vec::new();
        for i in 0..8 {
            batch.push(c.invoke(i % 2, &actions[i % 3], false, json!({"n": i})));
        }
        futures_util::future::join_all(batch)
    };
    let (results, ()) = tokio::join!(load, leaving.stop());
    for r in results {
        let (st, body) = r.unwrap();
        assert_eq!(st, 202, "{body}");
        ids.push(body["activationId"].as_str().unwrap().to_owned());
    }
    assert!(
        containers_labelled(&label2).is_empty(),
        "a drained invoker leaves no container"
    );
    for n in 0..2 {
        c.wait_invoker_state(n, 2, "down").await;
    }
    // Its actions step on to a healthy invoker.
    let (st, body) = c
        .invoke(0, &actions[2], true, json!({"n": 7}))
        .await
        .unwrap();
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["response"]["result"]["n"], 7);
    ids.push(body["activationId"].as_str().unwrap().to_owned());

    // Invoker 2 back: whatever reached its topic meanwhile runs now; nothing is lost.
    c.add_invoker(2).await;
    wait_records(&c, &ids).await;
    exactly_one_record_each(&c, &ids).await;

    let text = c.metrics(&c.controllers[0]).await;
    for name in [
        "whisk_controller_http_responses_total{class=\"2xx\"}",
        "whisk_controller_invocations_total{outcome=\"accepted\"}",
    ] {
        assert!(sample(&text, name) >= 1.0, "{name}:\n{text}");
    }
    for name in [
        "whisk_controller_blocking_wait_seconds_count",
        "whisk_store_errors_total",
        "whisk_bus_errors_total",
    ] {
        assert!(text.contains(name), "{name}:\n{text}");
    }
    assert!(!text.contains("guest"), "no namespace in /metrics");

    // Every role stops cleanly and every container goes.
    let labels: Vec<String> = c
        .invokers
        .iter()
        .map(|(id, m)| m.invoker_label(*id))
        .collect();
    for m in c.invokers.values_mut() {
        m.stop().await;
    }
    for m in &mut c.controllers {
        m.stop().await;
    }
    for label in labels {
        assert!(containers_labelled(&label).is_empty(), "{label}");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// `deploy/docker-compose.yml` is a valid compose file for the scaled-out layout:
/// PostgreSQL, NATS, two controllers and two invokers from the whiskd image, each
/// controller and invoker with its own id, all on one store, bus and signing key.
#[test]
fn the_compose_file_describes_the_scaled_out_layout() {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/docker-compose.yml");
    let run = |program: &str, pre: &[&str]| {
        std::process::Command::new(program)
            .args(pre)
            .arg("-f")
            .arg(&file)
            .arg("config")
            .output()
            .ok()
            .filter(|o| o.status.success() || !o.stderr.is_empty())
    };
    let out = run("docker-compose", &[])
        .or_else(|| run("docker", &["compose"]))
        .expect("docker-compose is not installed: run scripts/setup-host.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for service in [
        "postgres:",
        "nats:",
        "controller0:",
        "controller1:",
        "invoker0:",
        "invoker1:",
    ] {
        assert!(text.contains(&format!("  {service}")), "{service}\n{text}");
    }
    assert_eq!(
        text.matches("image: whisk/whiskd:latest").count(),
        4,
        "{text}"
    );
    assert_eq!(
        text.matches("RWHISK_STORE: postgres://").count(),
        4,
        "{text}"
    );
    assert_eq!(text.matches("RWHISK_BUS: nats://").count(), 4, "{text}");
    assert_eq!(
        text.matches("RWHISK_SIGNING_KEY_FILE: /secrets/signing.key")
            .count(),
        4,
        "{text}"
    );
    // Ids in the canonical output, whatever its indentation.
    let flat: Vec<&str> = text.lines().map(str::trim).collect();
    let ids: Vec<&str> = flat
        .windows(2)
        .filter(|w| w[0] == "- --id")
        .map(|w| w[1])
        .collect();
    assert_eq!(ids, ["- '0'", "- '1'", "- '0'", "- '1'"], "{text}");
}
