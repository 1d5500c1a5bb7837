//! End-to-end tests of the native kinds: the real `whiskd standalone` binary running Node.js
//! and Python actions in the runtime images (`images/build-runtimes.sh` builds
//! `whisk/action-nodejs:18` and `whisk/action-python:3.11`), from source and from zips,
//! their error statuses, stem cells, and the `process` container factory.

mod support;

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use support::{annotation, bin_dir, eventually, unique, Server};

// === helpers ===

/// Creates (or replaces) an action from `exec` plus any other body fields; returns the
/// stored action.
async fn put_action(s: &Server, name: &str, exec: Value, more: Value) -> Value {
    let mut body = json!({ "exec": exec });
    if let (Some(b), Value::Object(m)) = (body.as_object_mut(), more) {
        b.extend(m);
    }
    let r = s
        .req(Method::PUT, &format!("actions/{name}?overwrite=true"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let stored: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{stored}");
    stored
}

/// A blocking invoke returning the whole record (200 or 502).
async fn invoke(s: &Server, name: &str, params: Value) -> (u16, Value) {
    s.invoke(name, "blocking=true", params).await
}

/// The result of a successful blocking invoke's record.
fn result_of(status: u16, record: &Value) -> &Value {
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["response"]["status"], "success", "{record}");
    &record["response"]["result"]
}

/// The record's log lines.
fn logs(record: &Value) -> Vec<String> {
    record["logs"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

/// Base64 of a zip holding `files` (name, content).
fn zip_base64(files: &[(&str, &str)]) -> String {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755);
        writer.start_file(*name, options).unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    let bytes = writer.finish().unwrap().into_inner();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Ids of the running containers of this server labelled as stem cells of `kind`
/// (including former stem cells that an action took).
fn stem_cells(s: &Server, kind: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter"])
        .arg(format!("label=rwhisk.invoker={}", s.invoker_label()))
        .arg("--filter")
        .arg(format!("label=rwhisk.stem-cell={kind}"))
        .output()
        .expect("docker ps");
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

/// Ids of every running container of this server.
fn containers_of_server(s: &Server) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=rwhisk.invoker={}", s.invoker_label()))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

const HELLO_JS: &str = r#"
const os = require('os');
function main(params) {
  console.log('hello from node');
  console.error('a line on stderr');
  return {
    greeting: 'Hello ' + params.name + '!',
    activation: process.env.__OW_ACTIVATION_ID,
    action: process.env.__OW_ACTION_NAME,
    namespace: process.env.__OW_NAMESPACE,
    version: process.env.__OW_ACTION_VERSION,
    deadline: process.env.__OW_DEADLINE,
    apiHost: process.env.__OW_API_HOST,
    apiKey: process.env.__OW_API_KEY || null,
    initParam: process.env.INIT_PARAM || null,
    initParamInArgs: params.INIT_PARAM || null,
    host: os.hostname(),
  };
}
"#;

const HELLO_PY: &str = r#"
import os, socket, sys

def main(params):
    print("hello from python")
    print("a line on stderr", file=sys.stderr)
    return {
        "greeting": "Hello " + params.get("name", "?") + "!",
        "activation": os.environ.get("__OW_ACTIVATION_ID"),
        "action": os.environ.get("__OW_ACTION_NAME"),
        "namespace": os.environ.get("__OW_NAMESPACE"),
        "version": os.environ.get("__OW_ACTION_VERSION"),
        "deadline": os.environ.get("__OW_DEADLINE"),
        "apiHost": os.environ.get("__OW_API_HOST"),
        "apiKey": os.environ.get("__OW_API_KEY"),
        "initParam": os.environ.get("INIT_PARAM"),
        "initParamInArgs": params.get("INIT_PARAM"),
        "host": socket.gethostname(),
    }
"#;

/// hello.js or hello.py from source: result, `__OW_*` per activation, init parameters as
/// environment, logs, `provide-api-key`, warm reuse.
async fn hello_from_source(s: &Server, kind: &str, code: &str, concrete: &str) {
    let name = unique("hello");
    let stored = put_action(
        s,
        &name,
        json!({"kind": kind, "code": code}),
        json!({"parameters": [
            {"key": "name", "value": "World"},
            {"key": "INIT_PARAM", "value": {"a": 1}, "init": true},
        ]}),
    )
    .await;
    assert_eq!(stored["exec"]["kind"], concrete);
    assert_eq!(stored["exec"]["binary"], false);

    let (st, first) = invoke(s, &name, json!({})).await;
    let r = result_of(st, &first);
    assert_eq!(r["greeting"], "Hello World!");
    assert_eq!(r["activation"], first["activationId"]);
    assert_eq!(r["action"], format!("/guest/{name}"));
    assert_eq!(r["namespace"], "guest");
    assert_eq!(r["version"], "0.0.1");
    assert!(
        r["deadline"].as_str().unwrap().parse::<i64>().unwrap() > first["start"].as_i64().unwrap()
    );
    assert_eq!(r["apiHost"], format!("http://127.0.0.1:{}", s.http));
    assert_eq!(
        r["apiKey"],
        Value::Null,
        "provide-api-key is false on create"
    );
    assert_eq!(r["initParam"], r#"{"a":1}"#);
    assert_eq!(r["initParamInArgs"], Value::Null);
    assert_eq!(annotation(&first, "kind").unwrap(), concrete);
    assert!(annotation(&first, "initTime").is_some(), "{first}");
    let lines = logs(&first);
    assert!(
        lines.iter().any(|l| l.ends_with(&format!(
            " stdout: hello from {}",
            kind.split(':').next().unwrap().replace("nodejs", "node")
        ))),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" stderr: a line on stderr")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("XXX_THE_END")),
        "{lines:?}"
    );

    // Warm: the same container, the new activation's context.
    let (st, second) = invoke(s, &name, json!({"name": "again"})).await;
    let r2 = result_of(st, &second);
    assert_eq!(r2["greeting"], "Hello again!");
    assert_eq!(r2["activation"], second["activationId"]);
    assert_ne!(r2["activation"], r["activation"]);
    assert_eq!(r2["host"], r["host"]);
    assert!(annotation(&second, "initTime").is_none(), "{second}");

    // With provide-api-key the action gets a key minted for it, acting as its owner (the
    // guest's uuid), never the caller's key itself.
    put_action(
        s,
        &name,
        json!({"kind": kind, "code": code}),
        json!({"annotations": [{"key": "provide-api-key", "value": true}]}),
    )
    .await;
    let (st, third) = invoke(s, &name, json!({})).await;
    let minted = result_of(st, &third)["apiKey"].as_str().unwrap().to_owned();
    assert_ne!(minted, s.key);
    let (uuid, secret) = minted.split_once(':').unwrap();
    assert_eq!(uuid, s.key.split_once(':').unwrap().0);
    assert_eq!(secret.len(), 64);

    // `main` names another entry point.
    let other = unique("entry");
    let code = if kind.starts_with("nodejs") {
        "function greet(p) { return {entry: 'greet', name: p.name}; }"
    } else {
        "def greet(p):\n    return {'entry': 'greet', 'name': p.get('name')}\n"
    };
    put_action(
        s,
        &other,
        json!({"kind": kind, "code": code, "main": "greet"}),
        json!({}),
    )
    .await;
    let (st, rec) = invoke(s, &other, json!({"name": "x"})).await;
    assert_eq!(result_of(st, &rec), &json!({"entry": "greet", "name": "x"}));
}

// === tests ===

#[tokio::test]
async fn the_manifest_lists_the_native_kinds() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let info: Value = s
        .client
        .get(s.base())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["runtimes"]["nodejs"][0]["kind"], "nodejs:18");
    assert_eq!(
        info["runtimes"]["nodejs"][0]["image"],
        "whisk/action-nodejs:18"
    );
    assert_eq!(info["runtimes"]["nodejs"][0]["default"], true);
    assert_eq!(info["runtimes"]["python"][0]["kind"], "python:3.11");
    assert_eq!(
        info["runtimes"]["python"][0]["image"],
        "whisk/action-python:3.11"
    );
    let r = s
        .put_action(&unique("old"), json!({"kind": "nodejs:20", "code": "x"}))
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        "The request content was malformed:\nThe specified runtime 'nodejs:20' is not supported by this platform. Valid values are: 'blackbox', 'nodejs:18', 'python:3.11'."
    );
}

