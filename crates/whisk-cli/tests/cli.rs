//! `wsk` end to end over real HTTP on 127.0.0.1 against a small stand-in for the controller
//! (the golden tests against a live `whiskd` live with the server). Each test runs the
//! command line through `main_with` with its own properties file and checks stdout, stderr
//! and the exit code.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use jiff::tz::Offset;
use serde_json::{json, Value};

const AUTH: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";
const ID: &str = "6ba2c0fd6f4348b8a2c0fd6f4388b864";

#[derive(Default)]
struct State {
    actions: BTreeMap<String, Value>,
    activations: BTreeMap<String, Value>,
    /// Triggers, rules and packages by (collection, name).
    entities: BTreeMap<(String, String), Value>,
    /// Bodies of every invoke, in order.
    invokes: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<State>>;

fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"error": msg, "code": "tid42"}))).into_response()
}

fn with_id(status: StatusCode, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut()
        .insert("x-openwhisk-activation-id", ID.parse().unwrap());
    r
}

/// The record the stand-in stores for an invocation.
fn activation(name: &str, result: Value, status: &str) -> Value {
    json!({"namespace": "guest", "name": name, "subject": "guest", "activationId": ID,
        "start": 1_552_766_580_000u64, "end": 1_552_766_580_002u64, "duration": 2,
        "response": {"result": result, "size": 60, "status": status, "success": status == "success"},
        "logs": ["2024-01-01T00:00:00.000000000Z stdout: This is a log message from an arbitrary C program!"],
        "version": "0.0.1", "publish": false,
        "annotations": [{"key": "path", "value": format!("guest/{name}")}, {"key": "kind", "value": "blackbox"},
                        {"key": "initTime", "value": 40}]})
}

