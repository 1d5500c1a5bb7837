//! The router served on a real loopback socket, spoken to in raw HTTP/1.1, so the paths
//! clients really send (unencoded `pkg/action`, `%2F`, a trailing `?`) go through hyper's
//! parsing too.

mod support;

use serde_json::{json, Value};
use support::{basic, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sends one request with `Connection: close`; returns the status, head and body.
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    auth: &str,
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn paths_as_clients_send_them() {
    let s = Stack::start().await;
    s.add_package("pkg", json!([]), json!({})).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = s.router.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let auth = basic(&s.guest);
    let action = r#"{"exec":{"kind":"blackbox","image":"whisk/test"}}"#;

    let (status, _, body) = raw(
        addr,
        "PUT",
        "/api/v1/namespaces/_/actions/pkg/hello?overwrite=false",
        &auth,
        action,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for target in [
        "/api/v1/namespaces/_/actions/pkg/hello?",
        "/api/v1/namespaces/_/actions/pkg%2Fhello?",
        "/api/v1/namespaces/guest/actions/pkg%2Fhello",
    ] {
        let (status, head, body) = raw(addr, "GET", target, &auth, "").await;
        assert_eq!(status, 200, "{target}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["namespace"], "guest/pkg", "{target}");
        assert!(
            head.to_ascii_lowercase().contains("x-request-id: "),
            "{head}"
        );
        assert!(head.contains("access-control-allow-origin: *"), "{head}");
    }
    let (status, head, body) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/_/actions/pkg%2Fhello?blocking=true&result=true",
        &auth,
        r#"{"name":"World"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("x-openwhisk-activation-id: "), "{head}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["echo"], json!({"name": "World"}));

    let (status, _, body) = raw(
        addr,
        "GET",
        "/api/v1/namespaces/_/actions?limit=1&skip=0",
        "Basic eA==",
        "",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = raw(addr, "HEAD", "/ping", &auth, "").await;
    assert_eq!((status, body.as_str()), (200, ""));
    server.abort();
}
