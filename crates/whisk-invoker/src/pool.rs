//! The container pool: warm containers keyed by the action's exact revision and the
//! invoking namespace, prewarmed stem cells per kind, one activation at a time per
//! container (or up to the action's `limits.concurrency`: a *shared* container, see `shared`), and a memory
//! capacity shared by all of them.
//!
//! A warm container serves only callers of the namespace it was first used for (as in
//! OpenWhisk), so what one namespace's activation leaves in a container (files in `/tmp`,
//! globals of a Node.js action) is never seen by another namespace running the same shared
//! action. Stem cells have run nothing before `/init`, so any namespace may take one.
//!
//! Callers queue in arrival order. A caller is served by an idle container of its revision
//! and namespace as soon as one exists, else by a stem cell of its kind with at least its memory (these
//! hand-offs may pass callers waiting for memory); otherwise, in order, by a memory
//! reservation for a cold start, evicting idle containers of other revisions (least recently
//! used first) and then stem cells when that makes room. Whoever holds a container or a
//! reservation gives it back by dropping it at the latest: a container dropped without
//! [`Busy::release`] is destroyed, an unused reservation returns its memory.
//!
//! Stem cells (`stem`) are started once [`Pool::start_stem_cells`] is called and refilled
//! in the background whenever one is taken or removed, from free memory only: a refill never
//! evicts anything and waits while callers wait for memory.
//!
//! Removal is asynchronous: the pool stops counting a container's memory when it decides to
//! remove it and leaves the engine call to a tracked background task.
//!
//! A container is busy (lent to an activation), idle (warm, given back), or paused: idle
//! for longer than the pause grace and frozen through the factory (`pause`). A paused
//! container still counts its memory and is resumed when a caller takes it; eviction and
//! the idle timeout treat it as idle.

mod pause;
mod shared;
mod stem;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use whisk_protocol::{PATH_INIT, PATH_RUN};
use whisk_types::{EntityName, FullyQualifiedName};

use self::pause::PauseCell;
use self::shared::{Expect, Shared, Slot};
pub(crate) use self::stem::StemPlan;
use self::stem::{PlanState, Stem};
use crate::client::Endpoint;
use crate::factory::{
    ContainerFactory, ContainerHandle, ContainerSpec, FactoryError, LABEL_INVOKER,
};
use crate::logs::{LogReceiver, LogRouter};

/// Why the pool could not give a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("the pool is shut down")]
    Closed,
    #[error("the action needs {need} MB but the invoker has {capacity} MB")]
    TooLarge { need: u64, capacity: u64 },
}

/// What a container is for; fixed at creation (or when a stem cell is taken).
#[derive(Debug, Clone)]
pub(crate) struct ContainerKey {
    pub fqn: FullyQualifiedName,
    pub revision: Arc<str>,
    /// The invoking namespace (not the action's): a warm container serves this one only.
    pub namespace: EntityName,
    /// The action version's `updated` (epoch ms), compared with retirements.
    pub updated: i64,
    /// The container's memory limit: the action's, or the larger one of the stem cell it
    /// came from. This is what the pool counts.
    pub memory_mb: u64,
    /// The action's `limits.concurrency`: how many activations a shared container serves.
    pub concurrency: u64,
}

/// A live container with its log channel.
pub(crate) struct Container {
    pub id: String,
    pub key: ContainerKey,
    /// `/init` and `/run`, with the container's token.
    pub init_uri: Endpoint,
    pub run_uri: Endpoint,
    /// Lines from the container's log, in order (until it is shared).
    pub logs: LogReceiver,
    /// The container's log sorted by activation, once it is shared.
    router: Option<Arc<LogRouter>>,
    /// Its number in the pool's table of live containers (and of stem-cell holds).
    seq: u64,
    /// Whether it is paused, held while pausing, resuming or removing it.
    pause: PauseCell,
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.id)
            .field("revision", &self.key.revision)
            .finish_non_exhaustive()
    }
}

