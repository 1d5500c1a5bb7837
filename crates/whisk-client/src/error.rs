//! The client's error type: what the server said (status, OpenWhisk's `error` text and
//! `code`), or why it could not be asked (no host, no credentials, unreachable, TLS).

use std::error::Error as StdError;

use reqwest::Url;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status and OpenWhisk's error body
    /// `{"error": "...", "code": "<transaction id>"}`.
    #[error("{}", api_message(error, code.as_deref()))]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's `error` text.
        error: String,
        /// The server's `code`: the transaction id of the request.
        code: Option<String>,
    },
    /// The server answered with an error status and a body that is not the error shape.
    #[error("The connection failed, or timed out. (HTTP status code {status})")]
    Status {
        /// HTTP status.
        status: u16,
        /// The body as text (may be empty).
        body: String,
    },
    /// No API host is configured.
    #[error("An API host must be provided.")]
    NoApiHost,
    /// The API host does not form a URL.
    #[error("The API host '{host}' is invalid: {reason}")]
    InvalidApiHost {
        /// The configured value.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The call needs credentials and none are configured.
    #[error("Authorization key is not configured (--auth is required)")]
    NoAuth,
    /// A name given by the caller cannot be resolved to a path.
    #[error("'{name}' is not a valid qualified name: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection could not be made (refused, no route, DNS, connect timeout).
    #[error("cannot connect to {host}: {reason}")]
    Unreachable {
        /// `scheme://host:port` that was tried.
        host: String,
        /// The innermost cause.
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server's TLS certificate did not verify (self-signed, wrong name, expired).
    #[error("the TLS certificate of {host} could not be verified: {reason}")]
    Certificate {
        /// `scheme://host:port` that was tried.
        host: String,
        /// The innermost cause.
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed for another reason (for example a plain HTTP port).
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls {
        /// `scheme://host:port` that was tried.
        host: String,
        /// The innermost cause.
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The request did not complete within the configured timeout.
    #[error("the request to {host} timed out")]
    Timeout {
        /// `scheme://host:port` that was tried.
        host: String,
        #[source]
        source: reqwest::Error,
    },
    /// Any other failure while sending the request or reading the response.
    #[error("the request to {host} failed: {reason}")]
    Transport {
        /// `scheme://host:port` that was tried.
        host: String,
        /// The innermost cause.
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// A successful response whose body is not the JSON the call expects.
    #[error("unexpected response from {url}: {reason}")]
    Decode {
        /// The request URL.
        url: String,
        /// What did not parse.
        reason: String,
    },
    /// The client certificate or key file could not be used.
    #[error("cannot use the client certificate: {0}")]
    ClientCert(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

fn api_message(error: &str, code: Option<&str>) -> String {
    match code {
        Some(code) => format!("{error} (code {code})"),
        None => error.to_owned(),
    }
}

impl ClientError {
    /// The HTTP status of a server answer, `None` when there was no answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the server could not be reached or talked to at all.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Certificate { .. }
                | Self::Tls { .. }
                | Self::Timeout { .. }
                | Self::Transport { .. }
        )
    }

    /// Sorts a transport error from reqwest into the variants above.
    pub(crate) fn from_reqwest(err: reqwest::Error, url: &Url) -> Self {
        let host = origin(url);
        if let Some(tls) = find_rustls_error(&err) {
            let reason = tls.to_string();
            return if matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            ) {
                Self::Certificate {
                    host,
                    reason,
                    source: err,
                }
            } else {
                Self::Tls {
                    host,
                    reason,
                    source: err,
                }
            };
        }
        let reason = innermost(&err);
        if err.is_connect() {
            Self::Unreachable {
                host,
                reason,
                source: err,
            }
        } else if err.is_timeout() {
            Self::Timeout { host, source: err }
        } else {
            Self::Transport {
                host,
                reason,
                source: err,
            }
        }
    }
}

/// `scheme://host[:port]` of a URL, for messages.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Looks through the cause chain for a rustls error.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = next_cause(e);
    }
    None
}

/// The next error in the chain. TLS errors travel inside (nested) `io::Error`s, whose
/// `source()` skips the wrapped error, so those are opened with `get_ref`.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => e.source(),
    }
}

/// The message of the deepest cause, which is the one that says what happened
/// ("Connection refused (os error 111)").
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut last = err;
    while let Some(next) = next_cause(last) {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_display() {
        let e = ClientError::Api {
            status: 404,
            error: "The requested resource does not exist.".into(),
            code: Some("abc".into()),
        };
        assert_eq!(
            e.to_string(),
            "The requested resource does not exist. (code abc)"
        );
        assert_eq!(e.status(), Some(404));
        assert!(!e.is_network());
        let e = ClientError::Api {
            status: 400,
            error: "bad".into(),
            code: None,
        };
        assert_eq!(e.to_string(), "bad");
        let e = ClientError::Status {
            status: 503,
            body: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "The connection failed, or timed out. (HTTP status code 503)"
        );
    }
}