async fn handle(
    state: Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    if path == "/api/v1" {
        return axum::Json(json!({"build": "2024-06-01", "buildno": "42"})).into_response();
    }
    if headers.get("authorization").is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "The resource requires authentication, which was not supplied with the request",
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    let mut st = state.lock().unwrap();
    match (method, parts.as_slice()) {
        (Method::GET, ["namespaces"]) => axum::Json(json!(["guest"])).into_response(),
        (Method::GET, ["namespaces", _, "actions"]) => {
            axum::Json(Value::Array(st.actions.values().cloned().collect())).into_response()
        }
        (Method::PUT, ["namespaces", _, "actions", name]) => {
            if st.actions.contains_key(*name) && query.contains("overwrite=false") {
                return error(StatusCode::CONFLICT, "resource already exists");
            }
            let kind = body
                .pointer("/exec/kind")
                .cloned()
                .unwrap_or(json!("blackbox"));
            let action = json!({"namespace": "guest", "name": name, "version": "0.0.1", "exec": body["exec"],
                "annotations": [{"key": "exec", "value": kind}], "parameters": body.get("parameters").cloned().unwrap_or(json!([])),
                "limits": {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}, "publish": false});
            st.actions.insert((*name).to_owned(), action.clone());
            axum::Json(action).into_response()
        }
        (Method::GET, ["namespaces", _, "actions", name]) => match st.actions.get(*name) {
            Some(a) => axum::Json(a.clone()).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                "The requested resource does not exist.",
            ),
        },
        (Method::DELETE, ["namespaces", _, "actions", name]) => match st.actions.remove(*name) {
            Some(a) => axum::Json(a).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                "The requested resource does not exist.",
            ),
        },
        (Method::PUT, ["namespaces", _, coll @ ("triggers" | "rules" | "packages"), name]) => {
            let key = ((*coll).to_owned(), (*name).to_owned());
            if st.entities.contains_key(&key) && query.contains("overwrite=false") {
                return error(StatusCode::CONFLICT, "resource already exists");
            }
            let mut e = body.clone();
            e["namespace"] = json!("guest");
            e["name"] = json!(name);
            e["version"] = json!("0.0.1");
            e["publish"] = body.get("publish").cloned().unwrap_or(json!(false));
            if *coll == "rules" {
                e["status"] = json!("active");
            }
            st.entities.insert(key, e.clone());
            axum::Json(e).into_response()
        }
        (Method::GET, ["namespaces", _, coll @ ("triggers" | "rules" | "packages")]) => {
            let list: Vec<Value> = st
                .entities
                .iter()
                .filter(|((c, _), _)| c == coll)
                .map(|(_, v)| {
                    let mut v = v.clone();
                    v.as_object_mut().unwrap().remove("status");
                    v
                })
                .collect();
            axum::Json(Value::Array(list)).into_response()
        }
        (Method::GET, ["namespaces", _, coll @ ("triggers" | "rules" | "packages"), name]) => {
            match st.entities.get(&((*coll).to_owned(), (*name).to_owned())) {
                Some(e) => axum::Json(e.clone()).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                ),
            }
        }
        (Method::DELETE, ["namespaces", _, coll @ ("triggers" | "rules" | "packages"), name]) => {
            match st
                .entities
                .remove(&((*coll).to_owned(), (*name).to_owned()))
            {
                Some(e) => axum::Json(e).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                ),
            }
        }
        (Method::POST, ["namespaces", _, "triggers", name]) => {
            if st
                .entities
                .contains_key(&("triggers".to_owned(), (*name).to_owned()))
            {
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"activationId": ID})),
                )
                    .into_response()
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                )
            }
        }
        (Method::POST, ["namespaces", _, "rules", name]) => {
            match st
                .entities
                .get_mut(&("rules".to_owned(), (*name).to_owned()))
            {
                Some(r) => {
                    r["status"] = body["status"].clone();
                    (StatusCode::OK, "OK").into_response()
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                ),
            }
        }
        (Method::POST, ["namespaces", _, "actions", name]) => {
            st.invokes.push(((*name).to_owned(), body.clone()));
            let blocking = query.contains("blocking=true");
            let result_only = query.contains("result=true");
            match *name {
                "slow" if blocking => (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"activationId": ID})),
                )
                    .into_response(),
                "fail" => {
                    let rec = activation("fail", json!({"error": "boom"}), "application error");
                    let out = if result_only {
                        rec["response"]["result"].clone()
                    } else {
                        rec
                    };
                    with_id(StatusCode::BAD_GATEWAY, out)
                }
                n if st.actions.contains_key(n) => {
                    let result = json!({"args": body, "msg": "Hello from C program!"});
                    let rec = activation(n, result.clone(), "success");
                    st.activations.insert(ID.to_owned(), rec.clone());
                    if !blocking {
                        (
                            StatusCode::ACCEPTED,
                            axum::Json(json!({"activationId": ID})),
                        )
                            .into_response()
                    } else if result_only {
                        with_id(StatusCode::OK, result)
                    } else {
                        with_id(StatusCode::OK, rec)
                    }
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                ),
            }
        }
        (Method::GET, ["namespaces", _, "activations"]) if query.contains("docs=true") => {
            axum::Json(Value::Array(st.activations.values().cloned().collect())).into_response()
        }
        (Method::GET, ["namespaces", _, "activations"]) => {
            let list: Vec<Value> = st
                .activations
                .values()
                .map(|a| {
                    let mut s = a.clone();
                    let m = s.as_object_mut().unwrap();
                    m.remove("response");
                    m.remove("logs");
                    m.remove("subject");
                    m.insert("statusCode".into(), json!(0));
                    s
                })
                .collect();
            axum::Json(Value::Array(list)).into_response()
        }
        (Method::GET, ["namespaces", _, "activations", id]) => match st.activations.get(*id) {
            Some(a) => axum::Json(a.clone()).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                "The requested resource does not exist.",
            ),
        },
        (Method::GET, ["namespaces", _, "activations", id, "logs"]) => {
            match st.activations.get(*id) {
                Some(a) => axum::Json(json!({"logs": a["logs"]})).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                ),
            }
        }
        (Method::GET, ["namespaces", _, "activations", id, "result"]) => {
            match st.activations.get(*id) {
                Some(a) => axum::Json(a["response"].clone()).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist.",
        ),
    }
}

/// Starts the stand-in on its own thread and runtime; returns its address.
fn start_server() -> SocketAddr {
    start_server_with_state().0
}

/// Like [`start_server`], also returning the stand-in's state for inspection.
fn start_server_with_state() -> (SocketAddr, Shared) {
    let state: Shared = Arc::default();
    let shared = state.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
                handle(state.clone(), m, u, h, b)
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), shared)
}

/// A properties file in a temp dir and a way to run `wsk` with it.
struct Wsk {
    _dir: tempfile::TempDir,
    props: PathBuf,
    env: HashMap<String, String>,
}

struct Run {
    code: u8,
    out: String,
    err: String,
}

impl Wsk {
    fn new(props: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wskprops");
        std::fs::write(&path, props).unwrap();
        let mut env = HashMap::new();
        env.insert("WSK_CONFIG_FILE".to_owned(), path.display().to_string());
        Self {
            _dir: dir,
            props: path,
            env,
        }
    }

