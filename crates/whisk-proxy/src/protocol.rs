//! The wire side of the container protocol: the `/init` and `/run` bodies, the replies,
//! the fixed error texts the invoker and users see, and the log sentinel.

use serde_json::{Map, Value};

/// The line written to stdout and stderr after every `/init` and `/run`.
pub const SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

/// 403 on a second `/init`.
pub const ERR_REINIT: &str = "Cannot initialize the action more than once.";
/// 502 when `/init` cannot produce an executable `exec`.
pub const ERR_INIT_FAILED: &str =
    "The action failed to generate or locate a binary. See logs for details.";
/// 404 when the `/run` value is neither an object nor an array.
pub const ERR_RUN_BAD_ARGUMENT: &str =
    "The action did not receive a dictionary or array as an argument.";
/// 502 when the last stdout line is not a JSON object or array.
pub const ERR_RUN_BAD_RESULT: &str = "The action did not return a dictionary or array.";
/// 502 when there is no executable `exec` to run.
pub const ERR_RUN_NO_BINARY: &str = "The action failed to locate a binary. See logs for details.";
/// 502 (actionloop) when the action's process ended before acknowledging its start-up
/// (OpenWhisk's text for an action container that died during `/init`).
pub const ERR_LOOP_INIT_EXITED: &str = "The action did not initialize and exited unexpectedly.";
/// 502 (actionloop) when the action's process ended before writing its result line
/// (OpenWhisk's text for an action container that died during `/run`).
pub const ERR_LOOP_RUN_EXITED: &str =
    "The action did not produce a valid response and exited unexpectedly.";
/// 502 (actionloop) when the action's process cannot be started, or its start-up
/// acknowledgement is not `{"ok":true}`.
pub const ERR_LOOP_START: &str = "The action failed to start. See logs for details.";

/// A reply to send: the status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    /// `status` with `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::String(message.into()));
        Self {
            status,
            body: Value::Object(body),
        }
    }
}

/// A request body that cannot be understood; answered with 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadRequest {
    /// The body is not JSON.
    #[error("The request body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("The request body is not a JSON object.")]
    NotAnObject,
    /// A field of `value` has the wrong JSON type.
    #[error("The field value.{0} has the wrong type.")]
    WrongType(&'static str),
}

/// The `value` of a `/init` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InitRequest {
    /// The program: a script, or base64 of a zip when `binary`; `None` keeps the image's own.
    pub code: Option<String>,
    /// Whether `code` is base64 of a zip.
    pub binary: bool,
    /// The entry point name: given to an actionloop launcher; unused by exec-per-run.
    pub main: Option<String>,
    /// The action's simple name (informational).
    pub name: Option<String>,
    /// `value.env`: variables for every run, in the order given.
    pub env: Map<String, Value>,
}

/// A `/run` body, split into the argument and the activation context.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The argument: an object, or an array for sequence pass-through.
    pub value: Value,
    /// Every other key of the body (`namespace`, `action_name`, `activation_id`,
    /// `transaction_id`, `deadline`, `api_key`, ...), exported as `__OW_<KEY>`.
    pub context: Map<String, Value>,
}

/// Why a `/run` body is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunRequestError {
    /// Answered 400.
    #[error(transparent)]
    BadRequest(#[from] BadRequest),
    /// `value` is not an object or array: answered 404 as the skeleton does.
    #[error("{}", ERR_RUN_BAD_ARGUMENT)]
    BadArgument,
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BadRequest::NotAnObject),
        Err(err) => Err(BadRequest::NotJson(err.to_string())),
    }
}

fn opt_string(value: &Map<String, Value>, key: &'static str) -> Result<Option<String>, BadRequest> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(BadRequest::WrongType(key)),
    }
}

/// Parses a `/init` body `{"value": {code?, binary?, main?, name?, env?}}`.
///
/// A missing or null `value` is an empty one (no code: keep the image's `exec`).
///
/// # Errors
///
/// [`BadRequest`] when the body is not a JSON object or a known field has the wrong type.
pub fn parse_init(body: &[u8]) -> Result<InitRequest, BadRequest> {
    let mut body = parse_object(body)?;
    let value = match body.remove("value") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(BadRequest::WrongType("value")),
    };
    let binary = match value.get("binary") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(BadRequest::WrongType("binary")),
    };
    let env = match value.get("env") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(BadRequest::WrongType("env")),
    };
    Ok(InitRequest {
        code: opt_string(&value, "code")?,
        binary,
        main: opt_string(&value, "main")?,
        name: opt_string(&value, "name")?,
        env,
    })
}