/// `http://<addr>/init` and `http://<addr>/run` of a started container, with its token.
fn container_uris(handle: &ContainerHandle) -> (Endpoint, Endpoint) {
    let endpoint = |path: &str| match handle.netns_pid {
        None => Endpoint::new(handle.addr, path, &handle.token),
        Some(pid) => Endpoint::in_netns(pid, &handle.id, handle.addr.port(), path, &handle.token),
    };
    (endpoint(PATH_INIT), endpoint(PATH_RUN))
}

struct Idle {
    container: Box<Container>,
    since: Instant,
    /// Paused since (counted as such; resumed when taken).
    paused: bool,
}

enum Grant {
    Warm(Busy),
    Stem(Busy),
    Cold(Reservation),
}

struct Waiter {
    key: ContainerKey,
    /// The kind, for code actions that a stem cell can serve.
    kind: Option<Arc<str>>,
    tx: oneshot::Sender<Grant>,
}

/// Engine calls decided under the lock, made after it is released.
#[derive(Default)]
#[must_use]
struct Effects {
    /// Containers to remove, with their pause lock (stem cells have none).
    remove: Vec<(String, Option<PauseCell>)>,
    /// Stem cells to start, by plan index (their memory is already counted).
    start: Vec<usize>,
    /// Instants to dispatch again at (when a stem cell's refill hold ends).
    wake: Vec<Instant>,
}

#[derive(Default)]
struct State {
    /// Memory of live containers (busy, idle and stem cells) and of reservations and
    /// stem cells being started.
    used_mb: u64,
    idle: Vec<Idle>,
    /// Containers serving activations at once (busy, counted in `live`).
    shared: Vec<Shared>,
    /// Slots expected from containers of concurrent actions being started, by revision
    /// and namespace.
    expected: HashMap<(Arc<str>, EntityName), u64>,
    /// Stem cells ready to be taken.
    stems: Vec<Stem>,
    /// Per stem-cell plan: starts under way, failures, whether it gave up.
    plans: Vec<PlanState>,
    /// Whether stem cells are started and refilled (after the leftovers of an earlier run
    /// are gone).
    stems_enabled: bool,
    waiters: VecDeque<Waiter>,
    /// Per retired action with live containers of stale versions, the bound: containers of
    /// versions `updated` before it go when given back.
    retired: HashMap<FullyQualifiedName, i64>,
    /// Live containers of actions (busy, idle and being created) by sequence number, with
    /// their action and its version's `updated`.
    live: HashMap<u64, (FullyQualifiedName, i64)>,
    next_seq: u64,
    closed: bool,
    /// Containers with a pause timer armed (`pause`), by sequence number.
    pause_timers: std::collections::HashSet<u64>,
}

impl State {
    /// Stops counting a container that leaves the pool.
    fn forget(&mut self, container: &Container) {
        self.used_mb -= container.key.memory_mb;
        self.live.remove(&container.seq);
        Pool::unhold(self, container.seq);
    }

    /// Numbers a container of `key` about to exist.
    fn number(&mut self, key: &ContainerKey) -> u64 {
        self.next_seq += 1;
        self.live
            .insert(self.next_seq, (key.fqn.clone(), key.updated));
        self.next_seq
    }
}

/// See the module documentation.
pub(crate) struct Pool {
    factory: Arc<dyn ContainerFactory>,
    invoker_id: String,
    capacity_mb: u64,
    idle_timeout: Duration,
    /// How long a container stays idle before it is paused; zero: never.
    pause_grace: Duration,
    /// Cleared when the factory says it cannot pause.
    pause_supported: AtomicBool,
    /// The stem cells to keep, per kind.
    plans: Vec<StemPlan>,
    state: Mutex<State>,
    /// Background removals and stem-cell starts, awaited at shutdown.
    tasks: TaskTracker,
    /// Cancelled at shutdown: ends waits for a stem-cell retry.
    stop: CancellationToken,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("capacity_mb", &self.capacity_mb)
            .field("stem_cells", &self.plans)
            .finish_non_exhaustive()
    }
}