    fn for_server(addr: SocketAddr) -> Self {
        Self::new(&format!("APIHOST=http://{addr}\nAUTH={AUTH}\n"))
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let argv = std::iter::once("wsk").chain(args.iter().copied());
        let code = whisk_cli::main_with(argv, &self.env, &mut out, &mut err, Offset::UTC);
        Run {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
        }
    }
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.out, r.err);
    assert_eq!(r.err, "");
}

/// The seed's session, command by command, with our stand-in server.
#[test]
fn seed_transcript() {
    let addr = start_server();
    let wsk = Wsk::new("# written by a test\nFOO=bar\n");
    let host = format!("http://{addr}");

    let r = wsk.run(&[
        "property",
        "set",
        "--apihost",
        &host,
        "--auth",
        AUTH,
        "--namespace",
        "guest",
    ]);
    ok(&r);
    assert_eq!(
        r.out,
        format!("ok: whisk auth set. Run 'wsk property get --auth' to see the new value.\nok: whisk API host set to {host}\nok: whisk namespace set to guest\n")
    );
    assert_eq!(
        std::fs::read_to_string(&wsk.props).unwrap(),
        format!("# written by a test\nFOO=bar\nAUTH={AUTH}\nAPIHOST={host}\nNAMESPACE=guest\n")
    );

    let r = wsk.run(&["-i", "property", "get"]);
    ok(&r);
    assert_eq!(
        r.out,
        format!(
            "client cert\t\t\nClient key\t\t\nwhisk auth\t\t{AUTH}\nwhisk API host\t\t{host}\nwhisk API version\tv1\n\
             whisk namespace\t\tguest\nwhisk CLI version\t{}\nwhisk API build\t\t2024-06-01\nwhisk API build number\t42\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let r = wsk.run(&["property", "get", "--auth"]);
    assert_eq!(r.out, format!("whisk auth\t\t{AUTH}\n"));

    let r = wsk.run(&[
        "-i",
        "action",
        "create",
        "--docker",
        "chanwit/whisk_c",
        "whisk_c",
    ]);
    ok(&r);
    assert_eq!(r.out, "ok: created action whisk_c\n");

    let r = wsk.run(&[
        "-i", "action", "invoke", "--param", "key", "value", "--result", "whisk_c",
    ]);
    ok(&r);
    assert_eq!(r.out, "{\n    \"args\": {\n        \"key\": \"value\"\n    },\n    \"msg\": \"Hello from C program!\"\n}\n");

    let r = wsk.run(&[
        "-i", "action", "invoke", "--param", "hello", "world", "whisk_c",
    ]);
    ok(&r);
    assert_eq!(r.out, format!("ok: invoked /guest/whisk_c with id {ID}\n"));

    let r = wsk.run(&["-i", "activation", "get", ID, "response"]);
    ok(&r);
    assert_eq!(
        r.out,
        format!("ok: got activation {ID}, displaying field response\n{{\n    \"status\": \"success\",\n    \"statusCode\": 0,\n    \"success\": true,\n    \"result\": {{\n        \"args\": {{\n            \"hello\": \"world\"\n        }},\n        \"msg\": \"Hello from C program!\"\n    }}\n}}\n")
    );
}

#[test]
fn default_namespace_is_underscore() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);
    ok(&wsk.run(&["action", "create", "a", "--docker", "img"]));
    let r = wsk.run(&["action", "invoke", "a", "-p", "n", "5"]);
    ok(&r);
    assert_eq!(r.out, format!("ok: invoked /_/a with id {ID}\n"));
    let r = wsk.run(&["activation", "result", ID]);
    assert_eq!(
        r.out,
        "{\n    \"args\": {\n        \"n\": 5\n    },\n    \"msg\": \"Hello from C program!\"\n}\n"
    );
}

#[test]
fn blocking_invoke_prints_the_record() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);
    ok(&wsk.run(&["action", "create", "a", "--docker", "img"]));
    let r = wsk.run(&["action", "invoke", "a", "-b"]);
    ok(&r);
    let (first, json) = r.out.split_once('\n').unwrap();
    assert_eq!(first, format!("ok: invoked /_/a with id {ID}"));
    let record: Value = serde_json::from_str(json).unwrap();
    assert_eq!(record["activationId"], ID);
    // Go prints the invoke response as a map: keys sorted.
    assert!(json.starts_with("{\n    \"activationId\""), "{json}");
}

