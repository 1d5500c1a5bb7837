//! The pool's logic over a factory that only counts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures_util::StreamExt;

use super::stem::REFILL_HOLD;
use super::*;
use crate::factory::ContainerHandle;
use crate::logs::LogLines;

/// A factory that only counts: the pool's logic is under test, not an engine.
#[derive(Debug, Default)]
struct CountingFactory {
    created: AtomicUsize,
    destroyed: Mutex<Vec<String>>,
    /// Every create call fails: the image is missing.
    fail_create: bool,
    /// This many create calls fail with an engine error first.
    engine_failures: AtomicUsize,
    /// Create calls, failed ones included.
    attempts: AtomicUsize,
    /// Names of the containers created.
    names: Mutex<Vec<String>>,
    /// Whether it pauses at all (else `Unsupported`, as the trait's default).
    can_pause: bool,
    /// Pause and resume calls that succeeded, by container id, in order.
    paused: Mutex<Vec<String>>,
    resumed: Mutex<Vec<String>>,
    /// Attempts (failed ones included).
    pause_attempts: AtomicUsize,
    /// Every pause, or every resume, fails.
    fail_pause: std::sync::atomic::AtomicBool,
    fail_resume: std::sync::atomic::AtomicBool,
    /// When set, a pause waits for a permit here before it ends.
    pause_gate: Option<Arc<tokio::sync::Semaphore>>,
}

#[async_trait]
impl ContainerFactory for CountingFactory {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.fail_create {
            return Err(FactoryError::ImageUnavailable(spec.image.clone()));
        }
        if self
            .engine_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(FactoryError::Engine("busy".into()));
        }
        self.names.lock().unwrap().push(spec.name.clone());
        let n = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(ContainerHandle {
            id: format!("c{n}"),
            addr: SocketAddr::from(([127, 0, 0, 1], 9)),
            token: format!("token{n}"),
            netns_pid: None,
        })
    }
    async fn destroy(&self, id: &str) -> Result<(), FactoryError> {
        self.destroyed.lock().unwrap().push(id.to_owned());
        Ok(())
    }
    async fn remove_labelled(&self, _: &str, _: &str) -> Result<usize, FactoryError> {
        Ok(0)
    }
    async fn pause(&self, id: &str) -> Result<(), FactoryError> {
        if !self.can_pause {
            return Err(FactoryError::Unsupported("no".into()));
        }
        self.pause_attempts.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.pause_gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.fail_pause.load(Ordering::SeqCst) {
            return Err(FactoryError::Engine("cannot freeze".into()));
        }
        self.paused.lock().unwrap().push(id.to_owned());
        Ok(())
    }
    async fn resume(&self, id: &str) -> Result<(), FactoryError> {
        if self.fail_resume.load(Ordering::SeqCst) {
            return Err(FactoryError::Engine("cannot thaw".into()));
        }
        self.resumed.lock().unwrap().push(id.to_owned());
        Ok(())
    }
    fn logs(&self, _: &str) -> LogLines {
        futures_util::stream::pending().boxed()
    }
}

impl CountingFactory {
    fn destroyed(&self) -> Vec<String> {
        let mut d = self.destroyed.lock().unwrap().clone();
        d.sort();
        d
    }
}

fn pool(capacity_mb: u64) -> (Arc<Pool>, Arc<CountingFactory>) {
    let factory = Arc::new(CountingFactory::default());
    let pool = Pool::new(
        factory.clone(),
        "7".into(),
        capacity_mb,
        Duration::from_secs(60),
        vec![],
    );
    (pool, factory)
}

/// The key of action `guest/<action>` at revision `rev`, a number that is also the
/// version's `updated`, invoked by namespace `guest`.
fn key(action: &str, rev: &str, memory_mb: u64) -> ContainerKey {
    ContainerKey {
        fqn: FullyQualifiedName::parse(&format!("guest/{action}")).unwrap(),
        revision: format!("guest/{action}@{rev}").into(),
        namespace: EntityName::new("guest").unwrap(),
        updated: rev.parse().unwrap(),
        memory_mb,
        concurrency: 1,
    }
}

fn spec() -> ContainerSpec {
    ContainerSpec {
        name: "n".into(),
        kind: "blackbox".into(),
        image: "img".into(),
        memory_mb: 128,
        pids_limit: 10,
        cpu_shares: 2,
        env: vec![],
        labels: vec![],
    }
}

/// Acquires for `key` and starts a container when the lease is cold.
async fn get(pool: &Arc<Pool>, key: &ContainerKey) -> (Busy, bool) {
    match pool.acquire(key, None).await.unwrap() {
        Lease::Warm(b) => (b, false),
        Lease::Prewarmed(_) => panic!("no stem cells here"),
        Lease::Cold(r) => (r.start(&spec(), key.clone()).await.unwrap(), true),
    }
}

/// Lets spawned removals run.
async fn settle(pool: &Arc<Pool>) {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let _ = pool;
}

