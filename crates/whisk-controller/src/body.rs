//! Parsing of the fields every entity PUT body shares (`parameters`, `annotations`,
//! `publish`, `version`), written once for actions, packages, triggers and rules, with the
//! malformed-content error they all give.

use serde_json::{Map, Value};
use whisk_types::{Parameters, SemVer};

use crate::error::ApiError;

/// 400 `The request content was malformed:\n<detail>`.
pub(crate) fn malformed(detail: impl Into<String>) -> ApiError {
    ApiError::Malformed(detail.into())
}

/// Removes `key` from a body object; `null` counts as absent.
pub(crate) fn take(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    obj.remove(key).filter(|v| !v.is_null())
}

/// A `parameters` or `annotations` list; `field` names it in the error.
pub(crate) fn key_values(v: Value, field: &str) -> Result<Parameters, ApiError> {
    serde_json::from_value(v).map_err(|e| malformed(format!("{field}: {e}")))
}

/// The `publish` flag.
pub(crate) fn publish(v: &Value) -> Result<bool, ApiError> {
    v.as_bool()
        .ok_or_else(|| malformed("publish must be a boolean"))
}

/// The `version` string (`major.minor.patch`).
pub(crate) fn version(v: &Value) -> Result<SemVer, ApiError> {
    v.as_str()
        .ok_or_else(|| malformed("version must be a string"))?
        .parse()
        .map_err(malformed)
}