/// What [`Pool::acquire`] gives.
#[derive(Debug)]
pub(crate) enum Lease {
    /// An initialized container of the requested revision.
    Warm(Busy),
    /// A stem cell of the action's kind, started earlier: it needs `/init`.
    Prewarmed(Busy),
    /// Memory for a new container: start it with [`Reservation::start`].
    Cold(Reservation),
}

/// A container in use by one activation: the whole container, or a slot of a shared one.
pub(crate) struct Busy {
    pool: Arc<Pool>,
    container: Option<Box<Container>>,
    slot: Option<Slot>,
    /// Slots waiters expect from this container once it is shared.
    expect: Option<Expect>,
}

impl fmt::Debug for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Busy")
            .field(&self.container)
            .field(&self.slot)
            .finish()
    }
}

/// Memory set aside for a container about to be created.
pub(crate) struct Reservation {
    pool: Arc<Pool>,
    memory_mb: u64,
    armed: bool,
    expect: Option<Expect>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reservation({} MB)", self.memory_mb)
    }
}

// === impl Pool ===

impl Pool {
    /// A pool of `capacity_mb` over `factory`; `invoker_id` is the value of the invoker
    /// label of its containers. Stem cells of `plans` start with [`Pool::start_stem_cells`].
    /// Idle containers are never paused (see [`Pool::pausing_after`]).
    #[cfg(test)]
    pub(crate) fn new(
        factory: Arc<dyn ContainerFactory>,
        invoker_id: String,
        capacity_mb: u64,
        idle_timeout: Duration,
        plans: Vec<StemPlan>,
    ) -> Arc<Self> {
        Self::pausing_after(
            factory,
            invoker_id,
            capacity_mb,
            idle_timeout,
            plans,
            Duration::ZERO,
        )
    }

    /// As [`Pool::new`], pausing containers idle for `pause_grace` (zero: never).
    pub(crate) fn pausing_after(
        factory: Arc<dyn ContainerFactory>,
        invoker_id: String,
        capacity_mb: u64,
        idle_timeout: Duration,
        plans: Vec<StemPlan>,
        pause_grace: Duration,
    ) -> Arc<Self> {
        let state = State {
            plans: vec![PlanState::default(); plans.len()],
            ..State::default()
        };
        Arc::new(Self {
            factory,
            invoker_id,
            capacity_mb,
            idle_timeout,
            pause_grace,
            pause_supported: AtomicBool::new(true),
            plans,
            state: Mutex::new(state),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        })
    }

    pub(crate) fn factory(&self) -> &Arc<dyn ContainerFactory> {
        &self.factory
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every update is small.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a warm container of `key.revision` used by `key.namespace`, a stem cell of `kind` with at least
    /// `key.memory_mb`, or memory to start a container.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        key: &ContainerKey,
        kind: Option<&str>,
    ) -> Result<Lease, PoolError> {
        if key.memory_mb > self.capacity_mb {
            return Err(PoolError::TooLarge {
                need: key.memory_mb,
                capacity: self.capacity_mb,
            });
        }
        loop {
            match self.acquire_once(key, kind).await? {
                // Paused, or its pause still in flight: resumed first. A broken one is
                // gone; ask again.
                Lease::Warm(busy) => match self.resumed(busy).await {
                    Some(busy) => return Ok(Lease::Warm(busy)),
                    None => continue,
                },
                lease => return Ok(lease),
            }
        }
    }

    async fn acquire_once(
        self: &Arc<Self>,
        key: &ContainerKey,
        kind: Option<&str>,
    ) -> Result<Lease, PoolError> {
        let (tx, rx) = oneshot::channel();
        let effects = {
            let mut st = self.lock();
            if st.closed {
                return Err(PoolError::Closed);
            }
            st.waiters.push_back(Waiter {
                key: key.clone(),
                kind: kind.map(Arc::from),
                tx,
            });
            self.dispatch(&mut st)
        };
        self.apply(effects);
        match rx.await {
            Ok(Grant::Warm(busy)) => Ok(Lease::Warm(busy)),
            Ok(Grant::Stem(busy)) => Ok(Lease::Prewarmed(busy)),
            Ok(Grant::Cold(reservation)) => Ok(Lease::Cold(reservation)),
            Err(_) => Err(PoolError::Closed),
        }
    }

