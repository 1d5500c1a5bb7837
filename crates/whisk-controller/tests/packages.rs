//! Packages, bindings, parameter merge and entitlement across namespaces, through the
//! router over SQLite and the embedded bus (fake invoker at the bus seam).

mod support;

use serde_json::{json, Value};
use support::{basic, delete, get, post, put, Stack};
use whisk_controller::{ControllerConfig, RuntimeManifest};

const PACKAGES: &str = "/api/v1/namespaces/_/packages";
const ACTIONS: &str = "/api/v1/namespaces/_/actions";

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn package_crud_publish_and_contents() {
    let s = Stack::start().await;
    let created = s
        .check(
            put(
                &format!("{PACKAGES}/pkg"),
                json!({"parameters": [{"key": "a", "value": 1}], "publish": true}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(created["namespace"], "guest");
    assert_eq!(created["binding"], json!({}));
    assert_eq!(created["publish"], true);
    assert_eq!(created["version"], "0.0.1");
    s.check(
        put(&format!("{PACKAGES}/pkg"), json!({})),
        409,
        "resource already exists",
    )
    .await;
    s.check(
        put(&format!("{PACKAGES}/default"), json!({})),
        400,
        "Package name 'default' is reserved.",
    )
    .await;
    let updated = s
        .check(
            put(
                &format!("{PACKAGES}/pkg?overwrite=true"),
                json!({"publish": false}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(updated["version"], "0.0.2");
    assert_eq!(updated["publish"], false);
    assert_eq!(updated["parameters"], json!([{"key": "a", "value": 1}]));

    s.create_action("pkg/act", json!({})).await;
    s.create_action(
        "pkg/fd",
        json!({"annotations": [{"key": "feed", "value": true}]}),
    )
    .await;
    let got = s
        .check(get(&format!("{PACKAGES}/pkg")), 200, "")
        .await
        .json();
    assert_eq!(names(&got["actions"]), ["act"]);
    assert_eq!(names(&got["feeds"]), ["fd"]);
    assert_eq!(got["actions"][0]["version"], "0.0.1");

    let list = s.check(get(PACKAGES), 200, "").await.json();
    assert_eq!(list[0]["binding"], false);
    assert!(list[0].get("parameters").is_none(), "{list}");
    s.check(
        get(&format!("{PACKAGES}?count=true")),
        200,
        "{\"packages\":1}",
    )
    .await;

    // Not empty: 409 unless forced; forced removes the actions too.
    s.check(
        delete(&format!("{PACKAGES}/pkg")),
        409,
        "Package not empty (contains 2 entities). Set force param or delete package contents.",
    )
    .await;
    s.check(
        delete(&format!("{PACKAGES}/pkg?force=true")),
        200,
        "\"name\":\"pkg\"",
    )
    .await;
    s.check(get(&format!("{ACTIONS}/pkg/act")), 404, "").await;
    s.check(
        get(&format!("{PACKAGES}/pkg")),
        404,
        "The requested resource does not exist.",
    )
    .await;
}

#[tokio::test]
async fn bindings_merge_parameters_on_invoke_and_get() {
    let s = Stack::start().await;
    s.check(
        put(
            &format!("{PACKAGES}/pkg"),
            json!({"parameters": [{"key": "p", "value": "pkg"}, {"key": "fromPkg", "value": 1},
                                  {"key": "b", "value": "pkg"}, {"key": "a", "value": "pkg"}]}),
        ),
        200,
        "",
    )
    .await;
    s.create_action(
        "pkg/act",
        json!({"parameters": [{"key": "a", "value": "action"}, {"key": "x", "value": "action"}]}),
    )
    .await;
    let binding = s
        .check(
            put(
                &format!("{PACKAGES}/bnd"),
                json!({"binding": {"namespace": "_", "name": "pkg"},
                       "parameters": [{"key": "b", "value": "binding"}, {"key": "a", "value": "binding"}]}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        binding["binding"],
        json!({"namespace": "guest", "name": "pkg"})
    );
    assert!(binding["annotations"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "binding", "value": {"namespace": "guest", "name": "pkg"}})));

    // package < binding < action < payload
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/bnd/act?blocking=true&result=true"),
                json!({"x": "payload"}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(
        r["echo"],
        json!({"p": "pkg", "fromPkg": 1, "b": "binding", "a": "action", "x": "payload"})
    );
    assert_eq!(r["action"], "guest/pkg/act");

    // GET through the binding: the real action with merged parameters.
    let a = s
        .check(get(&format!("{ACTIONS}/bnd/act")), 200, "")
        .await
        .json();
    assert_eq!(a["namespace"], "guest/pkg");
    let params: Value = a["parameters"].clone();
    for (k, v) in [("p", "pkg"), ("b", "binding"), ("a", "action")] {
        assert!(
            params
                .as_array()
                .unwrap()
                .contains(&json!({"key": k, "value": v})),
            "{params}"
        );
    }
    // GET of the binding: its merged parameters and the package's actions.
    let b = s
        .check(get(&format!("{PACKAGES}/bnd")), 200, "")
        .await
        .json();
    assert_eq!(names(&b["actions"]), ["act"]);
    assert!(b["parameters"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "b", "value": "binding"})));
    assert!(b["parameters"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "p", "value": "pkg"})));
    let listed = s
        .check(get(&format!("{ACTIONS}/bnd/")), 200, "")
        .await
        .json();
    assert_eq!(listed[0]["namespace"], "guest/pkg");
    let list = s.check(get(PACKAGES), 200, "").await.json();
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bnd")
        .unwrap();
    assert_eq!(row["binding"], json!({"namespace": "guest", "name": "pkg"}));

    // final: defined parameters (package and binding ones included) are immutable.
    s.check(
        put(
            &format!("{ACTIONS}/pkg/act?overwrite=true"),
            json!({"annotations": [{"key": "final", "value": true}]}),
        ),
        200,
        "",
    )
    .await;
    s.check(
        post(
            &format!("{ACTIONS}/bnd/act?blocking=true"),
            json!({"b": "override"}),
        ),
        400,
        "Request defines parameters that are not allowed (e.g., reserved properties).",
    )
    .await;

    // Binding rules.
    s.check(
        put(
            &format!("{PACKAGES}/b2"),
            json!({"binding": {"namespace": "guest", "name": "nope"}}),
        ),
        400,
        "Binding references a package that does not exist.",
    )
    .await;
    s.check(
        put(
            &format!("{PACKAGES}/b2"),
            json!({"binding": {"namespace": "guest", "name": "bnd"}}),
        ),
        400,
        "Cannot bind to another package binding.",
    )
    .await;
    s.create_action("plain", json!({})).await;
    s.check(
        put(
            &format!("{PACKAGES}/b2"),
            json!({"binding": {"namespace": "guest", "name": "plain"}}),
        ),
        409,
        "Cannot bind to a resource that is not a package.",
    )
    .await;
    s.check(
        put(
            &format!("{PACKAGES}/pkg?overwrite=true"),
            json!({"binding": {"namespace": "guest", "name": "bnd"}}),
        ),
        409,
        "Resource is a package and cannot be converted into a binding.",
    )
    .await;
    s.check(
        put(
            &format!("{ACTIONS}/bnd/new"),
            json!({"exec": {"kind": "blackbox", "image": "i"}}),
        ),
        400,
        "Operation not permitted on package binding.",
    )
    .await;
    // A binding is always deletable.
    s.check(delete(&format!("{PACKAGES}/bnd")), 200, "").await;
}

#[tokio::test]
async fn other_namespaces_see_only_shared_packages_and_get_403() {
    let s = Stack::start().await;
    let alice = s.add_subject("alice").await;
    let as_alice = basic(&alice);
    let alice_ns = "/api/v1/namespaces/alice";
    for (pkg, publish) in [("shared", true), ("priv", false)] {
        s.check(
            put(
                &format!("{alice_ns}/packages/{pkg}"),
                json!({"publish": publish, "parameters": [{"key": "owner", "value": "alice"}]}),
            )
            .auth(&as_alice),
            200,
            "",
        )
        .await;
        s.check(
            put(
                &format!("{alice_ns}/actions/{pkg}/x"),
                json!({"exec": {"kind": "blackbox", "image": "i"}}),
            )
            .auth(&as_alice),
            200,
            "",
        )
        .await;
    }
    s.check(
        put(
            &format!("{alice_ns}/actions/mine"),
            json!({"exec": {"kind": "blackbox", "image": "i"}}),
        )
        .auth(&as_alice),
        200,
        "",
    )
    .await;
    s.check(
        put(
            &format!("{alice_ns}/packages/abind"),
            json!({"binding": {"namespace": "alice", "name": "shared"}, "publish": true}),
        )
        .auth(&as_alice),
        200,
        "",
    )
    .await;

    // As guest: only the published, non-binding package is listed and readable.
    let list = s
        .check(get(&format!("{alice_ns}/packages")), 200, "")
        .await
        .json();
    assert_eq!(names(&list), ["shared"]);
    s.check(
        get(&format!("{alice_ns}/packages/shared")),
        200,
        "\"name\":\"x\"",
    )
    .await;
    let forbidden =
        |what: &str| format!("The supplied authentication is not authorized to access '{what}'.");
    s.check(
        get(&format!("{alice_ns}/packages/priv")),
        403,
        &forbidden("alice/priv"),
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/packages/nothing")),
        403,
        &forbidden("alice/nothing"),
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions/shared/x")),
        200,
        "\"namespace\":\"alice/shared\"",
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions/priv/x")),
        403,
        &forbidden("alice/priv/x"),
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions/nothing/x")),
        403,
        &forbidden("alice/nothing/x"),
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions/mine")),
        403,
        &forbidden("alice/mine"),
    )
    .await;
    s.check(
        post(&format!("{alice_ns}/actions/mine"), json!({})),
        403,
        "",
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions")),
        403,
        &forbidden("alice"),
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions/shared/")),
        200,
        "\"name\":\"x\"",
    )
    .await;
    s.check(get(&format!("{alice_ns}/actions/priv/")), 403, "")
        .await;
    s.check(
        get(&format!("{alice_ns}/packages/abind")),
        403,
        &forbidden("alice/abind"),
    )
    .await;
    s.check(
        get(&format!("{alice_ns}/actions/abind/x")),
        403,
        &forbidden("alice/abind/x"),
    )
    .await;
    s.check(get(&format!("{alice_ns}/triggers")), 403, "").await;
    s.check(get(&format!("{alice_ns}/rules/r")), 403, "").await;
    s.check(get(&format!("{alice_ns}/activations")), 403, "")
        .await;
    s.check(
        put(
            &format!("{alice_ns}/actions/shared/y"),
            json!({"exec": {"kind": "blackbox", "image": "i"}}),
        ),
        403,
        &forbidden("alice/shared/y"),
    )
    .await;
    s.check(delete(&format!("{alice_ns}/packages/shared")), 403, "")
        .await;
    s.check(put(&format!("{alice_ns}/packages/new"), json!({})), 403, "")
        .await;

    // Invoking a shared action runs as the caller, records in the caller's namespace.
    let r = s
        .check(
            post(
                &format!("{alice_ns}/actions/shared/x?blocking=true"),
                json!({"q": 1}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["namespace"], "guest");
    assert_eq!(
        r["response"]["result"]["echo"],
        json!({"owner": "alice", "q": 1})
    );

    // Bindings to another namespace's shared package work; to a private one, 403.
    s.check(
        put(&format!("{PACKAGES}/mybind"), json!({"binding": {"namespace": "alice", "name": "shared"}, "parameters": [{"key": "mine", "value": true}]})),
        200,
        "",
    )
    .await;
    let r = s
        .check(
            post(
                &format!("{ACTIONS}/mybind/x?blocking=true&result=true"),
                json!({}),
            ),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["echo"], json!({"owner": "alice", "mine": true}));
    assert_eq!(r["action"], "alice/shared/x");
    s.check(
        put(
            &format!("{PACKAGES}/bad"),
            json!({"binding": {"namespace": "alice", "name": "priv"}}),
        ),
        403,
        &forbidden("alice/priv"),
    )
    .await;

    // The owner sees everything.
    let own = s
        .check(
            get(&format!("{alice_ns}/packages")).auth(&as_alice),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(names(&own), ["abind", "priv", "shared"]);
}

#[tokio::test]
async fn whisk_system_alarms_is_shared() {
    // `utils` needs a Node.js kind, which the standard manifest has.
    let s = Stack::start_with(ControllerConfig {
        runtimes: RuntimeManifest::standard(),
        ..support::config()
    })
    .await;
    let ns = "/api/v1/namespaces/whisk.system";
    let list = s
        .check(get(&format!("{ns}/packages")), 200, "")
        .await
        .json();
    let mut listed = names(&list);
    listed.sort();
    assert_eq!(listed, ["alarms", "utils"]);
    let utils = s
        .check(get(&format!("{ns}/packages/utils")), 200, "")
        .await
        .json();
    assert_eq!(utils["publish"], true);
    let mut actions = names(&utils["actions"]);
    actions.sort();
    assert_eq!(
        actions,
        ["cat", "date", "echo", "head", "namespace", "sort", "split"]
    );
    let alarms = s
        .check(get(&format!("{ns}/packages/alarms")), 200, "")
        .await
        .json();
    assert_eq!(alarms["publish"], true);
    assert_eq!(names(&alarms["feeds"]), ["alarm", "interval", "once"]);
    assert_eq!(alarms["actions"], json!([]));
    // Starting again over the same store changes nothing.
    let mut s = s;
    s.restart_controller().await;
    let again = s
        .check(get(&format!("{ns}/packages/alarms")), 200, "")
        .await
        .json();
    assert_eq!(again["updated"], alarms["updated"]);
}
