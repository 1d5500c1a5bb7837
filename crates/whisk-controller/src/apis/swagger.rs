//! The swagger 2.0 document of one API, as OpenWhisk's `apimgmt` actions keep it: a base
//! document per base path, one operation per relative path and verb whose `x-openwhisk`
//! extension names the web action, and the checks a document must pass before it is
//! stored. Pure functions over `serde_json::Value`; the routes a request can take are
//! read back with [`operations`] and matched with [`match_path`].

use serde_json::{json, Map, Value};

use crate::routes::web_result::Extension as Ext;

/// The verbs a route may have, lowercase as swagger writes them.
pub(crate) const VERBS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];
/// The response types of `--response-type`, as web action extensions.
pub(crate) const RESPONSE_TYPES: [&str; 5] = ["json", "http", "text", "svg", "html"];
/// Longest base path or relative path, in characters.
pub(crate) const MAX_PATH_LEN: usize = 512;
/// Most `/` segments in a relative path.
pub(crate) const MAX_SEGMENTS: usize = 16;
/// Most `/` segments in a base path: a routed request reads at most one stored API per
/// prefix of its path this long (and `/`), hit or miss.
pub(crate) const MAX_BASE_SEGMENTS: usize = 4;
/// Most operations (path and verb pairs) in one API.
pub(crate) const MAX_OPERATIONS: usize = 200;

/// One operation added from flags (`wsk api create /base /path verb action`).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub relpath: String,
    /// Lowercase.
    pub verb: String,
    pub namespace: String,
    /// Empty for an action outside a package.
    pub package: String,
    pub action: String,
    pub response_type: String,
    /// The swagger `parameters` of the path's `{params}`.
    pub path_parameters: Vec<Value>,
}

/// One operation of a stored API, as a routed request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Operation {
    pub path: String,
    /// Lowercase.
    pub verb: String,
    pub namespace: String,
    /// Empty for an action outside a package.
    pub package: String,
    pub action: String,
    pub response_type: Ext,
}

/// The document of a new API with no operations (`generateBaseSwaggerApi`).
pub(crate) fn base(basepath: &str, name: Option<&str>) -> Value {
    json!({
        "swagger": "2.0",
        "info": { "title": name.unwrap_or(basepath), "version": "1.0.0" },
        "basePath": basepath,
        "paths": {},
        "x-ibm-configuration": { "assembly": {}, "cors": { "enabled": true } },
    })
}

/// OpenWhisk's operation id: the verb and the camel-cased words of the path
/// (`get` + `/books/{isbn}` is `getBooksIsbn`).
pub(crate) fn operation_id(verb: &str, relpath: &str) -> String {
    let spaced: String = relpath
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut id = verb.to_ascii_lowercase();
    for word in spaced.split_whitespace() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    id
}

/// The names of the `{params}` of a path, in order.
pub(crate) fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The swagger parameter OpenWhisk's clients generate for a path parameter.
pub(crate) fn path_parameter(name: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": format!("Default description for '{name}'"),
        "required": true,
        "type": "string",
    })
}

/// The web action URL of an operation (`x-openwhisk.url`).
fn action_url(origin: &str, ns: &str, package: &str, action: &str, response_type: &str) -> String {
    let pkg = if package.is_empty() {
        "default"
    } else {
        package
    };
    format!("{origin}/api/v1/web/{ns}/{pkg}/{action}.{response_type}")
}

/// Adds (or replaces) the operation of `ep` (`addEndpointToSwaggerApi`).
pub(crate) fn add_endpoint(swagger: &mut Value, ep: &Endpoint, origin: &str) {
    let url = action_url(
        origin,
        &ep.namespace,
        &ep.package,
        &ep.action,
        &ep.response_type,
    );
    let op_id = operation_id(&ep.verb, &ep.relpath);
    let mut operation = json!({
        "operationId": op_id,
        "x-openwhisk": {
            "url": url,
            "namespace": ep.namespace,
            "package": ep.package,
            "action": ep.action,
        },
        "responses": { "default": { "description": "Default response" } },
    });
    if !ep.path_parameters.is_empty() {
        operation["parameters"] = Value::Array(ep.path_parameters.clone());
    }
    let Some(doc) = swagger.as_object_mut() else {
        return;
    };
    let paths = doc
        .entry("paths")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(paths) = paths {
        let item = paths.entry(ep.relpath.clone()).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            item.insert(ep.verb.clone(), operation);
        }
    }
    let target = if ep.response_type == "http" {
        format!("{url}$(request.path)")
    } else {
        url
    };
    let case = json!({
        "operations": [op_id],
        "execute": [{ "invoke": { "target-url": target, "verb": "keep" } }],
    });
    let cases = cases_mut(doc);
    cases.retain(|c| c["operations"][0] != json!(op_id));
    cases.push(case);
}

