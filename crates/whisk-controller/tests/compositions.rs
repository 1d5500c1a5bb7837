//! Sequences and conductor actions, run by the controller over the fake invoker, which
//! answers each component with a behaviour the test chooses.

mod support;

use serde_json::{json, Value};
use support::{eventually, get, post, put, Stack};
use whisk_controller::{ControllerConfig, NamespaceLimits};
use whisk_types::ActivationResponse;

const ACTIONS: &str = "/api/v1/namespaces/_/actions";
const ACTIVATIONS: &str = "/api/v1/namespaces/_/activations";

fn ok(v: Value) -> ActivationResponse {
    ActivationResponse::success(v, None)
}

/// `inc`: `{n}` to `{n+1}`; `double`: `{n}` to `{n*2}`; `fail`: an application error.
fn arithmetic(s: &Stack) {
    s.behave("guest/inc", |input| {
        ok(json!({"n": input["n"].as_i64().unwrap_or(0) + 1}))
    });
    s.behave("guest/double", |input| {
        ok(json!({"n": input["n"].as_i64().unwrap_or(0) * 2}))
    });
    s.behave("guest/fail", |_| {
        ActivationResponse::application_error(json!("component failed"), None)
    });
}

async fn sequence(s: &Stack, name: &str, components: &[&str]) -> Value {
    s.check(
        put(
            &format!("{ACTIONS}/{name}"),
            json!({"exec": {"kind": "sequence", "components": components}, "parameters": [{"key": "ignored", "value": 1}]}),
        ),
        200,
        "",
    )
    .await
    .json()
}

