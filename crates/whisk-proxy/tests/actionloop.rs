//! The proxy binary in actionloop mode, over real sockets and processes: the raw protocol
//! with shell loop programs, and the Node.js and Python launchers of `runtimes/` run by the
//! host's `node` and `python3`.

mod common;

use std::process::Command;
use std::sync::OnceLock;
use std::thread;

use common::{activation_lines, zip_base64, HttpResponse, ProxyProcess, SENTINEL};
use serde_json::{json, Value};
use whisk_protocol::{
    ERR_INIT_EXITED as INIT_EXITED, ERR_LOOP_START as START_FAILED, ERR_REINIT as REINIT,
    ERR_RUN_BAD_RESULT as BAD_RESULT, ERR_RUN_EXITED as RUN_EXITED,
};

const NOT_A_DICTIONARY: &str = "The action did not return a dictionary.";
const INIT_FAILED_PREFIX: &str = "Initialization has failed due to: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Node,
    Python,
}

impl Lang {
    fn interpreter(self) -> &'static str {
        match self {
            Lang::Node => "node",
            Lang::Python => "python3",
        }
    }

    fn launcher(self) -> String {
        let file = match self {
            Lang::Node => "nodejs/launcher.js",
            Lang::Python => "python/launcher.py",
        };
        format!("{}/../../runtimes/{file}", env!("CARGO_MANIFEST_DIR"))
    }

    fn source_file(self) -> &'static str {
        match self {
            Lang::Node => "index.js",
            Lang::Python => "__main__.py",
        }
    }
}

/// Fails (never skips) when the machine lacks the interpreter: tests that cannot run are
/// not passed tests.
fn require_interpreter(lang: Lang) {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        for interpreter in ["node", "python3"] {
            let ok = Command::new(interpreter)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success());
            assert!(ok, "{interpreter} must be installed for these tests");
        }
    });
    let _ = lang.interpreter();
}

/// A proxy as the runtime image configures it, for `lang`.
fn runtime(lang: Lang) -> ProxyProcess {
    require_interpreter(lang);
    let launcher = lang.launcher();
    ProxyProcess::start_with_env(
        &[
            ("WHISK_PROXY_MODE", "actionloop"),
            ("WHISK_LAUNCHER", &launcher),
            ("WHISK_LAUNCHER_SOURCE", lang.source_file()),
        ],
        |_| {},
    )
}

/// A proxy in actionloop mode without a launcher: `/action/exec` is the loop program.
fn bare_loop(prepare: impl FnOnce(&std::path::Path)) -> ProxyProcess {
    ProxyProcess::start_with_env(&[("WHISK_PROXY_MODE", "actionloop")], prepare)
}

fn init(proxy: &ProxyProcess, code: &str) -> HttpResponse {
    proxy.post_json(
        "/init",
        &json!({"value": {"name": "hello", "main": "main", "binary": false, "code": code}}),
    )
}

fn run_body(value: Value) -> Value {
    json!({
        "value": value,
        "namespace": "guest",
        "action_name": "/guest/hello",
        "action_version": "0.0.1",
        "activation_id": "c7bb1339cb4f40e3a6ccead6c99f804e",
        "transaction_id": "iSOoNklk6V7l7eh8KJnvugidKEmaNJmv",
        "deadline": "1570223213407",
        "api_key": "uuid:key",
    })
}

fn run(proxy: &ProxyProcess, value: Value) -> HttpResponse {
    proxy.post_json("/run", &run_body(value))
}

fn ok(response: &HttpResponse) -> Value {
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

fn error_of(response: &HttpResponse) -> String {
    match &response.json()["error"] {
        Value::String(s) => s.clone(),
        other => panic!("no error string in {other}"),
    }
}

// === the raw protocol (no launcher) ===

/// An ActionLoop program in sh: logs, acks, echoes the request line as `{"echo": line}`,
/// and misbehaves on request. (What it logs after its ack belongs to the next request.)
const SH_LOOP: &str = r#"#!/bin/sh
echo "started with MY_INIT=$MY_INIT"
[ -n "$__OW_WAIT_FOR_ACK" ] && echo '{"ok":true}' >&3
while IFS= read -r line; do
  printf 'got %s\n' "$line"
  echo "err line" >&2
  case "$line" in
    *'"dev"'*) echo '"a developer error"' >&3 ;;
    *'"junk"'*) echo 'not json' >&3 ;;
    *'"exit"'*) echo 'exiting' ; exit 7 ;;
    *'"late"'*) printf '{"late":true}\n' >&3 ; exit 0 ;;
    *) printf '{"echo":%s}\n' "$line" >&3 ;;
  esac
