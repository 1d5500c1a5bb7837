//! `whiskd admin` beside a running `whiskd standalone` (both real binaries): limits set,
//! blocks, key changes and deletes take effect without a restart; and the data directory
//! keeps its files private and no key in plain text.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};
use support::{eventually, Server};

/// Runs `whiskd admin ARGS --data-dir DIR`; its stdout, trimmed.
fn admin(s: &Server, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_whiskd"))
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(s.data.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "whiskd admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Sends until the status is `want`; the last body.
async fn until_status(what: &str, want: u16, send: impl Fn() -> reqwest::RequestBuilder) -> Value {
    eventually(what, || async {
        let r = send().send().await.ok()?;
        if r.status().as_u16() != want {
            return None;
        }
        Some(r.json::<Value>().await.unwrap_or(Value::Null))
    })
    .await
}

#[tokio::test]
async fn limits_set_with_admin_take_effect_on_a_running_server() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    s.docker_action("hello", "whisk/dockerskeleton", None, json!({}))
        .await;
    let put = s
        .req(Method::PUT, "triggers/tick")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let invoke = || s.req(Method::POST, "actions/hello").json(&json!({}));
    let fire = || s.req(Method::POST, "triggers/tick").json(&json!({}));
    assert_eq!(invoke().send().await.unwrap().status(), 202);

    assert_eq!(
        admin(
            &s,
            &[
                "limits",
                "set",
                "guest",
                "--invocationsPerMinute",
                "0",
                "--firesPerMinute",
                "0"
            ]
        ),
        "Limits successfully set for 'guest'"
    );
    let refused = until_status("the invocation limit", 429, invoke).await;
    let text = refused["error"].as_str().unwrap();
    assert!(
        text.starts_with("Too many requests in the last minute (count: ")
            && text.ends_with(", allowed: 0)."),
        "{text}"
    );
    let refused = until_status("the fire limit", 429, fire).await;
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .ends_with(", allowed: 0)."));
    let limits: Value = s
        .req(Method::GET, "limits")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limits["invocationsPerMinute"], 0);
    assert_eq!(limits["firesPerMinute"], 0);
    assert_eq!(
        admin(&s, &["limits", "get", "guest"]),
        "invocationsPerMinute = 0\nfiresPerMinute = 0"
    );

    assert_eq!(admin(&s, &["limits", "delete", "guest"]), "Limits deleted");
    until_status("invocations admitted again", 202, invoke).await;
    until_status("fires admitted again", 204, fire).await;
}

#[tokio::test]
async fn blocked_regenerated_and_deleted_keys_stop_working() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let key = admin(&s, &["user", "create", "alice5"]);
    let list = |key: &str| {
        let (u, p) = key.split_once(':').unwrap();
        s.client
            .get(format!("{}/api/v1/namespaces/_/actions", s.base()))
            .basic_auth(u.to_owned(), Some(p.to_owned()))
    };
    until_status("the new key works", 200, || list(&key)).await;

    assert_eq!(
        admin(&s, &["namespace", "block", "alice5"]),
        "'alice5' blocked successfully"
    );
    let refused = until_status("the blocked key is refused", 401, || list(&key)).await;
    assert_eq!(refused["error"], "The supplied authentication is invalid");
    admin(&s, &["namespace", "unblock", "alice5"]);
    until_status("the unblocked key works", 200, || list(&key)).await;

    let new = admin(&s, &["key", "regenerate", "alice5"]);
    assert_ne!(new, key);
    until_status("the old key is refused", 401, || list(&key)).await;
    until_status("the new key works", 200, || list(&new)).await;

    assert_eq!(admin(&s, &["user", "delete", "alice5"]), "Subject deleted");
    until_status("the deleted key is refused", 401, || list(&new)).await;
}

#[tokio::test]
async fn store_activations_false_keeps_no_record_in_the_invoker() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    s.docker_action("hello", "whisk/example-c", None, json!({}))
        .await;
    assert_eq!(
        admin(
            &s,
            &["limits", "set", "guest", "--storeActivations", "false"]
        ),
        "Limits successfully set for 'guest'"
    );
    let limits = eventually("storeActivations reported", || async {
        let l: Value = s
            .req(Method::GET, "limits")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (l["storeActivations"] == false).then_some(l)
    })
    .await;
    assert_eq!(limits["storeActivations"], false);
    let (status, record) = s.invoke("hello", "blocking=true", json!({"k": "v"})).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["response"]["result"]["msg"], "Hello from C program!");
    let id = record["activationId"].as_str().unwrap();
    let r = s
        .req(Method::GET, &format!("activations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the invoker kept no record");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_directory_is_private_and_holds_no_plain_key() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    // Something written, so the write-ahead logs exist.
    s.docker_action("hello", "whisk/dockerskeleton", None, json!({}))
        .await;
    let dir = s.data.path();
    assert_eq!(mode(dir), 0o700, "data directory");
    for file in ["whisk.db", "bus.db", "guest.key", "tls/key.pem", "instance"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    for db in ["whisk.db", "bus.db"] {
        for suffix in ["-wal", "-shm"] {
            let path = dir.join(format!("{db}{suffix}"));
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
    }
    // The guest's key is only in guest.key; the store has an Argon2 PHC string.
    let key = std::fs::read_to_string(dir.join("guest.key")).unwrap();
    let secret = key.trim().split_once(':').unwrap().1.to_owned();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != "guest.key" {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the key",
                path.display()
            );
        }
    }
    let store = whisk_store::SqliteStore::open(&dir.join("whisk.db")).unwrap();
    let guest = whisk_store::IdentityStore::subject_by_name(&store, "guest")
        .await
        .unwrap()
        .unwrap();
    assert!(
        guest.secret_hash.starts_with("$argon2id$"),
        "{}",
        guest.secret_hash
    );
}
