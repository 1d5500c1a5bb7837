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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use whisk_types::{EntityName, EntityPath, Exec};

    use super::*;
    use crate::SqliteStore;

    fn action() -> Action {
        serde_json::from_value(json!({
            "namespace": "guest/pkg",
            "name": "hello",
            "exec": {"kind": "nodejs:18", "code": "function main() {}"},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn round_trip() {
        let store = SqliteStore::temporary().unwrap();
        let a = action();
        assert!(get_action(&store, &a.fqn()).await.unwrap().is_none());
        let (stored, rev) = put_action(&store, &a, None).await.unwrap();
        assert!(stored.updated > 0);
        assert_eq!(
            Action {
                updated: 0,
                ..stored.clone()
            },
            a
        );
        let (read, read_rev) = get_action(&store, &a.fqn()).await.unwrap().unwrap();
        assert_eq!((read.clone(), read_rev), (stored.clone(), rev));

        let mut changed = read;
        changed.exec = Exec::Blackbox {
            image: "x/y".into(),
            code: None,
            main: None,
            binary: false,
        };
        let (stored2, rev2) = put_action(&store, &changed, Some(rev)).await.unwrap();
        assert!(rev2 > rev && stored2.updated > stored.updated);
        assert_eq!(
            get_action(&store, &a.fqn()).await.unwrap().unwrap(),
            (stored2, rev2)
        );
        assert!(matches!(
            put_action(&store, &changed, Some(rev)).await,
            Err(StoreError::Conflict)
        ));
    }

    #[tokio::test]
    async fn a_corrupt_body_is_reported() {
        let store = SqliteStore::temporary().unwrap();
        let fqn = FullyQualifiedName::new(
            EntityPath::namespace_only(EntityName::new("guest").unwrap()),
            EntityName::new("bad").unwrap(),
        );
        store
            .put(Collection::Actions, &fqn, json!({"not": "an action"}), None)
            .await
            .unwrap();
        assert!(matches!(
            get_action(&store, &fqn).await,
            Err(StoreError::Corrupt(_))
        ));
    }
}
