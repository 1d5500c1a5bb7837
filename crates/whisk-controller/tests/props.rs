//! Property tests: arbitrary request bodies (raw bytes and arbitrary JSON) sent as action
//! PUTs and invokes never produce a 5xx or a panic.

mod support;

use axum::http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use support::{req, Stack};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "blackbox",
            "sequence",
            "nodejs:20",
            "image",
            "x/y",
            "0.0.1",
            "UEsDBA=="
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "exec",
            "kind",
            "image",
            "code",
            "main",
            "binary",
            "limits",
            "timeout",
            "memory",
            "logs",
            "concurrency",
            "parameters",
            "annotations",
            "key",
            "value",
            "init",
            "version",
            "publish",
            "delAnnotations",
            "name",
            "namespace",
            "other",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        arb_json().prop_map(|v| v.to_string().into_bytes()),
        arb_json().prop_map(|v| json!({"exec": v}).to_string().into_bytes()),
        (arb_json(), arb_json()).prop_map(|(l, p)| {
            json!({"exec": {"kind": "blackbox", "image": "i"}, "limits": l, "parameters": p})
                .to_string()
                .into_bytes()
        }),
    ]
}

#[test]
fn arbitrary_bodies_never_give_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stack = rt.block_on(async {
        let s = Stack::without_invoker().await;
        s.create_action("target", json!({})).await;
        s
    });
    let uris = vec![
        (Method::PUT, "/api/v1/namespaces/_/actions/p?overwrite=true"),
        (
            Method::PUT,
            "/api/v1/namespaces/_/actions/target?overwrite=true",
        ),
        (Method::PUT, "/api/v1/namespaces/_/actions/q"),
        (Method::POST, "/api/v1/namespaces/_/actions/target"),
        (
            Method::POST,
            "/api/v1/namespaces/_/actions/target?blocking=true&timeout=1",
        ),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(prop::sample::select(uris), arb_body()),
            |((method, uri), body)| {
                let resp = rt.block_on(stack.send(req(method.clone(), uri).body(body.clone())));
                prop_assert!(
                    resp.status < 500,
                    "{method} {uri} with {:?} gave {}: {}",
                    String::from_utf8_lossy(&body),
                    resp.status,
                    resp.text
                );
                prop_assert!(resp.headers.contains_key("x-request-id"));
                Ok(())
            },
        )
        .unwrap();
    // The target action still works after all of that.
    let r = rt.block_on(stack.send(support::get("/api/v1/namespaces/_/actions/target")));
    assert_eq!(r.status, 200, "{}", r.text);
}
