//! The warm path through the API (router over SQLite and the embedded bus, fake invoker at
//! the bus seam, announcing each completion before it stores the record as the real
//! invoker does):
//! - read-your-writes: a record the invoker announced but has not stored is readable at
//!   once from the controller's memory, by its own namespace only;
//! - the entity cache: an invoke reads no entity while its cache entry is valid, and every
//!   write through a controller (this one or another on the same bus) is seen by the next
//!   invoke; one namespace's entries never serve another.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use support::{basic, eventually, get, post, put, Stack};
use tower::ServiceExt;
use whisk_controller::ControllerConfig;
use whisk_store::{Collection, EntityStore};
use whisk_types::FullyQualifiedName;

const NS: &str = "/api/v1/namespaces";

/// Entries that outlive any test: only invalidations drop them here.
fn long_cache() -> ControllerConfig {
    ControllerConfig {
        entity_cache_ttl: Duration::from_secs(3600),
        ..support::config()
    }
}

#[tokio::test]
async fn a_blocking_answer_is_readable_before_its_record_is_stored() {
    let s = Stack::start().await;
    let bob = s.add_subject("bob").await;
    s.create_action("hello", json!({})).await;
    let answer = s
        .check(
            post(
                &format!("{NS}/_/actions/hello?blocking=true"),
                json!({"unstored": true}),
            ),
            200,
            "",
        )
        .await
        .json();
    let id = answer["activationId"].as_str().unwrap().to_owned();
    assert!(
        s.records("guest").await.is_empty(),
        "the store has no record"
    );

    let record = s
        .check(get(&format!("{NS}/_/activations/{id}")), 200, "")
        .await
        .json();
    assert_eq!(record, answer);
    let result = s
        .check(get(&format!("{NS}/_/activations/{id}/result")), 200, "")
        .await
        .json();
    assert_eq!(result, answer["response"]);
    let logs = s
        .check(get(&format!("{NS}/_/activations/{id}/logs")), 200, "")
        .await
        .json();
    assert_eq!(logs["logs"], answer["logs"]);
    let listed = s
        .check(get(&format!("{NS}/_/activations?docs=true")), 200, "")
        .await
        .json();
    assert_eq!(listed, json!([answer]));
    let named = s
        .check(get(&format!("{NS}/_/activations?name=hello")), 200, "")
        .await
        .json();
    assert_eq!(named[0]["activationId"], id.as_str());

    // Never from another namespace.
    s.check(
        get(&format!("{NS}/_/activations/{id}")).with_key(&bob),
        404,
        "",
    )
    .await;
    s.check(
        get(&format!("{NS}/guest/activations/{id}")).with_key(&bob),
        403,
        "",
    )
    .await;
    let theirs = s
        .check(get(&format!("{NS}/_/activations")).with_key(&bob), 200, "")
        .await
        .json();
    assert_eq!(theirs, json!([]));
}

/// The record read back after the store has it is the one the caller was answered with.
#[tokio::test]
async fn the_stored_record_is_the_answered_one() {
    let s = Stack::start().await;
    s.create_action("hello", json!({})).await;
    let answer = s
        .check(
            post(&format!("{NS}/_/actions/hello?blocking=true"), json!({})),
            200,
            "",
        )
        .await
        .json();
    let id = answer["activationId"].as_str().unwrap().to_owned();
    eventually("the record is stored", || async {
        (!s.records("guest").await.is_empty()).then_some(())
    })
    .await;
    let record = s
        .check(get(&format!("{NS}/_/activations/{id}")), 200, "")
        .await
        .json();
    assert_eq!(record, answer);
}

/// Writes `body` as the action document `fqn` straight into the store, as a write no
/// controller saw (a lost invalidation).
async fn write_behind_the_controllers_back(s: &Stack, fqn: &str, body: Value) {
    let fqn = FullyQualifiedName::parse(fqn).unwrap();
    let doc = EntityStore::get(s.store.as_ref(), Collection::Actions, &fqn)
        .await
        .unwrap()
        .unwrap();
    let mut stored = doc.body.clone();
    if let (Some(b), Value::Object(e)) = (stored.as_object_mut(), body) {
        b.extend(e);
    }
    EntityStore::put(
        s.store.as_ref(),
        Collection::Actions,
        &fqn,
        stored,
        Some(doc.revision),
    )
    .await
    .unwrap();
}

