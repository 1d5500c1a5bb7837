//! `/api/v1/web/whisk.system/apimgmt/{createApi,getApi,deleteApi}[.http|.json]`: the web
//! actions OpenWhisk's CLI and JS client call to manage APIs, answered natively with the
//! shapes and texts of OpenWhisk's `apimgmt` actions (`core/routemgmt`). They need the
//! caller's credentials and only ever touch the caller's own namespace: `spaceguid`,
//! `accesstoken` (`__OW_APIGW_TOKEN`) and any `authkey` in the document are ignored and
//! never stored. Failures are 4xx with `{"error": text}` (OpenWhisk's actions answer 502
//! with the same body).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use whisk_store::{Collection, ListQuery};
use whisk_types::{EntityName, EntityPath, FullyQualifiedName};

use super::swagger::{self, Endpoint, RESPONSE_TYPES, VERBS};
use super::{Https, MAX_APIS, MAX_SWAGGER};
use crate::controller::Controller;
use crate::error::ApiError;
use crate::request::{read_body, Query};
use crate::resolve::resolve_action;

const CREATE_FAILURE: &str = "API creation failure: ";
const DELETE_FAILURE: &str = "API deletion failure: ";

/// What the caller sent: the query and, for `createApi`, the JSON body's fields.
struct Params(Map<String, Value>);

impl Params {
    fn text(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn number(&self, key: &str, default: u64) -> u64 {
        match self.0.get(key) {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(default),
            Some(Value::String(s)) => s.parse().unwrap_or(default),
            _ => default,
        }
    }
}

/// Handler of the three operations.
pub(crate) async fn handle(State(ctl): State<Arc<Controller>>, req: Request) -> Response {
    match dispatch(ctl, req).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn dispatch(ctl: Arc<Controller>, req: Request) -> Result<Value, ApiError> {
    let (parts, body) = req.into_parts();
    let op = parts
        .uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .trim_end_matches(".http")
        .trim_end_matches(".json")
        .to_owned();
    let caller = crate::auth::authenticate(&ctl, &parts.headers).await?;
    let ns = caller.identity.namespace.clone();
    let origin = super::origin(&parts.headers, parts.extensions.get::<Https>().is_some());
    let mut params = Map::new();
    for (k, v) in Query::parse(parts.uri.query()).pairs() {
        params.insert(k.clone(), json!(v));
    }
    match (op.as_str(), &parts.method) {
        ("createApi", &Method::POST | &Method::PUT) => {
            params.extend(json_body(&ctl, &parts.headers, body).await?);
            create(&ctl, &ns, &Params(params), &origin).await
        }
        ("getApi", &Method::GET) => get(&ctl, &ns, &Params(params), &origin).await,
        ("deleteApi", &Method::DELETE) => delete(&ctl, &ns, &Params(params)).await,
        ("createApi", _) => Err(ApiError::MethodNotAllowed(&["POST", "PUT"])),
        ("getApi", _) => Err(ApiError::MethodNotAllowed(&["GET"])),
        ("deleteApi", _) => Err(ApiError::MethodNotAllowed(&["DELETE"])),
        _ => Err(ApiError::NotFound),
    }
}

async fn json_body(
    ctl: &Controller,
    headers: &axum::http::HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    let bytes = read_body(body, headers, ctl.config.max_payload).await?;
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::BadRequest("apidoc is required.".into())),
        Err(e) => Err(ApiError::Malformed(e.to_string())),
    }
}

/// A JSON object given as an object or as a string of JSON.
fn object_or_json(v: &Value, unparsable: &str, wrong: &str) -> Result<Value, ApiError> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(o @ Value::Object(_)) => Ok(o),
            _ => Err(ApiError::BadRequest(unparsable.into())),
        },
        _ => Err(ApiError::BadRequest(wrong.into())),
    }
}

fn failure(prefix: &str, text: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{prefix}{text}"))
}

/// Splits `pkg/action`, `action` or `/ns/pkg/action` into namespace (when given),
/// package (empty when none) and action (`parseActionName` of OpenWhisk).
fn split_action(name: &str) -> (Option<String>, String, String) {
    let parts: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [ns, pkg, action] => (Some((*ns).into()), (*pkg).into(), (*action).into()),
        [first, action] if name.starts_with('/') => {
            (Some((*first).into()), String::new(), (*action).into())
        }
        [pkg, action] => (None, (*pkg).into(), (*action).into()),
        [action] => (None, String::new(), (*action).into()),
        _ => (None, String::new(), String::new()),
    }
}

