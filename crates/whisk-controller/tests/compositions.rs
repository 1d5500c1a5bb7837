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

// === bounds (issue 9, defect 4) ===

const PACKAGES: &str = "/api/v1/namespaces/_/packages";

/// The records of `name` in the guest namespace.
async fn runs_of(s: &Stack, name: &str) -> Vec<whisk_types::Activation> {
    s.records("guest")
        .await
        .into_iter()
        .filter(|a| a.name.as_str() == name)
        .collect()
}

/// A conductor named `name` whose every step answers `step(input)`.
async fn conductor(
    s: &Stack,
    name: &str,
    step: impl Fn(&Value) -> ActivationResponse + Send + Sync + 'static,
) {
    s.behave(&format!("guest/{name}"), step);
    s.create_action(
        name,
        json!({"annotations": [{"key": "conductor", "value": true}]}),
    )
    .await;
}

/// Nested sequences that grew past the limit after their PUT are refused however they are
/// started: the length was checked only when the outermost sequence was invoked directly.
#[tokio::test]
async fn nested_sequences_past_the_limit_fail_also_inside_a_conductor() {
    let s = Stack::start().await;
    arithmetic(&s);
    s.create_action("inc", json!({})).await;
    let half: Vec<&str> = vec!["/_/inc"; 25];
    sequence(&s, "half", &half).await;
    sequence(&s, "whole", &["/_/half", "/_/half"]).await;
    // `half` grows after `whole` was accepted: 52 atomic actions now.
    let more: Vec<&str> = vec!["/_/inc"; 26];
    s.check(
        put(
            &format!("{ACTIONS}/half?overwrite=true"),
            json!({"exec": {"kind": "sequence", "components": more}}),
        ),
        200,
        "",
    )
    .await;
    // A conductor runs `whole` as a component and returns what it got back.
    conductor(&s, "driver", |input| match input.get("step") {
        None => ok(json!({"action": "whole", "params": {"n": 0}, "state": {"step": 1}})),
        Some(_) => ok(json!({"params": {"saw": input}})),
    })
    .await;
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/driver?blocking=true&result=true"),
                json!({}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        r["saw"]["error"], "Too many actions in the sequence.",
        "{r}"
    );
    assert_eq!(
        runs_of(&s, "inc").await.len(),
        0,
        "nothing of the too long sequence ran"
    );
    let whole = runs_of(&s, "whole").await;
    assert_eq!(whole.len(), 1);
    assert_eq!(
        whole[0].response.result,
        json!({"error": "Too many actions in the sequence."})
    );
}

/// A conductor that always continues with itself ends with OpenWhisk's composition error
/// after `2n + 1` conductor calls in the whole tree, not never.
#[tokio::test]
async fn a_conductor_that_always_continues_with_itself_ends() {
    let s = Stack::start_with(ControllerConfig {
        limits: NamespaceLimits {
            sequence_length: 5,
            ..NamespaceLimits::default()
        },
        blocking_wait: std::time::Duration::from_secs(30),
        ..ControllerConfig::default()
    })
    .await;
    conductor(&s, "again", |_| ok(json!({"action": "again"}))).await;
    let rec = s
        .check(
            post(&format!("{ACTIONS}/again?blocking=true"), json!({})),
            502,
            "",
        )
        .await
        .json();
    assert_eq!(
        rec["response"]["result"],
        json!({"error": "Too many actions in the composition."}),
        "{rec}"
    );
    assert_eq!(rec["response"]["status"], "application error");
    // Every step of every nested session is a run of `again`; its records are the
    // sessions and the steps: 2n + 1 = 11 steps at most.
    let steps = s
        .records("guest")
        .await
        .into_iter()
        .filter(|a| a.name.as_str() == "again" && a.annotations.get("conductor").is_none())
        .count();
    assert!(steps <= 11, "{steps} conductor steps");
    eventually("no composition left running", || async {
        (s.controller.compositions_running() == 0).then_some(())
    })
    .await;
}

