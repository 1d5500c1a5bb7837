//! Activation records of the caller's namespace: list with filters (reference §4.6), one
//! record, its logs and its result. Records an invoker announced but has not stored yet
//! come from the controller's memory (`crate::recent`), so they are readable at once.

use std::collections::HashSet;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use whisk_store::ActivationQuery;
use whisk_types::{Activation, ActivationId, EntityName};

use super::{ActivationPart, Call};
use crate::error::ApiError;
use crate::request::list_params;

/// `GET .../activations?limit&skip&count&docs&name&since&upto`.
pub(super) async fn list(call: &Call) -> Result<Response, ApiError> {
    let q = &call.query;
    let params = list_params(q, "activations")?;
    let docs = q.bool("docs", false)?;
    let name = q.get("name").map(activation_name).transpose()?;
    let since = q.get("since").map(|v| epoch("since", v)).transpose()?;
    let upto = q.get("upto").map(|v| epoch("upto", v)).transpose()?;
    if params.count && docs {
        return Err(ApiError::BadRequest(
            "The parameter 'docs' is not permitted with 'count'.".into(),
        ));
    }
    let query = ActivationQuery {
        name,
        since,
        upto,
        skip: params.skip,
        limit: params.limit,
    };
    let store = &call.ctl.activations;
    if params.count {
        let n = store.count(&call.namespace, &query).await?;
        return Ok(Json(json!({ "activations": n })).into_response());
    }
    // Without docs the rows show neither logs nor results, so they are not even read.
    let records = if docs {
        store.list(&call.namespace, &query).await?
    } else {
        store.list_summaries(&call.namespace, &query).await?
    };
    let show = |a: &Activation| {
        if docs {
            a.to_api_json()
        } else {
            a.to_summary_json()
        }
    };
    let mut rows: Vec<(i64, Value)> = records.iter().map(|a| (a.start, show(a))).collect();
    // The first page also shows completions whose records are still being stored.
    if query.skip == 0 {
        let listed: HashSet<ActivationId> = records.iter().map(|a| a.activation_id).collect();
        let before = rows.len();
        for a in call.ctl.recent.matching(&call.namespace, &query) {
            if !listed.contains(&a.activation_id) {
                rows.push((a.start, show(&a)));
            }
        }
        if rows.len() > before {
            // Stable: records of one start time keep the store's order.
            rows.sort_by_key(|row| std::cmp::Reverse(row.0));
            rows.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        }
    }
    let rows: Vec<Value> = rows.into_iter().map(|(_, row)| row).collect();
    Ok(Json(rows).into_response())
}

/// `action` or `pkg/action`, normalised.
fn activation_name(v: &str) -> Result<String, ApiError> {
    let bad = || ApiError::MalformedQuery {
        name: "name",
        message: format!("Parameter may be a 'simple' name or 'package-name/simple' name: {v}"),
    };
    let parts: Vec<&str> = v.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.len() > 2 || parts.iter().any(|p| EntityName::new(p).is_err()) {
        return Err(bad());
    }
    Ok(parts.join("/"))
}

/// Epoch milliseconds of `since`/`upto`.
fn epoch(name: &'static str, v: &str) -> Result<i64, ApiError> {
    v.trim().parse().map_err(|_| ApiError::MalformedQuery {
        name,
        message: format!("Parameter is not a valid value for epoch seconds: {v}"),
    })
}

/// `GET .../activations/{id}[/logs|/result]`.
pub(super) async fn get(
    call: &Call,
    id: &str,
    part: Option<ActivationPart>,
) -> Result<Response, ApiError> {
    let id = ActivationId::parse(id)?;
    let ctl = &call.ctl;
    // The stored record, else a completion whose record the invoker is still storing
    // (read-your-writes).
    let a = match ctl.activations.get(&call.namespace, &id).await? {
        Some(a) => std::sync::Arc::new(a),
        None => ctl
            .recent
            .get(&call.namespace, &id)
            .ok_or(ApiError::NotFound)?,
    };
    let body = match part {
        None => a.to_api_json(),
        Some(ActivationPart::Logs) => json!({ "logs": &a.logs }),
        Some(ActivationPart::Result) => a.response.to_api_json(),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(activation_name("hello").unwrap(), "hello");
        assert_eq!(activation_name("/pkg/hello").unwrap(), "pkg/hello");
        for bad in ["a/b/c", "", "/", "a$"] {
            assert!(
                activation_name(bad)
                    .unwrap_err()
                    .to_string()
                    .ends_with(&format!(
                        "Parameter may be a 'simple' name or 'package-name/simple' name: {bad}"
                    )),
                "{bad}"
            );
        }
        assert!(epoch("since", "12x")
            .unwrap_err()
            .to_string()
            .contains("Parameter is not a valid value for epoch seconds: 12x"));
        assert_eq!(epoch("upto", "1700000000000").unwrap(), 1_700_000_000_000);
    }
}
