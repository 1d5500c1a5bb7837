//! Throttles and the other per-namespace limits, through the router: invocationsPerMinute,
//! concurrentInvocations and firesPerMinute with OpenWhisk's 429 texts on every path that
//! starts an activation, per-namespace overrides as `whiskd admin limits set` writes
//! them, allowedKinds, blocked subjects, entity caps, configurable action limits and the
//! alarms' minimum period.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, get, post, put, Stack};
use whisk_controller::{ControllerConfig, NamespaceLimits};
use whisk_store::{IdentityStore, LimitOverrides};
use whisk_types::message::completion_subject;
use whisk_types::{
    now_millis, Activation, ActivationId, ActivationResponse, CompletionMessage, EntityName,
    EntityPath, LimitBounds, Parameters, SemVer,
};

const ACTIONS: &str = "/api/v1/namespaces/_/actions";
const TRIGGERS: &str = "/api/v1/namespaces/_/triggers";

/// A throttle window short enough to see one end; production's is a minute.
const WINDOW: Duration = Duration::from_secs(2);

fn limited(invocations: u64, concurrent: u64, fires: u64) -> ControllerConfig {
    ControllerConfig {
        limits: NamespaceLimits {
            invocations_per_minute: invocations,
            concurrent_invocations: concurrent,
            fires_per_minute: fires,
            ..NamespaceLimits::default()
        },
        throttle_window: WINDOW,
        ..support::config()
    }
}

fn window_index() -> i64 {
    now_millis() / WINDOW.as_millis() as i64
}

/// Waits for the start of the next throttle window.
async fn next_window() {
    let w = WINDOW.as_millis() as i64;
    let left = w - now_millis() % w;
    tokio::time::sleep(Duration::from_millis(left as u64 + 20)).await;
}

/// Runs `burst` at the start of a window, again if the window ended during it (a slow
/// machine), so the burst is judged within one window.
async fn in_one_window<F, Fut>(mut burst: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..3 {
        next_window().await;
        let before = window_index();
        burst().await;
        if window_index() == before {
            return;
        }
    }
    panic!("no burst fitted in one throttle window");
}

fn guest() -> EntityName {
    EntityName::namespace("guest").unwrap()
}

#[tokio::test]
async fn invocations_per_minute_gives_429_and_the_next_window_admits_again() {
    let s = Stack::start_with(limited(3, 100, 100)).await;
    s.create_action("hello", json!({})).await;
    let invoke = || post(&format!("{ACTIONS}/hello"), json!({}));
    in_one_window(|| async {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(s.send(invoke()).await.status);
        }
        assert_eq!(statuses, vec![202, 202, 202]);
        let r = s.check(invoke(), 429, "").await;
        assert_eq!(
            r.json()["error"],
            "Too many requests in the last minute (count: 4, allowed: 3)."
        );
        assert!(r.json()["code"].is_string(), "OpenWhisk's error body");
        // Blocking invokes and web actions are throttled alike.
        s.check(
            post(&format!("{ACTIONS}/hello?blocking=true"), json!({})),
            429,
            "Too many requests in the last minute (count: 5, allowed: 3).",
        )
        .await;
    })
    .await;
    next_window().await;
    s.check(invoke(), 202, "activationId").await;
}

#[tokio::test]
async fn web_actions_and_rule_fired_invokes_count_against_invocations() {
    let s = Stack::start_with(limited(1, 100, 100)).await;
    s.create_action(
        "page",
        json!({"annotations": [{"key": "web-export", "value": true}]}),
    )
    .await;
    s.check(put(&format!("{TRIGGERS}/t"), json!({})), 200, "")
        .await;
    s.check(
        put(
            "/api/v1/namespaces/_/rules/r",
            json!({"trigger": "/_/t", "action": "/_/page"}),
        ),
        200,
        "",
    )
    .await;
    in_one_window(|| async {
        s.check(
            get("/api/v1/web/guest/default/page.json").no_auth(),
            200,
            "",
        )
        .await;
        s.check(
            get("/api/v1/web/guest/default/page.json").no_auth(),
            429,
            "Too many requests in the last minute (count: 2, allowed: 1).",
        )
        .await;
        // The fire itself is admitted; its rule's invoke is throttled, as OpenWhisk's
        // internal POST would be, and the trigger record says so.
        let fired = s
            .check(post(&format!("{TRIGGERS}/t"), json!({})), 202, "")
            .await;
        let id = fired.json()["activationId"].as_str().unwrap().to_owned();
        let record = s
            .check(
                get(&format!("/api/v1/namespaces/_/activations/{id}")),
                200,
                "",
            )
            .await
            .json();
        let log = record["logs"][0].as_str().unwrap();
        assert!(
            log.contains("Too many requests in the last minute (count: 3, allowed: 1)."),
            "{log}"
        );
    })
    .await;
}

