//! The routes of the REST API. Fixed paths (`/`, `/ping`, `/api/v1`, `/metrics`) are axum
//! routes; everything under `/api/v1/namespaces` goes through [`namespaced`], which
//! authenticates, parses the rest of the path itself (so `pkg/action`, `pkg%2Faction` and
//! trailing `?` all work) and dispatches with one flat `match`.

mod actions;
mod activations;
mod info;
mod invoke;

pub use invoke::ACTIVATION_ID_HEADER;
mod namespaces;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use whisk_types::name::DEFAULT_NAMESPACE;
use whisk_types::{EntityName, EntityPath, FullyQualifiedName, NameError, TransactionId};

use crate::auth::Caller;
use crate::controller::Controller;
use crate::error::ApiError;
use crate::request::{percent_decode, Query};

pub(crate) use info::{api_info, metrics, not_found, ping, server_info};

/// The prefix of every authenticated route.
pub(crate) const NAMESPACES: &str = "/api/v1/namespaces";

const GET: &[&str] = &["GET"];
const ENTITY_METHODS: &[&str] = &["GET", "PUT", "DELETE", "POST"];

/// One authenticated request, with what every handler needs.
pub(crate) struct Call {
    pub ctl: Arc<Controller>,
    pub tid: TransactionId,
    pub caller: Caller,
    /// The namespace of the path, `_` resolved: always the caller's for now.
    pub namespace: EntityName,
    pub query: Query,
    pub headers: HeaderMap,
    /// Epoch ms when the request arrived.
    pub received_at: i64,
}

