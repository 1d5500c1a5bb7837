//! The container protocol (reference §8): everything the invoker and the action proxy
//! must agree on, written once.
//!
//! - The routes ([`PATH_INIT`], [`PATH_RUN`]) and the container's token: the variable that
//!   hands it to the proxy ([`ENV_TOKEN`]) and the header that carries it
//!   ([`authorization`], `Authorization: Bearer <token>`).
//! - The bodies as the invoker sends them ([`InitBody`], [`RunBody`], borrowed, serialized
//!   straight to bytes) and as the proxy reads them ([`parse_init`] into [`InitRequest`],
//!   [`parse_run`] into [`RunRequest`], lenient where the reference proxies are and with a
//!   typed refusal otherwise).
//! - The `/run` context keys ([`KEY_NAMESPACE`], ...) and their `__OW_<KEY>` variable names
//!   ([`env_name`]); how `/init`'s `env` values become strings ([`init_env_value`]).
//! - Error replies (`{"error": ...}`, [`error_body`]) and their fixed texts, word for word as
//!   OpenWhisk's runtimes give them.
//! - The log sentinel ([`SENTINEL`], [`find_sentinel`]) that closes every `/init` and `/run`
//!   on stdout and on stderr.
//! - Concurrent activations in one container ([`ENV_ALLOW_CONCURRENT`], [`KEY_CONCURRENT`]):
//!   each log line of a run, and its sentinel, carries the run's tag ([`tag_line`],
//!   [`split_tag`]), so the invoker gives every activation only its own lines.
//!
//! No I/O, and no dependency beyond serde: the static proxy binary links it.

use serde::Serialize;
use serde_json::{Map, Value};

// === routes, token, sentinel ===

/// The route of the one `/init` per container.
pub const PATH_INIT: &str = "/init";
/// The route of each activation's `/run`.
pub const PATH_RUN: &str = "/run";

/// The container's secret, handed to the proxy in its environment. The proxy answers only
/// requests with `Authorization: Bearer <token>` ([`authorization`]). Unset or empty: the
/// proxy answers anyone.
pub const ENV_TOKEN: &str = "WHISK_PROXY_TOKEN";
/// The authorization scheme of the token (also the proxy's `WWW-Authenticate` challenge).
pub const AUTH_SCHEME: &str = "Bearer";

/// The whole `Authorization` header value that carries `token`: `Bearer <token>`.
pub fn authorization(token: &str) -> String {
    format!("{AUTH_SCHEME} {token}")
}

/// Set in the container's environment by the invoker: the API host, for actions that call
/// the API back (`/run` never carries it).
pub const ENV_API_HOST: &str = "__OW_API_HOST";

/// The line the proxy writes to stdout and to stderr after all output of each `/init` and
/// `/run`, flushed; the invoker collects a container's log up to it and drops it.
pub const SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

/// Where the sentinel starts in a log line, if the line holds one. Output written without
/// a final newline shares the sentinel's line: the text before it is the action's.
pub fn find_sentinel(line: &str) -> Option<usize> {
    line.find(SENTINEL)
}

// === concurrent runs ===

/// Set to `true` in `/init`'s `value.env` by the invoker for an action whose
/// `limits.concurrency` is above 1 (OpenWhisk sets it in the container's environment): the
/// container may get several `/run`s at once.
pub const ENV_ALLOW_CONCURRENT: &str = "__OW_ALLOW_CONCURRENT";

/// The key of a successful `/init` reply, `{"ok":true,"concurrent":true}`, by which a
/// container confirms that it serves `/run`s at once and tags their log lines. Without it
/// the invoker sends the container one activation at a time.
pub const KEY_CONCURRENT: &str = "concurrent";

/// What starts a tagged log line: the ASCII record separator, which no ordinary log holds.
pub const TAG_MARK: char = '\u{1e}';

