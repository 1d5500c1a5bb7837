//! The credentials actions get, through the router (fake invoker at the bus seam): messages
//! name the identity an activation's key is minted for (the action's owner, never the
//! caller's key), and the controller accepts an activation key as that owner only while
//! its activation runs.

mod support;

use serde_json::{json, Value};
use support::{basic, eventually, get, post, put, Stack};
use whisk_store::{ActivationStore, IdentityStore};
use whisk_types::{
    now_millis, Activation, ActivationId, ActivationResponse, AuthKey, EntityName, EntityPath,
    Parameters, SigningKey,
};

const NAMESPACES: &str = "/api/v1/namespaces";
const INVALID: &str = "The supplied authentication is invalid";

/// A record for activation `id` in `namespace`, as an invoker stores it at the end.
fn finished(id: ActivationId, namespace: &str) -> Activation {
    let now = now_millis();
    Activation {
        namespace: EntityPath::namespace_only(EntityName::new(namespace).unwrap()),
        name: EntityName::new("a").unwrap(),
        subject: namespace.into(),
        activation_id: id,
        start: now,
        end: now,
        duration: Some(0),
        cause: None,
        response: ActivationResponse::success(json!({}), None),
        logs: Vec::new(),
        version: Default::default(),
        publish: false,
        annotations: Parameters::default(),
    }
}

