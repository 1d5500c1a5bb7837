//! Throttles (reference §7.2): per namespace, `invocationsPerMinute` and
//! `concurrentInvocations` for activations a user starts, `firesPerMinute` for trigger
//! fires, and the effective limits of a namespace: the system defaults of
//! [`ControllerConfig::limits`] overlaid with what an operator set (`whiskd admin limits
//! set`), read from the identity store and cached for `limits_cache_ttl`.
//!
//! The checks sit in the one invoke path ([`Controller::activate`] for every activation
//! without a parent: REST invokes, web actions, rule-fired invokes, feed actions) and in
//! [`Controller::fire`] (REST fires and alarms), so no entry point bypasses them. Sequence
//! components and conductor steps are not counted, as in OpenWhisk: their top-level
//! invoke was.
//!
//! Windows are fixed: epoch time divided by `throttle_window` (one minute), and the
//! request being checked is counted first, so a limit `n` lets `n` through per window.
//! A running activation holds a slot until its completion reaches this controller
//! ([`Controller::complete`]), or, should that be lost, until its time limit plus a grace
//! has passed.
//!
//! [`ControllerConfig::limits`]: crate::config::ControllerConfig::limits

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use whisk_store::LimitOverrides;
use whisk_types::{now_millis, ActivationId, EntityName};

use crate::config::ControllerConfig;
use crate::controller::Controller;
use crate::error::ApiError;

/// Entries of the per-window counters kept before stale ones are dropped.
const MAX_COUNTERS: usize = 10_000;

/// The limits that apply to one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Effective {
    pub invocations_per_minute: u64,
    pub concurrent_invocations: u64,
    pub fires_per_minute: u64,
    /// `None`: every kind the platform knows.
    pub allowed_kinds: Option<Vec<String>>,
    pub store_activations: bool,
}

impl Effective {
    fn new(config: &ControllerConfig, overrides: Option<&LimitOverrides>) -> Self {
        let d = &config.limits;
        let o = overrides.cloned().unwrap_or_default();
        Self {
            invocations_per_minute: o.invocations_per_minute.unwrap_or(d.invocations_per_minute),
            concurrent_invocations: o.concurrent_invocations.unwrap_or(d.concurrent_invocations),
            fires_per_minute: o.fires_per_minute.unwrap_or(d.fires_per_minute),
            allowed_kinds: o.allowed_kinds,
            store_activations: o.store_activations.unwrap_or(true),
        }
    }

    /// Whether actions of `kind` may be created in the namespace.
    pub fn allows_kind(&self, kind: &str) -> bool {
        self.allowed_kinds
            .as_ref()
            .is_none_or(|kinds| kinds.iter().any(|k| k == kind))
    }
}

/// What a per-minute counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counter {
    Invocations,
    Fires,
}

/// Running activations' holds on their namespaces' concurrency. Each namespace's slots are
/// kept apart, so admitting one activation looks only at its own namespace's (at most its
/// `concurrentInvocations`), never at every running activation.
#[derive(Debug, Default)]
struct Slots {
    /// By namespace: each activation id and when its slot is given up even without a
    /// completion.
    by_namespace: HashMap<EntityName, HashMap<ActivationId, Instant>>,
    /// The namespace each held slot is in, for [`Throttles::release`] by id.
    namespace_of: HashMap<ActivationId, EntityName>,
}

/// The throttles' state: counters, slots and the cache of overrides.
#[derive(Debug, Default)]
pub(crate) struct Throttles {
    /// `(namespace, counter)` to `(window index, count in that window)`.
    counters: Mutex<HashMap<(EntityName, Counter), (i64, u64)>>,
    /// Running activations' slots.
    slots: Mutex<Slots>,
    /// Overrides by namespace, with when they were read.
    overrides: Mutex<HashMap<EntityName, (Instant, Option<LimitOverrides>)>>,
}

impl Throttles {
    /// Forgets the cached overrides of `namespace` (another controller or `whiskd admin`
    /// changed them).
    pub(crate) fn forget_limits(&self, namespace: &EntityName) {
        self.overrides
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(namespace);
    }

