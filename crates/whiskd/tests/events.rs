//! End-to-end tests of issue 4 on the real server with real containers: triggers and
//! rules, sequences, web actions, package bindings and the built-in `once` alarm.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{annotation, eventually, unique, Server};

const C_IMAGE: &str = "whisk/example-c";
const SKELETON: &str = "whisk/dockerskeleton";

async fn send(s: &Server, method: Method, path: &str, body: Value) -> (u16, Value) {
    let r = s.req(method, path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Activations of `name` currently stored.
async fn activations_of(s: &Server, name: &str) -> Vec<Value> {
    let (st, list) = send(
        s,
        Method::GET,
        &format!("activations?name={name}&docs=true&limit=200"),
        Value::Null,
    )
    .await;
    assert_eq!(st, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn trigger_fires_action_through_rule_until_disabled() {
    let s = Server::start().await;
    let action = unique("echo_c");
    let trigger = unique("t");
    let rule = unique("r");
    s.docker_action(&action, C_IMAGE, None, json!({})).await;
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("triggers/{trigger}"),
        json!({"parameters": [{"key": "from", "value": "trigger"}]}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("rules/{rule}"),
        json!({"trigger": format!("/_/{trigger}"), "action": format!("/_/{action}")}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["status"], "active");

    let (st, fired) = send(
        &s,
        Method::POST,
        &format!("triggers/{trigger}"),
        json!({"event": 1}),
    )
    .await;
    assert_eq!(st, 202, "{fired}");
    let trigger_record = s.activation(fired["activationId"].as_str().unwrap()).await;
    let log: Value = serde_json::from_str(trigger_record["logs"][0].as_str().unwrap()).unwrap();
    assert_eq!(log["success"], true, "{log}");
    let action_id = log["activationId"].as_str().unwrap().to_owned();
    let record = s.activation(&action_id).await;
    let args = &record["response"]["result"]["args"];
    assert_eq!(args["event"], 1, "{record}");
    assert_eq!(args["from"], "trigger", "{record}");

    // Disabled: no active rule, so 204 and nothing runs.
    let (st, _) = send(
        &s,
        Method::POST,
        &format!("rules/{rule}"),
        json!({"status": "inactive"}),
    )
    .await;
    assert_eq!(st, 200);
    let r = s
        .req(Method::POST, &format!("triggers/{trigger}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(activations_of(&s, &action).await.len(), 1);
}

#[tokio::test]
async fn sequence_chains_container_actions() {
    let s = Server::start().await;
    let first = unique("seq_c");
    let second = unique("seq_sh");
    let seq = unique("seq");
    s.docker_action(&first, C_IMAGE, None, json!({})).await;
    // The second component wraps whatever it gets.
    s.docker_action(
        &second,
        SKELETON,
        Some("#!/bin/sh\necho \"{\\\"wrapped\\\": $1}\"\n"),
        json!({}),
    )
    .await;
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("actions/{seq}"),
        json!({"exec": {"kind": "sequence", "components": [format!("/_/{first}"), format!("/_/{second}")]}}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["exec"]["components"][0], format!("/guest/{first}"));

    let (st, record) = s
        .invoke(&seq, "blocking=true", json!({"key": "value"}))
        .await;
    assert_eq!(st, 200, "{record}");
    assert_eq!(
        record["response"]["result"],
        json!({"wrapped": {"args": {"key": "value"}, "msg": "Hello from C program!"}})
    );
    assert_eq!(annotation(&record, "kind").unwrap(), "sequence");
    let ids: Vec<String> = record["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{record}");
    for id in &ids {
        let component = s.activation(id).await;
        assert_eq!(component["cause"], record["activationId"], "{component}");
    }
}

#[tokio::test]
async fn web_action_answers_anonymous_get_with_its_own_response() {
    let s = Server::start().await;
    let name = unique("page");
    let script = "#!/bin/sh\necho '{\"statusCode\": 201, \"headers\": {\"X-Made-By\": \"rwhisk\", \"Content-Type\": \"text/html\"}, \"body\": \"<html><body>hello web</body></html>\"}'\n";
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("actions/{name}"),
        json!({"exec": {"kind": "blackbox", "image": SKELETON, "code": script},
               "annotations": [{"key": "web-export", "value": true}]}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let r = reqwest::get(format!("{}/api/v1/web/guest/default/{name}", s.base()))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-made-by"], "rwhisk");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers().contains_key("x-openwhisk-activation-id"));
    assert_eq!(
        r.text().await.unwrap(),
        "<html><body>hello web</body></html>"
    );

    // Not exported: 404 for the anonymous caller.
    let hidden = unique("hidden");
    s.docker_action(&hidden, C_IMAGE, None, json!({})).await;
    let r = reqwest::get(format!("{}/api/v1/web/guest/default/{hidden}", s.base()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn binding_parameters_reach_the_action() {
    let s = Server::start().await;
    let pkg = unique("pkg");
    let bind = unique("bind");
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("packages/{pkg}"),
        json!({"parameters": [{"key": "a", "value": "from package"}, {"key": "b", "value": "from package"}]}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let r = s
        .req(Method::PUT, &format!("actions/{pkg}/hello"))
        .json(&json!({"exec": {"kind": "blackbox", "image": C_IMAGE}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("packages/{bind}"),
        json!({"binding": {"namespace": "_", "name": pkg},
               "parameters": [{"key": "b", "value": "from binding"}]}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, result) = s
        .invoke(
            &format!("{bind}/hello"),
            "blocking=true&result=true",
            json!({"c": "from invoke"}),
        )
        .await;
    assert_eq!(st, 200, "{result}");
    assert_eq!(
        result["args"],
        json!({"a": "from package", "b": "from binding", "c": "from invoke"})
    );
    let (st, record) = s
        .invoke(&format!("{bind}/hello"), "blocking=true", json!({}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        annotation(&record, "binding").unwrap(),
        format!("guest/{bind}").as_str()
    );
}

#[tokio::test]
async fn once_alarm_fires_exactly_once_across_a_restart() {
    let mut s = Server::start().await;
    let action = unique("alarmed");
    let trigger = unique("wake");
    s.docker_action(&action, C_IMAGE, None, json!({})).await;
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("triggers/{trigger}"),
        json!({"annotations": [{"key": "feed", "value": "/whisk.system/alarms/once"}]}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("rules/{}", unique("r")),
        json!({"trigger": format!("/_/{trigger}"), "action": format!("/_/{action}")}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let date = whisk_types_now() + 3000;
    let r = s
        .client
        .post(format!(
            "{}/api/v1/namespaces/whisk.system/actions/alarms/once?blocking=true&result=true",
            s.base()
        ))
        .basic_auth(
            s.key.split_once(':').unwrap().0,
            Some(s.key.split_once(':').unwrap().1),
        )
        .json(
            &json!({"lifecycleEvent": "CREATE", "triggerName": format!("/_/{trigger}"),
                      "authKey": s.key, "date": date, "trigger_payload": {"alarm": true}}),
        )
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");

    let fired = eventually("the alarm's action activation", || async {
        let list = activations_of(&s, &action).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(fired[0]["response"]["result"]["args"]["alarm"], true);

    // Restart: the tick already fired must not fire again.
    s.stop();
    s.spawn().await;
    let (st, body) = s.invoke(&action, "blocking=true", json!({})).await;
    assert_eq!(st, 200, "{body}");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let alarm_runs = activations_of(&s, &action)
        .await
        .into_iter()
        .filter(|a| a["response"]["result"]["args"]["alarm"] == true)
        .count();
    assert_eq!(alarm_runs, 1);
}

fn whisk_types_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn other_namespaces_see_only_shared_packages() {
    let s = Server::start().await;
    // A second subject made with `whiskd admin user create`, beside the running server.
    let other = s.add_subject("mallory");
    let (user, pass) = other.split_once(':').unwrap();
    let as_other = |method: Method, path: &str| {
        s.client
            .request(
                method,
                format!("{}/api/v1/namespaces/guest/{path}", s.base()),
            )
            .basic_auth(user, Some(pass))
    };

    let private = unique("private");
    s.docker_action(&private, C_IMAGE, None, json!({})).await;
    let shared = unique("shared");
    let (st, _) = send(
        &s,
        Method::PUT,
        &format!("packages/{shared}"),
        json!({"publish": true}),
    )
    .await;
    assert_eq!(st, 200);
    let r = s
        .req(Method::PUT, &format!("actions/{shared}/hello"))
        .json(&json!({"exec": {"kind": "blackbox", "image": C_IMAGE}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    for (method, path) in [
        (Method::GET, format!("actions/{private}")),
        (Method::POST, format!("actions/{private}?blocking=true")),
        (Method::DELETE, format!("actions/{private}")),
        (Method::GET, "actions".to_owned()),
        (Method::GET, "activations".to_owned()),
        (Method::GET, "triggers".to_owned()),
        (Method::GET, "packages/does-not-exist".to_owned()),
    ] {
        let r = as_other(method.clone(), &path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
    }
    // The shared package and its action are readable and invocable.
    let r = as_other(Method::GET, &format!("packages/{shared}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = as_other(
        Method::POST,
        &format!("actions/{shared}/hello?blocking=true&result=true"),
    )
    .json(&json!({"who": "mallory"}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["args"]["who"], "mallory");
    // The guest's action is untouched.
    let (st, _) = s.invoke(&private, "blocking=true", json!({})).await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn sequence_of_the_seed_action_and_utils_actions() {
    let s = Server::start().await;
    let c = unique("seed_c");
    let seq = unique("utils_then_c");
    s.docker_action(&c, C_IMAGE, None, json!({})).await;
    // split → sort → head (Node.js utils) → the seed's C action: each result is the next input.
    let (st, body) = send(
        &s,
        Method::PUT,
        &format!("actions/{seq}"),
        json!({"exec": {"kind": "sequence", "components": [
            "/whisk.system/utils/split", "/whisk.system/utils/sort", "/whisk.system/utils/head", format!("/_/{c}")]}}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, result) = s
        .invoke(
            &seq,
            "blocking=true&result=true",
            json!({"payload": "pear,apple,fig", "separator": ",", "num": 2}),
        )
        .await;
    assert_eq!(st, 200, "{result}");
    assert_eq!(
        result,
        json!({"args": {"lines": ["apple"], "num": 1}, "msg": "Hello from C program!"})
    );
}
