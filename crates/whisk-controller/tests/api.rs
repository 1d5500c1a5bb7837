//! The REST API through `router()`: statuses, texts, headers and the invoke paths, over the
//! real SQLite store and embedded bus with a fake invoker at the bus seam.

mod support;

use axum::http::Method;
use serde_json::{json, Value};
use support::{delete, eventually, get, post, put, req, Stack};
use whisk_controller::{ControllerConfig, RuntimeManifest};
use whisk_store::ActivationStore;
use whisk_types::message::ACTION_CHANGED_SUBJECT;
use whisk_types::{
    Activation, ActivationId, ActivationResponse, EntityName, EntityPath, Parameters, SemVer,
};

const ACTIONS: &str = "/api/v1/namespaces/_/actions";
const ACTIVATIONS: &str = "/api/v1/namespaces/_/activations";
const CORS_ORIGIN: &str = "access-control-allow-origin";

#[tokio::test]
async fn native_kinds_from_the_standard_manifest() {
    let s = Stack::start_with(ControllerConfig {
        runtimes: RuntimeManifest::standard(),
        ..support::config()
    })
    .await;
    for path in ["/", "/api/v1"] {
        let r = s.check(get(path).no_auth(), 200, "").await;
        let runtimes = &r.json()["runtimes"];
        assert_eq!(runtimes["nodejs"][0]["kind"], "nodejs:18", "{path}");
        assert_eq!(runtimes["nodejs"][0]["image"], "whisk/action-nodejs:18");
        assert_eq!(runtimes["nodejs"][0]["default"], true);
        assert_eq!(runtimes["python"][0]["kind"], "python:3.11", "{path}");
        assert_eq!(runtimes["python"][0]["default"], true);
        assert!(runtimes.get("blackbox").is_none());
    }
    let r = s
        .check(
            put(
                &format!("{ACTIONS}/hello"),
                json!({"exec":{"kind":"NODEJS:default ","code":"function main(p){return p}","main":"main"}}),
            ),
            200,
            "",
        )
        .await;
    let j = r.json();
    assert_eq!(j["exec"]["kind"], "nodejs:18");
    assert_eq!(j["exec"]["binary"], false);
    assert_eq!(j["exec"]["main"], "main");
    let exec_annotation = j["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "exec")
        .map(|a| a["value"].clone());
    assert_eq!(exec_annotation, Some(json!("nodejs:18")));
    let r = s
        .check(
            put(
                &format!("{ACTIONS}/zipped"),
                json!({"exec":{"kind":"python:default","code":"UEsDBBQAAAAIAA==","binary":false}}),
            ),
            200,
            "",
        )
        .await;
    assert_eq!(r.json()["exec"]["kind"], "python:3.11");
    assert_eq!(r.json()["exec"]["binary"], true);
    let r = s.check(get(&format!("{ACTIONS}/zipped")), 200, "").await;
    assert_eq!(r.json()["exec"]["binary"], true);
    s.check(
        put(&format!("{ACTIONS}/old"), json!({"exec":{"kind":"nodejs:20","code":"x"}})),
        400,
        "The specified runtime 'nodejs:20' is not supported by this platform. Valid values are: 'blackbox', 'nodejs:18', 'python:3.11'.",
    )
    .await;
}

#[tokio::test]
async fn info_ping_and_metrics() {
    let s = Stack::without_invoker().await;
    let r = s
        .check(get("/").no_auth(), 200, "\"description\":\"OpenWhisk\"")
        .await;
    assert_eq!(r.json()["limits"]["max_action_memory"], 536_870_912);
    assert_eq!(r.json()["runtimes"], json!({}));
    assert!(r.header(CORS_ORIGIN).is_none());
    let r = s.check(get("/ping").no_auth(), 200, "pong").await;
    assert!(r.header(CORS_ORIGIN).is_none());
    for path in ["/api/v1", "/api/v1/"] {
        let r = s
            .check(get(path).no_auth(), 200, "\"api_version_path\":\"v1\"")
            .await;
        let j = r.json();
        assert_eq!(j["description"], "OpenWhisk API");
        assert!(j["build"].is_string() && j["buildno"].is_string());
        assert_eq!(j["swagger_paths"]["api-docs"], "/api-docs");
        assert_eq!(r.header(CORS_ORIGIN), Some("*"));
    }
    s.check(get("/nope").no_auth(), 404, "").await;
    let r = s
        .check(
            get("/metrics").no_auth(),
            200,
            "whisk_controller_http_responses_total{class=\"2xx\"}",
        )
        .await;
    assert!(r
        .text
        .contains("whisk_controller_http_responses_total{class=\"4xx\"} 1"));
    assert!(r
        .text
        .contains("whisk_controller_blocking_wait_seconds_count"));
}

#[tokio::test]
async fn authentication() {
    let s = Stack::without_invoker().await;
    let missing = "The resource requires authentication, which was not supplied with the request";
    let invalid = "The supplied authentication is invalid";
    let wrong_secret = support::basic(&whisk_types::AuthKey {
        uuid: s.guest.uuid,
        secret: "x".repeat(64),
    });
    let unknown = support::basic(&whisk_types::AuthKey::generate());
    let cases: Vec<(support::Req, u16, &str)> = vec![
        (get("/api/v1/namespaces").no_auth(), 401, missing),
        (get(ACTIONS).no_auth(), 401, missing),
        (get(ACTIONS).auth("Bearer abc"), 401, missing),
        (get(ACTIONS).auth("Basic !!notbase64"), 401, invalid),
        (get(ACTIONS).auth(&wrong_secret), 401, invalid),
        (get(ACTIONS).auth(&unknown), 401, invalid),
        (get(ACTIONS), 200, "[]"),
        // The good key is cached now; a wrong secret for the same uuid is still refused.
        (get(ACTIONS).auth(&wrong_secret), 401, invalid),
        (get(ACTIONS), 200, "[]"),
    ];
    for (r, status, text) in cases {
        let resp = s.check(r, status, text).await;
        if status == 401 {
            assert_eq!(
                resp.header("www-authenticate"),
                Some("Basic realm=\"OpenWhisk secure realm\"")
            );
            assert_eq!(resp.json()["code"], resp.header("x-request-id").unwrap());
        }
    }
}

#[tokio::test]
async fn namespaces_and_limits() {
    // The defaults, as a client sees them (OpenWhisk's 60/30/60).
    let s = Stack::without_invoker_with(ControllerConfig::default()).await;
    let r = s.check(get("/api/v1/namespaces"), 200, "").await;
    assert_eq!(r.json(), json!(["guest"]));
    s.check(get("/api/v1/namespaces/"), 200, "[\"guest\"]")
        .await;
    let r = s.check(get("/api/v1/namespaces/_/limits"), 200, "").await;
    assert_eq!(r.json()["invocationsPerMinute"], 60);
    assert_eq!(r.json()["concurrentInvocations"], 30);
    assert_eq!(r.json()["firesPerMinute"], 60);
    assert_eq!(r.json()["maxParameterSize"], "1048576 B");
    s.check(
        get("/api/v1/namespaces/guest/limits"),
        200,
        "concurrentInvocations",
    )
    .await;
    s.check(
        get("/api/v1/namespaces/other/limits"),
        403,
        "The supplied authentication is not authorized to access 'other'.",
    )
    .await;
}

#[tokio::test]
async fn error_statuses() {
    let s = Stack::start().await;
    s.create_action("exists", json!({})).await;
    let bb = json!({"exec": {"kind": "blackbox", "image": "i"}});
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(1024 * 1024));
    let long = "a".repeat(257);
    let cases: Vec<(support::Req, u16, &str)> = vec![
        (put(&format!("{ACTIONS}/a$b"), bb.clone()), 400, "The name of the entity contains illegal characters."),
        (put(&format!("{ACTIONS}/a%20"), bb.clone()), 400, "The name of the entity contains illegal characters."),
        (put(&format!("{ACTIONS}/{long}"), bb.clone()), 400, "Name segement longer than allowed: 257 > 256."),
        (get("/api/v1/namespaces/b$d/actions"), 400, "The namespace contains illegal characters."),
        (put(&format!("{ACTIONS}/a/b/c"), bb.clone()), 400, "The name of the entity contains illegal characters."),
        (req(Method::PUT, &format!("{ACTIONS}/m")).body("{\"exec\":"), 400, "The request content was malformed:\\n"),
        (put(&format!("{ACTIONS}/m"), json!({})), 400, "exec undefined"),
        (put(&format!("{ACTIONS}/m"), json!({"exec":{"kind":"nodejs:20","code":"x"}})), 400,
            "The specified runtime 'nodejs:20' is not supported by this platform. Valid values are: 'blackbox'."),
        (put(&format!("{ACTIONS}/m"), json!({"exec":{"kind":"sequence","components":["/_/a"]}})), 400,
            "Sequence component does not exist."),
        (put(&format!("{ACTIONS}/m"), json!({"exec":{"kind":"sequence"}})), 400,
            "The request content was malformed:\\n'components' must be defined for sequence kind"),
        (put(&format!("{ACTIONS}/m"), json!({"exec":{"kind":"blackbox","image":"i"},"limits":{"memory":1024}})), 400,
            "memory 1024 MB exceeds allowed threshold of 512 MB"),
        (put(&format!("{ACTIONS}/m"), json!({"exec":{"kind":"blackbox","image":"i"},"limits":{"timeout":"x"}})), 400,
            "time limit must be whole number"),
        (put(&format!("{ACTIONS}/m"), json!({"exec":{"kind":"blackbox","image":"i"},
            "parameters":[{"key":"k","value":"v".repeat(1024 * 1024)}]})), 413, "parameters larger than allowed: "),
        (put(&format!("{ACTIONS}/exists"), bb.clone()), 409, "resource already exists"),
        (req(Method::POST, &format!("{ACTIONS}/exists")).body(big), 413,
            "Request larger than allowed: 1048584 > 1048576 bytes."),
        (req(Method::POST, &format!("{ACTIONS}/exists")).header("content-length", "2000000").body("{}"), 413,
            "Request larger than allowed: 2000000 > 1048576 bytes."),
        (req(Method::PUT, &format!("{ACTIONS}/m")).header("content-length", "60000000").body("{}"), 413,
            "Request larger than allowed: 60000000 > 52428800 bytes."),
        (req(Method::POST, &format!("{ACTIONS}/exists")).body("[1,2]"), 400, "The request content was malformed:\\n"),
        (req(Method::POST, &format!("{ACTIONS}/exists")).body("{nope"), 400, "The request content was malformed:\\n"),
        (post(&format!("{ACTIONS}/exists?timeout=0&blocking=true"), json!({})), 400,
            "Timeout must be number of milliseconds up to 60000."),
        (post(&format!("{ACTIONS}/exists?timeout=60001&blocking=true"), json!({})), 400,
            "Timeout must be number of milliseconds up to 60000."),
        (post(&format!("{ACTIONS}/exists?blocking=maybe"), json!({})), 400, "'maybe' is not a valid Boolean value"),
        (get(&format!("{ACTIONS}/missing")), 404, "The requested resource does not exist."),
        (delete(&format!("{ACTIONS}/missing")), 404, "The requested resource does not exist."),
        (post(&format!("{ACTIONS}/missing"), json!({})), 404, "The requested resource does not exist."),
        (get(&format!("{ACTIVATIONS}/{}", "a".repeat(32))), 404, "The requested resource does not exist."),
        (get(&format!("{ACTIVATIONS}/abc")), 400, "Activation id length is 3 but must be 32."),
        (get(&format!("{ACTIVATIONS}/{}", "z".repeat(32))), 400, "The activation id is not valid."),
        (get("/api/v1/namespaces/other/actions"), 403, "The supplied authentication is not authorized to access 'other'."),
        (get("/api/v1/namespaces/other/actions/p/a"), 403, "not authorized to access 'other/p/a'."),
        (post("/api/v1/namespaces/other/actions/a", json!({})), 403, "not authorized to access 'other/a'."),
        (get("/api/v1/namespaces/other/activations"), 403, "not authorized to access 'other'."),
        (req(Method::PATCH, &format!("{ACTIONS}/exists")), 405, "HTTP method not allowed, supported methods: GET, PUT, DELETE, POST"),
        (req(Method::POST, ACTIONS), 405, "HTTP method not allowed, supported methods: GET"),
        (req(Method::DELETE, ACTIVATIONS), 405, "HTTP method not allowed"),
        (req(Method::POST, "/ping").no_auth(), 405, "HTTP method not allowed, supported methods: GET"),
        (get("/api/v1/nothing").no_auth(), 404, "The requested resource could not be found."),
        (get("/api/v1/namespaces/_/nothing"), 404, "The requested resource could not be found."),
        (get("/api/v1/namespaces/_"), 404, "The requested resource could not be found."),
        (get(&format!("{ACTIVATIONS}/{}/other", "a".repeat(32))), 404, "The requested resource could not be found."),
    ];
    for (r, status, text) in cases {
        let resp = s.check(r, status, text).await;
        let body = resp.json();
        assert_eq!(
            body["code"],
            resp.header("x-request-id").unwrap(),
            "{}",
            resp.text
        );
        assert_eq!(body.as_object().unwrap().len(), 2, "{}", resp.text);
    }
    // None of that broke anything.
    s.check(
        post(&format!("{ACTIONS}/exists?blocking=true"), json!({})),
        200,
        "success",
    )
    .await;
}