done
"#;

#[test]
fn raw_loop_gets_the_whole_body_as_one_line_and_answers_on_fd3() {
    let proxy = bare_loop(|_| {});
    let init = proxy.post_json(
        "/init",
        &json!({"value": {"code": SH_LOOP, "env": {"MY_INIT": "from-init"}}}),
    );
    assert_eq!((init.status, init.json()), (200, json!({"ok": true})));

    // A pretty-printed body reaches the program as one line.
    let pretty =
        serde_json::to_string_pretty(&run_body(json!({"a": [1, 2], "t": "x\ny"}))).unwrap();
    let response = proxy.post("/run", pretty.as_bytes());
    assert_eq!(
        ok(&response),
        json!({"echo": run_body(json!({"a": [1, 2], "t": "x\ny"}))})
    );

    let (out, err) = proxy.logs_after_sentinels(2);
    assert_eq!(
        activation_lines(&out, 1),
        ["started with MY_INIT=from-init"]
    );
    let run_lines = activation_lines(&out, 2);
    assert_eq!(run_lines.len(), 1);
    assert!(run_lines[0].starts_with("got {"), "{run_lines:?}");
    assert_eq!(activation_lines(&err, 2), ["err line"]);
}

#[test]
fn raw_loop_developer_errors_junk_and_a_second_init() {
    let proxy = bare_loop(|_| {});
    assert_eq!(init(&proxy, SH_LOOP).status, 200);
    let dev = run(&proxy, json!({"dev": true}));
    assert_eq!(
        (dev.status, error_of(&dev)),
        (502, "a developer error".to_owned())
    );
    let junk = run(&proxy, json!({"junk": true}));
    assert_eq!((junk.status, error_of(&junk)), (502, BAD_RESULT.to_owned()));
    let again = init(&proxy, SH_LOOP);
    assert_eq!((again.status, error_of(&again)), (403, REINIT.to_owned()));
    // The process lives on through all of that.
    assert_eq!(run(&proxy, json!({"k": 1})).status, 200);
    let (out, _) = proxy.logs_after_sentinels(5);
    // The junk line is shown to the developer, after the program's own log.
    let lines = activation_lines(&out, 3);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], "not json");
    // No restart happened: "started" was logged once.
    assert_eq!(out.matches("started with").count(), 1);
}

#[test]
fn raw_loop_that_exits_is_reported_then_restarted_with_the_same_env() {
    let proxy = bare_loop(|_| {});
    let init = proxy.post_json(
        "/init",
        &json!({"value": {"code": SH_LOOP, "env": {"MY_INIT": "kept"}}}),
    );
    assert_eq!(init.status, 200);
    let crash = run(&proxy, json!({"exit": true}));
    assert_eq!(
        (crash.status, error_of(&crash)),
        (502, RUN_EXITED.to_owned())
    );
    let (out, err) = proxy.logs_after_sentinels(2);
    let lines = activation_lines(&out, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], "exiting");
    let err_lines = activation_lines(&err, 2);
    assert_eq!(err_lines[0], "err line");
    assert!(
        err_lines[1].contains("exit status: 7") && err_lines[1].contains("whisk-proxy"),
        "{err_lines:?}"
    );

    let next = run(&proxy, json!({"after": 1}));
    assert_eq!(ok(&next)["echo"]["value"], json!({"after": 1}));
    let (out, _) = proxy.logs_after_sentinels(3);
    assert_eq!(activation_lines(&out, 3)[0], "started with MY_INIT=kept");
}

#[test]
fn raw_loop_answer_written_just_before_exit_counts() {
    // The answer and the end of the process arrive together: the answer counts. (Only the
    // first run is certain: a process that ends after each answer may still be ending when
    // the next request comes, and then that request fails.)
    for _ in 0..5 {
        let proxy = bare_loop(|_| {});
        assert_eq!(init(&proxy, SH_LOOP).status, 200);
        let late = run(&proxy, json!({"late": true}));
        assert_eq!(ok(&late), json!({"late": true}));
    }
}

