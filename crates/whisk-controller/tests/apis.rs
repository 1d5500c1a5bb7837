//! The API gateway over the router (SQLite, embedded bus, fake invoker at the bus seam):
//! the `apimgmt` endpoints with the bodies OpenWhisk's CLI and JS client send, routes
//! answering on `/api/{tenant}/...` with path parameters, query, body and each response
//! type, the gateway's misses, bad input with OpenWhisk's texts, and tenant isolation.

mod support;

use axum::http::Method;
use serde_json::{json, Value};
use support::{basic, get, post, put, req, Req, Stack};
use whisk_types::ActivationResponse;

const MGMT: &str = "/api/v1/web/whisk.system/apimgmt";
/// `guest` in hex: the tenant segment of the guest's routes.
const GUEST: &str = "/api/6775657374";
/// `mallory` in hex.
const MALLORY: &str = "/api/6d616c6c6f7279";

fn web() -> Value {
    json!({"annotations": [{"key": "web-export", "value": true}]})
}

/// The createApi body `wsk api create BASE PATH VERB ACTION` sends.
fn flags(base: &str, path: &str, verb: &str, action: &str) -> Value {
    json!({"apidoc": {
        "namespace": "_",
        "gatewayBasePath": base,
        "gatewayPath": path,
        "gatewayMethod": verb,
        "id": format!("API:_:{base}"),
        "action": {
            "name": action, "namespace": "_", "backendMethod": verb,
            "backendUrl": format!("https://h/api/v1/web/_/default/{action}.http"),
            "authkey": "uuid:the-callers-key",
        },
    }})
}

fn create(body: Value, responsetype: &str) -> Req {
    post(
        &format!("{MGMT}/createApi.http?responsetype={responsetype}&spaceguid=x&accesstoken=t"),
        body,
    )
}

/// The fake invoker answers `action` with its input, as JSON and as an `.http` body.
fn echo(s: &Stack, action: &str) {
    s.behave(action, |input| {
        ActivationResponse::success(
            json!({"input": input, "statusCode": 201, "headers": {"X-Echo": "yes"}, "body": {"input": input}}),
            None,
        )
    });
}

async fn stack_with_echo() -> Stack {
    let s = Stack::start().await;
    echo(&s, "guest/echo");
    s.create_action("echo", web()).await;
    s
}

