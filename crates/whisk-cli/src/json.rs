//! JSON output as OpenWhisk's CLI prints it: indented by four spaces, no HTML escaping,
//! a newline at the end. Records that the Go CLI decodes into structs (actions,
//! activations) keep the struct's field order, drop fields it does not know, and show
//! zero values for missing fields that are not `omitempty`; free-form values (results,
//! parameter values) print with their keys sorted, as Go prints maps.

use serde_json::{Map, Value};

/// One level of indentation.
pub const INDENT: &str = "    ";

/// How a value is laid out.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Any JSON; object keys sorted.
    Any,
    /// A Go struct: fields in this order.
    Struct(&'static [Field]),
    /// A list whose items have this shape.
    List(&'static Shape),
    /// A Go map: keys sorted, each value in this shape.
    Map(&'static Shape),
}

/// What a Go struct field does when the JSON lacks it or holds its zero value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Omit {
    /// Always printed; a missing field prints as this zero value.
    Never(Zero),
    /// `omitempty` on a value type: skipped when missing, null, `""`, `0`, `false` or empty.
    Empty,
    /// `omitempty` on a pointer: skipped when missing or null.
    Nil,
}

/// A Go zero value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    /// `""`.
    Str,
    /// `0`.
    Num,
    /// `false`.
    Bool,
    /// `null` (nil slice, map or pointer).
    Null,
}

/// One struct field: its JSON name, shape and omission rule.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The JSON key.
    pub name: &'static str,
    /// The value's shape.
    pub shape: Shape,
    /// When it is left out.
    pub omit: Omit,
}

const fn field(name: &'static str, shape: Shape, omit: Omit) -> Field {
    Field { name, shape, omit }
}

use Omit::{Empty, Never, Nil};

/// `whisk.KeyValue`.
pub const KEY_VALUE: Shape = Shape::Struct(&[
    field("key", Shape::Any, Never(Zero::Str)),
    field("value", Shape::Any, Never(Zero::Null)),
]);
const KEY_VALUES: Shape = Shape::List(&KEY_VALUE);

/// `whisk.Exec`.
pub const EXEC: Shape = Shape::Struct(&[
    field("kind", Shape::Any, Empty),
    field("code", Shape::Any, Nil),
    field("image", Shape::Any, Empty),
    field("init", Shape::Any, Empty),
    field("main", Shape::Any, Empty),
    field("components", Shape::Any, Empty),
    field("binary", Shape::Any, Nil),
]);

/// `whisk.Limits`.
pub const LIMITS: Shape = Shape::Struct(&[
    field("timeout", Shape::Any, Nil),
    field("memory", Shape::Any, Nil),
    field("logs", Shape::Any, Nil),
    field("concurrency", Shape::Any, Nil),
]);

/// `whisk.Action`.
pub const ACTION: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Empty),
    field("name", Shape::Any, Empty),
    field("version", Shape::Any, Empty),
    field("exec", EXEC, Nil),
    field("annotations", KEY_VALUES, Empty),
    field("delAnnotations", Shape::Any, Empty),
    field("parameters", KEY_VALUES, Empty),
    field("limits", LIMITS, Nil),
    field("error", Shape::Any, Empty),
    field("code", Shape::Any, Empty),
    field("publish", Shape::Any, Nil),
    field("updated", Shape::Any, Empty),
]);

/// `whisk.Response`, the `response` of an activation.
pub const RESPONSE: Shape = Shape::Struct(&[
    field("status", Shape::Any, Never(Zero::Str)),
    field("statusCode", Shape::Any, Never(Zero::Num)),
    field("success", Shape::Any, Never(Zero::Bool)),
    field("result", Shape::Any, Nil),
]);

