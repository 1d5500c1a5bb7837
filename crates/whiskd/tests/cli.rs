//! The seed's `wsk` session replayed against a live `whiskd standalone` with real
//! containers, compared line by line (ids, keys and versions masked).

mod support;

use serde_json::{json, Value};
use support::{wsk, Server};

/// Replaces 32-hex ids with `<ID>`.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        let core = word.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '"');
        if core.len() == 32 && core.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push_str(&word.replacen(core, "<ID>", 1));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn ok(r: (i32, String, String)) -> String {
    assert_eq!(r.0, 0, "wsk failed: {}{}", r.1, r.2);
    r.1
}

#[tokio::test]
async fn seed_transcript() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("wskprops");
    let host = format!("https://127.0.0.1:{}", s.https);

    let out = ok(wsk(
        &props,
        &[
            "-i",
            "property",
            "set",
            "--apihost",
            &host,
            "--auth",
            &s.key,
            "--namespace",
            "guest",
        ],
    ));
    assert!(
        out.contains("ok: whisk auth set. Run 'wsk property get --auth' to see the new value."),
        "{out}"
    );
    assert!(
        out.contains(&format!("ok: whisk API host set to {host}")),
        "{out}"
    );

    // wsk -i property get: the seed's table, labels and tab separators.
    let out = ok(wsk(&props, &["-i", "property", "get"]));
    let lines: Vec<&str> = out.lines().collect();
    let expect_prefixes = [
        "client cert\t\t",
        "Client key\t\t",
        "whisk auth\t\t",
        "whisk API host\t\t",
        "whisk API version\t",
        "whisk namespace\t\t",
        "whisk CLI version\t",
        "whisk API build\t\t",
        "whisk API build number\t",
    ];
    for p in expect_prefixes {
        assert!(
            lines.iter().any(|l| l.starts_with(p)),
            "no line {p:?} in:\n{out}"
        );
    }
    assert!(
        lines.contains(&format!("whisk auth\t\t{}", s.key).as_str()),
        "{out}"
    );
    assert!(
        lines.contains(&format!("whisk API host\t\t{host}").as_str()),
        "{out}"
    );
    assert!(lines.contains(&"whisk namespace\t\tguest"), "{out}");
    assert!(lines.contains(&"whisk API version\tv1"), "{out}");

    // The C action.
    let out = ok(wsk(
        &props,
        &[
            "-i",
            "action",
            "create",
            "--docker",
            "whisk/example-c",
            "whisk_c",
        ],
    ));
    assert_eq!(out, "ok: created action whisk_c\n");
    let out = ok(wsk(
        &props,
        &[
            "-i", "action", "invoke", "--param", "key", "value", "--result", "whisk_c",
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"args": {"key": "value"}, "msg": "Hello from C program!"})
    );
    assert_eq!(
        out,
        serde_json::to_string_pretty(&v)
            .unwrap()
            .replace("  ", "    ")
            + "\n"
    );

    // The Go action.
    let out = ok(wsk(
        &props,
        &[
            "-i",
            "action",
            "create",
            "--docker",
            "whisk/example-go",
            "whisk_go",
        ],
    ));
    assert_eq!(out, "ok: created action whisk_go\n");
    let out = ok(wsk(
        &props,
        &[
            "-i", "action", "invoke", "--param", "hello", "world", "--result", "whisk_go",
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"keys": ["hello"], "message": "Hello from Go", "values": ["world"]})
    );

    // Invoke without --result, then the activation's response field.
    let out = ok(wsk(
        &props,
        &[
            "-i", "action", "invoke", "--param", "hello", "world", "whisk_go",
        ],
    ));
    assert_eq!(mask(&out), "ok: invoked /guest/whisk_go with id <ID>\n");
    let id = out.trim().rsplit(' ').next().unwrap().to_owned();
    s.activation(&id).await;
    let out = ok(wsk(&props, &["-i", "activation", "get", &id, "response"]));
    let (head, body) = out.split_once('\n').unwrap();
    assert_eq!(
        mask(head),
        "ok: got activation <ID>, displaying field response"
    );
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        v,
        json!({"status": "success", "statusCode": 0, "success": true,
               "result": {"keys": ["hello"], "message": "Hello from Go", "values": ["world"]}})
    );

    // Logs and the list.
    let out = ok(wsk(&props, &["-i", "activation", "logs", &id]));
    assert_eq!(out, "", "the Go example logs nothing");
    let out = ok(wsk(&props, &["-i", "action", "list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "actions");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("/guest/whisk_go ") && l.ends_with("private blackbox")),
        "{out}"
    );

    // Errors: the server's text on stderr and OpenWhisk's exit code (404 → 148).
    let (code, _, err) = wsk(&props, &["-i", "action", "invoke", "nope"]);
    assert_eq!(code, 148);
    assert!(
        err.starts_with(
            "error: Unable to invoke action 'nope': The requested resource does not exist. (code "
        ),
        "{err}"
    );

    // Without -i the self-signed certificate is refused with a hint.
    let (code, _, err) = wsk(&props, &["action", "list"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}