#[tokio::test]
async fn a_route_from_flags_passes_path_parameters_query_and_body() {
    let s = stack_with_echo().await;
    let r = s
        .check(
            create(flags("/shop", "/books/{isbn}", "GET", "echo"), "http"),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["gwApiUrl"], "http://localhost/api/6775657374/shop");
    assert_eq!(r["apidoc"]["basePath"], "/shop");
    let op = &r["apidoc"]["paths"]["/books/{isbn}"]["get"];
    assert_eq!(op["operationId"], "getBooksIsbn");
    assert_eq!(op["x-openwhisk"]["action"], "echo");
    assert_eq!(op["x-openwhisk"]["namespace"], "guest");
    assert_eq!(op["parameters"][0]["name"], "isbn");
    // The caller's key the clients put in the document is not kept.
    assert!(!r.to_string().contains("the-callers-key"));

    let r = s
        .check(
            get(&format!("{GUEST}/shop/books/978-3?color=red")).no_auth(),
            201,
            "",
        )
        .await;
    assert_eq!(r.header("x-echo"), Some("yes"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let input = &r.json()["input"];
    assert_eq!(input["isbn"], "978-3");
    assert_eq!(input["color"], "red");
    assert_eq!(input["__ow_method"], "get");
    assert_eq!(input["__ow_path"], "/books/978-3");

    // A JSON body on another verb of another path.
    s.check(
        create(flags("/shop", "/orders", "POST", "echo"), "json"),
        200,
        "",
    )
    .await;
    let r = s
        .check(
            post(
                &format!("{GUEST}/shop/orders?q=1"),
                json!({"item": "pen", "n": 2}),
            )
            .no_auth()
            .header("content-type", "application/json"),
            200,
            "",
        )
        .await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let input = &r.json()["input"];
    assert_eq!(input["item"], "pen");
    assert_eq!(input["n"], 2);
    assert_eq!(input["q"], "1");

    // The gateway's misses: wrong verb, unknown path, unknown tenant.
    s.check(
        req(Method::DELETE, &format!("{GUEST}/shop/orders")).no_auth(),
        404,
        r#""message":"Error: Whoops. Verb not supported.""#,
    )
    .await;
    let r = s
        .check(get(&format!("{GUEST}/shop/nothing")).no_auth(), 404, "")
        .await;
    assert_eq!(
        r.json(),
        json!({"status": 404, "message": "Error: Not found."})
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    s.check(
        get("/api/zz/shop/orders").no_auth(),
        404,
        "Error: Not found.",
    )
    .await;
    // `/api/v1` stays the REST API.
    s.check(get("/api/v1/nothing"), 404, "could not be found")
        .await;

    // CORS preflight on a route without an OPTIONS operation.
    let r = s
        .check(
            req(Method::OPTIONS, &format!("{GUEST}/shop/orders"))
                .no_auth()
                .header("access-control-request-headers", "x-custom"),
            200,
            "",
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-headers"), Some("x-custom"));
}

#[tokio::test]
async fn each_response_type_renders_the_result() {
    let s = Stack::start().await;
    s.behave("guest/svg", |_| {
        ActivationResponse::success(json!({"body": "<svg/>", "text": "plain"}), None)
    });
    s.create_action("svg", web()).await;
    for (path, ty) in [
        ("/j", "json"),
        ("/t", "text"),
        ("/s", "svg"),
        ("/h", "html"),
    ] {
        s.check(create(flags("/types", path, "get", "svg"), ty), 200, "")
            .await;
    }
    let r = s
        .check(get(&format!("{GUEST}/types/j")).no_auth(), 200, "")
        .await;
    assert_eq!(r.json()["text"], "plain");
    let r = s
        .check(get(&format!("{GUEST}/types/t")).no_auth(), 200, "")
        .await;
    // `.text` renders the result's `body` first, then its `text` (OpenWhisk's transcoder).
    assert_eq!(r.text, "<svg/>");
    let r = s
        .check(get(&format!("{GUEST}/types/s")).no_auth(), 200, "")
        .await;
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert_eq!(r.text, "<svg/>");
    s.check(get(&format!("{GUEST}/types/h")).no_auth(), 200, "<svg/>")
        .await;
}

#[tokio::test]
async fn get_list_and_delete_by_base_path_path_and_verb() {
    let s = stack_with_echo().await;
    let mut swagger_create = flags("/b", "/x", "get", "echo");
    swagger_create["apidoc"]["apiName"] = json!("Bee");
    s.check(create(swagger_create, "json"), 200, "").await;
    s.check(create(flags("/b", "/x", "post", "echo"), "json"), 200, "")
        .await;
    s.check(create(flags("/b", "/y", "get", "echo"), "json"), 200, "")
        .await;
    s.check(create(flags("/a", "/z", "get", "echo"), "json"), 200, "")
        .await;

    let all = s
        .check(get(&format!("{MGMT}/getApi.http")), 200, "")
        .await
        .json();
    assert_eq!(all["apis"].as_array().unwrap().len(), 2);
    let one = s
        .check(get(&format!("{MGMT}/getApi.http?basepath=/b")), 200, "")
        .await
        .json();
    let api = &one["apis"][0];
    assert_eq!(api["id"], "API:guest:/b");
    assert_eq!(api["value"]["apidoc"]["info"]["title"], "Bee");
    assert_eq!(api["value"]["gwApiActivated"], true);
    let by_name = s
        .check(get(&format!("{MGMT}/getApi.http?basepath=Bee")), 200, "")
        .await
        .json();
    assert_eq!(by_name["apis"][0]["value"]["apidoc"]["basePath"], "/b");

    // One verb: /b/x GET goes, POST stays.
    s.check(
        req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/b&relpath=/x&operation=GET"),
        ),
        200,
        "{}",
    )
    .await;
    s.check(
        get(&format!("{GUEST}/b/x")).no_auth(),
        404,
        "Verb not supported",
    )
    .await;
    s.check(post(&format!("{GUEST}/b/x"), json!({})).no_auth(), 200, "")
        .await;
    // One path.
    s.check(
        req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/b&relpath=/x"),
        ),
        200,
        "",
    )
    .await;
    s.check(
        post(&format!("{GUEST}/b/x"), json!({})).no_auth(),
        404,
        "Not found.",
    )
    .await;
    s.check(get(&format!("{GUEST}/b/y")).no_auth(), 200, "")
        .await;
    s.check(
        req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/b&relpath=/x"),
        ),
        404,
        "API deletion failure: path '/x' does not exist in the API",
    )
    .await;
    // The whole API.
    s.check(
        req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/b"),
        ),
        200,
        "",
    )
    .await;
    s.check(get(&format!("{GUEST}/b/y")).no_auth(), 404, "Not found.")
        .await;
    s.check(
        req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/b"),
        ),
        404,
        "API deletion failure: API '/b' does not exist.",
    )
    .await;
    let all = s
        .check(get(&format!("{MGMT}/getApi.http")), 200, "")
        .await
        .json();
    assert_eq!(all["apis"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_swagger_document_replaces_the_api() {
    let s = stack_with_echo().await;
    let swagger = json!({
        "swagger": "2.0", "basePath": "/lib", "info": {"title": "Library", "version": "1.0"},
        "paths": {"/books/{id}": {"get": {
            "operationId": "getBook",
            "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}],
            "x-openwhisk": {"namespace": "_", "package": "", "action": "echo",
                            "url": "https://h/api/v1/web/_/default/echo.http"},
            "responses": {"default": {"description": "ok"}}}}},
    });
    let r = s
        .check(
            post(
                &format!("{MGMT}/createApi.http"),
                json!({"apidoc": {"namespace": "_", "swagger": swagger.to_string()}}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        r["apidoc"]["paths"]["/books/{id}"]["get"]["x-openwhisk"]["namespace"],
        "guest"
    );
    let r = s
        .check(get(&format!("{GUEST}/lib/books/7")).no_auth(), 201, "")
        .await;
    assert_eq!(r.json()["input"]["id"], "7");
}

#[tokio::test]
async fn bad_input_gets_openwhisks_texts() {
    let s = stack_with_echo().await;
    s.create_action("plain", json!({})).await;
    s.check(
        create(flags("/x", "/y", "get", "nope"), "json"),
        404,
        "The requested resource does not exist.",
    )
    .await;
    // As OpenWhisk's apimgmt: a route to an action that is not a web action is kept (the
    // CLI refuses it), and answers 404 until the action is one.
    s.check(
        create(flags("/x", "/plain", "get", "plain"), "json"),
        200,
        "",
    )
    .await;
    s.check(
        get(&format!("{GUEST}/x/plain")).no_auth(),
        404,
        "The requested resource does not exist.",
    )
    .await;
    s.check(
        post(&format!("{MGMT}/createApi.http"), json!({"apidoc": {"namespace": "_", "swagger": {"swagger": "2.0", "basePath": "/m", "info": {}}}})),
        400,
        "swagger is missing the paths field.",
    )
    .await;
    s.check(
        post(
            &format!("{MGMT}/createApi.http"),
            json!({"apidoc": {"namespace": "_", "swagger": {"swagger": "2.0", "info": {}, "paths": {}}}}),
        ),
        400,
        "swagger is missing the basePath field.",
    )
    .await;
    s.check(
        post(
            &format!("{MGMT}/createApi.http"),
            json!({"apidoc": {"namespace": "_", "swagger": "{not json"}}),
        ),
        400,
        "swagger field cannot be parsed. Ensure it is valid JSON.",
    )
    .await;
    s.check(
        post(&format!("{MGMT}/createApi.http"), json!({})),
        400,
        "apidoc is required.",
    )
    .await;
    s.check(create(flags("/x", "/y", "get", "echo"), "json"), 200, "")
        .await;
    s.check(
        create(flags("/x", "/y", "GET", "echo"), "json"),
        409,
        "The API path '/y' with verb 'GET' already exists in API '/x'.",
    )
    .await;
    let long = format!("/{}", "p".repeat(600));
    s.check(
        create(flags("/x", &long, "get", "echo"), "json"),
        400,
        "API creation failure: The relative path is longer than allowed: 601 > 512 characters.",
    )
    .await;
    s.check(
        create(flags("/x", "/b/{id}", "get", "echo"), "json"),
        400,
        "The action must use a response type of '.http' in order to receive the path parameters.",
    )
    .await;
    s.check(
        create(flags("/x", "/z", "fetch", "echo"), "json"),
        400,
        "'FETCH' is not a valid API verb.",
    )
    .await;
    s.check(
        req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/x&operation=get"),
        ),
        400,
        "When specifying an operation, the path is required.",
    )
    .await;
    s.check(
        get(&format!("{MGMT}/getApi.http")).no_auth(),
        401,
        "authentication",
    )
    .await;
    // Nothing above broke the API that exists.
    s.check(get(&format!("{GUEST}/x/y")).no_auth(), 200, "")
        .await;
}

#[tokio::test]
async fn another_namespace_cannot_create_read_delete_or_shadow_routes() {
    let s = stack_with_echo().await;
    s.check(
        create(flags("/pay", "/now", "post", "echo"), "json"),
        200,
        "",
    )
    .await;
    let mallory = s.add_subject("mallory").await;
    let as_mallory = |r: Req| r.auth(&basic(&mallory));

    // Reading: mallory sees only her own (no) APIs, whatever spaceguid says.
    let r = s
        .check(
            as_mallory(get(&format!(
                "{MGMT}/getApi.http?basepath=/pay&spaceguid=guest"
            ))),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["apis"], json!([]));
    let r = s
        .check(as_mallory(get(&format!("{MGMT}/getApi.http"))), 200, "")
        .await
        .json();
    assert_eq!(r["apis"], json!([]));
    // Deleting.
    s.check(
        as_mallory(req(
            Method::DELETE,
            &format!("{MGMT}/deleteApi.http?basepath=/pay"),
        )),
        404,
        "API '/pay' does not exist.",
    )
    .await;
    // Creating a route to the guest's action, by name or in a swagger document.
    let mut to_guest = flags("/steal", "/it", "post", "echo");
    to_guest["apidoc"]["action"]["namespace"] = json!("guest");
    s.check(as_mallory(create(to_guest, "json")), 403, "guest/echo")
        .await;
    let swagger = json!({
        "swagger": "2.0", "basePath": "/steal", "info": {"title": "x", "version": "1"},
        "paths": {"/it": {"post": {"x-openwhisk": {"namespace": "guest", "package": "", "action": "echo"}}}},
    });
    s.check(
        as_mallory(post(
            &format!("{MGMT}/createApi.http"),
            json!({"apidoc": {"namespace": "_", "swagger": swagger}}),
        )),
        403,
        "guest/echo",
    )
    .await;
    // Mallory's own API on the same base path lives under her tenant only.
    s.behave("mallory/fake", |_| {
        ActivationResponse::success(json!({"who": "mallory"}), None)
    });
    s.check(
        as_mallory(put("/api/v1/namespaces/_/actions/fake", json!({"exec": {"kind": "blackbox", "image": "i"}, "annotations": [{"key": "web-export", "value": true}]}))),
        200,
        "",
    )
    .await;
    s.check(
        as_mallory(create(flags("/pay", "/now", "post", "fake"), "json")),
        200,
        "",
    )
    .await;
    let r = s
        .check(
            post(&format!("{MALLORY}/pay/now"), json!({})).no_auth(),
            200,
            "",
        )
        .await;
    assert_eq!(r.json()["who"], "mallory");
    // The guest's route still runs the guest's action, as the guest, even when mallory
    // calls it with her credentials: they never reach the action.
    let r = s
        .check(
            as_mallory(post(&format!("{GUEST}/pay/now"), json!({"a": 1})))
                .header("content-type", "application/json"),
            200,
            "",
        )
        .await;
    let input = &r.json()["input"];
    assert_eq!(input["a"], 1);
    assert!(
        input["__ow_headers"].get("authorization").is_none(),
        "{input}"
    );
    let id = r.header("x-openwhisk-activation-id").unwrap().to_owned();
    let rec = s
        .check(
            get(&format!("/api/v1/namespaces/_/activations/{id}")),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(rec["namespace"], "guest");
    // The guest's API is intact.
    let r = s
        .check(get(&format!("{MGMT}/getApi.http?basepath=/pay")), 200, "")
        .await
        .json();
    assert_eq!(
        r["apis"][0]["value"]["apidoc"]["paths"]["/now"]["post"]["x-openwhisk"]["action"],
        "echo"
    );
}

#[tokio::test]
async fn a_deleted_action_leaves_its_route_answering_an_error() {
    let s = stack_with_echo().await;
    s.check(
        create(flags("/gone", "/soon", "get", "echo"), "json"),
        200,
        "",
    )
    .await;
    s.check(get(&format!("{GUEST}/gone/soon")).no_auth(), 200, "")
        .await;
    s.check(
        req(Method::DELETE, "/api/v1/namespaces/_/actions/echo"),
        200,
        "",
    )
    .await;
    s.check(
        get(&format!("{GUEST}/gone/soon")).no_auth(),
        404,
        "The requested resource does not exist.",
    )
    .await;
    // And the platform keeps serving.
    s.check(get(&format!("{MGMT}/getApi.http")), 200, "/gone")
        .await;
}

#[tokio::test]
async fn api_docs_is_the_platforms_swagger() {
    let s = Stack::start().await;
    let r = s.check(get("/api/v1/api-docs").no_auth(), 200, "").await;
    let doc = r.json();
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["basePath"], "/api/v1");
    assert!(doc["paths"]["/namespaces/{namespace}/actions/{name}"]["post"].is_object());
    assert!(doc["paths"]["/web/whisk.system/apimgmt/createApi.http"]["post"].is_object());
}

#[tokio::test]
async fn a_route_stands_in_for_its_own_actions_secret_but_not_for_credentials() {
    let s = Stack::start().await;
    echo(&s, "guest/secret");
    echo(&s, "guest/authed");
    s.create_action(
        "secret",
        json!({"annotations": [{"key": "web-export", "value": true}, {"key": "require-whisk-auth", "value": "s3cret"}]}),
    )
    .await;
    s.create_action(
        "authed",
        json!({"annotations": [{"key": "web-export", "value": true}, {"key": "require-whisk-auth", "value": true}]}),
    )
    .await;
    s.check(
        create(flags("/sec", "/s", "get", "secret"), "json"),
        200,
        "",
    )
    .await;
    s.check(
        create(flags("/sec", "/a", "get", "authed"), "json"),
        200,
        "",
    )
    .await;
    // The web action itself wants its secret; its route supplies it, as OpenWhisk's gateway.
    s.check(
        get("/api/v1/web/guest/default/secret.json").no_auth(),
        401,
        "",
    )
    .await;
    s.check(get(&format!("{GUEST}/sec/s")).no_auth(), 200, "")
        .await;
    // `true` asks for the caller's credentials, on the route too.
    s.check(get(&format!("{GUEST}/sec/a")).no_auth(), 401, "")
        .await;
    let r = s.check(get(&format!("{GUEST}/sec/a")), 200, "").await;
    assert_eq!(r.json()["input"]["__ow_user"], "guest");
    // Path parameters may not take the platform's `__ow_` names.
    s.check(
        create(flags("/sec", "/x/{__ow_user}", "get", "secret"), "http"),
        400,
        "The path parameter '__ow_user' may not start with '__'.",
    )
    .await;
}
