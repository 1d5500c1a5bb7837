//! The entity cache of the invoke path: actions as a caller resolved them (entitlement,
//! bindings and merged parameters included, code left in the store), and the identities
//! owning namespaces, so a warm invoke reads nothing from the store.
//!
//! - Keyed by the caller's namespace and the name asked for: an entry made for one
//!   namespace never answers another, and entitlement was checked for exactly that
//!   caller. Only successes are kept; a refusal or a miss is read again every time.
//! - Each entry lists the documents it was resolved from (the action, its package, the
//!   binding and the bound package); a write of any of them through any controller drops
//!   it: locally at once ([`EntityCache::invalidate`]), elsewhere through a
//!   `CacheInvalidation::Entity` on the bus. A write racing with a read cannot leave a stale
//!   entry: a read only fills the cache when no invalidation happened since it began
//!   ([`EntityCache::generation`]).
//! - Entries live at most `ttl` (what a lost invalidation costs), and there are at most
//!   [`MAX_ENTRIES`] of each kind; a zero `ttl` turns the cache off.
//! - Owner identities (the subject owning an action's namespace, whom the activation's
//!   API key acts for) live as long as verified credentials do (`auth_cache_ttl`) and
//!   are dropped with them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use whisk_types::{EntityName, FullyQualifiedName, Identity};

use crate::resolve::ResolvedAction;

/// Most entries of each kind; past it expired ones go, then all.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// The caller's namespace and the action name it asked for.
type ActionKey = (EntityName, FullyQualifiedName);

#[derive(Debug)]
struct ActionEntry {
    at: Instant,
    resolved: Arc<ResolvedAction>,
    /// The documents (actions, packages) it was resolved from.
    sources: Vec<FullyQualifiedName>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every invalidation: reads begun before it do not fill the cache.
    generation: u64,
    actions: HashMap<ActionKey, ActionEntry>,
    owners: HashMap<EntityName, (Instant, Identity)>,
}

/// Resolved actions and owner identities, bounded in count and age.
#[derive(Debug)]
pub(crate) struct EntityCache {
    ttl: Duration,
    owner_ttl: Duration,
    inner: Mutex<Inner>,
}

impl EntityCache {
    /// Resolved actions kept for `ttl`, owner identities for `owner_ttl`.
    pub fn new(ttl: Duration, owner_ttl: Duration) -> Self {
        Self {
            ttl,
            owner_ttl,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Taken before reading the store; [`EntityCache::insert_action`] and
    /// [`EntityCache::insert_owner`] keep what was read only if it is still current.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// `fqn` as `caller` resolved it, if cached and fresh.
    pub fn action(
        &self,
        caller: &EntityName,
        fqn: &FullyQualifiedName,
    ) -> Option<Arc<ResolvedAction>> {
        let inner = self.lock();
        let entry = inner.actions.get(&(caller.clone(), fqn.clone()))?;
        (entry.at.elapsed() < self.ttl).then(|| Arc::clone(&entry.resolved))
    }

    /// Keeps `resolved` (read from `sources` for `caller` asking for `fqn`) unless an
    /// invalidation happened since `generation`.
    pub fn insert_action(
        &self,
        generation: u64,
        caller: &EntityName,
        fqn: &FullyQualifiedName,
        resolved: Arc<ResolvedAction>,
        sources: Vec<FullyQualifiedName>,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let ttl = self.ttl;
        bound(&mut inner.actions, |e| e.at.elapsed() < ttl);
        inner.actions.insert(
            (caller.clone(), fqn.clone()),
            ActionEntry {
                at: Instant::now(),
                resolved,
                sources,
            },
        );
    }

    /// The subject owning `namespace`, if cached and fresh.
    pub fn owner(&self, namespace: &EntityName) -> Option<Identity> {
        let inner = self.lock();
        let (at, identity) = inner.owners.get(namespace)?;
        (at.elapsed() < self.owner_ttl).then(|| identity.clone())
    }

    /// Keeps the owner of `namespace` unless an invalidation happened since `generation`.
    pub fn insert_owner(&self, generation: u64, namespace: &EntityName, identity: Identity) {
        if self.owner_ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let ttl = self.owner_ttl;
        bound(&mut inner.owners, |(at, _)| at.elapsed() < ttl);
        inner
            .owners
            .insert(namespace.clone(), (Instant::now(), identity));
    }

    /// Drops every resolution read from the action or package `fqn`.
    pub fn invalidate(&self, fqn: &FullyQualifiedName) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.actions.retain(|_, e| !e.sources.contains(fqn));
    }

    /// Drops every owner identity (a subject was created, changed or deleted).
    pub fn forget_owners(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.owners.clear();
    }

    /// How many resolved actions are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().actions.len()
    }
}

