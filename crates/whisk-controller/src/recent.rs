//! Read-your-writes for activation records: the completions this controller received,
//! kept in memory until the store surely has them.
//!
//! An invoker announces a completion before it stores the record (the caller is not kept
//! waiting for the store), so a `GET .../activations/{id}` sent right after a blocking
//! answer may reach the store first. The handlers read the store and, when it has no such
//! record, look here. Entries are keyed by the record's namespace and id, so a lookup
//! from another namespace never finds one; they are bounded in count ([`MAX_ENTRIES`],
//! oldest dropped first) and in age ([`KEEP_FOR`], far longer than a store write takes).
//! Lists of the first page show them too, merged by start time.
//! Activations whose namespace stores no records (`storeActivations` off) are never kept
//! ([`RecentCompletions::skip`]), so they stay unreadable as OpenWhisk has them.
//!
//! A completion leaves as soon as the store has its record: [`confirm_stored`] looks for
//! each one in the store shortly after it arrived (again every [`CONFIRM_EVERY`] while it
//! is not there), so memory holds only records in flight, and a record the retention purge
//! deleted is not read back from here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use whisk_store::ActivationQuery;
use whisk_types::{Activation, ActivationId, EntityName};

use crate::controller::Controller;

/// Most completions kept; past it the oldest go first.
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// How long a completion is kept: a bound on how late its record may land in the store.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(30);
/// Most activation ids marked as not to be kept, awaiting their completion.
const MAX_SKIPPED: usize = 10_000;
/// The pause before a round of store lookups (completions that arrived meanwhile are looked
/// for together), and between rounds while some records are not stored yet.
pub(crate) const CONFIRM_EVERY: Duration = Duration::from_millis(20);
/// Most records looked for in one round.
const CONFIRM_BATCH: usize = 256;

type Key = (EntityName, ActivationId);

/// Completions received, by namespace and activation id, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RecentCompletions {
    inner: Mutex<Inner>,
    /// Wakes [`confirm_stored`] when a completion arrives.
    arrived: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<Key, Arc<Activation>>,
    /// Keys in arrival order with their arrival time (the eviction order).
    order: VecDeque<(Instant, Key)>,
    /// Activations published with `store_record` off: their completions are not kept.
    skipped: HashSet<ActivationId>,
    /// Kept records not yet seen in the store, oldest first.
    unconfirmed: VecDeque<Key>,
}

