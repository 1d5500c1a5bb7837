//! Stem cells: containers of a runtime kind started before any action needs them (OpenWhisk
//! calls them prewarmed containers). A cold start of that kind takes one and pays only
//! `/init`; the pool then starts a replacement in the background.
//!
//! A refill uses free memory only (it never evicts, and waits while callers wait for
//! memory). It also waits until the activation that took the stem cell is done with its
//! container (given back or removed), at most [`REFILL_HOLD`]: starting a container costs
//! the engine and the machine CPU that the taken stem cell's `/init` (an interpreter
//! starting) and its log delivery need at that very moment. A start that fails is retried
//! with a growing pause (up to a minute); a missing image (or a kind the factory cannot
//! run) stops the refills of that kind, with one warning.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{container_uris, Busy, Container, ContainerKey, Grant, Pool, State};
use crate::client::Endpoint;
use crate::factory::{ContainerSpec, FactoryError};
use crate::logs::LogReceiver;

/// The longest pause between failed starts of a stem cell.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);
/// The longest a taken stem cell's activation holds back the refill of its kind.
pub(super) const REFILL_HOLD: Duration = Duration::from_secs(1);

/// The stem cells to keep for one kind.
#[derive(Debug, Clone)]
pub(crate) struct StemPlan {
    /// The kind an action must have to take one.
    pub kind: Arc<str>,
    /// How many to keep ready.
    pub count: usize,
    /// The memory limit of each (an action with at most this limit may take one).
    pub memory_mb: u64,
    /// What to start; `name` is a prefix, made unique per container.
    pub spec: ContainerSpec,
}

/// What the pool tracks per plan.
#[derive(Debug, Clone, Default)]
pub(super) struct PlanState {
    /// Starts under way (their memory is counted).
    starting: usize,
    /// Failed starts in a row.
    failures: u32,
    /// No start before this instant (after a failure).
    retry_at: Option<Instant>,
    /// The image is missing: no more starts.
    given_up: bool,
    /// Containers taken from this plan (by sequence number) whose activation has not given
    /// them back yet, with when they were taken: no refill meanwhile (see [`REFILL_HOLD`]).
    holds: Vec<(u64, Instant)>,
}

/// A started stem cell, ready to be taken.
pub(super) struct Stem {
    /// Its plan's index.
    pub plan: usize,
    pub id: String,
    /// `/init` and `/run` with the token the stem cell got at creation.
    init_uri: Endpoint,
    run_uri: Endpoint,
    logs: LogReceiver,
    /// When it became ready: the oldest is evicted first.
    pub since: Instant,
}

/// The pause after `failures` failed starts in a row: 1 s, doubling, at most a minute.
fn retry_pause(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(MAX_RETRY_PAUSE)
}

// === impl Pool ===

impl Pool {
    /// Starts the stem cells (after the leftovers of an earlier run are removed, as they
    /// carry the same invoker label) and keeps them refilled from now on.
    pub(crate) fn start_stem_cells(self: &Arc<Self>) {
        if self.plans.is_empty() {
            return;
        }
        for plan in &self.plans {
            info!(kind = %plan.kind, count = plan.count, memory_mb = plan.memory_mb, "Starting stem cells.");
        }
        self.lock().stems_enabled = true;
        self.kick();
    }

