//! What a [`Client`](crate::Client) needs to know: where the API is, who the caller is, and
//! how to talk TLS. Also the rule that turns an `APIHOST` value into the API base URL.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::error::ClientError;
use crate::observe::Observer;

/// The API version segment used when none is configured.
pub const DEFAULT_API_VERSION: &str = "v1";
/// The namespace alias meaning "the caller's namespace".
pub const DEFAULT_NAMESPACE: &str = "_";
/// The `User-Agent` sent when none is configured.
pub const DEFAULT_USER_AGENT: &str = concat!("rwhisk-client/", env!("CARGO_PKG_VERSION"));
/// Longest a request may take. A blocking invoke is held by the server for up to 60 s
/// (and its own request timeout is 65 s), so this stays above both.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(75);
/// Longest a TCP connect may take before the host counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client TLS certificate and its private key, both PEM files (`--cert`, `--key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// PEM certificate (chain) file.
    pub cert: PathBuf,
    /// PEM private key file.
    pub key: PathBuf,
}

/// Settings of one [`Client`](crate::Client). Build it with [`ClientConfig::new`] and set the
/// public fields; every field has a sensible default except the host.
#[derive(Clone)]
pub struct ClientConfig {
    /// `APIHOST` as the user gives it: `host[:port]` (meaning https), or a URL with
    /// `http://`/`https://`. `/api` is appended to form the base (reference §9.1).
    pub api_host: String,
    /// `uuid:key`, sent as HTTP Basic credentials. Calls that need it fail with
    /// [`ClientError::NoAuth`] when it is missing.
    pub auth: Option<String>,
    /// Skip TLS certificate verification (`wsk -i`), for the self-signed certificate a
    /// standalone server makes on first start.
    pub insecure: bool,
    /// The API version path segment, `v1`.
    pub api_version: String,
    /// Namespace used for names that do not carry one; `_` when unset.
    pub namespace: Option<String>,
    /// The `User-Agent` header value.
    pub user_agent: String,
    /// Whole-request timeout; `None` waits forever.
    pub request_timeout: Option<Duration>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Client certificate for mutual TLS, when the server asks for one.
    pub client_cert: Option<ClientCert>,
    /// Sees every request and response (the CLI's `--verbose`).
    pub observer: Option<Arc<dyn Observer>>,
}

impl ClientConfig {
    /// A configuration for `api_host` with no credentials and default settings.
    pub fn new(api_host: impl Into<String>) -> Self {
        Self {
            api_host: api_host.into(),
            auth: None,
            insecure: false,
            api_version: DEFAULT_API_VERSION.to_owned(),
            namespace: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            client_cert: None,
            observer: None,
        }
    }

    /// Sets the credentials (`uuid:key`).
    #[must_use]
    pub fn with_auth(mut self, auth: impl Into<String>) -> Self {
        self.auth = Some(auth.into());
        self
    }

    /// Turns TLS verification off (`true`) or on.
    #[must_use]
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// The namespace names resolve against: the configured one, else `_`.
    pub fn default_namespace(&self) -> &str {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns,
            _ => DEFAULT_NAMESPACE,
        }
    }

    /// The API base URL, `<scheme>://<host>[:port]/api`.
    ///
    /// # Errors
    /// [`ClientError::NoApiHost`] when the host is empty, [`ClientError::InvalidApiHost`]
    /// when it does not form a URL.
    pub fn base_url(&self) -> Result<Url, ClientError> {
        api_base_url(&self.api_host)
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("api_host", &self.api_host)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("insecure", &self.insecure)
            .field("api_version", &self.api_version)
            .field("namespace", &self.namespace)
            .field("user_agent", &self.user_agent)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("client_cert", &self.client_cert)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Turns an `APIHOST` value into the API base URL as OpenWhisk's CLI does: a trailing `/` is
/// trimmed, a value that does not start with `http` gets `https://`, then `/api` is appended.
/// `localhost:3233` gives `https://localhost:3233/api`; `http://127.0.0.1:3233` gives
/// `http://127.0.0.1:3233/api`.
///
/// # Errors
/// [`ClientError::NoApiHost`] for an empty value, [`ClientError::InvalidApiHost`] when the
/// result is not an http(s) URL with a host.
pub fn api_base_url(api_host: &str) -> Result<Url, ClientError> {
    let host = api_host.trim().trim_end_matches('/');
    if host.is_empty() {
        return Err(ClientError::NoApiHost);
    }
    let with_scheme = if host.starts_with("http") && host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let invalid = |reason: String| ClientError::InvalidApiHost {
        host: api_host.to_owned(),
        reason,
    };
    let url = Url::parse(&format!("{with_scheme}/api")).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("unsupported scheme '{}'", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment is not allowed".to_owned()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(host: &str, expected: &str) {
        assert_eq!(api_base_url(host).unwrap().as_str(), expected, "{host}");
    }

    #[test]
    fn base_urls() {
        check("localhost:3233", "https://localhost:3233/api");
        check("localhost", "https://localhost/api");
        check("127.0.0.1:3443/", "https://127.0.0.1:3443/api");
        check("http://127.0.0.1:3233", "http://127.0.0.1:3233/api");
        check("https://example.com", "https://example.com/api");
        check("http://h:1/base", "http://h:1/base/api");
        check(" 192.168.1.40:443 ", "https://192.168.1.40/api");
        check("httpbin.local", "https://httpbin.local/api");
    }

    #[test]
    fn bad_hosts() {
        assert!(matches!(api_base_url(""), Err(ClientError::NoApiHost)));
        assert!(matches!(api_base_url("  / "), Err(ClientError::NoApiHost)));
        assert!(matches!(
            api_base_url("http://:80"),
            Err(ClientError::InvalidApiHost { .. })
        ));
        assert!(matches!(
            api_base_url("local host:99999"),
            Err(ClientError::InvalidApiHost { .. })
        ));
    }

    #[test]
    fn default_namespace() {
        let mut c = ClientConfig::new("h");
        assert_eq!(c.default_namespace(), "_");
        c.namespace = Some(String::new());
        assert_eq!(c.default_namespace(), "_");
        c.namespace = Some("guest".into());
        assert_eq!(c.default_namespace(), "guest");
        assert!(!format!("{:?}", c.with_auth("secret:key")).contains("secret"));
    }
}