fn params(v: &str) -> Value {
    json!({"parameters": [{"key": "p", "value": v}]})
}

/// The parameter `p` the action ran with.
async fn invoke_p(s: &Stack, name: &str) -> Value {
    s.check(
        post(
            &format!("{NS}/_/actions/{name}?blocking=true&result=true"),
            json!({}),
        ),
        200,
        "",
    )
    .await
    .json()["echo"]["p"]
        .clone()
}

#[tokio::test]
async fn a_warm_invoke_reads_no_entity_and_every_write_is_seen() {
    let s = Stack::start_with(long_cache()).await;
    s.create_action("a", params("one")).await;
    assert_eq!(invoke_p(&s, "a").await, "one");
    // A change no controller saw is not read: the invoke came from the cache.
    write_behind_the_controllers_back(&s, "guest/a", params("unseen")).await;
    assert_eq!(invoke_p(&s, "a").await, "one");

    // A write through this controller is seen by the next invoke.
    s.check(
        put(&format!("{NS}/_/actions/a?overwrite=true"), params("two")),
        200,
        "",
    )
    .await;
    assert_eq!(invoke_p(&s, "a").await, "two");

    // A write through another controller on the same bus: seen once its invalidation
    // arrives.
    let other = whisk_controller::router(s.second_controller("c1").await);
    let update = Request::put(format!("{NS}/_/actions/a?overwrite=true"))
        .header("authorization", basic(&s.guest))
        .body(Body::from(params("three").to_string()))
        .unwrap();
    let resp = other.oneshot(update).await.unwrap();
    assert_eq!(resp.status(), 200);
    eventually("the other controller's write is seen", || async {
        (invoke_p(&s, "a").await == "three").then_some(())
    })
    .await;
}

#[tokio::test]
async fn package_writes_reach_the_actions_resolved_through_them() {
    let s = Stack::start_with(long_cache()).await;
    let bob = s.add_subject("bob").await;
    s.check(
        put(
            &format!("{NS}/_/packages/pkg"),
            json!({"publish": true, "parameters": [{"key": "p", "value": "pkg"}]}),
        ),
        200,
        "",
    )
    .await;
    s.create_action("pkg/a", json!({})).await;
    s.check(
        put(
            &format!("{NS}/_/packages/bound"),
            json!({"binding": {"namespace": "guest", "name": "pkg"},
                   "parameters": [{"key": "p", "value": "binding"}]}),
        ),
        200,
        "",
    )
    .await;
    assert_eq!(invoke_p(&s, "bound/a").await, "binding");
    assert_eq!(invoke_p(&s, "pkg/a").await, "pkg");
    let shared = format!("{NS}/guest/actions/pkg/a?blocking=true&result=true");
    let r = s
        .check(post(&shared, json!({})).with_key(&bob), 200, "")
        .await;
    assert_eq!(r.json()["echo"]["p"], "pkg");

    // The bound package's parameters change: both paths see it.
    s.check(
        put(
            &format!("{NS}/_/packages/pkg?overwrite=true"),
            json!({"publish": true, "parameters": [{"key": "p", "value": "pkg2"}, {"key": "q", "value": 1}]}),
        ),
        200,
        "",
    )
    .await;
    assert_eq!(invoke_p(&s, "pkg/a").await, "pkg2");
    assert_eq!(invoke_p(&s, "bound/a").await, "binding");
    let r = s
        .check(
            post(
                &format!("{NS}/_/actions/bound/a?blocking=true&result=true"),
                json!({}),
            ),
            200,
            "",
        )
        .await;
    assert_eq!(r.json()["echo"]["q"], 1);

    // Unshared: bob's cached resolution is gone at once.
    s.check(
        put(
            &format!("{NS}/_/packages/pkg?overwrite=true"),
            json!({"publish": false}),
        ),
        200,
        "",
    )
    .await;
    s.check(post(&shared, json!({})).with_key(&bob), 403, "")
        .await;
    // The guest's own entry never served bob.
    s.check(
        post(&format!("{NS}/guest/actions/bound/a"), json!({})).with_key(&bob),
        403,
        "",
    )
    .await;
    // Deleted: gone for the next invoke.
    s.check(support::delete(&format!("{NS}/_/packages/bound")), 200, "")
        .await;
    s.check(
        post(&format!("{NS}/_/actions/bound/a?blocking=true"), json!({})),
        404,
        "",
    )
    .await;
}