    /// Gives waiter `i` a stem cell of its kind with enough memory, if there is one: the
    /// smallest that fits, the oldest of those. Its refill waits (see [`REFILL_HOLD`]);
    /// `wake` gets the instant the hold ends at the latest.
    pub(super) fn hand_over_stem(
        self: &Arc<Self>,
        st: &mut State,
        i: usize,
        wake: &mut Vec<Instant>,
    ) -> bool {
        let waiter = &st.waiters[i];
        let Some(kind) = waiter.kind.as_deref() else {
            return false;
        };
        let need = waiter.key.memory_mb;
        let Some(pos) = st
            .stems
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let plan = &self.plans[s.plan];
                &*plan.kind == kind && plan.memory_mb >= need
            })
            .min_by_key(|(_, s)| (self.plans[s.plan].memory_mb, s.since))
            .map(|(pos, _)| pos)
        else {
            return false;
        };
        let Some(waiter) = st.waiters.remove(i) else {
            return false;
        };
        let stem = st.stems.remove(pos);
        let (plan, since) = (stem.plan, stem.since);
        let key = ContainerKey {
            memory_mb: self.plans[plan].memory_mb,
            ..waiter.key
        };
        // Live from now on: a retirement of the action's version applies to it.
        let seq = st.number(&key);
        let taken = Instant::now();
        st.plans[plan].holds.push((seq, taken));
        debug!(container = %stem.id, action = %key.fqn, "Stem cell taken.");
        let expect = Pool::expect(st, &key);
        let mut busy = Busy::whole(
            self,
            Box::new(Container::new(
                stem.id,
                key,
                stem.init_uri,
                stem.run_uri,
                stem.logs,
                seq,
            )),
        );
        busy.expect = expect;
        match waiter.tx.send(Grant::Stem(busy)) {
            Ok(()) => wake.push(taken + REFILL_HOLD),
            Err(Grant::Stem(mut busy)) => {
                // The caller is gone: the container is still an untouched stem cell.
                if let Some(e) = busy.expect.take() {
                    Pool::unexpect(st, &e);
                }
                if let Some(c) = busy.container.take() {
                    st.live.remove(&c.seq);
                    st.plans[plan].holds.retain(|(s, _)| *s != c.seq);
                    st.stems.push(Stem {
                        plan,
                        id: c.id,
                        init_uri: c.init_uri,
                        run_uri: c.run_uri,
                        logs: c.logs,
                        since,
                    });
                }
            }
            Err(_) => {}
        }
        true
    }

    /// Counts the memory of the stem cells to start now, by plan index: what is missing
    /// of each plan, as long as free memory lasts and no caller waits for memory.
    pub(super) fn plan_refills(&self, st: &mut State) -> Vec<usize> {
        let mut start = Vec::new();
        if !st.stems_enabled || st.closed || !st.waiters.is_empty() {
            return start;
        }
        let now = Instant::now();
        for (i, plan) in self.plans.iter().enumerate() {
            let ready = st.stems.iter().filter(|s| s.plan == i).count();
            let ps = &mut st.plans[i];
            ps.holds
                .retain(|(_, taken)| now.saturating_duration_since(*taken) < REFILL_HOLD);
            if ps.given_up || ps.retry_at.is_some_and(|at| at > now) || !ps.holds.is_empty() {
                continue;
            }
            while ready + ps.starting < plan.count
                && st.used_mb + plan.memory_mb <= self.capacity_mb
            {
                ps.starting += 1;
                st.used_mb += plan.memory_mb;
                start.push(i);
            }
        }
        start
    }

    /// Ends the refill hold of the container numbered `seq`, if it came from a stem cell:
    /// its activation gave it back, or it leaves the pool.
    pub(super) fn unhold(st: &mut State, seq: u64) {
        for ps in &mut st.plans {
            ps.holds.retain(|(s, _)| *s != seq);
        }
    }

    /// Serves waiters and refills stem cells at `at` (when a refill hold ends).
    pub(super) fn kick_at(self: &Arc<Self>, at: Instant) {
        let pool = Arc::clone(self);
        self.track("stem cell hold", async move {
            tokio::select! {
                () = pool.stop.cancelled() => {}
                () = tokio::time::sleep_until(at) => pool.kick(),
            }
        });
    }

    /// Starts a stem cell of plan `plan` in the background (its memory is counted).
    pub(super) fn start_stem_later(self: &Arc<Self>, plan: usize) {
        let pool = Arc::clone(self);
        self.track(
            "stem cell start",
            async move { pool.start_stem(plan).await },
        );
    }

    async fn start_stem(self: Arc<Self>, plan: usize) {
        let p = &self.plans[plan];
        let mut spec = p.spec.clone();
        let short = uuid::Uuid::new_v4().simple().to_string();
        spec.name = format!("{}{}", p.spec.name, &short[..12]);
        let created = match self.factory.create(&spec).await {
            Ok(handle) => {
                let logs = LogReceiver::spawn(self.factory.logs(&handle.id));
                Ok((handle, logs))
            }
            Err(e) => {
                if let FactoryError::Exited(id) = &e {
                    self.remove_later(id.clone(), None);
                }
                Err(e)
            }
        };
        let mut orphan = None;
        let mut retry_at = None;
        let effects = {
            let mut st = self.lock();
            let closed = st.closed;
            st.plans[plan].starting -= 1;
            match created {
                Ok((handle, logs)) if !closed => {
                    let (init_uri, run_uri) = container_uris(&handle);
                    debug!(container = %handle.id, kind = %p.kind, "Stem cell ready.");
                    st.plans[plan].failures = 0;
                    st.plans[plan].retry_at = None;
                    st.stems.push(Stem {
                        plan,
                        id: handle.id,
                        init_uri,
                        run_uri,
                        logs,
                        since: Instant::now(),
                    });
                }
                Ok((handle, _)) => {
                    st.used_mb -= p.memory_mb;
                    orphan = Some(handle.id);
                }
                Err(e @ (FactoryError::ImageUnavailable(_) | FactoryError::Unsupported(_))) => {
                    st.used_mb -= p.memory_mb;
                    st.plans[plan].given_up = true;
                    warn!(kind = %p.kind, error = %e, "Stem cells of this kind cannot start; none will.");
                }
                Err(e) => {
                    st.used_mb -= p.memory_mb;
                    let ps = &mut st.plans[plan];
                    ps.failures = ps.failures.saturating_add(1);
                    let pause = retry_pause(ps.failures);
                    let at = Instant::now() + pause;
                    ps.retry_at = Some(at);
                    retry_at = Some(at);
                    warn!(kind = %p.kind, error = %e, retry_in_ms = pause.as_millis() as u64, "A stem cell did not start.");
                }
            }
            self.dispatch(&mut st)
        };
        self.apply(effects);
        if let Some(id) = orphan {
            self.remove_later(id, None);
        }
        if let Some(at) = retry_at {
            self.kick_at(at);
        }
    }

    /// Stem cells ready, per kind.
    #[cfg(test)]
    pub(crate) fn stem_count(&self, kind: &str) -> usize {
        let st = self.lock();
        st.stems
            .iter()
            .filter(|s| &*self.plans[s.plan].kind == kind)
            .count()
    }

    /// Ids of the ready stem cells.
    #[cfg(test)]
    pub(crate) fn stem_ids(&self) -> Vec<String> {
        self.lock().stems.iter().map(|s| s.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_pauses_grow_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|n| retry_pause(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