/// `whisk.Activation`.
pub const ACTIVATION: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Never(Zero::Str)),
    field("name", Shape::Any, Never(Zero::Str)),
    field("version", Shape::Any, Never(Zero::Str)),
    field("subject", Shape::Any, Never(Zero::Str)),
    field("activationId", Shape::Any, Never(Zero::Str)),
    field("cause", Shape::Any, Empty),
    field("start", Shape::Any, Never(Zero::Num)),
    field("end", Shape::Any, Never(Zero::Num)),
    field("duration", Shape::Any, Never(Zero::Num)),
    field("statusCode", Shape::Any, Never(Zero::Num)),
    field("response", RESPONSE, Never(Zero::Null)),
    field("logs", Shape::Any, Never(Zero::Null)),
    field("annotations", KEY_VALUES, Never(Zero::Null)),
    field("publish", Shape::Any, Nil),
]);

/// `whisk.Trigger`.
pub const TRIGGER: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Empty),
    field("name", Shape::Any, Never(Zero::Str)),
    field("version", Shape::Any, Empty),
    field("activationId", Shape::Any, Empty),
    field("annotations", KEY_VALUES, Empty),
    field("parameters", KEY_VALUES, Empty),
    field("limits", LIMITS, Nil),
    field("publish", Shape::Any, Nil),
    field("rules", Shape::Any, Empty),
    field("updated", Shape::Any, Empty),
]);

/// `whisk.Rule`.
pub const RULE: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Empty),
    field("name", Shape::Any, Empty),
    field("version", Shape::Any, Empty),
    field("annotations", KEY_VALUES, Empty),
    field("status", Shape::Any, Never(Zero::Str)),
    field("trigger", Shape::Any, Never(Zero::Null)),
    field("action", Shape::Any, Never(Zero::Null)),
    field("publish", Shape::Any, Nil),
    field("updated", Shape::Any, Empty),
]);

/// `whisk.Binding`.
const BINDING: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Empty),
    field("name", Shape::Any, Empty),
]);
const ACTIONS: Shape = Shape::List(&ACTION);

/// `whisk.Package`.
pub const PACKAGE: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Empty),
    field("name", Shape::Any, Empty),
    field("version", Shape::Any, Empty),
    field("publish", Shape::Any, Nil),
    field("annotations", KEY_VALUES, Empty),
    field("parameters", KEY_VALUES, Empty),
    field("binding", BINDING, Nil),
    field("actions", ACTIONS, Empty),
    field("feeds", ACTIONS, Empty),
    field("updated", Shape::Any, Empty),
]);

/// `whisk.ApiParameter`.
const API_PARAMETER: Shape = Shape::Struct(&[
    field("name", Shape::Any, Never(Zero::Str)),
    field("in", Shape::Any, Never(Zero::Str)),
    field("description", Shape::Any, Empty),
    field("required", Shape::Any, Empty),
    field("type", Shape::Any, Empty),
    field("format", Shape::Any, Empty),
    field("allowEmptyValue", Shape::Any, Empty),
    field("items", Shape::Any, Empty),
    field("collectionFormat", Shape::Any, Empty),
    field("default", Shape::Any, Nil),
    field("maximum", Shape::Any, Empty),
    field("exclusiveMaximum", Shape::Any, Empty),
    field("minimum", Shape::Any, Empty),
    field("exclusiveMinimum", Shape::Any, Empty),
    field("maxLength", Shape::Any, Empty),
    field("minLength", Shape::Any, Empty),
    field("pattern", Shape::Any, Empty),
    field("maxItems", Shape::Any, Empty),
    field("minItems", Shape::Any, Empty),
    field("uniqueItems", Shape::Any, Empty),
    field("multipleOf", Shape::Any, Empty),
    field("enum", Shape::Any, Nil),
    field("$ref", Shape::Any, Empty),
]);
const API_PARAMETERS: Shape = Shape::List(&API_PARAMETER);

/// `whisk.ApiSwaggerOpXOpenWhisk`.
const API_X_OPENWHISK: Shape = Shape::Struct(&[
    field("action", Shape::Any, Never(Zero::Str)),
    field("namespace", Shape::Any, Never(Zero::Str)),
    field("package", Shape::Any, Never(Zero::Str)),
    field("url", Shape::Any, Never(Zero::Str)),
]);

/// `whisk.ApiSwaggerOperation`.
const API_OPERATION: Shape = Shape::Struct(&[
    field("operationId", Shape::Any, Never(Zero::Str)),
    field("parameters", API_PARAMETERS, Empty),
    field("responses", Shape::Any, Never(Zero::Null)),
    field("x-openwhisk", API_X_OPENWHISK, Nil),
]);