/// `x-ibm-configuration.assembly.execute[0].operation-switch.case`, made when absent.
fn cases_mut(doc: &mut Map<String, Value>) -> &mut Vec<Value> {
    let config = doc
        .entry("x-ibm-configuration")
        .or_insert_with(|| json!({ "cors": { "enabled": true } }));
    if !config.is_object() {
        *config = json!({});
    }
    let assembly = &mut config["assembly"];
    if !assembly.get("execute").is_some_and(Value::is_array) {
        *assembly = json!({ "execute": [{ "operation-switch": { "case": [] } }] });
    }
    let execute = assembly["execute"].as_array_mut().expect("made an array");
    if execute.is_empty() {
        execute.push(json!({ "operation-switch": { "case": [] } }));
    }
    let switch = &mut execute[0]["operation-switch"];
    if !switch.get("case").is_some_and(Value::is_array) {
        *switch = json!({ "case": [] });
    }
    switch["case"].as_mut_array()
}

trait AsMutArray {
    fn as_mut_array(&mut self) -> &mut Vec<Value>;
}

impl AsMutArray for Value {
    fn as_mut_array(&mut self) -> &mut Vec<Value> {
        if !self.is_array() {
            *self = json!([]);
        }
        self.as_array_mut().expect("made an array")
    }
}

/// Removes a path, or one verb of it (`removeEndpointFromSwaggerApi`); the error text
/// is OpenWhisk's when there is nothing to remove.
pub(crate) fn remove_endpoint(
    swagger: &mut Value,
    relpath: &str,
    verb: Option<&str>,
) -> Result<(), String> {
    let Some(item) = swagger["paths"]
        .get_mut(relpath)
        .and_then(Value::as_object_mut)
    else {
        return Err(match verb {
            None => format!("path '{relpath}' does not exist in the API"),
            Some(v) => format!("path '{relpath}' with operation '{v}' does not exist in the API"),
        });
    };
    let removed: Vec<String> = match verb {
        None => item.keys().cloned().collect(),
        Some(v) => {
            if item.remove(v).is_none() {
                return Err(format!(
                    "path '{relpath}' with operation '{v}' does not exist in the API"
                ));
            }
            vec![v.to_owned()]
        }
    };
    let now_empty = verb.is_none() || !item.keys().any(|k| VERBS.contains(&k.as_str()));
    if now_empty {
        if let Some(paths) = swagger["paths"].as_object_mut() {
            paths.remove(relpath);
        }
    }
    if let Some(doc) = swagger.as_object_mut() {
        let ids: Vec<Value> = removed
            .iter()
            .map(|v| json!(operation_id(v, relpath)))
            .collect();
        cases_mut(doc).retain(|c| !ids.contains(&c["operations"][0]));
    }
    Ok(())
}

/// What [`check_path`] calls a base path.
pub(crate) const BASE_PATH: &str = "base path";
/// What [`check_path`] calls a relative path.
pub(crate) const RELATIVE_PATH: &str = "relative path";

/// Checks a path as a base or relative path: a leading `/`, bounded length and segments.
pub(crate) fn check_path(what: &str, path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' must begin with '/'."));
    }
    let n = path.chars().count();
    if n > MAX_PATH_LEN {
        return Err(format!(
            "The {what} is longer than allowed: {n} > {MAX_PATH_LEN} characters."
        ));
    }
    let segments = path.split('/').filter(|s| !s.is_empty()).count();
    let max = if what == BASE_PATH {
        MAX_BASE_SEGMENTS
    } else {
        MAX_SEGMENTS
    };
    if segments > max {
        return Err(format!(
            "The {what} has more segments than allowed: {segments} > {max}."
        ));
    }
    if path.chars().any(|c| c.is_control() || c == '?' || c == '#') {
        return Err(format!("The {what} '{path}' contains illegal characters."));
    }
    Ok(())
}

