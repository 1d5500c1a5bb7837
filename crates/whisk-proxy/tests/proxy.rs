//! The proxy binary against the Docker skeleton contract, over real sockets and processes.

mod common;

use std::process::Command;
use std::thread;

use common::{activation_lines, zip_base64, ProxyProcess, SENTINEL};
use serde_json::{json, Value};

use whisk_protocol::{
    ERR_INIT_FAILED as INIT_FAILED, ERR_REINIT as REINIT, ERR_RUN_BAD_ARGUMENT as BAD_ARGUMENT,
    ERR_RUN_BAD_RESULT as BAD_RESULT, ERR_RUN_NO_BINARY as NO_BINARY,
};

/// Prints `$1` (the argument) as the result.
const ECHO: &str = "#!/bin/sh\nprintf '%s\\n' \"$1\"\n";

fn error_of(response: &common::HttpResponse) -> String {
    response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
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

/// With `__OW_ALLOW_CONCURRENT=true` in `/init`'s env, exec-per-run serves runs at once
/// (a process each) and tags each run's lines, a line without its newline included, with
/// its activation id, up to its own tagged sentinel.
#[test]
fn exec_runs_go_at_once_with_tagged_lines_when_init_allows_it() {
    let proxy = ProxyProcess::start();
    let script = r#"#!/bin/sh
echo "start $__OW_ACTIVATION_ID" >> trace.log
echo "start $__OW_ACTIVATION_ID"
sleep 0.3
echo "err $__OW_ACTIVATION_ID" >&2
printf 'tail' >&2
echo "end $__OW_ACTIVATION_ID" >> trace.log
printf '{"id":"%s"}\n' "$__OW_ACTIVATION_ID"
"#;
    let init = proxy.post_json(
        "/init",
        &json!({"value": {"code": script, "env": {"__OW_ALLOW_CONCURRENT": "true"}}}),
    );
    assert_eq!(init.json(), json!({"ok": true, "concurrent": true}));
    let port = proxy.port;
    let handles: Vec<_> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let id = format!("{i:032x}");
                let mut body = run_body(json!({}));
                body["activation_id"] = json!(id);
                let response = common::Client::connect(port).post_json("/run", &body);
                (id, response.status, response.json())
            })
        })
        .collect();
    let mut ids = Vec::new();
    for handle in handles {
        let (id, status, body) = handle.join().unwrap();
        assert_eq!((status, body), (200, json!({"id": id})));
        ids.push(id);
    }
    let trace = std::fs::read_to_string(proxy.dir.path().join("trace.log")).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines.len(), 8, "{trace}");
    assert!(
        lines[1].starts_with("start "),
        "runs did not overlap: {trace}"
    );
    for id in ids {
        let (out, err) = proxy.run_lines(&id);
        assert_eq!(out, vec![format!("start {id}")]);
        assert_eq!(err, vec![format!("err {id}"), "tail".to_owned()]);
    }
}

