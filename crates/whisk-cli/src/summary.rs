//! `get --summary` output, as OpenWhisk's CLI prints it: one line naming the entity with its
//! description (the `description` annotation, or one made from the parameter names), then
//! `   (parameters: ...)` where bound parameters carry `*` (`**` when the entity is `final`).
//!
//! ```text
//! action /guest/hello: Returns a result based on parameters greeting and name
//!    (parameters: *greeting, name)
//! ```

use serde_json::Value;

use crate::style::Style;
use crate::table::annotation;

/// What the parameters line shows when there are none.
const NONE_DEFINED: &str = "none defined";

/// `action get --summary`.
pub fn action(st: Style, action: &Value) -> String {
    entity(
        st,
        "action",
        &full_name(str_of(action, "namespace"), "", str_of(action, "name")),
        action,
    )
}

/// `trigger get --summary`.
pub fn trigger(st: Style, trigger: &Value) -> String {
    entity(
        st,
        "trigger",
        &full_name(str_of(trigger, "namespace"), "", str_of(trigger, "name")),
        trigger,
    )
}

/// `package get --summary`: the package, then each of its actions and feeds.
pub fn package(st: Style, pkg: &Value) -> String {
    let ns = str_of(pkg, "namespace");
    let name = str_of(pkg, "name");
    let mut s = entity(st, "package", &full_name(ns, name, ""), pkg);
    for (field, label) in [("actions", " action"), ("feeds", " feed  ")] {
        for item in pkg
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            s.push_str(&entity(
                st,
                label,
                &full_name(ns, name, str_of(item, "name")),
                item,
            ));
        }
    }
    s
}

/// `rule get --summary`: the name and `   (status: active)`.
pub fn rule(st: Style, rule: &Value) -> String {
    format!(
        "{} {}\n   ({}: {})\n",
        st.bold("rule"),
        full_name(str_of(rule, "namespace"), "", str_of(rule, "name")),
        st.bold("status"),
        str_of(rule, "status")
    )
}

fn entity(st: Style, kind: &str, full_name: &str, record: &Value) -> String {
    let params = param_union(record).join(", ");
    let description = annotation(record, "description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let head = if !description.is_empty() {
        format!("{} {full_name}: {description}", st.bold(kind))
    } else if !params.is_empty() {
        format!(
            "{} {full_name}: {}",
            st.bold(kind),
            param_description(&params)
        )
    } else {
        format!("{} {full_name}", st.bold(kind))
    };
    let params = if params.is_empty() {
        NONE_DEFINED.to_owned()
    } else {
        params
    };
    format!("{head}\n   ({}: {params})\n", st.bold("parameters"))
}

/// Bound parameter names and the names the `parameters` annotation documents, sorted,
/// bound ones tagged `*` (`**` with a `final: true` annotation).
pub fn param_union(record: &Value) -> Vec<String> {
    let bound: Vec<String> = record
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.get("key").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let documented = annotation(record, "parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("name").and_then(Value::as_str))
        .map(str::to_owned);
    let mut all: Vec<String> = bound.iter().cloned().chain(documented).collect();
    all.sort();
    all.dedup();
    let tag = if annotation(record, "final").and_then(Value::as_bool) == Some(true) {
        "**"
    } else {
        "*"
    };
    all.into_iter()
        .map(|p| {
            if bound.contains(&p) {
                format!("{tag}{p}")
            } else {
                p
            }
        })
        .collect()
}

/// `Returns a result based on parameter(s) ...` for entities without a description; the
/// last of several names is joined with `and`.
pub fn param_description(params: &str) -> String {
    let preamble = "Returns a result based on parameter";
    let params = params.replace('*', "");
    let parts: Vec<&str> = params.split(',').collect();
    match parts.as_slice() {
        [.., last] if parts.len() > 1 => {
            let joined = params.replacen(&format!(",{last}"), &format!(" and{last}"), 1);
            format!("{preamble}s {joined}")
        }
        _ => format!("{preamble} {params}"),
    }
}

/// `/ns/pkg/name`, `/ns/pkg`, `/ns/name` or `/ns`, as the parts are present.
pub fn full_name(namespace: &str, package: &str, name: &str) -> String {
    match (namespace.is_empty(), package.is_empty(), name.is_empty()) {
        (false, false, false) => format!("/{namespace}/{package}/{name}"),
        (false, false, true) => format!("/{namespace}/{package}"),
        (false, true, false) => format!("/{namespace}/{name}"),
        (false, true, true) => format!("/{namespace}"),
        _ => String::new(),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const P: Style = Style::PLAIN;

    #[test]
    fn actions() {
        let bare = json!({"namespace": "guest", "name": "hello"});
        assert_eq!(
            action(P, &bare),
            "action /guest/hello\n   (parameters: none defined)\n"
        );
        let bound = json!({"namespace": "guest", "name": "hello",
            "parameters": [{"key": "name", "value": "x"}, {"key": "greeting", "value": "hi"}],
            "annotations": [{"key": "parameters", "value": [{"name": "place"}, {"name": "name"}]}]});
        assert_eq!(
            action(P, &bound),
            "action /guest/hello: Returns a result based on parameters greeting, name and place\n   (parameters: *greeting, *name, place)\n"
        );
        let described = json!({"namespace": "guest/pkg", "name": "a",
            "parameters": [{"key": "p", "value": 1}],
            "annotations": [{"key": "description", "value": "Does a thing"}, {"key": "final", "value": true}]});
        assert_eq!(
            action(P, &described),
            "action /guest/pkg/a: Does a thing\n   (parameters: **p)\n"
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            param_description("*a"),
            "Returns a result based on parameter a"
        );
        assert_eq!(
            param_description("*a, b"),
            "Returns a result based on parameters a and b"
        );
        assert_eq!(
            param_description("a, b, c"),
            "Returns a result based on parameters a, b and c"
        );
    }

    #[test]
    fn packages_triggers_rules() {
        let pkg = json!({"namespace": "whisk.system", "name": "alarms", "parameters": [{"key": "apihost", "value": "h"}],
            "annotations": [{"key": "description", "value": "Alarms and periodic utility"}],
            "actions": [{"name": "alarm", "annotations": [{"key": "description", "value": "Fire trigger when alarm occurs"}]}],
            "feeds": [{"name": "interval"}]});
        assert_eq!(
            package(P, &pkg),
            "package /whisk.system/alarms: Alarms and periodic utility\n   (parameters: *apihost)\n \
             action /whisk.system/alarms/alarm: Fire trigger when alarm occurs\n   (parameters: none defined)\n \
             feed   /whisk.system/alarms/interval\n   (parameters: none defined)\n"
        );
        let t = json!({"namespace": "guest", "name": "tick", "parameters": [{"key": "color", "value": "red"}]});
        assert_eq!(
            trigger(P, &t),
            "trigger /guest/tick: Returns a result based on parameter color\n   (parameters: *color)\n"
        );
        let r = json!({"namespace": "guest", "name": "r1", "status": "active"});
        assert_eq!(rule(P, &r), "rule /guest/r1\n   (status: active)\n");
        let c = Style { color: true };
        assert!(rule(c, &r).starts_with("\x1b[1mrule\x1b[0m /guest/r1\n"));
    }
}
