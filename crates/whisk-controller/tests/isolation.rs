//! Tenant isolation through the API (router over SQLite and the embedded bus, fake invoker
//! at the bus seam): a second namespace, `mallory`, tries to read, list, update, invoke,
//! delete, bind and fire every kind of the guest's entities, directly, through `_`,
//! through bindings, sequences, conductors, rules, the alarms feed and web actions. Every
//! attempt fails with OpenWhisk's status (403 for another namespace, 404 where existence
//! is hidden), and nothing of the guest's changes.

mod support;

use serde_json::{json, Value};
use support::{delete, get, post, put, Req, Stack};
use whisk_types::{ActivationResponse, AuthKey};

const NS: &str = "/api/v1/namespaces";

/// What the guest owns, made through the API as the guest.
struct Victim {
    /// The id of one of the guest's activation records.
    activation: String,
}

async fn victim(s: &Stack) -> Victim {
    let blackbox = |extra: Value| {
        let mut body = json!({"exec": {"kind": "blackbox", "image": "i"}});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        body
    };
    let secret = json!({"parameters": [{"key": "secret", "value": "guest-only"}]});
    let setup = [
        put(&format!("{NS}/_/actions/a"), blackbox(secret.clone())),
        put(&format!("{NS}/_/packages/priv"), secret.clone()),
        put(&format!("{NS}/_/actions/priv/pa"), blackbox(json!({}))),
        put(&format!("{NS}/_/packages/pub"), json!({"publish": true})),
        put(&format!("{NS}/_/actions/pub/x"), blackbox(json!({}))),
        put(
            &format!("{NS}/_/packages/gbind"),
            json!({"binding": {"namespace": "guest", "name": "priv"}}),
        ),
        put(
            &format!("{NS}/_/actions/w"),
            blackbox(json!({"annotations": [{"key": "web-export", "value": true}]})),
        ),
        put(
            &format!("{NS}/_/actions/seq"),
            json!({"exec": {"kind": "sequence", "components": ["/guest/a"]}}),
        ),
        put(&format!("{NS}/_/triggers/t"), secret),
        put(
            &format!("{NS}/_/rules/r"),
            json!({"trigger": "/_/t", "action": "/_/a"}),
        ),
    ];
    for r in setup {
        s.check(r, 200, "").await;
    }
    let rec = s
        .check(
            post(&format!("{NS}/_/actions/a?blocking=true"), json!({})),
            200,
            "",
        )
        .await
        .json();
    Victim {
        activation: rec["activationId"].as_str().unwrap().to_owned(),
    }
}

/// Everything the guest sees of its namespace, and its records.
async fn snapshot(s: &Stack) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        "actions?docs=true",
        "packages",
        "triggers",
        "rules",
        "actions/a",
        "actions/priv/pa",
        "actions/pub/x",
        "actions/seq",
        "actions/w",
        "packages/priv",
        "packages/pub",
        "packages/gbind",
        "triggers/t",
        "rules/r",
    ] {
        seen.push(
            s.check(get(&format!("{NS}/guest/{path}")), 200, "")
                .await
                .json(),
        );
    }
    let records: Vec<String> = s
        .records("guest")
        .await
        .iter()
        .map(|a| a.activation_id.to_string())
        .collect();
    seen.push(json!(records));
    seen
}

/// Sends each attempt as `key` and lists those whose status differs from the expected.
async fn attempt_all(s: &Stack, key: &AuthKey, attempts: Vec<(Req, u16)>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (r, expected) in attempts {
        let what = format!("{} {}", r.method, r.uri);
        let resp = s.send(r.with_key(key)).await;
        if resp.status != expected {
            wrong.push(format!(
                "{what}: {} (want {expected}) {}",
                resp.status, resp.text
            ));
        }
    }
    wrong
}

fn blackbox() -> Value {
    json!({"exec": {"kind": "blackbox", "image": "i"}})
}

