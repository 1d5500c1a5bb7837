//! The store contract, and what only a server brings (migrations racing at start, the
//! server going away), against the PostgreSQL backend on a real server the test starts
//! (`whisk_store::testing::TestPostgres`). The SQLite backend runs the same contract in
//! its unit tests (`sqlite::tests::contract_suite`).

use std::time::Duration;

use serde_json::json;
use whisk_store::testing::TestPostgres;
use whisk_store::{
    contract, ActivationStore, Collection, EntityStore, IdentityStore, PostgresOptions,
    PostgresStore, StoreError,
};
use whisk_types::FullyQualifiedName;

/// A store on a fresh database of the shared server.
async fn store() -> (TestPostgres, PostgresStore) {
    let pg = TestPostgres::shared().await;
    let store = PostgresStore::connect(&pg.url()).await.expect("connect");
    (pg, store)
}

mod contract_suite {
    whisk_store::contract_tests!(super::store());
}

/// Several processes starting at once against an empty database: the migration runs once,
/// nobody fails, and all see one schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_migrate_once() {
    let pg = TestPostgres::shared().await;
    let url = pg.url();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.spawn(async move { PostgresStore::connect(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(r) = tasks.join_next().await {
        stores.push(r.unwrap().expect("every concurrent connect succeeds"));
    }
    // One store's write is every other's read.
    let ns = contract::random_namespace();
    let act = contract::activation(&ns, "a", 1, None);
    assert!(ActivationStore::put(&stores[0], &act).await.unwrap());
    for s in &stores[1..] {
        assert!(ActivationStore::exists(s, &act.activation_id)
            .await
            .unwrap());
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT version FROM schema_version WHERE component = 'store'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), 1);
}

/// A database with a newer schema than this build is refused, not written to.
#[tokio::test]
async fn a_newer_schema_is_refused() {
    let pg = TestPostgres::shared().await;
    drop(PostgresStore::connect(&pg.url()).await.unwrap());
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE schema_version SET version = 99 WHERE component = 'store'",
            &[],
        )
        .await
        .unwrap();
    let err = PostgresStore::connect(&pg.url()).await.unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

/// Data written by one store is there for a new one (as after a process restart).
#[tokio::test]
async fn a_second_store_reads_what_the_first_wrote() {
    let pg = TestPostgres::shared().await;
    let ns = contract::random_namespace();
    let f = FullyQualifiedName::parse(&format!("{ns}/pkg/a")).unwrap();
    let rec = contract::subject_record(&format!("s{ns}"), &ns, "secret");
    let doc = {
        let store = PostgresStore::connect(&pg.url()).await.unwrap();
        store.put_subject(&rec).await.unwrap();
        EntityStore::put(&store, Collection::Actions, &f, json!({"x": 1}), None)
            .await
            .unwrap()
    };
    let store = PostgresStore::connect(&pg.url()).await.unwrap();
    assert_eq!(
        EntityStore::get(&store, Collection::Actions, &f)
            .await
            .unwrap(),
        Some(doc.clone())
    );
    assert_eq!(
        store.subject_by_name(&rec.identity.subject).await.unwrap(),
        Some(rec)
    );
    let next = EntityStore::put(
        &store,
        Collection::Actions,
        &f,
        json!({"x": 2}),
        Some(doc.revision),
    )
    .await
    .unwrap();
    assert!(next.updated > doc.updated && next.revision == doc.revision + 1);
}

/// An unreachable server is a `Backend` error at connect, within the timeouts.
#[tokio::test]
async fn an_unreachable_server_is_a_backend_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = PostgresOptions {
        connect_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    assert!(matches!(
        PostgresStore::connect_with(&url, options).await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        PostgresStore::connect("not a url ://").await,
        Err(StoreError::Backend(_))
    ));
}

/// The server restarts under a store in use: calls while it is down fail with `Backend`
/// (no panic, no hang), and the store works again once it is back, with its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_recovers_after_a_server_restart() {
    let pg = TestPostgres::new().await;
    let options = PostgresOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect_with(&pg.url(), options)
        .await
        .unwrap();
    let ns = contract::random_namespace();
    // Fill the pool with connections that the restart will cut.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (s, ns) = (store.clone(), ns.clone());
        tasks.spawn(async move {
            ActivationStore::put(&s, &contract::activation(&ns, "before", i, None)).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        assert!(r.unwrap().unwrap());
    }

    pg.stop().await;
    let down = ActivationStore::put(&store, &contract::activation(&ns, "during", 100, None)).await;
    assert!(matches!(down, Err(StoreError::Backend(_))), "{down:?}");
    let down = EntityStore::list_schedules(&store).await;
    assert!(matches!(down, Err(StoreError::Backend(_))), "{down:?}");

    pg.start().await;
    // The first calls may still meet connections cut by the restart; within a bounded
    // number of tries (each fails fast) the store works again.
    let mut recovered = false;
    for _ in 0..20 {
        if ActivationStore::put(&store, &contract::activation(&ns, "after", 200, None))
            .await
            .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store did not recover after the restart");
    let all = whisk_store::ActivationQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ActivationStore::count(&store, &ns, &all).await.unwrap(),
        9,
        "8 before, 1 after"
    );
    // Every pooled connection works again.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (s, ns) = (store.clone(), ns.clone());
        let all = all.clone();
        tasks.spawn(async move { ActivationStore::count(&s, &ns, &all).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), 9);
    }
}

