//! Web actions (reference §6.7): `/api/v1/web/{ns}/{pkg|default}/{action}[.ext][/path]`.
//! No authentication is needed; the namespace's owner runs (and owns the record of) the
//! activation. The request becomes the action's input (`__ow_*` fields, query, body, or
//! the raw query and body for `raw-http`), and the result becomes the HTTP response as
//! the extension says ([`super::web_result`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use serde_json::{json, Map, Value};
use whisk_types::{EntityName, EntityPath, FullyQualifiedName, ResponseStatus, TransactionId};

use super::web_result::{self, is_binary, is_json, media_type, Extension as Ext};
use super::{ACTIVATION_ID_HEADER, WEB};
use crate::controller::Controller;
use crate::error::{ApiError, ErrorText, PassThrough};
use crate::invocation::{check_final, Invocation, NOT_ALLOWED};
use crate::ow_headers::{ow_headers, UsedCredentials, OW_HEADERS, REQUIRE_WHISK_AUTH};
use crate::request::{percent_decode, read_body, Query};
use crate::resolve::invocable;

const WEB_EXPORT: &str = "web-export";
const RAW_HTTP: &str = "raw-http";
const CUSTOM_OPTIONS: &str = "web-custom-options";
const REQUIRE_AUTH: &str = "require-whisk-auth";

/// The input keys the platform sets; requests may not set them.
const RESERVED: [&str; 6] = [
    "__ow_method",
    OW_HEADERS,
    "__ow_path",
    "__ow_user",
    "__ow_body",
    "__ow_query",
];

const CORS_METHODS: &str = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH";
const CORS_HEADERS: &str =
    "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent";

/// What the URL names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub fqn: FullyQualifiedName,
    pub ext: Ext,
    /// The path after the action segment (`/a/b`), or empty: the action's `__ow_path`.
    pub rest: String,
}

/// What an API route ([`crate::apis`]) adds to a web call: the values of its path
/// parameters, and whether the route stands in for a `require-whisk-auth` secret (the
/// route's owner owns the action, so the platform sends the secret as OpenWhisk's gateway
/// does).
#[derive(Debug, Default)]
pub(crate) struct Routed {
    pub params: Map<String, Value>,
    pub vouched: bool,
}

/// Compares a sent `require-whisk-auth` secret in constant time: digests of both sides
/// (so neither the length nor a matching prefix shows in the timing), compared without
/// an early exit.
fn secrets_equal(sent: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (a, b) = (Sha256::digest(sent), Sha256::digest(expected));
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// Splits `/api/v1/web/{ns}/{pkg}/{action}[.ext][/rest]`. `rest` is the rest of the path as
/// sent, from the `/` after the action segment on (OpenWhisk's unmatched path: `""` when
/// nothing follows the action, `/` for a trailing slash), whatever the extension.
fn parse_path(path: &str) -> Result<Target, ApiError> {
    let tail = path.strip_prefix(WEB).unwrap_or("");
    let mut parts = tail.strip_prefix('/').unwrap_or("").splitn(4, '/');
    let (Some(ns), Some(pkg), Some(action)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::NotFound);
    };
    if ns.is_empty() || pkg.is_empty() || action.is_empty() {
        return Err(ApiError::NotFound);
    }
    let rest = parts.next().map(|r| format!("/{r}")).unwrap_or_default();
    let [ns, pkg, action] = [ns, pkg, action].map(|s| percent_decode(s, false));
    let (name, ext) = Ext::split(&action);
    let ns = EntityName::namespace(&ns)?;
    let path = if pkg == super::packages::DEFAULT_PACKAGE {
        EntityPath::namespace_only(ns)
    } else {
        EntityPath::with_package(ns, EntityName::new(&pkg)?)
    };
    Ok(Target {
        fqn: FullyQualifiedName::new(path, EntityName::new(name)?),
        ext,
        rest,
    })
}

/// Handler of everything under `/api/v1/web`.
pub(crate) async fn handle(
    State(ctl): State<Arc<Controller>>,
    Extension(tid): Extension<TransactionId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let served = match parse_path(uri.path()) {
        Ok(target) => {
            serve(
                &ctl,
                tid,
                &method,
                uri.query(),
                &headers,
                body,
                target,
                None,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (resp, cors) = match served {
        Ok(r) => r,
        Err(e) => (e.into_response(), true),
    };
    if cors {
        with_cors(resp, &headers)
    } else {
        resp
    }
}

pub(crate) fn with_cors(mut resp: Response, request: &HeaderMap) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(CORS_METHODS),
    );
    let allow = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static(CORS_HEADERS));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    resp
}