#[tokio::test]
async fn crud_and_version_bump() {
    let s = Stack::without_invoker().await;
    let mut changes = whisk_bus::Bus::subscribe(s.bus.as_ref(), ACTION_CHANGED_SUBJECT)
        .await
        .unwrap();
    let created = s
        .create_action(
            "hello",
            json!({"name": "ignored", "namespace": "ignored",
                   "exec": {"kind": "blackbox", "image": "img", "code": "echo hi"},
                   "parameters": [{"key": "p", "value": 1}],
                   "annotations": [{"key": "a", "value": 1}, {"key": "b", "value": 2}],
                   "limits": {"timeout": 1000}}),
        )
        .await;
    assert_eq!(created["name"], "hello");
    assert_eq!(created["namespace"], "guest");
    assert_eq!(created["version"], "0.0.1");
    assert_eq!(
        created["limits"],
        json!({"timeout":1000,"memory":256,"logs":10,"concurrency":1})
    );
    assert_eq!(
        created["exec"],
        json!({"kind":"blackbox","image":"img","code":"echo hi","binary":false})
    );
    assert_eq!(
        created["annotations"],
        json!([{"key":"a","value":1},{"key":"b","value":2},
               {"key":"provide-api-key","value":false},{"key":"exec","value":"blackbox"}])
    );
    assert!(created["updated"].as_i64().unwrap() > 0);
    let change: Value = serde_json::from_slice(&changes.next().await.unwrap()).unwrap();
    assert_eq!(
        change,
        json!({"fqn": "/guest/hello", "before": created["updated"]}),
        "containers of versions before this one are stale"
    );

    let got = s
        .check(get(&format!("{ACTIONS}/hello")), 200, "")
        .await
        .json();
    assert_eq!(got, created);
    let meta = s
        .check(get(&format!("{ACTIONS}/hello?code=false")), 200, "")
        .await
        .json();
    assert!(meta["exec"].get("code").is_none());
    assert_eq!(meta["exec"]["image"], "img");

    s.check(
        put(
            &format!("{ACTIONS}/hello"),
            json!({"exec":{"kind":"blackbox","image":"x"}}),
        ),
        409,
        "resource already exists",
    )
    .await;
    let updated = s
        .check(
            put(
                &format!("{ACTIONS}/hello?overwrite=true"),
                json!({"annotations": [{"key": "b", "value": 3}], "delAnnotations": ["a"],
                       "limits": {"memory": 512}}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(updated["version"], "0.0.2");
    assert_eq!(updated["limits"]["timeout"], 1000);
    assert_eq!(updated["limits"]["memory"], 512);
    assert_eq!(updated["parameters"], json!([{"key":"p","value":1}]));
    assert_eq!(updated["exec"]["image"], "img");
    let keys: Vec<&str> = updated["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| kv["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["provide-api-key", "b", "exec"]);
    assert!(updated["updated"].as_i64() > created["updated"].as_i64());
    let change: Value = serde_json::from_slice(&changes.next().await.unwrap()).unwrap();
    assert_eq!(
        change,
        json!({"fqn": "/guest/hello", "before": updated["updated"]})
    );
    let again = s
        .check(
            put(&format!("{ACTIONS}/hello?overwrite=true"), json!({})),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(again["version"], "0.0.3");
    // overwrite=true on an absent action creates it.
    s.check(
        put(
            &format!("{ACTIONS}/fresh?overwrite=true"),
            json!({"exec":{"kind":"blackbox","image":"i"}}),
        ),
        200,
        "\"version\":\"0.0.1\"",
    )
    .await;

    let deleted = s
        .check(delete(&format!("{ACTIONS}/hello")), 200, "")
        .await
        .json();
    assert_eq!(deleted["version"], "0.0.3");
    assert_eq!(deleted["name"], "hello");
    // again (0.0.3) and fresh were announced; then the delete: every version is stale.
    let _ = changes.next().await.unwrap();
    let _ = changes.next().await.unwrap();
    let change: Value = serde_json::from_slice(&changes.next().await.unwrap()).unwrap();
    assert_eq!(
        change,
        json!({"fqn": "/guest/hello", "before": deleted["updated"].as_i64().unwrap() + 1})
    );
    s.check(
        get(&format!("{ACTIONS}/hello")),
        404,
        "The requested resource does not exist.",
    )
    .await;
    s.check(delete(&format!("{ACTIONS}/hello")), 404, "").await;
    let recreated = s.create_action("hello", json!({})).await;
    assert_eq!(recreated["version"], "0.0.1");
}

#[tokio::test]
async fn list_skip_limit_count() {
    let s = Stack::without_invoker().await;
    for i in 0..5 {
        s.create_action(
            &format!("a{i}"),
            json!({"exec":{"kind":"blackbox","image":"i","code":"UEsDBA=="}}),
        )
        .await;
    }
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = s.check(get(ACTIONS), 200, "").await.json();
    assert_eq!(names(all.clone()), ["a4", "a3", "a2", "a1", "a0"]);
    let first = &all[0];
    assert_eq!(first["exec"], json!({"binary": true}));
    for key in [
        "namespace",
        "name",
        "version",
        "publish",
        "annotations",
        "limits",
        "updated",
    ] {
        assert!(first.get(key).is_some(), "summary lacks {key}");
    }
    assert!(first.get("parameters").is_none());
    let cases = [
        ("?limit=2", vec!["a4", "a3"]),
        ("?limit=2&skip=2", vec!["a2", "a1"]),
        ("?skip=4", vec!["a0"]),
        ("?skip=9", vec![]),
        ("?limit=0", vec!["a4", "a3", "a2", "a1", "a0"]),
        ("?", vec!["a4", "a3", "a2", "a1", "a0"]),
    ];
    for (q, want) in cases {
        assert_eq!(
            names(s.check(get(&format!("{ACTIONS}{q}")), 200, "").await.json()),
            want,
            "{q}"
        );
    }
    s.check(
        get(&format!("{ACTIONS}?count=true")),
        200,
        "{\"actions\":5}",
    )
    .await;
    s.check(get(&format!("{ACTIONS}/")), 200, "a4").await;
    s.check(
        get(&format!("{ACTIONS}?limit=201")),
        400,
        "The value '201' is not in the range of 0 to 200 for actions.",
    )
    .await;
    s.check(
        get(&format!("{ACTIONS}?limit=x")),
        400,
        "The value 'x' is not an integer for actions.",
    )
    .await;
    s.check(
        get(&format!("{ACTIONS}?skip=-1")),
        400,
        "The value '-1' is not greater than or equal to 0 for actions.",
    )
    .await;
}

#[tokio::test]
async fn packaged_actions_encoded_unencoded_and_trailing_question_mark() {
    let s = Stack::start().await;
    s.add_package(
        "pkg",
        json!([{"key": "fromPkg", "value": 1}, {"key": "p", "value": "pkg"}]),
        json!({}),
    )
    .await;
    s.add_package(
        "bound",
        json!([]),
        json!({"namespace": "whisk.system", "name": "x"}),
    )
    .await;
    let bb = json!({"exec": {"kind": "blackbox", "image": "i"}, "parameters": [{"key": "p", "value": "action"}]});
    let created = s
        .check(put(&format!("{ACTIONS}/pkg/a?"), bb.clone()), 200, "")
        .await
        .json();
    assert_eq!(created["namespace"], "guest/pkg");
    assert_eq!(created["name"], "a");
    s.check(
        put(&format!("{ACTIONS}/pkg%2Fa"), bb.clone()),
        409,
        "resource already exists",
    )
    .await;
    s.check(
        put(&format!("{ACTIONS}/pkg%2Fb?overwrite=true"), bb.clone()),
        200,
        "\"namespace\":\"guest/pkg\"",
    )
    .await;
    s.check(
        put(&format!("{ACTIONS}/nopkg/a"), bb.clone()),
        404,
        "The requested resource does not exist.",
    )
    .await;
    s.check(
        put(&format!("{ACTIONS}/bound/a"), bb.clone()),
        400,
        "Operation not permitted on package binding.",
    )
    .await;
    s.create_action("top", json!({})).await;

    for path in ["pkg/a", "pkg%2Fa", "pkg%2fa?", "/pkg/a"] {
        let r = s.check(get(&format!("{ACTIONS}/{path}")), 200, "").await;
        assert_eq!(r.json()["namespace"], "guest/pkg", "{path}");
    }
    let in_pkg = s
        .check(get(&format!("{ACTIONS}/pkg/")), 200, "")
        .await
        .json();
    let mut names: Vec<&str> = in_pkg
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    s.check(get(&format!("{ACTIONS}/nopkg/")), 404, "").await;
    let all = s
        .check(get(&format!("{ACTIONS}?count=true")), 200, "")
        .await
        .json();
    assert_eq!(all["actions"], 3);

    // Invoke through both spellings; package < action < payload.
    for path in ["pkg/a", "pkg%2Fa"] {
        let r = s
            .check(
                post(
                    &format!("{ACTIONS}/{path}?blocking=true&result=true"),
                    json!({"x": 1}),
                ),
                200,
                "",
            )
            .await;
        assert_eq!(
            r.json()["echo"],
            json!({"fromPkg": 1, "p": "action", "x": 1}),
            "{path}"
        );
        assert_eq!(r.json()["action"], "guest/pkg/a");
    }
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/pkg/a?blocking=true&result=true"),
                json!({"p": "payload"}),
            ),
            200,
            "",
        )
        .await;
    assert_eq!(r.json()["echo"]["p"], "payload");
    s.check(delete(&format!("{ACTIONS}/pkg%2Fa")), 200, "\"name\":\"a\"")
        .await;
    s.check(get(&format!("{ACTIONS}/pkg/a")), 404, "").await;
}

#[tokio::test]
async fn blocking_outcomes() {
    let s = Stack::start().await;
    s.create_action("act", json!({})).await;
    let url = |q: &str| format!("{ACTIONS}/act?blocking=true{q}");
    // (query, payload, status, body check)
    let cases: Vec<(&str, Value, u16, Value)> = vec![
        (
            "&result=true",
            json!({"k": "v"}),
            200,
            json!({"echo": {"k": "v"}, "action": "guest/act", "api_key": false}),
        ),
        (
            "&result=true",
            json!({"outcome": "application"}),
            502,
            json!({"error": "app failed"}),
        ),
        (
            "&result=true",
            json!({"outcome": "developer"}),
            502,
            json!({"error": "dev failed"}),
        ),
        (
            "&result=true",
            json!({"outcome": "whisk"}),
            500,
            json!({"error": "whisk failed"}),
        ),
        (
            "&result=true",
            json!({"outcome": "array"}),
            200,
            json!([1, 2, 3]),
        ),
        ("", json!({"outcome": "array"}), 200, json!([1, 2, 3])),
    ];
    for (q, payload, status, want) in cases {
        let r = s.check(post(&url(q), payload.clone()), status, "").await;
        assert_eq!(r.json(), want, "{q} {payload}");
        let id = r
            .header("x-openwhisk-activation-id")
            .expect("activation id header");
        assert!(ActivationId::parse(id).is_ok());
    }
    // The full record.
    let r = s.check(post(&url(""), json!({"k": 1})), 200, "").await;
    let rec = r.json();
    assert_eq!(
        rec["activationId"],
        r.header("x-openwhisk-activation-id").unwrap()
    );
    assert_eq!(rec["name"], "act");
    assert_eq!(rec["namespace"], "guest");
    assert_eq!(rec["response"]["status"], "success");
    assert_eq!(rec["response"]["success"], true);
    assert_eq!(rec["response"]["result"]["echo"], json!({"k": 1}));
    assert!(rec["response"].get("statusCode").is_none());
    let r = s
        .check(post(&url(""), json!({"outcome": "application"})), 502, "")
        .await;
    assert_eq!(r.json()["response"]["status"], "application error");
    assert_eq!(r.json()["response"]["success"], false);
    let r = s
        .check(post(&url(""), json!({"outcome": "developer"})), 502, "")
        .await;
    assert_eq!(r.json()["response"]["status"], "action developer error");
    let r = s
        .check(post(&url(""), json!({"outcome": "whisk"})), 500, "")
        .await;
    assert_eq!(r.json()["response"]["status"], "whisk internal error");

    let m = s.controller.metrics();
    assert_eq!(
        m.invocations(whisk_controller::InvokeOutcome::ApplicationError),
        2
    );
    assert_eq!(
        m.invocations(whisk_controller::InvokeOutcome::WhiskError),
        2
    );
}

#[tokio::test]
async fn blocking_timeout_answers_202_with_the_id() {
    let s = Stack::start().await;
    s.create_action("slow", json!({})).await;
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/slow?blocking=true&timeout=50"),
                json!({"hang": true}),
            ),
            202,
            "activationId",
        )
        .await;
    let id = r.json()["activationId"].as_str().unwrap().to_owned();
    assert_eq!(r.json().as_object().unwrap().len(), 1);
    assert_eq!(r.header("x-openwhisk-activation-id"), Some(id.as_str()));
    assert_eq!(
        s.controller
            .metrics()
            .invocations(whisk_controller::InvokeOutcome::Timeout),
        1
    );
}