#[tokio::test]
async fn an_activation_key_acts_as_its_owner_until_the_record_is_stored() {
    let s = Stack::start().await;
    let alice = s.add_subject("alice").await;
    s.create_action("a", json!({})).await;
    let signing = &s.config.signing_key;
    let id = ActivationId::generate();
    let key = signing.mint(s.guest.uuid, id, now_millis() + 60_000);
    assert_ne!(key, s.guest);
    assert_eq!(key.uuid, s.guest.uuid);

    // While the activation runs: the owner's namespace, its actions, invokes.
    s.check(get(NAMESPACES).with_key(&key), 200, r#"["guest"]"#)
        .await;
    s.check(
        get(&format!("{NAMESPACES}/_/actions")).with_key(&key),
        200,
        r#""name":"a""#,
    )
    .await;
    s.check(
        post(
            &format!("{NAMESPACES}/guest/actions/a?blocking=true"),
            json!({}),
        )
        .with_key(&key),
        200,
        r#""namespace":"guest""#,
    )
    .await;
    // Never another namespace.
    for uri in ["alice/actions", "alice/triggers", "alice/activations"] {
        s.check(get(&format!("{NAMESPACES}/{uri}")).with_key(&key), 403, "")
            .await;
    }
    s.check(
        put(
            &format!("{NAMESPACES}/alice/actions/x"),
            json!({"exec": {"kind": "blackbox", "image": "i"}}),
        )
        .with_key(&key),
        403,
        "",
    )
    .await;

    // Once the activation's record is stored: refused.
    ActivationStore::put(s.store.as_ref(), &finished(id, "guest"))
        .await
        .unwrap();
    s.check(get(NAMESPACES).with_key(&key), 401, INVALID).await;

    // Expired, signed by another key, changed, or for a uuid no subject has: refused.
    let refused = [
        signing.mint(s.guest.uuid, ActivationId::generate(), now_millis() - 1),
        SigningKey::generate().mint(
            s.guest.uuid,
            ActivationId::generate(),
            now_millis() + 60_000,
        ),
        signing.mint(
            uuid::Uuid::new_v4(),
            ActivationId::generate(),
            now_millis() + 60_000,
        ),
        {
            let mut k = signing.mint(
                s.guest.uuid,
                ActivationId::generate(),
                now_millis() + 60_000,
            );
            let last = if k.secret.ends_with('a') { "b" } else { "a" };
            k.secret.replace_range(63.., last);
            k
        },
    ];
    for k in &refused {
        assert!(AuthKey::parse(&k.to_string()).is_some(), "well-formed");
        s.check(get(NAMESPACES).with_key(k), 401, INVALID).await;
    }

    // A key minted for alice is alice, and only alice.
    let for_alice = signing.mint(alice.uuid, ActivationId::generate(), now_millis() + 60_000);
    s.check(get(NAMESPACES).with_key(&for_alice), 200, r#"["alice"]"#)
        .await;
    s.check(
        get(&format!("{NAMESPACES}/guest/actions")).with_key(&for_alice),
        403,
        "",
    )
    .await;
    // The subjects' own keys still work.
    s.check(get(NAMESPACES), 200, r#"["guest"]"#).await;
    s.check(get(NAMESPACES).auth(&basic(&alice)), 200, r#"["alice"]"#)
        .await;

    // Once alice's namespace is blocked, her activations' keys are refused as her own is.
    IdentityStore::block_namespace(s.store.as_ref(), &EntityName::new("alice").unwrap(), true)
        .await
        .unwrap();
    s.check(get(NAMESPACES).with_key(&for_alice), 401, INVALID)
        .await;
}

#[tokio::test]
async fn an_activation_key_meets_require_whisk_auth_and_is_not_passed_on() {
    let s = Stack::start().await;
    s.behave("guest/sec", |input| {
        ActivationResponse::success(json!({"input": input}), None)
    });
    s.create_action(
        "sec",
        json!({"annotations": [{"key": "web-export", "value": true}, {"key": "require-whisk-auth", "value": true}]}),
    )
    .await;
    let key = s.config.signing_key.mint(
        s.guest.uuid,
        ActivationId::generate(),
        now_millis() + 60_000,
    );
    let r = s
        .check(
            get("/api/v1/web/guest/default/sec.json").with_key(&key),
            200,
            "",
        )
        .await;
    let input = &r.json()["input"];
    assert_eq!(input["__ow_user"], "guest");
    assert!(
        input["__ow_headers"].get("authorization").is_none(),
        "{input}"
    );
}

/// The blocking result of invoking `uri` (`ns/actions/...`) as `key`.
async fn invoke_as(s: &Stack, key: &AuthKey, uri: &str) -> Value {
    s.check(
        post(
            &format!("{NAMESPACES}/{uri}?blocking=true&result=true"),
            json!({}),
        )
        .with_key(key),
        200,
        "",
    )
    .await
    .json()
}

#[tokio::test]
async fn messages_name_the_action_owner_and_carry_no_key() {
    let s = Stack::start().await;
    let alice = s.add_subject("alice").await;
    let provide = json!({"annotations": [{"key": "provide-api-key", "value": true}]});
    s.create_action("own", provide.clone()).await;
    s.create_action("nokey", json!({})).await;
    s.check(
        put(
            &format!("{NAMESPACES}/_/packages/pub"),
            json!({"publish": true}),
        ),
        200,
        "",
    )
    .await;
    s.create_action("pub/x", provide.clone()).await;

    // Own action: the caller is the owner. `provide-api-key: false` (the default on
    // create): nobody.
    let r = invoke_as(&s, &s.guest, "_/actions/own").await;
    assert_eq!(r["api_key_owner"], "guest");
    let r = invoke_as(&s, &s.guest, "_/actions/nokey").await;
    assert_eq!(r["api_key"], false);
    assert!(r.get("api_key_owner").is_none());

    // A shared package's action run by alice: its owner's key, never alice's; directly
    // and through alice's binding.
    let r = invoke_as(&s, &alice, "guest/actions/pub/x").await;
    assert_eq!(r["api_key_owner"], "guest");
    s.check(
        put(
            &format!("{NAMESPACES}/_/packages/b"),
            json!({"binding": {"namespace": "guest", "name": "pub"}}),
        )
        .with_key(&alice),
        200,
        "",
    )
    .await;
    let r = invoke_as(&s, &alice, "_/actions/b/x").await;
    assert_eq!(r["api_key_owner"], "guest");

    // A sequence's components and a rule's action get their owners too.
    s.check(
        put(
            &format!("{NAMESPACES}/_/actions/seq"),
            json!({"exec": {"kind": "sequence", "components": ["/guest/pub/x"]}}),
        )
        .with_key(&alice),
        200,
        "",
    )
    .await;
    let r = invoke_as(&s, &alice, "_/actions/seq").await;
    assert_eq!(r["api_key_owner"], "guest");
    s.check(
        put(&format!("{NAMESPACES}/_/triggers/t"), json!({})),
        200,
        "",
    )
    .await;
    s.check(
        put(
            &format!("{NAMESPACES}/_/rules/r"),
            json!({"trigger": "/_/t", "action": "/_/own"}),
        ),
        200,
        "",
    )
    .await;
    let fired = s
        .check(
            post(&format!("{NAMESPACES}/_/triggers/t"), json!({})),
            202,
            "",
        )
        .await;
    assert!(fired.text.contains("activationId"));
    let fired_owner = eventually("the rule's activation", || async {
        let recs = s.records("guest").await;
        recs.iter()
            .find(|a| {
                a.name.as_str() == "own" && a.response.result["echo"].get("__ow_headers").is_some()
            })
            .map(|a| a.response.result["api_key_owner"].clone())
    })
    .await;
    assert_eq!(fired_owner, "guest");

    // A web action runs as its owner whoever calls it, with the owner's key.
    s.create_action(
        "web",
        json!({"annotations": [{"key": "web-export", "value": true}, {"key": "provide-api-key", "value": true}]}),
    )
    .await;
    let r = s
        .check(
            get("/api/v1/web/guest/default/web.json").with_key(&alice),
            200,
            "",
        )
        .await
        .json();
    assert_eq!(r["api_key_owner"], "guest");

    // A conductor's steps: each action's own owner.
    s.behave("alice/cond", |input| {
        if input.get("api_key_owner").is_some() {
            ActivationResponse::success(json!({"step_owner": input["api_key_owner"]}), None)
        } else {
            ActivationResponse::success(json!({"action": "/guest/pub/x", "params": {}}), None)
        }
    });
    s.check(
        put(
            &format!("{NAMESPACES}/_/actions/cond"),
            json!({"exec": {"kind": "blackbox", "image": "i"},
                   "annotations": [{"key": "conductor", "value": true}]}),
        )
        .with_key(&alice),
        200,
        "",
    )
    .await;
    let r = invoke_as(&s, &alice, "_/actions/cond").await;
    assert_eq!(r["step_owner"], "guest", "{r}");

    // No message held a key: neither the callers' nor any other.
    let published = s.published();
    assert!(published.len() >= 6, "{}", published.len());
    for msg in &published {
        let text = String::from_utf8_lossy(msg);
        for key in [&s.guest, &alice] {
            assert!(!text.contains(&key.secret), "{text}");
        }
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.get("api_key").is_none(), "{text}");
    }
}
