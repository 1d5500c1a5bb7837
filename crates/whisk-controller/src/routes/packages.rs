//! Packages and bindings (reference §4.7, §5.5): list (others see only published plain
//! packages), get with `actions` and `feeds`, PUT create/update with binding checks, and
//! DELETE (409 while actions remain, unless `force=true`).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use whisk_store::{Collection, ListQuery, StoreError};
use whisk_types::{EntityName, EntityPath, Parameters, SemVer};

use super::Call;
use crate::body::{self, malformed};
use crate::entities::{decode, to_value, Binding, Package};
use crate::error::ApiError;
use crate::request::{list_params, read_body};
use crate::resolve::{entitled_package, resolve_package};

/// Annotation a binding carries, naming the package it binds.
const BINDING: &str = "binding";
/// Annotation marking an action as a feed.
pub(crate) const FEED: &str = "feed";
/// The package name web-action URLs use for "no package".
pub(crate) const DEFAULT_PACKAGE: &str = "default";
/// Most actions a package listing or a forced delete handles.
const MAX_CONTENTS: u64 = 10_000;

/// `GET .../packages`: every package of the caller's namespace; in another namespace,
/// only published packages that are not bindings.
pub(super) async fn list(call: &Call) -> Result<Response, ApiError> {
    let params = list_params(&call.query, "packages")?;
    let store = &call.ctl.entities;
    let owner = call.is_owner();
    let query = ListQuery {
        namespace: call.namespace.clone(),
        package: None,
        skip: if owner { params.skip } else { 0 },
        limit: if owner { params.limit } else { MAX_CONTENTS },
    };
    let docs = store.list(Collection::Packages, &query).await?;
    let mut rows = Vec::new();
    for d in &docs {
        let p: Package = decode(d)?;
        if owner || (p.publish && p.binding.is_none()) {
            rows.push(p.summary());
        }
    }
    if !owner {
        rows = rows
            .into_iter()
            .skip(usize::try_from(params.skip).unwrap_or(usize::MAX))
            .take(usize::try_from(params.limit).unwrap_or(usize::MAX))
            .collect();
    }
    if params.count {
        let n = if owner {
            store.count(Collection::Packages, &query).await?
        } else {
            rows.len() as u64
        };
        return Ok(Json(json!({ "packages": n })).into_response());
    }
    Ok(Json(rows).into_response())
}

/// `GET .../packages/{name}`: the package (a binding with merged parameters) and the
/// `actions` and `feeds` of the package holding them.
pub(super) async fn get(call: &Call, name: &EntityName) -> Result<Response, ApiError> {
    let rp = resolve_package(&call.ctl, call.own(), &call.fqn(name)).await?;
    let mut shown = rp.named.clone();
    shown.parameters = rp.params;
    let mut body = to_value(&shown)?;
    let (actions, feeds) = contents(call, &rp.real).await?;
    if let Some(m) = body.as_object_mut() {
        m.insert("actions".into(), Value::Array(actions));
        m.insert("feeds".into(), Value::Array(feeds));
    }
    Ok(Json(body).into_response())
}

/// `{name, version, annotations}` of the package's actions, split into actions and feeds.
async fn contents(call: &Call, package: &Package) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let query = ListQuery {
        namespace: package.namespace.namespace().clone(),
        package: Some(package.name.clone()),
        skip: 0,
        limit: MAX_CONTENTS,
    };
    let docs = call
        .ctl
        .entities
        .list_metadata(Collection::Actions, &query)
        .await?;
    let (mut actions, mut feeds) = (Vec::new(), Vec::new());
    for d in docs {
        let b = &d.body;
        let row = json!({
            "name": b.get("name").cloned().unwrap_or(Value::Null),
            "version": b.get("version").cloned().unwrap_or(Value::Null),
            "annotations": b.get("annotations").cloned().unwrap_or(json!([])),
        });
        let is_feed = b
            .get("annotations")
            .and_then(|a| serde_json::from_value::<Parameters>(a.clone()).ok())
            .is_some_and(|a| a.get(FEED).is_some());
        if is_feed {
            feeds.push(row);
        } else {
            actions.push(row);
        }
    }
    Ok((actions, feeds))
}

/// The fields a package PUT may carry; `None` means "not given".
#[derive(Debug, Default)]
struct PackagePut {
    /// `Some(None)` for an explicit `{}` (a plain package).
    binding: Option<Option<Binding>>,
    parameters: Option<Parameters>,
    annotations: Option<Parameters>,
    publish: Option<bool>,
    version: Option<SemVer>,
}

fn parse_put(bytes: &[u8], own: &EntityName) -> Result<PackagePut, ApiError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?
    };
    let Value::Object(mut obj) = value else {
        return Err(malformed("JSON object expected"));
    };
    let mut take = |key: &str| obj.remove(key).filter(|v| !v.is_null());
    let mut put = PackagePut::default();
    if let Some(v) = take("binding") {
        put.binding = Some(match v {
            Value::Object(m) if m.is_empty() => None,
            Value::Object(m) => {
                let field = |k: &str| -> Result<String, ApiError> {
                    m.get(k)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| malformed(format!("binding requires '{k}'")))
                };
                let ns = EntityName::namespace(&field("namespace")?)?;
                let ns = if ns.as_str() == whisk_types::name::DEFAULT_NAMESPACE {
                    own.clone()
                } else {
                    ns
                };
                Some(Binding {
                    namespace: ns,
                    name: EntityName::new(&field("name")?)?,
                })
            }
            _ => return Err(malformed("binding must be an object")),
        });
    }
    if let Some(v) = take("parameters") {
        put.parameters = Some(body::key_values(v, "parameters")?);
    }
    if let Some(v) = take("annotations") {
        put.annotations = Some(body::key_values(v, "annotations")?);
    }
    if let Some(v) = take("publish") {
        put.publish = Some(body::publish(&v)?);
    }
    if let Some(v) = take("version") {
        put.version = Some(body::version(&v)?);
    }
    Ok(put)
}