/// The action an operation names must exist in the caller's own namespace: routes run as
/// the namespace that owns them, so they may not reach anyone else's. As with OpenWhisk's
/// `apimgmt`, it need not be a web action yet (the CLI checks that; a route to an action
/// that is not one answers 404 until it is).
async fn check_action(
    ctl: &Controller,
    ns: &EntityName,
    namespace: &str,
    package: &str,
    action: &str,
) -> Result<(), ApiError> {
    if namespace != ns.as_str() {
        return Err(ApiError::Forbidden(if package.is_empty() {
            format!("{namespace}/{action}")
        } else {
            format!("{namespace}/{package}/{action}")
        }));
    }
    let path = if package.is_empty() {
        EntityPath::namespace_only(ns.clone())
    } else {
        EntityPath::with_package(ns.clone(), EntityName::new(package)?)
    };
    let fqn = FullyQualifiedName::new(path, EntityName::new(action)?);
    resolve_action(ctl, ns, &fqn).await?;
    Ok(())
}

/// Checks the size, shape and every action of a document to be stored.
async fn check_swagger(ctl: &Controller, ns: &EntityName, doc: &Value) -> Result<(), ApiError> {
    let size = serde_json::to_vec(doc)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_SWAGGER {
        return Err(ApiError::TooLarge {
            field: "swagger",
            size: size as u64,
            max: MAX_SWAGGER as u64,
        });
    }
    swagger::validate(doc).map_err(|e| failure(CREATE_FAILURE, e))?;
    for op in swagger::operations(doc) {
        check_action(ctl, ns, &op.namespace, &op.package, &op.action).await?;
    }
    Ok(())
}

async fn create(
    ctl: &Controller,
    ns: &EntityName,
    params: &Params,
    origin: &str,
) -> Result<Value, ApiError> {
    let Some(apidoc) = params.0.get("apidoc") else {
        return Err(ApiError::BadRequest("apidoc is required.".into()));
    };
    let apidoc = object_or_json(
        apidoc,
        "apidoc field cannot be parsed. Ensure it is valid JSON.",
        "apidoc field should be a JSON object or a JSON string.",
    )?;
    let mut doc = if let Some(sw) = apidoc.get("swagger").filter(|v| !v.is_null()) {
        if apidoc.get("gatewayBasePath").is_some() {
            return Err(ApiError::BadRequest(
                "swagger and gatewayBasePath are mutually exclusive and cannot be specified together.".into(),
            ));
        }
        let mut sw = object_or_json(
            sw,
            "swagger field cannot be parsed. Ensure it is valid JSON.",
            "swagger field should be an object or a JSON string.",
        )?;
        swagger::resolve_namespace(&mut sw, ns.as_str());
        sw
    } else {
        from_flags(ctl, ns, &apidoc, params, origin).await?
    };
    // The document's own fields are checked before its base path is normalized.
    swagger::validate(&doc).map_err(|e| failure(CREATE_FAILURE, e))?;
    let basepath = super::normalize_base(doc["basePath"].as_str().unwrap_or(""));
    doc["basePath"] = json!(basepath);
    check_swagger(ctl, ns, &doc).await?;
    let fqn = super::doc_fqn(ns, &basepath);
    let existing = ctl.entities.get(Collection::Apis, &fqn).await?;
    if existing.is_none() {
        let query = ListQuery {
            namespace: ns.clone(),
            package: None,
            skip: 0,
            limit: 0,
        };
        if ctl.entities.count(Collection::Apis, &query).await? >= MAX_APIS {
            return Err(ApiError::EntityCap {
                namespace: ns.to_string(),
                collection: "apis",
                max: MAX_APIS,
            });
        }
    }
    let body = json!({ "basePath": basepath, "swagger": doc });
    ctl.entities
        .put(Collection::Apis, &fqn, body, existing.map(|d| d.revision))
        .await?;
    Ok(super::cli_value(ns, &doc, origin))
}