/// What the path below `/api/v1/namespaces/{ns}/` names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Limits,
    /// All actions of the namespace, or of one package (`actions/{pkg}/`).
    ActionList(Option<EntityName>),
    Action(FullyQualifiedName),
    ActivationList,
    /// An activation id (unvalidated) and an optional `logs` or `result` suffix.
    Activation(String, Option<ActivationPart>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActivationPart {
    Logs,
    Result,
}

/// Handler of `/api/v1/namespaces` and everything below it.
pub(crate) async fn namespaced(
    State(ctl): State<Arc<Controller>>,
    Extension(tid): Extension<TransactionId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match dispatch(ctl, tid, method, uri, headers, body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    ctl: Arc<Controller>,
    tid: TransactionId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received_at = whisk_types::now_millis();
    let caller = ctl
        .auth
        .authenticate(&headers, ctl.identities.as_ref())
        .await?;
    let method = if method == Method::HEAD {
        Method::GET
    } else {
        method
    };
    let rest = uri
        .path()
        .strip_prefix(NAMESPACES)
        .unwrap_or("")
        .trim_start_matches('/');
    if rest.is_empty() {
        return match method {
            Method::GET => Ok(namespaces::list(&caller)),
            _ => Err(ApiError::MethodNotAllowed(GET)),
        };
    }
    let (ns_raw, after) = rest.split_once('/').unwrap_or((rest, ""));
    let (collection, tail) = match after.split_once('/') {
        Some((c, t)) => (c, Some(percent_decode(t, false))),
        None => (after, None),
    };
    let requested = percent_decode(ns_raw, false);
    let own = caller.identity.namespace.clone();
    let route = parse_route(&percent_decode(collection, false), tail.as_deref(), &own)?;

    let ns = EntityName::namespace(&requested)?;
    if ns.as_str() != DEFAULT_NAMESPACE && ns != own {
        let resource = match &route {
            Route::Action(fqn) => format!("{ns}/{}", fqn_below_namespace(fqn)),
            _ => ns.to_string(),
        };
        return Err(ApiError::Forbidden(resource));
    }

    let call = Call {
        ctl,
        tid,
        caller,
        namespace: own,
        query: Query::parse(uri.query()),
        headers,
        received_at,
    };
    match (route, method) {
        (Route::Limits, Method::GET) => Ok(namespaces::limits(&call)),
        (Route::ActionList(pkg), Method::GET) => actions::list(&call, pkg).await,
        (Route::Action(fqn), Method::GET) => actions::get(&call, &fqn).await,
        (Route::Action(fqn), Method::PUT) => actions::put(&call, &fqn, body).await,
        (Route::Action(fqn), Method::DELETE) => actions::delete(&call, &fqn).await,
        (Route::Action(fqn), Method::POST) => Ok(invoke::invoke(&call, &fqn, body).await),
        (Route::ActivationList, Method::GET) => activations::list(&call).await,
        (Route::Activation(id, part), Method::GET) => activations::get(&call, &id, part).await,
        (Route::Action(_), _) => Err(ApiError::MethodNotAllowed(ENTITY_METHODS)),
        _ => Err(ApiError::MethodNotAllowed(GET)),
    }
}

/// `pkg/name` or `name`: the part of a name after its namespace.
fn fqn_below_namespace(fqn: &FullyQualifiedName) -> String {
    match fqn.path.package() {
        Some(p) => format!("{p}/{}", fqn.name),
        None => fqn.name.to_string(),
    }
}

/// Parses the collection and the (decoded) rest of the path.
fn parse_route(collection: &str, tail: Option<&str>, ns: &EntityName) -> Result<Route, ApiError> {
    let segments = |t: &str| -> Vec<String> {
        t.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match collection {
        "limits" if tail.is_none_or(str::is_empty) => Ok(Route::Limits),
        "actions" => {
            let Some(tail) = tail else {
                return Ok(Route::ActionList(None));
            };
            let parts = segments(tail);
            match (parts.as_slice(), tail.ends_with('/')) {
                ([], _) => Ok(Route::ActionList(None)),
                ([pkg], true) => Ok(Route::ActionList(Some(EntityName::new(pkg)?))),
                (_, true) => Err(ApiError::RouteNotFound),
                ([name], false) => Ok(Route::Action(FullyQualifiedName::new(
                    EntityPath::namespace_only(ns.clone()),
                    EntityName::new(name)?,
                ))),
                ([pkg, name], false) => Ok(Route::Action(FullyQualifiedName::new(
                    EntityPath::with_package(ns.clone(), EntityName::new(pkg)?),
                    EntityName::new(name)?,
                ))),
                _ => Err(NameError::TooManySegments.into()),
            }
        }
        "activations" => {
            let parts = segments(tail.unwrap_or(""));
            match parts.as_slice() {
                [] => Ok(Route::ActivationList),
                [id] => Ok(Route::Activation(id.clone(), None)),
                [id, p] if p == "logs" => {
                    Ok(Route::Activation(id.clone(), Some(ActivationPart::Logs)))
                }
                [id, p] if p == "result" => {
                    Ok(Route::Activation(id.clone(), Some(ActivationPart::Result)))
                }
                _ => Err(ApiError::RouteNotFound),
            }
        }
        _ => Err(ApiError::RouteNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(collection: &str, tail: Option<&str>) -> Result<Route, String> {
        let ns = EntityName::new("guest").unwrap();
        parse_route(collection, tail, &ns).map_err(|e| e.to_string())
    }

    fn action(s: &str) -> Result<Route, String> {
        Ok(Route::Action(FullyQualifiedName::parse(s).unwrap()))
    }

    #[test]
    fn routes() {
        let pkg = || EntityName::new("pkg").unwrap();
        assert_eq!(route("actions", None), Ok(Route::ActionList(None)));
        assert_eq!(route("actions", Some("")), Ok(Route::ActionList(None)));
        assert_eq!(
            route("actions", Some("pkg/")),
            Ok(Route::ActionList(Some(pkg())))
        );
        assert_eq!(route("actions", Some("hello")), action("guest/hello"));
        assert_eq!(
            route("actions", Some("pkg/hello")),
            action("guest/pkg/hello")
        );
        assert_eq!(
            route("actions", Some("pkg//hello")),
            action("guest/pkg/hello")
        );
        assert_eq!(
            route("actions", Some("a/b/c")),
            Err("The name of the entity contains illegal characters.".into())
        );
        assert_eq!(
            route("actions", Some("a$")),
            Err("The name of the entity contains illegal characters.".into())
        );
        assert_eq!(route("activations", None), Ok(Route::ActivationList));
        assert_eq!(
            route("activations", Some("abc/logs")),
            Ok(Route::Activation("abc".into(), Some(ActivationPart::Logs)))
        );
        assert_eq!(
            route("activations", Some("abc/other")),
            Err("The requested resource could not be found.".into())
        );
        assert_eq!(route("limits", None), Ok(Route::Limits));
        assert!(route("limits", Some("x")).is_err());
        assert!(route("nothing", None).is_err());
    }
}