impl RecentCompletions {
    /// Keeps `record` (unless its id was marked by [`RecentCompletions::skip`]).
    pub fn remember(&self, record: &Activation) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.skipped.remove(&record.activation_id) {
            return;
        }
        let now = Instant::now();
        inner.expire(now);
        while inner.order.len() >= MAX_ENTRIES {
            inner.pop_oldest();
        }
        let key = (record.namespace.namespace().clone(), record.activation_id);
        if inner
            .records
            .insert(key.clone(), Arc::new(record.clone()))
            .is_none()
        {
            inner.order.push_back((now, key.clone()));
            inner.unconfirmed.push_back(key);
        }
        drop(inner);
        self.arrived.notify_one();
    }

    /// Up to [`CONFIRM_BATCH`] of the oldest kept records not yet seen in the store.
    fn unconfirmed(&self) -> Vec<Key> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(Instant::now());
        let Inner {
            records,
            unconfirmed,
            ..
        } = &mut *inner;
        // Keys whose records expired or were pushed out are dropped here.
        unconfirmed.retain(|k| records.contains_key(k));
        unconfirmed.iter().take(CONFIRM_BATCH).cloned().collect()
    }

    /// The store has the record of `key`: reads go to the store from now on.
    fn stored(&self, key: &Key) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.records.remove(key);
        if let Some(i) = inner.unconfirmed.iter().position(|k| k == key) {
            inner.unconfirmed.remove(i);
        }
    }

    /// Whether some kept records are not seen in the store yet.
    fn any_unconfirmed(&self) -> bool {
        !self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unconfirmed
            .is_empty()
    }

    /// The completion of `id` in `namespace`, if it was received lately.
    pub fn get(&self, namespace: &EntityName, id: &ActivationId) -> Option<Arc<Activation>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(Instant::now());
        inner.records.get(&(namespace.clone(), *id)).cloned()
    }

    /// The completions kept for `namespace` that `query`'s name and time bounds match,
    /// newest first (as the store lists records; `skip` and `limit` are the caller's).
    pub fn matching(
        &self,
        namespace: &EntityName,
        query: &ActivationQuery,
    ) -> Vec<Arc<Activation>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(Instant::now());
        let mut found: Vec<Arc<Activation>> = inner
            .order
            .iter()
            .filter(|(_, (ns, _))| ns == namespace)
            .filter_map(|(_, key)| inner.records.get(key))
            .filter(|a| {
                query.since.is_none_or(|t| a.start >= t)
                    && query.upto.is_none_or(|t| a.start <= t)
                    && query.name.as_deref().is_none_or(|n| name_matches(a, n))
            })
            .cloned()
            .collect();
        found.sort_by_key(|a| std::cmp::Reverse(a.start));
        found
    }

    /// Whether a completion of `id` (in any namespace) was received lately: its
    /// activation has ended even if its record is not stored yet.
    pub fn has_ended(&self, id: &ActivationId) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(Instant::now());
        inner.order.iter().rev().any(|(_, (_, i))| i == id)
    }

    /// Marks `id` as one whose record is not stored: its completion is not kept.
    pub fn skip(&self, id: ActivationId) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.skipped.len() >= MAX_SKIPPED {
            // Only lost completions leave ids here; forgetting them keeps the bound.
            inner.skipped.clear();
        }
        inner.skipped.insert(id);
    }

    /// How many completions are kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .records
            .len()
    }
}

/// Drops each completion `controller` keeps once the store has its record (see the module
/// documentation); ends with the controller.
pub(crate) async fn confirm_stored(controller: Weak<Controller>) {
    let Some(arrived) = controller.upgrade().map(|c| Arc::clone(&c.recent.arrived)) else {
        return;
    };
    loop {
        let waiting = match controller.upgrade() {
            Some(ctl) => ctl.recent.any_unconfirmed(),
            None => return,
        };
        if !waiting {
            arrived.notified().await;
        }
        tokio::time::sleep(CONFIRM_EVERY).await;
        let Some(ctl) = controller.upgrade() else {
            return;
        };
        for key in ctl.recent.unconfirmed() {
            // An error (the store is down) leaves it kept; the next round looks again.
            if let Ok(true) = ctl.activations.exists(&key.1).await {
                ctl.recent.stored(&key);
            }
        }
    }
}

/// A list filter `action` (the record's name) or `pkg/action` (its `path` annotation's
/// last two parts), as the stores match it.
fn name_matches(a: &Activation, filter: &str) -> bool {
    let parts: Vec<&str> = filter.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [name] => a.name.as_str() == *name,
        [.., pkg, name] => a
            .annotations
            .get("path")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|path| {
                let p: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
                matches!(p.as_slice(), [_, pp, pn] if pp == pkg && pn == name)
            }),
        [] => false,
    }
}