#[tokio::test]
async fn another_namespace_never_gets_a_warm_container() {
    let (pool, factory) = pool(1024);
    let guest = key("a", "1", 128);
    let (busy, _) = get(&pool, &guest).await;
    let id = busy.id().to_owned();
    busy.release();
    // The same revision of a shared action, invoked by another namespace: a container of
    // its own.
    let other = ContainerKey {
        namespace: EntityName::new("other").unwrap(),
        ..guest.clone()
    };
    let (theirs, cold) = get(&pool, &other).await;
    assert!(cold);
    assert_ne!(theirs.id(), id);
    theirs.release();
    // Each namespace keeps reusing its own.
    let (mine, cold) = get(&pool, &guest).await;
    assert!(!cold);
    assert_eq!(mine.id(), id);
    mine.release();
    let (theirs_again, cold) = get(&pool, &other).await;
    assert!(!cold);
    assert_ne!(theirs_again.id(), id);
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn same_revision_reuses_the_container() {
    let (pool, factory) = pool(1024);
    let a = key("a", "1", 128);
    let (busy, cold) = get(&pool, &a).await;
    assert!(cold);
    let id = busy.id().to_owned();
    busy.release();
    let (busy, cold) = get(&pool, &a).await;
    assert!(!cold);
    assert_eq!(busy.id(), id);
    assert_eq!(pool.used_mb(), 128);
    busy.release();
    // Another revision of the same action does not reuse it.
    let (other, cold) = get(&pool, &key("a", "2", 128)).await;
    assert!(cold);
    assert_ne!(other.id(), id);
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
    assert_eq!(pool.used_mb(), 256);
}

#[tokio::test]
async fn a_busy_container_is_not_shared() {
    let (pool, _) = pool(1024);
    let a = key("a", "1", 128);
    let (first, _) = get(&pool, &a).await;
    let (second, cold) = get(&pool, &a).await;
    assert!(cold);
    assert_ne!(first.id(), second.id());
}

#[tokio::test]
async fn beyond_capacity_callers_wait_for_a_release() {
    let (pool, factory) = pool(256);
    let a = key("a", "1", 128);
    let (one, _) = get(&pool, &a).await;
    let (two, _) = get(&pool, &a).await;
    let waiting = tokio::spawn({
        let pool = pool.clone();
        let a = a.clone();
        async move { get(&pool, &a).await }
    });
    settle(&pool).await;
    assert!(!waiting.is_finished());
    let id = one.id().to_owned();
    one.release();
    let (three, cold) = waiting.await.unwrap();
    assert!(!cold, "the released container is handed over");
    assert_eq!(three.id(), id);
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
    drop((two, three));
}

#[tokio::test]
async fn idle_containers_of_other_actions_are_evicted_lru_first() {
    let (pool, factory) = pool(256);
    let (a, _) = get(&pool, &key("a", "1", 128)).await;
    let (b, _) = get(&pool, &key("b", "1", 128)).await;
    let (a_id, b_id) = (a.id().to_owned(), b.id().to_owned());
    a.release();
    tokio::time::sleep(Duration::from_millis(5)).await;
    b.release();
    let (c, cold) = get(&pool, &key("c", "1", 128)).await;
    assert!(cold);
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![a_id]);
    assert_eq!(pool.idle_count(), 1);
    assert_eq!(pool.used_mb(), 256);
    // b is still warm.
    c.release();
    let (b2, cold) = get(&pool, &key("b", "1", 128)).await;
    assert!(!cold);
    assert_eq!(b2.id(), b_id);
}

#[tokio::test]
async fn waiters_for_memory_are_served_in_order() {
    let (pool, _) = pool(128);
    let (a, _) = get(&pool, &key("a", "1", 128)).await;
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { get(&pool, &key("b", "1", 128)).await }
    });
    settle(&pool).await;
    let second = tokio::spawn({
        let pool = pool.clone();
        async move { get(&pool, &key("c", "1", 128)).await }
    });
    settle(&pool).await;
    a.release(); // idle a is evicted for the first waiter, b
    let (b, cold) = first.await.unwrap();
    assert!(cold);
    settle(&pool).await;
    assert!(!second.is_finished());
    drop(b); // dropped without release: removed, memory back
    let (c, cold) = second.await.unwrap();
    assert!(cold);
    assert_eq!(pool.used_mb(), 128);
    drop(c);
}

#[tokio::test]
async fn a_cancelled_waiter_loses_nothing() {
    let (pool, _) = pool(128);
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    let waiting = tokio::spawn({
        let pool = pool.clone();
        let a = a.clone();
        async move { get(&pool, &a).await }
    });
    settle(&pool).await;
    waiting.abort();
    let _ = waiting.await;
    busy.release();
    assert_eq!(pool.idle_count(), 1);
    let (again, cold) = get(&pool, &a).await;
    assert!(!cold);
    assert_eq!(again.id(), id);
}