/// Two stores (two controllers) claiming one alarm tick: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tick_is_claimed_once_across_stores() {
    let pg = TestPostgres::shared().await;
    let a = PostgresStore::connect(&pg.url()).await.unwrap();
    let b = PostgresStore::connect(&pg.url()).await.unwrap();
    let ns = contract::random_namespace();
    let t = FullyQualifiedName::parse(&format!("{ns}/t")).unwrap();
    a.put_schedule(&whisk_store::Schedule {
        trigger: t.clone(),
        config: json!({}),
        last_tick: 0,
    })
    .await
    .unwrap();
    for tick in 1..=20 {
        let (ra, rb) = tokio::join!(
            a.claim_tick(&t, tick - 1, tick),
            b.claim_tick(&t, tick - 1, tick)
        );
        assert!(ra.unwrap() ^ rb.unwrap(), "tick {tick} claimed once");
    }
}

/// Concurrent creates of one name from two stores: one succeeds, the other is told it
/// exists; concurrent updates of one revision: one wins, the other conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_one_name() {
    let pg = TestPostgres::shared().await;
    let a = PostgresStore::connect(&pg.url()).await.unwrap();
    let b = PostgresStore::connect(&pg.url()).await.unwrap();
    let ns = contract::random_namespace();
    for i in 0..10 {
        let f = FullyQualifiedName::parse(&format!("{ns}/n{i}")).unwrap();
        let (ra, rb) = tokio::join!(
            EntityStore::put(&a, Collection::Actions, &f, json!({"by": "a"}), None),
            EntityStore::put(&b, Collection::Actions, &f, json!({"by": "b"}), None)
        );
        let (created, refused) = match (ra, rb) {
            (Ok(d), Err(e)) | (Err(e), Ok(d)) => (d, e),
            other => panic!("one create wins: {other:?}"),
        };
        assert!(matches!(refused, StoreError::AlreadyExists), "{refused:?}");
        let (ra, rb) = tokio::join!(
            EntityStore::put(
                &a,
                Collection::Actions,
                &f,
                json!({"v": 2}),
                Some(created.revision)
            ),
            EntityStore::put(
                &b,
                Collection::Actions,
                &f,
                json!({"v": 3}),
                Some(created.revision)
            )
        );
        match (ra, rb) {
            (Ok(_), Err(StoreError::Conflict)) | (Err(StoreError::Conflict), Ok(_)) => {}
            other => panic!("one update wins: {other:?}"),
        }
    }
}

