//! The routes of the REST API. Fixed paths (`/`, `/ping`, `/api/v1`, `/metrics`) are axum
//! routes; everything under `/api/v1/namespaces` goes through [`namespaced`], which
//! authenticates, parses the rest of the path itself (so `pkg/action`, `pkg%2Faction` and
//! trailing `?` all work) and dispatches with one flat `match`.

mod actions;
mod activations;
mod info;
mod invoke;
mod namespaces;
mod packages;
mod rules;
mod triggers;
pub(crate) mod web;
pub(crate) mod web_result;

pub use invoke::ACTIVATION_ID_HEADER;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;
use whisk_store::{Collection, Document, ListQuery};
use whisk_types::name::DEFAULT_NAMESPACE;
use whisk_types::{EntityName, EntityPath, FullyQualifiedName, NameError, TransactionId};

use crate::auth::Caller;
use crate::controller::Controller;
use crate::error::ApiError;
use crate::request::{percent_decode, ListParams, Query};

pub(crate) use info::{api_docs, api_info, invokers, metrics, not_found, ping, server_info};
pub(crate) use packages::FEED;

/// The prefix of every authenticated route.
pub(crate) const NAMESPACES: &str = "/api/v1/namespaces";
/// The prefix of web actions (no authentication needed).
pub(crate) const WEB: &str = "/api/v1/web";

const GET: &[&str] = &["GET"];
const ENTITY_METHODS: &[&str] = &["GET", "PUT", "DELETE", "POST"];
const PACKAGE_METHODS: &[&str] = &["GET", "PUT", "DELETE"];

/// One authenticated request, with what every handler needs.
/// Answers a list route over `namespace` (and `package`): `{"<collection>": N}` with
/// `count=true`, else `row` of each document, newest first. Documents are read with
/// `list_metadata`: no list shows an action's code, so it is never loaded.
pub(super) async fn list_or_count<E: Into<ApiError>>(
    call: &Call,
    collection: Collection,
    params: &ListParams,
    namespace: EntityName,
    package: Option<EntityName>,
    row: impl Fn(&Document) -> Result<Value, E>,
) -> Result<Response, ApiError> {
    let query = ListQuery {
        namespace,
        package,
        skip: params.skip,
        limit: params.limit,
    };
    let store = &call.ctl.entities;
    if params.count {
        let n = store.count(collection, &query).await?;
        return Ok(axum::Json(serde_json::json!({ collection.as_str(): n })).into_response());
    }
    let rows = store
        .list_metadata(collection, &query)
        .await?
        .iter()
        .map(row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(Into::into)?;
    Ok(axum::Json(rows).into_response())
}

/// 403 when the caller's namespace already holds `max_entities` of `collection` (checked
/// before a create; concurrent creates may pass it by a few).
pub(super) async fn check_capacity(call: &Call, collection: Collection) -> Result<(), ApiError> {
    let max = call.ctl.config.max_entities;
    let query = ListQuery {
        namespace: call.namespace.clone(),
        package: None,
        skip: 0,
        limit: 0,
    };
    if call.ctl.entities.count(collection, &query).await? >= max {
        return Err(ApiError::EntityCap {
            namespace: call.namespace.to_string(),
            collection: collection.as_str(),
            max,
        });
    }
    Ok(())
}

pub(crate) struct Call {
    pub ctl: Arc<Controller>,
    pub tid: TransactionId,
    pub caller: Caller,
    /// The namespace of the path, `_` resolved to the caller's.
    pub namespace: EntityName,
    pub query: Query,
    pub headers: HeaderMap,
    /// Epoch ms when the request arrived.
    pub received_at: i64,
}

impl Call {
    /// The caller's own namespace.
    pub fn own(&self) -> &EntityName {
        &self.caller.identity.namespace
    }

    /// Whether the path's namespace is the caller's.
    pub fn is_owner(&self) -> bool {
        &self.namespace == self.own()
    }

    /// 403 naming `resource` unless the caller owns the path's namespace.
    pub fn require_owner(&self, resource: impl FnOnce() -> String) -> Result<(), ApiError> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(resource()))
        }
    }

    /// `ns/name` in the path's namespace.
    pub fn fqn(&self, name: &EntityName) -> FullyQualifiedName {
        FullyQualifiedName::new(
            EntityPath::namespace_only(self.namespace.clone()),
            name.clone(),
        )
    }
}