/// The document after adding the operation the flags describe to the API at its base path.
async fn from_flags(
    ctl: &Controller,
    ns: &EntityName,
    apidoc: &Value,
    params: &Params,
    origin: &str,
) -> Result<Value, ApiError> {
    let field = |k: &str| {
        apidoc
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let missing = |k: &str| ApiError::BadRequest(format!("apidoc is missing the {k} field"));
    let basepath = field("gatewayBasePath").ok_or_else(|| missing("gatewayBasePath"))?;
    let relpath = field("gatewayPath").ok_or_else(|| missing("gatewayPath"))?;
    let verb = field("gatewayMethod").ok_or_else(|| missing("gatewayMethod"))?;
    let action = apidoc
        .get("action")
        .filter(|a| a.is_object())
        .ok_or_else(|| ApiError::BadRequest("apidoc is missing the action field.".into()))?;
    let action_field = |k: &str| {
        action
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("action is missing the {k} field.")))
    };
    let (named_ns, package, name) = split_action(action_field("name")?);
    let namespace = match named_ns.as_deref().unwrap_or(action_field("namespace")?) {
        "_" => ns.to_string(),
        other => other.to_owned(),
    };
    swagger::check_path(swagger::BASE_PATH, basepath).map_err(|e| failure(CREATE_FAILURE, e))?;
    swagger::check_path(swagger::RELATIVE_PATH, relpath).map_err(|e| failure(CREATE_FAILURE, e))?;
    let verb = verb.to_ascii_lowercase();
    if !VERBS.contains(&verb.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "'{}' is not a valid API verb.  Valid values are: {}",
            verb.to_ascii_uppercase(),
            VERBS.map(str::to_ascii_uppercase).join(", ")
        )));
    }
    let response_type = params
        .text("responsetype")
        .unwrap_or("json")
        .to_ascii_lowercase();
    if !RESPONSE_TYPES.contains(&response_type.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "Invalid response type '{response_type}'. Valid values are: {}",
            RESPONSE_TYPES.join(", ")
        )));
    }
    check_action(ctl, ns, &namespace, &package, &name).await?;
    let basepath = super::normalize_base(basepath);
    let mut doc = match super::load(ctl, ns, &basepath).await? {
        Some(stored) => stored.body["swagger"].clone(),
        None => swagger::base(&basepath, field("apiName")),
    };
    if doc["paths"][relpath].get(&verb).is_some() {
        return Err(ApiError::Conflict(format!(
            "{CREATE_FAILURE}The API path '{relpath}' with verb '{}' already exists in API '{basepath}'. Delete it first to change its action.",
            verb.to_ascii_uppercase()
        )));
    }
    let path_parameters = swagger::path_parameters(relpath)
        .iter()
        .map(|n| swagger::path_parameter(n))
        .collect();
    swagger::add_endpoint(
        &mut doc,
        &Endpoint {
            relpath: relpath.to_owned(),
            verb,
            namespace,
            package,
            action: name,
            response_type,
            path_parameters,
        },
        origin,
    );
    Ok(doc)
}

/// The stored API named by a base path (`/...`) or an API name.
async fn find(
    ctl: &Controller,
    ns: &EntityName,
    base_or_name: &str,
) -> Result<Option<whisk_store::Document>, ApiError> {
    if base_or_name.starts_with('/') {
        return super::load(ctl, ns, &super::normalize_base(base_or_name)).await;
    }
    Ok(super::list(ctl, ns)
        .await?
        .into_iter()
        .find(|d| d.body["swagger"]["info"]["title"].as_str() == Some(base_or_name)))
}

async fn get(
    ctl: &Controller,
    ns: &EntityName,
    params: &Params,
    origin: &str,
) -> Result<Value, ApiError> {
    let docs = match params.text("basepath") {
        Some(b) => find(ctl, ns, b).await?.into_iter().collect(),
        None => super::list(ctl, ns).await?,
    };
    let skip = usize::try_from(params.number("skip", 0)).unwrap_or(usize::MAX);
    let limit = match params.number("limit", 0) {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let apis: Vec<Value> = docs
        .iter()
        .skip(skip)
        .take(limit)
        .map(|d| super::cli_item(ns, &d.body["swagger"], origin))
        .collect();
    Ok(json!({ "apis": apis }))
}

async fn delete(ctl: &Controller, ns: &EntityName, params: &Params) -> Result<Value, ApiError> {
    let Some(basepath) = params.text("basepath") else {
        return Err(ApiError::BadRequest("basepath is required.".into()));
    };
    let relpath = params.text("relpath");
    let operation = params.text("operation").map(str::to_ascii_lowercase);
    if relpath.is_none() && operation.is_some() {
        return Err(ApiError::BadRequest(
            "When specifying an operation, the path is required.".into(),
        ));
    }
    let Some(stored) = find(ctl, ns, basepath).await? else {
        return Err(ApiError::NotFoundText(format!(
            "{DELETE_FAILURE}API '{basepath}' does not exist."
        )));
    };
    let Some(relpath) = relpath else {
        ctl.entities
            .delete(Collection::Apis, &stored.fqn, stored.revision)
            .await?;
        return Ok(json!({}));
    };
    let mut doc = stored.body["swagger"].clone();
    swagger::remove_endpoint(&mut doc, relpath, operation.as_deref())
        .map_err(|e| ApiError::NotFoundText(format!("{DELETE_FAILURE}{e}")))?;
    if doc["paths"].as_object().is_none_or(Map::is_empty) {
        ctl.entities
            .delete(Collection::Apis, &stored.fqn, stored.revision)
            .await?;
    } else {
        let mut body = stored.body.clone();
        body["swagger"] = doc;
        ctl.entities
            .put(Collection::Apis, &stored.fqn, body, Some(stored.revision))
            .await?;
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names() {
        assert_eq!(split_action("hello"), (None, String::new(), "hello".into()));
        assert_eq!(
            split_action("pkg/hello"),
            (None, "pkg".into(), "hello".into())
        );
        assert_eq!(
            split_action("/guest/hello"),
            (Some("guest".into()), String::new(), "hello".into())
        );
        assert_eq!(
            split_action("/guest/pkg/hello"),
            (Some("guest".into()), "pkg".into(), "hello".into())
        );
    }
}