#[tokio::test]
async fn nodejs_hello_from_source() {
    let s = Server::start().await;
    hello_from_source(&s, "nodejs:default", HELLO_JS, "nodejs:18").await;
}

#[tokio::test]
async fn python_hello_from_source() {
    let s = Server::start().await;
    hello_from_source(&s, "python:default", HELLO_PY, "python:3.11").await;
}

#[tokio::test]
async fn zipped_nodejs_action_with_a_bundled_dependency() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let name = unique("zipjs");
    let code = zip_base64(&[
        ("package.json", r#"{"name": "zipped", "main": "lib/entry.js"}"#),
        (
            "lib/entry.js",
            "const pad = require('tiny-pad');\n\
             exports.main = (p) => ({padded: pad(p.text, 6, '*'), dep: require('tiny-pad/package.json').version});\n",
        ),
        (
            "node_modules/tiny-pad/package.json",
            r#"{"name": "tiny-pad", "version": "1.2.3", "main": "index.js"}"#,
        ),
        (
            "node_modules/tiny-pad/index.js",
            "module.exports = (s, n, c) => c.repeat(Math.max(0, n - s.length)) + s;\n",
        ),
    ]);
    // Sent as serverless-openwhisk does: base64 text, no `binary`.
    let stored = put_action(
        &s,
        &name,
        json!({"kind": "nodejs:default", "code": code}),
        json!({}),
    )
    .await;
    assert_eq!(stored["exec"]["binary"], true);
    let (st, rec) = invoke(&s, &name, json!({"text": "abc"})).await;
    assert_eq!(
        result_of(st, &rec),
        &json!({"padded": "***abc", "dep": "1.2.3"})
    );

    // A zip without package.json or index.js cannot initialize.
    let bad = unique("zipjs-bad");
    let code = zip_base64(&[("other.js", "exports.main = () => ({})")]);
    put_action(
        &s,
        &bad,
        json!({"kind": "nodejs:18", "code": code}),
        json!({}),
    )
    .await;
    let (st, rec) = invoke(&s, &bad, json!({})).await;
    assert_eq!(st, 502, "{rec}");
    assert_eq!(rec["response"]["status"], "action developer error");
    let error = rec["response"]["result"]["error"].as_str().unwrap();
    assert!(error.contains("package.json or index.js"), "{error}");
}