#[test]
fn action_get_list_delete() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);
    ok(&wsk.run(&["action", "create", "whisk_c", "--docker", "whisk/whisk_c"]));
    let r = wsk.run(&["action", "get", "whisk_c"]);
    ok(&r);
    assert!(r.out.starts_with("ok: got action whisk_c\n{\n    \"namespace\": \"guest\",\n    \"name\": \"whisk_c\",\n    \"version\": \"0.0.1\",\n    \"exec\": {\n        \"kind\": \"blackbox\",\n        \"image\": \"whisk/whisk_c\"\n    },"), "{}", r.out);
    let r = wsk.run(&["action", "get", "whisk_c", "limits"]);
    assert_eq!(r.out, "ok: got action whisk_c, displaying field limits\n{\n    \"timeout\": 60000,\n    \"memory\": 256,\n    \"logs\": 10,\n    \"concurrency\": 1\n}\n");
    let r = wsk.run(&["action", "get", "whisk_c", "--url"]);
    assert_eq!(
        r.out,
        format!("ok: got action whisk_c\nhttp://{addr}/api/v1/namespaces/guest/actions/whisk_c\n")
    );
    let r = wsk.run(&["action", "get", "whisk_c", "nonsense"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (
            2,
            "error: Invalid field filter 'nonsense'.\nRun 'wsk --help' for usage.\n"
        )
    );
    let r = wsk.run(&["action", "list"]);
    assert_eq!(
        r.out,
        format!("actions\n{:<70} private blackbox\n", "/guest/whisk_c")
    );
    let r = wsk.run(&["action", "delete", "whisk_c"]);
    assert_eq!(r.out, "ok: deleted action whisk_c\n");
    let r = wsk.run(&["action", "list"]);
    assert_eq!(r.out, "actions\n");
}

