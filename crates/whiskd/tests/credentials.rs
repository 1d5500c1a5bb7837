//! End-to-end tests of the credentials around an activation, against the real `whiskd
//! standalone` binary: the key an action gets as `__OW_API_KEY` is minted for its
//! activation and its owner (usable while it runs, never another namespace, refused once it
//! ended, never the caller's key), and no caller's key lands in the data directory.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use support::{containers_of, eventually, unique, Server};

/// Writes its `__OW_API_KEY` to /tmp/key, then runs until /tmp/done exists, so the test
/// can use the key while the activation runs.
const KEYHOLDER_JS: &str = r#"
const fs = require('fs');
async function main() {
  const key = process.env.__OW_API_KEY;
  fs.writeFileSync('/tmp/key', key || 'none');
  const until = Date.now() + 50000;
  while (!fs.existsSync('/tmp/done') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return {hasKey: Boolean(key), released: fs.existsSync('/tmp/done')};
}
"#;

/// Calls the API with its own key, as `openwhisk()` would, and reports the statuses.
const CALLER_JS: &str = r#"
async function main(params) {
  const key = process.env.__OW_API_KEY;
  if (!key) return {hasKey: false};
  const auth = 'Basic ' + Buffer.from(key).toString('base64');
  const call = async (method, path) => {
    const r = await fetch(process.env.__OW_API_HOST + '/api/v1/namespaces/' + path,
      {method, headers: {Authorization: auth, 'Content-Type': 'application/json'}, body: method === 'POST' ? '{}' : undefined});
    return r.status;
  };
  return {
    hasKey: true,
    key,
    ownList: await call('GET', '_/actions'),
    ownInvoke: await call('POST', '_/actions/' + params.target + '?blocking=true'),
    otherList: await call('GET', params.other + '/actions'),
    otherPut: await call('PUT', params.other + '/actions/planted'),
  };
}
"#;

const ECHO_JS: &str = r#"
function main(params) {
  return {params, hasKey: Boolean(process.env.__OW_API_KEY)};
}
"#;

/// Creates (or replaces) a `nodejs:default` action from `code` with `annotations`.
async fn node_action(s: &Server, name: &str, code: &str, annotations: Value) {
    let r = s
        .req(Method::PUT, &format!("actions/{name}?overwrite=true"))
        .json(
            &json!({"exec": {"kind": "nodejs:default", "code": code}, "annotations": annotations}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn provide_key(provide: bool) -> Value {
    json!([{"key": "provide-api-key", "value": provide}])
}

/// The status of `method path` (under `/api/v1/namespaces/`) with credentials `key`.
async fn status_as(s: &Server, key: &str, method: Method, path: &str) -> u16 {
    let mut r = s.req_as(key, method.clone(), path);
    if method != Method::GET {
        r = r.json(&json!({}));
    }
    r.send().await.unwrap().status().as_u16()
}

/// Runs `docker exec CONTAINER ARGS...`; its stdout when it succeeded.
fn docker_exec(container: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(args)
        .output()
        .expect("docker exec");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn an_action_gets_its_own_short_lived_key_not_the_callers() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let alice = s.add_subject("alice");
    let holder = unique("keyholder");
    node_action(&s, &holder, KEYHOLDER_JS, provide_key(true)).await;
    let echo = unique("echo");
    node_action(&s, &echo, ECHO_JS, provide_key(false)).await;

    let (st, accepted) = s.invoke(&holder, "", json!({})).await;
    assert_eq!(st, 202, "{accepted}");
    let id = accepted["activationId"].as_str().unwrap().to_owned();
    let (container, key) = eventually("the action's key in its container", || async {
        let container = containers_of(&format!("guest/{holder}")).pop()?;
        let key = docker_exec(&container, &["cat", "/tmp/key"])?;
        (!key.is_empty()).then_some((container, key))
    })
    .await;

    // Not the caller's key: the owner's uuid with a secret of its own.
    assert_ne!(key, s.key);
    let (uuid, secret) = key.split_once(':').unwrap();
    assert_eq!(uuid, s.key.split_once(':').unwrap().0);
    assert_eq!(secret.len(), 64);
    assert!(!s.key.contains(secret));

    // While it runs: the owner's namespace, to list and to invoke.
    let list = s
        .req_as(&key, Method::GET, "_/actions")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    assert!(list.text().await.unwrap().contains(&holder));
    let r = s
        .req_as(
            &key,
            Method::POST,
            &format!("guest/actions/{echo}?blocking=true&result=true"),
        )
        .json(&json!({"from": "the key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["params"]["from"], "the key");
    // `provide-api-key: false` gives none.
    assert_eq!(result["hasKey"], false);
    // Never another namespace.
    assert_eq!(status_as(&s, &key, Method::GET, "alice/actions").await, 403);
    assert_eq!(
        status_as(&s, &key, Method::PUT, "alice/triggers/planted").await,
        403
    );
    // Alice's own key works for alice, not for the guest.
    assert_eq!(status_as(&s, &alice, Method::GET, "_/actions").await, 200);
    assert_eq!(
        status_as(&s, &alice, Method::GET, "guest/actions").await,
        403
    );

    // Once the activation ended: refused.
    docker_exec(&container, &["touch", "/tmp/done"]).expect("touch /tmp/done");
    let record = s.activation(&id).await;
    assert_eq!(
        record["response"]["result"],
        json!({"hasKey": true, "released": true}),
        "{record}"
    );
    assert_eq!(status_as(&s, &key, Method::GET, "_/actions").await, 401);
    assert_eq!(status_as(&s, &key, Method::GET, "guest/actions").await, 401);
}

/// `whisk-proxy` for the process factory: a build next to the test binaries.
fn proxy_binary() -> PathBuf {
    let beside = support::bin_dir().join("whisk-proxy");
    assert!(
        beside.is_file(),
        "no whisk-proxy binary: build it first (cargo build -p whisk-proxy)"
    );
    beside
}

#[tokio::test]
async fn an_action_calls_the_api_with_its_key_and_only_as_its_owner() {
    // The process factory runs the action on this host, so it reaches the API on loopback.
    let proxy = proxy_binary();
    let runtimes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../runtimes");
    let s = Server::start_with(&[
        "--container-factory",
        "process",
        "--proxy-bin",
        proxy.to_str().unwrap(),
        "--runtimes-dir",
        runtimes.to_str().unwrap(),
    ])
    .await;
    s.add_subject("alice");
    let caller = unique("caller");
    node_action(&s, &caller, CALLER_JS, provide_key(true)).await;
    let echo = unique("echo");
    node_action(&s, &echo, ECHO_JS, provide_key(false)).await;

    let (st, rec) = s
        .invoke(
            &caller,
            "blocking=true",
            json!({"target": echo, "other": "alice"}),
        )
        .await;
    assert_eq!(st, 200, "{rec}");
    let r = &rec["response"]["result"];
    assert_eq!(r["hasKey"], true, "{rec}");
    assert_eq!(r["ownList"], 200, "{rec}");
    assert_eq!(r["ownInvoke"], 200, "{rec}");
    assert_eq!(r["otherList"], 403, "{rec}");
    assert_eq!(r["otherPut"], 403, "{rec}");
    let key = r["key"].as_str().unwrap();
    assert_ne!(key, s.key);
    assert_eq!(status_as(&s, key, Method::GET, "_/actions").await, 401);

    // With provide-api-key false the action gets no key at all.
    node_action(&s, &caller, CALLER_JS, provide_key(false)).await;
    let (st, rec) = s
        .invoke(
            &caller,
            "blocking=true",
            json!({"target": echo, "other": "alice"}),
        )
        .await;
    assert_eq!(st, 200, "{rec}");
    assert_eq!(rec["response"]["result"], json!({"hasKey": false}));
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_callers_key_lands_in_the_data_directory() {
    let mut s = Server::start_with(&["--stem-cells", "0"]).await;
    let alice = s.add_subject("alice");
    let echo = unique("echo");
    node_action(&s, &echo, ECHO_JS, provide_key(true)).await;
    let web = unique("web");
    let r = s
        .req(Method::PUT, &format!("actions/{web}?overwrite=true"))
        .json(&json!({"exec": {"kind": "nodejs:default", "code": ECHO_JS},
                      "annotations": [{"key": "web-export", "value": true}, {"key": "provide-api-key", "value": true}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pkg = unique("pub");
    let r = s
        .req(Method::PUT, &format!("packages/{pkg}"))
        .json(&json!({"publish": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    node_action(&s, &format!("{pkg}/x"), ECHO_JS, provide_key(true)).await;

    let mut ids = Vec::new();
    // Invokes, blocking and not.
    let (st, rec) = s.invoke(&echo, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{rec}");
    assert_eq!(rec["response"]["result"]["hasKey"], true);
    let (st, rec) = s.invoke(&echo, "", json!({})).await;
    assert_eq!(st, 202);
    ids.push(rec["activationId"].as_str().unwrap().to_owned());
    // Alice invokes the guest's shared action.
    let r = s
        .req_as(
            &alice,
            Method::POST,
            &format!("guest/actions/{pkg}/x?blocking=true"),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A fire through a rule.
    let trigger = unique("t");
    for (path, body) in [
        (format!("triggers/{trigger}"), json!({})),
        (
            format!("rules/{}", unique("r")),
            json!({"trigger": format!("/_/{trigger}"), "action": format!("/_/{echo}")}),
        ),
    ] {
        let r = s.req(Method::PUT, &path).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = s
        .req(Method::POST, &format!("triggers/{trigger}"))
        .json(&json!({"fired": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let fire: Value = r.json().await.unwrap();
    ids.push(fire["activationId"].as_str().unwrap().to_owned());
    // Web calls with the guest's and alice's credentials.
    for key in [&s.key, &alice] {
        let (u, p) = key.split_once(':').unwrap();
        let r = s
            .client
            .get(format!("{}/api/v1/web/guest/default/{web}.json", s.base()))
            .basic_auth(u, Some(p))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(!body.contains(p), "{body}");
    }
    for id in &ids {
        s.activation(id).await;
    }
    // The rule's action ran too.
    eventually("the rule's activation", || async {
        let r = s
            .req(Method::GET, &format!("activations?name={echo}&limit=10"))
            .send()
            .await
            .ok()?;
        let list: Value = r.json().await.ok()?;
        (list.as_array()?.len() >= 3).then_some(())
    })
    .await;
    s.stop();

    // Every file but the bootstrap key file (which holds the guest key by design).
    let encode = |k: &str| base64::engine::general_purpose::STANDARD.encode(k);
    for key in [&s.key, &alice] {
        let secret = key.split_once(':').unwrap().1;
        for file in files_under(s.data.path()) {
            if file.file_name() == Some("guest.key".as_ref()) {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            for needle in [secret.to_owned(), encode(key)] {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{} holds a caller's key",
                    file.display()
                );
            }
        }
    }
}
