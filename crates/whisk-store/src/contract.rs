//! The contract every store backend must meet, written once over the traits.
//!
//! A backend's tests call each function with a fresh or shared store; every function works
//! in namespaces and subjects with random names, so they may run concurrently on one
//! database. Failures panic with a message saying which rule broke.

use std::time::Duration;

use serde_json::json;
use whisk_types::{
    code_digest, now_millis, Activation, ActivationId, ActivationResponse, EntityName, EntityPath,
    FullyQualifiedName, Identity, Parameters, SemVer,
};

use crate::{
    hash_key, hash_secret, new_salt, verify_secret, ActivationQuery, ActivationStore, CodeStore,
    Collection, EntityStore, IdentityStore, LimitOverrides, ListQuery, StoreError, SubjectRecord,
};

/// A namespace no other test uses.
pub fn random_namespace() -> EntityName {
    EntityName::namespace(&format!("ns{}", uuid::Uuid::new_v4().simple())).expect("valid namespace")
}

fn name(s: &str) -> EntityName {
    EntityName::new(s).expect("valid name")
}

fn fqn(ns: &EntityName, pkg: Option<&str>, n: &str) -> FullyQualifiedName {
    let path = match pkg {
        Some(p) => EntityPath::with_package(ns.clone(), name(p)),
        None => EntityPath::namespace_only(ns.clone()),
    };
    FullyQualifiedName::new(path, name(n))
}

/// Lets the clock move on, so documents written one after the other differ in `updated`.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