#[tokio::test]
async fn zipped_python_action() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let name = unique("zippy");
    let code = zip_base64(&[
        (
            "__main__.py",
            "from helper import shout\nimport pkg.sub\n\n\
             def run(args):\n    return {'shout': shout(args.get('word', 'hi')), 'sub': pkg.sub.VALUE}\n",
        ),
        ("helper.py", "def shout(w):\n    return w.upper() + '!'\n"),
        ("pkg/__init__.py", ""),
        ("pkg/sub.py", "VALUE = 42\n"),
    ]);
    let stored = put_action(
        &s,
        &name,
        json!({"kind": "python:default", "code": code, "binary": true, "main": "run"}),
        json!({}),
    )
    .await;
    assert_eq!(stored["exec"]["binary"], true);
    assert_eq!(stored["exec"]["kind"], "python:3.11");
    let (st, rec) = invoke(&s, &name, json!({"word": "zip"})).await;
    assert_eq!(result_of(st, &rec), &json!({"shout": "ZIP!", "sub": 42}));
}

#[tokio::test]
async fn native_zip_on_the_docker_skeleton() {
    // `wsk action create x exec.zip --native`: blackbox on openwhisk/dockerskeleton with code.
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let name = unique("native");
    let code = zip_base64(&[
        (
            "exec",
            "#!/bin/sh\n. ./lib.sh\necho \"{\\\"native\\\": \\\"$(greet)\\\"}\"\n",
        ),
        ("lib.sh", "greet() { echo zipped; }\n"),
    ]);
    let stored = put_action(
        &s,
        &name,
        json!({"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": code}),
        json!({}),
    )
    .await;
    assert_eq!(stored["exec"]["binary"], true);
    let (st, rec) = invoke(&s, &name, json!({})).await;
    assert_eq!(result_of(st, &rec), &json!({"native": "zipped"}));
}

