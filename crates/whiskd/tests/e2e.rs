//! End-to-end tests: the real `whiskd standalone` binary, real HTTP, real containers on the
//! machine's dockerd, or started by runc from its images. They need the images `make images
//! sdk-images` builds (`whisk/dockerskeleton`, `whisk/example-c`, `whisk/example-go`), and
//! for the runc factory, root and runc. The tests named in [`per_factory!`] run once per
//! factory (`NAME::docker`, `NAME::runc`).

#[macro_use]
mod support;

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};
use support::{annotation, eventually, unique, Factory, Server};

const C_IMAGE: &str = "whisk/example-c";
const GO_IMAGE: &str = "whisk/example-go";
const SKELETON: &str = "whisk/dockerskeleton";

per_factory!(
    seed_c_action_blocking_and_non_blocking,
    seed_go_action,
    warm_reuse_update_and_delete,
    parallel_calls_start_more_containers,
    bad_input_gets_clear_errors,
    every_accepted_invocation_survives_a_crash,
    a_sequence_cut_short_by_a_crash_ends_in_a_record,
    a_recursive_conductor_ends_with_the_composition_error,
    memory_and_pids_limits_hold,
    a_killed_whiskds_containers_are_removed_at_its_next_start,
    idle_containers_are_paused_resumed_and_removed_frozen_after_a_crash,
);