#[test]
fn script_init_then_run_gets_params_env_stdin_and_logs() {
    let proxy = ProxyProcess::start();
    let script = r#"#!/bin/sh
echo "log line one"
echo "to stderr" >&2
echo "extra=$__OW_EXTRA"
input=$(cat)
printf '{"args":%s,"stdin":%s,"ns":"%s","name":"%s","aid":"%s","tid":"%s","deadline":"%s","key":"%s","version":"%s","init":"%s","inherited":"%s"}\n' \
  "$1" "$input" "$__OW_NAMESPACE" "$__OW_ACTION_NAME" "$__OW_ACTIVATION_ID" "$__OW_TRANSACTION_ID" \
  "$__OW_DEADLINE" "$__OW_API_KEY" "$__OW_ACTION_VERSION" "$MY_INIT" "$PROXY_TEST_MARKER"
"#;
    let init = proxy.post_json(
        "/init",
        &json!({"value": {"name": "hello", "main": "main", "binary": false, "code": script,
                          "env": {"MY_INIT": "from-init", "__OW_NAMESPACE": "stale"}}}),
    );
    assert_eq!(init.status, 200);
    assert_eq!(init.json(), json!({"ok": true}));
    assert_eq!(init.header("content-type"), Some("application/json"));

    let mut body = run_body(json!({"name": "World", "n": 1}));
    body["extra"] = json!({"a": [1, true]});
    let run = proxy.post_json("/run", &body);
    assert_eq!(run.status, 200, "{:?}", String::from_utf8_lossy(&run.body));
    assert_eq!(
        run.json(),
        json!({
            "args": {"name": "World", "n": 1},
            "stdin": {"name": "World", "n": 1},
            "ns": "guest",
            "name": "/guest/hello",
            "aid": "c7bb1339cb4f40e3a6ccead6c99f804e",
            "tid": "iSOoNklk6V7l7eh8KJnvugidKEmaNJmv",
            "deadline": "1570223213407",
            "key": "uuid:key",
            "version": "0.0.1",
            "init": "from-init",
            "inherited": "inherited",
        })
    );

    let (out, err) = proxy.logs_after_sentinels(2);
    assert_eq!(activation_lines(&out, 1), Vec::<String>::new());
    assert_eq!(
        activation_lines(&out, 2),
        ["log line one", r#"extra={"a":[1,true]}"#]
    );
    assert_eq!(activation_lines(&err, 2), ["to stderr"]);
    // The result line is not logged, and each stream ends with the sentinel.
    assert!(out.ends_with(&format!("extra={{\"a\":[1,true]}}\n{SENTINEL}\n")));
    assert!(err.ends_with(&format!("to stderr\n{SENTINEL}\n")));
}

#[test]
fn zip_init_unpacks_the_action_and_runs_it_in_its_directory() {
    let proxy = ProxyProcess::start();
    // `exec` is stored without execute permission: the proxy must add it.
    let code = zip_base64(&[
        ("exec", b"#!/bin/sh\nprintf '{\"data\":\"%s\",\"args\":%s}' \"$(cat data/greeting.txt)\" \"$1\"\n", 0o644),
        ("data/greeting.txt", b"hello from the zip", 0o644),
    ]);
    let init = proxy.post_json(
        "/init",
        &json!({"value": {"code": code, "binary": true, "main": "main"}}),
    );
    assert_eq!(init.status, 200);
    let run = proxy.post_json("/run", &run_body(json!({"k": "v"})));
    assert_eq!(run.status, 200);
    assert_eq!(
        run.json(),
        json!({"data": "hello from the zip", "args": {"k": "v"}})
    );
}

#[test]
fn second_init_is_refused_with_403_and_ends_with_sentinels() {
    let proxy = ProxyProcess::start();
    assert_eq!(proxy.init_script(ECHO).status, 200);
    let again = proxy.init_script("#!/bin/sh\necho '{\"replaced\":true}'\n");
    assert_eq!(again.status, 403);
    assert_eq!(again.json(), json!({"error": REINIT}));
    // The first code stays.
    let run = proxy.post_json("/run", &run_body(json!({"still": "echo"})));
    assert_eq!(run.json(), json!({"still": "echo"}));
    proxy.logs_after_sentinels(3);
}

#[test]
fn failed_init_answers_502_logs_why_and_can_be_retried() {
    let proxy = ProxyProcess::start();
    let no_exec = zip_base64(&[("main.sh", b"#!/bin/sh\n", 0o755)]);
    let init = proxy.post_json(
        "/init",
        &json!({"value": {"code": no_exec, "binary": true}}),
    );
    assert_eq!(init.status, 502);
    assert_eq!(error_of(&init), INIT_FAILED);
    let not_base64 = proxy.post_json("/init", &json!({"value": {"code": "%%%", "binary": true}}));
    assert_eq!(not_base64.status, 502);
    let (_, err) = proxy.logs_after_sentinels(2);
    assert!(
        activation_lines(&err, 1)[0].contains("exec does not exist"),
        "{err}"
    );
    assert!(activation_lines(&err, 2)[0].contains("base64"), "{err}");

    assert_eq!(proxy.init_script(ECHO).status, 200);
}

#[test]
fn init_without_code_keeps_the_images_exec_and_run_works_without_init() {
    let proxy = ProxyProcess::start_with(|dir| {
        let exec = dir.join("exec");
        std::fs::write(&exec, "#!/bin/sh\necho '{\"baked\":true}'\n").unwrap();
        let mut perms = std::fs::metadata(&exec).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&exec, perms).unwrap();
    });
    // A blackbox image runs without any /init ...
    let run = proxy.post_json("/run", &run_body(json!({})));
    assert_eq!((run.status, run.json()), (200, json!({"baked": true})));
    // ... and /init without code keeps the program.
    let init = proxy.post_json("/init", &json!({"value": {}}));
    assert_eq!(init.status, 200);
    let run = proxy.post_json("/run", &run_body(json!({})));
    assert_eq!(run.json(), json!({"baked": true}));
}

