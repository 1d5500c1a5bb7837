//! Web actions over the router: no authentication, the action's own status, headers and
//! body, the `__ow_*` input, raw-http, require-whisk-auth, final and CORS.

mod support;

use axum::http::Method;
use serde_json::{json, Value};
use support::{basic, get, post, put, req, Stack};
use whisk_types::ActivationResponse;

const WEB: &str = "/api/v1/web/guest";

fn web(extra: Value) -> Value {
    let mut ann = vec![json!({"key": "web-export", "value": true})];
    if let Some(more) = extra.as_array() {
        ann.extend(more.iter().cloned());
    }
    json!({"annotations": ann})
}

/// The fake invoker answers `action` with its input under `input`, and as the JSON body
/// of an `.http` response.
fn echo(s: &Stack, action: &str) {
    s.behave(action, |input| {
        ActivationResponse::success(json!({"input": input, "body": {"input": input}}), None)
    });
}

#[tokio::test]
async fn an_unauthenticated_get_gets_the_actions_status_headers_and_html() {
    let s = Stack::start().await;
    s.behave("guest/page", |input| {
        ActivationResponse::success(
            json!({"statusCode": 418, "headers": {"X-Teapot": "yes", "Set-Cookie": ["a=1", "b=2"]},
                   "body": format!("<html><body>{}</body></html>", input["who"].as_str().unwrap_or("?"))}),
            None,
        )
    });
    s.create_action("page", web(json!([]))).await;
    let r = s
        .send(get(&format!("{WEB}/default/page?who=you")).no_auth())
        .await;
    assert_eq!(r.status, 418, "{}", r.text);
    assert_eq!(r.text, "<html><body>you</body></html>");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("x-teapot"), Some("yes"));
    assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let id = r.header("x-openwhisk-activation-id").unwrap().to_owned();
    // The activation belongs to the action's owner.
    let rec = s
        .check(
            get(&format!("/api/v1/namespaces/_/activations/{id}")),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(rec["namespace"], "guest");

    // Not exported, or missing: 404.
    s.create_action("hidden", json!({})).await;
    s.check(get(&format!("{WEB}/default/hidden")).no_auth(), 404, "")
        .await;
    s.check(get(&format!("{WEB}/default/nothing")).no_auth(), 404, "")
        .await;
    s.check(get("/api/v1/web/nobody/default/page").no_auth(), 404, "")
        .await;
}