/// Checks the package a new binding refers to.
async fn check_binding(call: &Call, binding: &Binding) -> Result<(), ApiError> {
    let target = binding.fqn();
    match call.ctl.entities.get(Collection::Packages, &target).await {
        Err(StoreError::WrongCollection) => {
            return Err(ApiError::Conflict(
                "Cannot bind to a resource that is not a package.".into(),
            ))
        }
        Err(e) => return Err(e.into()),
        Ok(None) if &binding.namespace == call.own() => {
            return Err(ApiError::BadRequest(
                "Binding references a package that does not exist.".into(),
            ))
        }
        Ok(_) => {}
    }
    let package = match entitled_package(&call.ctl, call.own(), &target).await {
        Ok(p) => p,
        Err(ApiError::NotFound) => {
            return Err(ApiError::BadRequest(
                "Binding references a package that does not exist.".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    if package.binding.is_some() {
        return Err(ApiError::BadRequest(
            "Cannot bind to another package binding.".into(),
        ));
    }
    Ok(())
}

/// `PUT .../packages/{name}?overwrite=`: create or update a package or binding.
pub(super) async fn put(call: &Call, name: &EntityName, body: Body) -> Result<Response, ApiError> {
    let ctl = &call.ctl;
    if name.as_str() == DEFAULT_PACKAGE {
        return Err(ApiError::BadRequest(
            "Package name 'default' is reserved.".into(),
        ));
    }
    let overwrite = call.query.bool("overwrite", false)?;
    let bytes = read_body(body, &call.headers, ctl.config.max_request).await?;
    let put = parse_put(&bytes, call.own())?;
    let fqn = call.fqn(name);
    let existing = ctl.entities.get(Collection::Packages, &fqn).await?;
    let (old, revision): (Option<Package>, Option<u64>) = match existing {
        Some(_) if !overwrite => return Err(StoreError::AlreadyExists.into()),
        Some(doc) => (Some(decode(&doc)?), Some(doc.revision)),
        None => (None, None),
    };
    if old.is_none() {
        super::check_capacity(call, Collection::Packages).await?;
    }
    let new_binding = put.binding.clone().flatten();
    if let Some(b) = &new_binding {
        if old.as_ref().is_some_and(|o| o.binding.is_none()) {
            return Err(ApiError::Conflict(
                "Resource is a package and cannot be converted into a binding.".into(),
            ));
        }
        check_binding(call, b).await?;
    }
    let mut package = match old {
        None => Package {
            namespace: EntityPath::namespace_only(call.namespace.clone()),
            name: name.clone(),
            binding: new_binding,
            parameters: put.parameters.unwrap_or_default(),
            version: put.version.unwrap_or_default(),
            publish: put.publish.unwrap_or(false),
            annotations: put.annotations.unwrap_or_default(),
            updated: 0,
        },
        Some(old) => Package {
            namespace: old.namespace,
            name: old.name,
            binding: new_binding.or(old.binding),
            parameters: put.parameters.unwrap_or(old.parameters),
            version: put.version.unwrap_or_else(|| old.version.bump_patch()),
            publish: put.publish.unwrap_or(old.publish),
            annotations: put.annotations.unwrap_or(old.annotations),
            updated: old.updated,
        },
    };
    match &package.binding {
        Some(b) => package.annotations.set(BINDING, json!(b)),
        None => package.annotations.remove(BINDING),
    }
    let sizes = [
        ("parameters", to_value(&package.parameters)?),
        ("annotations", to_value(&package.annotations)?),
    ];
    for (field, v) in sizes {
        let size = v.to_string().len();
        if size > ctl.config.max_parameters {
            return Err(ApiError::TooLarge {
                field,
                size: size as u64,
                max: ctl.config.max_parameters as u64,
            });
        }
    }
    let doc = ctl
        .entities
        .put(Collection::Packages, &fqn, to_value(&package)?, revision)
        .await?;
    ctl.entity_changed(&fqn).await;
    Ok(Json(doc.body).into_response())
}

/// `DELETE .../packages/{name}[?force=true]`.
pub(super) async fn delete(call: &Call, name: &EntityName) -> Result<Response, ApiError> {
    let ctl = &call.ctl;
    let force = call.query.bool("force", false)?;
    let fqn = call.fqn(name);
    let doc = ctl
        .entities
        .get(Collection::Packages, &fqn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let package: Package = decode(&doc)?;
    if package.binding.is_none() {
        let query = ListQuery {
            namespace: call.namespace.clone(),
            package: Some(name.clone()),
            skip: 0,
            limit: MAX_CONTENTS,
        };
        let actions = ctl
            .entities
            .list_metadata(Collection::Actions, &query)
            .await?;
        if !actions.is_empty() && !force {
            return Err(ApiError::Conflict(format!(
                "Package not empty (contains {} entities). Set force param or delete package contents.",
                actions.len()
            )));
        }
        for a in actions {
            ctl.entities
                .delete(Collection::Actions, &a.fqn, a.revision)
                .await?;
            ctl.announce_action_change(&a.fqn, a.updated.saturating_add(1))
                .await;
        }
    }
    if !ctl
        .entities
        .delete(Collection::Packages, &fqn, doc.revision)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    ctl.entity_changed(&fqn).await;
    Ok(Json(doc.body).into_response())
}