/// What the path below `/api/v1/namespaces/{ns}/` names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Limits,
    /// All actions of the namespace, or of one package (`actions/{pkg}/`).
    ActionList(Option<EntityName>),
    Action(FullyQualifiedName),
    PackageList,
    Package(EntityName),
    TriggerList,
    Trigger(EntityName),
    RuleList,
    Rule(EntityName),
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
    let caller = crate::auth::authenticate(&ctl, &headers).await?;
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
    let requested = EntityName::namespace(&percent_decode(ns_raw, false))?;
    let ns = if requested.as_str() == DEFAULT_NAMESPACE {
        caller.identity.namespace.clone()
    } else {
        requested
    };
    let route = parse_route(&percent_decode(collection, false), tail.as_deref(), &ns)?;

    let call = Call {
        ctl,
        tid,
        caller,
        namespace: ns,
        query: Query::parse(uri.query()),
        headers,
        received_at,
    };
    // Entitlement of what only owners may do; shared packages and their actions are
    // checked where they are resolved.
    let ns_only = || call.namespace.to_string();
    match &route {
        Route::Limits | Route::ActivationList | Route::Activation(..) => {
            call.require_owner(ns_only)?
        }
        Route::ActionList(None) | Route::TriggerList | Route::RuleList => {
            call.require_owner(ns_only)?
        }
        Route::Trigger(name) | Route::Rule(name) => {
            call.require_owner(|| call.fqn(name).to_string())?
        }
        Route::Action(fqn) if method != Method::GET && method != Method::POST => {
            call.require_owner(|| format!("{}/{}", call.namespace, fqn_below_namespace(fqn)))?
        }
        Route::Package(name) if method != Method::GET => {
            call.require_owner(|| call.fqn(name).to_string())?
        }
        _ => {}
    }
    match (route, method) {
        (Route::Limits, Method::GET) => Ok(namespaces::limits(&call).await),
        (Route::ActionList(pkg), Method::GET) => actions::list(&call, pkg).await,
        (Route::Action(fqn), Method::GET) => actions::get(&call, &fqn).await,
        (Route::Action(fqn), Method::PUT) => actions::put(&call, &fqn, body).await,
        (Route::Action(fqn), Method::DELETE) => actions::delete(&call, &fqn).await,
        (Route::Action(fqn), Method::POST) => Ok(invoke::invoke(&call, &fqn, body).await),
        (Route::ActivationList, Method::GET) => activations::list(&call).await,
        (Route::Activation(id, part), Method::GET) => activations::get(&call, &id, part).await,
        (Route::PackageList, Method::GET) => packages::list(&call).await,
        (Route::Package(name), Method::GET) => packages::get(&call, &name).await,
        (Route::Package(name), Method::PUT) => packages::put(&call, &name, body).await,
        (Route::Package(name), Method::DELETE) => packages::delete(&call, &name).await,
        (Route::TriggerList, Method::GET) => triggers::list(&call).await,
        (Route::Trigger(name), Method::GET) => triggers::get(&call, &name).await,
        (Route::Trigger(name), Method::PUT) => triggers::put(&call, &name, body).await,
        (Route::Trigger(name), Method::DELETE) => triggers::delete(&call, &name).await,
        (Route::Trigger(name), Method::POST) => Ok(triggers::fire(&call, &name, body).await),
        (Route::RuleList, Method::GET) => rules::list(&call).await,
        (Route::Rule(name), Method::GET) => rules::get(&call, &name).await,
        (Route::Rule(name), Method::PUT) => rules::put(&call, &name, body).await,
        (Route::Rule(name), Method::DELETE) => rules::delete(&call, &name).await,
        (Route::Rule(name), Method::POST) => rules::set_status(&call, &name, body).await,
        (Route::Action(_) | Route::Trigger(_) | Route::Rule(_), _) => {
            Err(ApiError::MethodNotAllowed(ENTITY_METHODS))
        }
        (Route::Package(_), _) => Err(ApiError::MethodNotAllowed(PACKAGE_METHODS)),
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
        "packages" | "triggers" | "rules" => {
            let parts = segments(tail.unwrap_or(""));
            let name = match parts.as_slice() {
                [] => None,
                [name] => Some(EntityName::new(name)?),
                _ => return Err(ApiError::RouteNotFound),
            };
            Ok(match (collection, name) {
                ("packages", None) => Route::PackageList,
                ("packages", Some(n)) => Route::Package(n),
                ("triggers", None) => Route::TriggerList,
                ("triggers", Some(n)) => Route::Trigger(n),
                ("rules", None) => Route::RuleList,
                (_, Some(n)) => Route::Rule(n),
                (_, None) => Route::RuleList,
            })
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
