//! The HTTP/1.1 side: accepts connections, routes `POST /init` and `POST /run` to the
//! [`Proxy`], and writes each reply as one JSON response.
//!
//! Two details matter for latency on kept-alive connections (DESIGN.md: the Flask proxy
//! stalls about 44 ms per response on delayed ACKs): TCP_NODELAY is set on every
//! connection, and hyper is told to flatten each response (headers and body) into a
//! single buffer, so it leaves in one write.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::config::ProxyConfig;
use crate::protocol::Reply;
use crate::proxy::Proxy;

/// The largest request body accepted: OpenWhisk's 48 MB code limit, base64-encoded, with room.
pub const MAX_BODY_BYTES: usize = 128 * 1024 * 1024;

/// Binds `config.listen` and serves until SIGTERM or SIGINT.
///
/// # Errors
///
/// Binding the listening socket failed.
pub async fn run(config: ProxyConfig) -> io::Result<()> {
    let listener = TcpListener::bind(config.listen).await?;
    let proxy = Proxy::from_config(&config);
    tokio::select! {
        result = serve(listener, proxy) => result,
        () = shutdown_signal() => Ok(()),
    }
}

/// Serves connections from `listener` forever, one task per connection.
///
/// # Errors
///
/// None today: failed accepts (such as running out of file descriptors) are retried.
pub async fn serve(listener: TcpListener, proxy: Proxy) -> io::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                eprintln!("whisk-proxy: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Without it a response can wait for the peer's delayed ACK.
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(route(&proxy, request).await) }
            });
            // A connection error concerns that client only.
            let _ = http1::Builder::new()
                .writev(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(proxy: &Proxy, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let init = match request.uri().path() {
        "/init" => true,
        "/run" => false,
        _ => return respond(Reply::error(404, "Not found.")),
    };
    if request.method() != Method::POST {
        let mut response = respond(Reply::error(405, "Use POST."));
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let reply = if err.is::<LengthLimitError>() {
                Reply::error(413, "The request body is too large.")
            } else {
                Reply::error(400, format!("Cannot read the request body: {err}"))
            };
            return respond(proxy.reject(reply).await);
        }
    };
    let reply = if init {
        proxy.init(body).await
    } else {
        proxy.run(body).await
    };
    respond(reply)
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let mut body = reply.body.to_string().into_bytes();
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Completes on SIGTERM or SIGINT; never, if they cannot be watched.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