    /// Counts one event in the current window; the count including it.
    fn count(&self, namespace: &EntityName, counter: Counter, window: Duration) -> u64 {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
        let index = now_millis() / window_ms;
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if counters.len() >= MAX_COUNTERS {
            counters.retain(|_, (i, _)| *i == index);
        }
        let entry = counters
            .entry((namespace.clone(), counter))
            .or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 += 1;
        entry.1
    }

    /// Takes a concurrency slot for `id` unless `max` are held; else the number held.
    fn acquire(
        &self,
        namespace: &EntityName,
        id: ActivationId,
        max: u64,
        hold: Duration,
    ) -> Result<(), u64> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Slots {
            by_namespace,
            namespace_of,
        } = &mut *slots;
        let held = by_namespace.entry(namespace.clone()).or_default();
        held.retain(|id, expires| {
            let live = *expires > now;
            if !live {
                namespace_of.remove(id);
            }
            live
        });
        let count = held.len() as u64;
        if count >= max {
            return Err(count);
        }
        held.insert(id, now + hold);
        namespace_of.insert(id, namespace.clone());
        Ok(())
    }

    /// Gives up the slot of `id`, if it holds one.
    pub fn release(&self, id: &ActivationId) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some(namespace) = slots.namespace_of.remove(id) else {
            return;
        };
        if let Some(held) = slots.by_namespace.get_mut(&namespace) {
            held.remove(id);
            if held.is_empty() {
                slots.by_namespace.remove(&namespace);
            }
        }
    }

    /// Running activations of `namespace` holding a slot.
    pub fn in_flight(&self, namespace: &EntityName) -> u64 {
        let now = Instant::now();
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.by_namespace.get(namespace).map_or(0, |held| {
            held.values().filter(|expires| **expires > now).count() as u64
        })
    }
}

/// OpenWhisk's `tooManyRequests`.
fn too_many_requests(count: u64, allowed: u64) -> ApiError {
    ApiError::TooManyRequests(format!(
        "Too many requests in the last minute (count: {count}, allowed: {allowed})."
    ))
}

/// OpenWhisk's `tooManyConcurrentRequests`.
fn too_many_concurrent(count: u64, allowed: u64) -> ApiError {
    ApiError::TooManyRequests(format!(
        "Too many concurrent requests in flight (count: {count}, allowed: {allowed})."
    ))
}

// === impl Controller ===

