//! The API listeners, hardened against clients that hold connections open (slowloris):
//! a connection cap shared by every listener, a deadline on the TLS handshake and on each
//! request head (which also closes idle keep-alive connections), request bodies that must
//! keep arriving, responses that must keep being read ([`StallGuard`]), and a graceful
//! stop that lets requests in flight finish.
//!
//! Connections past the cap are not accepted until one closes: they wait in the kernel's
//! backlog, so a flood of idle sockets cannot use up the process's descriptors or memory,
//! and the deadlines free the slots that slow clients hold.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How patient the listeners are with clients.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Deadline for a TLS handshake and for a whole request head, counted from the moment
    /// the server waits for it, so an idle keep-alive connection also closes after it.
    pub header_read_timeout: Duration,
    /// Longest pause between two chunks of a request body (a stalled upload fails with
    /// 400), and longest time a response may wait for the client to read it (the
    /// connection is closed).
    pub body_timeout: Duration,
}

/// One listening socket and, for HTTPS, its TLS acceptor.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

/// A TLS acceptor for the PEM certificate chain and private key in these files, speaking
/// HTTP/1.1 only (what the server serves).
///
/// # Errors
/// A file cannot be read, holds no certificate or key, or they do not match.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the private key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting, asks every
/// open connection to finish its request in flight and close, and waits for them.
///
/// `connections` is the cap: a permit is taken before each accept and held until the
/// connection closes; listeners sharing the semaphore share the cap.
pub async fn serve(
    listener: Listener,
    app: Router,
    limits: ServeLimits,
    connections: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    // Requests that came over TLS say so, for the URLs the API gateway hands back.
    let app = match listener.tls {
        Some(_) => app.layer(axum::Extension(whisk_controller::Https)),
        None => app,
    };
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            r = listener.tcp.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, limits, stop, tls) = (
            app.clone(),
            limits.clone(),
            stop.clone(),
            listener.tls.clone(),
        );
        tracker.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, app, &limits, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => connection(tls, app, &limits, stop).await,
                        Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed."),
                        Err(_) => tracing::debug!("TLS handshake timed out."),
                    }
                }
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One HTTP/1.1 connection, under the head deadline, until it closes or the server stops.
async fn connection<I>(io: I, app: Router, limits: &ServeLimits, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let io = StallGuard::new(io, limits.body_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let done = tokio::select! {
        r = conn.as_mut() => Some(r),
        _ = stopped(&mut stop) => None,
    };
    let result = match done {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "Connection closed with an error.");
    }
}

/// A connection whose writes may not stall: when the client stops reading and a write
/// stays pending for longer than the limit, the write fails and the connection closes.
/// Reads are left alone (a request in flight legitimately reads nothing for long).
struct StallGuard<I> {
    io: I,
    limit: Duration,
    /// Running while a write is pending; cleared by every write that completes.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> StallGuard<I> {
    fn new(io: I, limit: Duration) -> Self {
        Self {
            io,
            limit,
            stalled: None,
        }
    }

    /// Turns a pending write into an error once it has been pending for the limit.
    fn check<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for StallGuard<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for StallGuard<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.check(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.check(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.check(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_shutdown(cx);
        self.check(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/ping", get(|| async { "pong" }))
            .route("/echo", post(|body: axum::body::Bytes| async move { body }))
            .route("/big", get(|| async { vec![b'x'; BIG] }))
    }

    struct Running {
        addr: SocketAddr,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(limits: ServeLimits, cap: usize, tls: Option<TlsAcceptor>) -> Running {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(serve(
            Listener { tcp, tls },
            app(),
            limits,
            Arc::new(Semaphore::new(cap)),
            rx,
        ));
        Running { addr, stop, task }
    }

    fn limits(secs: u64) -> ServeLimits {
        ServeLimits {
            header_read_timeout: Duration::from_secs(secs),
            body_timeout: Duration::from_secs(secs),
        }
    }

    /// A response far larger than the socket buffers.
    const BIG: usize = 64 * 1024 * 1024;

    /// Sends `request` on a fresh connection and returns everything the server answers
    /// before it closes (the request asks for `Connection: close`).
    async fn roundtrip(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    const PING: &str = "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    /// Reads until the peer closes; `true` when it did within `within`.
    async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 1024];
        tokio::time::timeout(within, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn a_slowloris_head_is_cut_off_while_others_are_served() {
        let server = start(limits(1), 64, None).await;
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        let head = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let writer = async {
            // One byte every 200 ms: the head never completes within the deadline.
            for b in head
                .iter()
                .chain(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter())
            {
                if slow.write_all(&[*b]).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        };
        let others = async {
            for _ in 0..5 {
                let answer = roundtrip(server.addr, PING).await;
                assert!(answer.ends_with("pong"), "{answer}");
            }
        };
        let (cut_off, ()) = tokio::join!(writer, others);
        assert!(cut_off, "the server kept a head that took 9 s to send");
        let _ = server.stop.send(true);
        server.task.await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_after_the_head_deadline() {
        let server = start(limits(1), 64, None).await;
        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        assert!(closed_within(&mut idle, Duration::from_secs(10)).await);
    }

    #[tokio::test]
    async fn a_stalled_body_fails_and_frees_the_connection() {
        let server = start(limits(1), 64, None).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("the server waits for a stalled body forever")
            .unwrap();
        let answer = String::from_utf8_lossy(&out);
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off() {
        let server = start(limits(1), 64, None).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // Read nothing for a while: the server's writes stall, then it gives up.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let read_all = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
        })
        .await;
        assert!(read_all.is_ok(), "the connection stayed open");
        assert!(got < BIG, "the whole response arrived after a 4 s stall");
        // The server still serves others.
        assert!(roundtrip(server.addr, PING).await.ends_with("pong"));
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_until_one_closes() {
        // A long deadline, so only the cap decides.
        let server = start(limits(60), 2, None).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            // A complete request on a kept-alive connection proves it was accepted.
            s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).contains("pong"));
            held.push(s);
        }
        let third = tokio::spawn(roundtrip(server.addr, PING));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !third.is_finished(),
            "a third connection was served past a cap of 2"
        );
        drop(held.pop());
        let answer = tokio::time::timeout(Duration::from_secs(10), third)
            .await
            .expect("the waiting connection was not served after a slot freed")
            .unwrap();
        assert!(answer.ends_with("pong"), "{answer}");
    }

    #[tokio::test]
    async fn stopping_waits_for_a_request_in_flight() {
        let server = start(limits(5), 8, None).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = server.stop.send(true);
        s.write_all(b"cd").await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert!(String::from_utf8_lossy(&out).ends_with("abcd"));
        server.task.await.unwrap();
    }

    #[tokio::test]
    async fn https_serves_the_given_certificate_and_cuts_off_a_silent_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let acceptor = tls_acceptor(&cert, &key).unwrap();
        let server = start(limits(1), 8, Some(acceptor)).await;

        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
            )
            .resolve("localhost", server.addr)
            .build()
            .unwrap();
        let body = client
            .get(format!("https://localhost:{}/ping", server.addr.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "pong");

        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        assert!(closed_within(&mut silent, Duration::from_secs(10)).await);

        assert!(
            tls_acceptor(&key, &key).is_err(),
            "a key file is no certificate"
        );
    }
}