/// Create, read, conflicting writes, update and delete of one document.
pub async fn entity_lifecycle(store: &dyn EntityStore) {
    let ns = random_namespace();
    let f = fqn(&ns, None, "hello");
    assert!(store.get(Collection::Actions, &f).await.unwrap().is_none());

    let body = json!({"name": "hello", "exec": {"kind": "nodejs:18", "code": "x"}});
    let created = store
        .put(Collection::Actions, &f, body.clone(), None)
        .await
        .unwrap();
    assert_eq!(created.collection, Collection::Actions);
    assert_eq!(created.fqn, f);
    assert_eq!(created.body["updated"], json!(created.updated));
    assert_eq!(created.body["exec"], body["exec"]);
    assert!(created.updated > 0);
    let read = store.get(Collection::Actions, &f).await.unwrap();
    assert_eq!(read.as_ref(), Some(&created), "get returns what put stored");

    // Create of an existing name.
    assert!(matches!(
        store.put(Collection::Actions, &f, body.clone(), None).await,
        Err(StoreError::AlreadyExists)
    ));
    assert!(matches!(
        store.put(Collection::Packages, &f, json!({}), None).await,
        Err(StoreError::WrongCollection)
    ));
    assert!(matches!(
        store
            .put(Collection::Triggers, &f, json!({}), Some(created.revision))
            .await,
        Err(StoreError::WrongCollection)
    ));
    assert!(matches!(
        store.get(Collection::Rules, &f).await,
        Err(StoreError::WrongCollection)
    ));
    assert!(matches!(
        store
            .delete(Collection::Packages, &f, created.revision)
            .await,
        Err(StoreError::WrongCollection)
    ));

    // Update with a wrong revision, or of a missing document.
    assert!(matches!(
        store
            .put(
                Collection::Actions,
                &f,
                body.clone(),
                Some(created.revision + 7)
            )
            .await,
        Err(StoreError::Conflict)
    ));
    let missing = fqn(&ns, None, "missing");
    assert!(matches!(
        store
            .put(Collection::Actions, &missing, body.clone(), Some(1))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(store
        .get(Collection::Actions, &missing)
        .await
        .unwrap()
        .is_none());

    // Update: revision and updated go up, even within the same millisecond.
    let changed = json!({"name": "hello", "exec": {"kind": "nodejs:18", "code": "y"}});
    let updated = store
        .put(
            Collection::Actions,
            &f,
            changed.clone(),
            Some(created.revision),
        )
        .await
        .unwrap();
    assert!(updated.revision > created.revision);
    assert!(updated.updated > created.updated);
    let again = store
        .put(Collection::Actions, &f, changed, Some(updated.revision))
        .await
        .unwrap();
    assert!(again.revision > updated.revision);
    assert!(again.updated > updated.updated);
    let read = store.get(Collection::Actions, &f).await.unwrap().unwrap();
    assert_eq!(read, again);
    assert_eq!(read.body["exec"]["code"], "y");

    // A stale revision can neither update nor delete.
    assert!(matches!(
        store
            .put(
                Collection::Actions,
                &f,
                body.clone(),
                Some(created.revision)
            )
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .delete(Collection::Actions, &f, updated.revision)
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(store.get(Collection::Actions, &f).await.unwrap().is_some());

    assert!(store
        .delete(Collection::Actions, &f, again.revision)
        .await
        .unwrap());
    assert!(store.get(Collection::Actions, &f).await.unwrap().is_none());
    assert!(!store
        .delete(Collection::Actions, &f, again.revision)
        .await
        .unwrap());

    // The name is free again, for any collection.
    let recreated = store
        .put(Collection::Packages, &f, json!({"name": "hello"}), None)
        .await
        .unwrap();
    assert_eq!(recreated.collection, Collection::Packages);
    assert!(matches!(
        store.get(Collection::Actions, &f).await,
        Err(StoreError::WrongCollection)
    ));
}

fn names(docs: &[crate::Document]) -> Vec<String> {
    docs.iter().map(|d| d.fqn.to_string()).collect()
}

/// Lists and counts: newest first, skip and limit, package scoping, namespace isolation.
pub async fn entity_lists(store: &dyn EntityStore) {
    let ns = random_namespace();
    // A namespace whose name extends `ns` must not leak into its lists.
    let other = EntityName::namespace(&format!("{ns}x")).expect("valid namespace");
    let mut order = vec![];
    for (pkg, n) in [
        (None, "a1"),
        (None, "a2"),
        (Some("p1"), "b1"),
        (None, "a3"),
        (Some("p1"), "b2"),
        (Some("p2"), "c1"),
    ] {
        let f = fqn(&ns, pkg, n);
        store
            .put(Collection::Actions, &f, json!({"name": n}), None)
            .await
            .unwrap();
        order.insert(0, f.to_string());
        tick().await;
    }
    for (c, f) in [
        (Collection::Packages, fqn(&ns, None, "p1")),
        (Collection::Triggers, fqn(&ns, None, "t1")),
        (Collection::Actions, fqn(&other, None, "a1")),
        (Collection::Actions, fqn(&other, Some("p1"), "b1")),
    ] {
        store.put(c, &f, json!({}), None).await.unwrap();
    }

    let q = |package: Option<&str>, skip, limit| ListQuery {
        namespace: ns.clone(),
        package: package.map(name),
        skip,
        limit,
    };
    let all = store
        .list(Collection::Actions, &q(None, 0, 100))
        .await
        .unwrap();
    assert_eq!(names(&all), order, "root namespace list, newest first");
    assert!(all.windows(2).all(|w| w[0].updated >= w[1].updated));
    assert!(all.iter().all(|d| d.collection == Collection::Actions));
    let page = store
        .list(Collection::Actions, &q(None, 1, 2))
        .await
        .unwrap();
    assert_eq!(names(&page), order[1..3].to_vec(), "skip 1 limit 2");
    let past = store
        .list(Collection::Actions, &q(None, 6, 10))
        .await
        .unwrap();
    assert!(past.is_empty());
    assert_eq!(
        store
            .count(Collection::Actions, &q(None, 0, 100))
            .await
            .unwrap(),
        6
    );

    let p1 = store
        .list(Collection::Actions, &q(Some("p1"), 0, 100))
        .await
        .unwrap();
    assert_eq!(
        names(&p1),
        vec![format!("{ns}/p1/b2"), format!("{ns}/p1/b1")],
        "package list"
    );
    let p1_page = store
        .list(Collection::Actions, &q(Some("p1"), 1, 5))
        .await
        .unwrap();
    assert_eq!(names(&p1_page), vec![format!("{ns}/p1/b1")]);
    assert_eq!(
        store
            .count(Collection::Actions, &q(Some("p1"), 0, 100))
            .await
            .unwrap(),
        2
    );
    assert!(store
        .list(Collection::Actions, &q(Some("none"), 0, 100))
        .await
        .unwrap()
        .is_empty());

    let packages = store
        .list(Collection::Packages, &q(None, 0, 100))
        .await
        .unwrap();
    assert_eq!(names(&packages), vec![format!("{ns}/p1")]);
    assert_eq!(
        store
            .count(Collection::Rules, &q(None, 0, 100))
            .await
            .unwrap(),
        0
    );

    // Updating a document moves it to the front.
    let a1 = fqn(&ns, None, "a1");
    let doc = store.get(Collection::Actions, &a1).await.unwrap().unwrap();
    tick().await;
    store
        .put(
            Collection::Actions,
            &a1,
            json!({"v": 2}),
            Some(doc.revision),
        )
        .await
        .unwrap();
    let all = store
        .list(Collection::Actions, &q(None, 0, 1))
        .await
        .unwrap();
    assert_eq!(names(&all), vec![a1.to_string()]);
}

/// A subject record for `secret`, as a controller would make it.
pub fn subject_record(subject: &str, namespace: &EntityName, secret: &str) -> SubjectRecord {
    let salt = new_salt();
    SubjectRecord {
        identity: Identity {
            subject: subject.to_owned(),
            namespace: namespace.clone(),
            uuid: uuid::Uuid::new_v4(),
        },
        secret_hash: hash_secret(&salt, secret),
        salt,
        blocked: false,
    }
}

/// Subjects by uuid and by name; replacement; the secret itself is never part of a record.
pub async fn identities(store: &dyn IdentityStore) {
    let ns = random_namespace();
    let subject = format!("subject-{}", uuid::Uuid::new_v4().simple());
    let secret = "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Tabcd";
    let rec = subject_record(&subject, &ns, secret);
    assert_ne!(rec.secret_hash, secret);
    assert!(!rec.secret_hash.contains(secret));
    assert_eq!(rec.secret_hash, hash_secret(&rec.salt, secret));
    assert_ne!(rec.secret_hash, hash_secret(&new_salt(), secret), "salted");
    assert_ne!(rec.secret_hash, hash_secret(&rec.salt, "another"));

    assert!(store
        .subject_by_uuid(&rec.identity.uuid)
        .await
        .unwrap()
        .is_none());
    store.put_subject(&rec).await.unwrap();
    assert_eq!(
        store.subject_by_uuid(&rec.identity.uuid).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        store.subject_by_name(&subject).await.unwrap(),
        Some(rec.clone())
    );
    assert!(store
        .subject_by_name(&format!("{subject}-nobody"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .subject_by_uuid(&uuid::Uuid::new_v4())
        .await
        .unwrap()
        .is_none());

    // Replacing the key of the same uuid.
    let salt = new_salt();
    let replaced = SubjectRecord {
        secret_hash: hash_secret(&salt, "new secret"),
        salt,
        ..rec.clone()
    };
    store.put_subject(&replaced).await.unwrap();
    let read = store
        .subject_by_uuid(&rec.identity.uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, replaced);
    assert_ne!(read.secret_hash, rec.secret_hash);
}

/// A successful activation record of `name` in `ns`, started at `start`.
pub fn activation(ns: &EntityName, name_: &str, start: i64, path: Option<&str>) -> Activation {
    let mut annotations = Parameters::default();
    if let Some(p) = path {
        annotations.set("path", json!(p));
    }
    annotations.set("kind", json!("nodejs:18"));
    Activation {
        namespace: EntityPath::namespace_only(ns.clone()),
        name: name(name_),
        subject: "someone".into(),
        activation_id: ActivationId::generate(),
        start,
        end: start + 5,
        duration: None,
        cause: None,
        response: ActivationResponse::success(json!({"start": start}), Some(12)),
        logs: vec!["2024-01-01T00:00:00.000000000Z stdout: hi".into()],
        version: SemVer::default(),
        publish: false,
        annotations,
    }
}

/// `put` is idempotent; `get` and `exists`; namespaces never see each other's records.
pub async fn activation_records(store: &dyn ActivationStore) {
    let ns = random_namespace();
    let other = random_namespace();
    let a = activation(&ns, "hello", 1_000, None);
    assert!(!store.exists(&a.activation_id).await.unwrap());
    assert!(store.put(&a).await.unwrap(), "first put inserts");
    assert!(!store.put(&a).await.unwrap(), "second put is ignored");
    let mut different = a.clone();
    different.response = ActivationResponse::whisk_error("other");
    assert!(!store.put(&different).await.unwrap());
    assert_eq!(
        store.get(&ns, &a.activation_id).await.unwrap(),
        Some(a.clone())
    );
    assert!(store.exists(&a.activation_id).await.unwrap());
    assert!(!store.exists(&ActivationId::generate()).await.unwrap());
    assert!(store
        .get(&ns, &ActivationId::generate())
        .await
        .unwrap()
        .is_none());
    let everything = ActivationQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.count(&ns, &everything).await.unwrap(), 1, "one row");
    assert_eq!(store.list(&ns, &everything).await.unwrap(), vec![a.clone()]);

    // Isolation.
    assert!(store.get(&other, &a.activation_id).await.unwrap().is_none());
    assert!(store.list(&other, &everything).await.unwrap().is_empty());
    assert_eq!(store.count(&other, &everything).await.unwrap(), 0);
}

/// Lists `query` in `ns`, expecting records with these `start`s; returns the count, which
/// ignores skip and limit.
async fn check_activation_list(
    store: &dyn ActivationStore,
    ns: &EntityName,
    query: ActivationQuery,
    want: Vec<i64>,
) -> u64 {
    let got: Vec<i64> = store
        .list(ns, &query)
        .await
        .unwrap()
        .iter()
        .map(|a| a.start)
        .collect();
    assert_eq!(got, want, "list {query:?}");
    let total = store.count(ns, &query).await.unwrap();
    let unpaged = ActivationQuery {
        skip: 0,
        limit: 1000,
        ..query.clone()
    };
    let all = store.list(ns, &unpaged).await.unwrap();
    assert_eq!(total, all.len() as u64, "count {query:?}");
    total
}

/// Activation lists: newest first, name and `pkg/name` filters, since/upto, skip/limit, count.
pub async fn activation_lists(store: &dyn ActivationStore) {
    let ns = random_namespace();
    let other = random_namespace();
    let records = [
        activation(&ns, "hello", 1_000, Some(&format!("{ns}/hello"))),
        activation(&ns, "hello", 2_000, Some(&format!("{ns}/p/hello"))),
        activation(&ns, "other", 3_000, None),
        activation(&ns, "hello", 4_000, Some(&format!("/{ns}/q/hello"))),
        activation(&other, "hello", 2_500, Some(&format!("{other}/p/hello"))),
    ];
    for r in &records {
        assert!(store.put(r).await.unwrap());
    }
    let q = |name: Option<&str>, since, upto, skip, limit| ActivationQuery {
        name: name.map(str::to_owned),
        since,
        upto,
        skip,
        limit,
    };
    let check = |query, want| check_activation_list(store, &ns, query, want);

    check(
        q(None, None, None, 0, 100),
        vec![4_000, 3_000, 2_000, 1_000],
    )
    .await;
    check(
        q(Some("hello"), None, None, 0, 100),
        vec![4_000, 2_000, 1_000],
    )
    .await;
    check(q(Some("p/hello"), None, None, 0, 100), vec![2_000]).await;
    check(q(Some("q/hello"), None, None, 0, 100), vec![4_000]).await;
    check(q(Some("z/hello"), None, None, 0, 100), vec![]).await;
    check(q(Some("nothing"), None, None, 0, 100), vec![]).await;
    check(
        q(None, Some(2_000), None, 0, 100),
        vec![4_000, 3_000, 2_000],
    )
    .await;
    check(
        q(None, None, Some(3_000), 0, 100),
        vec![3_000, 2_000, 1_000],
    )
    .await;
    check(
        q(None, Some(2_000), Some(3_000), 0, 100),
        vec![3_000, 2_000],
    )
    .await;
    check(
        q(Some("hello"), Some(1_001), Some(4_000), 0, 100),
        vec![4_000, 2_000],
    )
    .await;
    // skip and limit page through the list; count ignores them.
    let total = check(q(None, None, None, 1, 2), vec![3_000, 2_000]).await;
    assert_eq!(total, 4);
    check(q(None, None, None, 0, 1), vec![4_000]).await;
    check(q(None, None, None, 3, 10), vec![1_000]).await;
    check(q(Some("hello"), None, None, 1, 1), vec![2_000]).await;

    // The other namespace sees only its own record.
    let theirs = store
        .list(&other, &q(Some("p/hello"), None, None, 0, 100))
        .await
        .unwrap();
    assert_eq!(theirs, vec![records[4].clone()]);
    for r in &records[..4] {
        assert!(store.get(&other, &r.activation_id).await.unwrap().is_none());
    }
}

/// Alarm schedules: put, get, list, replace, claim a tick exactly once, delete.
pub async fn schedules(store: &dyn EntityStore) {
    let ns = random_namespace();
    let t1 = fqn(&ns, None, "t1");
    let t2 = fqn(&ns, None, "t2");
    assert_eq!(
        store.get_schedule(&t1).await.unwrap(),
        None,
        "absent schedule"
    );
    let s1 = crate::Schedule {
        trigger: t1.clone(),
        config: json!({"cron": "* * * * *", "payload": {"a": 1}}),
        last_tick: 1000,
    };
    store.put_schedule(&s1).await.unwrap();
    store
        .put_schedule(&crate::Schedule {
            trigger: t2.clone(),
            config: json!({"date": 5}),
            last_tick: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_schedule(&t1).await.unwrap(),
        Some(s1.clone()),
        "read back"
    );
    let mine: Vec<_> = store
        .list_schedules()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.trigger.namespace() == &ns)
        .map(|s| s.trigger.to_string())
        .collect();
    assert_eq!(
        mine,
        vec![t1.to_string(), t2.to_string()],
        "list in trigger order"
    );

    // Compare-and-set: one claim of a tick wins, a stale one loses.
    assert!(
        store.claim_tick(&t1, 1000, 2000).await.unwrap(),
        "first claim"
    );
    assert!(
        !store.claim_tick(&t1, 1000, 2000).await.unwrap(),
        "second claim of one tick"
    );
    assert!(
        !store.claim_tick(&t1, 1000, 3000).await.unwrap(),
        "stale claim"
    );
    assert_eq!(
        store.get_schedule(&t1).await.unwrap().unwrap().last_tick,
        2000
    );

    // Replacing keeps one schedule per trigger.
    let s1b = crate::Schedule {
        config: json!({"cron": "0 * * * *"}),
        last_tick: 2500,
        ..s1
    };
    store.put_schedule(&s1b).await.unwrap();
    assert_eq!(
        store.get_schedule(&t1).await.unwrap(),
        Some(s1b),
        "replaced"
    );

    assert!(store.delete_schedule(&t1).await.unwrap(), "delete");
    assert!(!store.delete_schedule(&t1).await.unwrap(), "delete again");
    assert!(
        !store.claim_tick(&t1, 2500, 3000).await.unwrap(),
        "claim on a deleted schedule"
    );
    assert!(store.delete_schedule(&t2).await.unwrap());
}

/// Subjects found by the namespace they own.
pub async fn subjects_by_namespace(store: &dyn IdentityStore) {
    let ns = random_namespace();
    let uuid = uuid::Uuid::new_v4();
    let salt = new_salt();
    let record = SubjectRecord {
        identity: Identity {
            subject: format!("s{}", uuid.simple()),
            namespace: ns.clone(),
            uuid,
        },
        secret_hash: hash_secret(&salt, "x"),
        salt,
        blocked: false,
    };
    assert_eq!(store.subject_by_namespace(&ns).await.unwrap(), None);
    store.put_subject(&record).await.unwrap();
    assert_eq!(
        store.subject_by_namespace(&ns).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(store.block_namespace(&ns, true).await.unwrap(), 1);
    assert_eq!(
        store.subject_by_namespace(&ns).await.unwrap(),
        None,
        "a blocked subject owns nothing"
    );
    assert_eq!(store.block_namespace(&ns, false).await.unwrap(), 1);
    assert_eq!(store.subject_by_namespace(&ns).await.unwrap(), Some(record));
}

/// `list_metadata` leaves out an action's code and nothing else; other collections'
/// bodies are as `list` returns them.
pub async fn entity_list_metadata(store: &dyn EntityStore) {
    let ns = random_namespace();
    let code = "x".repeat(100_000);
    let body = json!({
        "name": "big",
        "exec": {"kind": "nodejs:18", "code": code, "binary": false},
        "limits": {"timeout": 60000},
        "annotations": [{"key": "exec", "value": "nodejs:18"}],
    });
    store
        .put(Collection::Actions, &fqn(&ns, None, "big"), body, None)
        .await
        .unwrap();
    store
        .put(
            Collection::Triggers,
            &fqn(&ns, None, "t"),
            json!({"name": "t", "exec": {"code": "kept"}}),
            None,
        )
        .await
        .unwrap();
    let query = ListQuery {
        namespace: ns.clone(),
        package: None,
        skip: 0,
        limit: 10,
    };
    let full = store.list(Collection::Actions, &query).await.unwrap();
    let lean = store
        .list_metadata(Collection::Actions, &query)
        .await
        .unwrap();
    assert_eq!(lean.len(), 1);
    assert!(lean[0].body["exec"].get("code").is_none(), "code was read");
    let mut expected = full[0].clone();
    expected.body["exec"]
        .as_object_mut()
        .unwrap()
        .remove("code");
    assert_eq!(lean[0], expected, "everything but the code is kept");
    let triggers = store
        .list_metadata(Collection::Triggers, &query)
        .await
        .unwrap();
    assert_eq!(triggers[0].body["exec"]["code"], "kept");
}

/// `list_summaries` is `list` without logs and results, with the same filters and order.
pub async fn activation_summaries(store: &dyn ActivationStore) {
    let ns = random_namespace();
    let mut big = activation(&ns, "hello", 2_000, None);
    big.logs = vec!["l".repeat(10_000); 10];
    big.response.result = json!({"payload": "r".repeat(100_000)});
    store.put(&big).await.unwrap();
    store
        .put(&activation(&ns, "other", 1_000, None))
        .await
        .unwrap();
    let query = ActivationQuery {
        limit: 10,
        ..Default::default()
    };
    let full = store.list(&ns, &query).await.unwrap();
    let lean = store.list_summaries(&ns, &query).await.unwrap();
    assert_eq!(lean.len(), 2);
    for (l, f) in lean.iter().zip(&full) {
        let mut expected = f.clone();
        expected.logs = Vec::new();
        expected.response.result = serde_json::Value::Null;
        assert_eq!(l, &expected);
    }
}

/// `purge` deletes by age and by count per namespace, keeps the newest, and reports how
/// many went. Needs a store of its own: it purges every namespace.
pub async fn activation_purge(store: &dyn ActivationStore) {
    let (a, b) = (random_namespace(), random_namespace());
    for start in 1..=10 {
        store
            .put(&activation(&a, "x", start * 1_000, None))
            .await
            .unwrap();
    }
    for start in 1..=3 {
        store
            .put(&activation(&b, "x", start * 1_000, None))
            .await
            .unwrap();
    }
    let starts = |ns: EntityName| async move {
        let q = ActivationQuery {
            limit: 100,
            ..Default::default()
        };
        store
            .list(&ns, &q)
            .await
            .unwrap()
            .iter()
            .map(|r| r.start)
            .collect::<Vec<_>>()
    };
    // By age: everything before 2_500 goes in both namespaces.
    assert_eq!(store.purge(2_500, u64::MAX).await.unwrap(), 4);
    assert_eq!(
        starts(a.clone()).await,
        (3..=10).rev().map(|s| s * 1_000).collect::<Vec<_>>()
    );
    assert_eq!(starts(b.clone()).await, vec![3_000]);
    // By count: the newest 5 stay in each namespace; one with fewer is untouched.
    assert_eq!(store.purge(i64::MIN, 5).await.unwrap(), 3);
    assert_eq!(
        starts(a.clone()).await,
        vec![10_000, 9_000, 8_000, 7_000, 6_000]
    );
    assert_eq!(starts(b.clone()).await, vec![3_000]);
    // Nothing left to purge.
    assert_eq!(store.purge(i64::MIN, 5).await.unwrap(), 0);
    // Ties on `start`: the count still holds exactly.
    for _ in 0..4 {
        store.put(&activation(&b, "x", 3_000, None)).await.unwrap();
    }
    assert_eq!(store.purge(i64::MIN, 2).await.unwrap(), 3 + 3);
    assert_eq!(starts(b).await, vec![3_000, 3_000]);
    assert_eq!(starts(a).await, vec![10_000, 9_000]);
}

/// Subject management (wskadmin's): list, block, delete, Argon2 hashes, and the limits
/// of namespaces.
pub async fn subject_management(store: &dyn IdentityStore) {
    let ns = random_namespace();
    let a = subject_record(&format!("a{}", uuid::Uuid::new_v4().simple()), &ns, "x");
    let b = SubjectRecord {
        salt: String::new(),
        secret_hash: hash_key("y"),
        ..subject_record(&format!("b{}", uuid::Uuid::new_v4().simple()), &ns, "y")
    };
    store.put_subject(&a).await.unwrap();
    store.put_subject(&b).await.unwrap();
    let read = store
        .subject_by_uuid(&b.identity.uuid)
        .await
        .unwrap()
        .expect("b");
    assert!(
        read.secret_hash.starts_with("$argon2id$"),
        "PHC string kept"
    );
    assert!(verify_secret(&read, "y") && !verify_secret(&read, "x"));

    let all = store.list_subjects().await.unwrap();
    let mine: Vec<_> = all
        .iter()
        .filter(|r| r.identity.namespace == ns)
        .cloned()
        .collect();
    assert_eq!(mine, vec![a.clone(), b.clone()], "listed by name");

    assert_eq!(store.block_namespace(&ns, true).await.unwrap(), 2);
    let blocked = store
        .subject_by_uuid(&a.identity.uuid)
        .await
        .unwrap()
        .expect("a");
    assert!(blocked.blocked, "blocked flag read back");
    assert_eq!(
        store
            .block_namespace(&random_namespace(), true)
            .await
            .unwrap(),
        0
    );
    store.block_namespace(&ns, false).await.unwrap();
    assert!(
        !store
            .subject_by_name(&a.identity.subject)
            .await
            .unwrap()
            .expect("a")
            .blocked
    );

    // A legacy hash is replaced only if it is still the one read.
    let argon = hash_key("x");
    assert!(!store
        .rehash_secret(&a.identity.uuid, "not the hash", &argon)
        .await
        .unwrap());
    assert!(store
        .rehash_secret(&a.identity.uuid, &a.secret_hash, &argon)
        .await
        .unwrap());
    let rehashed = store
        .subject_by_uuid(&a.identity.uuid)
        .await
        .unwrap()
        .expect("a");
    assert_eq!(rehashed.secret_hash, argon);
    assert!(rehashed.salt.is_empty() && verify_secret(&rehashed, "x"));

    assert!(store.delete_subject(&a.identity.subject).await.unwrap());
    assert!(!store.delete_subject(&a.identity.subject).await.unwrap());
    assert_eq!(store.subject_by_uuid(&a.identity.uuid).await.unwrap(), None);
    assert!(store
        .subject_by_uuid(&b.identity.uuid)
        .await
        .unwrap()
        .is_some());

    assert_eq!(store.namespace_limits(&ns).await.unwrap(), None);
    let limits = LimitOverrides {
        invocations_per_minute: Some(5),
        concurrent_invocations: Some(0),
        fires_per_minute: None,
        allowed_kinds: Some(vec!["nodejs:18".into()]),
        store_activations: Some(false),
    };
    store.put_namespace_limits(&ns, &limits).await.unwrap();
    assert_eq!(
        store.namespace_limits(&ns).await.unwrap(),
        Some(limits.clone())
    );
    let changed = LimitOverrides {
        fires_per_minute: Some(7),
        ..LimitOverrides::default()
    };
    store.put_namespace_limits(&ns, &changed).await.unwrap();
    assert_eq!(store.namespace_limits(&ns).await.unwrap(), Some(changed));
    assert!(store.delete_namespace_limits(&ns).await.unwrap());
    assert!(!store.delete_namespace_limits(&ns).await.unwrap());
    assert_eq!(store.namespace_limits(&ns).await.unwrap(), None);
}

/// Text a backend could mangle comes back as written: NUL characters (JSON `\u0000`, which
/// PostgreSQL's `jsonb` refuses), non-ASCII, quotes and backslashes, in an entity body and
/// in an activation's logs and result, and as action code kept by digest.
pub async fn awkward_text(store: &(impl EntityStore + ActivationStore + CodeStore)) {
    let ns = random_namespace();
    let text =
        "nul:\u{0} quote:\" backslash:\\ snowman:\u{2603} emoji:\u{1F600} sql:'; DROP TABLE x;--";
    let f = fqn(&ns, None, "awkward");
    let body = json!({"exec": {"kind": "nodejs:18", "code": text}, "annotations": [{"key": text, "value": text}]});
    let doc = EntityStore::put(store, Collection::Actions, &f, body, None)
        .await
        .unwrap();
    assert_eq!(
        EntityStore::get(store, Collection::Actions, &f)
            .await
            .unwrap(),
        Some(doc.clone())
    );
    assert_eq!(doc.body["exec"]["code"], text);
    assert_eq!(
        store.get_code(&code_digest(text)).await.unwrap().as_deref(),
        Some(text),
        "the code kept by digest"
    );
    let mut a = activation(&ns, "awkward", 1_000, None);
    a.logs = vec![text.to_owned()];
    a.response.result = json!({ text: text });
    assert!(ActivationStore::put(store, &a).await.unwrap());
    assert_eq!(
        ActivationStore::get(store, &ns, &a.activation_id)
            .await
            .unwrap(),
        Some(a)
    );
}

// === compositions ===

/// Running compositions: put, replace, list by controller (oldest first), delete.
pub async fn compositions(store: &dyn ActivationStore) {
    use crate::RunningComposition;

    let ns = random_namespace();
    let me = format!("c{}", uuid::Uuid::new_v4().simple());
    let other = format!("c{}", uuid::Uuid::new_v4().simple());
    assert!(store.list_compositions(&me).await.unwrap().is_empty());

    let mut first = RunningComposition {
        controller: me.clone(),
        record: activation(&ns, "seq", 1_000, None),
    };
    store.put_composition(&first).await.unwrap();
    tick().await;
    let second = RunningComposition {
        controller: me.clone(),
        record: activation(&ns, "cond", 2_000, None),
    };
    store.put_composition(&second).await.unwrap();
    let theirs = RunningComposition {
        controller: other.clone(),
        record: activation(&ns, "seq", 3_000, None),
    };
    store.put_composition(&theirs).await.unwrap();
    assert_eq!(
        store.list_compositions(&me).await.unwrap(),
        vec![first.clone(), second.clone()],
        "a controller's rows, oldest first"
    );
    assert_eq!(
        store.list_compositions(&other).await.unwrap(),
        vec![theirs.clone()]
    );

    // Progress replaces the row and keeps its place.
    first.record.logs = vec![ActivationId::generate().to_string()];
    store.put_composition(&first).await.unwrap();
    assert_eq!(
        store.list_compositions(&me).await.unwrap(),
        vec![first.clone(), second.clone()],
        "put replaces the row in place"
    );

    assert!(store
        .delete_composition(&first.record.activation_id)
        .await
        .unwrap());
    assert!(
        !store
            .delete_composition(&first.record.activation_id)
            .await
            .unwrap(),
        "a second delete finds nothing"
    );
    assert_eq!(
        store.list_compositions(&me).await.unwrap(),
        vec![second.clone()]
    );
    assert!(store
        .delete_composition(&second.record.activation_id)
        .await
        .unwrap());
    assert!(store.list_compositions(&me).await.unwrap().is_empty());
    assert!(
        store
            .get(&ns, &first.record.activation_id)
            .await
            .unwrap()
            .is_none(),
        "a composition row is not an activation record"
    );
    assert!(store
        .delete_composition(&theirs.record.activation_id)
        .await
        .unwrap());
}

/// Action code is kept by digest with every action write; code an update or delete lets
/// go stays readable (queued invocations still need it) until it is collected, and code
/// another action still holds is never collected. `entities` and `code` are the same store.
pub async fn code_by_digest(entities: &dyn EntityStore, code: &dyn CodeStore) {
    let ns = random_namespace();
    let v1 = format!("function main() {{ return {{v: 1, ns: '{ns}'}} }}");
    let v2 = format!("function main() {{ return {{v: 2, ns: '{ns}'}} }}");
    let zip = format!("UEsDBBQ{ns}");
    let body = |code: &str| json!({"exec": {"kind": "nodejs:18", "code": code}});
    assert_eq!(code.get_code(&code_digest(&v1)).await.unwrap(), None);

    let a = fqn(&ns, None, "a");
    let created = entities
        .put(Collection::Actions, &a, body(&v1), None)
        .await
        .unwrap();
    assert_eq!(
        code.get_code(&code_digest(&v1)).await.unwrap().as_deref(),
        Some(v1.as_str()),
        "put keeps the code by digest"
    );
    // A second action with the same code shares the blob.
    let b = fqn(&ns, Some("pkg"), "b");
    let b_doc = entities
        .put(Collection::Actions, &b, body(&v1), None)
        .await
        .unwrap();
    // A blackbox action with code (a zip) is kept too.
    let c = fqn(&ns, None, "c");
    let c_doc = entities
        .put(
            Collection::Actions,
            &c,
            json!({"exec": {"kind": "blackbox", "image": "x/y", "code": zip}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        code.get_code(&code_digest(&zip)).await.unwrap().as_deref(),
        Some(zip.as_str())
    );

    // Update a to v2: both versions readable (v1 is still held by b anyway).
    let updated = entities
        .put(Collection::Actions, &a, body(&v2), Some(created.revision))
        .await
        .unwrap();
    for v in [&v1, &v2] {
        assert_eq!(
            code.get_code(&code_digest(v)).await.unwrap().as_deref(),
            Some(v.as_str())
        );
    }
    // Delete b: v1 is released but still readable until collected.
    assert!(entities
        .delete(Collection::Actions, &b, b_doc.revision)
        .await
        .unwrap());
    assert_eq!(
        code.get_code(&code_digest(&v1)).await.unwrap().as_deref(),
        Some(v1.as_str()),
        "released code stays for queued invocations"
    );
    tick().await;
    code.collect_code(now_millis() + 1).await.unwrap();
    assert_eq!(
        code.get_code(&code_digest(&v1)).await.unwrap(),
        None,
        "released code is collected"
    );
    assert!(
        code.get_code(&code_digest(&v2)).await.unwrap().is_some(),
        "held code is never collected"
    );
    assert!(code.get_code(&code_digest(&zip)).await.unwrap().is_some());

    // Writing the code again holds it again.
    let a2 = entities
        .put(Collection::Actions, &a, body(&v1), Some(updated.revision))
        .await
        .unwrap();
    tick().await;
    code.collect_code(now_millis() + 1).await.unwrap();
    assert!(code.get_code(&code_digest(&v1)).await.unwrap().is_some());
    assert!(code.get_code(&code_digest(&v2)).await.unwrap().is_none());

    for (f, rev) in [(&a, a2.revision), (&c, c_doc.revision)] {
        assert!(entities.delete(Collection::Actions, f, rev).await.unwrap());
    }
}

// === the tests of a backend ===

/// Writes one `#[tokio::test]` per contract function for a backend, in the module where it
/// is invoked. `$store` is an expression giving a future of `(guard, store)`: a fresh store
/// of its own (the purge clears every namespace), and a guard kept for the test's length
/// (a server, a temporary directory; `()` when nothing needs keeping).
///
/// ```text
/// mod contract {
///     whisk_store::contract_tests!(async { ((), SqliteStore::temporary().unwrap()) });
/// }
/// ```
#[macro_export]
macro_rules! contract_tests {
    ($store:expr) => {
        $crate::contract_tests!(@each $store;
            entity_lifecycle, entity_lists, entity_list_metadata, schedules,
            identities, subjects_by_namespace, subject_management,
            activation_records, activation_lists, activation_summaries, activation_purge,
            compositions, awkward_text);

        #[tokio::test]
        async fn code_by_digest() {
            let (_guard, store) = $store.await;
            $crate::contract::code_by_digest(&store, &store).await;
        }

        /// The contract (all but what clears the whole store) from concurrent tasks on one store.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrently_on_one_store() {
            let (_guard, store) = $store.await;
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..3 {
                let s = store.clone();
                tasks.spawn(async move {
                    $crate::contract::entity_lifecycle(&s).await;
                    $crate::contract::entity_lists(&s).await;
                    $crate::contract::identities(&s).await;
                    $crate::contract::activation_records(&s).await;
                    $crate::contract::activation_lists(&s).await;
                    $crate::contract::schedules(&s).await;
                    $crate::contract::subjects_by_namespace(&s).await;
                    $crate::contract::subject_management(&s).await;
                    $crate::contract::entity_list_metadata(&s).await;
                    $crate::contract::activation_summaries(&s).await;
                    $crate::contract::compositions(&s).await;
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap();
            }
        }
    };
    (@each $store:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (_guard, store) = $store.await;
                $crate::contract::$name(&store).await;
            }
        )*
    };
}