#[test]
fn raw_loop_start_up_failures() {
    // Ends before acknowledging.
    let proxy = bare_loop(|_| {});
    let init1 = init(&proxy, "#!/bin/sh\necho 'dying' >&2\nexit 2\n");
    assert_eq!(
        (init1.status, error_of(&init1)),
        (502, INIT_EXITED.to_owned())
    );
    let (_, err) = proxy.logs_after_sentinels(1);
    let lines = activation_lines(&err, 1);
    assert_eq!(lines[0], "dying");
    assert!(lines[1].contains("exit status: 2"), "{lines:?}");

    // Acknowledges with something else than {"ok":true}: stopped, not left running.
    let init2 = init(&proxy, "#!/bin/sh\necho 'hello' >&3\nexec sleep 30\n");
    assert_eq!(
        (init2.status, error_of(&init2)),
        (502, START_FAILED.to_owned())
    );
    // Reports its own reason.
    let init3 = init(&proxy, "#!/bin/sh\necho '\"no config\"' >&3\nexit 1\n");
    assert_eq!(
        (init3.status, error_of(&init3)),
        (502, "no config".to_owned())
    );
    // A failed /init can be retried.
    assert_eq!(init(&proxy, SH_LOOP).status, 200);
    proxy.logs_after_sentinels(4);
}

#[test]
fn raw_loop_runs_the_images_exec_without_init() {
    let proxy = bare_loop(|dir| {
        let exec = dir.join("exec");
        std::fs::write(&exec, SH_LOOP).unwrap();
        let mut perms = std::fs::metadata(&exec).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&exec, perms).unwrap();
    });
    let response = run(&proxy, json!({"baked": true}));
    assert_eq!(ok(&response)["echo"]["value"], json!({"baked": true}));
}

#[test]
fn a_missing_launcher_fails_init_with_502() {
    let proxy = ProxyProcess::start_with_env(
        &[
            ("WHISK_PROXY_MODE", "actionloop"),
            ("WHISK_LAUNCHER", "/nonexistent/launcher"),
            ("WHISK_LAUNCHER_SOURCE", "index.js"),
        ],
        |_| {},
    );
    let response = init(&proxy, "function main() {}");
    assert_eq!(
        (response.status, error_of(&response)),
        (502, START_FAILED.to_owned())
    );
    let (_, err) = proxy.logs_after_sentinels(1);
    assert!(err.contains("cannot start /nonexistent/launcher"), "{err}");
}

// === the launchers ===

const NODE_HELLO: &str = r#"
console.log('loading hello');
function main(params) {
  console.log('hello log', params.name);
  console.error('to stderr');
  return {
    greeting: 'Hello ' + params.name + '!',
    aid: process.env.__OW_ACTIVATION_ID,
    ns: process.env.__OW_NAMESPACE,
    name: process.env.__OW_ACTION_NAME,
    deadline: process.env.__OW_DEADLINE,
    key: process.env.__OW_API_KEY === undefined ? null : process.env.__OW_API_KEY,
    init: process.env.MY_INIT,
    ack: process.env.__OW_WAIT_FOR_ACK === undefined,
  };
}
"#;

const PYTHON_HELLO: &str = r#"
import os
print("loading hello")
def main(params):
    print("hello log", params["name"])
    import sys
    print("to stderr", file=sys.stderr)
    return {
        "greeting": "Hello " + params["name"] + "!",
        "aid": os.environ.get("__OW_ACTIVATION_ID"),
        "ns": os.environ.get("__OW_NAMESPACE"),
        "name": os.environ.get("__OW_ACTION_NAME"),
        "deadline": os.environ.get("__OW_DEADLINE"),
        "key": os.environ.get("__OW_API_KEY"),
        "init": os.environ.get("MY_INIT"),
        "ack": "__OW_WAIT_FOR_ACK" not in os.environ,
    }
"#;