#[tokio::test]
async fn another_namespace_can_touch_nothing_of_the_guests() {
    let s = Stack::start().await;
    let v = victim(&s).await;
    let mallory = s.add_subject("mallory").await;
    let before = snapshot(&s).await;
    let g = format!("{NS}/guest");
    let id = &v.activation;

    let mut attempts: Vec<(Req, u16)> = Vec::new();
    // Actions, directly: everything but what a shared package offers is 403, even names
    // that do not exist.
    for path in ["a", "nope", "priv/pa", "priv/nope", "gbind/pa", "seq", "w"] {
        attempts.push((get(&format!("{g}/actions/{path}")), 403));
        attempts.push((post(&format!("{g}/actions/{path}"), json!({})), 403));
        attempts.push((
            post(
                &format!("{g}/actions/{path}?blocking=true&result=true"),
                json!({}),
            ),
            403,
        ));
        attempts.push((delete(&format!("{g}/actions/{path}")), 403));
        attempts.push((
            put(&format!("{g}/actions/{path}?overwrite=true"), blackbox()),
            403,
        ));
    }
    for path in ["pub/x", "pub/new"] {
        attempts.push((
            put(&format!("{g}/actions/{path}?overwrite=true"), blackbox()),
            403,
        ));
        attempts.push((delete(&format!("{g}/actions/{path}")), 403));
    }
    attempts.push((get(&format!("{g}/actions")), 403));
    attempts.push((get(&format!("{g}/actions/priv/")), 403));
    attempts.push((get(&format!("{g}/actions/gbind/")), 403));
    // Packages: private ones and bindings are 403 whether or not they exist.
    for name in ["priv", "gbind", "nope"] {
        attempts.push((get(&format!("{g}/packages/{name}")), 403));
    }
    for name in ["priv", "pub", "gbind", "new"] {
        attempts.push((
            put(
                &format!("{g}/packages/{name}?overwrite=true"),
                json!({"publish": true}),
            ),
            403,
        ));
        attempts.push((delete(&format!("{g}/packages/{name}")), 403));
    }
    // Triggers and rules: read, list, update, fire, enable/disable, delete.
    for (collection, name) in [("triggers", "t"), ("rules", "r")] {
        attempts.push((get(&format!("{g}/{collection}")), 403));
        for n in [name, "nope"] {
            attempts.push((get(&format!("{g}/{collection}/{n}")), 403));
            attempts.push((delete(&format!("{g}/{collection}/{n}")), 403));
        }
    }
    attempts.push((
        put(&format!("{g}/triggers/t?overwrite=true"), json!({})),
        403,
    ));
    attempts.push((post(&format!("{g}/triggers/t"), json!({"p": 1})), 403));
    attempts.push((post(&format!("{g}/triggers/nope"), json!({})), 403));
    attempts.push((
        put(
            &format!("{g}/rules/r?overwrite=true"),
            json!({"trigger": "/guest/t", "action": "/guest/pub/x"}),
        ),
        403,
    ));
    attempts.push((
        post(&format!("{g}/rules/r"), json!({"status": "inactive"})),
        403,
    ));
    // Activations and limits.
    attempts.push((get(&format!("{g}/activations")), 403));
    for part in ["", "/logs", "/result"] {
        attempts.push((get(&format!("{g}/activations/{id}{part}")), 403));
        // Through `_` the id names nothing in mallory's namespace.
        attempts.push((get(&format!("{NS}/_/activations/{id}{part}")), 404));
    }
    attempts.push((get(&format!("{g}/limits")), 403));
    // Through `_`: mallory's own namespace, where the guest's names mean nothing.
    for path in [
        "actions/a",
        "actions/priv/pa",
        "triggers/t",
        "rules/r",
        "packages/priv",
    ] {
        attempts.push((get(&format!("{NS}/_/{path}")), 404));
    }
    attempts.push((post(&format!("{NS}/_/actions/a"), json!({})), 404));
    attempts.push((post(&format!("{NS}/_/triggers/t"), json!({})), 404));
    // Bindings to a private package or to a binding of one.
    for target in ["priv", "gbind", "nope"] {
        attempts.push((
            put(
                &format!("{NS}/_/packages/b-{target}"),
                json!({"binding": {"namespace": "guest", "name": target}}),
            ),
            403,
        ));
    }
    // Sequences naming the guest's actions.
    for component in [
        "/guest/a",
        "/guest/priv/pa",
        "/guest/gbind/pa",
        "/guest/seq",
    ] {
        attempts.push((
            put(
                &format!("{NS}/_/actions/s{}", component.len()),
                json!({"exec": {"kind": "sequence", "components": [component]}}),
            ),
            403,
        ));
    }
    // Rules linking the guest's trigger or action.
    attempts.push((put(&format!("{NS}/_/triggers/mt"), json!({})), 200));
    attempts.push((put(&format!("{NS}/_/actions/ma"), blackbox()), 200));
    for (trigger, action) in [
        ("/_/mt", "/guest/a"),
        ("/_/mt", "/guest/priv/pa"),
        ("/guest/t", "/_/ma"),
    ] {
        attempts.push((
            put(
                &format!("{NS}/_/rules/r{}", trigger.len() + action.len()),
                json!({"trigger": trigger, "action": action}),
            ),
            403,
        ));
    }
    // A body naming the guest's namespace creates nothing there.
    attempts.push((
        put(
            &format!("{NS}/_/actions/evil"),
            json!({"namespace": "guest", "name": "a", "exec": {"kind": "blackbox", "image": "evil"}}),
        ),
        200,
    ));
    attempts.push((
        put(
            &format!("{NS}/_/packages/evilpkg"),
            json!({"namespace": "guest", "name": "priv", "publish": true}),
        ),
        200,
    ));
    // Web: only web-exported actions answer; the rest are hidden.
    for path in [
        "default/a",
        "priv/pa",
        "gbind/pa",
        "pub/x",
        "default/seq",
        "default/nope",
    ] {
        attempts.push((get(&format!("/api/v1/web/guest/{path}.json")), 404));
    }

    let published = s.published().len();
    let wrong = attempt_all(&s, &mallory, attempts).await;
    assert!(
        wrong.is_empty(),
        "attempts that did not fail as expected:\n{}",
        wrong.join("\n")
    );

    // Listings show nothing private.
    let listed = s
        .check(get(&format!("{g}/packages")).with_key(&mallory), 200, "")
        .await
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pub"]);
    let own = s
        .check(
            get(&format!("{NS}/_/activations")).with_key(&mallory),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(own, json!([]), "mallory sees none of the guest's records");

    let evil = s
        .check(
            get(&format!("{NS}/_/actions/evil")).with_key(&mallory),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        (evil["namespace"].as_str(), evil["name"].as_str()),
        (Some("mallory"), Some("evil"))
    );
    assert_eq!(s.published().len(), published, "no attempt ran anything");
    assert_eq!(snapshot(&s).await, before, "the guest's namespace changed");
}

#[tokio::test]
async fn compositions_and_feeds_cannot_reach_another_namespace() {
    let s = Stack::start().await;
    victim(&s).await;
    let mallory = s.add_subject("mallory").await;
    let before = snapshot(&s).await;

    // A conductor naming the guest's actions: each step fails entitlement.
    s.behave("mallory/cond", |input| match input.get("error") {
        Some(e) => ActivationResponse::success(json!({"stopped": e}), None),
        None => ActivationResponse::success(json!({"action": "/guest/a", "params": {}}), None),
    });
    s.check(
        put(
            &format!("{NS}/_/actions/cond"),
            json!({"exec": {"kind": "blackbox", "image": "i"},
                   "annotations": [{"key": "conductor", "value": true}]}),
        )
        .with_key(&mallory),
        200,
        "",
    )
    .await;
    let r = s
        .check(
            post(
                &format!("{NS}/_/actions/cond?blocking=true&result=true"),
                json!({}),
            )
            .with_key(&mallory),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        r["stopped"],
        "Failed entitlement check for action with name '/guest/a' during composition.",
        "{r}"
    );

    // The alarms feed refuses to schedule the guest's trigger for mallory.
    let r = s
        .send(
            post(
                &format!("{NS}/whisk.system/actions/alarms/once?blocking=true&result=true"),
                json!({"lifecycleEvent": "CREATE", "triggerName": "/guest/t",
                       "date": whisk_types::now_millis() + 60_000}),
            )
            .with_key(&mallory),
        )
        .await;
    assert!(
        r.text.contains("not authorized to access 'guest/t'"),
        "{}",
        r.text
    );

    // A web action of the guest runs as the guest whoever calls it; mallory's key neither
    // changes whose namespace runs it nor reaches it.
    s.behave("guest/w", |input| {
        ActivationResponse::success(json!({"input": input}), None)
    });
    let r = s
        .check(
            get("/api/v1/web/guest/default/w.json").with_key(&mallory),
            200,
            "",
        )
        .await;
    assert!(!r.text.contains(&mallory.secret), "{}", r.text);
    assert_eq!(r.json()["input"]["__ow_user"], "mallory");

    // Nothing of the guest's changed but the records of its own web action's runs.
    let mut after = snapshot(&s).await;
    let mut before = before;
    let records_after = after.pop().unwrap();
    let records_before = before.pop().unwrap();
    assert_eq!(after, before, "the guest's entities changed");
    let guest_runs: Vec<String> = s
        .records("guest")
        .await
        .iter()
        .filter(|a| a.name.as_str() != "w")
        .map(|a| a.activation_id.to_string())
        .collect();
    assert_eq!(json!(guest_runs), records_before);
    assert_eq!(
        records_after.as_array().unwrap().len(),
        records_before.as_array().unwrap().len() + 1
    );
}

#[tokio::test]
async fn bindings_and_sequences_stop_when_the_package_is_no_longer_shared() {
    let s = Stack::start().await;
    victim(&s).await;
    let mallory = s.add_subject("mallory").await;
    // A binding and a sequence made while the guest's package was shared stop working
    // once it is not.
    s.check(
        put(
            &format!("{NS}/_/packages/mb"),
            json!({"binding": {"namespace": "guest", "name": "pub"}}),
        )
        .with_key(&mallory),
        200,
        "",
    )
    .await;
    s.check(
        put(
            &format!("{NS}/_/actions/ms"),
            json!({"exec": {"kind": "sequence", "components": ["/guest/pub/x"]}}),
        )
        .with_key(&mallory),
        200,
        "",
    )
    .await;
    let runs = |path: &'static str| {
        post(
            &format!("{NS}/_/actions/{path}?blocking=true&result=true"),
            json!({}),
        )
        .with_key(&mallory)
    };
    s.check(runs("mb/x"), 200, "").await;
    s.check(runs("ms"), 200, "").await;
    let mallory_records = s.records("mallory").await.len();
    s.check(
        put(
            &format!("{NS}/_/packages/pub?overwrite=true"),
            json!({"publish": false}),
        ),
        200,
        "",
    )
    .await;
    s.check(runs("mb/x"), 403, "").await;
    s.check(
        get(&format!("{NS}/_/packages/mb")).with_key(&mallory),
        403,
        "",
    )
    .await;
    let r = s.send(runs("ms")).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(
        r.text.contains("Sequence component does not exist."),
        "{}",
        r.text
    );
    // Only the sequence's own record was added; its component never ran.
    assert_eq!(s.records("mallory").await.len(), mallory_records + 1);
}