    /// Serves waiters: warm and stem-cell hand-offs first, then memory in arrival order,
    /// then refills stem cells from what memory is left.
    fn dispatch(self: &Arc<Self>, st: &mut State) -> Effects {
        let mut effects = Effects::default();
        let mut i = 0;
        while i < st.waiters.len() {
            if st.waiters[i].tx.is_closed() {
                st.waiters.remove(i);
                continue;
            }
            if !(self.hand_over_warm(st, i) || self.hand_over_stem(st, i, &mut effects.wake)) {
                i += 1;
            }
        }
        // Waiters of concurrent actions counted against the slots of containers being
        // started, per revision and namespace, in this pass.
        let mut parked: HashMap<(Arc<str>, EntityName), u64> = HashMap::new();
        let mut i = 0;
        while i < st.waiters.len() {
            let front = &st.waiters[i];
            if front.tx.is_closed() {
                st.waiters.remove(i);
                continue;
            }
            let pair = (front.key.concurrency > 1)
                .then(|| (Arc::clone(&front.key.revision), front.key.namespace.clone()));
            if let Some(pair) = &pair {
                let expected = st.expected.get(pair).copied().unwrap_or(0);
                let parked = parked.entry(pair.clone()).or_insert(0);
                if *parked < expected {
                    *parked += 1;
                    i += 1;
                    continue;
                }
            }
            let need = front.key.memory_mb;
            while st.used_mb + need > self.capacity_mb {
                match self.evict_one(st) {
                    Some(id) => effects.remove.push(id),
                    None => break,
                }
            }
            if st.used_mb + need > self.capacity_mb {
                break;
            }
            let Some(waiter) = st.waiters.remove(i) else {
                break;
            };
            st.used_mb += need;
            let expect = Pool::expect(st, &waiter.key);
            let grant = Grant::Cold(Reservation {
                pool: Arc::clone(self),
                memory_mb: need,
                armed: true,
                expect,
            });
            if let Err(Grant::Cold(mut r)) = waiter.tx.send(grant) {
                r.armed = false;
                st.used_mb -= need;
                if let Some(e) = r.expect.take() {
                    Pool::unexpect(st, &e);
                }
            }
        }
        effects.start = self.plan_refills(st);
        effects
    }

    /// Gives waiter `i` an idle container of its revision and namespace, if there is one.
    fn hand_over_warm(self: &Arc<Self>, st: &mut State, i: usize) -> bool {
        if self.hand_over_slot(st, i) {
            return true;
        }
        let want = &st.waiters[i].key;
        let Some(pos) = st.idle.iter().rposition(|c| {
            let key = &c.container.key;
            key.revision == want.revision
                && key.namespace == want.namespace
                && (c.container.router.is_none() || want.concurrency > 1)
        }) else {
            return false;
        };
        if st.idle[pos].container.router.is_some() {
            // A container that served activations at once is shared again.
            let container = st.idle.remove(pos).container;
            st.shared.push(Shared {
                container,
                busy: 0,
                broken: false,
            });
            return self.hand_over_slot(st, i);
        }
        let idle = st.idle.remove(pos);
        let Some(waiter) = st.waiters.remove(i) else {
            return false;
        };
        let paused = idle.paused;
        let grant = Grant::Warm(Busy::whole(self, idle.container));
        if let Err(Grant::Warm(mut busy)) = waiter.tx.send(grant) {
            if let Some(container) = busy.container.take() {
                st.idle.insert(
                    pos,
                    Idle {
                        container,
                        since: idle.since,
                        paused,
                    },
                );
            }
        }
        true
    }