impl Inner {
    fn pop_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_front() {
            self.records.remove(&key);
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= KEEP_FOR)
        {
            self.pop_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use whisk_types::{ActivationResponse, EntityPath, Parameters, SemVer};

    use super::*;

    fn record(ns: &str) -> Activation {
        Activation {
            namespace: EntityPath::namespace_only(EntityName::new(ns).unwrap()),
            name: EntityName::new("a").unwrap(),
            subject: ns.to_owned(),
            activation_id: ActivationId::generate(),
            start: 1,
            end: 2,
            duration: Some(1),
            cause: None,
            response: ActivationResponse::success(json!({"ok": true}), None),
            logs: Vec::new(),
            version: SemVer::default(),
            publish: false,
            annotations: Parameters::default(),
        }
    }

    fn ns(name: &str) -> EntityName {
        EntityName::new(name).unwrap()
    }

    #[test]
    fn found_only_in_its_own_namespace() {
        let recent = RecentCompletions::default();
        let a = record("alice");
        recent.remember(&a);
        assert_eq!(
            recent.get(&ns("alice"), &a.activation_id).as_deref(),
            Some(&a)
        );
        assert!(recent.get(&ns("bob"), &a.activation_id).is_none());
        assert!(recent.has_ended(&a.activation_id));
        assert!(!recent.has_ended(&ActivationId::generate()));
    }

    #[test]
    fn a_record_seen_in_the_store_is_no_longer_kept() {
        let recent = RecentCompletions::default();
        let (a, b) = (record("alice"), record("alice"));
        recent.remember(&a);
        recent.remember(&b);
        let key_a = (ns("alice"), a.activation_id);
        let key_b = (ns("alice"), b.activation_id);
        assert_eq!(recent.unconfirmed(), vec![key_a.clone(), key_b.clone()]);
        recent.stored(&key_a);
        // Reads of `a` go to the store now (a purge there is not undone from here).
        assert!(recent.get(&ns("alice"), &a.activation_id).is_none());
        assert!(recent.get(&ns("alice"), &b.activation_id).is_some());
        assert_eq!(recent.unconfirmed(), vec![key_b.clone()]);
        assert!(recent.any_unconfirmed());
        recent.stored(&key_b);
        assert!(!recent.any_unconfirmed());
    }

    #[test]
    fn lists_match_name_and_time_newest_first() {
        let recent = RecentCompletions::default();
        let mut old = record("alice");
        old.start = 10;
        let mut new = record("alice");
        new.start = 20;
        new.annotations.set("path", json!("alice/pkg/a"));
        recent.remember(&new);
        recent.remember(&old);
        recent.remember(&record("bob"));
        let list = |q: ActivationQuery| -> Vec<i64> {
            recent
                .matching(&ns("alice"), &q)
                .iter()
                .map(|a| a.start)
                .collect()
        };
        assert_eq!(list(ActivationQuery::default()), vec![20, 10]);
        let named = |n: &str| ActivationQuery {
            name: Some(n.into()),
            ..ActivationQuery::default()
        };
        assert_eq!(list(named("a")), vec![20, 10]);
        assert_eq!(list(named("pkg/a")), vec![20]);
        assert_eq!(list(named("b")), Vec::<i64>::new());
        let since = ActivationQuery {
            since: Some(15),
            ..ActivationQuery::default()
        };
        assert_eq!(list(since), vec![20]);
        let upto = ActivationQuery {
            upto: Some(15),
            ..ActivationQuery::default()
        };
        assert_eq!(list(upto), vec![10]);
    }

    #[test]
    fn bounded_in_count_oldest_first() {
        let recent = RecentCompletions::default();
        let first = record("alice");
        recent.remember(&first);
        for _ in 0..MAX_ENTRIES {
            recent.remember(&record("alice"));
        }
        assert_eq!(recent.len(), MAX_ENTRIES);
        assert!(recent.get(&ns("alice"), &first.activation_id).is_none());
    }

    #[test]
    fn skipped_ids_are_not_kept() {
        let recent = RecentCompletions::default();
        let a = record("alice");
        recent.skip(a.activation_id);
        recent.remember(&a);
        assert!(recent.get(&ns("alice"), &a.activation_id).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_in_age() {
        let recent = RecentCompletions::default();
        let a = record("alice");
        recent.remember(&a);
        tokio::time::advance(KEEP_FOR - Duration::from_millis(1)).await;
        assert!(recent.get(&ns("alice"), &a.activation_id).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(recent.get(&ns("alice"), &a.activation_id).is_none());
        assert!(!recent.has_ended(&a.activation_id));
    }
}