fn hello_from_source(lang: Lang, code: &str) {
    let proxy = runtime(lang);
    let response = proxy.post_json(
        "/init",
        &json!({"value": {"name": "hello", "main": "main", "binary": false, "code": code,
                          "env": {"MY_INIT": "from-init"}}}),
    );
    assert_eq!(
        (response.status, response.json()),
        (200, json!({"ok": true}))
    );
    let result = ok(&run(&proxy, json!({"name": "World"})));
    assert_eq!(
        result,
        json!({
            "greeting": "Hello World!",
            "aid": "c7bb1339cb4f40e3a6ccead6c99f804e",
            "ns": "guest",
            "name": "/guest/hello",
            "deadline": "1570223213407",
            "key": "uuid:key",
            "init": "from-init",
            "ack": true,
        })
    );
    // The next activation has its own context; keys it lacks are gone.
    let mut body = run_body(json!({"name": "Again"}));
    body["activation_id"] = json!("0123456789abcdef0123456789abcdef");
    body.as_object_mut().unwrap().remove("api_key");
    let second = ok(&proxy.post_json("/run", &body));
    assert_eq!(second["aid"], json!("0123456789abcdef0123456789abcdef"));
    assert_eq!(second["key"], Value::Null);

    let (out, err) = proxy.logs_after_sentinels(3);
    assert_eq!(activation_lines(&out, 1), ["loading hello"]);
    assert_eq!(activation_lines(&out, 2), ["hello log World"]);
    assert_eq!(activation_lines(&err, 2), ["to stderr"]);
    assert_eq!(activation_lines(&out, 3), ["hello log Again"]);
    assert!(
        !out.contains("greeting"),
        "the result is not a log line: {out}"
    );
    assert!(out.ends_with(&format!("hello log Again\n{SENTINEL}\n")));
}

#[test]
fn node_hello_from_source() {
    hello_from_source(Lang::Node, NODE_HELLO);
}

#[test]
fn python_hello_from_source() {
    hello_from_source(Lang::Python, PYTHON_HELLO);
}

#[test]
fn node_zip_with_package_json_main_and_a_bundled_module() {
    let proxy = runtime(Lang::Node);
    let code = zip_base64(&[
        (
            "package.json",
            br#"{"name":"zipped","main":"lib/action.js"}"#,
            0o644,
        ),
        (
            "lib/action.js",
            b"const greeter = require('greeter');\n\
              exports.main = async function (params) {\n\
                await new Promise((resolve) => setTimeout(resolve, 5));\n\
                return { text: greeter.greet(params.name), cwd: process.cwd() };\n\
              };\n",
            0o644,
        ),
        (
            "node_modules/greeter/package.json",
            br#"{"name":"greeter","main":"greet.js"}"#,
            0o644,
        ),
        (
            "node_modules/greeter/greet.js",
            b"exports.greet = (name) => 'Hi ' + name + ' from a bundled module';\n",
            0o644,
        ),
    ]);
    let response = proxy.post_json(
        "/init",
        &json!({"value": {"code": code, "binary": true, "main": "main"}}),
    );
    assert_eq!(response.status, 200, "{:?}", response.json());
    let result = ok(&run(&proxy, json!({"name": "zip"})));
    assert_eq!(result["text"], json!("Hi zip from a bundled module"));
    let dir = proxy.dir.path().canonicalize().unwrap();
    assert_eq!(result["cwd"], json!(dir.to_str().unwrap()));
}

#[test]
fn node_zip_sent_without_the_binary_flag_and_index_js() {
    let proxy = runtime(Lang::Node);
    let code = zip_base64(&[(
        "index.js",
        b"exports.handler = (p) => ({ zipped: true, p });\n",
        0o644,
    )]);
    let response = proxy.post_json(
        "/init",
        &json!({"value": {"code": code, "binary": false, "main": "handler"}}),
    );
    assert_eq!(response.status, 200, "{:?}", response.json());
    assert_eq!(
        ok(&run(&proxy, json!({"a": 1}))),
        json!({"zipped": true, "p": {"a": 1}})
    );
}

#[test]
fn node_zip_without_an_entry_file_fails_init() {
    let proxy = runtime(Lang::Node);
    let code = zip_base64(&[("lib.js", b"exports.main = () => ({})\n", 0o644)]);
    let response = proxy.post_json("/init", &json!({"value": {"code": code, "binary": true}}));
    assert_eq!(response.status, 502);
    assert_eq!(
        error_of(&response),
        format!(
            "{INIT_FAILED_PREFIX}Zipped actions must contain either package.json or index.js at the root."
        )
    );
}

#[test]
fn python_zip_with_main_a_helper_module_a_package_and_a_virtualenv() {
    let proxy = runtime(Lang::Python);
    let code = zip_base64(&[
        (
            "__main__.py",
            b"import helper\nfrom pkg.words import WORD\nimport vendored\n\n\
              def main(args):\n    return {'text': helper.greet(args['name']) + ' ' + WORD + ' ' + vendored.NAME}\n",
            0o644,
        ),
        ("helper.py", b"def greet(name):\n    return 'Hi ' + name\n", 0o644),
        ("pkg/__init__.py", b"", 0o644),
        ("pkg/words.py", b"WORD = 'from a package'\n", 0o644),
        (
            "virtualenv/lib/python3.11/site-packages/vendored.py",
            b"NAME = 'and a virtualenv'\n",
            0o644,
        ),
    ]);
    let response = proxy.post_json("/init", &json!({"value": {"code": code, "binary": true}}));
    assert_eq!(response.status, 200, "{:?}", response.json());
    assert_eq!(
        ok(&run(&proxy, json!({"name": "zip"}))),
        json!({"text": "Hi zip from a package and a virtualenv"})
    );
}