#[tokio::test]
async fn failed_start_and_unused_reservation_return_memory() {
    let factory = Arc::new(CountingFactory {
        fail_create: true,
        ..Default::default()
    });
    let pool = Pool::new(factory, "7".into(), 128, Duration::from_secs(60), vec![]);
    let a = key("a", "1", 128);
    let Lease::Cold(r) = pool.acquire(&a, None).await.unwrap() else {
        panic!("cold expected");
    };
    assert_eq!(pool.used_mb(), 128);
    assert_eq!(
        r.start(&spec(), a.clone()).await.unwrap_err(),
        FactoryError::ImageUnavailable("img".into())
    );
    assert_eq!(pool.used_mb(), 0);
    let lease = pool.acquire(&a, None).await.unwrap();
    assert_eq!(pool.used_mb(), 128);
    drop(lease);
    assert_eq!(pool.used_mb(), 0);
    assert_eq!(
        pool.acquire(&key("a", "1", 256), None).await.unwrap_err(),
        PoolError::TooLarge {
            need: 256,
            capacity: 128
        }
    );
}

#[tokio::test]
async fn discarded_containers_are_removed() {
    let (pool, factory) = pool(1024);
    let (busy, _) = get(&pool, &key("a", "1", 128)).await;
    let id = busy.id().to_owned();
    let logs = busy.discard();
    assert!(logs.is_some());
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![id]);
    assert_eq!(pool.used_mb(), 0);
    assert_eq!(pool.idle_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_containers_are_reaped_after_the_timeout() {
    let (pool, factory) = pool(1024);
    let stop = CancellationToken::new();
    let reaper = tokio::spawn(pool.clone().run_reaper(stop.clone()));
    let (a, _) = get(&pool, &key("a", "1", 128)).await;
    let (b, _) = get(&pool, &key("b", "1", 128)).await;
    let a_id = a.id().to_owned();
    a.release();
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert_eq!(pool.idle_count(), 1, "not yet expired");
    // b is used again after 50 s: its idle time starts now.
    b.release();
    tokio::time::sleep(Duration::from_secs(30)).await;
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![a_id]);
    assert_eq!(pool.idle_count(), 1);
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle(&pool).await;
    assert_eq!(pool.idle_count(), 0);
    assert_eq!(pool.used_mb(), 0);
    stop.cancel();
    reaper.await.unwrap();
}

#[tokio::test]
async fn retire_removes_idle_now_and_busy_on_release() {
    let (pool, factory) = pool(1024);
    let a1 = key("a", "1", 128);
    let (other, _) = get(&pool, &key("b", "1", 128)).await;
    let (idle, _) = get(&pool, &a1).await;
    // The most recently created container is retired too.
    let (busy, _) = get(&pool, &a1).await;
    let (idle_id, busy_id) = (idle.id().to_owned(), busy.id().to_owned());
    idle.release();
    other.release();
    assert_eq!(pool.retire(&a1.fqn, None), 1);
    busy.release();
    settle(&pool).await;
    assert_eq!(factory.destroyed(), {
        let mut v = vec![idle_id, busy_id];
        v.sort();
        v
    });
    assert_eq!(pool.idle_count(), 1, "the other action stays");
    // A container started after the retirement is kept.
    let (fresh, cold) = get(&pool, &key("a", "2", 128)).await;
    assert!(cold);
    fresh.release();
    assert_eq!(pool.idle_count(), 2);
    assert_eq!(pool.used_mb(), 256);
}

#[tokio::test]
async fn a_late_notice_of_a_write_keeps_that_versions_containers() {
    let (pool, factory) = pool(1024);
    let (old_idle, _) = get(&pool, &key("a", "4", 128)).await;
    let old_id = old_idle.id().to_owned();
    old_idle.release();
    // Version 5 was written, and an invoke of it started before the notice arrived.
    let (new_busy, _) = get(&pool, &key("a", "5", 128)).await;
    let (new_idle, _) = get(&pool, &key("a", "5", 128)).await;
    new_idle.release();
    assert_eq!(
        pool.retire(&key("a", "5", 128).fqn, Some(5)),
        1,
        "only version 4"
    );
    new_busy.release();
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![old_id]);
    assert_eq!(pool.idle_count(), 2);
    let (again, cold) = get(&pool, &key("a", "5", 128)).await;
    assert!(!cold, "version 5 is still warm");
    // A delete (bound past version 5) takes them all, busy ones when given back.
    assert_eq!(pool.retire(&key("a", "5", 128).fqn, Some(6)), 1);
    again.release();
    settle(&pool).await;
    assert_eq!(pool.idle_count(), 0);
    assert_eq!(pool.used_mb(), 0);
}

#[tokio::test]
async fn retirements_are_forgotten_once_no_older_container_lives() {
    let (pool, _) = pool(1024);
    let a = key("a", "1", 128);
    let (old, _) = get(&pool, &a).await;
    pool.retire(&a.fqn, None);
    pool.retire(&FullyQualifiedName::parse("guest/never-ran").unwrap(), None);
    pool.reap(Instant::now());
    assert_eq!(pool.lock().retired.len(), 1, "`old` may still come back");
    old.release();
    pool.reap(Instant::now());
    assert!(pool.lock().retired.is_empty());
    assert!(pool.lock().live.is_empty());
}