#[tokio::test]
async fn input_fields_and_extensions() {
    let s = Stack::start().await;
    echo(&s, "guest/pkg/e");
    s.check(
        put(
            "/api/v1/namespaces/_/packages/pkg",
            json!({"parameters": [{"key": "fromPkg", "value": 1}]}),
        ),
        200,
        "",
    )
    .await;
    s.create_action("pkg/e", web(json!([]))).await;

    let r = s
        .send(
            post(&format!("{WEB}/pkg/e.http/extra/path?q=1"), json!({"b": 2}))
                .no_auth()
                .header("content-type", "application/json")
                .header("X-Thing", "t"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let input = &r.json()["input"];
    assert_eq!(input["__ow_method"], "post");
    assert_eq!(input["__ow_path"], "/extra/path");
    assert_eq!(input["__ow_headers"]["x-thing"], "t");
    assert_eq!(input["q"], "1");
    assert_eq!(input["b"], 2);
    assert_eq!(input["fromPkg"], 1);
    assert!(input.get("__ow_user").is_none());

    // With valid credentials the caller is known.
    let r = s.send(get(&format!("{WEB}/pkg/e.json"))).await;
    assert_eq!(r.json()["input"]["__ow_user"], "guest");
    // A text body becomes __ow_body; the reserved names may not be set.
    let r = s
        .send(
            req(Method::PUT, &format!("{WEB}/pkg/e.json"))
                .no_auth()
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await;
    assert_eq!(r.json()["input"]["__ow_body"], "hello");
    s.check(
        get(&format!("{WEB}/pkg/e.json?__ow_method=x")).no_auth(),
        400,
        "Request defines parameters that are not allowed (e.g., reserved properties).",
    )
    .await;

    // No projections (OpenWhisk 1.0): the path after the extension is the action's
    // `__ow_path`, and each extension renders the whole result. (These requests were
    // projections into the result before, answering 400 and 404.)
    s.behave("guest/t", |input| {
        let path = input["__ow_path"].as_str().unwrap_or("?").to_owned();
        ActivationResponse::success(
            json!({"text": format!("path={path}"), "html": "<i>x</i>", "n": 5, "path": path}),
            None,
        )
    });
    s.create_action("t", web(json!([]))).await;
    let r = s
        .send(get(&format!("{WEB}/default/t.text")).no_auth())
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "path="));
    let r = s
        .send(get(&format!("{WEB}/default/t.text/none")).no_auth())
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "path=/none"));
    let r = s
        .send(get(&format!("{WEB}/default/t.html/deep/html")).no_auth())
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "<i>x</i>"));
    let r = s
        .send(get(&format!("{WEB}/default/t.json/n")).no_auth())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"text": "path=/n", "html": "<i>x</i>", "n": 5, "path": "/n"})
    );
    let r = s
        .send(get(&format!("{WEB}/default/t.json/a%20b/c/")).no_auth())
        .await;
    assert_eq!(r.json()["path"], "/a%20b/c/");

    // An application error's value is the response; developer errors are 400.
    s.behave("guest/err", |_| {
        ActivationResponse::application_error(json!({"statusCode": 400, "body": "bad input"}), None)
    });
    s.create_action("err", web(json!([]))).await;
    let r = s.send(get(&format!("{WEB}/default/err")).no_auth()).await;
    assert_eq!((r.status, r.text.as_str()), (400, "bad input"));
    s.behave("guest/dev", |_| ActivationResponse::developer_error("boom"));
    s.create_action("dev", web(json!([]))).await;
    s.check(
        get(&format!("{WEB}/default/dev")).no_auth(),
        400,
        "There was an error processing your request.",
    )
    .await;

    // Binary bodies are base64 in the result.
    s.behave("guest/png", |_| {
        ActivationResponse::success(
            json!({"headers": {"content-type": "image/png"}, "body": "iVBORw=="}),
            None,
        )
    });
    s.create_action("png", web(json!([]))).await;
    let r = s.send(get(&format!("{WEB}/default/png")).no_auth()).await;
    assert_eq!(r.header("content-type"), Some("image/png"));
    // 0x89 'P' 'N' 'G', read back lossily as text by the harness.
    assert_eq!(r.text, "\u{fffd}PNG");
}