#[test]
fn python_zip_without_main_py_fails_init() {
    let proxy = runtime(Lang::Python);
    let code = zip_base64(&[("helper.py", b"X = 1\n", 0o644)]);
    let response = proxy.post_json("/init", &json!({"value": {"code": code, "binary": true}}));
    assert_eq!(
        (response.status, error_of(&response)),
        (
            502,
            format!("{INIT_FAILED_PREFIX}Zipped actions must contain __main__.py at the root.")
        )
    );
}

#[test]
fn main_names_another_entry_point() {
    for (lang, code) in [
        (
            Lang::Node,
            "function niam(p) { return { entry: 'niam', p }; }\n",
        ),
        (
            Lang::Python,
            "def niam(p):\n    return {'entry': 'niam', 'p': p}\n",
        ),
    ] {
        let proxy = runtime(lang);
        let response = proxy.post_json(
            "/init",
            &json!({"value": {"code": code, "main": "niam", "binary": false}}),
        );
        assert_eq!(response.status, 200, "{lang:?}: {:?}", response.json());
        assert_eq!(
            ok(&run(&proxy, json!({"x": 1}))),
            json!({"entry": "niam", "p": {"x": 1}}),
            "{lang:?}"
        );
    }
}

#[test]
fn node_exports_main_in_a_single_file_works_too() {
    let proxy = runtime(Lang::Node);
    assert_eq!(
        init(
            &proxy,
            "module.exports.main = (p) => ({ exported: p.v });\n"
        )
        .status,
        200
    );
    assert_eq!(ok(&run(&proxy, json!({"v": 3}))), json!({"exported": 3}));
}

const NODE_ERRORS: &str = r#"
function main(p) {
  switch (p.kind) {
    case 'app': return { error: 'an application error' };
    case 'reject': return Promise.reject(new Error('rejected'));
    case 'reject-value': return Promise.reject({ reason: 'plain' });
    case 'throw': console.log('about to throw'); throw new Error('thrown');
    case 'async-throw': return (async () => { throw new TypeError('async thrown'); })();
    case 'string': return 'not an object';
    case 'null': return null;
    case 'undefined': return undefined;
    case 'array': return [1, 2];
    default: return { pid: process.pid };
  }
}
"#;

#[test]
fn node_application_errors_and_developer_errors() {
    let proxy = runtime(Lang::Node);
    assert_eq!(init(&proxy, NODE_ERRORS).status, 200);
    let pid = ok(&run(&proxy, json!({})))["pid"].clone();

    assert_eq!(
        ok(&run(&proxy, json!({"kind": "app"}))),
        json!({"error": "an application error"})
    );
    let rejected = ok(&run(&proxy, json!({"kind": "reject"})));
    assert_eq!(rejected["error"]["message"], json!("rejected"));
    assert_eq!(rejected["error"]["name"], json!("Error"));
    assert_eq!(
        ok(&run(&proxy, json!({"kind": "reject-value"}))),
        json!({"error": {"reason": "plain"}})
    );
    let async_thrown = ok(&run(&proxy, json!({"kind": "async-throw"})));
    assert_eq!(async_thrown["error"]["name"], json!("TypeError"));

    let thrown = run(&proxy, json!({"kind": "throw"}));
    assert_eq!(
        (thrown.status, error_of(&thrown)),
        (502, "An error has occurred: Error: thrown".to_owned())
    );
    for kind in ["string", "null"] {
        let response = run(&proxy, json!({"kind": kind}));
        assert_eq!(
            (response.status, error_of(&response)),
            (502, NOT_A_DICTIONARY.to_owned()),
            "{kind}"
        );
    }
    assert_eq!(ok(&run(&proxy, json!({"kind": "undefined"}))), json!({}));
    assert_eq!(ok(&run(&proxy, json!({"kind": "array"}))), json!([1, 2]));

    // Errors did not cost the process.
    assert_eq!(ok(&run(&proxy, json!({})))["pid"], pid);
    // The throw's log line and its stack are in that activation's logs.
    let (out, err) = proxy.logs_after_sentinels(12);
    assert_eq!(activation_lines(&out, 7), ["about to throw"]);
    assert!(
        activation_lines(&err, 7)
            .iter()
            .any(|l| l.contains("Error: thrown")),
        "{err}"
    );
}

