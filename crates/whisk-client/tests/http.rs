//! The client against real HTTP(S) servers on 127.0.0.1: a small stand-in for the
//! controller that records what it receives and answers with canned OpenWhisk responses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use whisk_client::{
    ActivationListOptions, Client, ClientConfig, ClientError, InvokeOutcome, ListOptions,
};

const AUTH: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";
const ID: &str = "6ba2c0fd6f4348b8a2c0fd6f4388b864";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// Path and query exactly as sent (still percent-encoded).
    target: String,
    authorization: Option<String>,
    body: Option<Value>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    fn last(&self) -> Seen {
        self.0.lock().unwrap().last().cloned().expect("a request")
    }
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"error": msg, "code": "tid123"}))).into_response()
}

fn record(name: &str, status: &str, success: bool) -> Value {
    json!({"namespace": "guest", "name": name, "activationId": ID, "start": 1, "end": 3,
           "duration": 2, "subject": "guest", "version": "0.0.1", "publish": false,
           "response": {"result": {"msg": "hi"}, "status": status, "success": success},
           "logs": [], "annotations": []})
}

/// The stand-in controller: routes on the raw path so encoding can be checked.
async fn handle(
    rec: Recorder,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    rec.0.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        authorization: authorization.clone(),
        body: serde_json::from_slice(&body).ok(),
    });
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    if path == "/api/v1" {
        return axum::Json(json!({"build": "2024-06-01", "buildno": "42", "api_version": "1.0.0"}))
            .into_response();
    }
    if authorization.is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "The resource requires authentication, which was not supplied with the request",
        );
    }
    let with_id = |status: StatusCode, body: Value| {
        let mut r = (status, axum::Json(body)).into_response();
        r.headers_mut()
            .insert("x-openwhisk-activation-id", ID.parse().unwrap());
        r
    };
    match (method, path) {
        (Method::GET, "/api/v1/namespaces") => axum::Json(json!(["guest"])).into_response(),
        (Method::GET, "/api/v1/namespaces/_/actions")
        | (Method::GET, "/api/v1/namespaces/_/actions/pkg/") => {
            axum::Json(json!([{"namespace": "guest", "name": "a"}])).into_response()
        }
        (Method::PUT, p) if p.starts_with("/api/v1/namespaces/_/actions/") => {
            if p.ends_with("/exists") && query.contains("overwrite=false") {
                return error(StatusCode::CONFLICT, "resource already exists");
            }
            axum::Json(json!({"namespace": "guest", "name": "x", "version": "0.0.1"}))
                .into_response()
        }
        (Method::POST, "/api/v1/namespaces/_/actions/ok") => {
            if query.contains("blocking=true") {
                with_id(StatusCode::OK, json!({"msg": "hi"}))
            } else {
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"activationId": ID})),
                )
                    .into_response()
            }
        }
        (Method::POST, "/api/v1/namespaces/_/actions/slow") => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"activationId": ID})),
        )
            .into_response(),
        (Method::POST, "/api/v1/namespaces/_/actions/fail") => {
            if query.contains("result=true") {
                with_id(StatusCode::BAD_GATEWAY, json!({"error": "boom"}))
            } else {
                with_id(
                    StatusCode::BAD_GATEWAY,
                    record("fail", "application error", false),
                )
            }
        }
        (Method::POST, "/api/v1/namespaces/_/actions/broken") => {
            error(StatusCode::BAD_GATEWAY, "upstream trouble")
        }
        (Method::GET, p) if p == format!("/api/v1/namespaces/_/activations/{ID}") => {
            axum::Json(record("ok", "success", true)).into_response()
        }
        (Method::GET, p) if p == format!("/api/v1/namespaces/_/activations/{ID}/logs") => {
            axum::Json(json!({"logs": ["2024-01-01T00:00:00.000000000Z stdout: hi"]}))
                .into_response()
        }
        (Method::GET, p) if p == format!("/api/v1/namespaces/_/activations/{ID}/result") => {
            axum::Json(
                json!({"result": {"msg": "hi"}, "size": 12, "status": "success", "success": true}),
            )
            .into_response()
        }
        (Method::GET, "/api/v1/namespaces/_/activations")
        | (Method::GET, "/api/v1/namespaces/other/activations") => {
            axum::Json(json!([record("ok", "success", true)])).into_response()
        }
        (Method::GET, "/api/v1/namespaces/_/triggers/t") => {
            (StatusCode::OK, "not json").into_response()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist.",
        ),
    }
}

fn app(rec: Recorder) -> Router {
    Router::new()
        .fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| handle(rec.clone(), m, u, h, b))
}