    /// Evicts the least recently used idle (or paused) container, or else the oldest stem
    /// cell; returns its id (and pause lock) for removal.
    fn evict_one(&self, st: &mut State) -> Option<(String, Option<PauseCell>)> {
        if !st.idle.is_empty() {
            let lru = st
                .idle
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.since)
                .map_or(0, |(i, _)| i);
            let gone = st.idle.remove(lru).container;
            st.forget(&gone);
            debug!(container = %gone.id, "Idle container evicted to make room.");
            return Some((gone.id, Some(gone.pause)));
        }
        let oldest = st
            .stems
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.since)
            .map(|(i, _)| i)?;
        let gone = st.stems.remove(oldest);
        st.used_mb -= self.plans[gone.plan].memory_mb;
        debug!(container = %gone.id, "Stem cell evicted to make room.");
        Some((gone.id, None))
    }

    /// Makes the engine calls decided under the lock.
    fn apply(self: &Arc<Self>, effects: Effects) {
        for (id, pause) in effects.remove {
            self.remove_later(id, pause);
        }
        for plan in effects.start {
            self.start_stem_later(plan);
        }
        for at in effects.wake {
            self.kick_at(at);
        }
    }

    /// Runs `task` on the tracker, so shutdown waits for it.
    fn track(&self, what: &str, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                self.tasks.spawn_on(task, &runtime);
            }
            Err(_) => warn!(what, "No runtime for a pool task; it is skipped."),
        }
    }

    /// Removes container `id` in the background, after any pause or resume of it
    /// (holding `pause`).
    fn remove_later(&self, id: String, pause: Option<PauseCell>) {
        let factory = Arc::clone(&self.factory);
        self.track("container removal", async move {
            let _held = match &pause {
                Some(cell) => Some(cell.lock().await),
                None => None,
            };
            if let Err(e) = factory.destroy(&id).await {
                warn!(container = %id, error = %e, "Container removal failed.");
            }
        });
    }

    /// Serves waiters and refills stem cells after something changed outside `dispatch`.
    fn kick(self: &Arc<Self>) {
        let effects = {
            let mut st = self.lock();
            self.dispatch(&mut st)
        };
        self.apply(effects);
    }

    /// Takes a container back after an activation.
    fn put_back(self: &Arc<Self>, container: Box<Container>, reusable: bool) {
        let (effects, gone) = {
            let mut st = self.lock();
            Pool::unhold(&mut st, container.seq);
            let retired = st
                .retired
                .get(&container.key.fqn)
                .is_some_and(|&before| container.key.updated < before);
            let gone = if reusable && !retired && !st.closed {
                self.make_idle(&mut st, container);
                None
            } else {
                st.forget(&container);
                Some(container)
            };
            (self.dispatch(&mut st), gone)
        };
        self.apply(effects);
        if let Some(c) = gone {
            self.remove_later(c.id, Some(c.pause));
        }
    }

    /// Keeps `container` idle from now, its pause timer armed.
    fn make_idle(self: &Arc<Self>, st: &mut State, container: Box<Container>) {
        let since = Instant::now();
        if self.pausing() {
            self.arm_pause(st, container.seq, since, &container.id, &container.pause);
        }
        st.idle.push(Idle {
            container,
            since,
            paused: false,
        });
    }

    /// Stops counting a container that is being removed, and removes it.
    fn forget(self: &Arc<Self>, container: &Container) {
        let effects = {
            let mut st = self.lock();
            st.forget(container);
            self.dispatch(&mut st)
        };
        self.apply(effects);
        self.remove_later(container.id.clone(), Some(Arc::clone(&container.pause)));
    }

    fn unreserve(self: &Arc<Self>, memory_mb: u64, expect: Option<Expect>) {
        let effects = {
            let mut st = self.lock();
            st.used_mb -= memory_mb;
            if let Some(e) = &expect {
                Pool::unexpect(&mut st, e);
            }
            self.dispatch(&mut st)
        };
        self.apply(effects);
    }

    /// Removes idle containers unused for the idle timeout at `now`; returns how many.
    /// Stem cells are not reaped.
    pub(crate) fn reap(self: &Arc<Self>, now: Instant) -> usize {
        let (expired, effects) = {
            let mut st = self.lock();
            let (expired, kept): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut st.idle)
                .into_iter()
                .partition(|c| now.duration_since(c.since) >= self.idle_timeout);
            st.idle = kept;
            for c in &expired {
                st.forget(&c.container);
            }
            let State { retired, live, .. } = &mut *st;
            retired.retain(|fqn, before| live.values().any(|(f, u)| f == fqn && u < before));
            (expired, self.dispatch(&mut st))
        };
        let n = expired.len();
        for c in expired {
            self.remove_later(c.container.id, Some(c.container.pause));
        }
        self.apply(effects);
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

    /// Removes the containers of `fqn` made for versions written before `before` (an
    /// `updated` value; `None`: every version that has a container now): idle ones now,
    /// busy ones when they are given back. Containers of newer versions stay, so a late
    /// notice of a write cannot retire what was started for that very write.
    pub(crate) fn retire(self: &Arc<Self>, fqn: &FullyQualifiedName, before: Option<i64>) -> usize {
        let (gone, effects) = {
            let mut st = self.lock();
            let before = before.unwrap_or_else(|| {
                st.live
                    .values()
                    .filter(|(f, _)| f == fqn)
                    .map(|(_, u)| u.saturating_add(1))
                    .max()
                    .unwrap_or(i64::MIN)
            });
            if st.live.values().any(|(f, u)| f == fqn && *u < before) {
                let bound = st.retired.entry(fqn.clone()).or_insert(before);
                *bound = (*bound).max(before);
            }
            let (gone, kept): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut st.idle)
                .into_iter()
                .partition(|c| c.container.key.fqn == *fqn && c.container.key.updated < before);
            st.idle = kept;
            for c in &gone {
                st.forget(&c.container);
            }
            (gone, self.dispatch(&mut st))
        };
        let n = gone.len();
        for c in gone {
            self.remove_later(c.container.id, Some(c.container.pause));
        }
        self.apply(effects);
        n
    }

    /// Removes containers left by an earlier run of this invoker.
    pub(crate) async fn remove_leftovers(&self) -> Result<usize, FactoryError> {
        self.factory
            .remove_labelled(LABEL_INVOKER, &self.invoker_id)
            .await
    }

    /// Refuses new callers, removes idle containers and stem cells and waits for every
    /// removal and start under way, then removes anything still labelled with this
    /// invoker. Busy containers should have been given back (or dropped) before.
    pub(crate) async fn shutdown(self: &Arc<Self>) {
        let gone: Vec<(String, Option<PauseCell>)> = {
            let mut st = self.lock();
            st.closed = true;
            st.waiters.clear();
            let idle = std::mem::take(&mut st.idle);
            for c in &idle {
                st.forget(&c.container);
            }
            let stems = std::mem::take(&mut st.stems);
            for s in &stems {
                st.used_mb -= self.plans[s.plan].memory_mb;
            }
            // Paused ones are thawed by the factory's removal.
            idle.into_iter()
                .map(|c| (c.container.id, Some(c.container.pause)))
                .chain(stems.into_iter().map(|s| (s.id, None)))
                .collect()
        };
        self.stop.cancel();
        for (id, pause) in gone {
            self.remove_later(id, pause);
        }
        self.tasks.close();
        self.tasks.wait().await;
        match self.remove_leftovers().await {
            Ok(0) => {}
            Ok(n) => info!(removed = n, "Remaining containers removed at shutdown."),
            Err(e) => warn!(error = %e, "Could not remove remaining containers at shutdown."),
        }
    }

    /// Containers by state now: busy (or being started), idle warm ones, paused ones,
    /// stem cells.
    pub(crate) fn counts(&self) -> crate::metrics::ContainerCounts {
        let st = self.lock();
        let idle = st.idle.len() as u64;
        let paused = st.idle.iter().filter(|c| c.paused).count() as u64;
        crate::metrics::ContainerCounts {
            busy: (st.live.len() as u64).saturating_sub(idle),
            warm: idle - paused,
            paused,
            prewarm: st.stems.len() as u64,
        }
    }

    /// Memory in use (busy, idle, stem cells and reserved).
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
        // Counted as live before creation, so a retirement during the creation applies to it.
        let seq = self.pool.lock().number(&key);
        let handle = match self.pool.factory.create(spec).await {
            Ok(handle) => handle,
            Err(e) => {
                self.pool.lock().live.remove(&seq);
                return Err(e);
            }
        };
        let logs = LogReceiver::spawn(self.pool.factory.logs(&handle.id));
        let (init_uri, run_uri) = container_uris(&handle);
        self.armed = false;
        let mut busy = Busy::whole(
            &self.pool,
            Box::new(Container::new(handle.id, key, init_uri, run_uri, logs, seq)),
        );
        busy.expect = self.expect.take();
        Ok(busy)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            self.pool.unreserve(self.memory_mb, self.expect.take());
        } else if let Some(e) = self.expect.take() {
            // The container's creation failed.
            self.pool.withdraw(&e);
        }
    }
}

