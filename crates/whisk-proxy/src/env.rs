//! The environment of a run: the proxy's own environment, then `/init`'s `value.env`,
//! then `__OW_<KEY>` for every key of the `/run` body besides `value` (later ones win).
//!
//! Values that are strings are used as they are; other JSON values are JSON-encoded.
//! Pairs that the OS cannot carry (an empty name, a name with `=` or NUL, a value with NUL)
//! are left out rather than failing the activation.

use serde_json::{Map, Value};
use whisk_protocol::{env_name, KEY_VALUE};

/// A variable name and its value.
pub(crate) type EnvPair = (String, String);

/// The text of a JSON value as an environment value: strings as-is, the rest JSON-encoded.
pub(crate) fn env_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn usable(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0')
}

/// `/init`'s `value.env` as variables, names unchanged.
pub(crate) fn init_env(env: &Map<String, Value>) -> Vec<EnvPair> {
    env.iter()
        .map(|(name, value)| (name.clone(), env_text(value)))
        .filter(|(name, value)| usable(name, value))
        .collect()
}

/// The `/run` context (the body without `value`) as `__OW_<KEY uppercased>` variables
/// ([`whisk_protocol::env_name`]).
pub(crate) fn run_env(context: &Map<String, Value>) -> Vec<EnvPair> {
    context
        .iter()
        .filter(|(key, _)| key.as_str() != KEY_VALUE)
        .map(|(key, value)| (env_name(key), env_text(value)))
        .filter(|(name, value)| usable(name, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn pair(name: &str, value: &str) -> EnvPair {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn run_keys_are_prefixed_and_uppercased() {
        let env = run_env(&map(json!({
            "namespace": "guest",
            "action_name": "/guest/hello",
            "activation_id": "c7bb1339cb4f40e3a6ccead6c99f804e",
            "deadline": "1570223213407",
            "api_key": "uuid:key",
        })));
        assert!(env.contains(&pair("__OW_NAMESPACE", "guest")));
        assert!(env.contains(&pair("__OW_ACTION_NAME", "/guest/hello")));
        assert!(env.contains(&pair(
            "__OW_ACTIVATION_ID",
            "c7bb1339cb4f40e3a6ccead6c99f804e"
        )));
        assert!(env.contains(&pair("__OW_DEADLINE", "1570223213407")));
        assert!(env.contains(&pair("__OW_API_KEY", "uuid:key")));
        assert_eq!(env.len(), 5);
    }

    #[test]
    fn non_string_values_are_json_encoded() {
        let env = run_env(&map(json!({
            "deadline": 1570223213407_u64,
            "extra": {"a": [1, true]},
            "flag": false,
            "none": null,
        })));
        assert!(env.contains(&pair("__OW_DEADLINE", "1570223213407")));
        assert!(env.contains(&pair("__OW_EXTRA", r#"{"a":[1,true]}"#)));
        assert!(env.contains(&pair("__OW_FLAG", "false")));
        assert!(env.contains(&pair("__OW_NONE", "null")));
    }

    #[test]
    fn value_is_never_exported() {
        assert!(run_env(&map(json!({"value": {"a": 1}}))).is_empty());
    }

    #[test]
    fn unusable_pairs_are_skipped() {
        let env = run_env(&map(
            json!({"a=b": "x", "nul\u{0}": "x", "ok": "nul\u{0}", "": "e"}),
        ));
        // The empty key still makes a usable name, `__OW_`.
        assert_eq!(env, vec![pair("__OW_", "e")]);
        let env = init_env(&map(json!({"": "x", "A=B": "x", "GOOD": "1"})));
        assert_eq!(env, vec![pair("GOOD", "1")]);
    }

    #[test]
    fn init_env_keeps_names_and_encodes_values() {
        let env = init_env(&map(
            json!({"MY_PARAM": "v", "__OW_API_KEY": "k", "N": 3, "O": {"x": "y"}}),
        ));
        assert!(env.contains(&pair("MY_PARAM", "v")));
        assert!(env.contains(&pair("__OW_API_KEY", "k")));
        assert!(env.contains(&pair("N", "3")));
        assert!(env.contains(&pair("O", r#"{"x":"y"}"#)));
    }
}