const PYTHON_ERRORS: &str = r#"
import os
def main(p):
    kind = p.get("kind")
    if kind == "app":
        return {"error": "an application error"}
    if kind == "raise":
        print("about to raise")
        raise ValueError("raised")
    if kind == "string":
        return "not a dict"
    if kind == "none":
        return None
    if kind == "nan":
        return {"x": float("nan")}
    if kind == "list":
        return [1, 2]
    return {"pid": os.getpid()}
"#;

#[test]
fn python_application_errors_and_developer_errors() {
    let proxy = runtime(Lang::Python);
    assert_eq!(init(&proxy, PYTHON_ERRORS).status, 200);
    let pid = ok(&run(&proxy, json!({})))["pid"].clone();
    assert_eq!(
        ok(&run(&proxy, json!({"kind": "app"}))),
        json!({"error": "an application error"})
    );
    // As OpenWhisk's Python runtime: an application error holding str(exception).
    assert_eq!(
        ok(&run(&proxy, json!({"kind": "raise"}))),
        json!({"error": "raised"})
    );
    for kind in ["string", "none"] {
        let response = run(&proxy, json!({"kind": kind}));
        assert_eq!(
            (response.status, error_of(&response)),
            (502, NOT_A_DICTIONARY.to_owned()),
            "{kind}"
        );
    }
    let nan = run(&proxy, json!({"kind": "nan"}));
    assert_eq!(nan.status, 502);
    assert!(error_of(&nan).starts_with("An error has occurred: ValueError"));
    assert_eq!(ok(&run(&proxy, json!({"kind": "list"}))), json!([1, 2]));
    assert_eq!(ok(&run(&proxy, json!({})))["pid"], pid);

    let (out, err) = proxy.logs_after_sentinels(8);
    assert_eq!(activation_lines(&out, 4), ["about to raise"]);
    let err_lines = activation_lines(&err, 4);
    assert_eq!(err_lines[0], "Traceback (most recent call last):");
    assert_eq!(err_lines.last().unwrap(), "ValueError: raised");
}

#[test]
fn init_failures_of_the_launchers() {
    for (lang, syntax_error, no_main, error_name) in [
        (
            Lang::Node,
            "function main( {",
            "function other() {}",
            "SyntaxError",
        ),
        (
            Lang::Python,
            "def main(:\n",
            "def other():\n    pass\n",
            "SyntaxError",
        ),
    ] {
        let proxy = runtime(lang);
        let bad = init(&proxy, syntax_error);
        assert_eq!(bad.status, 502, "{lang:?}");
        let message = error_of(&bad);
        assert!(
            message.starts_with(INIT_FAILED_PREFIX) && message.contains(error_name),
            "{lang:?}: {message}"
        );
        let missing = init(&proxy, no_main);
        assert_eq!(
            (missing.status, error_of(&missing)),
            (
                502,
                format!("{INIT_FAILED_PREFIX}Action entrypoint 'main' is not a function.")
            ),
            "{lang:?}"
        );
        // A failed /init leaves the proxy ready for another.
        let good = match lang {
            Lang::Node => NODE_HELLO,
            Lang::Python => PYTHON_HELLO,
        };
        assert_eq!(init(&proxy, good).status, 200, "{lang:?}");
        let (_, err) = proxy.logs_after_sentinels(3);
        assert!(
            activation_lines(&err, 1)
                .iter()
                .any(|l| l.contains(error_name)),
            "{lang:?}: {err}"
        );
    }
}