#[tokio::test]
async fn a_lost_completion_is_found_by_polling_the_store() {
    let s = Stack::start().await;
    s.create_action("quiet", json!({})).await;
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/quiet?blocking=true&result=true"),
                json!({"lose_completion": true}),
            ),
            200,
            "",
        )
        .await;
    assert_eq!(r.json()["echo"]["lose_completion"], true);
}

#[tokio::test]
async fn non_blocking_then_fetch_the_record() {
    let s = Stack::start().await;
    s.create_action("bg", json!({"parameters": [{"key": "fixed", "value": "yes"}, {"key": "secret", "value": "s", "init": true}]})).await;
    let r = s
        .check(
            post(&format!("{ACTIONS}/bg"), json!({"n": 7})),
            202,
            "activationId",
        )
        .await;
    let id = r.json()["activationId"].as_str().unwrap().to_owned();
    assert_eq!(r.header("x-openwhisk-activation-id"), Some(id.as_str()));
    // An empty body counts as {}.
    s.check(
        req(Method::POST, &format!("{ACTIONS}/bg?blocking=false")),
        202,
        "activationId",
    )
    .await;

    let rec = eventually("the record is stored", || async {
        let r = s.send(get(&format!("{ACTIVATIONS}/{id}"))).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    assert_eq!(rec["activationId"], id.as_str());
    assert_eq!(
        rec["response"]["result"]["echo"],
        json!({"fixed": "yes", "n": 7})
    );
    assert_eq!(rec["duration"], 1);
    s.check(
        get(&format!("{ACTIVATIONS}/{id}/logs")),
        200,
        "{\"logs\":[\"2024-01-01T00:00:00.000000000Z stdout: hello\"]}",
    )
    .await;
    let result = s
        .check(get(&format!("{ACTIVATIONS}/{id}/result")), 200, "")
        .await
        .json();
    assert_eq!(result["status"], "success");
    assert_eq!(result["success"], true);
    assert_eq!(result["size"], 10);
    assert_eq!(result["result"]["echo"]["n"], 7);
    // Activations belong to the invoking namespace.
    let other = s.add_subject("other").await;
    let as_other = support::basic(&other);
    s.check(get(&format!("{ACTIVATIONS}/{id}")).auth(&as_other), 404, "")
        .await;
    s.check(get(ACTIVATIONS).auth(&as_other), 200, "[]").await;
}

#[tokio::test]
async fn provide_api_key_and_final() {
    let s = Stack::start().await;
    s.create_action(
        "k",
        json!({"parameters": [{"key": "fixed", "value": 1}, {"key": "open", "value": null}]}),
    )
    .await;
    let res = |r: support::Resp| r.json();
    let r = res(s
        .check(
            post(&format!("{ACTIONS}/k?blocking=true&result=true"), json!({})),
            200,
            "",
        )
        .await);
    assert_eq!(r["api_key"], false);
    s.check(
        put(&format!("{ACTIONS}/k?overwrite=true"), json!({"annotations": [{"key": "provide-api-key", "value": true}, {"key": "final", "value": true}]})),
        200,
        "",
    )
    .await;
    let r = res(s
        .check(
            post(
                &format!("{ACTIONS}/k?blocking=true&result=true"),
                json!({"open": 2}),
            ),
            200,
            "",
        )
        .await);
    assert_eq!(r["api_key"], true);
    assert_eq!(r["echo"], json!({"fixed": 1, "open": 2}));
    s.check(
        post(&format!("{ACTIONS}/k?blocking=true"), json!({"fixed": 2})),
        400,
        "Request defines parameters that are not allowed (e.g., reserved properties).",
    )
    .await;
}

fn record(name: &str, start: i64, status: u8) -> Activation {
    let mut annotations = Parameters::default();
    annotations.set("path", json!(format!("guest/{name}")));
    let name = name.rsplit('/').next().unwrap_or(name);
    Activation {
        namespace: EntityPath::parse("guest").unwrap(),
        name: EntityName::new(name).unwrap(),
        subject: "guest".into(),
        activation_id: ActivationId::generate(),
        start,
        end: start + 5,
        duration: None,
        cause: None,
        response: ActivationResponse {
            status_code: status,
            result: json!({"n": start}),
            size: None,
        },
        logs: vec![],
        version: SemVer::default(),
        publish: false,
        annotations,
    }
}

#[tokio::test]
async fn activation_list_filters() {
    let s = Stack::without_invoker().await;
    let store: &dyn ActivationStore = s.store.as_ref();
    for (name, start, status) in [
        ("a", 1000, 0),
        ("b", 2000, 1),
        ("a", 3000, 0),
        ("p/a", 4000, 2),
        ("a", 5000, 0),
    ] {
        store.put(&record(name, start, status)).await.unwrap();
    }
    let starts = |v: Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["start"].as_i64().unwrap())
            .collect()
    };
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("", vec![5000, 4000, 3000, 2000, 1000]),
        ("?limit=2", vec![5000, 4000]),
        ("?limit=2&skip=1", vec![4000, 3000]),
        ("?name=a&upto=3500", vec![3000, 1000]),
        ("?name=p/a", vec![4000]),
        ("?name=b", vec![2000]),
        ("?since=2000&upto=4000", vec![4000, 3000, 2000]),
        ("?since=4500", vec![5000]),
        ("?upto=1000", vec![1000]),
        ("?name=a&since=2000&upto=3500", vec![3000]),
        ("?name=zzz", vec![]),
    ];
    for (q, want) in cases {
        assert_eq!(
            starts(
                s.check(get(&format!("{ACTIVATIONS}{q}")), 200, "")
                    .await
                    .json()
            ),
            want,
            "{q}"
        );
    }
    let summary = s
        .check(get(&format!("{ACTIVATIONS}?limit=1&name=b")), 200, "")
        .await
        .json();
    let row = &summary[0];
    assert_eq!(row["statusCode"], 1);
    assert_eq!(row["duration"], 5);
    assert!(row.get("response").is_none() && row.get("logs").is_none());
    let docs = s
        .check(get(&format!("{ACTIVATIONS}?docs=true&limit=1")), 200, "")
        .await
        .json();
    assert_eq!(docs[0]["response"]["result"], json!({"n": 5000}));
    s.check(
        get(&format!("{ACTIVATIONS}?count=true")),
        200,
        "{\"activations\":5}",
    )
    .await;
    s.check(
        get(&format!("{ACTIVATIONS}?count=true&name=b")),
        200,
        "{\"activations\":1}",
    )
    .await;
    let errors = [
        (
            "?count=true&docs=true",
            "The parameter 'docs' is not permitted with 'count'.",
        ),
        (
            "?name=a/b/c",
            "Parameter may be a 'simple' name or 'package-name/simple' name: a/b/c",
        ),
        (
            "?since=yesterday",
            "Parameter is not a valid value for epoch seconds: yesterday",
        ),
        (
            "?upto=1.5x",
            "Parameter is not a valid value for epoch seconds: 1.5x",
        ),
        (
            "?limit=300",
            "The value '300' is not in the range of 0 to 200 for activations.",
        ),
        (
            "?skip=-2",
            "The value '-2' is not greater than or equal to 0 for activations.",
        ),
    ];
    for (q, text) in errors {
        s.check(get(&format!("{ACTIVATIONS}{q}")), 400, text).await;
    }
}

