//! The container pool: warm containers keyed by the action's exact revision, one activation
//! at a time per container, and a memory capacity shared by all containers.
//!
//! Callers queue in arrival order. A caller is served by an idle container of its revision
//! as soon as one exists (these hand-offs may pass callers waiting for memory); otherwise,
//! in order, by a memory reservation for a cold start, evicting idle containers of other
//! revisions (least recently used first) when that makes room. Whoever holds a container or a
//! reservation gives it back by dropping it at the latest: a container dropped without
//! [`Busy::release`] is destroyed, an unused reservation returns its memory.
//!
//! Removal is asynchronous: the pool stops counting a container's memory when it decides to
//! remove it and leaves the engine call to a tracked background task.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::Uri;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use whisk_types::FullyQualifiedName;

use crate::factory::{ContainerFactory, ContainerSpec, FactoryError, LABEL_INVOKER};
use crate::logs::LogReceiver;

/// Why the pool could not give a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("the pool is shut down")]
    Closed,
    #[error("the action needs {need} MB but the invoker has {capacity} MB")]
    TooLarge { need: u64, capacity: u64 },
}

/// What a container is for; fixed at creation.
#[derive(Debug, Clone)]
pub(crate) struct ContainerKey {
    pub fqn: FullyQualifiedName,
    pub revision: Arc<str>,
    pub memory_mb: u64,
}

/// A live container with its log channel.
pub(crate) struct Container {
    pub id: String,
    pub key: ContainerKey,
    pub init_uri: Uri,
    pub run_uri: Uri,
    /// Lines from the container's log, in order.
    pub logs: LogReceiver,
    /// Creation order, compared with retirements of its action.
    seq: u64,
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.id)
            .field("revision", &self.key.revision)
            .finish_non_exhaustive()
    }
}

struct Idle {
    container: Box<Container>,
    since: Instant,
}

enum Grant {
    Warm(Busy),
    Cold(Reservation),
}

struct Waiter {
    revision: Arc<str>,
    memory_mb: u64,
    tx: oneshot::Sender<Grant>,
}

#[derive(Default)]
struct State {
    /// Memory of live containers (busy and idle) and of reservations.
    used_mb: u64,
    idle: Vec<Idle>,
    waiters: VecDeque<Waiter>,
    /// Per retired action with live containers, the first sequence number after its
    /// retirement: containers numbered below it go when given back.
    retired: HashMap<FullyQualifiedName, u64>,
    /// Live containers (busy, idle and being created) by sequence number.
    live: HashMap<u64, FullyQualifiedName>,
    next_seq: u64,
    closed: bool,
}

impl State {
    /// Stops counting a container that leaves the pool.
    fn forget(&mut self, container: &Container) {
        self.used_mb -= container.key.memory_mb;
        self.live.remove(&container.seq);
    }
}

/// See the module documentation.
pub(crate) struct Pool {
    factory: Arc<dyn ContainerFactory>,
    invoker_id: String,
    capacity_mb: u64,
    idle_timeout: Duration,
    state: Mutex<State>,
    /// Background removals, awaited at shutdown.
    removals: TaskTracker,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("capacity_mb", &self.capacity_mb)
            .finish_non_exhaustive()
    }
}

/// What [`Pool::acquire`] gives.
#[derive(Debug)]
pub(crate) enum Lease {
    /// An initialized container of the requested revision.
    Warm(Busy),
    /// Memory for a new container: start it with [`Reservation::start`].
    Cold(Reservation),
}

/// A container in use by one activation.
pub(crate) struct Busy {
    pool: Arc<Pool>,
    container: Option<Box<Container>>,
}

impl fmt::Debug for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Busy").field(&self.container).finish()
    }
}

/// Memory set aside for a container about to be created.
pub(crate) struct Reservation {
    pool: Arc<Pool>,
    memory_mb: u64,
    armed: bool,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reservation({} MB)", self.memory_mb)
    }
}

// === impl Pool ===