async fn serve_http(rec: Recorder) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app(rec)).await.unwrap();
    });
    addr
}

async fn serve_https(rec: Recorder) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        ck.cert.pem().into_bytes(),
        ck.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum_server::from_tcp_rustls(listener, config)
            .serve(app(rec).into_make_service())
            .await
            .unwrap();
    });
    addr
}

fn client(addr: SocketAddr) -> Client {
    Client::new(ClientConfig::new(format!("http://{addr}")).with_auth(AUTH)).unwrap()
}

#[tokio::test]
async fn info_needs_no_auth_and_namespaces_send_basic_auth() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let anon = Client::new(ClientConfig::new(format!("http://{addr}"))).unwrap();
    let info = anon.info().await.unwrap();
    assert_eq!(info["build"], "2024-06-01");
    assert_eq!(rec.last().target, "/api/v1");
    assert!(rec.last().authorization.is_none());

    assert!(matches!(anon.namespaces().await, Err(ClientError::NoAuth)));

    let c = client(addr);
    assert_eq!(c.namespaces().await.unwrap(), vec!["guest"]);
    let auth = rec.last().authorization.unwrap();
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(AUTH);
    assert_eq!(auth, format!("Basic {expected}"));
}

#[tokio::test]
async fn action_crud_paths_and_errors() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let c = client(addr);

    let body = json!({"exec": {"kind": "blackbox", "image": "whisk/whisk_c"}});
    c.action_put("whisk_c", &body, false).await.unwrap();
    let seen = rec.last();
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(
        seen.target,
        "/api/v1/namespaces/_/actions/whisk_c?overwrite=false"
    );
    assert_eq!(seen.body, Some(body.clone()));

    // Package and name stay two segments; odd characters are encoded per segment.
    c.action_put("my pkg/a?b#c", &body, true).await.unwrap();
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/_/actions/my%20pkg/a%3Fb%23c?overwrite=true"
    );
    c.action_put("/guest/p/x", &body, true).await.unwrap_err();
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/guest/actions/p/x?overwrite=true"
    );

    let e = c.action_put("exists", &body, false).await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.to_string(), "resource already exists (code tid123)");

    let e = c.action_get("missing").await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Api { status: 404, error, code: Some(code) }
        if error == "The requested resource does not exist." && code == "tid123"),
        "{e:?}"
    );

    let e = c.action_get_with_code("missing", false).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/_/actions/missing?code=false"
    );
    let _ = c.action_get_with_code("p/a", true).await;
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/_/actions/p/a?code=true"
    );

    let e = c.action_delete("x/y/z/w").await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidName { .. }), "{e:?}");

    let list = c
        .action_list(&ListOptions {
            limit: Some(30),
            skip: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/_/actions?limit=30&skip=0"
    );
    c.action_list(&ListOptions {
        within: Some("pkg".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(rec.last().target, "/api/v1/namespaces/_/actions/pkg/");
}

#[tokio::test]
async fn invoke_outcomes() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let c = client(addr);

    let out = c
        .action_invoke("ok", &json!({"key": "value"}), false, false)
        .await
        .unwrap();
    assert_eq!(
        out,
        InvokeOutcome::Accepted {
            activation_id: ID.into()
        }
    );
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/_/actions/ok?blocking=false&result=false"
    );
    assert_eq!(rec.last().body, Some(json!({"key": "value"})));

    let out = c
        .action_invoke("ok", &Value::Null, true, true)
        .await
        .unwrap();
    assert_eq!(
        out,
        InvokeOutcome::Completed {
            activation_id: Some(ID.into()),
            body: json!({"msg": "hi"})
        }
    );
    assert_eq!(rec.last().body, Some(json!({})));
    assert_eq!(out.status(), 200);

    // A blocking call the server gave up waiting for.
    let out = c
        .action_invoke("slow", &json!({}), true, false)
        .await
        .unwrap();
    assert_eq!(out.activation_id(), Some(ID));
    assert_eq!(out.status(), 202);

    // 502 with the record, or with the bare error result: both are Failed, not errors.
    let out = c
        .action_invoke("fail", &json!({}), true, false)
        .await
        .unwrap();
    let InvokeOutcome::Failed {
        status,
        activation_id,
        body,
    } = out
    else {
        panic!()
    };
    assert_eq!((status, activation_id.as_deref()), (502, Some(ID)));
    assert_eq!(body["response"]["status"], "application error");
    let out = c
        .action_invoke("fail", &json!({}), true, true)
        .await
        .unwrap();
    assert!(
        matches!(out, InvokeOutcome::Failed { status: 502, ref body, .. } if body == &json!({"error": "boom"}))
    );

    // A 502 in OpenWhisk's error shape is an error.
    let e = c
        .action_invoke("broken", &json!({}), true, false)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(502));
    let e = c
        .action_invoke("missing", &json!({}), false, false)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[tokio::test]
async fn activations() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let c = client(addr);
    assert_eq!(c.activation_get(ID).await.unwrap()["activationId"], ID);
    assert_eq!(
        c.activation_logs(ID).await.unwrap(),
        vec!["2024-01-01T00:00:00.000000000Z stdout: hi"]
    );
    assert_eq!(
        c.activation_result(ID).await.unwrap()["result"],
        json!({"msg": "hi"})
    );

    let opts = ActivationListOptions {
        name: Some("p/a".into()),
        limit: Some(5),
        skip: Some(1),
        since: Some(10),
        upto: Some(20),
        docs: true,
    };
    assert_eq!(c.activation_list(&opts).await.unwrap().len(), 1);
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/_/activations?name=p%2Fa&limit=5&skip=1&since=10&upto=20&docs=true"
    );
    let opts = ActivationListOptions {
        name: Some("/other/a".into()),
        ..Default::default()
    };
    c.activation_list(&opts).await.unwrap();
    assert_eq!(
        rec.last().target,
        "/api/v1/namespaces/other/activations?name=a"
    );
}

