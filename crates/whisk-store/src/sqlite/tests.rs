//! Tests of the SQLite backend as a whole: the contract, reopening, concurrency.

use serde_json::json;

use whisk_types::FullyQualifiedName;

use super::*;
use crate::{contract, ActivationStore, Collection, EntityStore, IdentityStore};

mod contract_suite {
    use super::SqliteStore;

    crate::contract_tests!(async { ((), SqliteStore::temporary().unwrap()) });
}

#[tokio::test]
async fn reopening_the_file_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let ns = contract::random_namespace();
    let f = FullyQualifiedName::parse(&format!("{ns}/pkg/a")).unwrap();
    let act = contract::activation(&ns, "a", 42, Some(&format!("{ns}/pkg/a")));
    let rec = contract::subject_record("someone", &ns, "secret");
    let doc = {
        let store = SqliteStore::open(&path).unwrap();
        let doc = EntityStore::put(&store, Collection::Actions, &f, json!({"x": 1}), None)
            .await
            .unwrap();
        assert!(ActivationStore::put(&store, &act).await.unwrap());
        store.put_subject(&rec).await.unwrap();
        doc
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        EntityStore::get(&store, Collection::Actions, &f)
            .await
            .unwrap(),
        Some(doc.clone())
    );
    assert_eq!(
        ActivationStore::get(&store, &ns, &act.activation_id)
            .await
            .unwrap(),
        Some(act.clone())
    );
    assert!(!ActivationStore::put(&store, &act).await.unwrap());
    assert_eq!(
        store.subject_by_name("someone").await.unwrap(),
        Some(rec.clone())
    );
    // `updated` keeps increasing across a reopen.
    let next = EntityStore::put(
        &store,
        Collection::Actions,
        &f,
        json!({"x": 2}),
        Some(doc.revision),
    )
    .await
    .unwrap();
    assert!(next.updated > doc.updated);
    assert_eq!(next.revision, doc.revision + 1);
}

#[tokio::test]
async fn the_secret_is_never_written_to_the_file() {
    let store = SqliteStore::temporary().unwrap();
    let ns = contract::random_namespace();
    let key = whisk_types::AuthKey::generate();
    let rec = contract::subject_record("guest", &ns, &key.secret);
    store.put_subject(&rec).await.unwrap();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let mut p = store.path().as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            bytes.extend(b);
        }
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    // The search works: the hash is in the file, the secret is not.
    assert!(contains(&rec.secret_hash));
    assert!(!contains(&key.secret));
}

#[tokio::test]
async fn same_subject_name_under_another_uuid_is_refused() {
    let store = SqliteStore::temporary().unwrap();
    let ns = contract::random_namespace();
    store
        .put_subject(&contract::subject_record("dup", &ns, "a"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_subject(&contract::subject_record("dup", &ns, "b"))
            .await,
        Err(StoreError::AlreadyExists)
    ));
}

/// Group commit under concurrency: every write answered is in the file after a reopen,
/// and writes that fail (a conflict, a duplicate subject) fail alone while their
/// neighbours, committed in the same batches, stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_durable_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let ns = contract::random_namespace();
    let store = SqliteStore::open(&path).unwrap();
    store
        .put_subject(&contract::subject_record("taken", &ns, "a"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (store, ns) = (store.clone(), ns.clone());
            tokio::spawn(async move {
                let mut acts = Vec::new();
                for i in 0..25 {
                    let a = contract::activation(&ns, "a", t * 100 + i, None);
                    assert!(ActivationStore::put(&store, &a).await.unwrap());
                    acts.push(a);
                    let f = FullyQualifiedName::parse(&format!("{ns}/e{t}x{i}")).unwrap();
                    // Expects a revision of a document that does not exist: a conflict.
                    let bad = EntityStore::put(&store, Collection::Actions, &f, json!({}), Some(1));
                    assert!(matches!(bad.await, Err(StoreError::Conflict)));
                    let dup = contract::subject_record("taken", &ns, "b");
                    assert!(matches!(
                        store.put_subject(&dup).await,
                        Err(StoreError::AlreadyExists)
                    ));
                    EntityStore::put(&store, Collection::Actions, &f, json!({"i": i}), None)
                        .await
                        .unwrap();
                }
                acts
            })
        })
        .collect();
    let mut acts = Vec::new();
    for t in tasks {
        acts.extend(t.await.unwrap());
    }
    let stats = store.writer_stats();
    assert!(stats.commits <= stats.requests);
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    for a in &acts {
        assert_eq!(
            ActivationStore::get(&store, &ns, &a.activation_id)
                .await
                .unwrap()
                .as_ref(),
            Some(a)
        );
    }
    for t in 0..16 {
        for i in 0..25 {
            let f = FullyQualifiedName::parse(&format!("{ns}/e{t}x{i}")).unwrap();
            let doc = EntityStore::get(&store, Collection::Actions, &f)
                .await
                .unwrap()
                .expect("stored");
            assert_eq!((doc.revision, &doc.body["i"]), (1, &json!(i)));
        }
    }
}