// === impl Busy ===

impl Container {
    pub(super) fn new(
        id: String,
        key: ContainerKey,
        init_uri: Endpoint,
        run_uri: Endpoint,
        logs: LogReceiver,
        seq: u64,
    ) -> Self {
        Self {
            id,
            key,
            init_uri,
            run_uri,
            logs,
            router: None,
            seq,
            pause: PauseCell::default(),
        }
    }
}

impl Busy {
    /// A lease of the whole `container`.
    pub(super) fn whole(pool: &Arc<Pool>, container: Box<Container>) -> Self {
        Self {
            pool: Arc::clone(pool),
            container: Some(container),
            slot: None,
            expect: None,
        }
    }

    /// The whole container (a lease that is no slot: cold, stem cell, one at a time).
    ///
    /// # Panics
    /// On a slot of a shared container.
    pub(crate) fn container(&mut self) -> &mut Container {
        self.container
            .as_mut()
            .expect("a busy lease holds its container until consumed")
    }

    /// The container's id and pause lock, for a whole container or a slot.
    pub(super) fn pause_cell(&self) -> (&str, &PauseCell) {
        match (&self.container, &self.slot) {
            (Some(c), _) => (&c.id, &c.pause),
            (None, Some(s)) => (&s.id, &s.pause),
            (None, None) => unreachable!("a busy lease holds its container or a slot"),
        }
    }