/// The response, and whether the platform's CORS headers go on it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    ctl: &Arc<Controller>,
    tid: TransactionId,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    target: Target,
    routed: Option<Routed>,
) -> Result<(Response, bool), ApiError> {
    let routed = routed.unwrap_or_default();
    // Credentials are optional; invalid ones make an anonymous call (and an
    // `Authorization` that did not authenticate is the action's own to read). A failure
    // to check them fails the call rather than passing possibly valid ones on.
    let caller = match headers.get(header::AUTHORIZATION) {
        Some(_) => match crate::auth::authenticate(ctl, headers).await {
            Ok(caller) => Some(caller),
            Err(ApiError::AuthMissing | ApiError::AuthInvalid) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut used = UsedCredentials {
        authorization: caller.is_some(),
        ..UsedCredentials::default()
    };
    // Read each time (not cached): a blocked namespace's web actions go at once.
    let owner = ctl
        .identities
        .subject_by_namespace(target.fqn.namespace())
        .await?
        .ok_or(ApiError::NotFound)?
        .identity;
    let action = match invocable(ctl, &owner.namespace, &target.fqn).await {
        Ok(a) => a,
        Err(ApiError::Forbidden(_)) => return Err(ApiError::NotFound),
        Err(e) => return Err(e),
    };
    let ann = &action.action.annotations;
    if !ann.is_truthy(WEB_EXPORT) {
        return Err(ApiError::NotFound);
    }
    let custom_options = ann.is_truthy(CUSTOM_OPTIONS);
    if method == Method::OPTIONS && !custom_options {
        return Ok((StatusCode::OK.into_response(), true));
    }
    match ann.get(REQUIRE_AUTH) {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            if caller.is_none() {
                return Err(ApiError::WebUnauthorized);
            }
        }
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            let expected = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let sent = headers.get(REQUIRE_WHISK_AUTH).map(|h| h.as_bytes());
            let matches = sent.is_some_and(|sent| secrets_equal(sent, expected.as_bytes()));
            if !matches && !routed.vouched {
                return Err(ApiError::WebUnauthorized);
            }
            used.require_whisk_auth = matches;
        }
        Some(_) => return Err(ApiError::WebUnauthorized),
    }

    let bytes = read_body(body, headers, ctl.config.max_payload).await?;
    let raw = ann.is_truthy(RAW_HTTP);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut input = Map::new();
    input.insert(
        "__ow_method".into(),
        json!(method.as_str().to_ascii_lowercase()),
    );
    input.insert(OW_HEADERS.into(), Value::Object(ow_headers(headers, used)));
    input.insert("__ow_path".into(), json!(target.rest));
    if let Some(c) = &caller {
        input.insert("__ow_user".into(), json!(c.identity.namespace));
    }
    if raw {
        input.insert("__ow_query".into(), json!(query.unwrap_or("")));
        input.insert(
            "__ow_body".into(),
            json!(raw_body(&bytes, content_type.as_deref())),
        );
        input.extend(routed.params);
    } else {
        let mut fields = Map::new();
        for (k, v) in Query::parse(query).pairs() {
            fields.insert(k.clone(), json!(v));
        }
        match body_fields(&bytes, content_type.as_deref())? {
            BodyInput::Fields(m) => fields.extend(m),
            BodyInput::Body(v) => {
                input.insert("__ow_body".into(), v);
            }
            BodyInput::Nothing => {}
        }
        fields.extend(routed.params);
        if fields.keys().any(|k| RESERVED.contains(&k.as_str())) {
            return Err(ApiError::BadRequest(NOT_ALLOWED.into()));
        }
        check_final(&action, fields.keys())?;
        input.extend(fields);
    }

    let mut inv = Invocation::new(tid.clone(), owner, action, Value::Object(input));
    inv.blocking = true;
    let id = inv.id;
    let finished = ctl.activate_and_wait(inv, ctl.config.blocking_wait).await?;
    let Some(activation) = finished else {
        let mut resp = (
            StatusCode::ACCEPTED,
            axum::Json(json!({"error": "Response not yet ready."})),
        )
            .into_response();
        resp.extensions_mut()
            .insert(ErrorText("Response not yet ready.".into()));
        return Ok((with_id(resp, id), !custom_options));
    };
    let result = match activation.response.status() {
        ResponseStatus::Success => activation.response.result,
        ResponseStatus::ApplicationError => activation
            .response
            .result
            .get("error")
            .cloned()
            .unwrap_or(Value::Null),
        ResponseStatus::DeveloperError | ResponseStatus::WhiskError => {
            return Err(ApiError::BadRequest(
                "There was an error processing your request.".into(),
            ))
        }
    };
    let mut resp = web_result::render(target.ext, &result)?;
    resp.extensions_mut().insert(PassThrough);
    Ok((with_id(resp, id), !custom_options))
}