/// Whether `tag` may tag a run's lines: 1 to 64 ASCII letters, digits, `-` or `_` (an
/// activation id is 32 hex digits).
pub fn valid_tag(tag: &str) -> bool {
    (1..=64).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `text` as a line of the run tagged `tag`: `<TAG_MARK><tag> <text>`.
pub fn tag_line(tag: &str, text: &str) -> String {
    let mut line = String::with_capacity(tag.len() + text.len() + 2);
    line.push(TAG_MARK);
    line.push_str(tag);
    line.push(' ');
    line.push_str(text);
    line
}

/// The tag and the text of a tagged line; `None` for an untagged one.
pub fn split_tag(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(TAG_MARK)?;
    let (tag, text) = rest.split_once(' ').unwrap_or((rest, ""));
    valid_tag(tag).then_some((tag, text))
}

// === context keys and variables ===

/// The `/run` key of the argument; every other key is activation context.
pub const KEY_VALUE: &str = "value";
/// The invoking namespace.
pub const KEY_NAMESPACE: &str = "namespace";
/// The action's fully qualified name with a leading slash.
pub const KEY_ACTION_NAME: &str = "action_name";
/// The action's version.
pub const KEY_ACTION_VERSION: &str = "action_version";
/// The activation id.
pub const KEY_ACTIVATION_ID: &str = "activation_id";
/// The transaction id.
pub const KEY_TRANSACTION_ID: &str = "transaction_id";
/// Epoch milliseconds, as a string, by which the activation must end.
pub const KEY_DEADLINE: &str = "deadline";
/// The activation's own API key (only when the action may have one).
pub const KEY_API_KEY: &str = "api_key";

/// The prefix of the context variables.
pub const ENV_PREFIX: &str = "__OW_";

/// The variable a context key is exported as: `__OW_<KEY uppercased>`.
pub fn env_name(key: &str) -> String {
    let mut name = String::with_capacity(ENV_PREFIX.len() + key.len());
    name.push_str(ENV_PREFIX);
    name.push_str(&key.to_uppercase());
    name
}

/// A value of `/init`'s `env` as the invoker sends it: strings as they are, `null` as
/// empty, others as their JSON text (every value is a string on the wire).
pub fn init_env_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

// === errors ===

/// The field of an error reply, and of a result that is an application error.
pub const ERROR_KEY: &str = "error";

/// `{"error": message}`: the body of every refusal and failure.
pub fn error_body(message: impl Into<String>) -> Value {
    let mut body = Map::new();
    body.insert(ERROR_KEY.to_owned(), Value::String(message.into()));
    Value::Object(body)
}

/// `{"ok":true}`: the body of a successful `/init` (the ActionLoop proxy's; the invoker
/// reads only the status).
pub fn init_ok_body() -> Value {
    let mut body = Map::new();
    body.insert("ok".to_owned(), Value::Bool(true));
    Value::Object(body)
}

/// `{"ok":true,"concurrent":true}`: the body of a successful `/init` of a container that
/// serves concurrent `/run`s ([`KEY_CONCURRENT`]).
pub fn init_ok_concurrent_body() -> Value {
    let mut body = Map::new();
    body.insert("ok".to_owned(), Value::Bool(true));
    body.insert(KEY_CONCURRENT.to_owned(), Value::Bool(true));
    Value::Object(body)
}

/// Whether a successful `/init` reply's body confirms concurrent runs.
pub fn init_confirms_concurrent(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get(KEY_CONCURRENT).and_then(Value::as_bool))
        .unwrap_or(false)
}

/// 403 on a second `/init`.
pub const ERR_REINIT: &str = "Cannot initialize the action more than once.";
/// 502 when `/init` cannot produce an executable `exec`.
pub const ERR_INIT_FAILED: &str =
    "The action failed to generate or locate a binary. See logs for details.";
/// 404 when the `/run` value is neither an object nor an array.
pub const ERR_RUN_BAD_ARGUMENT: &str =
    "The action did not receive a dictionary or array as an argument.";
/// 502 when the result is not a JSON object or array.
pub const ERR_RUN_BAD_RESULT: &str = "The action did not return a dictionary or array.";
/// 502 when there is no executable `exec` to run.
pub const ERR_RUN_NO_BINARY: &str = "The action failed to locate a binary. See logs for details.";
/// The action's process (or its container) ended during `/init`: the proxy's 502
/// (actionloop) and the invoker's developer error.
pub const ERR_INIT_EXITED: &str = "The action did not initialize and exited unexpectedly.";
/// The action's process (or its container) ended during `/run` before a result: the
/// proxy's 502 (actionloop) and the invoker's developer error.
pub const ERR_RUN_EXITED: &str =
    "The action did not produce a valid response and exited unexpectedly.";
/// 502 (actionloop) when the action's process cannot be started, or its start-up
/// acknowledgement is not `{"ok":true}`.
pub const ERR_LOOP_START: &str = "The action failed to start. See logs for details.";

// === bodies as the invoker sends them ===

