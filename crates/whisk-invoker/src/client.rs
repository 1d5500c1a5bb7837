//! The HTTP client for `/init` and `/run`: one keep-alive connection pool shared by all
//! containers (keyed by their loopback address), TCP_NODELAY, a bounded body read, and the
//! container's token on every request ([`Endpoint`]).
//!
//! A container without a network (`--network none`) is reached through its network
//! namespace ([`NetnsConnector`]): its endpoint's host names the process whose namespace
//! to enter (`ns<pid>-<container id>`), and the socket to its loopback port 8080 is
//! opened by a short-lived thread that enters that namespace; the socket keeps working
//! from the invoker's own namespace and is pooled like any other.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

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
        let mut auth = HeaderValue::from_str(&whisk_protocol::authorization(token))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        auth.set_sensitive(true);
        Self { uri, auth }
    }

    /// `path` on `port` of the loopback of the network namespace of process `pid` (the
    /// init process of container `id`, which makes the pooled connections its own).
    pub(crate) fn in_netns(pid: u32, id: &str, port: u16, path: &str, token: &str) -> Self {
        let id: String = id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let mut endpoint = Self::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), path, token);
        endpoint.uri = format!("http://{NETNS_HOST_PREFIX}{pid}-{id}:{port}{path}")
            .parse()
            .unwrap_or(endpoint.uri);
        endpoint
    }
}

/// How an endpoint's host names a network namespace: `ns<pid>-<container id>`.
const NETNS_HOST_PREFIX: &str = "ns";
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The process id an endpoint host made by [`Endpoint::in_netns`] names.
fn netns_pid(uri: &Uri) -> Option<u32> {
    let host = uri.host()?.strip_prefix(NETNS_HOST_PREFIX)?;
    host.split_once('-')?.0.parse().ok()
}

/// Opens a TCP connection to `port` on the loopback of the network namespace of `pid`, on
/// a thread of its own that enters the namespace and then ends (so no other work ever
/// runs in it).
async fn connect_in_netns(pid: u32, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns-connect".into())
        .spawn(move || {
            let connected = (|| -> std::io::Result<TcpStream> {
                let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
                move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(LinkNameSpaceType::Network),
                )?;
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
                stream.set_nodelay(true)?;
                stream.set_nonblocking(true)?;
                Ok(stream)
            })();
            let _ = tx.send(connected);
        })?;
    let stream = rx
        .await
        .map_err(|_| std::io::Error::other("the connecting thread ended"))??;
    tokio::net::TcpStream::from_std(stream)
}

/// Whether this process may enter network namespaces (what [`Endpoint::in_netns`] needs:
/// `CAP_SYS_ADMIN`), tried by entering its own on a thread of its own.
///
/// # Errors
/// It may not (whiskd does not run as root), or the thread could not start.
pub(crate) fn check_netns_access() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("netns-check".into())
        .spawn(|| {
            let ns = std::fs::File::open("/proc/thread-self/ns/net")?;
            move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(LinkNameSpaceType::Network),
            )
            .map_err(std::io::Error::from)
        })?
        .join()
        .map_err(|_| std::io::Error::other("the checking thread panicked"))?
}

/// Connects as [`HttpConnector`] does, or inside a network namespace for endpoints made
/// by [`Endpoint::in_netns`].
#[derive(Debug, Clone)]
pub(crate) struct NetnsConnector {
    http: HttpConnector,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for NetnsConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        match netns_pid(&uri) {
            Some(pid) => {
                let port = uri.port_u16().unwrap_or(80);
                Box::pin(async move {
                    let stream = connect_in_netns(pid, port).await?;
                    Ok(TokioIo::new(stream))
                })
            }
            None => {
                let connecting = self.http.call(uri);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
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
    client: Client<NetnsConnector, Full<Bytes>>,
}

impl ContainerClient {
    /// `idle` is how long an unused connection is kept.
    pub(crate) fn new(idle: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .build(NetnsConnector { http: connector });
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

    #[test]
    fn netns_endpoints_name_the_process() {
        let e = Endpoint::in_netns(4242, "0123456789abcdef", 8080, "/run", "t");
        assert_eq!(e.uri.to_string(), "http://ns4242-0123456789ab:8080/run");
        assert_eq!(netns_pid(&e.uri), Some(4242));
        let plain = Endpoint::new(SocketAddr::from(([127, 0, 0, 1], 9)), "/run", "t");
        assert_eq!(netns_pid(&plain.uri), None);
    }

    #[tokio::test]
    async fn connects_inside_a_network_namespace() {
        // Our own namespace, entered by pid: the path a container's takes.
        let (endpoint, _) = serve(|_, b| Response::new(Full::new(b))).await;
        let port = endpoint.uri.port_u16().unwrap();
        let inside = Endpoint::in_netns(std::process::id(), "self", port, "/run", "t0ken");
        let client = ContainerClient::new(Duration::from_secs(60));
        let reply = client.post(&inside, Bytes::from("{}"), 100).await.unwrap();
        assert_eq!(reply.body, Bytes::from("{}"));
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
