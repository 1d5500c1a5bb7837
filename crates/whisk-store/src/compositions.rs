//! Compositions (sequences and conductor sessions) the controller is running. Their state
//! lives here as well as in memory so that a composition accepted with 202 still ends in a
//! record when its controller crashes: the row is written before the composition is
//! accepted, updated as its components start, and removed once its record is stored; a
//! controller that starts again ends every row it left behind.

use async_trait::async_trait;
use whisk_types::{Activation, ActivationId};

use crate::StoreError;

/// The row of one running composition.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningComposition {
    /// The controller running it (its completion subject id).
    pub controller: String,
    /// The record to store if the composition is interrupted: its id, namespace, name,
    /// annotations and, in `logs`, the components started so far.
    pub record: Activation,
}

/// Running compositions, keyed by their activation id.
#[async_trait]
pub trait CompositionStore: Send + Sync + 'static {
    /// Creates or replaces the row of `composition.record.activation_id`.
    async fn put_composition(&self, composition: &RunningComposition) -> Result<(), StoreError>;

    /// Removes the row; `Ok(false)` when there was none.
    async fn delete_composition(&self, id: &ActivationId) -> Result<bool, StoreError>;

    /// The rows of `controller`, oldest first.
    async fn list_compositions(
        &self,
        controller: &str,
    ) -> Result<Vec<RunningComposition>, StoreError>;
}
