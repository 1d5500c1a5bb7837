//! The listeners of a live `whiskd standalone` facing hostile or careless clients: slow
//! heads cut off on both listeners, `--no-http`, HTTPS with certificate files, the
//! containers' listener refused on every interface; and the background purge of activation
//! records (retention) on a live server.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{eventually, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a request head one byte every 200 ms; `true` when the server closed the
/// connection before the head was complete (it would take 10 s).
async fn slowloris_is_cut_off(port: u16) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(20)
    );
    for b in head.bytes() {
        if s.write_all(&[b]).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The head went through: closed only if the server answers nothing and hangs up.
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .is_ok();
    closed && buf.is_empty()
}

#[tokio::test]
async fn slow_heads_are_cut_off_on_both_listeners_while_others_are_served() {
    let server =
        Server::start_with(&["--header-read-timeout-secs", "1", "--stem-cells", "0"]).await;
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let (http_cut, https_cut, ()) = tokio::join!(
        slowloris_is_cut_off(server.http),
        slowloris_is_cut_off(server.https),
        async {
            for _ in 0..5 {
                let r = server
                    .client
                    .get(format!("{}/ping", server.base()))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let r = insecure
                    .get(format!("{}/ping", server.https_base()))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    );
    assert!(http_cut, "the HTTP listener kept a 10 s head open");
    assert!(https_cut, "the HTTPS listener kept a 10 s head open");
}

#[tokio::test]
async fn no_http_listens_on_https_only() {
    let server = Server::start_with(&["--no-http", "--stem-cells", "0"]).await;
    let err = TcpStream::connect(("127.0.0.1", server.http)).await;
    assert!(
        err.is_err(),
        "something listens on the HTTP port with --no-http"
    );
}

#[tokio::test]
async fn https_serves_the_certificate_files_given() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = Server::start_with(&[
        "--no-http",
        "--stem-cells",
        "0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .await;
    // Trusting only the test's certificate: the handshake verifies, so it is the one served.
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let r = client
        .get(format!("https://localhost:{}/ping", server.https))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // The generated self-signed pair was not used.
    assert!(!server.data.path().join("tls").exists());
}

#[tokio::test]
async fn the_background_purge_keeps_the_newest_records_per_namespace() {
    let server = Server::start_with(&[
        "--stem-cells",
        "0",
        "--activation-retention-count",
        "2",
        "--purge-interval-secs",
        "1",
    ])
    .await;
    let script = "#!/bin/sh\necho '{\"ok\":true}'";
    server
        .docker_action("kept", "whisk/dockerskeleton", Some(script), json!({}))
        .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, body) = server.invoke("kept", "blocking=true", json!({})).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["activationId"].as_str().unwrap().to_owned());
    }
    let count = || async {
        let r = server
            .req(reqwest::Method::GET, "activations?count=true")
            .send()
            .await
            .ok()?;
        r.json::<serde_json::Value>().await.ok()?["activations"].as_u64()
    };
    eventually("the purge leaves 2 records", || async {
        (count().await? == 2).then_some(())
    })
    .await;
    // The newest two are the ones kept.
    for id in &ids[3..] {
        let r = server
            .req(reqwest::Method::GET, &format!("activations/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The oldest is gone, from the store and from the controller's memory of recent
    // completions, which lets go of a record once it sees it stored: within a few of its
    // 20 ms rounds, far sooner than the 30 s it keeps a record the store never gets (the
    // bound here; not a speed assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = server
            .req(reqwest::Method::GET, &format!("activations/{}", ids[0]))
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(
            std::time::Instant::now() < deadline,
            "the purged record is still read from memory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_container_api_listener_is_refused_on_every_interface() {
    // `--container-api-addr` is for the action network's gateway; plain HTTP on 0.0.0.0
    // would expose the API to every network the host is on.
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_whiskd"))
        .args(["standalone", "--data-dir"])
        .arg(data.path())
        .args([
            "--http-addr",
            "127.0.0.1:0",
            "--https-addr",
            "127.0.0.1:0",
            "--container-api-addr",
            "0.0.0.0:3999",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("whiskd started with --container-api-addr 0.0.0.0:3999");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("every interface"), "{err}");
}