#[test]
fn without_any_exec_init_and_run_answer_502() {
    let proxy = ProxyProcess::start();
    let run = proxy.post_json("/run", &run_body(json!({"a": 1})));
    assert_eq!((run.status, error_of(&run)), (502, NO_BINARY.to_owned()));
    let init = proxy.post_json("/init", &json!({"value": {"name": "x"}}));
    assert_eq!(
        (init.status, error_of(&init)),
        (502, INIT_FAILED.to_owned())
    );
    proxy.logs_after_sentinels(2);
}

#[test]
fn a_non_json_last_line_is_502_and_logged() {
    let proxy = ProxyProcess::start();
    proxy.init_script("#!/bin/sh\necho 'a log line'\necho 'hello, not json'\n");
    let run = proxy.post_json("/run", &run_body(json!({})));
    assert_eq!(run.status, 502);
    assert_eq!(run.json(), json!({"error": BAD_RESULT}));
    let (out, _) = proxy.logs_after_sentinels(2);
    assert_eq!(activation_lines(&out, 2), ["a log line", "hello, not json"]);
}

#[test]
fn scalar_and_empty_results_are_502() {
    for script in [
        "#!/bin/sh\necho 42\n",
        "#!/bin/sh\necho '\"text\"'\n",
        "#!/bin/sh\n",
        "#!/bin/sh\necho null\n",
    ] {
        let proxy = ProxyProcess::start();
        proxy.init_script(script);
        let run = proxy.post_json("/run", &run_body(json!({})));
        assert_eq!(
            (run.status, error_of(&run)),
            (502, BAD_RESULT.to_owned()),
            "{script}"
        );
    }
}

#[test]
fn a_crashing_exec_is_502_and_the_proxy_keeps_serving() {
    let proxy = ProxyProcess::start();
    proxy.init_script(
        "#!/bin/sh\ncase \"$1\" in *crash*) echo 'before the crash'; printf 'half' >&2; kill -SEGV $$;; esac\nprintf '%s\\n' \"$1\"\n",
    );
    let crash = proxy.post_json("/run", &run_body(json!({"crash": true})));
    assert_eq!(
        (crash.status, error_of(&crash)),
        (502, BAD_RESULT.to_owned())
    );
    let (out, err) = proxy.logs_after_sentinels(2);
    assert_eq!(activation_lines(&out, 2), ["before the crash"]);
    // stderr had no newline: the sentinel still gets a line of its own.
    let lines = activation_lines(&err, 2);
    assert_eq!(lines[0], "half");
    assert!(lines[1].contains("signal"), "{lines:?}");
    let ok = proxy.post_json("/run", &run_body(json!({"fine": 1})));
    assert_eq!((ok.status, ok.json()), (200, json!({"fine": 1})));
}

#[test]
fn value_must_be_an_object_or_array() {
    let proxy = ProxyProcess::start();
    proxy.init_script(ECHO);
    for value in [json!(1), json!("s"), json!(null), json!(true)] {
        let run = proxy.post_json("/run", &run_body(value));
        assert_eq!((run.status, error_of(&run)), (404, BAD_ARGUMENT.to_owned()));
    }
    let run = proxy.post_json("/run", &run_body(json!([1, {"a": 2}])));
    assert_eq!((run.status, run.json()), (200, json!([1, {"a": 2}])));
}

