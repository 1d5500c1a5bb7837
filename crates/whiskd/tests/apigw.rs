//! The API gateway end to end: a live `whiskd standalone`, Node.js actions in real
//! containers, our `wsk api` commands and OpenWhisk's own JS client (the `openwhisk` npm
//! package, installed by scripts/setup-js-client.sh into target/js-client). Routes are
//! called over HTTP and HTTPS at the URLs the commands print.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::{wsk, Server};

/// `guest` in hex, the tenant segment of the guest's routes.
const GUEST: &str = "6775657374";

fn ok(r: (i32, String, String)) -> String {
    assert_eq!(r.0, 0, "wsk failed: {}{}", r.1, r.2);
    r.1
}

/// Runs `wsk` expecting a failure; returns stderr.
fn fails(r: (i32, String, String)) -> String {
    assert_ne!(r.0, 0, "wsk should have failed: {}", r.1);
    r.2
}

fn insecure() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

fn login(s: &Server, props: &Path, key: &str, ns: &str) {
    let host = format!("https://127.0.0.1:{}", s.https);
    ok(wsk(
        props,
        &[
            "-i",
            "property",
            "set",
            "--apihost",
            &host,
            "--auth",
            key,
            "--namespace",
            ns,
        ],
    ));
}

const BOOKS: &str = r#"function main(p) {
  return { statusCode: 200, headers: { 'X-Book': 'yes' },
           body: { isbn: p.isbn, id: p.id, q: p.q, n: p.n, method: p.__ow_method, path: p.__ow_path } };
}"#;

const PAGE: &str = r#"function main(p) {
  return { title: 'T', text: 'plain', body: '<svg xmlns="http://www.w3.org/2000/svg"/>' };
}"#;