impl Pool {
    pub(crate) fn new(
        factory: Arc<dyn ContainerFactory>,
        invoker_id: String,
        capacity_mb: u64,
        idle_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            factory,
            invoker_id,
            capacity_mb,
            idle_timeout,
            state: Mutex::default(),
            removals: TaskTracker::new(),
        })
    }

    pub(crate) fn factory(&self) -> &Arc<dyn ContainerFactory> {
        &self.factory
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every update is small.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a warm container of `revision` or for memory to start one.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        revision: &Arc<str>,
        memory_mb: u64,
    ) -> Result<Lease, PoolError> {
        if memory_mb > self.capacity_mb {
            return Err(PoolError::TooLarge {
                need: memory_mb,
                capacity: self.capacity_mb,
            });
        }
        let (tx, rx) = oneshot::channel();
        let evicted = {
            let mut st = self.lock();
            if st.closed {
                return Err(PoolError::Closed);
            }
            st.waiters.push_back(Waiter {
                revision: Arc::clone(revision),
                memory_mb,
                tx,
            });
            self.dispatch(&mut st)
        };
        self.remove_all(evicted);
        match rx.await {
            Ok(Grant::Warm(busy)) => Ok(Lease::Warm(busy)),
            Ok(Grant::Cold(reservation)) => Ok(Lease::Cold(reservation)),
            Err(_) => Err(PoolError::Closed),
        }
    }

    /// Serves waiters: warm hand-offs first, then memory in arrival order. Returns the
    /// containers evicted to make room, to be removed once the lock is released.
    fn dispatch(self: &Arc<Self>, st: &mut State) -> Vec<String> {
        let mut evicted = Vec::new();
        let mut i = 0;
        while i < st.waiters.len() {
            if st.waiters[i].tx.is_closed() {
                st.waiters.remove(i);
                continue;
            }
            let revision = &st.waiters[i].revision;
            let Some(pos) = st
                .idle
                .iter()
                .rposition(|c| c.container.key.revision == *revision)
            else {
                i += 1;
                continue;
            };
            let idle = st.idle.remove(pos);
            let Some(waiter) = st.waiters.remove(i) else {
                break;
            };
            let grant = Grant::Warm(Busy {
                pool: Arc::clone(self),
                container: Some(idle.container),
            });
            if let Err(Grant::Warm(mut busy)) = waiter.tx.send(grant) {
                if let Some(container) = busy.container.take() {
                    st.idle.insert(
                        pos,
                        Idle {
                            container,
                            since: idle.since,
                        },
                    );
                }
            }
        }
        while let Some(front) = st.waiters.front() {
            if front.tx.is_closed() {
                st.waiters.pop_front();
                continue;
            }
            let need = front.memory_mb;
            while st.used_mb + need > self.capacity_mb && !st.idle.is_empty() {
                let lru = st
                    .idle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, c)| c.since)
                    .map_or(0, |(i, _)| i);
                let gone = st.idle.remove(lru).container;
                st.forget(&gone);
                debug!(container = %gone.id, "Idle container evicted to make room.");
                evicted.push(gone.id);
            }
            if st.used_mb + need > self.capacity_mb {
                break;
            }
            let Some(waiter) = st.waiters.pop_front() else {
                break;
            };
            st.used_mb += need;
            let grant = Grant::Cold(Reservation {
                pool: Arc::clone(self),
                memory_mb: need,
                armed: true,
            });
            if let Err(Grant::Cold(mut r)) = waiter.tx.send(grant) {
                r.armed = false;
                st.used_mb -= need;
            }
        }
        evicted
    }

    /// Removes containers in the background.
    fn remove_all(&self, ids: Vec<String>) {
        for id in ids {
            self.remove_later(id);
        }
    }

    fn remove_later(&self, id: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!(container = %id, "No runtime to remove a container; it is left for the next start.");
            return;
        };
        let factory = Arc::clone(&self.factory);
        self.removals.spawn_on(
            async move {
                if let Err(e) = factory.destroy(&id).await {
                    warn!(container = %id, error = %e, "Container removal failed.");
                }
            },
            &runtime,
        );
    }

    /// Takes a container back after an activation.
    fn put_back(self: &Arc<Self>, container: Box<Container>, reusable: bool) {
        let (evicted, gone) = {
            let mut st = self.lock();
            let retired = st
                .retired
                .get(&container.key.fqn)
                .is_some_and(|&at| container.seq < at);
            let gone = if reusable && !retired && !st.closed {
                st.idle.push(Idle {
                    container,
                    since: Instant::now(),
                });
                None
            } else {
                st.forget(&container);
                Some(container)
            };
            (self.dispatch(&mut st), gone)
        };
        self.remove_all(evicted);
        if let Some(c) = gone {
            self.remove_later(c.id);
        }
    }

    /// Stops counting a container that is being removed, and removes it.
    fn forget(self: &Arc<Self>, container: &Container) {
        let evicted = {
            let mut st = self.lock();
            st.forget(container);
            self.dispatch(&mut st)
        };
        self.remove_all(evicted);
        self.remove_later(container.id.clone());
    }

    fn unreserve(self: &Arc<Self>, memory_mb: u64) {
        let evicted = {
            let mut st = self.lock();
            st.used_mb -= memory_mb;
            self.dispatch(&mut st)
        };
        self.remove_all(evicted);
    }

    /// Removes idle containers unused for the idle timeout at `now`; returns how many.
    pub(crate) fn reap(self: &Arc<Self>, now: Instant) -> usize {
        let (expired, evicted) = {
            let mut st = self.lock();
            let (expired, kept): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut st.idle)
                .into_iter()
                .partition(|c| now.duration_since(c.since) >= self.idle_timeout);
            st.idle = kept;
            for c in &expired {
                st.forget(&c.container);
            }
            let State { retired, live, .. } = &mut *st;
            retired
                .retain(|fqn, first_kept| live.iter().any(|(seq, f)| f == fqn && seq < first_kept));
            (expired, self.dispatch(&mut st))
        };
        let n = expired.len();
        self.remove_all(expired.into_iter().map(|c| c.container.id).collect());
        self.remove_all(evicted);
        n
    }

    /// Reaps idle containers periodically until `stop`.
    pub(crate) async fn run_reaper(self: Arc<Self>, stop: CancellationToken) {
        let tick =
            (self.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {
                    let n = self.reap(Instant::now());
                    if n > 0 {
                        debug!(removed = n, "Idle containers removed.");
                    }
                }
            }
        }
    }

    /// Removes every container of `fqn`: idle ones now, busy ones when they are given back.
    pub(crate) fn retire(self: &Arc<Self>, fqn: &FullyQualifiedName) -> usize {
        let (gone, evicted) = {
            let mut st = self.lock();
            if st.live.values().any(|f| f == fqn) {
                let first_kept = st.next_seq + 1;
                st.retired.insert(fqn.clone(), first_kept);
            }
            let (gone, kept): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut st.idle)
                .into_iter()
                .partition(|c| c.container.key.fqn == *fqn);
            st.idle = kept;
            for c in &gone {
                st.forget(&c.container);
            }
            (gone, self.dispatch(&mut st))
        };
        let n = gone.len();
        self.remove_all(gone.into_iter().map(|c| c.container.id).collect());
        self.remove_all(evicted);
        n
    }

    /// Removes containers left by an earlier run of this invoker.
    pub(crate) async fn remove_leftovers(&self) -> Result<usize, FactoryError> {
        self.factory
            .remove_labelled(LABEL_INVOKER, &self.invoker_id)
            .await
    }

    /// Refuses new callers, removes idle containers and waits for every removal, then
    /// removes anything still labelled with this invoker. Busy containers should have been
    /// given back (or dropped) before.
    pub(crate) async fn shutdown(self: &Arc<Self>) {
        let idle = {
            let mut st = self.lock();
            st.closed = true;
            st.waiters.clear();
            let idle = std::mem::take(&mut st.idle);
            for c in &idle {
                st.forget(&c.container);
            }
            idle
        };
        self.remove_all(idle.into_iter().map(|c| c.container.id).collect());
        self.removals.close();
        self.removals.wait().await;
        match self.remove_leftovers().await {
            Ok(0) => {}
            Ok(n) => info!(removed = n, "Remaining containers removed at shutdown."),
            Err(e) => warn!(error = %e, "Could not remove remaining containers at shutdown."),
        }
    }

    /// Memory in use (busy, idle and reserved).
    #[cfg(test)]
    pub(crate) fn used_mb(&self) -> u64 {
        self.lock().used_mb
    }

    /// Number of idle containers.
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.lock().idle.len()
    }
}

