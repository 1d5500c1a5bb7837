//! Arbitrary bytes as the body of the proxy's `/init` and `/run`: parsing never panics,
//! and what it accepts keeps the protocol's promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use whisk_protocol::{parse_init, parse_run, BadRequest, RunRequestError};

fuzz_target!(|body: &[u8]| {
    let json = serde_json::from_slice::<Value>(body).ok();
    match parse_init(body) {
        Ok(init) => {
            // Accepted only from a JSON object whose `value` (if any) is an object.
            let Some(Value::Object(map)) = &json else {
                panic!("/init accepted a body that is not a JSON object");
            };
            match map.get("value") {
                None | Some(Value::Null) => assert_eq!(init.code, None),
                Some(Value::Object(v)) => {
                    assert_eq!(init.code.as_deref(), v.get("code").and_then(Value::as_str));
                    assert_eq!(init.binary, v.get("binary") == Some(&Value::Bool(true)));
                }
                Some(other) => panic!("/init accepted value {other}"),
            }
        }
        Err(BadRequest::NotJson(_)) => assert!(json.is_none(), "valid JSON called invalid"),
        Err(BadRequest::NotAnObject) => assert!(matches!(json, Some(ref v) if !v.is_object())),
        Err(BadRequest::WrongType(_)) => assert!(matches!(json, Some(Value::Object(_)))),
    }
    match parse_run(body) {
        Ok(run) => {
            assert!(run.value.is_object() || run.value.is_array());
            assert!(!run.context.contains_key("value"));
        }
        Err(RunRequestError::BadArgument) => assert!(matches!(json, Some(Value::Object(_)))),
        Err(RunRequestError::BadRequest(_)) => {
            assert!(!matches!(json, Some(Value::Object(_))));
        }
    }
});
