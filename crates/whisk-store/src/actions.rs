//! Typed helpers for action documents: the controller reads and writes actions through
//! these instead of handling raw JSON.

use whisk_types::{Action, FullyQualifiedName};

use crate::{Collection, EntityStore, StoreError};

/// Reads the action `fqn` with its revision.
///
/// # Errors
/// `WrongCollection` when the name belongs to another collection, `Corrupt` when the body
/// is not an action, `Backend` on storage failures.
pub async fn get_action(
    store: &dyn EntityStore,
    fqn: &FullyQualifiedName,
) -> Result<Option<(Action, u64)>, StoreError> {
    let Some(doc) = store.get(Collection::Actions, fqn).await? else {
        return Ok(None);
    };
    let mut action: Action = serde_json::from_value(doc.body)
        .map_err(|e| StoreError::Corrupt(format!("action {fqn}: {e}")))?;
    action.updated = doc.updated;
    Ok(Some((action, doc.revision)))
}

/// Writes `action` (create when `expected` is `None`, else replace that revision) and
/// returns it as stored, with `updated` set, and its new revision.
///
/// # Errors
/// As [`EntityStore::put`]; `Corrupt` if the action cannot be serialized.
pub async fn put_action(
    store: &dyn EntityStore,
    action: &Action,
    expected: Option<u64>,
) -> Result<(Action, u64), StoreError> {
    let body = serde_json::to_value(action)
        .map_err(|e| StoreError::Corrupt(format!("action {}: {e}", action.fqn())))?;
    let doc = store
        .put(Collection::Actions, &action.fqn(), body, expected)
        .await?;
    let mut stored = action.clone();
    stored.updated = doc.updated;
    Ok((stored, doc.revision))
}