    pub(crate) fn id(&self) -> &str {
        match (&self.container, &self.slot) {
            (Some(c), _) => c.id.as_str(),
            (None, Some(s)) => s.id.as_str(),
            (None, None) => "",
        }
    }

    /// `/run` of the container.
    pub(crate) fn run_uri(&self) -> Option<&Endpoint> {
        match (&self.container, &self.slot) {
            (Some(c), _) => Some(&c.run_uri),
            (None, Some(s)) => Some(&s.run_uri),
            (None, None) => None,
        }
    }

    /// Gives the container (or the slot) back for reuse by its revision.
    pub(crate) fn release(mut self) {
        self.serve_alone();
        if let Some(c) = self.container.take() {
            self.pool.put_back(c, true);
        } else if let Some(s) = self.slot.take() {
            self.pool.put_back_slot(s.seq, true);
        }
    }

    /// Removes the container (after a developer error, a timeout or lost logs) and
    /// returns its log receiver, so the lines written before the end can still be read.
    /// A slot marks its shared container broken instead (removed when its last slot is
    /// given back, so the other activations in it finish) and returns `None`.
    pub(crate) fn discard(mut self) -> Option<LogReceiver> {
        self.serve_alone();
        if let Some(s) = self.slot.take() {
            self.pool.put_back_slot(s.seq, false);
            return None;
        }
        let c = self.container.take()?;
        self.pool.forget(&c);
        Some(c.logs)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.serve_alone();
        if let Some(c) = self.container.take() {
            self.pool.put_back(c, false);
        } else if let Some(s) = self.slot.take() {
            self.pool.put_back_slot(s.seq, false);
        }
    }
}