#[tokio::test]
async fn a_sequence_chains_results_and_records_its_components() {
    let s = Stack::start().await;
    arithmetic(&s);
    for a in ["inc", "double"] {
        s.create_action(a, json!({})).await;
    }
    let seq = sequence(&s, "seq", &["/_/inc", "/guest/double"]).await;
    assert_eq!(
        seq["exec"],
        json!({"kind": "sequence", "components": ["/guest/inc", "/guest/double"]})
    );
    assert_eq!(
        seq["parameters"],
        json!([{"key": "_actions", "value": ["/guest/inc", "/guest/double"]}])
    );
    assert_eq!(
        seq["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "exec")
            .unwrap()["value"],
        "sequence"
    );

    let r = s
        .check(
            post(
                &format!("{ACTIONS}/seq?blocking=true&result=true"),
                json!({"n": 3}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r, json!({"n": 8}));

    let rec = s
        .check(
            post(&format!("{ACTIONS}/seq?blocking=true"), json!({"n": 1})),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(rec["response"]["result"], json!({"n": 4}));
    let ann = |rec: &Value, k: &str| -> Value {
        rec["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(ann(&rec, "kind"), "sequence");
    assert_eq!(ann(&rec, "topmost"), true);
    assert_eq!(ann(&rec, "path"), "guest/seq");
    let logs: Vec<String> = rec["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logs.len(), 2);
    let seq_id = rec["activationId"].as_str().unwrap();
    let mut total = 0;
    for (id, name) in logs.iter().zip(["inc", "double"]) {
        let c = s
            .check(get(&format!("{ACTIVATIONS}/{id}")), 200, "")
            .await
            .json();
        assert_eq!(c["name"], name);
        assert_eq!(c["cause"], seq_id);
        assert_eq!(ann(&c, "causedBy"), "sequence");
        total += c["duration"].as_i64().unwrap();
    }
    assert_eq!(
        rec["duration"], total,
        "a sequence's duration is the sum of its components'"
    );
}

#[tokio::test]
async fn an_error_stops_the_sequence() {
    let s = Stack::start().await;
    arithmetic(&s);
    for a in ["inc", "fail", "double"] {
        s.create_action(a, json!({})).await;
    }
    sequence(&s, "broken", &["/_/inc", "/_/fail", "/_/double"]).await;
    let rec = s
        .check(
            post(&format!("{ACTIONS}/broken?blocking=true"), json!({"n": 1})),
            502,
            "",
        )
        .await
        .json();
    assert_eq!(
        rec["response"]["result"],
        json!({"error": "component failed"})
    );
    assert_eq!(rec["response"]["status"], "application error");
    assert_eq!(rec["logs"].as_array().unwrap().len(), 2, "double never ran");
    let doubles = s
        .records("guest")
        .await
        .into_iter()
        .filter(|a| a.name.as_str() == "double")
        .count();
    assert_eq!(doubles, 0);

    // A component deleted after the sequence was made fails it at run time.
    s.check(support::delete(&format!("{ACTIONS}/double")), 200, "")
        .await;
    sequence(&s, "ok1", &["/_/inc"]).await;
    let r = s
        .check(
            put(
                &format!("{ACTIONS}/gone?overwrite=true"),
                json!({"exec": {"kind": "sequence", "components": ["/_/double"]}}),
            ),
            400,
            "",
        )
        .await;
    assert!(r.text.contains("Sequence component does not exist."));
}

#[tokio::test]
async fn nested_sequences_limits_and_non_blocking() {
    let s = Stack::start_with(ControllerConfig {
        limits: NamespaceLimits {
            sequence_length: 3,
            ..NamespaceLimits::default()
        },
        ..support::config()
    })
    .await;
    arithmetic(&s);
    s.create_action("inc", json!({})).await;
    sequence(&s, "two", &["/_/inc", "/_/inc"]).await;
    sequence(&s, "outer", &["/_/two", "/_/inc"]).await;
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/outer?blocking=true&result=true"),
                json!({"n": 0}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r, json!({"n": 3}));
    let inner = s
        .records("guest")
        .await
        .into_iter()
        .find(|a| a.name.as_str() == "two")
        .unwrap();
    assert_eq!(inner.annotations.get("topmost"), Some(&json!(false)));
    assert!(inner.cause.is_some());

    for (name, comps, text) in [
        (
            "long",
            vec!["/_/two", "/_/two"],
            "Too many actions in the sequence.",
        ),
        ("self", vec!["/_/self"], "Sequence may not refer to itself."),
        ("empty", vec![], "No component specified for the sequence."),
        (
            "missing",
            vec!["/_/nope"],
            "Sequence component does not exist.",
        ),
    ] {
        s.check(
            put(
                &format!("{ACTIONS}/{name}"),
                json!({"exec": {"kind": "sequence", "components": comps}}),
            ),
            400,
            text,
        )
        .await;
    }
    s.check(
        put(
            &format!("{ACTIONS}/outer?overwrite=true"),
            json!({"exec": {"kind": "sequence", "components": ["/_/outer"]}}),
        ),
        400,
        "Sequence may not refer to itself.",
    )
    .await;
    // Grown past the limit after the PUT: refused at run time.
    s.check(
        put(
            &format!("{ACTIONS}/two?overwrite=true"),
            json!({"exec": {"kind": "sequence", "components": ["/_/inc", "/_/inc", "/_/inc"]}}),
        ),
        200,
        "",
    )
    .await;
    let r = s
        .check(
            post(&format!("{ACTIONS}/outer?blocking=true"), json!({"n": 0})),
            502,
            "",
        )
        .await
        .json();
    assert_eq!(
        r["response"]["result"]["error"],
        "Too many actions in the sequence."
    );

    // Non-blocking: 202 now, the record later.
    let r = s
        .check(
            post(&format!("{ACTIONS}/two"), json!({"n": 1})),
            202,
            "activationId",
        )
        .await;
    let id = r.json()["activationId"].as_str().unwrap().to_owned();
    let rec = eventually("the sequence record", || async {
        let r = s.send(get(&format!("{ACTIVATIONS}/{id}"))).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    assert_eq!(rec["response"]["result"], json!({"n": 4}));
}

#[tokio::test]
async fn a_conductor_drives_its_components() {
    let s = Stack::start().await;
    arithmetic(&s);
    s.create_action("inc", json!({})).await;
    s.create_action("double", json!({})).await;
    // The conductor: step 0 calls inc, step 1 calls double, then returns the value.
    s.behave("guest/cond", |input| {
        let step = input["step"].as_i64().unwrap_or(0);
        let n = input["n"].as_i64().unwrap_or(0);
        match step {
            0 => ok(json!({"action": "inc", "params": {"n": n}, "state": {"step": 1}})),
            1 => ok(json!({"action": "/guest/double", "params": {"n": n}, "state": {"step": 2}})),
            _ => ok(json!({"params": {"done": n}})),
        }
    });
    s.create_action(
        "cond",
        json!({"annotations": [{"key": "conductor", "value": true}]}),
    )
    .await;
    let rec = s
        .check(
            post(&format!("{ACTIONS}/cond?blocking=true"), json!({"n": 5})),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(rec["response"]["result"], json!({"done": 12}));
    assert_eq!(
        rec["logs"].as_array().unwrap().len(),
        5,
        "3 conductor steps, 2 components"
    );
    let conductor = rec["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["key"] == "conductor" && a["value"] == true);
    assert!(conductor, "{rec}");

    // A name that does not resolve goes back to the conductor as an error.
    s.behave("guest/lost", |input| match input.get("error") {
        Some(e) => ok(json!({"saw": e})),
        None => ok(json!({"action": "nowhere"})),
    });
    s.create_action(
        "lost",
        json!({"annotations": [{"key": "conductor", "value": true}]}),
    )
    .await;
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/lost?blocking=true&result=true"),
                json!({}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        r,
        json!({"saw": "Failed to resolve action with name 'nowhere' during composition."})
    );
}
