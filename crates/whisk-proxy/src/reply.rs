//! What the proxy answers: a status and a JSON body (the shapes are `whisk_protocol`'s).

use serde_json::Value;

/// A reply to send: the status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    /// `status` with `{"error": message}` ([`whisk_protocol::error_body`]).
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: whisk_protocol::error_body(message),
        }
    }
}