#[tokio::test]
async fn shutdown_removes_idle_and_refuses_callers() {
    let (pool, factory) = pool(128);
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    let waiting = tokio::spawn({
        let pool = pool.clone();
        let a = a.clone();
        async move { pool.acquire(&a, None).await.map(|_| ()) }
    });
    settle(&pool).await;
    busy.release();
    // The waiter got the container; give it back by dropping (removal).
    waiting.await.unwrap().unwrap();
    pool.shutdown().await;
    assert_eq!(factory.destroyed(), vec![id]);
    assert_eq!(pool.acquire(&a, None).await.unwrap_err(), PoolError::Closed);
}

// === stem cells ===

const NODE: &str = "nodejs:18";
const PYTHON: &str = "python:3.11";

fn plan(kind: &str, count: usize, memory_mb: u64) -> StemPlan {
    StemPlan {
        kind: kind.into(),
        count,
        memory_mb,
        spec: ContainerSpec {
            name: format!("stem_{}_", kind.replace(':', "")),
            kind: kind.into(),
            image: format!("img/{kind}"),
            memory_mb,
            pids_limit: 10,
            cpu_shares: 2,
            env: vec![],
            labels: vec![],
        },
    }
}

fn stem_pool(
    capacity_mb: u64,
    plans: Vec<StemPlan>,
    factory: CountingFactory,
) -> (Arc<Pool>, Arc<CountingFactory>) {
    let factory = Arc::new(factory);
    let pool = Pool::new(
        factory.clone(),
        "7".into(),
        capacity_mb,
        Duration::from_secs(60),
        plans,
    );
    (pool, factory)
}

/// Acquires for `key` of `kind`; starts a container when the lease is cold. The flag says
/// which path: "warm", "stem" or "cold".
async fn get_kind(pool: &Arc<Pool>, key: &ContainerKey, kind: &str) -> (Busy, &'static str) {
    match pool.acquire(key, Some(kind)).await.unwrap() {
        Lease::Warm(b) => (b, "warm"),
        Lease::Prewarmed(b) => (b, "stem"),
        Lease::Cold(r) => (r.start(&spec(), key.clone()).await.unwrap(), "cold"),
    }
}

/// Lets background starts and removals run until `done` holds (a bounded number of turns).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn stem_cells_start_when_asked_and_count_against_memory() {
    let (pool, factory) = stem_pool(
        1024,
        vec![plan(NODE, 2, 256), plan(PYTHON, 1, 256)],
        CountingFactory::default(),
    );
    settle(&pool).await;
    assert_eq!(
        factory.attempts.load(Ordering::SeqCst),
        0,
        "not before start"
    );
    pool.start_stem_cells();
    until("three stem cells", || {
        pool.stem_count(NODE) == 2 && pool.stem_count(PYTHON) == 1
    })
    .await;
    assert_eq!(pool.used_mb(), 768);
    let names = factory.names.lock().unwrap().clone();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| n.starts_with("stem_")), "{names:?}");
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "unique names: {names:?}");
}

#[tokio::test]
async fn a_cold_start_takes_a_stem_cell_of_its_kind_and_it_is_refilled() {
    let (pool, factory) = stem_pool(1024, vec![plan(NODE, 1, 256)], CountingFactory::default());
    pool.start_stem_cells();
    until("a stem cell", || pool.stem_count(NODE) == 1).await;
    let stem = pool.stem_ids()[0].clone();

    let a = key("a", "1", 256);
    let (busy, path) = get_kind(&pool, &a, NODE).await;
    assert_eq!(path, "stem");
    assert_eq!(
        busy.id(),
        stem,
        "the action's container is the former stem cell"
    );
    settle(&pool).await;
    assert_eq!(
        pool.stem_count(NODE),
        0,
        "no refill while the activation starts"
    );
    assert_eq!(factory.created.load(Ordering::SeqCst), 1);

    // Given back, it is the action's warm container, and the refill starts.
    busy.release();
    until("the refill", || pool.stem_count(NODE) == 1).await;
    assert_ne!(pool.stem_ids()[0], stem);
    assert_eq!(pool.used_mb(), 512);
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
    let (again, path) = get_kind(&pool, &a, NODE).await;
    assert_eq!(path, "warm");
    assert_eq!(again.id(), stem);
    drop(again);
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![stem]);
    assert_eq!(pool.used_mb(), 256);
}