/// The parts of an `x-openwhisk` extension, or why it cannot be routed.
fn openwhisk_target(
    op: &Value,
    path: &str,
    verb: &str,
) -> Result<(String, String, String, Ext), String> {
    let Some(ow) = op.get("x-openwhisk").filter(|v| v.is_object()) else {
        return Err(format!(
            "The operation '{verb}' of path '{path}' has no 'x-openwhisk' action."
        ));
    };
    let text = |k: &str| ow.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (namespace, package, action) = (text("namespace"), text("package"), text("action"));
    if namespace.is_empty() || action.is_empty() {
        return Err(format!(
            "The 'x-openwhisk' of operation '{verb}' of path '{path}' needs a namespace and an action."
        ));
    }
    let ext = match ow.get("url").and_then(Value::as_str) {
        None => Ext::Json,
        Some(url) => {
            let last = url.rsplit('/').next().unwrap_or("");
            match Ext::split(last) {
                (_, e) if last.contains('.') => e,
                _ => Ext::Json,
            }
        }
    };
    Ok((namespace, package, action, ext))
}

/// Checks a whole document before it is stored (`validateArgs` and
/// `validateFinalSwagger` of OpenWhisk's `createApi`, with rwhisk's bounds).
pub(crate) fn validate(swagger: &Value) -> Result<(), String> {
    let Some(doc) = swagger.as_object() else {
        return Err("swagger field cannot be parsed. Ensure it is valid JSON.".into());
    };
    let Some(basepath) = doc.get("basePath").and_then(Value::as_str) else {
        return Err("swagger is missing the basePath field.".into());
    };
    if !doc.get("paths").is_some_and(Value::is_object) {
        return Err("swagger is missing the paths field.".into());
    }
    if !doc.get("info").is_some_and(Value::is_object) {
        return Err("swagger is missing the info field.".into());
    }
    check_path(BASE_PATH, basepath)?;
    if !path_parameters(basepath).is_empty() {
        return Err(format!("The base path ({basepath}) cannot have parameters. Only the relative path supports path parameters."));
    }
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().expect("checked") {
        check_path(RELATIVE_PATH, path)?;
        let Some(item) = item.as_object() else {
            return Err(format!("The path '{path}' is not an object."));
        };
        let named = path_parameters(path);
        let shared = item.get("parameters").and_then(Value::as_array);
        for (verb, op) in item.iter().filter(|(k, _)| VERBS.contains(&k.as_str())) {
            count += 1;
            if count > MAX_OPERATIONS {
                return Err(format!(
                    "The API has more operations than allowed: > {MAX_OPERATIONS}."
                ));
            }
            let (_, _, _, ext) = openwhisk_target(op, path, verb)?;
            if named.is_empty() {
                continue;
            }
            if ext != Ext::Http {
                return Err("The action must use a response type of '.http' in order to receive the path parameters.".into());
            }
            let own = op.get("parameters").and_then(Value::as_array);
            for name in &named {
                let declared = shared
                    .into_iter()
                    .chain(own)
                    .flatten()
                    .any(|p| p.get("name").and_then(Value::as_str) == Some(name));
                if !declared {
                    return Err(format!("The parameter '{name}' defined in path '{path}' does not match any of the parameters defined for the path in the swagger file."));
                }
                if name.starts_with("__") {
                    return Err(format!(
                        "The path parameter '{name}' may not start with '__'."
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Every routable operation of a (validated) document.
pub(crate) fn operations(swagger: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    let Some(paths) = swagger.get("paths").and_then(Value::as_object) else {
        return ops;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (verb, op) in item.iter().filter(|(k, _)| VERBS.contains(&k.as_str())) {
            if let Ok((namespace, package, action, response_type)) =
                openwhisk_target(op, path, verb)
            {
                ops.push(Operation {
                    path: path.clone(),
                    verb: verb.clone(),
                    namespace,
                    package,
                    action,
                    response_type,
                });
            }
        }
    }
    ops
}

/// Sets every operation's `x-openwhisk.namespace` of `_` to `ns`.
pub(crate) fn resolve_namespace(swagger: &mut Value, ns: &str) {
    let Some(paths) = swagger.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for (verb, op) in item.iter_mut() {
            if !VERBS.contains(&verb.as_str()) {
                continue;
            }
            if let Some(ow) = op.get_mut("x-openwhisk").and_then(Value::as_object_mut) {
                if ow.get("namespace").and_then(Value::as_str) == Some("_") {
                    ow.insert("namespace".into(), json!(ns));
                }
            }
        }
    }
}

/// Matches a request path (relative to the base path) against a path template: the
/// values of its `{params}` and how many segments matched literally, or `None`.
pub(crate) fn match_path(template: &str, path: &str) -> Option<(Map<String, Value>, usize)> {
    let t: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Map::new();
    let mut literal = 0;
    for (ts, ps) in t.iter().zip(&p) {
        match ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !name.is_empty() => {
                params.insert(
                    name.to_owned(),
                    json!(crate::request::percent_decode(ps, false)),
                );
            }
            _ if ts == ps => literal += 1,
            _ => return None,
        }
    }
    Some((params, literal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(relpath: &str, verb: &str, response_type: &str) -> Endpoint {
        Endpoint {
            relpath: relpath.into(),
            verb: verb.into(),
            namespace: "guest".into(),
            package: String::new(),
            action: "hello".into(),
            response_type: response_type.into(),
            path_parameters: path_parameters(relpath)
                .iter()
                .map(|n| path_parameter(n))
                .collect(),
        }
    }

    #[test]
    fn operation_ids_are_openwhisks() {
        assert_eq!(operation_id("GET", "/books/{isbn}"), "getBooksIsbn");
        assert_eq!(operation_id("post", "/foo/bar"), "postFooBar");
        assert_eq!(operation_id("get", "/"), "get");
    }

    #[test]
    fn endpoints_add_and_remove() {
        let mut doc = base("/shop", Some("Shop"));
        add_endpoint(
            &mut doc,
            &endpoint("/books/{isbn}", "get", "http"),
            "http://h",
        );
        add_endpoint(&mut doc, &endpoint("/books", "post", "json"), "http://h");
        add_endpoint(&mut doc, &endpoint("/books", "get", "json"), "http://h");
        validate(&doc).unwrap();
        let ops = operations(&doc);
        assert_eq!(ops.len(), 3);
        assert_eq!(
            doc["paths"]["/books/{isbn}"]["get"]["x-openwhisk"]["url"],
            "http://h/api/v1/web/guest/default/hello.http"
        );
        let cases =
            &doc["x-ibm-configuration"]["assembly"]["execute"][0]["operation-switch"]["case"];
        assert_eq!(cases.as_array().unwrap().len(), 3);
        assert_eq!(
            cases[0]["execute"][0]["invoke"]["target-url"],
            "http://h/api/v1/web/guest/default/hello.http$(request.path)"
        );
        remove_endpoint(&mut doc, "/books", Some("post")).unwrap();
        assert!(doc["paths"]["/books"].get("get").is_some());
        assert_eq!(
            remove_endpoint(&mut doc, "/books", Some("post")),
            Err("path '/books' with operation 'post' does not exist in the API".into())
        );
        remove_endpoint(&mut doc, "/books", None).unwrap();
        assert!(doc["paths"].get("/books").is_none());
        assert_eq!(operations(&doc).len(), 1);
        let cases =
            &doc["x-ibm-configuration"]["assembly"]["execute"][0]["operation-switch"]["case"];
        assert_eq!(cases.as_array().unwrap().len(), 1);
    }

    #[test]
    fn validation_texts() {
        assert_eq!(
            validate(&json!({"swagger": "2.0", "info": {}, "paths": {}})),
            Err("swagger is missing the basePath field.".into())
        );
        assert_eq!(
            validate(&json!({"swagger": "2.0", "basePath": "/a", "info": {}})),
            Err("swagger is missing the paths field.".into())
        );
        let mut doc = base("/a", None);
        add_endpoint(&mut doc, &endpoint("/b/{id}", "get", "json"), "http://h");
        assert_eq!(
            validate(&doc),
            Err("The action must use a response type of '.http' in order to receive the path parameters.".into())
        );
        let mut doc = base("/a/{x}", None);
        assert!(validate(&doc)
            .unwrap_err()
            .contains("cannot have parameters"));
        doc["basePath"] = json!(format!("/{}", "x".repeat(MAX_PATH_LEN)));
        assert!(validate(&doc).unwrap_err().contains("longer than allowed"));
        doc["basePath"] = json!("/a/b/c/d/e");
        assert_eq!(
            validate(&doc),
            Err("The base path has more segments than allowed: 5 > 4.".into())
        );
        let mut doc = base("/a", None);
        doc["paths"]["/b"] = json!({"get": {"responses": {}}});
        assert!(validate(&doc)
            .unwrap_err()
            .contains("no 'x-openwhisk' action"));
    }

    #[test]
    fn paths_match() {
        let (p, lit) = match_path("/books/{isbn}", "/books/978%2D3").unwrap();
        assert_eq!(p["isbn"], "978-3");
        assert_eq!(lit, 1);
        assert!(match_path("/books/{isbn}", "/books").is_none());
        assert!(match_path("/books", "/book").is_none());
        assert_eq!(match_path("/", "").unwrap().1, 0);
    }
}
