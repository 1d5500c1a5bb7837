//! The HTTP/1.1 side: accepts connections, routes `POST /init` and `POST /run` to the
//! [`Proxy`], and writes each reply as one JSON response.
//!
//! Two details matter for latency on kept-alive connections (DESIGN.md: the Flask proxy
//! stalls about 44 ms per response on delayed ACKs): TCP_NODELAY is set on every
//! connection, and hyper is told to flatten each response (headers and body) into a
//! single buffer, so it leaves in one write.
//!
//! With a token configured ([`ProxyConfig::token`]) a request without
//! `Authorization: Bearer <token>` is answered 401 (403 for a wrong token) before its body
//! is read, and it reaches neither the action nor the log (no sentinel): another container
//! or a local process that finds the port cannot `/init` or `/run` this one.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::config::ProxyConfig;
use crate::proxy::Proxy;
use crate::reply::Reply;
use whisk_protocol::{authorization, AUTH_SCHEME, PATH_INIT, PATH_RUN};

/// The largest request body accepted: OpenWhisk's 48 MB code limit, base64-encoded, with room.
pub const MAX_BODY_BYTES: usize = 128 * 1024 * 1024;

/// The first stdout line when the proxy was asked for port 0, so whoever started it learns
/// the port the kernel chose: `whisk-proxy listening on <ip>:<port>`.
pub const LISTENING_PREFIX: &str = "whisk-proxy listening on ";

/// Binds `config.listen` and serves until SIGTERM or SIGINT. Asked for port 0, it prints
/// the bound address first ([`LISTENING_PREFIX`]).
///
/// # Errors
///
/// Binding the listening socket failed.
pub async fn run(config: ProxyConfig) -> io::Result<()> {
    let listener = TcpListener::bind(config.listen).await?;
    if config.listen.port() == 0 {
        println!("{LISTENING_PREFIX}{}", listener.local_addr()?);
    }
    let proxy = Proxy::from_config(&config);
    let access = Access::new(config.token.as_deref());
    tokio::select! {
        result = serve(listener, proxy, access) => result,
        () = shutdown_signal() => Ok(()),
    }
}

/// Who may call `/init` and `/run`: holders of the container's token, or anyone.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The whole expected header value, `Bearer <token>`.
    expected: Option<std::sync::Arc<[u8]>>,
}

impl Access {
    /// Requests must carry `token` (`None` or empty: anyone may call).
    pub fn new(token: Option<&str>) -> Self {
        let expected = token
            .filter(|t| !t.is_empty())
            .map(|t| authorization(t).into_bytes().into());
        Self { expected }
    }

    /// `None` when `headers` may pass, else the refusal.
    fn check(&self, headers: &HeaderMap) -> Option<Reply> {
        let expected = self.expected.as_deref()?;
        let Some(given) = headers.get(AUTHORIZATION) else {
            return Some(Reply::error(401, "The request is not authorized."));
        };
        if constant_time_eq(given.as_bytes(), expected) {
            None
        } else {
            Some(Reply::error(403, "The request is not authorized."))
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing about the
/// secret (only its length).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves connections from `listener` forever, one task per connection, to callers that
/// `access` admits.
///
/// # Errors
///
/// None today: failed accepts (such as running out of file descriptors) are retried.
pub async fn serve(listener: TcpListener, proxy: Proxy, access: Access) -> io::Result<()> {
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
        let access = access.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                let access = access.clone();
                async move { Ok::<_, Infallible>(route(&proxy, &access, request).await) }
            });
            // A connection error concerns that client only.
            let _ = http1::Builder::new()
                .writev(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(
    proxy: &Proxy,
    access: &Access,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Some(refusal) = access.check(request.headers()) {
        let mut response = respond(refusal);
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(AUTH_SCHEME));
        return response;
    }
    let init = match request.uri().path() {
        PATH_INIT => true,
        PATH_RUN => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn access_demands_the_token_when_there_is_one() {
        let access = Access::new(Some("s3cret"));
        assert_eq!(access.check(&headers(Some("Bearer s3cret"))), None);
        assert_eq!(access.check(&headers(None)).map(|r| r.status), Some(401));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"] {
            assert_eq!(
                access.check(&headers(Some(wrong))).map(|r| r.status),
                Some(403),
                "{wrong}"
            );
        }
        for open in [Access::new(None), Access::new(Some(""))] {
            assert_eq!(open.check(&headers(None)), None);
        }
    }
}
