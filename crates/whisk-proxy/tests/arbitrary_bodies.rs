//! Property: whatever body `/run` gets, the proxy answers (200, 4xx or 5xx) and lives on.

mod common;

use std::cell::RefCell;

use common::ProxyProcess;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// One proxy for all cases of a test, initialised with an action that echoes its argument.
/// It is owned by the test (not a static), so it is stopped when the test ends.
fn proxy() -> RefCell<ProxyProcess> {
    let proxy = ProxyProcess::start();
    let init = proxy.init_script("#!/bin/sh\nprintf '%s\\n' \"$1\"\n");
    assert_eq!(init.status, 200);
    RefCell::new(proxy)
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(96)
}

/// JavaScript's numbers are doubles: integers beyond 2^53 do not survive Node.js.
const SAFE_INTEGER: i64 = (1 << 53) - 1;

fn json_value() -> BoxedStrategy<Value> {
    json_value_with(any::<i64>())
}

fn json_value_with(integers: impl Strategy<Value = i64> + 'static) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        integers.prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
        "[a-z=\\n\\u{0}\"\\\\ ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A `/run` body: a value of any shape plus context keys of any name and shape.
fn run_body() -> impl Strategy<Value = (Value, Vec<u8>)> {
    body_of(json_value())
}

fn body_of(values: BoxedStrategy<Value>) -> impl Strategy<Value = (Value, Vec<u8>)> {
    (
        values.clone(),
        prop::collection::btree_map("[a-zA-Z_=\\u{0}é]{0,10}", values, 0..6),
    )
        .prop_map(|(value, context)| {
            let mut body: Map<String, Value> = context.into_iter().collect();
            body.insert("value".to_owned(), value.clone());
            (value, Value::Object(body).to_string().into_bytes())
        })
}

#[test]
fn arbitrary_bytes_never_break_the_proxy() {
    let proxy = proxy();
    proptest!(config(), |(body in prop::collection::vec(any::<u8>(), 0..2048))| {
        let mut proxy = proxy.borrow_mut();
        let response = proxy.post("/run", &body);
        prop_assert!(matches!(response.status, 200 | 400..=499 | 500..=599), "{}", response.status);
        prop_assert!(proxy.is_running());
    });
}

#[test]
fn arbitrary_json_bodies_get_the_echo_or_a_clean_error() {
    let proxy = proxy();
    proptest!(config(), |((value, body) in run_body())| {
        let mut proxy = proxy.borrow_mut();
        let response = proxy.post("/run", &body);
        if value.is_object() || value.is_array() {
            // The action echoes its argument: the result is the value itself.
            prop_assert_eq!(response.status, 200);
            prop_assert_eq!(response.json(), value);
        } else {
            prop_assert_eq!(response.status, 404);
        }
        prop_assert!(proxy.is_running());
    });
}

/// A proxy in actionloop mode with the launcher `runtimes/<dir>/<file>`, initialised with
/// an action that returns its argument.
fn launcher_proxy(dir: &str, file: &str, source: &str, code: &str) -> RefCell<ProxyProcess> {
    let launcher = format!("{}/../../runtimes/{dir}/{file}", env!("CARGO_MANIFEST_DIR"));
    let proxy = ProxyProcess::start_with_env(
        &[
            ("WHISK_PROXY_MODE", "actionloop"),
            ("WHISK_LAUNCHER", &launcher),
            ("WHISK_LAUNCHER_SOURCE", source),
        ],
        |_| {},
    );
    let init = proxy.post_json("/init", &json!({"value": {"code": code}}));
    assert_eq!(init.status, 200, "{:?}", init.json());
    RefCell::new(proxy)
}

/// Whatever the body, a launcher echoes a dictionary or array argument exactly (context
/// keys of any name become `__OW_*` variables or are skipped) and the process lives on.
fn launcher_echoes(proxy: &RefCell<ProxyProcess>) {
    proptest!(ProptestConfig::with_cases(48), |((value, body) in body_of(json_value_with(-SAFE_INTEGER..=SAFE_INTEGER)))| {
        let mut proxy = proxy.borrow_mut();
        let response = proxy.post("/run", &body);
        if value.is_object() || value.is_array() {
            prop_assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
            prop_assert_eq!(response.json(), value);
        } else {
            prop_assert_eq!(response.status, 404);
        }
        prop_assert!(proxy.is_running());
    });
}

#[test]
fn the_node_launcher_echoes_arbitrary_json() {
    let proxy = launcher_proxy(
        "nodejs",
        "launcher.js",
        "index.js",
        "function main(p) { return p; }",
    );
    launcher_echoes(&proxy);
}

#[test]
fn the_python_launcher_echoes_arbitrary_json() {
    let proxy = launcher_proxy(
        "python",
        "launcher.py",
        "__main__.py",
        "def main(p):\n    return p\n",
    );
    launcher_echoes(&proxy);
}