#[tokio::test]
async fn a_stem_cell_serves_only_its_kind_with_enough_memory() {
    let (pool, _) = stem_pool(2048, vec![plan(NODE, 1, 256)], CountingFactory::default());
    pool.start_stem_cells();
    until("a stem cell", || pool.stem_count(NODE) == 1).await;
    let (big, path) = get_kind(&pool, &key("big", "1", 512), NODE).await;
    assert_eq!(path, "cold", "512 MB does not fit a 256 MB stem cell");
    let (py, path) = get_kind(&pool, &key("py", "1", 256), PYTHON).await;
    assert_eq!(path, "cold", "another kind");
    let (bb, cold) = get(&pool, &key("bb", "1", 128)).await;
    assert!(cold, "a blackbox action");
    assert_eq!(pool.stem_count(NODE), 1);
    assert_eq!(pool.used_mb(), 256 + 512 + 256 + 128);

    // A smaller action takes it; the container keeps (and counts) the stem cell's memory.
    let (small, path) = get_kind(&pool, &key("small", "1", 128), NODE).await;
    assert_eq!(path, "stem");
    assert_eq!(pool.used_mb(), 256 + 512 + 256 + 128);
    drop((big, py, bb));
    small.discard();
    until("the refill", || pool.stem_count(NODE) == 1).await;
    settle(&pool).await;
    assert_eq!(pool.used_mb(), 256, "only the new stem cell");
}

#[tokio::test]
async fn stem_cells_are_evicted_last_and_refilled_from_free_memory_only() {
    let (pool, factory) = stem_pool(512, vec![plan(NODE, 1, 256)], CountingFactory::default());
    pool.start_stem_cells();
    until("a stem cell", || pool.stem_count(NODE) == 1).await;
    let stem = pool.stem_ids()[0].clone();
    let (a, _) = get(&pool, &key("a", "1", 256)).await;
    let a_id = a.id().to_owned();
    a.release();
    // Full: the idle container goes before the stem cell.
    let (b, cold) = get(&pool, &key("b", "1", 256)).await;
    assert!(cold);
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![a_id.clone()]);
    assert_eq!(pool.stem_count(NODE), 1);
    // Nothing idle is left: the stem cell goes, and no refill evicts anything.
    let (c, cold) = get(&pool, &key("c", "1", 256)).await;
    assert!(cold);
    settle(&pool).await;
    assert_eq!(factory.destroyed(), {
        let mut v = vec![a_id, stem];
        v.sort();
        v
    });
    assert_eq!(pool.stem_count(NODE), 0);
    assert_eq!(pool.used_mb(), 512);
    let created = factory.created.load(Ordering::SeqCst);
    drop(b);
    until("the refill from freed memory", || {
        pool.stem_count(NODE) == 1
    })
    .await;
    assert_eq!(factory.created.load(Ordering::SeqCst), created + 1);
    assert_eq!(pool.used_mb(), 512);
    drop(c);
}

#[tokio::test]
async fn callers_waiting_for_memory_come_before_refills() {
    let (pool, factory) = stem_pool(256, vec![plan(NODE, 1, 256)], CountingFactory::default());
    pool.start_stem_cells();
    until("a stem cell", || pool.stem_count(NODE) == 1).await;
    let (node, path) = get_kind(&pool, &key("n", "1", 256), NODE).await;
    assert_eq!(path, "stem");
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { get(&pool, &key("w", "1", 256)).await }
    });
    settle(&pool).await;
    assert!(!waiting.is_finished());
    node.release();
    let (w, cold) = waiting.await.unwrap();
    assert!(cold, "the waiter got the memory of the evicted container");
    settle(&pool).await;
    assert_eq!(pool.stem_count(NODE), 0);
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
    drop(w);
    until("the refill", || pool.stem_count(NODE) == 1).await;
}

#[tokio::test]
async fn a_stem_cell_taken_after_a_retirement_is_kept() {
    let (pool, _) = stem_pool(1024, vec![plan(NODE, 1, 256)], CountingFactory::default());
    let old = key("a", "1", 256);
    let (busy_old, cold) = get(&pool, &old).await;
    assert!(cold);
    pool.start_stem_cells();
    until("a stem cell", || pool.stem_count(NODE) == 1).await;
    // The action changes while its old container runs.
    pool.retire(&old.fqn, None);
    let (fresh, path) = get_kind(&pool, &key("a", "2", 256), NODE).await;
    assert_eq!(path, "stem");
    let fresh_id = fresh.id().to_owned();
    fresh.release();
    busy_old.release();
    settle(&pool).await;
    assert_eq!(pool.idle_count(), 1, "only the old container went");
    let (again, path) = get_kind(&pool, &key("a", "2", 256), NODE).await;
    assert_eq!(path, "warm");
    assert_eq!(again.id(), fresh_id);
}