/// A sequence and a conductor that call each other (each a fresh start of the other
/// kind) share the tree's accounting, so the recursion ends.
#[tokio::test]
async fn a_sequence_and_a_conductor_calling_each_other_end() {
    let s = Stack::start_with(ControllerConfig {
        limits: NamespaceLimits {
            sequence_length: 5,
            ..NamespaceLimits::default()
        },
        blocking_wait: std::time::Duration::from_secs(30),
        ..ControllerConfig::default()
    })
    .await;
    conductor(&s, "ping", |_| ok(json!({"action": "pong"}))).await;
    sequence(&s, "pong", &["/_/ping"]).await;
    let rec = s
        .check(
            post(&format!("{ACTIONS}/pong?blocking=true"), json!({})),
            502,
            "",
        )
        .await
        .json();
    assert_eq!(
        rec["response"]["result"],
        json!({"error": "Too many actions in the composition."}),
        "{rec}"
    );
    eventually("no composition left running", || async {
        (s.controller.compositions_running() == 0).then_some(())
    })
    .await;
}

/// A sequence may not contain itself: not directly, not through another sequence updated
/// later, not by turning a component into a sequence, not through a package binding.
#[tokio::test]
async fn sequence_cycles_are_refused_at_put() {
    let s = Stack::start().await;
    arithmetic(&s);
    s.create_action("inc", json!({})).await;
    let cyclic = "Sequence may not refer to itself.";
    let refuse = |name: &str, components: Vec<&str>| {
        put(
            &format!("{ACTIONS}/{name}?overwrite=true"),
            json!({"exec": {"kind": "sequence", "components": components}}),
        )
    };

    s.check(refuse("me", vec!["/_/inc", "/_/me"]), 400, cyclic)
        .await;

    // a = [inc], b = [a]; then a = [b] closes a loop through b.
    sequence(&s, "a", &["/_/inc"]).await;
    sequence(&s, "b", &["/_/a"]).await;
    s.check(refuse("a", vec!["/_/b"]), 400, cyclic).await;
    // Deeper: c = [b]; a = [inc, c].
    sequence(&s, "c", &["/_/b"]).await;
    s.check(refuse("a", vec!["/_/inc", "/_/c"]), 400, cyclic)
        .await;

    // A plain action used by a sequence may not become a sequence containing it.
    s.create_action("plain", json!({})).await;
    sequence(&s, "user", &["/_/plain"]).await;
    s.check(refuse("plain", vec!["/_/user"]), 400, cyclic).await;

    // Through a binding of the sequence's own package, on update and on create.
    s.check(put(&format!("{PACKAGES}/pkg"), json!({})), 200, "")
        .await;
    s.check(
        put(
            &format!("{PACKAGES}/bound"),
            json!({"binding": {"namespace": "_", "name": "pkg"}}),
        ),
        200,
        "",
    )
    .await;
    sequence(&s, "pkg/seq", &["/_/inc"]).await;
    s.check(refuse("pkg/seq", vec!["/_/bound/seq"]), 400, cyclic)
        .await;
    s.check(refuse("pkg/fresh", vec!["/_/bound/fresh"]), 400, cyclic)
        .await;

    // Nothing was changed by the refused updates: a still runs.
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/a?blocking=true&result=true"),
                json!({"n": 1}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r, json!({"n": 2}));
}

