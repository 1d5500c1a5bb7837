//! What the controller publishes to invokers: the action without its code and a
//! reference to the code by digest, which the store keeps. Direct invokes and sequence
//! components alike.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{post, put, Stack};
use whisk_bus::Bus;
use whisk_store::CodeStore;
use whisk_types::message::invoker_topic;
use whisk_types::{ActivationMessage, CodeRef};

/// The next message on the invoker's topic.
async fn next_message(consumer: &std::sync::Arc<dyn whisk_bus::Consumer>) -> ActivationMessage {
    let d = tokio::time::timeout(support::patience(), consumer.next())
        .await
        .expect("a message")
        .expect("next");
    consumer.ack(&d.token).await.unwrap();
    serde_json::from_slice(&d.payload).expect("an activation message")
}

#[tokio::test]
async fn messages_carry_a_code_reference_not_the_code() {
    let s = Stack::without_invoker().await;
    let consumer = s.bus.consume(&invoker_topic(0)).await.unwrap();
    let code = "#!/bin/sh\n# CODE-IN-MESSAGE\necho '{}'\n";
    for name in ["one", "two"] {
        s.check(
            put(
                &format!("/api/v1/namespaces/_/actions/{name}"),
                json!({"exec": {"kind": "blackbox", "image": "whisk/test", "code": code, "main": "main"}}),
            ),
            200,
            "",
        )
        .await;
    }
    s.check(
        put(
            "/api/v1/namespaces/_/actions/both",
            json!({"exec": {"kind": "sequence", "components": ["/_/one", "/_/two"]}}),
        ),
        200,
        "",
    )
    .await;

    // A direct invoke, then the first component of a sequence.
    for invoked in ["one", "both"] {
        s.check(
            post(
                &format!("/api/v1/namespaces/_/actions/{invoked}"),
                json!({}),
            ),
            202,
            "",
        )
        .await;
        let msg = next_message(&consumer).await;
        assert_eq!(msg.action.name.as_str(), "one");
        assert_eq!(msg.action.exec.kind(), "blackbox");
        assert_eq!(msg.action.exec.code(), None, "the code is left out");
        assert_eq!(msg.code, Some(CodeRef::of(code)));
        let raw = serde_json::to_string(&msg).unwrap();
        assert!(!raw.contains("CODE-IN-MESSAGE"), "{raw}");
        let kept = s
            .store
            .get_code(&msg.code.as_ref().unwrap().digest)
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some(code), "the store keeps it by digest");
    }
    // Nothing else was published.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), consumer.next())
            .await
            .is_err()
    );
}