/// Many concurrent calls on a store with a small pool all succeed, and the server never sees
/// more connections from it than the pool's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_bounds_the_connections() {
    let pg = TestPostgres::shared().await;
    let options = PostgresOptions {
        max_connections: 2,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect_with(&pg.url(), options)
        .await
        .unwrap();
    let (admin, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let ns = contract::random_namespace();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (s, ns) = (store.clone(), ns.clone());
        tasks.spawn(async move {
            ActivationStore::put(&s, &contract::activation(&ns, "x", i, None)).await
        });
    }
    let mut most = 0;
    while !tasks.is_empty() {
        let row = admin
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'rwhisk'",
                &[],
            )
            .await
            .unwrap();
        most = most.max(row.get::<_, i64>(0));
        if let Some(r) = tasks.try_join_next() {
            assert!(r.unwrap().unwrap());
        } else {
            tokio::task::yield_now().await;
        }
    }
    assert!((1..=2).contains(&most), "{most} connections seen");
    let all = whisk_store::ActivationQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(ActivationStore::count(&store, &ns, &all).await.unwrap(), 40);
}

/// Two actions swapping their code from two stores at once touch the same code rows (one
/// holds what the other releases). Every write succeeds, without waiting on the server's
/// deadlock detection: the rows are locked in digest order (and a deadlock the server did
/// break would be retried). Both codes stay readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_action_writes_swapping_code_all_succeed() {
    use whisk_store::CodeStore;

    let pg = TestPostgres::shared().await;
    let a = PostgresStore::connect(&pg.url()).await.unwrap();
    let b = PostgresStore::connect(&pg.url()).await.unwrap();
    let ns = contract::random_namespace();
    let (v1, v2) = (format!("one {ns}"), format!("two {ns}"));
    let body = |code: &str| json!({"exec": {"kind": "nodejs:18", "code": code}});
    let fa = FullyQualifiedName::parse(&format!("{ns}/a")).unwrap();
    let fb = FullyQualifiedName::parse(&format!("{ns}/b")).unwrap();
    let mut ra = EntityStore::put(&a, Collection::Actions, &fa, body(&v1), None)
        .await
        .unwrap()
        .revision;
    let mut rb = EntityStore::put(&b, Collection::Actions, &fb, body(&v2), None)
        .await
        .unwrap()
        .revision;
    for round in 0..30 {
        let (ca, cb) = if round % 2 == 0 {
            (&v2, &v1)
        } else {
            (&v1, &v2)
        };
        let (da, db) = tokio::join!(
            EntityStore::put(&a, Collection::Actions, &fa, body(ca), Some(ra)),
            EntityStore::put(&b, Collection::Actions, &fb, body(cb), Some(rb)),
        );
        ra = da
            .unwrap_or_else(|e| panic!("round {round}, a: {e}"))
            .revision;
        rb = db
            .unwrap_or_else(|e| panic!("round {round}, b: {e}"))
            .revision;
    }
    for v in [&v1, &v2] {
        let digest = whisk_types::code_digest(v);
        assert_eq!(
            a.get_code(&digest).await.unwrap().as_deref(),
            Some(v.as_str())
        );
    }
}

/// Two controllers purging at once: neither fails or waits on the other, and together
/// they delete each record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_purges_delete_each_record_once() {
    let pg = TestPostgres::shared().await;
    let a = PostgresStore::connect(&pg.url()).await.unwrap();
    let b = PostgresStore::connect(&pg.url()).await.unwrap();
    let namespaces: Vec<_> = (0..3).map(|_| contract::random_namespace()).collect();
    for ns in &namespaces {
        for start in 0..300 {
            ActivationStore::put(&a, &contract::activation(ns, "x", start, None))
                .await
                .unwrap();
        }
    }
    // By age (start < 100) and then by count (keep the newest 50 of each namespace).
    let (da, db) = tokio::join!(a.purge(100, 50), b.purge(100, 50));
    let (da, db) = (da.unwrap(), db.unwrap());
    let rest = a.purge(100, 50).await.unwrap();
    assert_eq!(da + db + rest, 3 * 250, "{da} + {db} + {rest}");
    let all = whisk_store::ActivationQuery {
        limit: 1000,
        ..Default::default()
    };
    for ns in &namespaces {
        let starts: Vec<i64> = ActivationStore::list(&b, ns, &all)
            .await
            .unwrap()
            .iter()
            .map(|r| r.start)
            .collect();
        assert_eq!(starts, (250..300).rev().collect::<Vec<_>>());
    }
}
