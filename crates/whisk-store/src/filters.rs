//! How activation records are keyed for their list filters, shared by every backend.

use whisk_types::{Activation, EntityName};

use crate::ActivationQuery;

/// `pkg/name` from a `path` annotation `ns/pkg/name`, the key of `pkg/name` list filters.
pub(crate) fn package_path(activation: &Activation) -> Option<String> {
    let path = activation.annotations.get("path")?.as_str()?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [_, pkg, name] => Some(format!("{pkg}/{name}")),
        _ => None,
    }
}

/// The parameters shared by activation list and count: namespace, name, path, since, upto.
pub(crate) fn activation_filters(
    namespace: &EntityName,
    query: &ActivationQuery,
) -> (String, Option<String>, Option<String>, i64, i64) {
    let (mut name, mut path) = (None, None);
    if let Some(filter) = &query.name {
        let parts: Vec<&str> = filter.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [n] => name = Some((*n).to_owned()),
            [.., pkg, n] => path = Some(format!("{pkg}/{n}")),
            // An empty filter matches nothing, like any name that no record has.
            [] => name = Some(String::new()),
        }
    }
    (
        namespace.to_string(),
        name,
        path,
        query.since.unwrap_or(i64::MIN),
        query.upto.unwrap_or(i64::MAX),
    )
}