fn with_id(mut resp: Response, id: whisk_types::ActivationId) -> Response {
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        resp.headers_mut().insert(ACTIVATION_ID_HEADER, v);
    }
    resp
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `__ow_body` of a raw-http action: base64 for binary and JSON types, else text.
fn raw_body(bytes: &[u8], content_type: Option<&str>) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    let media = content_type
        .and_then(media_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    match std::str::from_utf8(bytes) {
        Ok(text) if !is_binary(&media) && !is_json(&media) => text.to_owned(),
        _ => base64(bytes),
    }
}

enum BodyInput {
    Fields(Map<String, Value>),
    Body(Value),
    Nothing,
}

/// A body as input: an object's fields or form fields spread, anything else `__ow_body`.
fn body_fields(bytes: &[u8], content_type: Option<&str>) -> Result<BodyInput, ApiError> {
    if bytes.is_empty() {
        return Ok(BodyInput::Nothing);
    }
    let media = content_type
        .and_then(media_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    if is_json(&media) {
        return match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok(BodyInput::Fields(m)),
            Ok(other) => Ok(BodyInput::Body(other)),
            Err(e) => Err(ApiError::Malformed(e.to_string())),
        };
    }
    if media == "application/x-www-form-urlencoded" {
        let text = String::from_utf8_lossy(bytes);
        let mut m = Map::new();
        for (k, v) in Query::parse(Some(&text)).pairs() {
            m.insert(k.clone(), json!(v));
        }
        return Ok(BodyInput::Fields(m));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if !is_binary(&media) => Ok(BodyInput::Body(json!(text))),
        _ => Ok(BodyInput::Body(json!(base64(bytes)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(secrets_equal(b"s3cret", b"s3cret"));
        assert!(!secrets_equal(b"s3cre", b"s3cret"));
        assert!(!secrets_equal(b"s3cret!", b"s3cret"));
        assert!(!secrets_equal(b"", b"s3cret"));
    }

    #[test]
    fn paths() {
        let t = parse_path("/api/v1/web/guest/default/hello.json/a/b").unwrap();
        assert_eq!(t.fqn.to_string(), "guest/hello");
        assert_eq!(t.ext, Ext::Json);
        assert_eq!(t.rest, "/a/b");
        let t = parse_path("/api/v1/web/guest/pkg/hello").unwrap();
        assert_eq!(t.fqn.to_string(), "guest/pkg/hello");
        assert_eq!(t.ext, Ext::Http);
        assert_eq!(t.rest, "");
        let t = parse_path("/api/v1/web/guest/default/v1.2.html").unwrap();
        assert_eq!(t.fqn.to_string(), "guest/v1.2");
        assert_eq!(t.ext, Ext::Html);
        let t = parse_path("/api/v1/web/guest/default/v1.2").unwrap();
        assert_eq!(t.fqn.to_string(), "guest/v1.2");
        assert!(parse_path("/api/v1/web/guest/default").is_err());
        assert!(parse_path("/api/v1/web/guest//hello").is_err());
        // The rest of the path as sent, for every extension and for none.
        for (url, rest) in [
            (
                "/api/v1/web/guest/default/hello.text/a%20b//c/",
                "/a%20b//c/",
            ),
            ("/api/v1/web/guest/default/hello/", "/"),
            ("/api/v1/web/guest/default/hello/x.json", "/x.json"),
            ("/api/v1/web/guest/default/hello.svg", ""),
        ] {
            assert_eq!(parse_path(url).unwrap().rest, rest, "{url}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(raw_body(b"", Some("application/json")), "");
        assert_eq!(raw_body(b"{}", Some("application/json")), "e30=");
        assert_eq!(raw_body(b"hi", Some("text/plain")), "hi");
        assert_eq!(raw_body(b"hi", None), "aGk=");
        assert!(matches!(
            body_fields(b"a=1&b=x+y", Some("application/x-www-form-urlencoded")).unwrap(),
            BodyInput::Fields(m) if m["b"] == "x y"
        ));
        assert!(matches!(
            body_fields(b"[1]", Some("application/json")).unwrap(),
            BodyInput::Body(v) if v == json!([1])
        ));
        assert!(matches!(
            body_fields(b"hi", Some("text/plain; charset=utf-8")).unwrap(),
            BodyInput::Body(v) if v == json!("hi")
        ));
    }
}
