//! The REST client: one keep-alive connection pool per [`Client`], URL building with
//! per-segment encoding, and the mapping of responses to results and [`ClientError`]s.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::name::QualifiedName;
use crate::types::{
    header_str, ActivationListOptions, ApiResponse, InvokeOutcome, ListOptions,
    ACTIVATION_ID_HEADER,
};

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A client of one OpenWhisk-compatible API host. Cheap to clone: clones share the
/// connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    /// `<scheme>://<host>/api`.
    base: Url,
}

/// A response whose status has not been judged yet.
struct Raw {
    url: Url,
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Client {
    /// Builds a client and its connection pool.
    ///
    /// # Errors
    /// A missing or malformed API host, an unreadable client certificate, or a TLS setup
    /// failure.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let base = config.base_url()?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true);
        if let Some(timeout) = config.request_timeout {
            builder = builder.timeout(timeout);
        }
        if config.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(cc) = &config.client_cert {
            let read = |p: &std::path::Path| {
                std::fs::read(p)
                    .map_err(|e| ClientError::ClientCert(format!("{}: {e}", p.display())))
            };
            let mut pem = read(&cc.cert)?;
            pem.push(b'\n');
            pem.extend(read(&cc.key)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| ClientError::ClientCert(e.to_string()))?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(ClientError::Build)?;
        Ok(Self {
            inner: Arc::new(Inner { http, config, base }),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The API base URL, `<scheme>://<host>/api`.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Resolves a user-typed name against the default namespace.
    ///
    /// # Errors
    /// A malformed name.
    pub fn resolve(&self, name: &str) -> Result<QualifiedName, ClientError> {
        QualifiedName::parse_entity(name, self.inner.config.default_namespace())
    }

    // === API calls ===

    /// `GET /api/v1`: API info with `build` and `buildno`. Needs no credentials.
    ///
    /// # Errors
    /// Transport failures and error statuses.
    pub async fn info(&self) -> Result<Value, ClientError> {
        let url = self.url(&[])?;
        let raw = self.send(Method::GET, url, None, false).await?;
        json_body(ok(raw)?)
    }

    /// `GET /api/v1/namespaces`: the caller's namespaces.
    ///
    /// # Errors
    /// Transport failures, error statuses, or a body that is not a list.
    pub async fn namespaces(&self) -> Result<Vec<String>, ClientError> {
        let url = self.url(&["namespaces"])?;
        let raw = ok(self.send(Method::GET, url, None, true).await?)?;
        let url = raw.url.to_string();
        let list = json_body(raw)?;
        let items = list.as_array().ok_or_else(|| ClientError::Decode {
            url: url.clone(),
            reason: "expected a JSON array of namespaces".to_owned(),
        })?;
        // Current servers send names; older ones sent `{"name": ..}` objects.
        Ok(items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Object(m) => m.get("name").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .collect())
    }

    /// `PUT .../actions/NAME?overwrite=`: creates or updates an action; returns the stored
    /// action.
    ///
    /// # Errors
    /// A bad name, transport failures and error statuses (409 when it exists and
    /// `overwrite` is false).
    pub async fn action_put(
        &self,
        name: &str,
        body: &Value,
        overwrite: bool,
    ) -> Result<Value, ClientError> {
        let q = self.resolve(name)?;
        let mut url = self.entity_url(&q, "actions")?;
        url.query_pairs_mut()
            .append_pair("overwrite", bool_str(overwrite));
        json_body(ok(self.send(Method::PUT, url, Some(body), true).await?)?)
    }

    /// `GET .../actions/NAME`: the action with its code.
    ///
    /// # Errors
    /// A bad name, transport failures and error statuses (404 when missing).
    pub async fn action_get(&self, name: &str) -> Result<Value, ClientError> {
        let q = self.resolve(name)?;
        let url = self.entity_url(&q, "actions")?;
        json_body(ok(self.send(Method::GET, url, None, true).await?)?)
    }

    /// `GET .../actions/NAME?code=`: the action, with its code only when `code` is true
    /// (OpenWhisk's CLI asks for the code only to save it).
    ///
    /// # Errors
    /// A bad name, transport failures and error statuses (404 when missing).
    pub async fn action_get_with_code(&self, name: &str, code: bool) -> Result<Value, ClientError> {
        let q = self.resolve(name)?;
        let mut url = self.entity_url(&q, "actions")?;
        url.query_pairs_mut().append_pair("code", bool_str(code));
        json_body(ok(self.send(Method::GET, url, None, true).await?)?)
    }

    /// `DELETE .../actions/NAME`: returns the deleted action.
    ///
    /// # Errors
    /// A bad name, transport failures and error statuses (404 when missing).
    pub async fn action_delete(&self, name: &str) -> Result<Value, ClientError> {
        let q = self.resolve(name)?;
        let url = self.entity_url(&q, "actions")?;
        json_body(ok(self.send(Method::DELETE, url, None, true).await?)?)
    }

    /// `GET .../actions[/PKG/]?limit=&skip=`: action summaries, newest first.
    ///
    /// # Errors
    /// A bad namespace or package, transport failures, error statuses, a non-list body.
    pub async fn action_list(&self, opts: &ListOptions) -> Result<Vec<Value>, ClientError> {
        let default_ns = self.inner.config.default_namespace();
        let (ns, within) = match &opts.within {
            Some(w) => {
                let q = QualifiedName::parse(w, default_ns)?;
                let segs: Vec<String> =
                    q.entity_segments().into_iter().map(str::to_owned).collect();
                (q.namespace().to_owned(), segs)
            }
            None => (default_ns.to_owned(), Vec::new()),
        };
        let mut rest: Vec<&str> = within.iter().map(String::as_str).collect();
        if !rest.is_empty() {
            rest.push(""); // `actions/pkg/` lists a package
        }
        let mut url = self.ns_url(&ns, "actions", &rest)?;
        let mut query = Vec::new();
        if let Some(l) = opts.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(s) = opts.skip {
            query.push(("skip", s.to_string()));
        }
        set_query(&mut url, &query);
        json_list(ok(self.send(Method::GET, url, None, true).await?)?)
    }

    /// `POST .../actions/NAME?blocking=&result=`: invokes an action with `params` (a JSON
    /// object; `null` sends `{}`).
    ///
    /// # Errors
    /// A bad name, transport failures, and error statuses other than the 502/500 answers of
    /// a blocking call (those are [`InvokeOutcome::Failed`]).
    pub async fn action_invoke(
        &self,
        name: &str,
        params: &Value,
        blocking: bool,
        result: bool,
    ) -> Result<InvokeOutcome, ClientError> {
        let q = self.resolve(name)?;
        let mut url = self.entity_url(&q, "actions")?;
        url.query_pairs_mut()
            .append_pair("blocking", bool_str(blocking))
            .append_pair("result", bool_str(result));
        let empty = Value::Object(serde_json::Map::new());
        let body = if params.is_null() { &empty } else { params };
        let raw = self.send(Method::POST, url, Some(body), true).await?;
        invoke_outcome(raw)
    }

    /// `GET .../activations/ID`: the full record.
    ///
    /// # Errors
    /// Transport failures and error statuses (400 for a malformed id, 404 when missing).
    pub async fn activation_get(&self, id: &str) -> Result<Value, ClientError> {
        let url = self.ns_url(self.inner.config.default_namespace(), "activations", &[id])?;
        json_body(ok(self.send(Method::GET, url, None, true).await?)?)
    }

    /// `GET .../activations?...`: summaries (or full records with `docs`), newest first.
    ///
    /// # Errors
    /// A bad name filter, transport failures, error statuses, a non-list body.
    pub async fn activation_list(
        &self,
        opts: &ActivationListOptions,
    ) -> Result<Vec<Value>, ClientError> {
        let default_ns = self.inner.config.default_namespace();
        let (ns, name) = match &opts.name {
            Some(n) => {
                let q = QualifiedName::parse(n, default_ns)?;
                let name = q.entity_name();
                (q.namespace().to_owned(), (!name.is_empty()).then_some(name))
            }
            None => (default_ns.to_owned(), None),
        };
        let mut url = self.ns_url(&ns, "activations", &[])?;
        let mut query = Vec::new();
        if let Some(n) = name {
            query.push(("name", n));
        }
        if let Some(l) = opts.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(s) = opts.skip {
            query.push(("skip", s.to_string()));
        }
        if let Some(s) = opts.since {
            query.push(("since", s.to_string()));
        }
        if let Some(u) = opts.upto {
            query.push(("upto", u.to_string()));
        }
        if opts.docs {
            query.push(("docs", "true".to_owned()));
        }
        set_query(&mut url, &query);
        json_list(ok(self.send(Method::GET, url, None, true).await?)?)
    }

    /// `GET .../activations/ID/logs`: the formatted log lines.
    ///
    /// # Errors
    /// Transport failures, error statuses, a body without a `logs` list.
    pub async fn activation_logs(&self, id: &str) -> Result<Vec<String>, ClientError> {
        let url = self.ns_url(
            self.inner.config.default_namespace(),
            "activations",
            &[id, "logs"],
        )?;
        let raw = ok(self.send(Method::GET, url, None, true).await?)?;
        let url = raw.url.to_string();
        let body = json_body(raw)?;
        let logs =
            body.get("logs")
                .and_then(Value::as_array)
                .ok_or_else(|| ClientError::Decode {
                    url,
                    reason: "expected {\"logs\": [...]}".to_owned(),
                })?;
        Ok(logs
            .iter()
            .map(|l| match l {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect())
    }

    /// `GET .../activations/ID/result`: the `response` object
    /// (`{"result", "size", "status", "success"}`).
    ///
    /// # Errors
    /// Transport failures and error statuses.
    pub async fn activation_result(&self, id: &str) -> Result<Value, ClientError> {
        let url = self.ns_url(
            self.inner.config.default_namespace(),
            "activations",
            &[id, "result"],
        )?;
        json_body(ok(self.send(Method::GET, url, None, true).await?)?)
    }

    /// Any other call: `path` is relative to `<base>/<version>/` and is split on `/`; each
    /// piece is percent-encoded as one segment (a trailing `/` is kept). Sends credentials.
    /// For example `request(Method::PUT, "namespaces/_/triggers/t", &[("overwrite", "true")],
    /// Some(&body))`.
    ///
    /// # Errors
    /// Transport failures and non-2xx statuses.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<ApiResponse, ClientError> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut url = self.url(&segments)?;
        let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        set_query(&mut url, &query);
        let raw = ok(self.send(method, url, body, true).await?)?;
        let json = serde_json::from_slice(&raw.body).ok();
        Ok(ApiResponse {
            status: raw.status,
            headers: raw.headers,
            json,
            body: raw.body,
        })
    }

    // === URL building ===

    /// `<base>/<version>/<segments...>`, each segment percent-encoded. `.` and `..` are
    /// refused: URL parsing would resolve them and send the request elsewhere.
    fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(ClientError::InvalidName {
                name: (*bad).to_owned(),
                reason: "'.' and '..' cannot be used as a path segment".to_owned(),
            });
        }
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push(&self.inner.config.api_version);
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    /// `<base>/<version>/namespaces/<ns>/<collection>/<rest...>`.
    fn ns_url(&self, ns: &str, collection: &str, rest: &[&str]) -> Result<Url, ClientError> {
        let mut segments = vec!["namespaces", ns, collection];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    fn entity_url(&self, q: &QualifiedName, collection: &str) -> Result<Url, ClientError> {
        self.ns_url(q.namespace(), collection, &q.entity_segments())
    }

    // === transport ===

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        auth: bool,
    ) -> Result<Raw, ClientError> {
        let config = &self.inner.config;
        let mut builder = self.inner.http.request(method.clone(), url.clone());
        if auth {
            let key = config.auth.as_deref().filter(|a| !a.is_empty());
            let key = key.ok_or(ClientError::NoAuth)?;
            let (user, pass) = key.split_once(':').unwrap_or((key, ""));
            builder = builder.basic_auth(user, Some(pass));
        }
        let body_bytes =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|e| ClientError::Decode {
                    url: url.to_string(),
                    reason: format!("cannot encode the request body: {e}"),
                })?;
        if let Some(bytes) = &body_bytes {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes.clone());
        }
        let request = builder
            .build()
            .map_err(|e| ClientError::from_reqwest(e, &url))?;
        if let Some(obs) = &config.observer {
            obs.request(&method, &url, request.headers(), body_bytes.as_deref());
        }
        tracing::trace!(%method, %url, "Sending request.");
        let response = self
            .inner
            .http
            .execute(request)
            .await
            .map_err(|e| ClientError::from_reqwest(e, &url))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::from_reqwest(e, &url))?
            .to_vec();
        if let Some(obs) = &config.observer {
            obs.response(status, &headers, &body);
        }
        Ok(Raw {
            url,
            status: status.as_u16(),
            headers,
            body,
        })
    }
}

/// Appends query pairs; none leaves the URL without a `?`.
fn set_query(url: &mut Url, pairs: &[(&str, String)]) {
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// Passes 2xx responses, turns others into errors.
fn ok(raw: Raw) -> Result<Raw, ClientError> {
    if (200..300).contains(&raw.status) {
        Ok(raw)
    } else {
        Err(error_from(&raw))
    }
}

/// An error status: OpenWhisk's `{"error","code"}` body when present, else the bare status.
fn error_from(raw: &Raw) -> ClientError {
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&raw.body) {
        if let Some(err) = m.get("error") {
            let error = match err {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let code = m.get("code").and_then(|c| match c {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            return ClientError::Api {
                status: raw.status,
                error,
                code,
            };
        }
    }
    ClientError::Status {
        status: raw.status,
        body: String::from_utf8_lossy(&raw.body).into_owned(),
    }
}

fn json_body(raw: Raw) -> Result<Value, ClientError> {
    serde_json::from_slice(&raw.body).map_err(|e| ClientError::Decode {
        url: raw.url.to_string(),
        reason: format!("the body is not JSON: {e}"),
    })
}

fn json_list(raw: Raw) -> Result<Vec<Value>, ClientError> {
    let url = raw.url.to_string();
    match json_body(raw)? {
        Value::Array(items) => Ok(items),
        _ => Err(ClientError::Decode {
            url,
            reason: "expected a JSON array".to_owned(),
        }),
    }
}

/// Sorts an invoke response into [`InvokeOutcome`] (reference §6.1).
fn invoke_outcome(raw: Raw) -> Result<InvokeOutcome, ClientError> {
    let header_id = header_str(&raw.headers, ACTIVATION_ID_HEADER).map(str::to_owned);
    let body: Option<Value> = serde_json::from_slice(&raw.body).ok();
    let body_id = body
        .as_ref()
        .and_then(|b| b.get("activationId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match raw.status {
        200..=201 | 203..=299 => {
            let body = json_body(raw)?;
            Ok(InvokeOutcome::Completed {
                activation_id: header_id.or(body_id),
                body,
            })
        }
        202 => match body_id.or(header_id) {
            Some(activation_id) => Ok(InvokeOutcome::Accepted { activation_id }),
            None => Err(ClientError::Decode {
                url: raw.url.to_string(),
                reason: "202 without an activation id".to_owned(),
            }),
        },
        500 | 502 => match body {
            // OpenWhisk's error shape carries a `code`; an activation or a bare
            // `{"error": ...}` result does not.
            Some(b) if (b.is_object() && b.get("code").is_none()) || b.is_array() => {
                Ok(InvokeOutcome::Failed {
                    status: raw.status,
                    activation_id: header_id.or(body_id),
                    body: b,
                })
            }
            _ => Err(error_from(&raw)),
        },
        _ => Err(error_from(&raw)),
    }
}