impl Controller {
    /// The limits that apply to `namespace` now (overrides cached for `limits_cache_ttl`).
    /// When the store cannot be read, the last overrides known, else the defaults.
    pub(crate) async fn limits_of(&self, namespace: &EntityName) -> Effective {
        let ttl = self.config.limits_cache_ttl;
        let cached = self
            .throttles
            .overrides
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace)
            .cloned();
        if let Some((at, o)) = &cached {
            if at.elapsed() < ttl {
                return Effective::new(&self.config, o.as_ref());
            }
        }
        let read = match self.identities.namespace_limits(namespace).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(%namespace, error = %e, "Cannot read the limits of a namespace.");
                return Effective::new(&self.config, cached.and_then(|(_, o)| o).as_ref());
            }
        };
        let effective = Effective::new(&self.config, read.as_ref());
        let mut cache = self
            .throttles
            .overrides
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_COUNTERS {
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        cache.insert(namespace.clone(), (Instant::now(), read));
        effective
    }

    /// Admits an activation `namespace` starts: counts it against `invocationsPerMinute`
    /// and takes one of its `concurrentInvocations` slots for up to `hold`.
    ///
    /// # Errors
    /// 429 with OpenWhisk's text when either limit is reached.
    pub(crate) async fn admit_invocation(
        &self,
        namespace: &EntityName,
        id: ActivationId,
        hold: Duration,
    ) -> Result<(), ApiError> {
        let limits = self.limits_of(namespace).await;
        let window = self.config.throttle_window;
        // Each of `cluster_size` controllers admits its share of a namespace's limits.
        let per_minute = self.share(limits.invocations_per_minute);
        let concurrent = self.share(limits.concurrent_invocations);
        let count = self
            .throttles
            .count(namespace, Counter::Invocations, window);
        if count > per_minute {
            return Err(too_many_requests(count, per_minute));
        }
        self.throttles
            .acquire(namespace, id, concurrent, hold)
            .map_err(|held| too_many_concurrent(held, concurrent))
    }

    /// Admits a trigger fire of `namespace` against its `firesPerMinute`.
    ///
    /// # Errors
    /// 429 with OpenWhisk's text when the limit is reached.
    pub(crate) async fn admit_fire(&self, namespace: &EntityName) -> Result<(), ApiError> {
        let limits = self.limits_of(namespace).await;
        let per_minute = self.share(limits.fires_per_minute);
        let count = self
            .throttles
            .count(namespace, Counter::Fires, self.config.throttle_window);
        if count > per_minute {
            return Err(too_many_requests(count, per_minute));
        }
        Ok(())
    }

    /// This controller's share of a limit: throttles are counted per process, so with
    /// `cluster_size` controllers each admits `limit / cluster_size`, rounded up (at
    /// least 1 for a limit above 0), as OpenWhisk's controllers divide them.
    fn share(&self, limit: u64) -> u64 {
        let n = self.config.cluster_size.max(1);
        if limit == 0 {
            0
        } else {
            limit.div_ceil(n)
        }
    }

    /// Running activations of `namespace` that count against its concurrency.
    pub fn in_flight(&self, namespace: &EntityName) -> u64 {
        self.throttles.in_flight(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> EntityName {
        EntityName::namespace(s).unwrap()
    }

    #[test]
    fn counters_are_per_namespace_and_window() {
        let t = Throttles::default();
        let long = Duration::from_secs(3600);
        assert_eq!(t.count(&ns("a"), Counter::Invocations, long), 1);
        assert_eq!(t.count(&ns("a"), Counter::Invocations, long), 2);
        assert_eq!(t.count(&ns("a"), Counter::Fires, long), 1);
        assert_eq!(t.count(&ns("b"), Counter::Invocations, long), 1);
    }

    #[test]
    fn slots_are_held_until_released_or_expired() {
        let t = Throttles::default();
        let (a, b) = (ActivationId::generate(), ActivationId::generate());
        let hold = Duration::from_secs(60);
        assert_eq!(t.acquire(&ns("a"), a, 1, hold), Ok(()));
        assert_eq!(t.acquire(&ns("a"), b, 1, hold), Err(1));
        assert_eq!(t.acquire(&ns("b"), b, 1, hold), Ok(()), "another namespace");
        t.release(&a);
        assert_eq!(t.in_flight(&ns("a")), 0);
        let c = ActivationId::generate();
        assert_eq!(t.acquire(&ns("a"), c, 1, Duration::ZERO), Ok(()));
        assert_eq!(t.in_flight(&ns("a")), 0, "an expired slot is not held");
        assert_eq!(t.acquire(&ns("a"), a, 0, hold), Err(0), "0 blocks all");
    }

    #[test]
    fn overrides_win_over_defaults() {
        let config = ControllerConfig::default();
        let e = Effective::new(&config, None);
        assert_eq!(e.invocations_per_minute, 60);
        assert!(e.store_activations && e.allows_kind("anything"));
        let o = LimitOverrides {
            invocations_per_minute: Some(5),
            allowed_kinds: Some(vec!["nodejs:18".into()]),
            store_activations: Some(false),
            ..LimitOverrides::default()
        };
        let e = Effective::new(&config, Some(&o));
        assert_eq!(e.invocations_per_minute, 5);
        assert_eq!(e.concurrent_invocations, 30);
        assert!(e.allows_kind("nodejs:18") && !e.allows_kind("python:3.11"));
        assert!(!e.store_activations);
    }
}