#[tokio::test]
async fn dot_segments_are_never_sent() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let c = client(addr);
    for id in [".", ".."] {
        let e = c.activation_get(id).await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidName { .. }), "{e:?}");
    }
    let e = c.action_get("bad/../x").await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidName { .. }), "{e:?}");
    assert!(rec.0.lock().unwrap().is_empty(), "no request may leave");
}

#[tokio::test]
async fn generic_requests() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let c = client(addr);
    let r = c
        .request(Method::GET, "namespaces", &[], None)
        .await
        .unwrap();
    assert_eq!(r.json, Some(json!(["guest"])));
    let r = c
        .request(
            Method::GET,
            "namespaces/_/triggers/t",
            &[("x", "1 2")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.json, None);
    assert_eq!(r.body, b"not json");
    assert_eq!(rec.last().target, "/api/v1/namespaces/_/triggers/t?x=1+2");
    let e = c
        .request(Method::DELETE, "namespaces/_/rules/r", &[], None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[tokio::test]
async fn namespace_from_config() {
    let rec = Recorder::default();
    let addr = serve_http(rec.clone()).await;
    let mut cfg = ClientConfig::new(format!("http://{addr}")).with_auth(AUTH);
    cfg.namespace = Some("guest".into());
    let c = Client::new(cfg).unwrap();
    let _ = c.action_get("a").await;
    assert_eq!(rec.last().target, "/api/v1/namespaces/guest/actions/a");
    assert_eq!(c.resolve("a").unwrap().to_string(), "/guest/a");
}

#[tokio::test]
async fn unreachable_host() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c =
        Client::new(ClientConfig::new(format!("http://127.0.0.1:{port}")).with_auth(AUTH)).unwrap();
    let e = c.namespaces().await.unwrap_err();
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e:?}");
    assert!(e.is_network());
    assert!(
        e.to_string()
            .starts_with(&format!("cannot connect to http://127.0.0.1:{port}: ")),
        "{e}"
    );
}

#[tokio::test]
async fn self_signed_certificate_needs_insecure() {
    let rec = Recorder::default();
    let addr = serve_https(rec.clone()).await;
    // No scheme means https.
    let strict = Client::new(ClientConfig::new(addr.to_string()).with_auth(AUTH)).unwrap();
    assert_eq!(strict.base_url().as_str(), format!("https://{addr}/api"));
    let e = strict.namespaces().await.unwrap_err();
    assert!(matches!(e, ClientError::Certificate { .. }), "{e:?}");
    assert!(e.is_network());

    let insecure = Client::new(
        ClientConfig::new(addr.to_string())
            .with_auth(AUTH)
            .with_insecure(true),
    )
    .unwrap();
    assert_eq!(insecure.namespaces().await.unwrap(), vec!["guest"]);
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_error() {
    let addr = serve_http(Recorder::default()).await;
    let c = Client::new(ClientConfig::new(addr.to_string()).with_auth(AUTH)).unwrap();
    let e = c.namespaces().await.unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e:?}");
}

#[test]
fn missing_host_is_refused_up_front() {
    assert!(matches!(
        Client::new(ClientConfig::new("")),
        Err(ClientError::NoApiHost)
    ));
}
