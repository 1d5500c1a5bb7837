//! The annotations `action create|update --web` and `--web-secure` add (reference §9.3,
//! §6.7), with OpenWhisk's CLI rules for what an update keeps of the existing action:
//! - `--web true|yes` sets `web-export: true, raw-http: false, final: true`; `raw` sets all
//!   three true; `false|no` sets all three false.
//! - `--web-secure true` sets `require-whisk-auth` to a random number (kept when the action
//!   already has a number), `false` removes it (`delAnnotations`), any other value is the
//!   secret itself. It needs `--web` on, or an existing web action not being turned off.
//! - Without `-a`, an update carries the existing annotations forward.

use std::hash::{BuildHasher, Hasher};

use serde_json::{json, Value};

use crate::error::EXIT_USAGE;
use crate::CliError;

/// `web-export`.
pub const WEB_EXPORT: &str = "web-export";
/// `raw-http`.
pub const RAW_HTTP: &str = "raw-http";
/// `final`.
pub const FINAL: &str = "final";
/// `require-whisk-auth`.
pub const REQUIRE_WHISK_AUTH: &str = "require-whisk-auth";

/// The largest integer JavaScript holds exactly; secrets are kept below it.
const MAX_JS_INT: u64 = (1 << 53) - 1;

/// The annotations to send and, when `--web-secure false` removes a secret, the
/// `delAnnotations` that replace any given with `--del-annotation`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebOutcome {
    /// `None` when nothing is sent.
    pub annotations: Option<Vec<Value>>,
    /// `Some` when the delete list is replaced.
    pub del_annotations: Option<Vec<String>>,
}

fn usage(message: &str) -> CliError {
    CliError::Exit {
        message: message.to_owned(),
        code: EXIT_USAGE,
        usage: true,
    }
}

fn key_of(kv: &Value) -> &str {
    kv.get("key").and_then(Value::as_str).unwrap_or("")
}

fn value_of<'a>(list: &'a [Value], key: &str) -> Option<&'a Value> {
    list.iter()
        .find(|kv| key_of(kv) == key)
        .and_then(|kv| kv.get("value"))
}

/// Appends the items of `theirs` whose key (compared without case) `list` lacks.
pub fn append_missing(list: &mut Vec<Value>, theirs: &[Value]) {
    for kv in theirs {
        let key = key_of(kv);
        if !list.iter().any(|m| key_of(m).eq_ignore_ascii_case(key)) {
            list.push(kv.clone());
        }
    }
}

fn annotations_of(action: &Value) -> Vec<Value> {
    action
        .get("annotations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn only(action: &Value, keys: &[&str]) -> Vec<Value> {
    let all = annotations_of(action);
    keys.iter()
        .filter_map(|k| all.iter().find(|kv| key_of(kv).eq_ignore_ascii_case(k)))
        .cloned()
        .collect()
}

fn is_web(list: &[Value]) -> bool {
    value_of(list, WEB_EXPORT).and_then(Value::as_bool) == Some(true)
}

fn set_web(list: &mut Vec<Value>, export: bool, raw: bool, fin: bool) {
    for key in [WEB_EXPORT, RAW_HTTP, FINAL] {
        if let Some(i) = list.iter().position(|kv| key_of(kv) == key) {
            list.remove(i);
        }
    }
    list.push(json!({"key": WEB_EXPORT, "value": export}));
    list.push(json!({"key": RAW_HTTP, "value": raw}));
    list.push(json!({"key": FINAL, "value": fin}));
}

/// A random secret below 2^53, as `--web-secure true` makes.
fn random_secret() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() & MAX_JS_INT
}

/// The `require-whisk-auth` value for a `--web-secure` value: a number, `false`, or the
/// string itself.
fn secret_for(mode: &str) -> Value {
    match mode.to_ascii_lowercase().as_str() {
        "true" => Value::from(random_secret()),
        "false" => Value::Bool(false),
        _ => Value::String(mode.to_owned()),
    }
}