/// `whisk.ApiSwaggerPath`.
const API_PATH: Shape = Shape::Struct(&[
    field("get", API_OPERATION, Nil),
    field("put", API_OPERATION, Nil),
    field("post", API_OPERATION, Nil),
    field("delete", API_OPERATION, Nil),
    field("options", API_OPERATION, Nil),
    field("head", API_OPERATION, Nil),
    field("patch", API_OPERATION, Nil),
    field("parameters", API_PARAMETERS, Empty),
]);
const API_PATHS: Shape = Shape::Map(&API_PATH);

/// `whisk.ApiSwaggerInfo`.
const API_INFO: Shape = Shape::Struct(&[
    field("title", Shape::Any, Empty),
    field("version", Shape::Any, Empty),
]);

/// `whisk.ApiSwagger`: what `wsk api get` prints.
pub const API_SWAGGER: Shape = Shape::Struct(&[
    field("swagger", Shape::Any, Empty),
    field("basePath", Shape::Any, Empty),
    field("info", API_INFO, Nil),
    field("paths", API_PATHS, Empty),
    field("securityDefinitions", Shape::Any, Nil),
    field("security", Shape::Any, Nil),
    field("x-ibm-configuration", Shape::Any, Nil),
    field("x-ibm-rate-limit", Shape::Any, Nil),
]);

/// `whisk.RetApi`: what `wsk api get --full` prints.
pub const API_VALUE: Shape = Shape::Struct(&[
    field("namespace", Shape::Any, Never(Zero::Str)),
    field("gwApiUrl", Shape::Any, Never(Zero::Str)),
    field("gwApiActivated", Shape::Any, Never(Zero::Bool)),
    field("tenantId", Shape::Any, Never(Zero::Str)),
    field("apidoc", API_SWAGGER, Nil),
]);

impl Shape {
    /// The struct field named `name`, compared without case as the Go CLI's field filter
    /// does (`activationid` finds `activationId`).
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        match self {
            Shape::Struct(fields) => fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)),
            _ => None,
        }
    }

    /// The value a struct field shows: the JSON's, or the zero value Go would print.
    /// `None` when the field is left out.
    pub fn field_value(f: &Field, obj: &Map<String, Value>) -> Option<Value> {
        let v = obj.get(f.name);
        match f.omit {
            Never(zero) => Some(match v {
                Some(v) if !v.is_null() || zero == Zero::Null => v.clone(),
                _ => zero_value(zero, f.shape),
            }),
            Empty => v.filter(|v| !is_empty(v)).cloned(),
            Nil => v.filter(|v| !v.is_null()).cloned(),
        }
    }
}

impl Shape {
    /// What the Go CLI's field filter prints for a struct field: the JSON's value, or the
    /// zero value of the field's Go type when the JSON lacks it or has null.
    pub fn shown_field(f: &Field, obj: &Map<String, Value>) -> Value {
        match obj.get(f.name) {
            Some(v) if !v.is_null() => v.clone(),
            _ => {
                let zero = match f.omit {
                    Never(z) => z,
                    // A nil pointer prints as null, even to a struct.
                    Nil => return Value::Null,
                    Empty => match (f.name, f.shape) {
                        ("updated" | "code", _) => Zero::Num,
                        ("components" | "delAnnotations" | "rules", _) | (_, Shape::List(_)) => {
                            Zero::Null
                        }
                        _ => Zero::Str,
                    },
                };
                zero_value(zero, f.shape)
            }
        }
    }
}

