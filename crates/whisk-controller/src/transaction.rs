//! The layer around every request: transaction id (`X-Request-ID`), tracing span, `OPTIONS`
//! and CORS on `/api/v1`, the `{"error","code"}` body for every error (ours and axum's own
//! rejections), and response counting.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;
use whisk_types::TransactionId;

use crate::controller::Controller;
use crate::error::{ErrorText, PassThrough};

/// The transaction id header, read from requests and set on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const CORS: [(HeaderName, &str); 3] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET, DELETE, POST, PUT, HEAD",
    ),
    (
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent",
    ),
];

/// Largest framework error body the layer reads to rewrap.
const MAX_REWRAP: usize = 64 * 1024;

/// `/api/v1` and below, except web actions (they have their own CORS policy).
fn is_api_path(path: &str) -> bool {
    (path == "/api/v1" || path.starts_with("/api/v1/")) && !path.starts_with("/api/v1/web/")
}

/// The middleware function (`axum::middleware::from_fn_with_state`).
pub(crate) async fn layer(
    State(ctl): State<Arc<Controller>>,
    mut req: Request,
    next: Next,
) -> Response {
    let tid = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(TransactionId::from_header)
        .unwrap_or_else(TransactionId::generate);
    let path = req.uri().path().to_owned();
    let api = is_api_path(&path);
    let span = tracing::info_span!("request", tid = %tid, method = %req.method(), path = %path);
    req.extensions_mut().insert(tid.clone());

    let resp = if api && req.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(req).instrument(span.clone()).await
    };
    let store_failed = resp
        .extensions()
        .get::<crate::error::StoreFailure>()
        .is_some();
    let mut resp = render_error(resp, &tid).instrument(span).await;

    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tid.as_str()) {
        headers.insert(REQUEST_ID, v);
    }
    if api {
        for (name, value) in CORS {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    ctl.metrics.record_response(resp.status().as_u16());
    if store_failed {
        ctl.metrics.record_store_error();
    }
    resp
}

/// Gives error responses the `{"error": text, "code": tid}` body. Our own errors carry
/// their text in an extension; framework errors (plain text, no JSON) are rewrapped.
async fn render_error(resp: Response, tid: &TransactionId) -> Response {
    if resp.extensions().get::<PassThrough>().is_some() {
        return resp;
    }
    if let Some(ErrorText(text)) = resp.extensions().get::<ErrorText>().cloned() {
        return with_error_body(resp, None, &text, tid);
    }
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let raw = axum::body::to_bytes(body, MAX_REWRAP)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&raw).trim().to_owned();
    let reason = status.canonical_reason().unwrap_or("Error").to_owned();
    let (status, text) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            (
                status,
                format!("HTTP method not allowed, supported methods: {allowed}"),
            )
        }
        StatusCode::NOT_FOUND => (status, "The requested resource could not be found.".into()),
        StatusCode::BAD_REQUEST
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::UNPROCESSABLE_ENTITY => (
            StatusCode::BAD_REQUEST,
            format!("The request content was malformed:\n{detail}"),
        ),
        s if s.is_server_error() || detail.is_empty() => (s, reason),
        s => (s, detail),
    };
    let resp = Response::from_parts(parts, Body::empty());
    with_error_body(resp, Some(status), &text, tid)
}

/// Replaces the body with the error shape; `status` overrides the response's status.
fn with_error_body(
    resp: Response,
    status: Option<StatusCode>,
    text: &str,
    tid: &TransactionId,
) -> Response {
    let (mut parts, _) = resp.into_parts();
    if let Some(s) = status {
        parts.status = s;
    }
    let body = json!({ "error": text, "code": tid }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        assert!(is_api_path("/api/v1"));
        assert!(is_api_path("/api/v1/namespaces/_/actions"));
        assert!(!is_api_path("/api/v10"));
        assert!(!is_api_path("/"));
        assert!(!is_api_path("/ping"));
        assert!(!is_api_path("/api/v1/web/guest/default/a.json"));
    }
}
