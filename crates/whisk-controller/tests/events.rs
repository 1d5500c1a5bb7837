//! Triggers, rules and the built-in alarms, through the router over SQLite and the
//! embedded bus (fake invoker at the bus seam).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{delete, eventually, get, patience, post, put, Stack};
use whisk_controller::ControllerConfig;
use whisk_types::Activation;

const TRIGGERS: &str = "/api/v1/namespaces/_/triggers";
const RULES: &str = "/api/v1/namespaces/_/rules";
const ACTIVATIONS: &str = "/api/v1/namespaces/_/activations";

fn with_name<'a>(records: &'a [Activation], name: &str) -> Vec<&'a Activation> {
    records.iter().filter(|a| a.name.as_str() == name).collect()
}

#[tokio::test]
async fn fire_through_an_active_rule_runs_the_action_with_the_payload() {
    let s = Stack::start().await;
    s.create_action(
        "hello",
        json!({"parameters": [{"key": "fromAction", "value": 1}]}),
    )
    .await;
    let t = s
        .check(
            put(&format!("{TRIGGERS}/t"), json!({"parameters": [{"key": "fromTrigger", "value": "t"}, {"key": "p", "value": "trigger"}]})),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(t["limits"], json!({}));
    assert!(t.get("rules").is_none());
    let r = s
        .check(
            put(
                &format!("{RULES}/r"),
                json!({"trigger": "/_/t", "action": "/_/hello", "status": "inactive"}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["status"], "active", "status in a PUT body is ignored");
    assert_eq!(r["trigger"], json!({"path": "guest", "name": "t"}));
    assert_eq!(r["action"], json!({"path": "guest", "name": "hello"}));
    let t = s.check(get(&format!("{TRIGGERS}/t")), 200, "").await.json();
    assert_eq!(
        t["rules"],
        json!({"guest/r": {"action": {"path": "guest", "name": "hello"}, "status": "active"}})
    );

    let fired = s
        .send(post(&format!("{TRIGGERS}/t"), json!({"p": "payload"})).header("X-Custom", "yes"))
        .await;
    assert_eq!(fired.status, 202, "{}", fired.text);
    let id = fired.json()["activationId"].as_str().unwrap().to_owned();
    assert_eq!(fired.header("x-openwhisk-activation-id"), Some(id.as_str()));

    // The trigger record: payload as result, one log line per rule, end 0.
    let rec = s
        .check(get(&format!("{ACTIVATIONS}/{id}")), 200, "")
        .await
        .json();
    assert_eq!(rec["name"], "t");
    assert_eq!(rec["response"]["result"], json!({"p": "payload"}));
    assert!(
        rec.get("end").is_none() && rec.get("duration").is_none(),
        "{rec}"
    );
    let logs = rec["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    let line = logs[0].as_str().unwrap();
    let action_id = serde_json::from_str::<Value>(line).unwrap()["activationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        line,
        format!(
            r#"{{"statusCode":0,"success":true,"activationId":"{action_id}","rule":"guest/r","action":"guest/hello"}}"#
        )
    );

    // The action ran with trigger parameters, the payload and the request headers, but
    // not the `Authorization` that authenticated the fire (the firing key stays with rwhisk).
    let result = eventually("the rule's action activation", || async {
        let r = s.send(get(&format!("{ACTIVATIONS}/{action_id}"))).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    let echo = &result["response"]["result"]["echo"];
    assert_eq!(echo["fromTrigger"], "t");
    assert_eq!(echo["p"], "payload");
    assert_eq!(echo["fromAction"], 1);
    assert_eq!(echo["__ow_headers"]["x-custom"], "yes");
    assert!(
        echo["__ow_headers"].get("authorization").is_none(),
        "{echo}"
    );
    assert!(!result.to_string().contains(&s.guest.secret), "{result}");
    assert!(
        result.get("cause").is_none(),
        "rule-fired actions have no cause"
    );
}

#[tokio::test]
async fn disabling_the_rule_stops_it_and_rules_report_status() {
    let s = Stack::start().await;
    s.create_action("hello", json!({})).await;
    s.check(put(&format!("{TRIGGERS}/t"), json!({})), 200, "")
        .await;
    // No rule yet: 204, no body, no record.
    let r = s.send(post(&format!("{TRIGGERS}/t"), json!({}))).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    s.check(
        put(
            &format!("{RULES}/r"),
            json!({"trigger": {"path": "_", "name": "t"}, "action": "guest/hello"}),
        ),
        200,
        "",
    )
    .await;

    s.check(
        post(&format!("{RULES}/r"), json!({"status": "inactive"})),
        200,
        "OK",
    )
    .await;
    s.check(
        post(&format!("{RULES}/r"), json!({"status": "inactive"})),
        200,
        "",
    )
    .await;
    s.check(get(&format!("{RULES}/r")), 200, "\"status\":\"inactive\"")
        .await;
    let r = s
        .send(post(&format!("{TRIGGERS}/t"), json!({"a": 1})))
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert!(
        s.records("guest").await.is_empty(),
        "no record for a 204 fire"
    );

    s.check(
        post(&format!("{RULES}/r"), json!({"status": "active"})),
        200,
        "",
    )
    .await;
    s.check(
        post(&format!("{TRIGGERS}/t"), json!({})),
        202,
        "activationId",
    )
    .await;
    s.check(
        post(&format!("{RULES}/r"), json!({"status": "paused"})),
        400,
        "'paused' is not a recognized rule state, must be one of ['active', 'inactive']",
    )
    .await;

    // Lists: rules have no status; updates bump the version and keep the status.
    let list = s.check(get(RULES), 200, "").await.json();
    assert!(list[0].get("status").is_none(), "{list}");
    assert_eq!(list[0]["name"], "r");
    let upd = s
        .check(
            put(
                &format!("{RULES}/r?overwrite=true"),
                json!({"annotations": [{"key": "k", "value": 1}]}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        (upd["version"].as_str(), upd["status"].as_str()),
        (Some("0.0.2"), Some("active"))
    );

    // Deleting the trigger keeps the rule, now inactive; it cannot be enabled.
    s.check(delete(&format!("{TRIGGERS}/t")), 200, "\"name\":\"t\"")
        .await;
    s.check(get(&format!("{RULES}/r")), 200, "\"status\":\"inactive\"")
        .await;
    s.check(
        post(&format!("{RULES}/r"), json!({"status": "active"})),
        404,
        "Only rules with existing triggers can be activated",
    )
    .await;
    s.check(post(&format!("{TRIGGERS}/t"), json!({})), 404, "")
        .await;
    let gone = s.check(delete(&format!("{RULES}/r")), 200, "").await.json();
    assert_eq!(gone["status"], "inactive");
    s.check(get(&format!("{RULES}/r")), 404, "").await;
}

#[tokio::test]
async fn rule_references_and_refusals() {
    let s = Stack::start().await;
    s.check(put(&format!("{TRIGGERS}/t"), json!({})), 200, "")
        .await;
    s.check(put(&format!("{TRIGGERS}/t2"), json!({})), 200, "")
        .await;
    s.create_action("a", json!({})).await;
    for (body, text) in [
        (json!({"trigger": "/_/nope", "action": "/_/a"}), "trigger /guest/nope does not exist"),
        (json!({"trigger": "/_/t", "action": "/_/nope"}), "action /guest/nope does not exist"),
        (json!({"trigger": "/_/t"}), "rule requires a valid trigger and a valid action"),
        (
            json!({"trigger": "t", "action": "/_/a"}),
            "The request content was malformed:\\nrequirement failed: The fully qualified name of the entity must contain at least the namespace and the name of the entity.",
        ),
    ] {
        s.check(put(&format!("{RULES}/r"), body), 400, text).await;
    }
    s.check(
        put(
            &format!("{RULES}/r"),
            json!({"trigger": "/_/t", "action": "/_/a"}),
        ),
        200,
        "",
    )
    .await;
    // Moving the rule to another trigger moves its link.
    s.check(
        put(
            &format!("{RULES}/r?overwrite=true"),
            json!({"trigger": "/_/t2"}),
        ),
        200,
        "",
    )
    .await;
    let t = s.check(get(&format!("{TRIGGERS}/t")), 200, "").await.json();
    assert!(t.get("rules").is_none(), "{t}");
    let t2 = s
        .check(get(&format!("{TRIGGERS}/t2")), 200, "")
        .await
        .json();
    assert_eq!(t2["rules"]["guest/r"]["status"], "active");
    // Triggers: feed annotation must name an entity; updates keep the rules.
    s.check(
        put(
            &format!("{TRIGGERS}/f"),
            json!({"annotations": [{"key": "feed", "value": "nope"}]}),
        ),
        400,
        "Feed name is not valid",
    )
    .await;
    let up = s
        .check(
            put(
                &format!("{TRIGGERS}/t2?overwrite=true"),
                json!({"parameters": [{"key": "k", "value": 1}]}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(up["version"], "0.0.2");
    assert_eq!(up["rules"]["guest/r"]["status"], "active");
    let list = s.check(get(TRIGGERS), 200, "").await.json();
    assert!(
        list[0].get("rules").is_none() && list[0].get("parameters").is_none(),
        "{list}"
    );
}

fn fast() -> ControllerConfig {
    ControllerConfig {
        scheduler_interval: Duration::from_millis(50),
        ..support::config()
    }
}

/// Creates trigger `name` with the `once` feed firing `ms_ahead` from now, and a rule to
/// the action `hello`, as `wsk trigger create --feed` does.
async fn once_alarm(s: &Stack, name: &str, ms_ahead: i64) {
    s.check(
        put(
            &format!("{TRIGGERS}/{name}"),
            json!({"annotations": [{"key": "feed", "value": "/whisk.system/alarms/once"}]}),
        ),
        200,
        "",
    )
    .await;
    let date = whisk_types::now_millis() + ms_ahead;
    let r = s
        .check(
            post(
                "/api/v1/namespaces/whisk.system/actions/alarms/once?blocking=true",
                json!({"lifecycleEvent": "CREATE", "triggerName": format!("/_/{name}"),
                       "authKey": s.guest.to_string(), "date": date, "trigger_payload": {"tick": name}}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["response"]["result"], json!({"status": "success"}));
    s.check(
        put(
            &format!("{RULES}/{name}-rule"),
            json!({"trigger": format!("/_/{name}"), "action": "/_/hello"}),
        ),
        200,
        "",
    )
    .await;
}

/// Waits until every controller given made `n` more scheduler passes.
async fn passes(controllers: &[&whisk_controller::Controller], n: usize) {
    let start: Vec<usize> = controllers.iter().map(|c| c.scheduler_passes()).collect();
    eventually("scheduler passes", || async {
        controllers
            .iter()
            .zip(&start)
            .all(|(c, s)| c.scheduler_passes() >= s + n)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_once_alarm_fires_exactly_once_across_a_restart() {
    let mut s = Stack::start_with(fast()).await;
    s.create_action(
        "hello",
        json!({"annotations": [{"key": "provide-api-key", "value": true}]}),
    )
    .await;
    once_alarm(&s, "soon", 1500).await;

    let fired = eventually("the alarm fire", || async {
        let recs = s.records("guest").await;
        let hello = with_name(&recs, "hello");
        (!hello.is_empty()).then(|| (with_name(&recs, "soon").len(), hello[0].clone()))
    })
    .await;
    assert_eq!(fired.0, 1, "one trigger activation");
    assert_eq!(fired.1.response.result["echo"]["tick"], "soon");
    // Scheduled fires get a key minted for the trigger's owner like any other.
    assert_eq!(fired.1.response.result["api_key_owner"], "guest");

    // The READ lifecycle shows the fired schedule inactive.
    let read = s
        .check(
            post(
                "/api/v1/namespaces/whisk.system/actions/alarms/once?blocking=true&result=true",
                json!({"lifecycleEvent": "READ", "triggerName": "/_/soon"}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(read["status"]["active"], false, "{read}");
    assert_eq!(read["config"]["payload"], json!({"tick": "soon"}));

    s.restart_controller().await;
    let c = s.controller.clone();
    passes(&[&c], 3).await;
    let recs = s.records("guest").await;
    assert_eq!(
        with_name(&recs, "soon").len(),
        1,
        "no second fire after the restart"
    );
    assert_eq!(with_name(&recs, "hello").len(), 1);
}

#[tokio::test]
async fn a_tick_that_passes_while_the_controller_is_down_fires_once_on_restart() {
    let mut s = Stack::start_with(ControllerConfig {
        // A scheduler too slow to fire before the shutdown below.
        scheduler_interval: Duration::from_secs(3600),
        ..support::config()
    })
    .await;
    s.create_action("hello", json!({})).await;
    // Its first pass happens at start, before the alarm exists; the next is an hour away.
    let c = s.controller.clone();
    eventually("the first pass", || async {
        (c.scheduler_passes() >= 1).then_some(())
    })
    .await;
    once_alarm(&s, "down", 300).await;
    s.controller.shutdown();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(with_name(&s.records("guest").await, "down").is_empty());

    s.config = fast();
    s.restart_controller().await;
    eventually("the late fire", || async {
        (!with_name(&s.records("guest").await, "down").is_empty()).then_some(())
    })
    .await;
    let c = s.controller.clone();
    passes(&[&c], 3).await;
    assert_eq!(with_name(&s.records("guest").await, "down").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_on_one_store_fire_a_tick_once() {
    let s = Stack::start_with(fast()).await;
    let other = s.second_controller("c1").await;
    s.create_action("hello", json!({})).await;
    for i in 0..3 {
        once_alarm(&s, &format!("both{i}"), 800).await;
    }
    eventually("all fires", || async {
        let recs = s.records("guest").await;
        (0..3)
            .all(|i| !with_name(&recs, &format!("both{i}")).is_empty())
            .then_some(())
    })
    .await;
    let c = s.controller.clone();
    passes(&[&c, &other], 3).await;
    let recs = s.records("guest").await;
    for i in 0..3 {
        assert_eq!(with_name(&recs, &format!("both{i}")).len(), 1, "both{i}");
    }
    other.shutdown();
}

#[tokio::test]
async fn an_interval_alarm_keeps_firing_and_delete_stops_it() {
    // `*/1 * * * * *` ticks every second; the test only needs two of them.
    let s = Stack::start_with(fast()).await;
    s.create_action("hello", json!({})).await;
    s.check(put(&format!("{TRIGGERS}/cron"), json!({})), 200, "")
        .await;
    let feed = "/api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true&result=true";
    s.check(
        post(feed, json!({"lifecycleEvent": "CREATE", "triggerName": "/guest/cron", "cron": "* * * * * *", "trigger_payload": "p"})),
        200,
        "success",
    )
    .await;
    s.check(
        put(
            &format!("{RULES}/cr"),
            json!({"trigger": "/_/cron", "action": "/_/hello"}),
        ),
        200,
        "",
    )
    .await;
    eventually("two cron fires", || async {
        (with_name(&s.records("guest").await, "cron").len() >= 2).then_some(())
    })
    .await;
    let hello = with_name(&s.records("guest").await, "hello")[0].clone();
    assert_eq!(hello.response.result["echo"]["payload"], "p");
    s.check(
        post(
            feed,
            json!({"lifecycleEvent": "DELETE", "triggerName": "/_/cron"}),
        ),
        200,
        "success",
    )
    .await;
    let c = s.controller.clone();
    passes(&[&c], 2).await;
    let after = with_name(&s.records("guest").await, "cron").len();
    passes(&[&c], 3).await;
    tokio::time::sleep(Duration::from_millis(1100).min(patience())).await;
    assert_eq!(with_name(&s.records("guest").await, "cron").len(), after);
}

#[tokio::test]
async fn feed_lifecycle_validation() {
    let s = Stack::start().await;
    s.check(put(&format!("{TRIGGERS}/t"), json!({})), 200, "")
        .await;
    let other = s.add_subject("mallory").await;
    let base = "/api/v1/namespaces/whisk.system/actions/alarms";
    let cases = [
        (
            "alarm",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t"}),
            "alarms trigger feed is missing the cron parameter",
        ),
        (
            "alarm",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "cron": "61 * * * *"}),
            "cron pattern '61 * * * *' is not valid",
        ),
        (
            "once",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t"}),
            "alarms once trigger feed is missing the date parameter",
        ),
        (
            "interval",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t"}),
            "interval trigger feed is missing the minutes parameter",
        ),
        (
            "interval",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "minutes": -1}),
            "the minutes parameter must be an integer greater than zero",
        ),
        (
            "interval",
            json!({"lifecycleEvent": "PAUSE", "triggerName": "/_/t", "minutes": 1}),
            "unsupported lifecycleEvent",
        ),
        (
            "once",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "date": "2999-01-01T00:00:00Z", "deleteAfterFire": "x"}),
            "deleteAfterFire parameter must be one of [false, true, rules].",
        ),
        (
            "alarm",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "cron": "0 0 1 1 *", "stopDate": whisk_types::now_millis() + 1000}),
            "the first scheduled trigger fire is not until after the stop date",
        ),
        (
            "interval",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/nope", "minutes": 1}),
            "trigger /guest/nope does not exist",
        ),
        (
            "interval",
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "minutes": 1, "authKey": other.to_string()}),
            "Trigger authentication request failed.",
        ),
        (
            "interval",
            json!({"lifecycleEvent": "READ", "triggerName": "/_/t"}),
            "could not find trigger /guest/t in the database",
        ),
    ];
    for (feed, body, text) in cases {
        let r = s
            .check(
                post(&format!("{base}/{feed}?blocking=true"), body.clone()),
                502,
                "",
            )
            .await
            .json();
        assert_eq!(r["response"]["result"]["error"], text, "{feed} {body}");
        assert_eq!(r["response"]["status"], "application error");
    }
    // UPDATE changes the schedule; READ shows it.
    let ok = |body: Value| post(&format!("{base}/interval?blocking=true&result=true"), body);
    s.check(
        ok(json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "minutes": 5})),
        200,
        "success",
    )
    .await;
    s.check(
        ok(json!({"lifecycleEvent": "UPDATE", "triggerName": "/_/t", "minutes": 7})),
        200,
        "success",
    )
    .await;
    let read = s
        .check(
            ok(json!({"lifecycleEvent": "READ", "triggerName": "/_/t"})),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(read["config"]["minutes"], 7);
    assert_eq!(read["config"]["name"], "t");
    assert_eq!(read["status"]["active"], true);
    // Not strict unless asked, as the alarms provider shows it.
    assert_eq!(read["config"]["strict"], false);
    s.check(
        ok(json!({"lifecycleEvent": "DELETE", "triggerName": "/_/t"})),
        200,
        "success",
    )
    .await;

    // `strict` on a cron alarm: kept, shown by READ, changed by UPDATE.
    let alarm = |body: Value| post(&format!("{base}/alarm?blocking=true&result=true"), body);
    s.check(
        alarm(json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "cron": "0 9 * * *", "strict": "true"})),
        200,
        "success",
    )
    .await;
    let read = json!({"lifecycleEvent": "READ", "triggerName": "/_/t"});
    let r = s.check(alarm(read.clone()), 200, "").await.json();
    assert_eq!(r["config"]["strict"], "true");
    s.check(
        alarm(json!({"lifecycleEvent": "UPDATE", "triggerName": "/_/t", "strict": false})),
        200,
        "success",
    )
    .await;
    let r = s.check(alarm(read), 200, "").await.json();
    assert_eq!(r["config"]["strict"], false);
}