/// Application errors keep the container and give 502 with only `{error}`; developer
/// errors remove it; the next invoke starts a fresh one. `want_error` is a fragment of a
/// text error, or fields an object error must have.
async fn check_error(s: &Server, kind: &str, code: &str, want_status: &str, want_error: &Value) {
    let name = unique("err");
    put_action(s, &name, json!({"kind": kind, "code": code}), json!({})).await;
    let (st, rec) = invoke(s, &name, json!({})).await;
    assert_eq!(st, 502, "{kind} {code}: {rec}");
    assert_eq!(
        rec["response"]["status"], want_status,
        "{kind} {code}: {rec}"
    );
    assert_eq!(rec["response"]["success"], false);
    let error = &rec["response"]["result"]["error"];
    match want_error {
        Value::String(fragment) => {
            let text = error.as_str().unwrap_or_default();
            assert!(text.contains(fragment.as_str()), "{kind} {code}: {rec}");
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                assert_eq!(&error[k], v, "{kind} {code}: {rec}");
            }
        }
        other => assert_eq!(error, other, "{kind} {code}: {rec}"),
    }
    let keys: Vec<&String> = rec["response"]["result"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["error"], "only the error is kept: {rec}");
    // The action still answers (warm after an application error, cold after a developer one).
    let (st, again) = invoke(s, &name, json!({})).await;
    assert_eq!(st, 502, "{again}");
    assert_eq!(again["response"]["status"], want_status);
    let developer = want_status == "action developer error";
    assert_eq!(
        annotation(&again, "initTime").is_some(),
        developer,
        "a developer error removes the container: {again}"
    );
}

#[tokio::test]
async fn nodejs_application_and_developer_errors() {
    let s = Server::start_with(&["--stem-cells", "nodejs:18=1"]).await;
    let app = "application error";
    let dev = "action developer error";
    check_error(
        &s,
        "nodejs:18",
        "function main() { return {error: {code: 42}, other: 1}; }",
        app,
        &json!({"code": 42}),
    )
    .await;
    check_error(
        &s,
        "nodejs:18",
        "async function main() { throw new Error('rejected'); }",
        app,
        &json!({"name": "Error", "message": "rejected"}),
    )
    .await;
    check_error(
        &s,
        "nodejs:18",
        "function main() { return Promise.reject({reason: 'no'}); }",
        app,
        &json!({"reason": "no"}),
    )
    .await;
    check_error(
        &s,
        "nodejs:18",
        "function main() { throw new Error('boom'); }",
        dev,
        &json!("An error has occurred: Error: boom"),
    )
    .await;
    check_error(
        &s,
        "nodejs:18",
        "function main() { return 'text'; }",
        dev,
        &json!("The action did not return a dictionary."),
    )
    .await;
    check_error(
        &s,
        "nodejs:18",
        "function main( {",
        dev,
        &json!("Initialization has failed due to"),
    )
    .await;
    check_error(
        &s,
        "nodejs:18",
        "function main() { process.exit(3); }",
        dev,
        &json!("exited unexpectedly"),
    )
    .await;
}

#[tokio::test]
async fn python_application_and_developer_errors() {
    let s = Server::start_with(&["--stem-cells", "python:3.11=1"]).await;
    let app = "application error";
    let dev = "action developer error";
    check_error(
        &s,
        "python:3.11",
        "def main(a):\n    return {'error': 'bad input', 'x': 1}\n",
        app,
        &json!("bad input"),
    )
    .await;
    check_error(
        &s,
        "python:3.11",
        "def main(a):\n    raise ValueError('boom')\n",
        app,
        &json!("boom"),
    )
    .await;
    check_error(
        &s,
        "python:3.11",
        "def main(a):\n    return None\n",
        dev,
        &json!("The action did not return a dictionary."),
    )
    .await;
    check_error(
        &s,
        "python:3.11",
        "def main(a:\n",
        dev,
        &json!("Initialization has failed due to"),
    )
    .await;
}