/// When a sequence gives up waiting for a nested sequence, the nested one ends with it:
/// it starts no further component and ends in a record.
#[tokio::test]
async fn a_parent_that_times_out_ends_its_nested_work() {
    let s = Stack::start_with(ControllerConfig {
        composition_wait: std::time::Duration::from_millis(1500),
        ..ControllerConfig::default()
    })
    .await;
    // `slow` finishes without a completion message: its caller sees it at its first store
    // poll, a second later.
    s.create_action(
        "slow",
        json!({"parameters": [{"key": "lose_completion", "value": true}]}),
    )
    .await;
    sequence(&s, "inner", &["/_/slow"; 6]).await;
    sequence(&s, "outer", &["/_/inner"]).await;
    let r = s
        .check(post(&format!("{ACTIONS}/outer"), json!({})), 202, "")
        .await
        .json();
    let id = r["activationId"].as_str().unwrap().to_owned();
    let outer = eventually("the outer record", || async {
        let r = s.send(get(&format!("{ACTIVATIONS}/{id}"))).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    assert_eq!(
        outer["response"]["status"], "whisk internal error",
        "{outer}"
    );
    let inner_id = outer["logs"][0].as_str().unwrap().to_owned();
    assert!(
        outer["response"]["result"]["error"]
            .as_str()
            .unwrap()
            .contains(&inner_id),
        "{outer}"
    );
    let inner = eventually("the inner record", || async {
        let r = s.send(get(&format!("{ACTIVATIONS}/{inner_id}"))).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    assert_eq!(
        inner["response"]["result"]["error"],
        "The composition was cancelled because the composition it is part of ended.",
        "{inner}"
    );
    eventually("no composition left running", || async {
        (s.controller.compositions_running() == 0).then_some(())
    })
    .await;
    let started = runs_of(&s, "slow").await.len();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let later = runs_of(&s, "slow").await.len();
    assert_eq!(later, started, "nothing started after the parent ended");
    assert!(started < 6, "the nested sequence stopped early: {started}");
}

/// A composition accepted with 202 ends in a record even when its controller stops
/// before it does: the next start of that controller writes it.
#[tokio::test]
async fn compositions_cut_short_by_a_restart_end_in_a_record() {
    let mut s = Stack::start().await;
    s.create_action(
        "stuck",
        json!({"parameters": [{"key": "hang", "value": true}]}),
    )
    .await;
    sequence(&s, "inner", &["/_/stuck"]).await;
    sequence(&s, "outer", &["/_/inner"]).await;
    conductor(&s, "waits", |_| ok(json!({"action": "stuck"}))).await;
    let r = s
        .check(post(&format!("{ACTIONS}/outer"), json!({})), 202, "")
        .await
        .json();
    let id = r["activationId"].as_str().unwrap().to_owned();
    let r = s
        .check(post(&format!("{ACTIONS}/waits"), json!({})), 202, "")
        .await
        .json();
    let session = r["activationId"].as_str().unwrap().to_owned();
    // Wait until the hanging components were started (the rows list them), then restart.
    eventually("the hanging components started", || async {
        use whisk_store::CompositionStore;
        let rows = s.store.list_compositions("c0").await.unwrap();
        let mut started: Vec<usize> = rows.iter().map(|r| r.record.logs.len()).collect();
        started.sort_unstable();
        (started == [1, 1, 2]).then_some(())
    })
    .await;
    assert_eq!(s.controller.compositions_running(), 3);
    s.restart_controller().await;

    let outer = eventually("the outer record", || async {
        let r = s.send(get(&format!("{ACTIVATIONS}/{id}"))).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    let interrupted = "The composition was interrupted by a controller restart.";
    assert_eq!(
        outer["response"]["status"], "whisk internal error",
        "{outer}"
    );
    assert_eq!(outer["response"]["result"]["error"], interrupted);
    let inner_id = outer["logs"][0]
        .as_str()
        .expect("the started component is listed");
    let inner = s
        .check(get(&format!("{ACTIVATIONS}/{inner_id}")), 200, interrupted)
        .await
        .json();
    assert_eq!(inner["cause"], id.as_str());
    assert_eq!(inner["logs"].as_array().unwrap().len(), 1, "{inner}");

    let session = s
        .check(get(&format!("{ACTIVATIONS}/{session}")), 200, interrupted)
        .await
        .json();
    let ann = |k: &str| {
        session["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
    };
    assert_eq!(ann("conductor"), Some(json!(true)), "{session}");
    assert_eq!(ann("kind"), Some(json!("sequence")));
    assert_eq!(
        session["logs"].as_array().unwrap().len(),
        2,
        "the conductor step and the component it started: {session}"
    );
    assert_eq!(s.controller.compositions_running(), 0);
}