#[tokio::test]
async fn cors_options_and_request_ids() {
    let s = Stack::without_invoker().await;
    for path in [
        ACTIONS,
        "/api/v1/namespaces/other/actions/x",
        "/api/v1/whatever",
    ] {
        let r = s.check(req(Method::OPTIONS, path).no_auth(), 200, "").await;
        assert_eq!(r.header(CORS_ORIGIN), Some("*"), "{path}");
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, DELETE, POST, PUT, HEAD")
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent")
        );
    }
    // CORS on errors and successes under /api/v1, not elsewhere.
    let r = s.check(get(ACTIONS).no_auth(), 401, "").await;
    assert_eq!(r.header(CORS_ORIGIN), Some("*"));
    let r = s
        .check(req(Method::OPTIONS, "/ping").no_auth(), 405, "")
        .await;
    assert!(r.header(CORS_ORIGIN).is_none());

    let r = s
        .check(get(ACTIONS).header("x-request-id", "my-request-1"), 200, "")
        .await;
    assert_eq!(r.header("x-request-id"), Some("my-request-1"));
    let r = s
        .check(
            get(&format!("{ACTIONS}/nope")).header("x-request-id", "mine-2"),
            404,
            "\"code\":\"mine-2\"",
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("mine-2"));
    for bad in ["has space", &"x".repeat(200)] {
        let r = s
            .check(
                get("/ping").no_auth().header("x-request-id", bad),
                200,
                "pong",
            )
            .await;
        let got = r.header("x-request-id").unwrap();
        assert_ne!(got, bad);
        assert_eq!(got.len(), 32);
    }
    let a = s.send(get("/ping").no_auth()).await;
    let b = s.send(get("/ping").no_auth()).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[tokio::test]
async fn a_draining_controller_refuses_new_invokes_with_503_and_still_answers_reads() {
    let s = Stack::start().await;
    s.create_action("d", json!({})).await;
    s.check(
        post(&format!("{ACTIONS}/d"), json!({})),
        202,
        "activationId",
    )
    .await;
    s.controller.drain();
    assert!(s.controller.is_draining());
    s.check(
        post(&format!("{ACTIONS}/d?blocking=true"), json!({})),
        503,
        "Service Unavailable",
    )
    .await;
    s.check(get(&format!("{ACTIONS}/d")), 200, "\"name\":\"d\"")
        .await;
    let r = s.check(get("/invokers").no_auth(), 200, "invoker0/0").await;
    assert_eq!(r.json(), json!({"invoker0/0": "up"}));
}
