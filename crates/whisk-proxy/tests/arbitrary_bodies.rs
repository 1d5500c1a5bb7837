//! Property: whatever body `/run` gets, the proxy answers (200, 4xx or 5xx) and lives on.

mod common;

use std::sync::{Mutex, OnceLock};

use common::ProxyProcess;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// One proxy for all cases, initialised with an action that echoes its argument.
fn proxy() -> &'static Mutex<ProxyProcess> {
    static PROXY: OnceLock<Mutex<ProxyProcess>> = OnceLock::new();
    PROXY.get_or_init(|| {
        let proxy = ProxyProcess::start();
        let init = proxy.init_script("#!/bin/sh\nprintf '%s\\n' \"$1\"\n");
        assert_eq!(init.status, 200);
        Mutex::new(proxy)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
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
}

/// A `/run` body: a value of any shape plus context keys of any name and shape.
fn run_body() -> impl Strategy<Value = (Value, Vec<u8>)> {
    (
        json_value(),
        prop::collection::btree_map("[a-zA-Z_=\\u{0}é]{0,10}", json_value(), 0..6),
    )
        .prop_map(|(value, context)| {
            let mut body: Map<String, Value> = context.into_iter().collect();
            body.insert("value".to_owned(), value.clone());
            (value, Value::Object(body).to_string().into_bytes())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_bytes_never_break_the_proxy(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut proxy = proxy().lock().unwrap();
        let response = proxy.post("/run", &body);
        prop_assert!(matches!(response.status, 200 | 400..=499 | 500..=599), "{}", response.status);
        prop_assert!(proxy.is_running());
    }

    #[test]
    fn arbitrary_json_bodies_get_the_echo_or_a_clean_error((value, body) in run_body()) {
        let mut proxy = proxy().lock().unwrap();
        let response = proxy.post("/run", &body);
        if value.is_object() || value.is_array() {
            // The action echoes its argument: the result is the value itself.
            prop_assert_eq!(response.status, 200);
            prop_assert_eq!(response.json(), value);
        } else {
            prop_assert_eq!(response.status, 404);
        }
        prop_assert!(proxy.is_running());
    }
}