#[tokio::test]
async fn a_cold_start_takes_a_stem_cell_and_it_is_refilled() {
    let s = Server::start_with(&["--stem-cells", "nodejs:18=1"]).await;
    let stem = eventually("a nodejs stem cell", || async {
        let ids = stem_cells(&s, "nodejs:18");
        (ids.len() == 1).then(|| ids[0].clone())
    })
    .await;
    // docker ps shows it running a moment before whiskd has read its port.
    eventually("whiskd to have the stem cell", || async {
        s.log()
            .lines()
            .any(|l| l.contains("Stem cell ready.") && l.contains(&stem))
            .then_some(())
    })
    .await;
    assert!(
        stem_cells(&s, "python:3.11").is_empty(),
        "only the kinds asked for"
    );

    let name = unique("stem");
    let code = "function main() { return {host: require('os').hostname()}; }";
    put_action(
        &s,
        &name,
        json!({"kind": "nodejs:default", "code": code}),
        json!({}),
    )
    .await;
    let (st, first) = invoke(&s, &name, json!({})).await;
    let host = result_of(st, &first)["host"].as_str().unwrap().to_owned();
    // Docker names a container's host after the first 12 characters of its id.
    assert_eq!(host, stem[..12], "the action ran in the stem cell");
    assert!(
        annotation(&first, "initTime").is_some(),
        "it paid /init: {first}"
    );
    assert!(annotation(&first, "waitTime").is_some());

    // A refill appears beside the former stem cell, which keeps its label.
    let both = eventually("the refill", || async {
        let ids = stem_cells(&s, "nodejs:18");
        (ids.len() == 2).then_some(ids)
    })
    .await;
    assert!(both.contains(&stem), "{both:?}");
    let refill = both.iter().find(|id| **id != stem).unwrap().clone();

    // Warm from now on.
    let (st, second) = invoke(&s, &name, json!({})).await;
    assert_eq!(result_of(st, &second)["host"], host.as_str());
    assert!(annotation(&second, "initTime").is_none(), "{second}");

    // An action needing more memory than the stem cell has starts its own container.
    let big = unique("big");
    put_action(
        &s,
        &big,
        json!({"kind": "nodejs:18", "code": code}),
        json!({"limits": {"memory": 512}}),
    )
    .await;
    let (st, rec) = invoke(&s, &big, json!({})).await;
    let big_host = result_of(st, &rec)["host"].as_str().unwrap();
    assert_ne!(big_host, &refill[..12]);
    assert_ne!(big_host, host);
    assert_eq!(
        stem_cells(&s, "nodejs:18").len(),
        2,
        "the refill is still there"
    );

    // A python action finds no python stem cell and starts from its image.
    let py = unique("py");
    put_action(
        &s,
        &py,
        json!({"kind": "python:3.11", "code": "import socket\ndef main(a):\n    return {'host': socket.gethostname()}\n"}),
        json!({}),
    )
    .await;
    let (st, rec) = invoke(&s, &py, json!({})).await;
    let py_host = result_of(st, &rec)["host"].as_str().unwrap();
    assert_ne!(py_host, &refill[..12]);
}

/// `whisk-proxy` for the process factory: a build next to the test binaries, or the
/// static one `make images` makes.
fn proxy_binary() -> PathBuf {
    let beside = bin_dir().join("whisk-proxy");
    if beside.is_file() {
        return beside;
    }
    let static_build = bin_dir()
        .ancestors()
        .find(|d| d.file_name() == Some("target".as_ref()))
        .map(|t| t.join("x86_64-unknown-linux-gnu/release/whisk-proxy"));
    match static_build {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "no whisk-proxy binary: build it first (cargo build -p whisk-proxy, or make images)"
        ),
    }
}

#[tokio::test]
async fn the_process_factory_runs_a_python_action() {
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
    assert!(
        s.log().contains("isolates NOTHING"),
        "the loud warning: {}",
        s.log()
    );
    let name = unique("proc");
    put_action(
        &s,
        &name,
        json!({"kind": "python:default", "code": HELLO_PY}),
        json!({"parameters": [{"key": "name", "value": "process"}]}),
    )
    .await;
    let (st, rec) = invoke(&s, &name, json!({})).await;
    let r = result_of(st, &rec);
    assert_eq!(r["greeting"], "Hello process!");
    assert_eq!(r["activation"], rec["activationId"]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        r["host"],
        host.trim(),
        "it ran on this host, not in a container"
    );
    let lines = logs(&rec);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" stdout: hello from python")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" stderr: a line on stderr")),
        "{lines:?}"
    );
    let (st, warm) = invoke(&s, &name, json!({"name": "again"})).await;
    assert_eq!(result_of(st, &warm)["greeting"], "Hello again!");
    assert!(annotation(&warm, "initTime").is_none());

    // Blackbox actions need Docker: a developer error that says so.
    let bb = unique("bb");
    s.docker_action(
        &bb,
        "openwhisk/dockerskeleton",
        Some("#!/bin/sh\necho '{}'\n"),
        json!({}),
    )
    .await;
    let (st, rec) = invoke(&s, &bb, json!({})).await;
    assert_eq!(st, 502, "{rec}");
    assert_eq!(rec["response"]["status"], "action developer error");
    let error = rec["response"]["result"]["error"].as_str().unwrap();
    assert!(
        error.contains("'blackbox' actions need the 'docker' container factory"),
        "{error}"
    );

    // Its processes carry the container's limits (256 MB: the stem cell's, or the default
    // action's) and never see the proxy's token.
    let limited = unique("limits");
    put_action(
        &s,
        &limited,
        json!({"kind": "python:default", "code": LIMITS_PY}),
        json!({}),
    )
    .await;
    let (st, rec) = invoke(&s, &limited, json!({})).await;
    assert_eq!(
        result_of(st, &rec),
        &json!({
            "limits": [
                "Max processes 1024 1024 processes",
                "Max open files 1024 1024 files",
                "Max data size 268435456 268435456 bytes",
                "Max core file size 0 0 bytes",
            ],
            "token": false,
        }),
        "{rec}"
    );

    assert!(
        containers_of_server(&s).is_empty(),
        "no Docker container was made"
    );
}

