//! Where an invocation sits in the work one request caused, and the bounds on that work.
//!
//! Every [`Invocation`](crate::invocation::Invocation) carries a [`Lineage`]: its nesting
//! depth, the accounting it shares with the whole tree of compositions it belongs to, the
//! atomic-action count of the nest of sequences around it, and a cancellation scope that
//! ends when its parent composition ends. With `n` the namespace's sequence length
//! (OpenWhisk's `actionSequenceMaxLimit`, 50):
//! - sequences nested in sequences run at most `n` atomic actions together ("Too many
//!   actions in the sequence."), checked before the first component of every nest and
//!   again as each component starts, so a sequence grown after its PUT is caught too;
//! - all conductor sessions of one tree, also those reached through sequences, share one
//!   accounting: at most `2n + 1` conductor calls and `n` components ("Too many actions in
//!   the composition."), as OpenWhisk shares it between nested conductors;
//! - no invocation is nested deeper than `2n + 2`, which no nesting the counts allow
//!   reaches; it ends recursion the counts cannot see (a sequence reached through a
//!   binding changed while it runs);
//! - when a composition ends, for whatever reason, its scope is cancelled: nested
//!   compositions still running stop stepping and end in a record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Conductor calls and components of one tree of compositions.
#[derive(Debug, Default)]
struct Accounting {
    conductors: AtomicU64,
    components: AtomicU64,
}

/// The place of one invocation in its tree.
#[derive(Debug, Clone)]
pub(crate) struct Lineage {
    /// 0 for what a request, a rule or an alarm starts; parent + 1 for components.
    pub depth: u64,
    accounting: Arc<Accounting>,
    /// Atomic actions run by the nest of sequences this one is directly part of; `None`
    /// when this invocation is not a component of a sequence.
    sequence: Option<Arc<AtomicU64>>,
    /// Cancelled when this invocation's composition ends or an enclosing one does.
    scope: CancellationToken,
}

impl Lineage {
    /// The lineage of a new tree.
    pub fn root() -> Self {
        Self {
            depth: 0,
            accounting: Arc::default(),
            sequence: None,
            scope: CancellationToken::new(),
        }
    }

    /// The lineage of a component of the composition this lineage belongs to.
    pub fn child(&self) -> Self {
        Self {
            depth: self.depth + 1,
            accounting: self.accounting.clone(),
            sequence: None,
            scope: self.scope.child_token(),
        }
    }

    /// Deeper than any nesting the counts allow for sequence length `max`.
    pub fn too_deep(&self, max: u64) -> bool {
        self.depth > max.saturating_mul(2).saturating_add(2)
    }

    /// Ends when this composition or an enclosing one ends.
    pub fn scope(&self) -> &CancellationToken {
        &self.scope
    }

    /// The atomic-action count this sequence shares with the sequences around it, and
    /// whether it is the outermost of its nest (a new count).
    pub fn sequence_nest(&self) -> (Arc<AtomicU64>, bool) {
        match &self.sequence {
            Some(n) => (n.clone(), false),
            None => (Arc::default(), true),
        }
    }

    /// Makes this (a component of a sequence that is itself a sequence) share `nest`.
    pub fn within_sequence(mut self, nest: Arc<AtomicU64>) -> Self {
        self.sequence = Some(nest);
        self
    }

    /// Counts one conductor call of the tree; `false` once past `2 * max + 1` calls.
    pub fn conductor_call(&self, max: u64) -> bool {
        let before = self.accounting.conductors.fetch_add(1, Ordering::Relaxed);
        before <= max.saturating_mul(2)
    }

    /// Whether the tree may start another conductor component (fewer than `max` so far);
    /// `counts` says whether this one counts (a nested conductor session counts by its
    /// conductor calls instead).
    pub fn component(&self, max: u64, counts: bool) -> bool {
        if self.accounting.components.load(Ordering::Relaxed) >= max {
            return false;
        }
        if counts {
            self.accounting.components.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}

/// Counts one atomic action of a nest of sequences; `false` once past `max`.
pub(crate) fn sequence_atomic(nest: &AtomicU64, max: u64) -> bool {
    nest.fetch_add(1, Ordering::Relaxed) < max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conductor_calls_stop_after_2n_plus_1() {
        let l = Lineage::root();
        let allowed = (0..20).take_while(|_| l.conductor_call(3)).count();
        assert_eq!(allowed, 7);
        // Shared with nested sessions.
        assert!(!l.child().child().conductor_call(3));
    }

    #[test]
    fn components_stop_at_n_and_nested_sessions_do_not_count() {
        let l = Lineage::root();
        assert!(l.component(2, false));
        assert!(l.component(2, true));
        assert!(l.child().component(2, true));
        assert!(!l.component(2, false));
    }

    #[test]
    fn a_nest_of_sequences_shares_one_count() {
        let root = Lineage::root();
        let (nest, outermost) = root.sequence_nest();
        assert!(outermost);
        let inner = root.child().within_sequence(nest.clone());
        let (shared, outermost) = inner.sequence_nest();
        assert!(!outermost);
        assert!(sequence_atomic(&nest, 2));
        assert!(sequence_atomic(&shared, 2));
        assert!(!sequence_atomic(&nest, 2));
        // A component that is not part of the nest starts a new one.
        assert!(inner.child().sequence_nest().1);
    }

    #[test]
    fn ending_a_composition_ends_its_descendants() {
        let root = Lineage::root();
        let grandchild = root.child().child();
        assert!(!grandchild.scope().is_cancelled());
        root.scope().cancel();
        assert!(grandchild.scope().is_cancelled());
        assert!(!Lineage::root().scope().is_cancelled());
    }

    #[test]
    fn depth_bound_follows_the_sequence_length() {
        let mut l = Lineage::root();
        for _ in 0..12 {
            l = l.child();
        }
        assert!(!l.too_deep(5));
        assert!(l.child().too_deep(5));
    }
}