/// Parses a `/run` body `{"value": ..., "namespace": ..., ...}`.
///
/// A missing `value` counts as `{}`, as in the skeleton.
///
/// # Errors
///
/// [`RunRequestError::BadRequest`] when the body is not a JSON object,
/// [`RunRequestError::BadArgument`] when `value` is neither an object nor an array.
pub fn parse_run(body: &[u8]) -> Result<RunRequest, RunRequestError> {
    let mut context = parse_object(body)?;
    let value = context
        .remove("value")
        .unwrap_or_else(|| Value::Object(Map::new()));
    if !(value.is_object() || value.is_array()) {
        return Err(RunRequestError::BadArgument);
    }
    Ok(RunRequest { value, context })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn init_with_code_env_and_binary() {
        let body = br##"{"value":{"name":"hello","main":"main","binary":false,"code":"#!/bin/sh","env":{"A":"1"}}}"##;
        let init = parse_init(body).unwrap();
        assert_eq!(init.code.as_deref(), Some("#!/bin/sh"));
        assert!(!init.binary);
        assert_eq!(init.main.as_deref(), Some("main"));
        assert_eq!(init.name.as_deref(), Some("hello"));
        assert_eq!(init.env.get("A"), Some(&json!("1")));
    }

    #[test]
    fn init_without_code_or_value_keeps_the_image_exec() {
        assert_eq!(
            parse_init(br#"{"value":{}}"#).unwrap(),
            InitRequest::default()
        );
        assert_eq!(parse_init(b"{}").unwrap(), InitRequest::default());
        assert_eq!(
            parse_init(br#"{"value":{"code":null,"env":null}}"#).unwrap(),
            InitRequest::default()
        );
    }

    #[test]
    fn init_rejects_bad_bodies() {
        assert!(matches!(parse_init(b"nope"), Err(BadRequest::NotJson(_))));
        assert_eq!(parse_init(b"[1]"), Err(BadRequest::NotAnObject));
        assert_eq!(
            parse_init(br#"{"value":3}"#),
            Err(BadRequest::WrongType("value"))
        );
        assert_eq!(
            parse_init(br#"{"value":{"code":1}}"#),
            Err(BadRequest::WrongType("code"))
        );
        assert_eq!(
            parse_init(br#"{"value":{"binary":"yes"}}"#),
            Err(BadRequest::WrongType("binary"))
        );
        assert_eq!(
            parse_init(br#"{"value":{"env":[]}}"#),
            Err(BadRequest::WrongType("env"))
        );
    }

    #[test]
    fn run_splits_value_and_context() {
        let run = parse_run(br#"{"value":{"k":"v"},"namespace":"guest","deadline":"1"}"#).unwrap();
        assert_eq!(run.value, json!({"k":"v"}));
        assert_eq!(run.context.len(), 2);
        assert_eq!(run.context["namespace"], json!("guest"));
        assert!(!run.context.contains_key("value"));
    }

    #[test]
    fn run_accepts_arrays_and_a_missing_value() {
        assert_eq!(
            parse_run(br#"{"value":[1,2]}"#).unwrap().value,
            json!([1, 2])
        );
        assert_eq!(parse_run(b"{}").unwrap().value, json!({}));
    }

    #[test]
    fn run_rejects_scalars_with_bad_argument_and_non_objects_as_bad_requests() {
        for body in [
            &br#"{"value":1}"#[..],
            br#"{"value":"s"}"#,
            br#"{"value":null}"#,
        ] {
            assert_eq!(parse_run(body), Err(RunRequestError::BadArgument));
        }
        assert!(matches!(
            parse_run(b"{"),
            Err(RunRequestError::BadRequest(BadRequest::NotJson(_)))
        ));
        assert_eq!(
            parse_run(b"[]"),
            Err(RunRequestError::BadRequest(BadRequest::NotAnObject))
        );
    }

    #[test]
    fn error_replies_have_an_error_field() {
        assert_eq!(
            Reply::error(403, ERR_REINIT).body,
            json!({"error": "Cannot initialize the action more than once."})
        );
    }
}