#[tokio::test]
async fn fires_per_minute_gives_429() {
    let s = Stack::start_with(limited(100, 100, 2)).await;
    s.check(put(&format!("{TRIGGERS}/t"), json!({})), 200, "")
        .await;
    let fire = || post(&format!("{TRIGGERS}/t"), json!({}));
    in_one_window(|| async {
        // No active rule: 204, but the fire counts (OpenWhisk checks before looking).
        s.check(fire(), 204, "").await;
        s.check(fire(), 204, "").await;
        s.check(
            fire(),
            429,
            "Too many requests in the last minute (count: 3, allowed: 2).",
        )
        .await;
    })
    .await;
    next_window().await;
    s.check(fire(), 204, "").await;
}

/// Sends the completion an invoker would send for activation `id` of the guest.
async fn complete(s: &Stack, id: &str) {
    let now = now_millis();
    let activation = Activation {
        namespace: EntityPath::namespace_only(guest()),
        name: whisk_types::EntityName::new("slow").unwrap(),
        subject: "guest".into(),
        activation_id: id.parse::<ActivationId>().unwrap(),
        start: now,
        end: now,
        duration: None,
        cause: None,
        response: ActivationResponse::success(json!({}), None),
        logs: Vec::new(),
        version: SemVer::default(),
        publish: false,
        annotations: Parameters::default(),
    };
    let msg = CompletionMessage {
        activation_id: activation.activation_id,
        activation,
    };
    whisk_bus::Bus::notify(
        s.bus.as_ref(),
        &completion_subject("c0"),
        serde_json::to_vec(&msg).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn concurrent_invocations_are_held_until_their_completion() {
    let s = Stack::start_with(limited(100, 2, 100)).await;
    s.create_action("slow", json!({})).await;
    // The fake invoker takes these and never completes them.
    let hang = || post(&format!("{ACTIONS}/slow"), json!({"hang": true}));
    let first = s.check(hang(), 202, "").await.json();
    s.check(hang(), 202, "").await;
    let r = s.check(hang(), 429, "").await;
    assert_eq!(
        r.json()["error"],
        "Too many concurrent requests in flight (count: 2, allowed: 2)."
    );
    assert_eq!(s.controller.in_flight(&guest()), 2);
    complete(&s, first["activationId"].as_str().unwrap()).await;
    eventually("the completion frees a slot", || async {
        (s.controller.in_flight(&guest()) == 1).then_some(())
    })
    .await;
    s.check(hang(), 202, "").await;
}

#[tokio::test]
async fn limits_set_for_a_namespace_are_enforced_and_reported() {
    let config = ControllerConfig {
        limits_cache_ttl: Duration::from_millis(100),
        ..support::config()
    };
    let s = Stack::start_with(config).await;
    s.create_action("hello", json!({})).await;
    let limits = s
        .check(get("/api/v1/namespaces/_/limits"), 200, "")
        .await
        .json();
    assert_eq!(limits["invocationsPerMinute"], 1_000_000);
    assert!(limits.get("allowedKinds").is_none());

    let overrides = LimitOverrides {
        invocations_per_minute: Some(0),
        concurrent_invocations: Some(7),
        fires_per_minute: Some(9),
        allowed_kinds: Some(vec!["nodejs:18".into()]),
        store_activations: Some(false),
    };
    s.store
        .put_namespace_limits(&guest(), &overrides)
        .await
        .unwrap();
    let limits: Value = eventually("the overrides are read", || async {
        let l = s.send(get("/api/v1/namespaces/guest/limits")).await.json();
        (l["invocationsPerMinute"] == 0).then_some(l)
    })
    .await;
    assert_eq!(limits["concurrentInvocations"], 7);
    assert_eq!(limits["maxActionInstances"], 7);
    assert_eq!(limits["firesPerMinute"], 9);
    assert_eq!(limits["allowedKinds"], json!(["nodejs:18"]));
    assert_eq!(limits["storeActivations"], false);
    assert_eq!(limits["maxActionMemory"], 512);

    // 0 blocks everything.
    s.check(
        post(&format!("{ACTIONS}/hello"), json!({})),
        429,
        "Too many requests in the last minute (count: 1, allowed: 0).",
    )
    .await;
    // allowedKinds: another kind is refused with OpenWhisk's 403.
    s.check(
        put(
            &format!("{ACTIONS}/bb"),
            json!({"exec": {"kind": "blackbox", "image": "i"}}),
        ),
        403,
        "The supplied authentication is not authorized to access actions of kind 'blackbox'.",
    )
    .await;

    s.store.delete_namespace_limits(&guest()).await.unwrap();
    eventually("the overrides are gone", || async {
        let r = s.send(post(&format!("{ACTIONS}/hello"), json!({}))).await;
        (r.status == 202).then_some(())
    })
    .await;
}

#[tokio::test]
async fn blocked_and_deleted_subjects_are_refused() {
    let config = ControllerConfig {
        auth_cache_ttl: Duration::from_millis(100),
        ..support::config()
    };
    let s = Stack::start_with(config).await;
    s.create_action(
        "page",
        json!({"annotations": [{"key": "web-export", "value": true}]}),
    )
    .await;
    s.check(get(ACTIONS), 200, "").await;
    s.check(
        get("/api/v1/web/guest/default/page.json").no_auth(),
        200,
        "",
    )
    .await;
    assert_eq!(s.store.block_namespace(&guest(), true).await.unwrap(), 1);
    eventually("the blocked key is refused", || async {
        (s.send(get(ACTIONS)).await.status == 401).then_some(())
    })
    .await;
    s.check(get(ACTIONS), 401, "The supplied authentication is invalid")
        .await;
    // Nobody unblocked owns the namespace: its web actions are gone.
    s.check(
        get("/api/v1/web/guest/default/page.json").no_auth(),
        404,
        "",
    )
    .await;
    s.store.block_namespace(&guest(), false).await.unwrap();
    s.check(get(ACTIONS), 200, "").await;

    let other = s.add_subject("other").await;
    let as_other = || get(ACTIONS).auth(&support::basic(&other));
    s.check(as_other(), 200, "").await;
    assert!(s.store.delete_subject("other").await.unwrap());
    eventually("the deleted key is refused", || async {
        (s.send(as_other()).await.status == 401).then_some(())
    })
    .await;
}

#[tokio::test]
async fn argon2_keys_authenticate() {
    let s = Stack::start().await;
    let key = whisk_types::AuthKey::generate();
    let record = whisk_store::SubjectRecord {
        identity: whisk_types::Identity {
            subject: "argon".into(),
            namespace: EntityName::namespace("argon").unwrap(),
            uuid: key.uuid,
        },
        salt: String::new(),
        secret_hash: whisk_store::hash_key(&key.secret),
        blocked: false,
    };
    s.store.put_subject(&record).await.unwrap();
    let auth = support::basic(&key);
    s.check(get(ACTIONS).auth(&auth), 200, "").await;
    s.check(get(ACTIONS).auth(&auth), 200, "").await;
    let wrong = support::basic(&whisk_types::AuthKey {
        secret: "x".repeat(64),
        ..key
    });
    s.check(get(ACTIONS).auth(&wrong), 401, "").await;

    // The guest of the harness has a legacy salted SHA-256: it works, and is rehashed.
    let before = s.store.subject_by_name("guest").await.unwrap().unwrap();
    assert!(!before.secret_hash.starts_with("$argon2"));
    s.check(get(ACTIONS), 200, "").await;
    let after = s.store.subject_by_name("guest").await.unwrap().unwrap();
    assert!(
        after.secret_hash.starts_with("$argon2id$"),
        "rehashed on login"
    );
    assert!(whisk_store::verify_secret(&after, &s.guest.secret));
}

#[tokio::test]
async fn a_namespace_holds_at_most_max_entities_of_each_collection() {
    let s = Stack::start_with(ControllerConfig {
        max_entities: 2,
        ..support::config()
    })
    .await;
    s.create_action("a", json!({})).await;
    s.create_action("b", json!({})).await;
    s.check(
        put(
            &format!("{ACTIONS}/c"),
            json!({"exec": {"kind": "blackbox", "image": "i"}}),
        ),
        403,
        "The namespace 'guest' has reached its limit of 2 actions; delete some before creating more.",
    )
    .await;
    // Updates are not creates.
    s.check(
        put(
            &format!("{ACTIONS}/a?overwrite=true"),
            json!({"exec": {"kind": "blackbox", "image": "j"}}),
        ),
        200,
        "",
    )
    .await;
    for t in ["t1", "t2"] {
        s.check(put(&format!("{TRIGGERS}/{t}"), json!({})), 200, "")
            .await;
    }
    s.check(
        put(&format!("{TRIGGERS}/t3"), json!({})),
        403,
        "limit of 2 triggers",
    )
    .await;
}

#[tokio::test]
async fn action_limit_maxima_are_configurable() {
    let s = Stack::start_with(ControllerConfig {
        action_limits: LimitBounds {
            memory_max: 2048,
            timeout_max: 900_000,
            ..LimitBounds::default()
        },
        ..support::config()
    })
    .await;
    let body =
        |limits: Value| json!({"exec": {"kind": "blackbox", "image": "i"}, "limits": limits});
    s.check(
        put(
            &format!("{ACTIONS}/big"),
            body(json!({"memory": 2048, "timeout": 900_000})),
        ),
        200,
        "",
    )
    .await;
    s.check(
        put(&format!("{ACTIONS}/bigger"), body(json!({"memory": 4096}))),
        400,
        "memory 4096 MB exceeds allowed threshold of 2048 MB",
    )
    .await;
    s.check(
        put(&format!("{ACTIONS}/small"), body(json!({"memory": 64}))),
        400,
        "memory 64 MB below allowed threshold of 128 MB",
    )
    .await;
    s.check(
        put(
            &format!("{ACTIONS}/long"),
            body(json!({"timeout": 900_001})),
        ),
        400,
        "duration 900001 milliseconds exceeds allowed threshold of 900000 milliseconds",
    )
    .await;
    s.check(
        put(&format!("{ACTIONS}/logs"), body(json!({"logs": 11}))),
        400,
        "log 11 MB exceeds allowed threshold of 10 MB",
    )
    .await;
    let limits = s
        .check(get("/api/v1/namespaces/_/limits"), 200, "")
        .await
        .json();
    assert_eq!(limits["maxActionMemory"], 2048);
    assert_eq!(limits["maxActionTimeout"], 900_000);
    let info = s.check(get("/"), 200, "").await.json();
    assert_eq!(info["limits"]["max_action_memory"], 2048u64 * 1024 * 1024);
}

#[tokio::test]
async fn an_alarm_firing_more_often_than_the_minimum_period_is_refused() {
    let s = Stack::start_with(ControllerConfig {
        alarm_min_period: Duration::from_secs(60),
        ..support::config()
    })
    .await;
    s.check(
        put(
            &format!("{TRIGGERS}/fast"),
            json!({"annotations": [{"key": "feed", "value": "/whisk.system/alarms/alarm"}]}),
        ),
        200,
        "",
    )
    .await;
    let feed = "/api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true";
    let create = |cron: &str| {
        post(
            feed,
            json!({"lifecycleEvent": "CREATE", "triggerName": "/guest/fast", "cron": cron}),
        )
    };
    let r = s.send(create("* * * * * *")).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(
        r.json()["response"]["result"]["error"],
        "the alarm would fire every 1 s, more often than the minimum period of 60 s allows"
    );
    let r = s.send(create("*/30 * * * * *")).await;
    assert_eq!(r.status, 502, "{}", r.text);
    s.check(create("0 * * * * *"), 200, "success").await;
}

#[tokio::test]
async fn store_activations_off_keeps_no_records() {
    let s = Stack::start_with(ControllerConfig {
        limits_cache_ttl: Duration::from_millis(100),
        ..support::config()
    })
    .await;
    s.create_action("hello", json!({})).await;
    s.check(
        put(
            &format!("{ACTIONS}/seq"),
            json!({"exec": {"kind": "sequence", "components": ["/_/hello"]}}),
        ),
        200,
        "",
    )
    .await;
    s.check(put(&format!("{TRIGGERS}/t"), json!({})), 200, "")
        .await;
    s.check(
        put(
            "/api/v1/namespaces/_/rules/r",
            json!({"trigger": "/_/t", "action": "/_/hello"}),
        ),
        200,
        "",
    )
    .await;
    s.store
        .put_namespace_limits(
            &guest(),
            &LimitOverrides {
                store_activations: Some(false),
                ..LimitOverrides::default()
            },
        )
        .await
        .unwrap();
    eventually("the limit is read", || async {
        let l = s.send(get("/api/v1/namespaces/_/limits")).await.json();
        (l["storeActivations"] == false).then_some(())
    })
    .await;
    // Blocking callers still get the result.
    let r = s
        .check(
            post(&format!("{ACTIONS}/hello?blocking=true"), json!({})),
            200,
            "",
        )
        .await
        .json();
    let id = r["activationId"].as_str().unwrap().to_owned();
    let seq = s
        .check(
            post(&format!("{ACTIONS}/seq?blocking=true"), json!({})),
            200,
            "",
        )
        .await
        .json();
    s.check(post(&format!("{TRIGGERS}/t"), json!({})), 202, "")
        .await;
    s.check(
        get(&format!("/api/v1/namespaces/_/activations/{id}")),
        404,
        "",
    )
    .await;
    s.check(
        get(&format!(
            "/api/v1/namespaces/_/activations/{}",
            seq["activationId"].as_str().unwrap()
        )),
        404,
        "",
    )
    .await;
    assert!(s.records("guest").await.is_empty(), "no record at all");
}
