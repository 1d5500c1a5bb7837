//! How container replies become activation responses (reference §5.6, §7.1, §8.2), and the
//! developer-facing texts, word for word as OpenWhisk gives them. Pure functions only.

use bytes::Bytes;
use serde_json::Value;
use whisk_protocol::ERROR_KEY;
use whisk_types::ActivationResponse;

/// The most of a `/run` reply that is read; a longer result becomes an application error.
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;

/// `The action exhausted its memory and was aborted.`
pub const MEMORY_EXHAUSTED: &str = "The action exhausted its memory and was aborted.";
/// `Failed to provision resources to run the action.`
pub const PROVISION_FAILED: &str = "Failed to provision resources to run the action.";
/// `Action could not be found or may have been deleted.`: the code a message refers to
/// is no longer kept (an application error, as OpenWhisk gives for a deleted action).
pub const ACTION_REMOVED: &str = "Action could not be found or may have been deleted.";
/// `Action could not be fetched.`: reading the code failed.
pub const ACTION_FETCH_FAILED: &str = "Action could not be fetched.";
/// `Action version is not compatible and cannot be invoked.`: the code read does not
/// match the digest the message names.
pub const ACTION_MISMATCH: &str = "Action version is not compatible and cannot be invoked.";

/// The whisk error of an activation that waited for a container longer than the
/// invoker's container wait: [`PROVISION_FAILED`] with the reason.
pub fn container_wait_expired(waited: std::time::Duration) -> String {
    format!(
        "Failed to provision resources to run the action: no container became available within {} seconds.",
        waited.as_secs_f64()
    )
}
/// The last log line when collection did not complete.
pub const LOGS_INCOMPLETE: &str =
    "There was an issue while collecting your logs. Data might be missing.";
/// The last log line after a developer error.
pub const LOGS_AFTER_FAILURE: &str =
    "The action did not initialize or run as expected. Log data might be missing.";

/// `The action exceeded its time limits of N milliseconds[ during initialization].`
pub fn timed_out(timeout_ms: u64, during_init: bool) -> String {
    let when = if during_init {
        " during initialization"
    } else {
        ""
    };
    format!("The action exceeded its time limits of {timeout_ms} milliseconds{when}.")
}

/// `Failed to pull container image '<image>'.`
pub fn image_pull_failed(image: &str) -> String {
    format!("Failed to pull container image '{image}'.")
}

/// `The action did not produce a valid JSON or JSON Array response: <body>`
pub fn invalid_run_response(body: &str) -> String {
    format!("The action did not produce a valid JSON or JSON Array response: {body}")
}

/// `The action failed during initialization: <body>`
pub fn init_failed(body: &str) -> String {
    format!("The action failed during initialization: {body}")
}

/// The application error for a result longer than [`MAX_RESULT_BYTES`].
pub fn truncated_response(length: usize, max: usize, prefix: &str) -> String {
    format!(
        "The action produced a response that exceeded the allowed length: {length} > {max} bytes. The truncated response was: {prefix}"
    )
}

/// `Logs were truncated because the total bytes size exceeds the limit of <bytes> bytes.`
pub fn logs_truncated(limit_bytes: u64) -> String {
    format!(
        "Logs were truncated because the total bytes size exceeds the limit of {limit_bytes} bytes."
    )
}

/// A reply read from a container: the status and at most [`MAX_RESULT_BYTES`] of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerReply {
    pub status: u16,
    pub body: Bytes,
    /// The full length when the body was cut at the read limit.
    pub truncated_from: Option<usize>,
}

impl ContainerReply {
    /// A complete reply.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            body: body.into(),
            truncated_from: None,
        }
    }
}

/// The length of a raw body in characters, as `response.size` counts it.
fn char_len(body: &[u8]) -> usize {
    match std::str::from_utf8(body) {
        Ok(s) if s.is_ascii() => s.len(),
        Ok(s) => s.chars().count(),
        Err(_) => String::from_utf8_lossy(body).chars().count(),
    }
}

/// Maps a `/run` reply to the activation response.
///
/// - 200 with an object or array: success, or an application error when the object has
///   `error` (only `{"error": ...}` is kept);
/// - any other status: developer error, with the body's `error` value when there is one;
/// - a body that is not a JSON object or array: developer error;
/// - a body cut at the limit: application error naming both lengths.
pub fn run_response(reply: &ContainerReply) -> ActivationResponse {
    if let Some(length) = reply.truncated_from {
        let prefix = String::from_utf8_lossy(&reply.body);
        return ActivationResponse::application_error(
            Value::String(truncated_response(length, MAX_RESULT_BYTES, &prefix)),
            Some(length),
        );
    }
    let size = Some(char_len(&reply.body));
    let parsed = serde_json::from_slice::<Value>(&reply.body);
    let mut response = match parsed {
        Ok(Value::Object(mut fields)) if reply.status == 200 => match fields.remove(ERROR_KEY) {
            Some(error) => ActivationResponse::application_error(error, size),
            None => ActivationResponse::success(Value::Object(fields), size),
        },
        Ok(result @ Value::Array(_)) if reply.status == 200 => {
            ActivationResponse::success(result, size)
        }
        Ok(Value::Object(mut fields)) if fields.contains_key(ERROR_KEY) => {
            ActivationResponse::developer_error(fields.remove(ERROR_KEY).unwrap_or(Value::Null))
        }
        _ => ActivationResponse::developer_error(invalid_run_response(&String::from_utf8_lossy(
            &reply.body,
        ))),
    };
    response.size = size;
    response
}