#[test]
fn a_crashed_action_is_reported_and_restarted_on_the_next_run() {
    for (lang, code) in [
        (
            Lang::Node,
            "let count = 0;\nfunction main(p) {\n  count += 1;\n  console.log('run ' + count);\n  \
             if (p.crash) { console.log('about to exit'); process.exit(3); }\n  \
             return { count, pid: process.pid };\n}\n",
        ),
        (
            Lang::Python,
            "import os\ncount = 0\ndef main(p):\n    global count\n    count += 1\n    \
             print('run %d' % count)\n    if p.get('crash'):\n        print('about to exit')\n        \
             os._exit(3)\n    return {'count': count, 'pid': os.getpid()}\n",
        ),
    ] {
        let proxy = runtime(lang);
        assert_eq!(init(&proxy, code).status, 200, "{lang:?}");
        let first = ok(&run(&proxy, json!({})));
        assert_eq!(first["count"], json!(1), "{lang:?}");

        let crash = run(&proxy, json!({"crash": true}));
        assert_eq!(
            (crash.status, error_of(&crash)),
            (502, RUN_EXITED.to_owned()),
            "{lang:?}"
        );
        let (out, err) = proxy.logs_after_sentinels(3);
        assert_eq!(activation_lines(&out, 3), ["run 2", "about to exit"], "{lang:?}");
        let err_lines = activation_lines(&err, 3);
        assert_eq!(err_lines.len(), 1, "{lang:?}: {err_lines:?}");
        assert!(err_lines[0].contains("exit status: 3"), "{err_lines:?}");

        // Started again with the same code: its state starts over.
        let after = ok(&run(&proxy, json!({})));
        assert_eq!(after["count"], json!(1), "{lang:?}");
        assert_ne!(after["pid"], first["pid"], "{lang:?}");
        assert_eq!(ok(&run(&proxy, json!({})))["count"], json!(2), "{lang:?}");
    }
}

#[test]
fn every_log_line_of_a_run_comes_before_its_sentinels() {
    const LINES: usize = 20_000;
    for (lang, code) in [
        (
            Lang::Node,
            "function main(p) {\n  for (let i = 0; i < p.n; i++) { console.log('out ' + p.run + ' ' + i); \
             console.error('err ' + p.run + ' ' + i); }\n  process.stdout.write('tail without newline');\n  \
             return { done: p.run };\n}\n",
        ),
        (
            Lang::Python,
            "import sys\ndef main(p):\n    for i in range(p['n']):\n        print('out %s %d' % (p['run'], i))\n        \
             print('err %s %d' % (p['run'], i), file=sys.stderr)\n    \
             sys.stdout.write('tail without newline')\n    return {'done': p['run']}\n",
        ),
    ] {
        let proxy = runtime(lang);
        assert_eq!(init(&proxy, code).status, 200, "{lang:?}");
        for run_number in 0..3 {
            let response = run(&proxy, json!({"n": LINES, "run": run_number}));
            assert_eq!(ok(&response), json!({"done": run_number}), "{lang:?}");
        }
        let (out, err) = proxy.logs_after_sentinels(4);
        for run_number in 0..3 {
            let mut expected: Vec<String> =
                (0..LINES).map(|i| format!("out {run_number} {i}")).collect();
            expected.push("tail without newline".into());
            assert!(
                activation_lines(&out, run_number + 2) == expected,
                "{lang:?}: stdout of run {run_number} is not whole or not in order"
            );
            let expected: Vec<String> =
                (0..LINES).map(|i| format!("err {run_number} {i}")).collect();
            assert!(
                activation_lines(&err, run_number + 2) == expected,
                "{lang:?}: stderr of run {run_number} is not whole or not in order"
            );
        }
    }
}

#[test]
fn concurrent_runs_are_served_one_at_a_time_and_never_mixed() {
    let proxy = runtime(Lang::Node);
    let code = r#"
const fs = require('fs');
async function main(p) {
  fs.appendFileSync('trace.log', 'start ' + p.n + '\n');
  console.log('log ' + p.n);
  await new Promise((resolve) => setTimeout(resolve, 30));
  fs.appendFileSync('trace.log', 'end ' + p.n + '\n');
  return { n: p.n };
}
"#;
    assert_eq!(init(&proxy, code).status, 200);
    let port = proxy.port;
    let handles: Vec<_> = (0..6)
        .map(|i| {
            thread::spawn(move || {
                let mut client = common::Client::connect(port);
                let response = client.post_json("/run", &run_body(json!({"n": i})));
                (i, response.status, response.json())
            })
        })
        .collect();
    for handle in handles {
        let (i, status, body) = handle.join().unwrap();
        assert_eq!((status, body), (200, json!({"n": i})));
    }
    let trace = std::fs::read_to_string(proxy.dir.path().join("trace.log")).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines.len(), 12);
    for pair in lines.chunks(2) {
        let started = pair[0].strip_prefix("start ").unwrap();
        assert_eq!(
            pair[1],
            format!("end {started}"),
            "runs overlapped: {trace}"
        );
    }
    let (out, _) = proxy.logs_after_sentinels(7);
    for n in 2..=7 {
        let lines = activation_lines(&out, n);
        assert_eq!(lines.len(), 1, "{out}");
        assert!(lines[0].starts_with("log "), "{out}");
    }
}