/// The `value` of a `/init` body, `{"value":{"name","main","binary","code"?,"env"}}`
/// (reference §8.1). Borrowed: the code can be megabytes.
#[derive(Debug, Clone, Serialize)]
pub struct InitBody<'a> {
    /// The action's simple name.
    pub name: &'a str,
    /// The entry point (`main` when none is given).
    pub main: &'a str,
    /// Whether `code` is base64 of a zip.
    pub binary: bool,
    /// The program; left out when the image brings its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    /// The first activation's `__OW_*` context and the `init` parameters, all strings
    /// ([`init_env_value`]).
    pub env: &'a Map<String, Value>,
}

impl InitBody<'_> {
    /// The JSON body: this, wrapped in `{"value": ...}`.
    pub fn to_vec(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wrapped<'b, 'a> {
            value: &'b InitBody<'a>,
        }
        // Strings, a bool and a map of JSON values cannot fail to serialize.
        serde_json::to_vec(&Wrapped { value: self }).unwrap_or_default()
    }
}

/// A `/run` body (reference §8.2): the argument and the activation context, flat.
#[derive(Debug, Clone, Serialize)]
pub struct RunBody<'a> {
    /// The argument: an object, or an array for sequence pass-through.
    pub value: &'a Value,
    /// The invoking namespace.
    pub namespace: &'a str,
    /// `/namespace[/package]/name`.
    pub action_name: &'a str,
    /// The action's version (`0.0.1`).
    pub action_version: &'a str,
    /// The activation id.
    pub activation_id: &'a str,
    /// The transaction id.
    pub transaction_id: &'a str,
    /// Epoch milliseconds as a string.
    pub deadline: &'a str,
    /// The activation's own API key; left out when the action may not have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<&'a str>,
}

impl RunBody<'_> {
    /// The JSON body.
    pub fn to_vec(&self) -> Vec<u8> {
        // Strings and a JSON value cannot fail to serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

// === bodies as the proxy reads them ===

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

/// The `value` of a `/init` body, as received.
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

/// A `/run` body as received, split into the argument and the activation context.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The argument: an object, or an array for sequence pass-through.
    pub value: Value,
    /// Every other key of the body (`namespace`, `action_name`, `activation_id`,
    /// `transaction_id`, `deadline`, `api_key`, ...), exported as `__OW_<KEY>`.
    pub context: Map<String, Value>,
}

