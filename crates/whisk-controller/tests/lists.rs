//! List routes read only what they show: actions without their code, activations without
//! logs and results unless `docs=true` (the store side is in whisk-store's contract tests,
//! `entity_list_metadata` and `activation_summaries`).

mod support;

use serde_json::json;
use support::{get, Stack};
use whisk_store::{ActivationStore, EntityStore};
use whisk_types::EntityName;

const ACTIONS: &str = "/api/v1/namespaces/_/actions";

#[tokio::test]
async fn listing_actions_with_megabytes_of_code_returns_summaries() {
    let s = Stack::without_invoker().await;
    let code = "x".repeat(1024 * 1024);
    for i in 0..50 {
        s.create_action(
            &format!("big{i}"),
            json!({"exec": {"kind": "blackbox", "image": "whisk/test", "code": code}}),
        )
        .await;
    }
    let resp = s.check(get(&format!("{ACTIONS}?limit=200")), 200, "").await;
    let rows = resp.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert!(
        resp.text.len() < 100_000,
        "the list is {} bytes",
        resp.text.len()
    );
    for row in rows {
        // OpenWhisk's list row: exec shows `binary` only.
        let exec = row["exec"].as_object().unwrap();
        assert!(exec.len() == 1 && exec["binary"].is_boolean(), "{row}");
        assert!(row.get("limits").is_some());
    }
    // The store reads them without the code too.
    let ns = EntityName::new("guest").unwrap();
    let docs = s
        .store
        .list_metadata(
            whisk_store::Collection::Actions,
            &whisk_store::ListQuery {
                namespace: ns,
                package: None,
                skip: 0,
                limit: 200,
            },
        )
        .await
        .unwrap();
    assert!(docs.iter().all(|d| d.body["exec"].get("code").is_none()));
}

#[tokio::test]
async fn activation_lists_show_logs_and_results_only_with_docs() {
    let s = Stack::without_invoker().await;
    let ns = EntityName::new("guest").unwrap();
    let mut a = whisk_store::contract::activation(&ns, "hello", 1_000, None);
    a.logs = vec!["a log line".into()];
    a.response.result = json!({"big": "r".repeat(10_000)});
    ActivationStore::put(s.store.as_ref(), &a).await.unwrap();

    let summary = s
        .check(get("/api/v1/namespaces/_/activations"), 200, "")
        .await
        .json();
    let row = &summary[0];
    assert_eq!(row["activationId"], json!(a.activation_id));
    assert_eq!(row["statusCode"], 0);
    assert!(
        row.get("logs").is_none() && row.get("response").is_none(),
        "{row}"
    );

    let docs = s
        .check(get("/api/v1/namespaces/_/activations?docs=true"), 200, "")
        .await
        .json();
    assert_eq!(docs[0]["logs"], json!(["a log line"]));
    assert_eq!(docs[0]["response"]["result"], a.response.result);
}
