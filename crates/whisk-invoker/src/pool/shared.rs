//! Concurrent activations (`limits.concurrency` > 1) in one container.
//!
//! A container whose `/init` confirmed concurrent runs is *shared* ([`Busy::share`]): it
//! stays in the pool's table of shared containers while activations run in it, each
//! holding a slot ([`Busy`] without the container), up to the action's concurrency. A
//! caller of the same revision and namespace takes a free slot before anything else; when
//! the last slot is given back the container goes idle like any other (and is shared
//! again when next taken). Its memory is counted once. A slot given back as broken (a
//! timeout, lost logs, a crash) stops new slots, and the container is removed when its
//! last slot comes back, so the other activations in it finish.
//!
//! While a container of such an action is being started, up to `concurrency - 1` callers of
//! the same revision and namespace wait for its slots instead of starting containers of
//! their own; if it does not become shared (its start or `/init` failed, or the runtime
//! serves one run at a time) they are served as usual.

use std::sync::Arc;

use whisk_types::EntityName;

use super::pause::PauseCell;
use super::{Busy, Container, ContainerKey, Grant, Pool, State};
use crate::client::Endpoint;
use crate::logs::LogRouter;

/// A container serving activations at once.
pub(super) struct Shared {
    pub(super) container: Box<Container>,
    /// Slots taken.
    pub(super) busy: u64,
    /// No new slots: removed when the last one comes back.
    pub(super) broken: bool,
}

/// Slots a container being started is expected to offer once shared, for waiters of its
/// revision and namespace.
#[derive(Debug, Clone)]
pub(super) struct Expect {
    pub(super) revision: Arc<str>,
    pub(super) namespace: EntityName,
    pub(super) slots: u64,
}

/// What an activation in a shared container needs of it.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) seq: u64,
    pub(super) id: String,
    pub(super) run_uri: Endpoint,
    pub(super) router: Arc<LogRouter>,
    /// The shared container's pause lock: the first slot taken after a pause resumes it.
    pub(super) pause: PauseCell,
}

impl Pool {
    /// Gives waiter `i` a free slot of a shared container of its revision and namespace,
    /// if there is one.
    pub(super) fn hand_over_slot(self: &Arc<Self>, st: &mut State, i: usize) -> bool {
        let want = &st.waiters[i].key;
        if want.concurrency <= 1 {
            return false;
        }
        let Some(pos) = st.shared.iter().position(|s| {
            let key = &s.container.key;
            !s.broken
                && s.busy < key.concurrency
                && key.revision == want.revision
                && key.namespace == want.namespace
        }) else {
            return false;
        };
        let Some(waiter) = st.waiters.remove(i) else {
            return false;
        };
        let shared = &mut st.shared[pos];
        shared.busy += 1;
        let grant = Grant::Warm(Busy::slot(self, &shared.container));
        if let Err(Grant::Warm(mut busy)) = waiter.tx.send(grant) {
            // The caller is gone: take the slot back here (its drop would lock the pool).
            busy.slot = None;
            st.shared[pos].busy -= 1;
        }
        true
    }

    /// Takes a slot of shared container `seq` back; `reusable: false` marks the container
    /// broken. The last slot out makes it idle, or removes it.
    pub(super) fn put_back_slot(self: &Arc<Self>, seq: u64, reusable: bool) {
        let (effects, gone) = {
            let mut st = self.lock();
            let Some(pos) = st.shared.iter().position(|s| s.container.seq == seq) else {
                return;
            };
            let shared = &mut st.shared[pos];
            shared.busy = shared.busy.saturating_sub(1);
            shared.broken |= !reusable;
            let gone = if shared.busy == 0 {
                let Shared {
                    container, broken, ..
                } = st.shared.swap_remove(pos);
                let retired = st
                    .retired
                    .get(&container.key.fqn)
                    .is_some_and(|&before| container.key.updated < before);
                if broken || retired || st.closed {
                    st.forget(&container);
                    Some(container)
                } else {
                    self.make_idle(&mut st, container);
                    None
                }
            } else {
                None
            };
            (self.dispatch(&mut st), gone)
        };
        self.apply(effects);
        if let Some(c) = gone {
            self.remove_later(c.id, Some(c.pause));
        }
    }

    /// Counts the slots a container of `key` being started will offer once shared (none
    /// for concurrency 1), for waiters of its revision and namespace to wait for.
    pub(super) fn expect(st: &mut State, key: &ContainerKey) -> Option<Expect> {
        if key.concurrency <= 1 {
            return None;
        }
        let expect = Expect {
            revision: Arc::clone(&key.revision),
            namespace: key.namespace.clone(),
            slots: key.concurrency - 1,
        };
        *st.expected
            .entry((Arc::clone(&expect.revision), expect.namespace.clone()))
            .or_insert(0) += expect.slots;
        Some(expect)
    }

    /// Withdraws the slots `expect` promised (under the lock).
    pub(super) fn unexpect(st: &mut State, expect: &Expect) {
        let pair = (Arc::clone(&expect.revision), expect.namespace.clone());
        if let Some(n) = st.expected.get_mut(&pair) {
            *n = n.saturating_sub(expect.slots);
            if *n == 0 {
                st.expected.remove(&pair);
            }
        }
    }

    /// Withdraws the slots `expect` promised and serves the waiters that counted on them.
    pub(super) fn withdraw(self: &Arc<Self>, expect: &Expect) {
        let effects = {
            let mut st = self.lock();
            Pool::unexpect(&mut st, expect);
            self.dispatch(&mut st)
        };
        self.apply(effects);
    }
}

impl Busy {
    /// A lease of a slot of `container`, which is shared (its router is set).
    pub(super) fn slot(pool: &Arc<Pool>, container: &Container) -> Self {
        let router = container
            .router
            .as_ref()
            .expect("a shared container routes its log");
        Self {
            pool: Arc::clone(pool),
            container: None,
            slot: Some(Slot {
                seq: container.seq,
                id: container.id.clone(),
                run_uri: container.run_uri.clone(),
                router: Arc::clone(router),
                pause: Arc::clone(&container.pause),
            }),
            expect: None,
        }
    }

    /// The container's log sorted by activation, for a slot of a shared container.
    pub(crate) fn router(&self) -> Option<&Arc<LogRouter>> {
        self.slot.as_ref().map(|s| &s.router)
    }

    /// Shares the container (its `/init` confirmed concurrent runs) and keeps one slot of
    /// it; the others go to callers of the same revision and namespace. Its log is sorted
    /// by activation from now on. A container of an action with concurrency 1 stays whole.
    pub(crate) fn share(mut self) -> Self {
        let Some(mut container) = self.container.take() else {
            return self;
        };
        if container.key.concurrency <= 1 {
            self.container = Some(container);
            return self;
        }
        let logs = container.logs.detach();
        container.router = Some(Arc::new(LogRouter::spawn(logs)));
        let slot = Busy::slot(&self.pool, &container);
        let expect = self.expect.take();
        let effects = {
            let mut st = self.pool.lock();
            if let Some(e) = &expect {
                Pool::unexpect(&mut st, e);
            }
            st.shared.push(Shared {
                container,
                busy: 1,
                broken: false,
            });
            self.pool.dispatch(&mut st)
        };
        self.pool.apply(effects);
        slot
    }

    /// Gives up what waiters expected of this container: it will not be shared.
    pub(crate) fn serve_alone(&mut self) {
        if let Some(e) = self.expect.take() {
            self.pool.withdraw(&e);
        }
    }
}