impl RunRequest {
    /// The body again, one JSON object: what [`parse_run`] split, joined (the ActionLoop
    /// proxy hands it to the action's process as one line).
    pub fn into_body(self) -> Value {
        let RunRequest { value, mut context } = self;
        context.insert(KEY_VALUE.to_owned(), value);
        Value::Object(context)
    }
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
    let value = match body.remove(KEY_VALUE) {
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
        .remove(KEY_VALUE)
        .unwrap_or_else(|| Value::Object(Map::new()));
    if !(value.is_object() || value.is_array()) {
        return Err(RunRequestError::BadArgument);
    }
    Ok(RunRequest { value, context })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn tagged_lines_round_trip_and_untagged_ones_do_not_split() {
        let id = "0123456789abcdef0123456789abcdef";
        let line = tag_line(id, "hello world");
        assert_eq!(split_tag(&line), Some((id, "hello world")));
        assert_eq!(split_tag(&tag_line(id, "")), Some((id, "")));
        assert_eq!(split_tag(&format!("{TAG_MARK}{id}")), Some((id, "")));
        assert_eq!(split_tag("hello world"), None);
        assert_eq!(split_tag(&format!("{TAG_MARK}ba!d x")), None);
        assert_eq!(split_tag(&format!("{TAG_MARK} x")), None);
        assert!(!valid_tag(&"a".repeat(65)));
        let sentinel = tag_line(id, SENTINEL);
        assert_eq!(find_sentinel(split_tag(&sentinel).unwrap().1), Some(0));
    }

    #[test]
    fn init_replies_say_whether_runs_may_be_concurrent() {
        assert!(init_confirms_concurrent(
            init_ok_concurrent_body().to_string().as_bytes()
        ));
        assert!(!init_confirms_concurrent(
            init_ok_body().to_string().as_bytes()
        ));
        assert!(!init_confirms_concurrent(b"OK"));
        assert!(!init_confirms_concurrent(br#"{"concurrent":"yes"}"#));
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn run_body<'a>(value: &'a Value, api_key: Option<&'a str>) -> RunBody<'a> {
        RunBody {
            value,
            namespace: "guest",
            action_name: "/guest/hello",
            action_version: "0.0.1",
            activation_id: "c7bb1339cb4f40e3a6ccead6c99f804e",
            transaction_id: "iSOoNklk6V7l7eh8KJnvugidKEmaNJmv",
            deadline: "1570223213407",
            api_key,
        }
    }

    #[test]
    fn wire_names_are_openwhisks() {
        assert_eq!(SENTINEL, "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX");
        assert_eq!((PATH_INIT, PATH_RUN), ("/init", "/run"));
        assert_eq!(ENV_API_HOST, "__OW_API_HOST");
        assert_eq!(ENV_TOKEN, "WHISK_PROXY_TOKEN");
        assert_eq!(authorization("s3cret"), "Bearer s3cret");
    }

    #[test]
    fn run_body_is_the_reference_json() {
        let value = json!({"name": "World"});
        let sent: Value =
            serde_json::from_slice(&run_body(&value, Some("uuid:key")).to_vec()).expect("JSON");
        // Reference §8.2, key for key.
        assert_eq!(
            sent,
            json!({"value":{"name":"World"},
             "namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1",
             "activation_id":"c7bb1339cb4f40e3a6ccead6c99f804e",
             "transaction_id":"iSOoNklk6V7l7eh8KJnvugidKEmaNJmv",
             "deadline":"1570223213407","api_key":"uuid:key"})
        );
        let sent: Value = serde_json::from_slice(&run_body(&value, None).to_vec()).expect("JSON");
        assert!(sent.get(KEY_API_KEY).is_none());
    }

    #[test]
    fn run_body_keys_are_the_context_keys() {
        let value = json!({});
        let sent = map(serde_json::from_slice(&run_body(&value, Some("k")).to_vec()).unwrap());
        let mut keys: Vec<&str> = sent.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = vec![
            KEY_VALUE,
            KEY_NAMESPACE,
            KEY_ACTION_NAME,
            KEY_ACTION_VERSION,
            KEY_ACTIVATION_ID,
            KEY_TRANSACTION_ID,
            KEY_DEADLINE,
            KEY_API_KEY,
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn run_body_round_trips_through_parse_run() {
        for value in [json!({"a": [1, {"b": null}]}), json!([1, "two"]), json!({})] {
            let body = run_body(&value, Some("uuid:key"));
            let run = parse_run(&body.to_vec()).expect("accepted");
            assert_eq!(run.value, value);
            assert_eq!(run.context[KEY_NAMESPACE], "guest");
            assert_eq!(run.context[KEY_ACTION_NAME], "/guest/hello");
            assert_eq!(run.context[KEY_ACTION_VERSION], "0.0.1");
            assert_eq!(run.context[KEY_ACTIVATION_ID], body.activation_id);
            assert_eq!(run.context[KEY_TRANSACTION_ID], body.transaction_id);
            assert_eq!(run.context[KEY_DEADLINE], "1570223213407");
            assert_eq!(run.context[KEY_API_KEY], "uuid:key");
            assert_eq!(run.context.len(), 7);
        }
    }

    #[test]
    fn init_body_is_the_reference_json_and_round_trips() {
        let env = map(json!({"__OW_NAMESPACE": "guest", "MY_INIT_PARAM": "value"}));
        let body = InitBody {
            name: "hello",
            main: "main",
            binary: false,
            code: Some("function main(p){return p}"),
            env: &env,
        };
        let sent: Value = serde_json::from_slice(&body.to_vec()).unwrap();
        assert_eq!(
            sent,
            json!({"value":{"name":"hello","main":"main","binary":false,
                "code":"function main(p){return p}",
                "env":{"__OW_NAMESPACE":"guest","MY_INIT_PARAM":"value"}}})
        );
        let init = parse_init(&body.to_vec()).unwrap();
        assert_eq!(
            init,
            InitRequest {
                code: Some("function main(p){return p}".into()),
                binary: false,
                main: Some("main".into()),
                name: Some("hello".into()),
                env,
            }
        );

        // No code: left out, and the proxy keeps the image's own.
        let empty = Map::new();
        let body = InitBody {
            name: "n",
            main: "m",
            binary: true,
            code: None,
            env: &empty,
        };
        let sent: Value = serde_json::from_slice(&body.to_vec()).unwrap();
        assert!(sent["value"].get("code").is_none());
        let init = parse_init(&body.to_vec()).unwrap();
        assert_eq!(init.code, None);
        assert!(init.binary);
    }

    #[test]
    fn init_env_values_are_strings() {
        assert_eq!(init_env_value(&json!("s")), "s");
        assert_eq!(init_env_value(&Value::Null), "");
        assert_eq!(init_env_value(&json!(true)), "true");
        assert_eq!(init_env_value(&json!(12)), "12");
        assert_eq!(init_env_value(&json!({"a": [1]})), r#"{"a":[1]}"#);
    }

    #[test]
    fn context_keys_become_ow_variables() {
        let names: Vec<String> = [
            KEY_NAMESPACE,
            KEY_ACTION_NAME,
            KEY_ACTION_VERSION,
            KEY_ACTIVATION_ID,
            KEY_TRANSACTION_ID,
            KEY_DEADLINE,
            KEY_API_KEY,
        ]
        .into_iter()
        .map(env_name)
        .collect();
        assert_eq!(
            names,
            [
                "__OW_NAMESPACE",
                "__OW_ACTION_NAME",
                "__OW_ACTION_VERSION",
                "__OW_ACTIVATION_ID",
                "__OW_TRANSACTION_ID",
                "__OW_DEADLINE",
                "__OW_API_KEY"
            ]
        );
    }

    #[test]
    fn sentinel_is_found_alone_or_after_unterminated_output() {
        assert_eq!(find_sentinel(SENTINEL), Some(0));
        assert_eq!(find_sentinel(&format!("partial{SENTINEL}")), Some(7));
        assert_eq!(find_sentinel("XXX_THE_END_OF_A_WHISK_ACTIVATION"), None);
        assert_eq!(find_sentinel(""), None);
    }

    #[test]
    fn error_and_ok_bodies() {
        assert_eq!(
            error_body(ERR_REINIT),
            json!({"error": "Cannot initialize the action more than once."})
        );
        assert_eq!(init_ok_body(), json!({"ok": true}));
        assert_eq!(
            ERR_RUN_BAD_ARGUMENT,
            "The action did not receive a dictionary or array as an argument."
        );
        assert_eq!(
            ERR_RUN_BAD_RESULT,
            "The action did not return a dictionary or array."
        );
        assert_eq!(
            ERR_INIT_FAILED,
            "The action failed to generate or locate a binary. See logs for details."
        );
        assert_eq!(
            ERR_RUN_NO_BINARY,
            "The action failed to locate a binary. See logs for details."
        );
        assert_eq!(
            ERR_INIT_EXITED,
            "The action did not initialize and exited unexpectedly."
        );
        assert_eq!(
            ERR_RUN_EXITED,
            "The action did not produce a valid response and exited unexpectedly."
        );
        assert_eq!(
            ERR_LOOP_START,
            "The action failed to start. See logs for details."
        );
    }

    /// JSON values a few levels deep, with any strings (escapes, non-ASCII, `"`, NUL).
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn argument() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::collection::btree_map(any::<String>(), json_value(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            prop::collection::vec(json_value(), 0..4).prop_map(Value::Array),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the invoker sends, the proxy reads back unchanged.
        #[test]
        fn any_run_body_round_trips(
            value in argument(),
            strings in prop::collection::vec(any::<String>(), 6),
            api_key in prop::option::of(any::<String>()),
        ) {
            let body = RunBody {
                value: &value,
                namespace: &strings[0],
                action_name: &strings[1],
                action_version: &strings[2],
                activation_id: &strings[3],
                transaction_id: &strings[4],
                deadline: &strings[5],
                api_key: api_key.as_deref(),
            };
            let run = parse_run(&body.to_vec()).expect("accepted");
            prop_assert_eq!(&run.value, &value);
            let context_keys = [
                KEY_NAMESPACE,
                KEY_ACTION_NAME,
                KEY_ACTION_VERSION,
                KEY_ACTIVATION_ID,
                KEY_TRANSACTION_ID,
                KEY_DEADLINE,
            ];
            for (key, sent) in context_keys.into_iter().zip(&strings) {
                prop_assert_eq!(run.context[key].as_str(), Some(sent.as_str()));
            }
            prop_assert_eq!(
                run.context.get(KEY_API_KEY).and_then(Value::as_str),
                api_key.as_deref()
            );
            // Joined again, it is the body sent.
            let sent: Value = serde_json::from_slice(&body.to_vec()).expect("JSON");
            prop_assert_eq!(run.into_body(), sent);
        }

        #[test]
        fn any_init_body_round_trips(
            name in any::<String>(),
            main in any::<String>(),
            binary in any::<bool>(),
            code in prop::option::of(any::<String>()),
            env in prop::collection::btree_map(any::<String>(), any::<String>(), 0..6),
        ) {
            let env: Map<String, Value> =
                env.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = InitBody { name: &name, main: &main, binary, code: code.as_deref(), env: &env };
            let init = parse_init(&body.to_vec()).expect("accepted");
            prop_assert_eq!(init, InitRequest {
                code,
                binary,
                main: Some(main),
                name: Some(name),
                env,
            });
        }
    }

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
}