fn zero_value(zero: Zero, shape: Shape) -> Value {
    match (zero, shape) {
        (Zero::Str, _) => Value::String(String::new()),
        (Zero::Num, _) => Value::from(0),
        (Zero::Bool, _) => Value::Bool(false),
        // A struct value (not a pointer) prints with all its own zero fields.
        (Zero::Null, Shape::Struct(_)) => Value::Object(Map::new()),
        (Zero::Null, _) => Value::Null,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// Pretty-prints `v` laid out by `shape`, with a final newline.
pub fn pretty(v: &Value, shape: Shape) -> String {
    let mut s = String::new();
    write_value(&mut s, v, shape, 0);
    s.push('\n');
    s
}

fn newline(s: &mut String, depth: usize) {
    s.push('\n');
    for _ in 0..depth {
        s.push_str(INDENT);
    }
}

fn write_value(s: &mut String, v: &Value, shape: Shape, depth: usize) {
    match (v, shape) {
        (Value::Object(m), Shape::Struct(fields)) => {
            let entries: Vec<(&str, Value, Shape)> = fields
                .iter()
                .filter_map(|f| Shape::field_value(f, m).map(|v| (f.name, v, f.shape)))
                .collect();
            write_object(s, entries, depth);
        }
        (Value::Object(m), Shape::Map(inner)) => {
            let entries = m
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone(), *inner))
                .collect();
            write_object(s, entries, depth);
        }
        (Value::Object(m), _) => {
            // serde_json's map is ordered by key, as Go orders map keys.
            let entries = m
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone(), Shape::Any))
                .collect();
            write_object(s, entries, depth);
        }
        (Value::Array(items), _) => {
            if items.is_empty() {
                s.push_str("[]");
                return;
            }
            let inner = match shape {
                Shape::List(inner) => *inner,
                _ => Shape::Any,
            };
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                newline(s, depth + 1);
                write_value(s, item, inner, depth + 1);
            }
            newline(s, depth);
            s.push(']');
        }
        (Value::String(text), _) => write_string(s, text),
        (other, _) => s.push_str(&other.to_string()),
    }
}

fn write_object(s: &mut String, entries: Vec<(&str, Value, Shape)>, depth: usize) {
    if entries.is_empty() {
        s.push_str("{}");
        return;
    }
    s.push('{');
    for (i, (k, v, shape)) in entries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        newline(s, depth + 1);
        write_string(s, k);
        s.push_str(": ");
        write_value(s, v, *shape, depth + 1);
    }
    newline(s, depth);
    s.push('}');
}

