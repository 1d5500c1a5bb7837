//! Options and results of client calls that are more than a JSON document.

use reqwest::header::HeaderMap;
use serde_json::Value;

/// The header carrying the activation id on invoke responses.
pub const ACTIVATION_ID_HEADER: &str = "x-openwhisk-activation-id";
/// The header carrying the transaction id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Paging for entity lists (actions, later triggers, rules, packages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Namespace or package to list: `/ns`, `pkg`, `/ns/pkg`; `None` lists the default
    /// namespace.
    pub within: Option<String>,
    /// Page size; `None` sends no `limit` (the server's default is 30, `0` means 200).
    pub limit: Option<u32>,
    /// Entities to skip.
    pub skip: Option<u32>,
}

/// Filters for `GET .../activations` (reference §4.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationListOptions {
    /// Only activations of this action: `name`, `pkg/name`, or qualified `/ns/[pkg/]name`
    /// (then the list is read from that namespace).
    pub name: Option<String>,
    /// Page size (server default 30, `0` means 200).
    pub limit: Option<u32>,
    /// Records to skip.
    pub skip: Option<u32>,
    /// Only records that started at or after this epoch millisecond.
    pub since: Option<i64>,
    /// Only records that started at or before this epoch millisecond.
    pub upto: Option<i64>,
    /// Full records instead of summaries.
    pub docs: bool,
}

/// How an invoke ended, by HTTP status (reference §6.1).
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeOutcome {
    /// 200: a blocking call finished with success. `body` is the activation record, or only
    /// the result with `result=true` (an array result comes back bare either way).
    Completed {
        /// From `x-openwhisk-activation-id` or the record's `activationId`.
        activation_id: Option<String>,
        /// The response body.
        body: Value,
    },
    /// 202: a non-blocking call was accepted, or a blocking call outlasted the server's wait.
    Accepted {
        /// The id to fetch the record with later.
        activation_id: String,
    },
    /// 502 (application or developer error) or 500 (internal error) from a blocking call
    /// whose body is the record or the result, not OpenWhisk's error shape.
    Failed {
        /// 502 or 500.
        status: u16,
        /// From `x-openwhisk-activation-id` or the record's `activationId`.
        activation_id: Option<String>,
        /// The response body.
        body: Value,
    },
}

impl InvokeOutcome {
    /// The activation id, when the server gave one.
    pub fn activation_id(&self) -> Option<&str> {
        match self {
            Self::Completed { activation_id, .. } | Self::Failed { activation_id, .. } => {
                activation_id.as_deref()
            }
            Self::Accepted { activation_id } => Some(activation_id),
        }
    }

    /// The HTTP status this outcome came from.
    pub fn status(&self) -> u16 {
        match self {
            Self::Completed { .. } => 200,
            Self::Accepted { .. } => 202,
            Self::Failed { status, .. } => *status,
        }
    }
}

/// A successful answer to [`Client::request`](crate::Client::request).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON, `None` when it is empty or not JSON.
    pub json: Option<Value>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The transaction id the server gave this request (`X-Request-ID`).
    pub fn request_id(&self) -> Option<&str> {
        header_str(&self.headers, REQUEST_ID_HEADER)
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