/// Maps a failed (non-200) `/init` reply to the developer error: the body's `error` value
/// when it has one, otherwise the body quoted in `The action failed during initialization`.
pub fn init_error_response(reply: &ContainerReply) -> ActivationResponse {
    match serde_json::from_slice::<Value>(&reply.body) {
        Ok(Value::Object(mut fields)) if fields.contains_key(ERROR_KEY) => {
            ActivationResponse::developer_error(fields.remove(ERROR_KEY).unwrap_or(Value::Null))
        }
        _ => {
            ActivationResponse::developer_error(init_failed(&String::from_utf8_lossy(&reply.body)))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use whisk_types::ResponseStatus;

    use super::*;

    fn check_run(status: u16, body: &str, want: ResponseStatus, result: Value) {
        let r = run_response(&ContainerReply::new(status, body.to_owned()));
        assert_eq!(r.status(), want, "{status} {body}");
        assert_eq!(r.result, result, "{status} {body}");
        assert_eq!(r.size, Some(body.chars().count()), "{status} {body}");
    }

    #[test]
    fn run_success_object_and_array() {
        check_run(200, r#"{"a":1}"#, ResponseStatus::Success, json!({"a":1}));
        check_run(200, "[1,2]", ResponseStatus::Success, json!([1, 2]));
        check_run(200, "{}\n", ResponseStatus::Success, json!({}));
        check_run(
            200,
            r#"{"é":"ü"}"#,
            ResponseStatus::Success,
            json!({"é":"ü"}),
        );
    }

    #[test]
    fn run_application_error_keeps_only_error() {
        check_run(
            200,
            r#"{"error":"bad","other":1}"#,
            ResponseStatus::ApplicationError,
            json!({"error":"bad"}),
        );
        check_run(
            200,
            r#"{"error":{"code":7}}"#,
            ResponseStatus::ApplicationError,
            json!({"error":{"code":7}}),
        );
    }

    #[test]
    fn run_developer_errors() {
        let dev = ResponseStatus::DeveloperError;
        check_run(
            200,
            "hello",
            dev,
            json!({"error": "The action did not produce a valid JSON or JSON Array response: hello"}),
        );
        check_run(
            200,
            "42",
            dev,
            json!({"error": "The action did not produce a valid JSON or JSON Array response: 42"}),
        );
        check_run(
            200,
            "",
            dev,
            json!({"error": "The action did not produce a valid JSON or JSON Array response: "}),
        );
        check_run(
            502,
            r#"{"error":"The action did not return a dictionary or array."}"#,
            dev,
            json!({"error": "The action did not return a dictionary or array."}),
        );
        check_run(
            500,
            r#"{"ok":true}"#,
            dev,
            json!({"error": r#"The action did not produce a valid JSON or JSON Array response: {"ok":true}"#}),
        );
        check_run(
            404,
            "[1]",
            dev,
            json!({"error": "The action did not produce a valid JSON or JSON Array response: [1]"}),
        );
    }

    #[test]
    fn run_truncated_is_application_error() {
        let reply = ContainerReply {
            status: 200,
            body: Bytes::from_static(b"{\"a\":\"xxx"),
            truncated_from: Some(2_000_000),
        };
        let r = run_response(&reply);
        assert_eq!(r.status(), ResponseStatus::ApplicationError);
        assert_eq!(r.size, Some(2_000_000));
        assert_eq!(
            r.result,
            json!({"error": "The action produced a response that exceeded the allowed length: 2000000 > 1048576 bytes. The truncated response was: {\"a\":\"xxx"})
        );
    }

    #[test]
    fn init_errors() {
        let r = init_error_response(&ContainerReply::new(
            502,
            r#"{"error":"The action failed to generate or locate a binary. See logs for details."}"#,
        ));
        assert_eq!(r.status(), ResponseStatus::DeveloperError);
        assert_eq!(
            r.result,
            json!({"error": "The action failed to generate or locate a binary. See logs for details."})
        );
        let r = init_error_response(&ContainerReply::new(500, "boom"));
        assert_eq!(
            r.result,
            json!({"error": "The action failed during initialization: boom"})
        );
    }

    #[test]
    fn texts() {
        assert_eq!(
            timed_out(1000, false),
            "The action exceeded its time limits of 1000 milliseconds."
        );
        assert_eq!(
            timed_out(60000, true),
            "The action exceeded its time limits of 60000 milliseconds during initialization."
        );
        assert_eq!(
            image_pull_failed("x/y:z"),
            "Failed to pull container image 'x/y:z'."
        );
        assert_eq!(
            logs_truncated(10485760),
            "Logs were truncated because the total bytes size exceeds the limit of 10485760 bytes."
        );
    }
}