#[tokio::test]
async fn wsk_api_create_call_list_get_delete_and_refuse_another_namespace() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("wskprops");
    login(&s, &props, &s.key, "guest");
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let books = file("books.js", BOOKS);
    let page = file("page.js", PAGE);
    ok(wsk(
        &props,
        &[
            "-i",
            "action",
            "create",
            "books",
            &books,
            "--kind",
            "nodejs:default",
            "--web",
            "true",
        ],
    ));
    ok(wsk(
        &props,
        &[
            "-i",
            "action",
            "create",
            "page",
            &page,
            "--kind",
            "nodejs:default",
            "--web",
            "true",
        ],
    ));
    ok(wsk(
        &props,
        &[
            "-i",
            "action",
            "create",
            "notweb",
            &page,
            "--kind",
            "nodejs:default",
        ],
    ));

    // Create from flags: each response type, a path parameter, a JSON-body verb.
    let https_api = format!("https://127.0.0.1:{}/api/{GUEST}", s.https);
    let out = ok(wsk(
        &props,
        &[
            "-i",
            "api",
            "create",
            "/shop",
            "/books/{isbn}",
            "get",
            "books",
            "--response-type",
            "http",
            "--apiname",
            "Shop",
        ],
    ));
    assert_eq!(
        out,
        format!("ok: created API /shop/books/{{isbn}} GET for action /guest/books\n{https_api}/shop/books/{{isbn}}\n")
    );
    ok(wsk(
        &props,
        &[
            "-i",
            "api",
            "create",
            "/shop",
            "/orders",
            "post",
            "books",
            "--response-type",
            "http",
        ],
    ));
    for (path, ty) in [("/info", "json"), ("/title", "text"), ("/logo", "svg")] {
        let out = ok(wsk(
            &props,
            &[
                "-i",
                "api",
                "create",
                "/shop",
                path,
                "get",
                "page",
                "--response-type",
                ty,
            ],
        ));
        assert!(out.ends_with(&format!("{https_api}/shop{path}\n")), "{out}");
    }
    // Create from a swagger file (as `wsk api get` prints one).
    let swagger = json!({
        "swagger": "2.0", "basePath": "/lib", "info": {"title": "Library", "version": "1.0.0"},
        "paths": {"/items/{id}": {"get": {
            "operationId": "getItemsId",
            "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}],
            "x-openwhisk": {"namespace": "guest", "package": "", "action": "books",
                            "url": "https://x/api/v1/web/guest/default/books.http"},
            "responses": {"default": {"description": "Default response"}}}}},
    });
    let swagger_file = file("lib.json", &swagger.to_string());
    let out = ok(wsk(
        &props,
        &["-i", "api", "create", "--config-file", &swagger_file],
    ));
    assert_eq!(
        out,
        format!("ok: created API /lib/items/{{id}} get for action /guest/books\n{https_api}/lib/items/{{id}}\n")
    );

    // Calls over HTTPS (the printed URLs) and HTTP.
    let http_api = format!("{}/api/{GUEST}", s.base());
    for (client, api) in [
        (insecure(), &https_api),
        (reqwest::Client::new(), &http_api),
    ] {
        let r = client
            .get(format!("{api}/shop/books/978-3?q=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-book"], "yes");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"isbn": "978-3", "q": "x", "method": "get", "path": "/books/978-3"})
        );
        let r = client
            .post(format!("{api}/shop/orders?q=y"))
            .json(&json!({"n": 3}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["n"], 3);
        assert_eq!(body["q"], "y");
        assert_eq!(body["method"], "post");
        let r: Value = client
            .get(format!("{api}/shop/info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["title"], "T");
        let r = client
            .get(format!("{api}/shop/title"))
            .send()
            .await
            .unwrap();
        // `.text` renders the result's `body` first, then its `text` (OpenWhisk's transcoder).
        assert_eq!(
            r.text().await.unwrap(),
            r#"<svg xmlns="http://www.w3.org/2000/svg"/>"#
        );
        let r = client.get(format!("{api}/shop/logo")).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        let r: Value = client
            .get(format!("{api}/lib/items/7"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["id"], "7");
        // Wrong verb, as OpenWhisk's gateway answers it.
        let r = client
            .delete(format!("{api}/shop/orders"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r: Value = r.json().await.unwrap();
        assert_eq!(
            r,
            json!({"status": 404, "message": "Error: Whoops. Verb not supported."})
        );
        // CORS preflight.
        let r = client
            .request(reqwest::Method::OPTIONS, format!("{api}/shop/orders"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
    }

    // List, with filters, sorted, full.
    let out = ok(wsk(&props, &["-i", "api", "list", "--name-sort"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ok: APIs");
    assert!(
        lines[1].starts_with("Action ")
            && lines[1].contains("Verb")
            && lines[1].contains("API Name")
            && lines[1].ends_with("URL"),
        "{out}"
    );
    assert_eq!(lines.len(), 2 + 6, "{out}");
    assert!(
        lines[2].starts_with("/guest/books")
            && lines[2].contains(" get ")
            && lines[2].contains("Library"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{https_api}/shop/books/{{isbn}}")),
        "{out}"
    );
    let out = ok(wsk(
        &props,
        &["-i", "api", "list", "/shop", "/orders", "post", "--full"],
    ));
    assert_eq!(
        out,
        format!("ok: APIs\nAction: /guest/books\n   API Name: Shop\n   Base path: /shop\n   Path: /orders\n   Verb: post\n   URL: {https_api}/shop/orders\n")
    );
    // Get: the swagger, by base path or API name, as JSON or YAML.
    let got: Value =
        serde_json::from_str(&ok(wsk(&props, &["-i", "api", "get", "/shop"]))).unwrap();
    assert_eq!(got["basePath"], "/shop");
    assert_eq!(got["info"]["title"], "Shop");
    assert_eq!(
        got["paths"]["/books/{isbn}"]["get"]["x-openwhisk"]["action"],
        "books"
    );
    let yaml = ok(wsk(
        &props,
        &["-i", "api", "get", "Library", "--format", "yaml"],
    ));
    assert!(
        yaml.contains("basePath: /lib\n") && yaml.contains("swagger: \"2.0\"\n"),
        "{yaml}"
    );
    let full: Value =
        serde_json::from_str(&ok(wsk(&props, &["-i", "api", "get", "/shop", "--full"]))).unwrap();
    assert_eq!(full["gwApiUrl"], format!("{https_api}/shop"));

    // Bad input, with OpenWhisk's texts.
    let err = fails(wsk(
        &props,
        &["-i", "api", "create", "/x", "/y", "get", "nope"],
    ));
    assert!(
        err.contains("Unable to get action '/guest/nope': The requested resource does not exist."),
        "{err}"
    );
    let err = fails(wsk(
        &props,
        &["-i", "api", "create", "/x", "/y", "get", "notweb"],
    ));
    assert!(err.contains("Action '/guest/notweb' is not a web action. Issue 'wsk action update \"/guest/notweb\" --web true' to convert the action to a web action."), "{err}");
    let bad = file("bad.json", r#"{"swagger": "2.0", "basePath": "/b"}"#);
    let err = fails(wsk(&props, &["-i", "api", "create", "--config-file", &bad]));
    assert!(
        err.contains("Swagger file is invalid (missing basePath, info, paths, or swagger fields)"),
        "{err}"
    );
    let err = fails(wsk(
        &props,
        &["-i", "api", "create", "/shop", "/orders", "post", "books"],
    ));
    assert!(err.contains("Unable to create API: API creation failure: The API path '/orders' with verb 'POST' already exists in API '/shop'."), "{err}");
    let long = format!("/{}", "a".repeat(600));
    let err = fails(wsk(
        &props,
        &["-i", "api", "create", "/x", &long, "get", "books"],
    ));
    assert!(
        err.contains("The relative path is longer than allowed: 601 > 512 characters."),
        "{err}"
    );
    let err = fails(wsk(
        &props,
        &["-i", "api", "create", "/x", "/b/{id}", "get", "books"],
    ));
    assert!(
        err.contains("A response type of 'http' is required when using path parameters."),
        "{err}"
    );

    // A second namespace is refused each operation on the guest's APIs.
    let mallory_key = s.add_subject("mallory");
    let mallory = dir.path().join("mallory-props");
    login(&s, &mallory, &mallory_key, "mallory");
    let out = ok(wsk(&mallory, &["-i", "api", "list"]));
    assert!(!out.contains("/guest/"), "{out}");
    let err = fails(wsk(&mallory, &["-i", "api", "get", "/shop"]));
    assert!(
        err.contains("API does not exist for basepath /shop"),
        "{err}"
    );
    let err = fails(wsk(&mallory, &["-i", "api", "delete", "/shop"]));
    assert!(
        err.contains("API deletion failure: API '/shop' does not exist."),
        "{err}"
    );
    let err = fails(wsk(
        &mallory,
        &[
            "-i",
            "api",
            "create",
            "/steal",
            "/it",
            "get",
            "/guest/books",
        ],
    ));
    assert!(err.contains("not authorized"), "{err}");
    assert!(ok(wsk(&props, &["-i", "api", "list", "/shop"])).contains("/shop/orders"));

    // Delete one verb, one path, a whole API: each route stops answering at once.
    let out = ok(wsk(
        &props,
        &["-i", "api", "delete", "/shop", "/orders", "post"],
    ));
    assert_eq!(out, "ok: deleted /orders POST from /shop\n");
    let r = reqwest::Client::new()
        .post(format!("{http_api}/shop/orders"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let out = ok(wsk(&props, &["-i", "api", "delete", "/shop", "/info"]));
    assert_eq!(out, "ok: deleted /info from /shop\n");
    let r = reqwest::Client::new()
        .get(format!("{http_api}/shop/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let out = ok(wsk(&props, &["-i", "api", "delete", "/lib"]));
    assert_eq!(out, "ok: deleted API /lib\n");
    let r = reqwest::Client::new()
        .get(format!("{http_api}/lib/items/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A deleted action leaves its route answering an error.
    ok(wsk(&props, &["-i", "action", "delete", "page"]));
    let r = reqwest::Client::new()
        .get(format!("{http_api}/shop/title"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("The requested resource does not exist."));
    let r = reqwest::Client::new()
        .get(format!("{http_api}/shop/books/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `target/js-client/node_modules`, installed on first use.
fn js_client() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(root.join("scripts/setup-js-client.sh"))
        .status()
        .expect("running scripts/setup-js-client.sh");
    assert!(status.success(), "scripts/setup-js-client.sh failed");
    root.join("target/js-client/node_modules")
}

#[tokio::test]
async fn openwhisks_js_client_manages_routes() {
    let modules = js_client();
    let s = Server::start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/routes.js");
    let node = tokio::process::Command::new("node")
        .arg(&script)
        .env("NODE_PATH", &modules)
        .env("__OW_API_HOST", format!("https://127.0.0.1:{}", s.https))
        .env("__OW_API_KEY", &s.key)
        .env("__OW_APIGW_TOKEN", "a-token-rwhisk-ignores")
        .env("__OW_IGNORE_CERTS", "true")
        .env("NODE_TLS_REJECT_UNAUTHORIZED", "0")
        .env_remove("__OW_NAMESPACE")
        .output();
    let out = tokio::time::timeout(support::patience() * 2, node)
        .await
        .expect("node timed out")
        .expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    let url = format!("https://127.0.0.1:{}/api/{GUEST}/lib", s.https);
    assert_eq!(
        seen,
        json!({
            "count": 1, "basePath": "/testing", "action": "routeAction", "keyStored": false,
            "afterDelete": 0,
            "url": url, "status": 200, "body": {"isbn": "42", "q": "x", "path": "/books/42"},
            "all": ["Library"], "gone": 404,
        })
    );
}