// === impl Reservation ===

impl Reservation {
    /// Creates and starts the container; its log reader starts at once.
    ///
    /// # Errors
    /// The factory's; the memory is given back.
    pub(crate) async fn start(
        mut self,
        spec: &ContainerSpec,
        key: ContainerKey,
    ) -> Result<Busy, FactoryError> {
        // Numbered before creation, so a retirement during the creation applies to it.
        let seq = {
            let mut st = self.pool.lock();
            st.next_seq += 1;
            let seq = st.next_seq;
            st.live.insert(seq, key.fqn.clone());
            seq
        };
        let handle = match self.pool.factory.create(spec).await {
            Ok(handle) => handle,
            Err(e) => {
                self.pool.lock().live.remove(&seq);
                return Err(e);
            }
        };
        let logs = LogReceiver::spawn(self.pool.factory.logs(&handle.id));
        let uri = |path: &str| -> Uri {
            format!("http://{}{path}", handle.addr)
                .parse()
                .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1/"))
        };
        self.armed = false;
        Ok(Busy {
            pool: Arc::clone(&self.pool),
            container: Some(Box::new(Container {
                init_uri: uri("/init"),
                run_uri: uri("/run"),
                id: handle.id,
                key,
                logs,
                seq,
            })),
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            self.pool.unreserve(self.memory_mb);
        }
    }
}

// === impl Busy ===

impl Busy {
    pub(crate) fn container(&mut self) -> &mut Container {
        self.container
            .as_mut()
            .expect("a busy lease holds its container until consumed")
    }