/// Reports its process's data, files, processes and core limits, and whether a proxy
/// token is in its environment.
const LIMITS_PY: &str = r#"
import os
def main(args):
    wanted = ("Max data size", "Max open files", "Max processes", "Max core file size")
    lines = [" ".join(l.split()) for l in open("/proc/self/limits") if l.startswith(wanted)]
    order = ["Max processes", "Max open files", "Max data size", "Max core file size"]
    lines.sort(key=lambda l: [i for i, w in enumerate(order) if l.startswith(w)][0])
    return {"limits": lines, "token": any("PROXY_TOKEN" in k for k in os.environ)}
"#;

#[tokio::test]
async fn utils_namespace_answers_the_callers_namespace() {
    // The catalog's Node.js action, run in a real container for two namespaces: each caller
    // gets its own namespace back, as OpenWhisk's `/whisk.system/utils/namespace` answers.
    let s = Server::start().await;
    let alice = unique("alice");
    let alice_key = s.add_subject(&alice);
    for (key, namespace) in [(s.key.as_str(), "guest"), (alice_key.as_str(), &alice)] {
        let r = s
            .req_as(
                key,
                Method::POST,
                "whisk.system/actions/utils/namespace?blocking=true&result=true",
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let result: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{result}");
        assert_eq!(result, json!({ "namespace": namespace }));
    }
}

#[tokio::test]
async fn web_action_gets_the_path_after_its_name_as_ow_path() {
    // A Node.js web action in a real container: no projections (OpenWhisk 1.0); the path
    // after the action segment reaches it as `__ow_path` and the whole result is rendered.
    let s = Server::start().await;
    let name = unique("owpath");
    put_action(
        &s,
        &name,
        json!({"kind": "nodejs:18", "code":
            "function main(p) { return {path: p.__ow_path, body: 'path=' + p.__ow_path}; }"}),
        json!({"annotations": [{"key": "web-export", "value": true}]}),
    )
    .await;
    let web = |tail: &str| format!("{}/api/v1/web/guest/default/{name}{tail}", s.base());
    for (tail, path) in [
        (".json/body", "/body"),
        (".json", ""),
        (".json/a/b/", "/a/b/"),
    ] {
        let r = s.client.get(web(tail)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{tail}");
        let result: Value = r.json().await.unwrap();
        assert_eq!(
            result,
            json!({"path": path, "body": format!("path={path}")}),
            "{tail}"
        );
    }
    // `.text` and no extension (`.http`) send the result's `body`.
    for (tail, text) in [(".text/deep", "path=/deep"), ("/x/y", "path=/x/y")] {
        let r = s.client.get(web(tail)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{tail}");
        assert_eq!(r.text().await.unwrap(), text, "{tail}");
    }
}

/// Calls the platform with the `openwhisk` npm package the image ships, as an OpenWhisk
/// action does: `openwhisk()` reads `__OW_API_HOST` and the activation's `__OW_API_KEY`.
const OW_CLIENT_JS: &str = r#"
const openwhisk = require('openwhisk');
async function main(p) {
  const ow = openwhisk();
  const invoked = await ow.actions.invoke({name: p.target, params: {name: 'inside'}, blocking: true, result: true});
  const listed = await ow.actions.list();
  let other;
  try {
    await ow.actions.list({namespace: p.other});
    other = 'listed';
  } catch (e) {
    other = e.statusCode;
  }
  return {invoked, names: listed.map((a) => a.name).sort(), other, client: require.resolve('openwhisk')};
}
"#;

#[tokio::test]
async fn a_nodejs_action_calls_the_platform_with_the_openwhisk_package() {
    // Real containers on a network of this test; whiskd listens for them on its gateway
    // only (--container-api-addr), which becomes their __OW_API_HOST.
    let net = support::TestNetwork::create();
    let api = format!("{}:{}", net.gateway, net.free_port());
    let s = Server::start_with(&[
        "--action-network",
        &net.name,
        "--container-api-addr",
        &api,
        "--stem-cells",
        "0",
    ])
    .await;
    s.add_subject("alice");
    let target = unique("hello");
    put_action(
        &s,
        &target,
        json!({"kind": "nodejs:18", "code": "function main(p) { return {hello: p.name}; }"}),
        json!({}),
    )
    .await;
    let caller = unique("owclient");
    put_action(
        &s,
        &caller,
        json!({"kind": "nodejs:18", "code": OW_CLIENT_JS}),
        json!({"annotations": [{"key": "provide-api-key", "value": true}]}),
    )
    .await;
    let (st, record) = invoke(&s, &caller, json!({"target": target, "other": "alice"})).await;
    let result = result_of(st, &record);
    assert_eq!(result["invoked"], json!({"hello": "inside"}), "{record}");
    let mut names = vec![caller.clone(), target.clone()];
    names.sort();
    assert_eq!(result["names"], json!(names), "{record}");
    // The activation's key is its owner's: another namespace refuses it.
    assert_eq!(result["other"], 403, "{record}");
    // The image's package, not one of the action's.
    assert_eq!(
        result["client"],
        "/usr/local/lib/node_modules/openwhisk/lib/main.js"
    );
    drop(s);
}

// === concurrency ===

/// Logs its own parameter, sleeps, logs again (partly without a newline), and answers with
/// what it saw of its own activation and its container.
const CONCURRENT_JS: &str = r#"
const os = require('os');
function main(params) {
  console.log('n=' + params.n + ' start');
  console.error('n=' + params.n + ' on stderr');
  return new Promise((resolve) => setTimeout(() => {
    process.stdout.write('n=' + params.n + ' ');
    console.log('end');
    resolve({ n: params.n, activation: process.env.__OW_ACTIVATION_ID, host: os.hostname() });
  }, 600));
}
"#;

/// 20 concurrent invokes of a Node.js action with concurrency 10: each record keeps its own
/// result, `__OW_ACTIVATION_ID` and log lines (none of another activation's), fewer
/// containers than activations serve them, and some container ran two at once.
#[tokio::test]
async fn nodejs_concurrency_keeps_each_activations_result_and_logs() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let name = unique("conc");
    let stored = put_action(
        &s,
        &name,
        json!({"kind": "nodejs:18", "code": CONCURRENT_JS}),
        json!({"limits": {"concurrency": 10, "memory": 128}}),
    )
    .await;
    assert_eq!(stored["limits"]["concurrency"], 10);

    let runs = (0..20).map(|n| {
        let (s, name) = (&s, &name);
        async move { (n, invoke(s, name, json!({ "n": n })).await) }
    });
    let records = futures_util::future::join_all(runs).await;
    let mut by_host: std::collections::HashMap<String, Vec<(i64, i64)>> = Default::default();
    for (n, (st, record)) in &records {
        let r = result_of(*st, record);
        assert_eq!(r["n"], *n, "{record}");
        assert_eq!(r["activation"], record["activationId"], "{record}");
        let lines = logs(record);
        let want = [
            format!(" stdout: n={n} start"),
            format!(" stderr: n={n} on stderr"),
            format!(" stdout: n={n} end"),
        ];
        assert_eq!(lines.len(), want.len(), "{lines:?}");
        for w in &want {
            assert!(
                lines.iter().any(|l| l.ends_with(w.as_str())),
                "{w} in {lines:?}"
            );
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.contains('\u{1e}') || l.contains("XXX_THE_END")),
            "{lines:?}"
        );
        by_host
            .entry(r["host"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                record["start"].as_i64().unwrap(),
                record["end"].as_i64().unwrap(),
            ));
    }
    // Two containers hold 20 activations of concurrency 10; callers that arrive while one
    // starts wait for its slots. Some slack for arrival order.
    assert!(
        by_host.len() <= 4,
        "{} containers for 20 activations",
        by_host.len()
    );
    let overlapping = by_host.values().any(|spans| {
        spans
            .iter()
            .enumerate()
            .any(|(i, a)| spans[i + 1..].iter().any(|b| a.0 < b.1 && b.0 < a.1))
    });
    assert!(
        overlapping,
        "no container ran two activations at once: {by_host:?}"
    );

    // A warm container of the action serves the next one as well.
    let (st, record) = invoke(&s, &name, json!({"n": 99})).await;
    assert_eq!(result_of(st, &record)["n"], 99);
    assert!(annotation(&record, "initTime").is_none(), "{record}");
}

/// A docker action on the skeleton with concurrency 6: the proxy runs a process per
/// activation at once, and each record keeps its own lines.
#[tokio::test]
async fn docker_skeleton_action_with_concurrency_keeps_each_activations_logs() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let name = unique("skconc");
    let script = r#"#!/bin/sh
n=$(printf '%s' "$1" | sed 's/[^0-9]//g')
echo "n=$n start"
sleep 0.6
echo "n=$n on stderr" >&2
echo "{\"n\": $n, \"host\": \"$(hostname)\"}"
"#;
    s.docker_action(
        &name,
        "whisk/dockerskeleton",
        Some(script),
        json!({"concurrency": 6, "memory": 128}),
    )
    .await;
    let runs = (0..6).map(|n| {
        let (s, name) = (&s, &name);
        async move { (n, invoke(s, name, json!({ "n": n })).await) }
    });
    let mut hosts = std::collections::HashSet::new();
    for (n, (st, record)) in futures_util::future::join_all(runs).await {
        let r = result_of(st, &record);
        assert_eq!(r["n"], n, "{record}");
        hosts.insert(r["host"].as_str().unwrap().to_owned());
        let lines = logs(&record);
        assert_eq!(lines.len(), 2, "{lines:?}");
        // (Exec mode holds a stdout line back until the next one: it may be the result.)
        for want in [
            format!(" stdout: n={n} start"),
            format!(" stderr: n={n} on stderr"),
        ] {
            assert!(
                lines.iter().any(|l| l.ends_with(&want)),
                "{want} in {lines:?}"
            );
        }
    }
    assert!(
        hosts.len() < 6,
        "{} containers for 6 activations",
        hosts.len()
    );
}