/// With `__OW_ALLOW_CONCURRENT=true`, the Node.js launcher confirms concurrent runs at
/// `/init`; runs then overlap, each answer goes to its own request, and each run's lines
/// (and its sentinel) carry its activation id, with process.env.__OW_ACTIVATION_ID its own.
#[test]
fn node_concurrent_runs_overlap_and_tag_their_own_lines() {
    let proxy = runtime(Lang::Node);
    let code = r#"
const fs = require('fs');
async function main(p) {
  fs.appendFileSync('trace.log', 'start ' + p.n + '\n');
  console.log('log ' + p.n);
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.stdout.write('tail ' + p.n);
  console.error('err ' + p.n);
  fs.appendFileSync('trace.log', 'end ' + p.n + '\n');
  return { n: p.n, id: process.env.__OW_ACTIVATION_ID };
}
"#;
    let reply = proxy.post_json(
        "/init",
        &json!({"value": {"main": "main", "code": code, "env": {"__OW_ALLOW_CONCURRENT": "true"}}}),
    );
    assert_eq!(ok(&reply), json!({"ok": true, "concurrent": true}));
    let port = proxy.port;
    let handles: Vec<_> = (0..6)
        .map(|i| {
            thread::spawn(move || {
                let mut body = run_body(json!({"n": i}));
                let id = format!("{i:032x}");
                body["activation_id"] = json!(id);
                let response = common::Client::connect(port).post_json("/run", &body);
                (i, id, response.status, response.json())
            })
        })
        .collect();
    let mut ids = Vec::new();
    for handle in handles {
        let (i, id, status, body) = handle.join().unwrap();
        assert_eq!((status, body), (200, json!({"n": i, "id": id})));
        ids.push((i, id));
    }
    let trace = std::fs::read_to_string(proxy.dir.path().join("trace.log")).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines.len(), 12);
    assert!(
        lines[1].starts_with("start "),
        "runs did not overlap: {trace}"
    );
    for (i, id) in ids {
        let (out, err) = proxy.run_lines(&id);
        assert_eq!(out, vec![format!("log {i}"), format!("tail {i}")]);
        assert_eq!(err, vec![format!("err {i}")]);
    }
}

/// The Python launcher serves one run at a time: it does not confirm concurrent runs.
#[test]
fn python_does_not_confirm_concurrent_runs() {
    let proxy = runtime(Lang::Python);
    let reply = proxy.post_json(
        "/init",
        &json!({"value": {"main": "main", "code": "def main(p):\n    return p\n",
                          "env": {"__OW_ALLOW_CONCURRENT": "true"}}}),
    );
    assert_eq!(ok(&reply), json!({"ok": true}));
    assert_eq!(ok(&run(&proxy, json!({"a": 1}))), json!({"a": 1}));
}

#[test]
fn large_arguments_and_arrays_round_trip() {
    for (lang, code) in [
        (Lang::Node, "function main(p) { return p; }\n"),
        (Lang::Python, "def main(p):\n    return p\n"),
    ] {
        let proxy = runtime(lang);
        assert_eq!(init(&proxy, code).status, 200);
        let big = json!({"blob": "x".repeat(1 << 20), "unicode": "héllo ✓ \u{2028}", "nested": {"a": [1, 2.5, null, true]}});
        assert_eq!(ok(&run(&proxy, big.clone())), big, "{lang:?}");
        assert_eq!(
            ok(&run(&proxy, json!([1, {"a": 2}]))),
            json!([1, {"a": 2}]),
            "{lang:?}"
        );
    }
}

#[test]
fn second_init_is_refused_and_the_first_code_stays() {
    let proxy = runtime(Lang::Python);
    assert_eq!(
        init(&proxy, "def main(p):\n    return {'v': 1}\n").status,
        200
    );
    let again = init(&proxy, "def main(p):\n    return {'v': 2}\n");
    assert_eq!((again.status, error_of(&again)), (403, REINIT.to_owned()));
    assert_eq!(ok(&run(&proxy, json!({}))), json!({"v": 1}));
}