async fn seed_c_action_blocking_and_non_blocking(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    let name = unique("whisk_c");
    s.docker_action(&name, C_IMAGE, None, json!({})).await;

    let (status, result) = s
        .invoke(&name, "blocking=true&result=true", json!({"key": "value"}))
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result,
        json!({"args": {"key": "value"}, "msg": "Hello from C program!"})
    );

    let (status, body) = s.invoke(&name, "", json!({"key": "value"})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["activationId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let record = s.activation(&id).await;
    assert_eq!(record["activationId"], id.as_str());
    assert_eq!(record["name"], name.as_str());
    assert_eq!(record["namespace"], "guest");
    assert_eq!(record["subject"], "guest");
    assert_eq!(record["response"]["success"], true);
    assert_eq!(record["response"]["status"], "success");
    assert_eq!(record["response"]["result"]["msg"], "Hello from C program!");
    let logs: Vec<&str> = record["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.ends_with("stdout: This is a log message from an arbitrary C program!")),
        "{logs:?}"
    );
    assert!(!logs.iter().any(|l| l.contains("XXX_THE_END")), "{logs:?}");
    for key in ["path", "kind", "limits", "waitTime"] {
        assert!(
            annotation(&record, key).is_some(),
            "missing {key}: {record}"
        );
    }
    assert_eq!(annotation(&record, "kind").unwrap(), "blackbox");
    assert_eq!(
        annotation(&record, "path").unwrap(),
        format!("guest/{name}").as_str()
    );
    assert!(record["start"].as_i64().unwrap() <= record["end"].as_i64().unwrap());

    // The same record through /result and /logs.
    let r: Value = s
        .req(Method::GET, &format!("activations/{id}/result"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"]["msg"], "Hello from C program!");
    let l: Value = s
        .req(Method::GET, &format!("activations/{id}/logs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(l["logs"], record["logs"]);
}

async fn seed_go_action(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    let name = unique("whisk_go");
    s.docker_action(&name, GO_IMAGE, None, json!({})).await;
    let (status, result) = s
        .invoke(
            &name,
            "blocking=true&result=true",
            json!({"hello": "world"}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result,
        json!({"keys": ["hello"], "message": "Hello from Go", "values": ["world"]})
    );
}

async fn warm_reuse_update_and_delete(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    let name = unique("warm");
    let fqn = format!("guest/{name}");
    s.docker_action(&name, C_IMAGE, None, json!({})).await;

    let (st, first) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{first}");
    assert!(annotation(&first, "initTime").is_some(), "{first}");
    let containers = s.containers_of(&fqn);
    assert_eq!(containers.len(), 1);

    let (st, second) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{second}");
    assert!(annotation(&second, "initTime").is_none(), "{second}");
    assert_eq!(
        s.containers_of(&fqn),
        containers,
        "no new container for a warm call"
    );

    // Update: new revision, new container, the old one retired.
    let r = s
        .req(Method::PUT, &format!("actions/{name}?overwrite=true"))
        .json(&json!({"exec": {"kind": "blackbox", "image": C_IMAGE}, "parameters": [{"key": "p", "value": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["version"], "0.0.2");
    let (st, third) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{third}");
    assert!(annotation(&third, "initTime").is_some(), "{third}");
    assert_eq!(third["version"], "0.0.2");
    assert_eq!(third["response"]["result"]["args"]["p"], 1);
    eventually("old container retired", || async {
        let now = s.containers_of(&fqn);
        (now.len() == 1 && !now.contains(&containers[0])).then_some(())
    })
    .await;

    // Delete: 404 afterwards, containers retired.
    let r = s
        .req(Method::DELETE, &format!("actions/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, body) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 404, "{body}");
    eventually("containers of a deleted action retired", || async {
        s.containers_of(&fqn).is_empty().then_some(())
    })
    .await;
}

async fn parallel_calls_start_more_containers(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    let name = unique("par");
    // Each run holds its container for a while, so parallel calls need parallel containers.
    s.docker_action(
        &name,
        SKELETON,
        Some("#!/bin/sh\nsleep 1\necho '{\"ok\":true}'\n"),
        json!({}),
    )
    .await;
    let calls = (0..3).map(|_| s.invoke(&name, "blocking=true&result=true", json!({})));
    let results = futures_util::future::join_all(calls).await;
    for (st, body) in &results {
        assert_eq!(*st, 200, "{body}");
        assert_eq!(body, &json!({"ok": true}));
    }
    assert!(s.containers_of(&format!("guest/{name}")).len() >= 2);
}

/// After each bad request, a valid call still works.
async fn still_works(s: &Server, name: &str) {
    let (st, body) = s
        .invoke(name, "blocking=true&result=true", json!({"k": 1}))
        .await;
    assert_eq!(st, 200, "server broke: {body}");
    assert_eq!(body["args"]["k"], 1);
}

async fn bad_input_gets_clear_errors(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    let good = unique("good");
    s.docker_action(&good, C_IMAGE, None, json!({})).await;
    still_works(&s, &good).await;

    // Wrong key: 401 with the OpenWhisk text and the error shape.
    let r = s
        .client
        .get(s.url("actions"))
        .basic_auth(
            "23bc46b1-71f6-4ed5-8c54-816aa4f8c502",
            Some("123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let tid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "The supplied authentication is invalid");
    assert_eq!(body["code"], tid.as_str());
    let r = s.client.get(s.url("actions")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    still_works(&s, &good).await;

    // Missing action: 404.
    let (st, body) = s.invoke("nope-missing", "blocking=true", json!({})).await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"], "The requested resource does not exist.");

    // Duplicate create: 409.
    let r = s
        .put_action(&good, json!({"kind": "blackbox", "image": C_IMAGE}))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "resource already exists"
    );

    // Illegal name: 400.
    let r = s
        .put_action("bad$name", json!({"kind": "blackbox", "image": C_IMAGE}))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "The name of the entity contains illegal characters."
    );

    // Malformed JSON: 400.
    let r = s
        .req(Method::PUT, "actions/malformed")
        .header("content-type", "application/json")
        .body("{\"exec\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("The request content was malformed"),
        "{body}"
    );
    still_works(&s, &good).await;

    // Payload over 1 MB: 413.
    let big = "x".repeat(1024 * 1024 + 10);
    let (st, body) = s
        .invoke(&good, "blocking=true", json!({ "big": big }))
        .await;
    assert_eq!(st, 413, "{body}");
    still_works(&s, &good).await;

    // Missing image: a developer error, not a hang.
    let missing = unique("noimage");
    s.docker_action(&missing, "whisk/does-not-exist-anywhere", None, json!({}))
        .await;
    let (st, body) = s.invoke(&missing, "blocking=true", json!({})).await;
    assert_eq!(st, 502, "{body}");
    assert_eq!(body["response"]["status"], "action developer error");
    assert!(
        body["response"]["result"]["error"]
            .as_str()
            .unwrap()
            .contains("Failed to pull container image"),
        "{body}"
    );
    still_works(&s, &good).await;

    // Hanging action: the time limit ends it and the container is destroyed.
    let hang = unique("hang");
    s.docker_action(
        &hang,
        SKELETON,
        Some("#!/bin/sh\nsleep 600\n"),
        json!({"timeout": 1000}),
    )
    .await;
    let (st, body) = s.invoke(&hang, "blocking=true", json!({})).await;
    assert_eq!(st, 502, "{body}");
    assert_eq!(
        body["response"]["result"]["error"],
        "The action exceeded its time limits of 1000 milliseconds."
    );
    assert_eq!(annotation(&body, "timeout").unwrap(), true);
    eventually("timed-out container destroyed", || async {
        s.containers_of(&format!("guest/{hang}"))
            .is_empty()
            .then_some(())
    })
    .await;
    still_works(&s, &good).await;

    // Crashing action: the process dies without a result.
    let crash = unique("crash");
    s.docker_action(
        &crash,
        SKELETON,
        Some("#!/bin/sh\necho 'about to crash' >&2\nkill -9 $$\n"),
        json!({}),
    )
    .await;
    let (st, body) = s.invoke(&crash, "blocking=true", json!({})).await;
    assert_eq!(st, 502, "{body}");
    assert_eq!(body["response"]["success"], false);
    assert_eq!(body["response"]["status"], "action developer error");

    // A result that is not a JSON object.
    let scalar = unique("scalar");
    s.docker_action(&scalar, SKELETON, Some("#!/bin/sh\necho 42\n"), json!({}))
        .await;
    let (st, body) = s.invoke(&scalar, "blocking=true", json!({})).await;
    assert_eq!(st, 502, "{body}");
    assert_eq!(body["response"]["status"], "action developer error");
    still_works(&s, &good).await;
}

async fn every_accepted_invocation_survives_a_crash(factory: Factory) {
    let mut s = Server::start_on(factory, &[]).await;
    let name = unique("durable");
    s.docker_action(
        &name,
        SKELETON,
        Some("#!/bin/sh\nsleep 0.2\necho '{\"done\":true}'\n"),
        json!({}),
    )
    .await;
    let mut ids = HashSet::new();
    for i in 0..20 {
        let (st, body) = s.invoke(&name, "", json!({ "i": i })).await;
        assert_eq!(st, 202, "{body}");
        ids.insert(body["activationId"].as_str().unwrap().to_owned());
    }
    // Crash while most of them are still queued (checked, so the test cannot pass vacuously).
    let done: Value = s
        .req(Method::GET, &format!("activations?name={name}&count=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        done["activations"].as_u64().unwrap() < ids.len() as u64,
        "all finished before the crash: {done}"
    );
    s.kill9();
    s.spawn().await;

    for id in &ids {
        let record = s.activation(id).await;
        assert_eq!(record["activationId"], id.as_str());
        assert_eq!(
            record["response"]["result"],
            json!({"done": true}),
            "{record}"
        );
    }
    // Exactly one record per id: the list holds each id once and nothing else.
    let list: Value = s
        .req(Method::GET, &format!("activations?name={name}&limit=200"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["activationId"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), ids.len(), "{listed:?}");
    assert_eq!(
        listed.iter().map(|s| s.to_string()).collect::<HashSet<_>>(),
        ids
    );
}

#[tokio::test]
async fn whiskd_refuses_an_action_network_that_lets_containers_talk() {
    // A network of the engine's defaults: containers on it reach each other.
    let name = unique("rwhisk-test-open");
    let created = std::process::Command::new("docker")
        .args(["network", "create", &name])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_whiskd"))
        .arg("standalone")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0"])
        .args(["--stem-cells", "0", "--action-network", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + support::patience();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = std::process::Command::new("docker")
        .args(["network", "rm", &name])
        .output();
    let status = status.expect("whiskd kept running on a network without isolation");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("lets its containers reach each other"),
        "{stderr}"
    );
}

#[tokio::test]
async fn actions_run_without_any_network() {
    let s = Server::start_with(&["--action-network", "none"]).await;
    let name = unique("offline");
    s.docker_action(
        &name,
        "openwhisk/dockerskeleton",
        Some("#!/bin/sh\necho \"{\\\"interfaces\\\":\\\"$(ls /sys/class/net | tr '\\n' ' ')\\\"}\"\n"),
        json!({}),
    )
    .await;
    let (status, record) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["response"]["result"], json!({"interfaces": "lo "}));
    // A runtime kind too, through a stem cell made without a network.
    let node = unique("offline-node");
    let r = s
        .put_action(
            &node,
            json!({"kind": "nodejs:default",
                   "code": "function main() { return {n: require('os').networkInterfaces()}; }"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, record) = s.invoke(&node, "blocking=true", json!({})).await;
    assert_eq!(status, 200, "{record}");
    let interfaces = record["response"]["result"]["n"].as_object().unwrap();
    assert_eq!(interfaces.keys().collect::<Vec<_>>(), ["lo"], "{record}");
}

/// A sequence accepted with 202 ends in a record even when whiskd is killed while it runs:
/// its state is in the store, and the next start ends it as interrupted; the component
/// that had started still runs to its own record.
async fn a_sequence_cut_short_by_a_crash_ends_in_a_record(factory: Factory) {
    let mut s = Server::start_on(factory, &[]).await;
    let slow = unique("slowstep");
    s.docker_action(
        &slow,
        SKELETON,
        Some("#!/bin/sh\nsleep 6\necho '{\"done\":true}'\n"),
        json!({}),
    )
    .await;
    let seq = unique("crashseq");
    let r = s
        .req(Method::PUT, &format!("actions/{seq}"))
        .json(&json!({"exec": {"kind": "sequence", "components": [format!("/_/{slow}")]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (st, body) = s.invoke(&seq, "", json!({})).await;
    assert_eq!(st, 202, "{body}");
    let id = body["activationId"].as_str().unwrap().to_owned();
    // Kill while the component runs in its container.
    eventually("the component's container", || async {
        (!s.containers_of(&format!("guest/{slow}")).is_empty()).then_some(())
    })
    .await;
    s.kill9();
    s.spawn().await;

    let record = s.activation(&id).await;
    assert_eq!(record["name"], seq.as_str());
    assert_eq!(
        record["response"]["status"], "whisk internal error",
        "{record}"
    );
    assert_eq!(
        record["response"]["result"]["error"],
        "The composition was interrupted by a controller restart."
    );
    assert_eq!(annotation(&record, "kind"), Some(&json!("sequence")));
    let logs = record["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "the started component is listed: {record}");
    let component = s.activation(logs[0].as_str().unwrap()).await;
    assert_eq!(component["response"]["result"], json!({"done": true}));
    assert_eq!(component["cause"], id.as_str());
}

/// A conductor that always continues with itself, in real containers, ends with
/// OpenWhisk's composition error after at most 2n + 1 conductor runs (n = 50), and the
/// platform keeps serving.
async fn a_recursive_conductor_ends_with_the_composition_error(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    let name = unique("recur");
    let code = format!("#!/bin/sh\necho '{{\"action\":\"{name}\"}}'\n");
    let r = s
        .req(Method::PUT, &format!("actions/{name}"))
        .json(&json!({
            "exec": {"kind": "blackbox", "image": SKELETON, "code": code},
            "annotations": [{"key": "conductor", "value": true}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (st, record) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 502, "{record}");
    assert_eq!(record["response"]["status"], "application error");
    assert_eq!(
        record["response"]["result"],
        json!({"error": "Too many actions in the composition."})
    );
    // The steps are the records of the action without the `conductor` annotation.
    let list: Value = s
        .req(
            Method::GET,
            &format!("activations?name={name}&limit=200&docs=true"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let steps = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| annotation(a, "conductor").is_none())
        .count();
    assert!((1..=101).contains(&steps), "{steps} conductor runs");
    let good = unique("after");
    s.docker_action(
        &good,
        SKELETON,
        Some("#!/bin/sh\necho '{\"ok\":true}'\n"),
        json!({}),
    )
    .await;
    let (st, r) = s
        .invoke(&good, "blocking=true&result=true", json!({}))
        .await;
    assert_eq!((st, r), (200, json!({"ok": true})));
}

/// An action past its memory limit is told so, a fork bomb stops at the pids limit, and the
/// platform keeps serving.
async fn memory_and_pids_limits_hold(factory: Factory) {
    let s = Server::start_on(factory, &[]).await;
    // Holds about 300 MB in a shell variable against a 128 MB limit.
    let hungry = unique("hungry");
    s.docker_action(
        &hungry,
        SKELETON,
        Some("#!/bin/sh\nx=$(head -c 300000000 /dev/zero | tr '\\0' a)\necho '{}'\n"),
        json!({"memory": 128}),
    )
    .await;
    let (st, body) = s.invoke(&hungry, "blocking=true", json!({})).await;
    assert_eq!(st, 502, "{body}");
    assert_eq!(body["response"]["status"], "action developer error");
    assert_eq!(
        body["response"]["result"]["error"], "The action exhausted its memory and was aborted.",
        "{body}"
    );

    // Tries to start 1,100 processes; the container's pids limit (1,024 with its threads)
    // stops the subshell short, and the action counts the processes it sees, without
    // forking (the limit is reached).
    let forks = unique("forks");
    s.docker_action(
        &forks,
        SKELETON,
        Some(concat!(
            "#!/bin/sh\n",
            "(for i in $(seq 1 1100); do sleep 10 </dev/null >/dev/null 2>&1 & done) 2>/dev/null\n",
            "set -- /proc/[0-9]*\n",
            "echo \"{\\\"procs\\\":$#}\"\n",
        )),
        json!({"memory": 512, "timeout": 30000}),
    )
    .await;
    let (st, body) = s.invoke(&forks, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{body}");
    let procs = body["response"]["result"]["procs"].as_u64().unwrap();
    assert!((500..1024).contains(&procs), "{procs} processes: {body}");

    let good = unique("good");
    s.docker_action(&good, C_IMAGE, None, json!({})).await;
    still_works(&s, &good).await;
}

/// whiskd killed with SIGKILL leaves its containers running; its next start on the same
/// data directory removes them (and, under runc, their bundles and cgroups).
async fn a_killed_whiskds_containers_are_removed_at_its_next_start(factory: Factory) {
    let mut s = Server::start_on(factory, &[]).await;
    let name = unique("leftover");
    let fqn = format!("guest/{name}");
    s.docker_action(
        &name,
        SKELETON,
        Some("#!/bin/sh\necho '{\"ok\":true}'\n"),
        json!({}),
    )
    .await;
    let (st, body) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{body}");
    let left = s.containers_of(&fqn);
    assert_eq!(left.len(), 1, "{left:?}");
    s.kill9();
    assert_eq!(s.containers_of(&fqn), left, "the container outlives whiskd");

    // Under runc, its bundle and cgroups are left too (none under Docker).
    let runc_dir = s.runc_dir();
    let leftovers = || runc_leftovers(&runc_dir, &left[0]);
    assert_eq!(
        leftovers().is_empty(),
        factory == Factory::Docker,
        "{:?}",
        leftovers()
    );

    s.spawn().await;
    eventually("the killed whiskd's container removed", || async {
        s.containers_of(&fqn).is_empty().then_some(())
    })
    .await;
    eventually("its bundle and cgroups removed", || async {
        leftovers().is_empty().then_some(())
    })
    .await;
    let (st, body) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{body}");
}

/// What is left of runc container `id` besides its runc state: its bundle under `runc_dir`
/// and its cgroup directories.
fn runc_leftovers(runc_dir: &std::path::Path, id: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("rwhisk").join(id))
        .chain([
            std::path::Path::new("/sys/fs/cgroup/rwhisk").join(id),
            runc_dir.join("bundles").join(id),
        ])
        .filter(|p| p.exists())
        .collect()
}

/// A runc container's action has no network but its own loopback, cannot reach the host's
/// loopback listeners (whiskd's own API), and sees only its own processes.
#[tokio::test]
async fn runc_actions_see_only_loopback_and_their_own_processes() {
    let s = Server::start_on(Factory::Runc, &[]).await;
    let name = unique("runc-isolated");
    let code = format!(
        concat!(
            "#!/bin/sh\n",
            "nets=$(ls /sys/class/net | tr '\\n' ' ')\n",
            "procs=$(ls /proc | grep -c '^[0-9]')\n",
            "init=$(tr '\\0' ' ' < /proc/1/cmdline)\n",
            "if wget -q -T 2 -O /dev/null http://127.0.0.1:{port}/ping; then api=reached; else api=unreachable; fi\n",
            "echo \"{{\\\"nets\\\":\\\"$nets\\\",\\\"procs\\\":$procs,\\\"init\\\":\\\"$init\\\",\\\"api\\\":\\\"$api\\\"}}\"\n",
        ),
        port = s.http
    );
    s.docker_action(&name, SKELETON, Some(&code), json!({}))
        .await;
    let (st, body) = s.invoke(&name, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{body}");
    let result = &body["response"]["result"];
    assert_eq!(result["nets"], "lo ", "{body}");
    assert_eq!(result["api"], "unreachable", "{body}");
    // The proxy is the namespace's first process; the action sees a handful besides.
    assert!(
        result["init"].as_str().unwrap().contains("whisk-proxy"),
        "{body}"
    );
    let procs = result["procs"].as_u64().unwrap();
    assert!(
        (2..10).contains(&procs),
        "{procs} processes visible: {body}"
    );
    // The same request from the host does reach the API: the check above is meaningful.
    let r = s
        .client
        .get(format!("{}/ping", s.base()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// An idle container is paused after the grace (seen in its cgroup and in /metrics), the
/// next call resumes it warm with the right result, and a whiskd killed while it is
/// paused leaves nothing behind after its restart: the frozen leftover is removed.
async fn idle_containers_are_paused_resumed_and_removed_frozen_after_a_crash(factory: Factory) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    if !status.lines().any(|l| l.starts_with("Uid:\t0\t")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "pausing needs root, and CI runs as root"
        );
        eprintln!("skipped: pausing needs root (the cgroup freezer)");
        return;
    }
    let mut s = Server::start_on(factory, &["--pause-grace-ms", "30"]).await;
    let name = unique("paused");
    let fqn = format!("guest/{name}");
    s.docker_action(
        &name,
        SKELETON,
        Some("#!/bin/sh\necho \"{\\\"args\\\":$1}\"\n"),
        json!({}),
    )
    .await;
    let (st, body) = s
        .invoke(&name, "blocking=true&result=true", json!({"n": 1}))
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body, json!({"args": {"n": 1}}));
    let ids = s.containers_of(&fqn);
    assert_eq!(ids.len(), 1);
    eventually("the idle container paused", || async {
        s.frozen(&ids[0]).then_some(())
    })
    .await;
    // Sampled at each heartbeat.
    eventually("the paused container counted", || async {
        let text = reqwest::get(format!("{}/metrics", s.base()))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("whisk_invoker_containers{state=\"paused\"} 1")
            .then_some(())
    })
    .await;
    for n in 2..5 {
        let (st, record) = s.invoke(&name, "blocking=true", json!({"n": n})).await;
        assert_eq!(st, 200, "{record}");
        assert_eq!(record["response"]["result"], json!({"args": {"n": n}}));
        assert!(
            annotation(&record, "initTime").is_none(),
            "resumed warm: {record}"
        );
        assert_eq!(s.containers_of(&fqn), ids);
        eventually("paused again", || async { s.frozen(&ids[0]).then_some(()) }).await;
    }
    s.kill9();
    assert!(s.frozen(&ids[0]), "left frozen by the crash");
    s.spawn().await;
    eventually("the frozen leftover removed", || async {
        s.containers_of(&fqn).is_empty().then_some(())
    })
    .await;
}