/// Makes room for one more entry: drops those `fresh` says are not, then all if still full.
fn bound<K, V>(map: &mut HashMap<K, V>, fresh: impl Fn(&V) -> bool) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, v| fresh(v));
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use whisk_types::{Action, Parameters};

    use super::*;

    fn fqn(s: &str) -> FullyQualifiedName {
        FullyQualifiedName::parse(s).unwrap()
    }

    fn ns(s: &str) -> EntityName {
        EntityName::new(s).unwrap()
    }

    fn resolved(name: &str) -> Arc<ResolvedAction> {
        let action: Action = serde_json::from_value(json!({
            "namespace": "alice/pkg", "name": name,
            "exec": {"kind": "blackbox", "image": "x/y"},
        }))
        .unwrap();
        Arc::new(ResolvedAction {
            action,
            params: Parameters::default(),
            binding: None,
            code: None,
        })
    }

    #[test]
    fn one_callers_entry_never_answers_another() {
        let cache = EntityCache::new(Duration::from_secs(60), Duration::from_secs(60));
        let a = fqn("alice/pkg/a");
        cache.insert_action(0, &ns("bob"), &a, resolved("a"), vec![a.clone()]);
        assert!(cache.action(&ns("bob"), &a).is_some());
        assert!(cache.action(&ns("alice"), &a).is_none());
        assert!(cache.action(&ns("bob"), &fqn("alice/pkg/b")).is_none());
    }

    #[test]
    fn a_write_of_any_source_drops_the_entry() {
        let cache = EntityCache::new(Duration::from_secs(60), Duration::from_secs(60));
        let a = fqn("bob/binding/a");
        let sources = vec![fqn("bob/binding"), fqn("alice/pkg"), fqn("alice/pkg/a")];
        for source in &sources {
            let g = cache.generation();
            cache.insert_action(g, &ns("bob"), &a, resolved("a"), sources.clone());
            cache.invalidate(&fqn("alice/other"));
            assert!(cache.action(&ns("bob"), &a).is_some());
            cache.invalidate(source);
            assert!(cache.action(&ns("bob"), &a).is_none(), "{source}");
        }
    }

    #[test]
    fn a_read_begun_before_an_invalidation_is_not_kept() {
        let cache = EntityCache::new(Duration::from_secs(60), Duration::from_secs(60));
        let a = fqn("alice/a");
        let before = cache.generation();
        cache.invalidate(&a);
        cache.insert_action(before, &ns("alice"), &a, resolved("a"), vec![a.clone()]);
        assert!(cache.action(&ns("alice"), &a).is_none());
        let identity = Identity {
            subject: "alice".into(),
            namespace: ns("alice"),
            uuid: uuid::Uuid::new_v4(),
        };
        let before = cache.generation();
        cache.forget_owners();
        cache.insert_owner(before, &ns("alice"), identity.clone());
        assert!(cache.owner(&ns("alice")).is_none());
        cache.insert_owner(cache.generation(), &ns("alice"), identity.clone());
        assert_eq!(cache.owner(&ns("alice")), Some(identity));
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_are_bounded() {
        let cache = EntityCache::new(Duration::from_secs(5), Duration::from_secs(5));
        let a = fqn("alice/a");
        cache.insert_action(0, &ns("alice"), &a, resolved("a"), vec![a.clone()]);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(cache.action(&ns("alice"), &a).is_none());
        for i in 0..=MAX_ENTRIES {
            let name = fqn(&format!("alice/a{i}"));
            cache.insert_action(0, &ns("alice"), &name, resolved("a"), vec![]);
        }
        assert!(cache.len() <= MAX_ENTRIES);
        let off = EntityCache::new(Duration::ZERO, Duration::ZERO);
        off.insert_action(0, &ns("alice"), &a, resolved("a"), vec![a.clone()]);
        assert!(off.action(&ns("alice"), &a).is_none());
    }
}
