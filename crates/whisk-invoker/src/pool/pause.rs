//! Pausing idle containers: a container given back idle is paused (frozen through its
//! factory) once it stayed idle for the pool's pause grace, and resumed when a caller
//! takes it. A paused container keeps its memory, which the pool still counts; it leaves
//! by LRU eviction when memory is needed, by the idle timeout, or at shutdown.
//!
//! Each container has a [`PauseCell`]: an async lock over its [`Frozen`] state. Whoever
//! pauses, resumes or removes the container holds it meanwhile, so a caller that takes a
//! container while its pause is in flight waits for the pause to end and then resumes it,
//! and a removal never runs beside a pause. A pause that fails marks the container
//! broken: removed if still idle, else discarded by the caller that took it, which then
//! waits for another container (a resume that fails likewise), never an error.
//!
//! A factory that answers [`FactoryError::Unsupported`] stops the pool pausing at all.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Busy, Pool, State};
use crate::factory::FactoryError;

/// A container's run state as far as pausing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Frozen {
    #[default]
    Running,
    Paused,
    /// A pause or resume failed: the container is not to be used again.
    Broken,
}

/// See the module documentation.
pub(crate) type PauseCell = Arc<tokio::sync::Mutex<Frozen>>;

impl Pool {
    /// Whether containers given back idle are to be paused.
    pub(super) fn pausing(&self) -> bool {
        !self.pause_grace.is_zero() && self.pause_supported.load(Ordering::Relaxed)
    }

    /// Arms the pause timer of container `seq` (`id`), given back idle at `since`, unless
    /// it has one already: one timer per container, not per activation, so a busy warm
    /// container costs a wake-up per grace, not a task per activation.
    pub(super) fn arm_pause(
        self: &Arc<Self>,
        st: &mut State,
        seq: u64,
        since: Instant,
        id: &str,
        cell: &PauseCell,
    ) {
        if !st.pause_timers.insert(seq) {
            return;
        }
        let pool = Arc::clone(self);
        let (id, cell) = (id.to_owned(), Arc::clone(cell));
        let mut at = since + self.pause_grace;
        self.track("container pause", async move {
            loop {
                tokio::select! {
                    () = pool.stop.cancelled() => return,
                    () = tokio::time::sleep_until(at) => {}
                }
                let due = {
                    let mut st = pool.lock();
                    let due = st
                        .idle
                        .iter()
                        .find(|c| c.container.seq == seq && !c.paused)
                        .map(|c| c.since);
                    match due {
                        // Used again since: wait for the grace after its last use.
                        Some(since) if since + pool.pause_grace > Instant::now() => {
                            at = since + pool.pause_grace;
                            continue;
                        }
                        _ => {
                            st.pause_timers.remove(&seq);
                            due
                        }
                    }
                };
                // Busy (its next release arms again), paused or gone: nothing to do.
                if let Some(since) = due {
                    pool.pause_idle(seq, since, &id, &cell).await;
                }
                return;
            }
        });
    }

    /// Whether container `seq` is idle, unpaused, since `since`.
    fn idle_since(&self, seq: u64, since: Instant) -> bool {
        self.lock()
            .idle
            .iter()
            .any(|c| c.container.seq == seq && c.since == since && !c.paused)
    }

    async fn pause_idle(self: &Arc<Self>, seq: u64, since: Instant, id: &str, cell: &PauseCell) {
        if !self.idle_since(seq, since) {
            return;
        }
        // Held by a caller resuming it or a removal: it is not idle any more.
        let Ok(mut frozen) = cell.try_lock() else {
            return;
        };
        // Taken meanwhile: leave it running. (Taken after this check: the taker waits for
        // this lock and resumes it.)
        if *frozen != Frozen::Running || !self.idle_since(seq, since) {
            return;
        }
        match self.factory.pause(id).await {
            Ok(()) => {
                *frozen = Frozen::Paused;
                if let Some(c) = self.lock().idle.iter_mut().find(|c| c.container.seq == seq) {
                    c.paused = true;
                }
                debug!(container = %id, "Idle container paused.");
            }
            Err(FactoryError::Unsupported(why)) => {
                if self.pause_supported.swap(false, Ordering::Relaxed) {
                    info!(reason = %why, "Idle containers are not paused: the container factory cannot.");
                }
            }
            Err(e) => {
                *frozen = Frozen::Broken;
                drop(frozen);
                warn!(container = %id, error = %e, "Pausing an idle container failed; it is removed.");
                self.remove_if_idle(seq);
            }
        }
    }

    /// Removes container `seq` if it is idle (a pause of it failed).
    fn remove_if_idle(self: &Arc<Self>, seq: u64) {
        let (gone, effects) = {
            let mut st = self.lock();
            let gone = st
                .idle
                .iter()
                .position(|c| c.container.seq == seq)
                .map(|i| st.idle.remove(i).container);
            if let Some(c) = &gone {
                st.forget(c);
            }
            (gone, self.dispatch(&mut st))
        };
        self.apply(effects);
        if let Some(c) = gone {
            self.remove_later(c.id, Some(c.pause));
        }
    }

    /// Makes a warm container taken from the pool runnable: waits for a pause in flight,
    /// resumes it if paused. `None`: it is broken (a pause or the resume failed) and was
    /// discarded; the caller asks again.
    pub(super) async fn resumed(&self, busy: Busy) -> Option<Busy> {
        let (id, cell) = {
            let (id, cell) = busy.pause_cell();
            (id.to_owned(), Arc::clone(cell))
        };
        let mut frozen = cell.lock().await;
        match *frozen {
            Frozen::Running => return Some(busy),
            Frozen::Paused => {
                let started = Instant::now();
                match self.factory.resume(&id).await {
                    Ok(()) => {
                        *frozen = Frozen::Running;
                        debug!(container = %id, took_us = started.elapsed().as_micros() as u64, "Paused container resumed.");
                        return Some(busy);
                    }
                    Err(e) => {
                        *frozen = Frozen::Broken;
                        warn!(container = %id, error = %e, "Resuming a paused container failed; it is removed.");
                    }
                }
            }
            Frozen::Broken => {}
        }
        drop(frozen);
        let _ = busy.discard();
        None
    }
}