    pub(crate) fn id(&self) -> &str {
        self.container.as_ref().map_or("", |c| c.id.as_str())
    }

    /// Gives the container back for reuse by its revision.
    pub(crate) fn release(mut self) {
        if let Some(c) = self.container.take() {
            self.pool.put_back(c, true);
        }
    }

    /// Removes the container (after a developer error, a timeout or lost logs) and
    /// returns its log receiver, so the lines written before the end can still be read.
    pub(crate) fn discard(mut self) -> Option<LogReceiver> {
        let c = self.container.take()?;
        self.pool.forget(&c);
        Some(c.logs)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            self.pool.put_back(c, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use futures_util::StreamExt;

    use super::*;
    use crate::factory::ContainerHandle;
    use crate::logs::LogLines;

    /// A factory that only counts: the pool's logic is under test, not an engine.
    #[derive(Debug, Default)]
    struct CountingFactory {
        created: AtomicUsize,
        destroyed: Mutex<Vec<String>>,
        fail_create: bool,
    }

    #[async_trait]
    impl ContainerFactory for CountingFactory {
        async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError> {
            if self.fail_create {
                return Err(FactoryError::ImageUnavailable(spec.image.clone()));
            }
            let n = self.created.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(ContainerHandle {
                id: format!("c{n}"),
                addr: SocketAddr::from(([127, 0, 0, 1], 9)),
            })
        }
        async fn destroy(&self, id: &str) -> Result<(), FactoryError> {
            self.destroyed.lock().unwrap().push(id.to_owned());
            Ok(())
        }
        async fn remove_labelled(&self, _: &str, _: &str) -> Result<usize, FactoryError> {
            Ok(0)
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
        let pool = Pool::new(factory.clone(), "7".into(), capacity_mb, Duration::from_secs(60));
        (pool, factory)
    }

    fn key(action: &str, rev: &str, memory_mb: u64) -> ContainerKey {
        ContainerKey {
            fqn: FullyQualifiedName::parse(&format!("guest/{action}")).unwrap(),
            revision: format!("guest/{action}@{rev}").into(),
            memory_mb,
        }
    }

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "n".into(),
            image: "img".into(),
            memory_mb: 128,
            pids_limit: 10,
            env: vec![],
            labels: vec![],
        }
    }

    /// Acquires for `key` and starts a container when the lease is cold.
    async fn get(pool: &Arc<Pool>, key: &ContainerKey) -> (Busy, bool) {
        match pool.acquire(&key.revision, key.memory_mb).await.unwrap() {
            Lease::Warm(b) => (b, false),
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
        let pool = Pool::new(factory, "7".into(), 128, Duration::from_secs(60));
        let a = key("a", "1", 128);
        let Lease::Cold(r) = pool.acquire(&a.revision, 128).await.unwrap() else {
            panic!("cold expected");
        };
        assert_eq!(pool.used_mb(), 128);
        assert_eq!(
            r.start(&spec(), a.clone()).await.unwrap_err(),
            FactoryError::ImageUnavailable("img".into())
        );
        assert_eq!(pool.used_mb(), 0);
        let lease = pool.acquire(&a.revision, 128).await.unwrap();
        assert_eq!(pool.used_mb(), 128);
        drop(lease);
        assert_eq!(pool.used_mb(), 0);
        assert_eq!(
            pool.acquire(&a.revision, 256).await.unwrap_err(),
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
        assert_eq!(pool.retire(&a1.fqn), 1);
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
    async fn retirements_are_forgotten_once_no_older_container_lives() {
        let (pool, _) = pool(1024);
        let a = key("a", "1", 128);
        let (old, _) = get(&pool, &a).await;
        pool.retire(&a.fqn);
        pool.retire(&FullyQualifiedName::parse("guest/never-ran").unwrap());
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
            async move { pool.acquire(&a.revision, 128).await.map(|_| ()) }
        });
        settle(&pool).await;
        busy.release();
        // The waiter got the container; give it back by dropping (removal).
        waiting.await.unwrap().unwrap();
        pool.shutdown().await;
        assert_eq!(factory.destroyed(), vec![id]);
        assert_eq!(
            pool.acquire(&a.revision, 128).await.unwrap_err(),
            PoolError::Closed
        );
    }
}
