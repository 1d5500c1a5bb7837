//! `/api/{tenant}/{base}/{path}`: a request on an API route. The tenant names the
//! namespace; the longest stored base path that prefixes the request path and has a
//! matching path template wins, then the verb picks the operation. The action runs as a
//! web action call of the namespace that owns the route (never with the caller's
//! credentials): path parameters, query and body become its input as for web actions.
//! Misses answer as OpenWhisk's gateway does: `404 {"status":404,"message":"Error: ..."}`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use whisk_types::{EntityName, EntityPath, FullyQualifiedName, TransactionId};

use super::swagger::{self, Operation, MAX_BASE_SEGMENTS, MAX_SEGMENTS};
use crate::controller::Controller;
use crate::error::{ApiError, PassThrough};
use crate::routes::web::{self, Routed, Target};

const NOT_FOUND: &str = "Not found.";
const VERB_NOT_SUPPORTED: &str = "Whoops. Verb not supported.";

/// The gateway's own error answer.
fn gateway_error(text: &str) -> Response {
    let mut resp = (
        StatusCode::NOT_FOUND,
        json!({ "status": 404, "message": format!("Error: {text}") }).to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp.extensions_mut().insert(PassThrough);
    resp
}

/// What a request path resolved to.
enum Found {
    /// The operation and the values of its path parameters, with the path below the base.
    Route(
        Operation,
        serde_json::Map<String, serde_json::Value>,
        String,
    ),
    /// A path matched but no operation has this verb; whether CORS is on for the API.
    WrongVerb {
        cors: bool,
    },
    Nothing,
}

/// Handler of `/api/{tenant}` and everything below it (but `/api/v1`).
pub(crate) async fn handle(State(ctl): State<Arc<Controller>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let rest = path.strip_prefix("/api/").unwrap_or("");
    let (tenant, below) = rest.split_once('/').unwrap_or((rest, ""));
    if tenant == "v1" {
        return ApiError::RouteNotFound.into_response();
    }
    let Some(ns) = super::tenant_namespace(tenant) else {
        return gateway_error(NOT_FOUND);
    };
    let segments: Vec<&str> = below.split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() > MAX_BASE_SEGMENTS + MAX_SEGMENTS {
        return gateway_error(NOT_FOUND);
    }
    let method = parts.method.clone();
    let found = match find(&ctl, &ns, &segments, &method).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let (op, params, relpath) = match found {
        Found::Route(op, params, relpath) => (op, params, relpath),
        Found::WrongVerb { cors: true } if method == Method::OPTIONS => {
            return web::with_cors(StatusCode::OK.into_response(), &parts.headers);
        }
        Found::WrongVerb { .. } => return gateway_error(VERB_NOT_SUPPORTED),
        Found::Nothing => return gateway_error(NOT_FOUND),
    };
    let Some(target) = target(&ns, &op, &relpath) else {
        return gateway_error(NOT_FOUND);
    };
    let tid = parts
        .extensions
        .get::<TransactionId>()
        .cloned()
        .unwrap_or_else(TransactionId::generate);
    let routed = Routed {
        params,
        vouched: true,
    };
    let query = parts.uri.query();
    let served = web::serve(
        &ctl,
        tid,
        &method,
        query,
        &parts.headers,
        body,
        target,
        Some(routed),
    )
    .await;
    match served {
        Ok((resp, true)) => web::with_cors(resp, &parts.headers),
        Ok((resp, false)) => resp,
        Err(e) => web::with_cors(e.into_response(), &parts.headers),
    }
}

/// The web action an operation names, in the route's own namespace only.
fn target(ns: &EntityName, op: &Operation, relpath: &str) -> Option<Target> {
    if op.namespace != ns.as_str() {
        return None;
    }
    let path = if op.package.is_empty() {
        EntityPath::namespace_only(ns.clone())
    } else {
        EntityPath::with_package(ns.clone(), EntityName::new(&op.package).ok()?)
    };
    let ext = op.response_type;
    let rest = if ext == crate::routes::web_result::Extension::Http {
        relpath.to_owned()
    } else {
        String::new()
    };
    Some(Target {
        fqn: FullyQualifiedName::new(path, EntityName::new(&op.action).ok()?),
        ext,
        rest,
    })
}

/// Tries the base paths the request path starts with, longest first: at most
/// [`MAX_BASE_SEGMENTS`] + 1 point reads.
async fn find(
    ctl: &Controller,
    ns: &EntityName,
    segments: &[&str],
    method: &Method,
) -> Result<Found, ApiError> {
    let verb = method.as_str().to_ascii_lowercase();
    for k in (0..=segments.len().min(MAX_BASE_SEGMENTS)).rev() {
        let base = format!("/{}", segments[..k].join("/"));
        let Some(doc) = super::load(ctl, ns, &base).await? else {
            continue;
        };
        let relpath = format!("/{}", segments[k..].join("/"));
        let swagger = &doc.body["swagger"];
        let matched: Vec<_> = swagger::operations(swagger)
            .into_iter()
            .filter_map(|op| swagger::match_path(&op.path, &relpath).map(|m| (op, m)))
            .collect();
        if matched.is_empty() {
            continue;
        }
        let best = matched
            .iter()
            .filter(|(op, _)| op.verb == verb || (verb == "head" && op.verb == "get"))
            .max_by_key(|(op, (_, literal))| (*literal, op.verb == verb));
        return Ok(match best {
            Some((op, (params, _))) => Found::Route(op.clone(), params.clone(), relpath),
            None => Found::WrongVerb {
                cors: swagger["x-ibm-configuration"]["cors"]["enabled"] != json!(false),
            },
        });
    }
    Ok(Found::Nothing)
}