#[test]
fn bad_json_is_400_and_other_routes_are_404_or_405() {
    let proxy = ProxyProcess::start();
    assert_eq!(proxy.post("/init", b"{not json").status, 400);
    assert_eq!(proxy.post("/run", b"").status, 400);
    assert_eq!(proxy.post("/init", br#"{"value":{"code":7}}"#).status, 400);
    // Each of these was an /init or /run: each ended with sentinels.
    proxy.logs_after_sentinels(3);
    assert_eq!(proxy.post("/other", b"{}").status, 404);
    let get = proxy.client().request("GET", "/run", b"").unwrap();
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
    // A refused body did not count as an init.
    assert_eq!(proxy.init_script(ECHO).status, 200);
}

#[test]
fn a_large_argument_goes_on_stdin_only() {
    let proxy = ProxyProcess::start();
    proxy.init_script("#!/bin/sh\nif [ $# -eq 0 ]; then cat; else echo '{\"argv\":true}'; fi\n");
    let big = json!({"blob": "x".repeat(200_000)});
    let run = proxy.post_json("/run", &run_body(big.clone()));
    assert_eq!((run.status, run.json()), (200, big));
    let small = proxy.post_json("/run", &run_body(json!({"small": 1})));
    assert_eq!(small.json(), json!({"argv": true}));
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let proxy = ProxyProcess::start();
    let mut client = proxy.client();
    assert_eq!(
        client
            .post_json("/init", &json!({"value": {"code": ECHO}}))
            .status,
        200
    );
    for i in 0..20 {
        let run = client.post_json("/run", &run_body(json!({"i": i})));
        assert_eq!((run.status, run.json()), (200, json!({"i": i})));
    }
}

#[test]
fn concurrent_runs_are_served_one_at_a_time() {
    let proxy = ProxyProcess::start();
    proxy.init_script(
        "#!/bin/sh\necho \"start $1\" >> trace.log\necho \"log $1\"\nsleep 0.1\necho \"end $1\" >> trace.log\nprintf '%s\\n' \"$1\"\n",
    );
    let port = proxy.port;
    let handles: Vec<_> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let mut client = common::Client::connect(port);
                let run = client.post_json("/run", &run_body(json!({"n": i})));
                (i, run.status, run.json())
            })
        })
        .collect();
    for handle in handles {
        let (i, status, body) = handle.join().unwrap();
        assert_eq!((status, body), (200, json!({"n": i})));
    }
    let trace = std::fs::read_to_string(proxy.dir.path().join("trace.log")).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines.len(), 8);
    for pair in lines.chunks(2) {
        let started = pair[0].strip_prefix("start ").unwrap();
        assert_eq!(
            pair[1],
            format!("end {started}"),
            "runs overlapped: {trace}"
        );
    }
    // Each run's log line sits alone between its sentinels.
    let (out, _) = proxy.logs_after_sentinels(5);
    for n in 2..=5 {
        let lines = activation_lines(&out, n);
        assert_eq!(lines.len(), 1, "{out}");
        assert!(lines[0].starts_with("log "), "{out}");
    }
}

#[test]
fn sigterm_stops_the_proxy() {
    let mut proxy = ProxyProcess::start();
    let status = Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(proxy.wait_exit(), Some(0));
    assert!(!proxy.is_running());
}

#[test]
fn with_a_token_only_its_holders_are_served_and_the_action_never_sees_it() {
    let proxy = ProxyProcess::start_with_env(&[("WHISK_PROXY_TOKEN", "s3cret")], |_| {});
    let init = json!({"value": {"code": "#!/bin/sh\necho \"{\\\"token\\\":\\\"$WHISK_PROXY_TOKEN\\\"}\"\n",
                                "main": "main", "binary": false}});
    let body = init.to_string();
    // No token, a wrong one, another scheme: refused before the body is read (and the
    // connection closed, with the body unread).
    let none = proxy
        .client()
        .request("POST", "/init", body.as_bytes())
        .unwrap();
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    for wrong in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret"] {
        let r = proxy
            .client()
            .request_with(
                "POST",
                "/init",
                &[("Authorization", wrong)],
                body.as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 403, "{wrong}");
    }
    let run = proxy
        .client()
        .request("POST", "/run", run_body(json!({})).to_string().as_bytes())
        .unwrap();
    assert_eq!(run.status, 401);
    // Refusals reach neither the action nor the log.
    assert!(!proxy.stdout().contains(SENTINEL), "{}", proxy.stdout());

    let auth = [("Authorization", "Bearer s3cret")];
    let mut client = proxy.client();
    let ok = client
        .request_with("POST", "/init", &auth, body.as_bytes())
        .unwrap();
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    let run = client
        .request_with(
            "POST",
            "/run",
            &auth,
            run_body(json!({})).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(run.status, 200);
    assert_eq!(run.json(), json!({"token": ""}));
}

#[test]
fn asked_for_port_zero_it_reports_the_port_it_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_whisk-proxy"))
        .env("__OW_PROXY_PORT", "0")
        .env("WHISK_PROXY_BIND", "127.0.0.1")
        .env("WHISK_ACTION_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: std::net::SocketAddr = line
        .trim_end()
        .strip_prefix(whisk_proxy::server::LISTENING_PREFIX)
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0);
    let reply = common::Client::connect(addr.port()).post_json("/run", &run_body(json!({})));
    assert_eq!(reply.status, 502, "not initialized: {:?}", reply.json());
    let _ = child.kill();
    let _ = child.wait();
}