#[tokio::test]
async fn a_missing_image_stops_the_refills_of_its_kind() {
    let (pool, factory) = stem_pool(
        1024,
        vec![plan(NODE, 1, 256)],
        CountingFactory {
            fail_create: true,
            ..Default::default()
        },
    );
    pool.start_stem_cells();
    until("the failed start", || {
        factory.attempts.load(Ordering::SeqCst) == 1 && pool.used_mb() == 0
    })
    .await;
    // Later events do not try again.
    let lease = pool.acquire(&key("a", "1", 128), Some(NODE)).await.unwrap();
    assert!(matches!(lease, Lease::Cold(_)));
    drop(lease);
    settle(&pool).await;
    assert_eq!(factory.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(pool.used_mb(), 0);
}

#[tokio::test(start_paused = true)]
async fn failed_starts_are_retried_after_growing_pauses() {
    let (pool, factory) = stem_pool(
        1024,
        vec![plan(NODE, 1, 256)],
        CountingFactory {
            engine_failures: AtomicUsize::new(2),
            ..Default::default()
        },
    );
    pool.start_stem_cells();
    until("the first failure", || {
        factory.attempts.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(pool.used_mb(), 0);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(factory.attempts.load(Ordering::SeqCst), 1, "not before 1 s");
    tokio::time::sleep(Duration::from_millis(200)).await;
    until("the second failure", || {
        factory.attempts.load(Ordering::SeqCst) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1900)).await;
    assert_eq!(
        factory.attempts.load(Ordering::SeqCst),
        2,
        "not before 2 s more"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    until("the stem cell", || pool.stem_count(NODE) == 1).await;
    assert_eq!(factory.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(pool.used_mb(), 256);
    pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_removes_stem_cells() {
    let (pool, factory) = stem_pool(1024, vec![plan(NODE, 2, 256)], CountingFactory::default());
    pool.start_stem_cells();
    until("two stem cells", || pool.stem_count(NODE) == 2).await;
    let mut stems = pool.stem_ids();
    stems.sort();
    pool.shutdown().await;
    assert_eq!(factory.destroyed(), stems);
    assert_eq!(pool.used_mb(), 0);
    assert_eq!(pool.stem_count(NODE), 0);
}

#[tokio::test(start_paused = true)]
async fn a_long_activation_holds_the_refill_back_for_a_second_at_most() {
    let (pool, factory) = stem_pool(1024, vec![plan(NODE, 1, 256)], CountingFactory::default());
    pool.start_stem_cells();
    until("a stem cell", || pool.stem_count(NODE) == 1).await;
    let (busy, path) = get_kind(&pool, &key("a", "1", 256), NODE).await;
    assert_eq!(path, "stem");
    tokio::time::sleep(REFILL_HOLD - Duration::from_millis(10)).await;
    settle(&pool).await;
    assert_eq!(pool.stem_count(NODE), 0, "held while the activation runs");
    assert_eq!(factory.created.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    until("the refill after the hold", || pool.stem_count(NODE) == 1).await;
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
    // Giving the container back later changes nothing.
    busy.release();
    settle(&pool).await;
    assert_eq!(pool.stem_count(NODE), 1);
    assert_eq!(factory.created.load(Ordering::SeqCst), 2);
    pool.shutdown().await;
}

// === pausing idle containers ===

const GRACE: Duration = Duration::from_millis(20);

fn pausing_pool(capacity_mb: u64, factory: CountingFactory) -> (Arc<Pool>, Arc<CountingFactory>) {
    let factory = Arc::new(CountingFactory {
        can_pause: true,
        ..factory
    });
    let pool = Pool::pausing_after(
        factory.clone(),
        "7".into(),
        capacity_mb,
        Duration::from_secs(60),
        vec![],
        GRACE,
    );
    (pool, factory)
}

/// Waits (in real time, up to 5 s) until `done`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never happened: {what}");
}

fn paused_count(pool: &Pool) -> u64 {
    pool.counts().paused
}

#[tokio::test]
async fn an_idle_container_is_paused_after_the_grace_and_resumed_when_taken() {
    let (pool, factory) = pausing_pool(1024, CountingFactory::default());
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    busy.release();
    assert_eq!(paused_count(&pool), 0, "not before the grace");
    eventually("the pause", || paused_count(&pool) == 1).await;
    assert_eq!(*factory.paused.lock().unwrap(), vec![id.clone()]);
    // Paused, it still holds its memory.
    assert_eq!(pool.used_mb(), 128);
    assert_eq!(pool.counts().warm, 0);
    let (busy, cold) = get(&pool, &a).await;
    assert!(!cold);
    assert_eq!(busy.id(), id);
    assert_eq!(*factory.resumed.lock().unwrap(), vec![id.clone()]);
    assert_eq!(paused_count(&pool), 0);
    // Used again and again: one timer for the container, not one per release.
    busy.release();
    for _ in 0..50 {
        let (busy, _) = get(&pool, &a).await;
        busy.release();
        assert_eq!(pool.lock().pause_timers.len(), 1);
    }
    eventually("the second pause", || paused_count(&pool) == 1).await;
    assert!(pool.lock().pause_timers.is_empty());
    pool.shutdown().await;
    assert_eq!(factory.destroyed(), vec![id]);
}

#[tokio::test]
async fn a_take_while_the_pause_is_in_flight_waits_and_resumes() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (pool, factory) = pausing_pool(
        1024,
        CountingFactory {
            pause_gate: Some(gate.clone()),
            ..CountingFactory::default()
        },
    );
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    busy.release();
    eventually("the pause to begin", || {
        factory.pause_attempts.load(Ordering::SeqCst) == 1
    })
    .await;
    let taker = tokio::spawn({
        let (pool, a) = (pool.clone(), a.clone());
        async move { get(&pool, &a).await }
    });
    settle(&pool).await;
    assert!(!taker.is_finished(), "the taker waits for the pause");
    gate.add_permits(1);
    let (busy, cold) = taker.await.unwrap();
    assert!(!cold);
    assert_eq!(busy.id(), id);
    assert_eq!(*factory.paused.lock().unwrap(), vec![id.clone()]);
    assert_eq!(*factory.resumed.lock().unwrap(), vec![id.clone()]);
    assert_eq!(paused_count(&pool), 0);
    assert_eq!(factory.created.load(Ordering::SeqCst), 1);
    drop(busy);
    gate.add_permits(10);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_failed_pause_removes_the_container() {
    let (pool, factory) = pausing_pool(
        1024,
        CountingFactory {
            fail_pause: true.into(),
            ..CountingFactory::default()
        },
    );
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    busy.release();
    eventually("the removal", || factory.destroyed() == vec![id.clone()]).await;
    assert_eq!(pool.idle_count(), 0);
    assert_eq!(pool.used_mb(), 0);
    let (fresh, cold) = get(&pool, &a).await;
    assert!(cold);
    assert_ne!(fresh.id(), id);
    fresh.release();
    pool.shutdown().await;
}

#[tokio::test]
async fn a_failed_pause_while_taken_gives_the_caller_a_fresh_container() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (pool, factory) = pausing_pool(
        1024,
        CountingFactory {
            pause_gate: Some(gate.clone()),
            fail_pause: true.into(),
            ..CountingFactory::default()
        },
    );
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    busy.release();
    eventually("the pause to begin", || {
        factory.pause_attempts.load(Ordering::SeqCst) == 1
    })
    .await;
    let taker = tokio::spawn({
        let (pool, a) = (pool.clone(), a.clone());
        async move { get(&pool, &a).await }
    });
    settle(&pool).await;
    gate.add_permits(1);
    let (busy, cold) = taker.await.unwrap();
    assert!(cold, "the broken container is not reused");
    assert_ne!(busy.id(), id);
    eventually("the removal", || factory.destroyed() == vec![id.clone()]).await;
    assert_eq!(pool.used_mb(), 128);
    drop(busy);
    gate.add_permits(10);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_failed_resume_gives_the_caller_a_fresh_container() {
    let (pool, factory) = pausing_pool(
        1024,
        CountingFactory {
            fail_resume: true.into(),
            ..CountingFactory::default()
        },
    );
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    let id = busy.id().to_owned();
    busy.release();
    eventually("the pause", || paused_count(&pool) == 1).await;
    let (busy, cold) = get(&pool, &a).await;
    assert!(cold);
    assert_ne!(busy.id(), id);
    eventually("the removal", || factory.destroyed() == vec![id.clone()]).await;
    assert_eq!(pool.used_mb(), 128);
    busy.release();
    pool.shutdown().await;
}

#[tokio::test]
async fn a_factory_that_cannot_pause_is_asked_once() {
    let factory = Arc::new(CountingFactory::default());
    let pool = Pool::pausing_after(
        factory.clone(),
        "7".into(),
        1024,
        Duration::from_secs(60),
        vec![],
        GRACE,
    );
    let a = key("a", "1", 128);
    let (busy, _) = get(&pool, &a).await;
    busy.release();
    eventually("the attempt", || !pool.pausing()).await;
    let (busy, cold) = get(&pool, &a).await;
    assert!(!cold, "kept idle, not removed");
    busy.release();
    tokio::time::sleep(GRACE * 3).await;
    assert_eq!(paused_count(&pool), 0);
    assert!(factory.destroyed().is_empty());
    pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_removes_paused_containers() {
    let (pool, factory) = pausing_pool(1024, CountingFactory::default());
    let (one, _) = get(&pool, &key("a", "1", 128)).await;
    let (two, _) = get(&pool, &key("b", "1", 128)).await;
    let ids = vec![one.id().to_owned(), two.id().to_owned()];
    one.release();
    two.release();
    eventually("both paused", || paused_count(&pool) == 2).await;
    pool.shutdown().await;
    assert_eq!(factory.destroyed(), ids);
    assert_eq!(pool.used_mb(), 0);
}

/// 100 distinct actions through a budget of 10 containers: every one runs, paused
/// containers are evicted least recently used first, and each action's own container is
/// reused while it stays in the budget.
#[tokio::test]
async fn a_hundred_actions_run_in_a_small_budget_evicting_lru_first() {
    let (pool, factory) = pausing_pool(10 * 128, CountingFactory::default());
    let keys: Vec<ContainerKey> = (0..100).map(|i| key(&format!("a{i}"), "1", 128)).collect();
    let mut id_of: HashMap<usize, String> = HashMap::new();
    // Two passes: the first fills the budget and then evicts one per action.
    for (i, k) in keys.iter().enumerate() {
        let (busy, cold) = get(&pool, k).await;
        assert!(cold);
        id_of.insert(i, busy.id().to_owned());
        busy.release();
        assert!(pool.used_mb() <= 10 * 128);
    }
    eventually("all idle paused", || paused_count(&pool) == 10).await;
    settle(&pool).await;
    // Evicted in the order they were last used: a0, a1, ... a89.
    let expected: Vec<String> = (0..90).map(|i| id_of[&i].clone()).collect();
    eventually("the removals", || {
        factory.destroyed.lock().unwrap().len() == 90
    })
    .await;
    assert_eq!(*factory.destroyed.lock().unwrap(), expected);
    // The last ten are warm (paused) and resumed, with no new container.
    for (i, k) in keys.iter().enumerate().skip(90) {
        let (busy, cold) = get(&pool, k).await;
        assert!(!cold, "action {i} kept its container");
        assert_eq!(busy.id(), id_of[&i]);
        busy.release();
    }
    assert_eq!(factory.created.load(Ordering::SeqCst), 100);
    assert_eq!(factory.resumed.lock().unwrap().len(), 10);
    pool.shutdown().await;
}
/// A container of an action with concurrency 3: callers that arrive while it starts wait
/// for its slots (two of them; a third caller gets memory of its own), take them once it is
/// shared, and the container goes idle when the last slot comes back, counted once.
#[tokio::test]
async fn a_shared_container_serves_up_to_its_concurrency_and_callers_wait_for_it() {
    let (pool, factory) = pool(1024);
    let key = ContainerKey {
        concurrency: 3,
        ..key("c", "1", 128)
    };
    let Lease::Cold(first) = pool.acquire(&key, None).await.unwrap() else {
        panic!("cold first");
    };
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let (pool, key) = (Arc::clone(&pool), key.clone());
            tokio::spawn(async move { pool.acquire(&key, None).await.unwrap() })
        })
        .collect();
    settle(&pool).await;
    // Two wait for the starting container's slots; the third got memory for a cold start.
    let finished: Vec<bool> = waiting.iter().map(|w| w.is_finished()).collect();
    assert_eq!(finished.iter().filter(|f| **f).count(), 1, "{finished:?}");
    let mut waiting = waiting.into_iter();
    let mut rest = Vec::new();
    for (w, done) in waiting.by_ref().zip(finished) {
        if done {
            assert!(matches!(w.await.unwrap(), Lease::Cold(_)));
        } else {
            rest.push(w);
        }
    }
    // The third caller's reservation was dropped with its lease: one container's memory.
    assert_eq!(pool.used_mb(), 128);

    let busy = first.start(&spec(), key.clone()).await.unwrap();
    let id = busy.id().to_owned();
    let shared = busy.share();
    assert!(shared.router().is_some());
    let mut slots = vec![shared];
    for w in rest {
        let Lease::Warm(slot) = w.await.unwrap() else {
            panic!("a slot of the shared container");
        };
        assert_eq!(slot.id(), id);
        slots.push(slot);
    }
    assert_eq!(pool.used_mb(), 128);
    // All three slots are taken: a fourth caller gets memory for another container.
    let Lease::Cold(more) = pool.acquire(&key, None).await.unwrap() else {
        panic!("no free slot");
    };
    drop(more);
    for slot in slots {
        slot.release();
    }
    assert_eq!(pool.idle_count(), 1);
    assert_eq!(pool.used_mb(), 128);
    // Taken again, it is shared again.
    let (again, cold) = get(&pool, &key).await;
    assert!(!cold);
    assert_eq!(again.id(), id);
    assert!(again.router().is_some());
    // A slot given back broken stops new slots; the container goes with its last slot.
    again.discard();
    settle(&pool).await;
    assert_eq!(factory.destroyed(), vec![id]);
    assert_eq!(pool.used_mb(), 0);
}

/// A shared container (concurrency > 1) that went idle is paused like any other, and the
/// slot taken next resumes it: a slot never runs in a frozen container.
#[tokio::test]
async fn a_paused_shared_container_is_resumed_by_the_next_slot() {
    let (pool, factory) = pausing_pool(1024, CountingFactory::default());
    let key = ContainerKey {
        concurrency: 2,
        ..key("c", "1", 128)
    };
    let Lease::Cold(first) = pool.acquire(&key, None).await.unwrap() else {
        panic!("cold first");
    };
    let busy = first.start(&spec(), key.clone()).await.unwrap();
    let id = busy.id().to_owned();
    let shared = busy.share();
    let (second, cold) = get(&pool, &key).await;
    assert!(!cold);
    assert_eq!(second.id(), id, "a second slot of the shared container");
    shared.release();
    second.release();
    eventually("the idle shared container paused", || {
        paused_count(&pool) == 1
    })
    .await;
    assert_eq!(*factory.paused.lock().unwrap(), vec![id.clone()]);
    let (slot, cold) = get(&pool, &key).await;
    assert!(!cold);
    assert_eq!(slot.id(), id);
    assert!(slot.router().is_some(), "shared again");
    assert_eq!(*factory.resumed.lock().unwrap(), vec![id.clone()]);
    slot.release();
    pool.shutdown().await;
    assert_eq!(factory.destroyed(), vec![id]);
}