#[tokio::test]
async fn raw_http_auth_final_and_cors() {
    let s = Stack::start().await;
    echo(&s, "guest/raw");
    s.create_action("raw", web(json!([{"key": "raw-http", "value": true}])))
        .await;
    let r = s
        .send(
            post(
                &format!("{WEB}/default/raw.json?a=1&b=x%20y"),
                json!({"k": "v"}),
            )
            .no_auth()
            .header("content-type", "application/json"),
        )
        .await;
    let input = &r.json()["input"];
    assert_eq!(input["__ow_query"], "a=1&b=x%20y");
    assert_eq!(input["__ow_body"], "eyJrIjoidiJ9");
    assert!(input.get("k").is_none() && input.get("a").is_none());

    // require-whisk-auth: true needs credentials; a string needs the secret header.
    echo(&s, "guest/sec");
    s.create_action(
        "sec",
        web(json!([{"key": "require-whisk-auth", "value": true}])),
    )
    .await;
    s.check(get(&format!("{WEB}/default/sec.json")).no_auth(), 401, "")
        .await;
    s.check(
        get(&format!("{WEB}/default/sec.json")).auth("Basic bm9wZQ=="),
        401,
        "",
    )
    .await;
    s.check(get(&format!("{WEB}/default/sec.json")), 200, "")
        .await;
    echo(&s, "guest/secret");
    s.create_action(
        "secret",
        web(json!([{"key": "require-whisk-auth", "value": "s3cret"}])),
    )
    .await;
    s.check(
        get(&format!("{WEB}/default/secret.json")).no_auth(),
        401,
        "",
    )
    .await;
    s.check(
        get(&format!("{WEB}/default/secret.json"))
            .no_auth()
            .header("X-Require-Whisk-Auth", "s3cret"),
        200,
        "",
    )
    .await;

    // final: defined parameters cannot be set from the query.
    echo(&s, "guest/fin");
    s.create_action(
        "fin",
        json!({"annotations": [{"key": "web-export", "value": true}, {"key": "final", "value": true}],
               "parameters": [{"key": "fixed", "value": 1}]}),
    )
    .await;
    s.check(
        get(&format!("{WEB}/default/fin.json?fixed=2")).no_auth(),
        400,
        "Request defines parameters that are not allowed (e.g., reserved properties).",
    )
    .await;
    s.check(
        get(&format!("{WEB}/default/fin.json?other=2")).no_auth(),
        200,
        "\"fixed\":1",
    )
    .await;

    // OPTIONS answers CORS without running the action.
    let before = s.records("guest").await.len();
    let r = s
        .send(
            req(Method::OPTIONS, &format!("{WEB}/default/fin.json"))
                .no_auth()
                .header("Access-Control-Request-Headers", "X-Mine"),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    assert_eq!(r.header("access-control-allow-headers"), Some("X-Mine"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH")
    );
    assert_eq!(s.records("guest").await.len(), before);
    // With web-custom-options the action answers OPTIONS itself, without platform CORS.
    s.behave("guest/opt", |_| {
        ActivationResponse::success(
            json!({"headers": {"Access-Control-Allow-Origin": "example.com"}, "statusCode": 200}),
            None,
        )
    });
    s.create_action(
        "opt",
        web(json!([{"key": "web-custom-options", "value": true}])),
    )
    .await;
    let r = s
        .send(req(Method::OPTIONS, &format!("{WEB}/default/opt")).no_auth())
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("example.com"));
}

/// The `__ow_headers` of a web action's echo for request `r`.
async fn headers_seen(s: &Stack, r: support::Req) -> Value {
    let resp = s.send(r).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json()["input"]["__ow_headers"].clone()
}

#[tokio::test]
async fn credentials_that_authenticated_never_reach_the_action() {
    let s = Stack::start().await;
    let alice = s.add_subject("alice").await;
    echo(&s, "guest/e");
    s.create_action("e", web(json!([]))).await;
    let url = format!("{WEB}/default/e.json");

    // The guest's own key, and another namespace's key: whisk auth authenticated both, so
    // neither reaches the action (nor the bus message its input travels in).
    for key in [&s.guest, &alice] {
        let resp = s
            .send(get(&url).auth(&basic(key)).header("X-Thing", "t"))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        let input = &resp.json()["input"];
        assert!(
            input["__ow_headers"].get("authorization").is_none(),
            "{input}"
        );
        assert_eq!(input["__ow_headers"]["x-thing"], "t");
        assert!(input.get("__ow_user").is_some());
        assert!(!resp.text.contains(&key.secret), "{input}");
    }

    // An Authorization whisk auth did not take is the action's own: it passes as sent.
    let seen = headers_seen(&s, get(&url).auth("Bearer x")).await;
    assert_eq!(seen["authorization"], "Bearer x");
    let own_basic = "Basic dXNlcjpwYXNzd29yZA=="; // user:password
    let seen = headers_seen(&s, get(&url).auth(own_basic)).await;
    assert_eq!(seen["authorization"], own_basic);

    // require-whisk-auth: true authenticates with the whisk key: it is dropped.
    echo(&s, "guest/sec");
    s.create_action(
        "sec",
        web(json!([{"key": "require-whisk-auth", "value": true}])),
    )
    .await;
    let seen = headers_seen(&s, get(&format!("{WEB}/default/sec.json"))).await;
    assert!(seen.get("authorization").is_none(), "{seen}");

    // A require-whisk-auth secret authenticated the call: dropped; the action's own
    // Bearer token beside it passes.
    echo(&s, "guest/secret");
    s.create_action(
        "secret",
        web(json!([{"key": "require-whisk-auth", "value": "s3cret"}])),
    )
    .await;
    let seen = headers_seen(
        &s,
        get(&format!("{WEB}/default/secret.json"))
            .auth("Bearer mine")
            .header("X-Require-Whisk-Auth", "s3cret"),
    )
    .await;
    assert!(seen.get("x-require-whisk-auth").is_none(), "{seen}");
    assert_eq!(seen["authorization"], "Bearer mine");
}