/// Adds the `--web` and `--web-secure` annotations to `annotations` (those given with `-a`,
/// `None` when none were). `existing` is the action an update changes.
///
/// # Errors
/// An invalid `--web` value, or `--web-secure` on an action that is not a web action.
pub fn augment(
    annotations: Option<Vec<Value>>,
    web: Option<&str>,
    web_secure: Option<&str>,
    existing: Option<&Value>,
) -> Result<WebOutcome, CliError> {
    let mut annotations = annotations;
    let mut del_annotations = None;
    if let Some(mode) = web {
        let mut list = annotations.clone().unwrap_or_default();
        if annotations.is_none() {
            if let Some(ex) = existing {
                append_missing(&mut list, &annotations_of(ex));
            }
        }
        match mode.to_ascii_lowercase().as_str() {
            "yes" | "true" => set_web(&mut list, true, false, true),
            "no" | "false" => set_web(&mut list, false, false, false),
            "raw" => set_web(&mut list, true, true, true),
            _ => {
                return Err(usage(&format!(
                    "Invalid argument '{mode}' for --web flag. Valid input consist of 'yes', 'true', 'raw', 'false', or 'no'."
                )))
            }
        }
        if let Some(ex) = existing {
            // An existing secret is carried forward; --web-secure may change it below.
            append_missing(&mut list, &only(ex, &[REQUIRE_WHISK_AUTH]));
        }
        annotations = Some(list);
    }
    if let Some(mode) = web_secure {
        let disable_web =
            web.is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "false" | "no"));
        let web_now = annotations.as_deref().is_some_and(is_web);
        let web_before = existing.is_some_and(|ex| is_web(&annotations_of(ex)));
        let valid = web_now || (web_before && !disable_web);
        if !valid {
            return Err(usage(
                "The --web-secure option is only valid when the --web option is enabled.",
            ));
        }
        let preserve = annotations.is_none();
        let mut list = annotations.unwrap_or_default();
        if let Some(ex) = existing {
            if preserve {
                append_missing(&mut list, &annotations_of(ex));
            } else {
                append_missing(&mut list, &only(ex, &[WEB_EXPORT, RAW_HTTP, FINAL]));
                append_missing(&mut list, &only(ex, &[REQUIRE_WHISK_AUTH]));
            }
        }
        let secret = secret_for(mode);
        let current = value_of(&list, REQUIRE_WHISK_AUTH).cloned();
        let disable = secret == Value::Bool(false);
        if current.is_some() && disable {
            del_annotations = Some(vec![REQUIRE_WHISK_AUTH.to_owned()]);
        }
        let keep_number = current.as_ref().is_some_and(Value::is_number) && secret.is_number();
        if keep_number {
            // The existing numeric secret stays.
        } else if current.is_some() && disable {
            if let Some(i) = list.iter().position(|kv| key_of(kv) == REQUIRE_WHISK_AUTH) {
                list.remove(i);
            }
        } else {
            match list
                .iter_mut()
                .find(|kv| key_of(kv).eq_ignore_ascii_case(REQUIRE_WHISK_AUTH))
            {
                Some(kv) => kv["value"] = secret,
                None => list.push(json!({"key": REQUIRE_WHISK_AUTH, "value": secret})),
            }
        }
        annotations = Some(list);
    }
    Ok(WebOutcome {
        annotations,
        del_annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: Value) -> Value {
        json!({"key": key, "value": value})
    }

    fn web_three(export: bool, raw: bool, fin: bool) -> Vec<Value> {
        vec![
            kv(WEB_EXPORT, json!(export)),
            kv(RAW_HTTP, json!(raw)),
            kv(FINAL, json!(fin)),
        ]
    }

    #[test]
    fn web_modes() {
        for (mode, expected) in [
            ("true", web_three(true, false, true)),
            ("YES", web_three(true, false, true)),
            ("raw", web_three(true, true, true)),
            ("false", web_three(false, false, false)),
            ("no", web_three(false, false, false)),
        ] {
            let out = augment(None, Some(mode), None, None).unwrap();
            assert_eq!(out.annotations, Some(expected), "{mode}");
            assert_eq!(out.del_annotations, None);
        }
        let e = augment(None, Some("maybe"), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "Invalid argument 'maybe' for --web flag. Valid input consist of 'yes', 'true', 'raw', 'false', or 'no'.");
    }

    #[test]
    fn update_keeps_existing_annotations() {
        let existing = json!({"annotations": [kv("exec", json!("nodejs:20")), kv(WEB_EXPORT, json!(true)),
            kv(RAW_HTTP, json!(false)), kv(FINAL, json!(true)), kv(REQUIRE_WHISK_AUTH, json!(1234))]});
        // --web raw without -a: everything carried forward, the web trio replaced.
        let out = augment(None, Some("raw"), None, Some(&existing)).unwrap();
        let mut expected = vec![
            kv("exec", json!("nodejs:20")),
            kv(REQUIRE_WHISK_AUTH, json!(1234)),
        ];
        expected.extend(web_three(true, true, true));
        assert_eq!(out.annotations, Some(expected));

        // --web-secure true keeps an existing numeric secret.
        let out = augment(None, None, Some("true"), Some(&existing)).unwrap();
        let list = out.annotations.unwrap();
        assert_eq!(value_of(&list, REQUIRE_WHISK_AUTH), Some(&json!(1234)));
        assert_eq!(list.len(), 5);

        // --web-secure false removes it.
        let out = augment(None, None, Some("false"), Some(&existing)).unwrap();
        assert_eq!(
            out.del_annotations,
            Some(vec![REQUIRE_WHISK_AUTH.to_owned()])
        );
        assert_eq!(
            value_of(&out.annotations.unwrap(), REQUIRE_WHISK_AUTH),
            None
        );

        // With -a, only the web annotations of the existing action come along.
        let given = vec![kv("description", json!("d"))];
        let out = augment(Some(given), None, Some("s"), Some(&existing)).unwrap();
        let list = out.annotations.unwrap();
        assert_eq!(list[0], kv("description", json!("d")));
        assert_eq!(value_of(&list, REQUIRE_WHISK_AUTH), Some(&json!("s")));
        assert_eq!(value_of(&list, "exec"), None);

        // Turning the web off makes --web-secure invalid.
        let e = augment(None, Some("false"), Some("s"), Some(&existing)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn secrets() {
        let out = augment(None, Some("true"), Some("true"), None).unwrap();
        let list = out.annotations.unwrap();
        let secret = value_of(&list, REQUIRE_WHISK_AUTH)
            .and_then(Value::as_u64)
            .unwrap();
        assert!(secret <= MAX_JS_INT);
        let out = augment(None, Some("true"), Some("false"), None).unwrap();
        // No secret to remove: Go's CLI stores `false`, which requires nothing.
        assert_eq!(
            value_of(&out.annotations.unwrap(), REQUIRE_WHISK_AUTH),
            Some(&json!(false))
        );
        assert_eq!(out.del_annotations, None);
    }
}