/// A Python action with concurrency 5 runs (its runtime serves one run at a time, so every
/// activation gets a container of its own), each record with its own lines.
#[tokio::test]
async fn python_with_concurrency_runs_one_at_a_time() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let name = unique("pyconc");
    put_action(
        &s,
        &name,
        json!({"kind": "python:3.11", "code": "import time\ndef main(p):\n    print('n=%s' % p['n'])\n    time.sleep(0.3)\n    return {'n': p['n']}\n"}),
        json!({"limits": {"concurrency": 5, "memory": 128}}),
    )
    .await;
    let runs = (0..3).map(|n| {
        let (s, name) = (&s, &name);
        async move { (n, invoke(s, name, json!({ "n": n })).await) }
    });
    for (n, (st, record)) in futures_util::future::join_all(runs).await {
        assert_eq!(result_of(st, &record)["n"], n);
        let lines = logs(&record);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].ends_with(&format!(" stdout: n={n}")), "{lines:?}");
    }
}

/// Concurrency out of range is refused with OpenWhisk's texts.
#[tokio::test]
async fn bad_concurrency_values_are_refused() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    for (concurrency, status, error) in [
        (json!(0), 400, "concurrency 0 below allowed threshold of 1"),
        (
            json!(501),
            400,
            "concurrency 501 exceeds allowed threshold of 500",
        ),
    ] {
        let r = s
            .req(Method::PUT, &format!("actions/{}", unique("badc")))
            .json(
                &json!({"exec": {"kind": "nodejs:18", "code": "function main(){}"},
                          "limits": {"concurrency": concurrency}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(error), "{body}");
    }
    for junk in [json!(-1), json!("x"), json!(1.5)] {
        let r = s
            .req(Method::PUT, &format!("actions/{}", unique("badc")))
            .json(
                &json!({"exec": {"kind": "nodejs:18", "code": "function main(){}"},
                          "limits": {"concurrency": junk}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{junk}");
    }
}
