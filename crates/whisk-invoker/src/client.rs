//! The HTTP client for `/init` and `/run`: one keep-alive connection pool shared by all
//! containers (keyed by their loopback address), TCP_NODELAY, a bounded body read, and the
//! container's token on every request ([`Endpoint`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::outcome::ContainerReply;

/// Why no (complete) reply came back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// The request could not be sent or no response head came back: refused, reset, or
    /// closed before replying (docker-proxy accepts connections before the container listens).
    #[error("no response: {0}")]
    NoResponse(#[from] hyper_util::client::legacy::Error),
    /// The response body broke off.
    #[error("response body failed: {0}")]
    Body(#[from] hyper::Error),
}

/// `/init` or `/run` of one container: its address and the token its proxy demands.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub uri: Uri,
    /// `Bearer <token>`, marked sensitive so it is never logged.
    auth: HeaderValue,
}

impl Endpoint {
    /// `path` (`/init`, `/run`) at `addr`, called with `token`.
    pub(crate) fn new(addr: std::net::SocketAddr, path: &str, token: &str) -> Self {
        let uri = format!("http://{addr}{path}")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1/"));
        // A token with bytes a header cannot carry is sent empty, and refused.
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        auth.set_sensitive(true);
        Self { uri, auth }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// A cheap-to-clone client for action containers.
#[derive(Debug, Clone)]
pub(crate) struct ContainerClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ContainerClient {
    /// `idle` is how long an unused connection is kept.
    pub(crate) fn new(idle: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .build(connector);
        Self { client }
    }

    /// POSTs a JSON body with the endpoint's token and reads at most `max` bytes of the reply.
    pub(crate) async fn post(
        &self,
        endpoint: &Endpoint,
        body: Bytes,
        max: usize,
    ) -> Result<ContainerReply, ExchangeError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = endpoint.uri.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, endpoint.auth.clone());
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut body = response.into_body();
        if declared.is_some_and(|n| n <= max) {
            let body = body.collect().await?.to_bytes();
            return Ok(ContainerReply::new(status, body));
        }
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            if buf.len() + data.len() > max {
                let seen = buf.len() + data.len();
                buf.extend_from_slice(&data[..max - buf.len()]);
                // The rest is not read; the connection is dropped with the body.
                return Ok(ContainerReply {
                    status,
                    body: buf.freeze(),
                    truncated_from: Some(declared.unwrap_or(seen).max(seen)),
                });
            }
            buf.extend_from_slice(&data);
        }
        Ok(ContainerReply::new(status, buf.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::Response;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback server answering every request with `reply(request)`; counts connections.
    async fn serve(
        reply: fn(Option<HeaderValue>, Bytes) -> Response<Full<Bytes>>,
    ) -> (Endpoint, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| async move {
                        let auth = req.headers().get(AUTHORIZATION).cloned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        Ok::<_, Infallible>(reply(auth, body))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (Endpoint::new(addr, "/run", "t0ken"), connections)
    }

    #[tokio::test]
    async fn echoes_and_keeps_the_connection() {
        let (endpoint, connections) = serve(|_, b| Response::new(Full::new(b))).await;
        let client = ContainerClient::new(Duration::from_secs(60));
        for i in 0..3 {
            let body = Bytes::from(format!("{{\"i\":{i}}}"));
            let reply = client.post(&endpoint, body.clone(), 1024).await.unwrap();
            assert_eq!(reply, ContainerReply::new(200, body));
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cuts_a_long_body_at_the_limit() {
        let (endpoint, _) =
            serve(|_, _| Response::new(Full::new(Bytes::from(vec![b'x'; 5000])))).await;
        let client = ContainerClient::new(Duration::from_secs(60));
        let reply = client.post(&endpoint, Bytes::new(), 1000).await.unwrap();
        assert_eq!(reply.body.len(), 1000);
        assert_eq!(reply.truncated_from, Some(5000));
    }

    #[tokio::test]
    async fn sends_the_token() {
        let (endpoint, _) = serve(|auth, _| {
            let seen = auth
                .map(|a| a.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Response::new(Full::new(Bytes::from(seen)))
        })
        .await;
        let client = ContainerClient::new(Duration::from_secs(60));
        let reply = client.post(&endpoint, Bytes::new(), 100).await.unwrap();
        assert_eq!(reply.body, Bytes::from("Bearer t0ken"));
        assert!(!format!("{endpoint:?}").contains("t0ken"));
    }

    #[tokio::test]
    async fn refused_connection_is_no_response() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::new(listener.local_addr().unwrap(), "/init", "t");
        drop(listener);
        let client = ContainerClient::new(Duration::from_secs(60));
        let err = client.post(&endpoint, Bytes::new(), 10).await.unwrap_err();
        assert!(matches!(err, ExchangeError::NoResponse(_)), "{err:?}");
    }
}
