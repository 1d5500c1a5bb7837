//! `ApiError`: every way a request can fail, mapped to a status and OpenWhisk's text in one
//! place. The body is `{"error": text, "code": tid}`; the transaction layer fills in `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use whisk_bus::BusError;
use whisk_store::StoreError;
use whisk_types::ids::ActivationIdError;
use whisk_types::NameError;

/// `WWW-Authenticate` value sent with every 401.
pub const AUTH_CHALLENGE: &str = "Basic realm=\"OpenWhisk secure realm\"";

/// The error text of a response, left in its extensions for the transaction layer, which
/// renders the final body with the transaction id.
#[derive(Debug, Clone)]
pub(crate) struct ErrorText(pub String);

/// Marks a response the transaction layer must leave as it is: a web action's own
/// response, whatever its status.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassThrough;

/// A failed request. Texts clients see are OpenWhisk's, word for word.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The resource requires authentication, which was not supplied with the request")]
    AuthMissing,
    #[error("The supplied authentication is invalid")]
    AuthInvalid,
    /// A web action's `require-whisk-auth` was not met (the status's reason phrase).
    #[error("Unauthorized")]
    WebUnauthorized,
    /// The caller may not touch this resource (`ns` or `ns/entity`).
    #[error("The supplied authentication is not authorized to access '{0}'.")]
    Forbidden(String),
    /// The namespace may not have actions of this kind (its `allowedKinds`).
    #[error("The supplied authentication is not authorized to access actions of kind '{0}'.")]
    KindNotAllowed(String),
    /// A namespace already holds the most entities of a collection it may (403).
    #[error("The namespace '{namespace}' has reached its limit of {max} {collection}; delete some before creating more.")]
    EntityCap {
        namespace: String,
        collection: &'static str,
        max: u64,
    },
    #[error("The requested resource does not exist.")]
    NotFound,
    /// A 404 with its own text.
    #[error("{0}")]
    NotFoundText(String),
    /// A 409 with its own text.
    #[error("{0}")]
    Conflict(String),
    /// No route matches the path.
    #[error("The requested resource could not be found.")]
    RouteNotFound,
    /// The path exists but not for this method; carries the methods it supports.
    #[error("HTTP method not allowed, supported methods: {}", .0.join(", "))]
    MethodNotAllowed(&'static [&'static str]),
    /// A 400 whose text is complete as given.
    #[error("{0}")]
    BadRequest(String),
    /// A body that cannot be parsed or does not match the schema.
    #[error("The request content was malformed:\n{0}")]
    Malformed(String),
    /// A query parameter that cannot be parsed.
    #[error("The query parameter '{name}' was malformed:\n{message}")]
    MalformedQuery { name: &'static str, message: String },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    ActivationId(#[from] ActivationIdError),
    /// `Request`, `exec`, `parameters` or `annotations` over its size limit.
    #[error("{field} larger than allowed: {size} > {max} bytes.")]
    TooLarge {
        field: &'static str,
        size: u64,
        max: u64,
    },
    /// A throttle refused the request (429, OpenWhisk's `tooManyRequests` texts).
    #[error("{0}")]
    TooManyRequests(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus refused the invocation (the load balancer failure of OpenWhisk).
    #[error("bus failed: {0}")]
    Bus(#[from] BusError),
    /// No invoker is configured to take invocations, or none is healthy.
    #[error("no invoker available")]
    NoInvoker,
    /// The controller is draining (stopping): it takes no new activations.
    #[error("the controller is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The one place errors become statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::AuthMissing | ApiError::AuthInvalid | ApiError::WebUnauthorized => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) | ApiError::KindNotAllowed(_) | ApiError::EntityCap { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound | ApiError::NotFoundText(_) | ApiError::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_)
            | ApiError::Malformed(_)
            | ApiError::MalformedQuery { .. }
            | ApiError::Name(_)
            | ApiError::ActivationId(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(e) => match e {
                StoreError::AlreadyExists | StoreError::Conflict | StoreError::WrongCollection => {
                    StatusCode::CONFLICT
                }
                StoreError::Corrupt(_) | StoreError::Backend(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            ApiError::Bus(_) | ApiError::NoInvoker | ApiError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The text a client sees: the message for 4xx, the reason phrase for 5xx.
    pub fn client_text(&self) -> String {
        let status = self.status();
        if status.is_server_error() {
            status.canonical_reason().unwrap_or("Error").to_owned()
        } else {
            self.to_string()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "Request failed.");
        }
        let text = self.client_text();
        let mut resp = (status, Json(json!({ "error": text }))).into_response();
        match &self {
            ApiError::AuthMissing | ApiError::AuthInvalid => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(AUTH_CHALLENGE),
                );
            }
            ApiError::MethodNotAllowed(methods) => {
                if let Ok(v) = HeaderValue::from_str(&methods.join(",")) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
            }
            _ => {}
        }
        if matches!(
            &self,
            ApiError::Store(StoreError::Corrupt(_) | StoreError::Backend(_))
        ) {
            resp.extensions_mut().insert(StoreFailure);
        }
        resp.extensions_mut().insert(ErrorText(text));
        resp
    }
}

/// Marks a response that a failed store call caused, so the transaction layer counts it
/// in `whisk_store_errors_total`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreFailure;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_statuses() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::NotFound,
                404,
                "The requested resource does not exist.",
            ),
            (
                ApiError::TooLarge {
                    field: "Request",
                    size: 2_000_000,
                    max: 1_048_576,
                },
                413,
                "Request larger than allowed: 2000000 > 1048576 bytes.",
            ),
            (
                ApiError::Store(StoreError::AlreadyExists),
                409,
                "resource already exists",
            ),
            (
                ApiError::Store(StoreError::Backend("disk on fire".into())),
                500,
                "Internal Server Error",
            ),
            (
                ApiError::Malformed("x".into()),
                400,
                "The request content was malformed:\nx",
            ),
            (
                ApiError::MethodNotAllowed(&["GET", "PUT"]),
                405,
                "HTTP method not allowed, supported methods: GET, PUT",
            ),
            (ApiError::NoInvoker, 503, "Service Unavailable"),
            (ApiError::ShuttingDown, 503, "Service Unavailable"),
            (
                ApiError::TooManyRequests(
                    "Too many requests in the last minute (count: 2, allowed: 1).".into(),
                ),
                429,
                "Too many requests in the last minute (count: 2, allowed: 1).",
            ),
            (
                ApiError::KindNotAllowed("python:3.11".into()),
                403,
                "The supplied authentication is not authorized to access actions of kind 'python:3.11'.",
            ),
        ];
        for (e, status, text) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.client_text(), text, "{e:?}");
        }
    }
}