/// A JSON string as Go's encoder writes it with HTML escaping off.
fn write_string(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{2028}' => s.push_str("\\u2028"),
            '\u{2029}' => s.push_str("\\u2029"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(v: Value, shape: Shape, expected: &str) {
        assert_eq!(pretty(&v, shape), expected);
    }

    #[test]
    fn any_values() {
        check(json!({}), Shape::Any, "{}\n");
        check(json!([]), Shape::Any, "[]\n");
        check(json!("x"), Shape::Any, "\"x\"\n");
        check(
            json!({"msg": "Hello from C program!", "args": {"key": "value"}}),
            Shape::Any,
            "{\n    \"args\": {\n        \"key\": \"value\"\n    },\n    \"msg\": \"Hello from C program!\"\n}\n",
        );
        check(
            json!({"values": ["world"], "message": "Hello from Go", "keys": ["hello"]}),
            Shape::Any,
            "{\n    \"keys\": [\n        \"hello\"\n    ],\n    \"message\": \"Hello from Go\",\n    \"values\": [\n        \"world\"\n    ]\n}\n",
        );
        check(
            json!({"a": [1, 2.5, null, true]}),
            Shape::Any,
            "{\n    \"a\": [\n        1,\n        2.5,\n        null,\n        true\n    ]\n}\n",
        );
    }

    #[test]
    fn strings_escape_like_go() {
        check(json!("<a&b>"), Shape::Any, "\"<a&b>\"\n");
        check(
            json!("q\"\\\n\t\u{1}\u{2028}é"),
            Shape::Any,
            "\"q\\\"\\\\\\n\\t\\u0001\\u2028é\"\n",
        );
    }

    /// The seed's `activation get ID response`.
    #[test]
    fn response_field_keeps_struct_order() {
        let resp = json!({"result": {"keys": ["hello"], "message": "Hello from Go", "values": ["world"]},
                          "size": 60, "status": "success", "success": true});
        check(
            resp,
            RESPONSE,
            "{\n    \"status\": \"success\",\n    \"statusCode\": 0,\n    \"success\": true,\n    \"result\": {\n        \"keys\": [\n            \"hello\"\n        ],\n        \"message\": \"Hello from Go\",\n        \"values\": [\n            \"world\"\n        ]\n    }\n}\n",
        );
    }

    #[test]
    fn activation_struct() {
        let a = json!({"activationId": "abc", "annotations": [{"value": "guest/x", "key": "path"}],
            "duration": 2, "end": 12, "logs": [], "name": "x", "namespace": "guest", "publish": false,
            "response": {"result": {}, "status": "success", "success": true}, "start": 10,
            "subject": "guest", "version": "0.0.1", "unknown": 1});
        let expected = "{
    \"namespace\": \"guest\",
    \"name\": \"x\",
    \"version\": \"0.0.1\",
    \"subject\": \"guest\",
    \"activationId\": \"abc\",
    \"start\": 10,
    \"end\": 12,
    \"duration\": 2,
    \"statusCode\": 0,
    \"response\": {
        \"status\": \"success\",
        \"statusCode\": 0,
        \"success\": true,
        \"result\": {}
    },
    \"logs\": [],
    \"annotations\": [
        {
            \"key\": \"path\",
            \"value\": \"guest/x\"
        }
    ],
    \"publish\": false
}
";
        check(a, ACTIVATION, expected);
        // A trigger activation has no end or duration: Go shows zeros.
        let t = pretty(&json!({"activationId": "t", "response": {}}), ACTIVATION);
        assert!(t.contains("\"end\": 0,\n    \"duration\": 0,"), "{t}");
        assert!(t.contains("\"logs\": null"), "{t}");
    }

    #[test]
    fn action_struct() {
        let a = json!({"namespace": "guest", "name": "whisk_c", "version": "0.0.1",
            "exec": {"kind": "blackbox", "image": "whisk/whisk_c", "binary": false},
            "annotations": [{"key": "exec", "value": "blackbox"}], "parameters": [],
            "limits": {"concurrency": 1, "logs": 10, "memory": 256, "timeout": 60000},
            "publish": false, "updated": 1700000000000u64});
        let expected = "{
    \"namespace\": \"guest\",
    \"name\": \"whisk_c\",
    \"version\": \"0.0.1\",
    \"exec\": {
        \"kind\": \"blackbox\",
        \"image\": \"whisk/whisk_c\",
        \"binary\": false
    },
    \"annotations\": [
        {
            \"key\": \"exec\",
            \"value\": \"blackbox\"
        }
    ],
    \"limits\": {
        \"timeout\": 60000,
        \"memory\": 256,
        \"logs\": 10,
        \"concurrency\": 1
    },
    \"publish\": false,
    \"updated\": 1700000000000
}
";
        check(a, ACTION, expected);
    }

    #[test]
    fn field_lookup_ignores_case() {
        assert_eq!(ACTIVATION.field("response").unwrap().name, "response");
        assert_eq!(
            ACTIVATION.field("ActivationID").unwrap().name,
            "activationId"
        );
        assert!(ACTIVATION.field("nope").is_none());
        assert_eq!(ACTION.field("EXEC").unwrap().name, "exec");
    }

    #[test]
    fn shown_fields_use_go_zero_values() {
        let obj = json!({"name": "x", "exec": {"kind": "blackbox"}});
        let obj = obj.as_object().unwrap();
        let shown = |shape: Shape, f: &str| Shape::shown_field(shape.field(f).unwrap(), obj);
        assert_eq!(shown(ACTION, "name"), json!("x"));
        assert_eq!(shown(ACTION, "error"), json!(""));
        assert_eq!(shown(ACTION, "updated"), json!(0));
        assert_eq!(shown(ACTION, "parameters"), Value::Null);
        assert_eq!(shown(ACTION, "limits"), Value::Null);
        assert_eq!(shown(ACTIVATION, "duration"), json!(0));
        assert_eq!(
            pretty(&shown(ACTIVATION, "response"), RESPONSE),
            "{\n    \"status\": \"\",\n    \"statusCode\": 0,\n    \"success\": false\n}\n"
        );
    }
}
