//! End-to-end tests of how invocations travel: the real `whiskd standalone` with real
//! containers (the skeleton image `make images` builds). Messages on the bus carry a
//! reference to the action's code, never the code; a long activation is not run again
//! when the bus's lease runs out; an activation that cannot get a container in time ends
//! in a whisk error; an action updated while an invocation of it is queued still runs the
//! code it was invoked with.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{containers_of, unique, Server};

const SKELETON: &str = "whisk/dockerskeleton";

/// Every file of the bus (`bus.db` and its WAL and shared-memory files), concatenated.
fn bus_bytes(s: &Server) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(s.data.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("bus.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// About 1 MB of a distinctive marker, for a comment in an action's code.
const MARKER: &str = "RWHISK-CODE-MARKER-7f3a9c";

fn marker_comment() -> String {
    MARKER.repeat(1024 * 1024 / MARKER.len())
}

/// Invokes `name` blocking twice (cold, warm) and once non-blocking; each returns `want`.
async fn invoke_three_ways(s: &Server, name: &str, want: serde_json::Value) {
    for _ in 0..2 {
        let (status, result) = s.invoke(name, "blocking=true&result=true", json!({})).await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result, want);
    }
    let (status, body) = s.invoke(name, "", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let record = s.activation(body["activationId"].as_str().unwrap()).await;
    assert_eq!(record["response"]["result"], want, "{record}");
}

#[tokio::test]
async fn the_bus_never_holds_the_code_of_an_action() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let script = unique("bigscript");
    let code = format!(
        "#!/bin/sh\n# {}\necho '{{\"ok\":true}}'\n",
        marker_comment()
    );
    s.docker_action(&script, SKELETON, Some(&code), json!({}))
        .await;
    invoke_three_ways(&s, &script, json!({"ok": true})).await;

    let node = unique("bignode");
    let code = format!(
        "// {}\nfunction main() {{ return {{ok: 'node'}} }}\n",
        marker_comment()
    );
    let r = s
        .put_action(&node, json!({"kind": "nodejs:18", "code": code}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    invoke_three_ways(&s, &node, json!({"ok": "node"})).await;

    let bus = bus_bytes(&s);
    assert!(!bus.is_empty(), "the bus files exist");
    assert!(
        !contains(&bus, MARKER.as_bytes()),
        "the bus files hold an action's code"
    );
}

#[tokio::test]
async fn an_activation_longer_than_the_bus_lease_runs_once() {
    // A lease of one second; the action takes four.
    let s = Server::start_with(&["--stem-cells", "0", "--bus-ack-wait-secs", "1"]).await;
    let name = unique("long");
    let fqn = format!("guest/{name}");
    let code = "#!/bin/sh\necho started >&2\nsleep 4\necho '{\"ok\":true}'\n";
    s.docker_action(&name, SKELETON, Some(code), json!({}))
        .await;
    let (status, body) = s.invoke(&name, "", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["activationId"].as_str().unwrap().to_owned();
    let record = s.activation(&id).await;
    assert_eq!(
        record["response"]["result"],
        json!({"ok": true}),
        "{record}"
    );
    // A second run would have needed a second container (the first was busy). Wait a few
    // leases more, so a late redelivery would show too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        containers_of(&fqn).len(),
        1,
        "the activation ran more than once"
    );
    let r = s
        .req(reqwest::Method::GET, &format!("activations?name={name}"))
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn waiting_for_a_container_ends_in_a_whisk_error() {
    // Room for one 256 MB container, which a long activation holds.
    let s = Server::start_with(&[
        "--stem-cells",
        "0",
        "--invoker-memory-mb",
        "256",
        "--container-wait-secs",
        "1",
    ])
    .await;
    let long = unique("hog");
    let other = unique("starved");
    s.docker_action(
        &long,
        SKELETON,
        Some("#!/bin/sh\nsleep 8\necho '{\"ok\":true}'\n"),
        json!({}),
    )
    .await;
    s.docker_action(
        &other,
        SKELETON,
        Some("#!/bin/sh\necho '{\"ok\":true}'\n"),
        json!({}),
    )
    .await;
    let (status, body) = s.invoke(&long, "", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let hog = body["activationId"].as_str().unwrap().to_owned();
    support::eventually("the long activation holds the memory", || async {
        (!containers_of(&format!("guest/{long}")).is_empty()).then_some(())
    })
    .await;

    let (status, body) = s.invoke(&other, "", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let record = s.activation(body["activationId"].as_str().unwrap()).await;
    assert_eq!(
        record["response"]["status"], "whisk internal error",
        "{record}"
    );
    let error = record["response"]["result"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("Failed to provision resources to run the action"),
        "{record}"
    );
    // The long one was not disturbed.
    let record = s.activation(&hog).await;
    assert_eq!(
        record["response"]["result"],
        json!({"ok": true}),
        "{record}"
    );
}

#[tokio::test]
async fn an_update_while_an_invocation_waits_does_not_change_what_it_runs() {
    // Room for one container, held by a long activation, so the next invocation waits.
    let s = Server::start_with(&["--stem-cells", "0", "--invoker-memory-mb", "256"]).await;
    let hog = unique("hog");
    let racy = unique("racy");
    s.docker_action(
        &hog,
        SKELETON,
        Some("#!/bin/sh\nsleep 4\necho '{\"ok\":true}'\n"),
        json!({}),
    )
    .await;
    let version = |v: &str| format!("#!/bin/sh\necho '{{\"code\":\"{v}\"}}'\n");
    s.docker_action(&racy, SKELETON, Some(&version("v1")), json!({}))
        .await;
    let (status, body) = s.invoke(&hog, "", json!({})).await;
    assert_eq!(status, 202, "{body}");
    support::eventually("the long activation holds the memory", || async {
        (!containers_of(&format!("guest/{hog}")).is_empty()).then_some(())
    })
    .await;

    // Invoked as v1; updated to v2 while the message waits in the invoker.
    let (status, body) = s.invoke(&racy, "", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let first = body["activationId"].as_str().unwrap().to_owned();
    s.docker_action(&racy, SKELETON, Some(&version("v2")), json!({}))
        .await;
    let record = s.activation(&first).await;
    assert_eq!(
        record["response"]["result"],
        json!({"code": "v1"}),
        "{record}"
    );
    assert_eq!(record["version"], "0.0.1", "{record}");

    // Later invocations run the new version.
    let (status, result) = s.invoke(&racy, "blocking=true", json!({})).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["response"]["result"],
        json!({"code": "v2"}),
        "{result}"
    );
    assert_eq!(result["version"], "0.0.2", "{result}");
}