#[test]
fn errors_and_exit_codes() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);

    let r = wsk.run(&["action", "invoke", "missing"]);
    assert_eq!(r.code, 148);
    assert_eq!(r.out, "");
    assert_eq!(r.err, "error: Unable to invoke action 'missing': The requested resource does not exist. (code tid42)\nRun 'wsk --help' for usage.\n");

    ok(&wsk.run(&["action", "create", "dup", "--docker", "img"]));
    let r = wsk.run(&["action", "create", "dup", "--docker", "img"]);
    assert_eq!(r.code, 153);
    assert_eq!(
        r.err,
        "error: Unable to create action 'dup': resource already exists (code tid42)\nRun 'wsk --help' for usage.\n"
    );
    ok(&wsk.run(&["action", "update", "dup", "--docker", "img2"]));

    // A blocking invoke that fails: the usual output, on stderr, exit 502-256.
    let r = wsk.run(&["action", "invoke", "fail", "-r"]);
    assert_eq!(r.code, 246);
    assert_eq!(r.out, "");
    assert_eq!(r.err, "{\n    \"error\": \"boom\"\n}\n");
    let r = wsk.run(&["action", "invoke", "fail", "--blocking"]);
    assert_eq!(r.code, 246);
    assert!(
        r.err
            .starts_with(&format!("ok: invoked /_/fail with id {ID}\n{{\n")),
        "{}",
        r.err
    );

    // The server stopped waiting: stderr line, exit 202.
    let r = wsk.run(&["action", "invoke", "slow", "-r"]);
    assert_eq!(r.code, 202);
    assert_eq!(
        r.err,
        format!("ok: invoked /_/slow, but the request has not yet finished, with id {ID}\n")
    );

    let r = wsk.run(&["activation", "get", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(r.code, 148);
    assert!(
        r.err
            .starts_with("error: Unable to get activation '0123456789abcdef0123456789abcdef': "),
        "{}",
        r.err
    );

    let r = wsk.run(&["action", "get", "a/b/c/d"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.err, "error: 'a/b/c/d' is not a valid qualified name: A valid qualified name must be specified.\nRun 'wsk --help' for usage.\n");
}

#[test]
fn missing_credentials_host_and_server() {
    let addr = start_server();
    let no_auth = Wsk::new(&format!("APIHOST=http://{addr}\n"));
    let r = no_auth.run(&["action", "list"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.err, "error: Unable to obtain the list of actions for namespace 'default': Authorization key is not configured (--auth is required)\nRun 'wsk --help' for usage.\n");

    let no_host = Wsk::new("");
    let r = no_host.run(&["action", "invoke", "x"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .starts_with("error: The API host is not valid: An API host must be provided.\n"),
        "{}",
        r.err
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = Wsk::new(&format!("APIHOST=http://127.0.0.1:{port}\nAUTH={AUTH}\n"));
    let r = down.run(&["action", "list"]);
    assert_eq!(r.code, 3);
    assert!(
        r.err.contains("cannot connect to http://127.0.0.1:"),
        "{}",
        r.err
    );
    assert!(
        r.err.contains("Check that the server is running"),
        "{}",
        r.err
    );

    // Flags win over the file; the environment wins over the file too.
    let r = down.run(&["action", "list", "--apihost", &format!("http://{addr}")]);
    ok(&r);
    let mut env_wsk = Wsk::new(&format!("APIHOST=http://127.0.0.1:{port}\n"));
    env_wsk
        .env
        .insert("WHISK_APIHOST".into(), format!("http://{addr}"));
    env_wsk.env.insert("WHISK_AUTH".into(), AUTH.into());
    ok(&env_wsk.run(&["action", "list"]));
}

#[test]
fn activation_list_logs_and_last() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);
    // No activations: Go's CLI prints its (empty) header, one empty line.
    let r = wsk.run(&["activation", "list"]);
    assert_eq!(r.out, "\n");
    ok(&wsk.run(&["action", "create", "hello", "--docker", "img"]));
    ok(&wsk.run(&["action", "invoke", "hello"]));

    let r = wsk.run(&["activation", "list"]);
    ok(&r);
    assert_eq!(
        r.out,
        format!("Datetime            Activation ID                    Kind     Start Duration   Status  Entity\n\
                 2019-03-16 20:03:00 {ID} blackbox cold  2ms        success guest/hello:0.0.1\n")
    );
    let r = wsk.run(&["activation", "logs", ID]);
    assert_eq!(r.out, "2024-01-01T00:00:00.000000000Z stdout: This is a log message from an arbitrary C program!\n");
    let r = wsk.run(&["activation", "logs", "--last", "--strip"]);
    assert_eq!(
        r.out,
        "This is a log message from an arbitrary C program!\n"
    );
    let r = wsk.run(&["activation", "get", "--last", "name"]);
    assert_eq!(
        r.out,
        format!("ok: got activation {ID}, displaying field name\n\"hello\"\n")
    );
    let r = wsk.run(&["activation", "result", "--last"]);
    assert!(r.out.contains("\"msg\": \"Hello from C program!\""));
}

#[test]
fn property_unset_and_help() {
    let wsk = Wsk::new("AUTH=a:b\nNAMESPACE=guest\n# note\n");
    let r = wsk.run(&["property", "unset", "--auth", "--namespace"]);
    ok(&r);
    assert_eq!(
        r.out,
        "ok: whisk auth unset.\nok: whisk namespace unset; the default value of _ will be used.\n"
    );
    assert_eq!(std::fs::read_to_string(&wsk.props).unwrap(), "# note\n");

    let r = wsk.run(&["action", "create", "--help"]);
    assert_eq!(r.code, 0);
    assert!(
        r.out
            .contains("wsk action create hello --docker whisk/hello"),
        "{}",
        r.out
    );
    let r = wsk.run(&["action", "frobnicate"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err
            .starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{}",
        r.err
    );
}

#[test]
fn activation_poll_prints_new_logs_until_exit() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);
    ok(&wsk.run(&["action", "create", "hello", "--docker", "img"]));
    ok(&wsk.run(&["action", "invoke", "hello"]));
    let r = wsk.run(&["activation", "poll", "--since-days", "1", "--exit", "1"]);
    ok(&r);
    assert_eq!(
        r.out,
        format!("Enter Ctrl-c to exit.\nPolling for activation logs\n\nActivation: 'hello' ({ID})\n[\n    \"2024-01-01T00:00:00.000000000Z stdout: This is a log message from an arbitrary C program!\"\n]\n")
    );
}

#[test]
fn namespace_list_and_sdk() {
    let addr = start_server();
    let wsk = Wsk::for_server(addr);
    let r = wsk.run(&["namespace", "list"]);
    ok(&r);
    assert_eq!(r.out, "namespaces\nguest\n");
    let r = wsk.run(&["sdk", "install", "bashauto", "--stdout"]);
    ok(&r);
    assert!(r.out.contains("_wsk()"), "not a bash completion script");
    // `wsk api` and its commands complete.
    assert!(
        r.out.contains("wsk__subcmd__api__subcmd__create"),
        "no `wsk api create` in the completion script"
    );
    assert!(r.out.contains("--response-type") && r.out.contains("--config-file"));
    let r = wsk.run(&["sdk", "install", "ios"]);
    assert_eq!(r.code, 1);
}

#[test]
fn triggers_rules_and_packages() {
    let (addr, state) = start_server_with_state();
    let wsk = Wsk::for_server(addr);

    // Packages and bindings.
    let r = wsk.run(&[
        "package", "create", "demo", "--shared", "yes", "-p", "greeting", "hi",
    ]);
    ok(&r);
    assert_eq!(r.out, "ok: created package demo\n");
    ok(&wsk.run(&["package", "bind", "/guest/demo", "mine", "-p", "x", "1"]));
    let r = wsk.run(&["package", "list"]);
    assert_eq!(
        r.out,
        format!(
            "packages\n{:<70} shared\n{:<70} private\n",
            "/guest/demo", "/guest/mine"
        )
    );
    let r = wsk.run(&["package", "get", "mine", "binding"]);
    assert_eq!(r.out, "ok: got package mine, displaying field binding\n{\n    \"namespace\": \"guest\",\n    \"name\": \"demo\"\n}\n");
    assert_eq!(
        wsk.run(&["package", "delete", "mine"]).out,
        "ok: deleted package mine\n"
    );

    // Triggers, with a feed that gets the lifecycle call.
    ok(&wsk.run(&["action", "create", "myfeed", "--docker", "img"]));
    let r = wsk.run(&[
        "trigger",
        "create",
        "tick",
        "--feed",
        "myfeed",
        "-p",
        "cron",
        "* * * * *",
    ]);
    ok(&r);
    // As OpenWhisk's CLI: the feed's activation, then the trigger.
    assert!(
        r.out.starts_with(&format!(
            "ok: invoked /_/myfeed with id {ID}\n{{\n    \"activationId\""
        )),
        "{}",
        r.out
    );
    assert!(
        r.out.ends_with("}\nok: created trigger tick\n"),
        "{}",
        r.out
    );
    let (name, input) = state.lock().unwrap().invokes.last().cloned().unwrap();
    assert_eq!(name, "myfeed");
    assert_eq!(
        input,
        json!({"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": AUTH, "cron": "* * * * *"})
    );
    let r = wsk.run(&["trigger", "fire", "tick"]);
    assert_eq!(r.out, format!("ok: triggered /_/tick with id {ID}\n"));
    let r = wsk.run(&["trigger", "list"]);
    assert_eq!(r.out, format!("triggers\n{:<70} private\n", "/guest/tick"));

    // Rules.
    ok(&wsk.run(&["action", "create", "hello", "--docker", "img"]));
    assert_eq!(
        wsk.run(&["rule", "create", "r1", "tick", "hello"]).out,
        "ok: created rule r1\n"
    );
    assert_eq!(
        wsk.run(&["rule", "disable", "r1"]).out,
        "ok: disabled rule r1\n"
    );
    assert_eq!(
        wsk.run(&["rule", "status", "r1"]).out,
        "ok: rule r1 is inactive\n"
    );
    assert_eq!(
        wsk.run(&["rule", "enable", "r1"]).out,
        "ok: enabled rule r1\n"
    );
    let r = wsk.run(&["rule", "list"]);
    assert_eq!(
        r.out,
        format!("rules\n{:<70} {:<20} active\n", "/guest/r1", "private")
    );
    let r = wsk.run(&["rule", "get", "r1", "action"]);
    assert_eq!(
        r.out,
        "ok: got rule r1, displaying field action\n\"/_/hello\"\n"
    );
    assert_eq!(
        wsk.run(&["rule", "delete", "r1"]).out,
        "ok: deleted rule r1\n"
    );

    // Deleting the trigger tells the feed.
    let r = wsk.run(&["trigger", "delete", "tick"]);
    ok(&r);
    assert!(r.out.starts_with("{\n    \"activationId\""), "{}", r.out);
    assert!(
        r.out.ends_with("}\nok: deleted trigger tick\n"),
        "{}",
        r.out
    );
    let (_, input) = state.lock().unwrap().invokes.last().cloned().unwrap();
    assert_eq!(input["lifecycleEvent"], "DELETE");

    let r = wsk.run(&["trigger", "get", "tick"]);
    assert_eq!(r.code, 148);
    assert_eq!(r.err, "error: Unable to get trigger 'tick': The requested resource does not exist. (code tid42)\n");
    let r = wsk.run(&["rule", "create", "r1", "tick", "hello"]);
    assert_eq!(r.code, 0, "the stand-in does not check references");
}
