//! `wsk api create|get|delete|list`: the `whisk.system/apimgmt` web actions called as
//! OpenWhisk's CLI calls them (`createApi.http`, `getApi.http`, `deleteApi.http`, with
//! `spaceguid` and `accesstoken`), and their answers printed as it prints them.

use std::fmt::Write as _;

use serde_json::{json, Value};
use whisk_client::{Client, Method};

use super::entity::{self, qualify};
use crate::cli::{ApiCommand, ApiCreateArgs, ApiGetArgs, ApiListArgs, GlobalArgs};
use crate::config::Properties;
use crate::json::{pretty, API_SWAGGER, API_VALUE};
use crate::{client, CliError, Ctx};

const MGMT: &str = "web/whisk.system/apimgmt";
const VERBS: [&str; 7] = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"];
/// The order of a path's operations in listings (the Go CLI's struct order).
const OP_ORDER: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

pub async fn run(cmd: ApiCommand, root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    match cmd {
        ApiCommand::Create(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            create(&a, &props, ctx).await
        }
        ApiCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            get(&a, &props, ctx).await
        }
        ApiCommand::Delete(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            delete(&a.args, &props, ctx).await
        }
        ApiCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            list(&a, &props, ctx).await
        }
    }
}

/// `spaceguid` (the uuid of the key) and `accesstoken`, which every call carries.
fn user_context(props: &Properties) -> Vec<(&'static str, String)> {
    let guid = props.auth.split(':').next().unwrap_or("").to_owned();
    vec![
        ("spaceguid", guid),
        ("accesstoken", "DUMMY TOKEN".to_owned()),
    ]
}

async fn call(
    c: &Client,
    method: Method,
    op: &str,
    query: &[(&str, String)],
    body: Option<&Value>,
    context: &str,
) -> Result<Value, CliError> {
    let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    entity::call(c, method, &format!("{MGMT}/{op}.http"), &q, body, context).await
}

fn invalid(message: impl Into<String>) -> CliError {
    CliError::Invalid(message.into())
}

fn check_slash(path: &str) -> Result<(), CliError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(invalid(format!("'{path}' must begin with '/'.")))
    }
}

fn check_verb(verb: &str) -> Result<String, CliError> {
    let upper = verb.to_ascii_uppercase();
    if VERBS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(invalid(format!(
            "'{verb}' is not a valid API verb.  Valid values are: {}",
            VERBS.join(" ")
        )))
    }
}

/// The `{params}` of a path, once each.
fn path_parameters(path: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .filter(|s| !s.is_empty())
    {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

async fn create(a: &ApiCreateArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let (apidoc, action_shown) = match (&a.config_file, a.args.len()) {
        (None, 0) => return Err(invalid("Invalid argument(s). Specify a swagger file or specify an API base path with an API path, an API verb, and an action name.")),
        (Some(file), 0) => (swagger_file(file)?, None),
        (_, 3 | 4) => {
            let (doc, shown) = from_args(a, props).await?;
            (doc, Some(shown))
        }
        _ => return Err(invalid("Invalid argument(s). Specify a swagger file or specify an API base path with an API path, an API verb, and an action name.")),
    };
    let context = "Unable to create API";
    let c = client(props, context)?;
    let mut query = user_context(props);
    query.push(("responsetype", a.response_type.clone()));
    let api = call(
        &c,
        Method::POST,
        "createApi",
        &query,
        Some(&json!({ "apidoc": apidoc })),
        context,
    )
    .await?;
    let base_url = api["gwApiUrl"]
        .as_str()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();
    let swagger = &api["apidoc"];
    let base = swagger["basePath"]
        .as_str()
        .unwrap_or("/")
        .trim_end_matches('/');
    let st = ctx.style;
    let mut out = String::new();
    match action_shown {
        Some(name) => {
            let rel = apidoc["gatewayPath"].as_str().unwrap_or("");
            let verb = apidoc["gatewayMethod"].as_str().unwrap_or("");
            let _ = writeln!(
                out,
                "{} created API {}{rel} {verb} for action {}\n{base_url}{rel}",
                st.ok(),
                apidoc["gatewayBasePath"]
                    .as_str()
                    .unwrap_or("/")
                    .trim_end_matches('/'),
                st.bold(&name)
            );
        }
        None => {
            for row in rows(swagger, &base_url, None, None) {
                if row.action.is_empty() {
                    let _ = writeln!(
                        out,
                        "{} created API {base}{} {}\n{}",
                        st.ok(),
                        row.path,
                        row.verb,
                        row.url
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "{} created API {base}{} {} for action {}\n{}",
                        st.ok(),
                        row.path,
                        row.verb,
                        st.bold(&row.action),
                        row.url
                    );
                }
            }
        }
    }
    ctx.print(&out)
}

/// Reads a swagger JSON file into the `apidoc` of a create.
fn swagger_file(file: &std::path::Path) -> Result<Value, CliError> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| {
        invalid(format!(
            "Unable to parse swagger file: Error reading swagger file '{name}': {e}"
        ))
    })?;
    let swagger: Value = serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "Unable to parse swagger file: Error parsing swagger file '{name}': {e}"
        ))
    })?;
    let has = |k: &str| swagger.get(k).is_some_and(|v| !v.is_null() && v != "");
    if !(has("basePath") && has("swagger") && has("info") && has("paths")) {
        return Err(invalid("Unable to parse swagger file: Swagger file is invalid (missing basePath, info, paths, or swagger fields)"));
    }
    if !swagger["basePath"]
        .as_str()
        .is_some_and(|b| b.starts_with('/'))
    {
        return Err(invalid("Unable to parse swagger file: Swagger file basePath must start with a leading slash (/)"));
    }
    Ok(json!({ "namespace": "_", "swagger": text }))
}

/// The `apidoc` of `[BASE_PATH] API_PATH API_VERB ACTION`, after checking that the action
/// is a web action; and the action as the output names it.
async fn from_args(a: &ApiCreateArgs, props: &Properties) -> Result<(Value, String), CliError> {
    let mut args: &[String] = &a.args;
    let mut base = "/".to_owned();
    let mut base_is_name = false;
    if args.len() == 4 {
        base_is_name = !args[0].starts_with('/');
        if !path_parameters(&args[0]).is_empty() {
            return Err(invalid(format!("The base path '{}' cannot have parameters. Only the relative path supports path parameters.", args[0])));
        }
        base = args[0].clone();
        args = &args[1..];
    }
    let relpath = &args[0];
    check_slash(relpath)
        .map_err(|e| invalid(format!("Unable to parse api command arguments: {e}")))?;
    let params = path_parameters(relpath);
    if !params.is_empty() && a.response_type != "http" {
        return Err(invalid("Unable to parse api command arguments: A response type of 'http' is required when using path parameters."));
    }
    let verb = check_verb(&args[1])
        .map_err(|e| invalid(format!("Unable to parse api command arguments: {e}")))?;
    let q = qualify(&args[2], props)?;
    if a.apiname.is_some() && base_is_name {
        return Err(invalid(
            "Unable to parse api command arguments: An API name can only be specified once.",
        ));
    }
    let shown = format!("/{}/{}", q.namespace(), q.entity_name());
    // OpenWhisk's CLI checks the action first, with its own messages.
    let context = format!("Unable to get action '{shown}'");
    let c = client(props, &context)?;
    let action = entity::call(
        &c,
        Method::GET,
        &entity::path("actions", &q),
        &[("code", "false")],
        None,
        &context,
    )
    .await?;
    let web = action["annotations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|kv| kv["key"] == "web-export" && kv["value"] == json!(true));
    if !web {
        return Err(invalid(format!("Action '{shown}' is not a web action. Issue 'wsk action update \"{shown}\" --web true' to convert the action to a web action.")));
    }
    let package = q.package().map_or("default".to_owned(), str::to_owned);
    let host = props.api_host.trim_end_matches('/');
    let host = if host.starts_with("http") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let mut apidoc = json!({
        "namespace": props.default_namespace(),
        "gatewayBasePath": base,
        "gatewayPath": relpath,
        "gatewayMethod": verb,
        "action": {
            "name": q.entity_name(),
            "namespace": q.namespace(),
            "backendMethod": verb,
            "backendUrl": format!("{host}/api/v1/web/{}/{package}/{}.http", q.namespace(), q.entity()),
        },
    });
    if let Some(name) = &a.apiname {
        apidoc["apiName"] = json!(name);
    }
    if !base_is_name {
        apidoc["id"] = json!(format!("API:{}:{base}", props.default_namespace()));
    }
    if !params.is_empty() {
        apidoc["pathParameters"] = params
            .iter()
            .map(|n| json!({"name": n, "in": "path", "description": format!("Default description for '{n}'"), "required": true, "type": "string"}))
            .collect();
    }
    Ok((apidoc, shown))
}

async fn get(a: &ApiGetArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let format = a.format.to_ascii_lowercase();
    if format != "json" && format != "yaml" {
        return Err(CliError::General(format!(
            "Invalid format type: {}",
            a.format
        )));
    }
    let context = format!("Unable to get API '{}'", a.name);
    let c = client(props, &context)?;
    let mut query = user_context(props);
    query.push(("basepath", a.name.clone()));
    let r = call(&c, Method::GET, "getApi", &query, None, &context).await?;
    let value = &r["apis"][0]["value"];
    let shown = if a.full { value } else { &value["apidoc"] };
    if shown.is_null() {
        return Err(CliError::General(format!(
            "API does not exist for basepath {}",
            a.name
        )));
    }
    if format == "yaml" {
        return ctx.print(&format!("{}\n", yaml(shown)));
    }
    ctx.print(&pretty(shown, if a.full { API_VALUE } else { API_SWAGGER }))
}

async fn delete(args: &[String], props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut query = user_context(props);
    query.push(("basepath", args[0].clone()));
    if let Some(rel) = args.get(1) {
        check_slash(rel)?;
        query.push(("relpath", rel.clone()));
    }
    let verb = match args.get(2) {
        Some(v) => Some(check_verb(v)?),
        None => None,
    };
    if let Some(v) = &verb {
        query.push(("operation", v.clone()));
    }
    let context = "Unable to delete API";
    let c = client(props, context)?;
    call(&c, Method::DELETE, "deleteApi", &query, None, context).await?;
    let st = ctx.style;
    let line = match (args.get(1), verb) {
        (None, _) => format!("{} deleted API {}\n", st.ok(), args[0]),
        (Some(rel), None) => format!("{} deleted {rel} from {}\n", st.ok(), args[0]),
        (Some(rel), Some(v)) => format!("{} deleted {rel} {v} from {}\n", st.ok(), args[0]),
    };
    ctx.print(&line)
}

/// One operation of an API, as listings show it.
struct Row {
    action: String,
    verb: String,
    api_name: String,
    base: String,
    path: String,
    url: String,
}

/// The operations of `swagger`, paths sorted and verbs in the Go CLI's order, filtered
/// by relative path and verb.
fn rows(swagger: &Value, base_url: &str, path: Option<&str>, verb: Option<&str>) -> Vec<Row> {
    let mut out = Vec::new();
    let Some(paths) = swagger["paths"].as_object() else {
        return out;
    };
    let mut keys: Vec<&String> = paths.keys().collect();
    keys.sort();
    for p in keys {
        if path.is_some_and(|want| want != p) {
            continue;
        }
        for op in OP_ORDER {
            let Some(o) = paths[p].get(op) else {
                continue;
            };
            if verb.is_some_and(|v| !v.eq_ignore_ascii_case(op)) {
                continue;
            }
            let ow = &o["x-openwhisk"];
            let text = |k: &str| ow[k].as_str().unwrap_or("").to_owned();
            let action = match (text("namespace"), text("package"), text("action")) {
                (_, _, a) if ow.is_null() || a.is_empty() => String::new(),
                (ns, pkg, a) if pkg.is_empty() => format!("/{ns}/{a}"),
                (ns, pkg, a) => format!("/{ns}/{pkg}/{a}"),
            };
            out.push(Row {
                action,
                verb: op.to_owned(),
                api_name: swagger["info"]["title"].as_str().unwrap_or("").to_owned(),
                base: swagger["basePath"].as_str().unwrap_or("").to_owned(),
                path: p.clone(),
                url: format!("{base_url}{p}"),
            });
        }
    }
    out
}

async fn list(a: &ApiListArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let context = "Unable to obtain the API list";
    let c = client(props, context)?;
    let mut query = user_context(props);
    let (mut path, mut verb) = (None, None);
    if a.args.is_empty() {
        query.push(("limit", a.limit.to_string()));
        query.push(("skip", a.skip.to_string()));
    } else {
        query.push(("basepath", a.args[0].clone()));
        if let Some(rel) = a.args.get(1) {
            check_slash(rel)?;
            path = Some(rel.clone());
        }
        if let Some(v) = a.args.get(2) {
            verb = Some(check_verb(v)?);
        }
    }
    let r = call(&c, Method::GET, "getApi", &query, None, context).await?;
    let mut all = Vec::new();
    for api in r["apis"].as_array().into_iter().flatten() {
        let value = &api["value"];
        let base_url = value["gwApiUrl"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/');
        all.extend(rows(
            &value["apidoc"],
            base_url,
            path.as_deref(),
            verb.as_deref(),
        ));
    }
    if a.name_sort {
        let key = |r: &Row| format!("{}{}{}", r.base, r.path, r.verb).to_lowercase();
        all.sort_by_key(key);
    }
    let st = ctx.style;
    let mut out = format!("{} APIs\n", st.ok());
    if a.full {
        if all.is_empty() {
            out.push_str(&st.bold(""));
            out.push('\n');
        }
        for r in &all {
            let _ = write!(
                out,
                "Action: {}\n   API Name: {}\n   Base path: {}\n   Path: {}\n   Verb: {}\n   URL: {}\n",
                r.action, r.api_name, r.base, r.path, r.verb, r.url
            );
        }
        return ctx.print(&out);
    }
    if all.is_empty() {
        let header = format!(
            "{:<30} {:>7} {:>20}  {}",
            "Action", "Verb", "API Name", "URL"
        );
        out.push_str(&st.bold(&header));
        out.push('\n');
        return ctx.print(&out);
    }
    let width = |f: fn(&Row) -> usize, floor: usize, cap: usize| {
        all.iter().map(f).max().unwrap_or(0).max(floor).min(cap)
    };
    let action_w = width(|r| r.action.len(), "Action".len(), 40);
    let name_w = width(|r| r.api_name.len(), "API Name".len(), 30) + 1;
    let line = |action: &str, verb: &str, name: &str, url: &str| {
        format!("{action:<action_w$} {verb:>7} {name:>name_w$}  {url}\n")
    };
    out.push_str(&st.bold(&line("Action", "Verb", "API Name", "URL")));
    for r in &all {
        let action: String = r.action.chars().take(action_w).collect();
        let name: String = r.api_name.chars().take(name_w - 1).collect();
        out.push_str(&line(&action, &r.verb, &name, &r.url));
    }
    ctx.print(&out)
}

/// YAML as `ghodss/yaml` writes JSON: block style, keys sorted, two-space indents.
fn yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_value(&mut out, v, 0, false);
    out.trim_end_matches('\n').to_owned()
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = !s.is_empty()
                && !s.starts_with(|c: char| " -?:,[]{}#&*!|>'\"%@`~".contains(c))
                && s.parse::<f64>().is_err()
                && !s.ends_with(' ')
                && !s.contains(": ")
                && !s.contains(" #")
                && !s.contains('\n')
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
                );
            if plain {
                s.clone()
            } else {
                Value::String(s.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

fn yaml_value(out: &mut String, v: &Value, depth: usize, in_list: bool) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                let lead = if in_list && i == 0 {
                    String::new()
                } else {
                    pad.clone()
                };
                yaml_entry(out, &lead, &yaml_scalar(&json!(k)), &m[k], depth);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    Value::Object(m) if !m.is_empty() => yaml_value(out, item, depth + 1, true),
                    Value::Array(x) if !x.is_empty() => {
                        out.push('\n');
                        yaml_value(out, item, depth + 1, false);
                    }
                    _ => {
                        out.push_str(&yaml_leaf(item));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&yaml_leaf(other));
            out.push('\n');
        }
    }
}

fn yaml_leaf(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => yaml_scalar(other),
    }
}

fn yaml_entry(out: &mut String, lead: &str, key: &str, v: &Value, depth: usize) {
    let _ = write!(out, "{lead}{key}:");
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_value(out, v, depth + 1, false);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_value(out, v, depth, false);
        }
        _ => {
            out.push(' ');
            out.push_str(&yaml_leaf(v));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_blocks() {
        let v = json!({"b": [1, {"x": "y", "a": true}], "a": {"c": "2", "d": [], "v": "1.0.0"}, "e": "get"});
        assert_eq!(
            yaml(&v),
            "a:\n  c: \"2\"\n  d: []\n  v: 1.0.0\nb:\n- 1\n- a: true\n  x: y\ne: get"
        );
    }

    #[test]
    fn swagger_prints_in_the_go_structs_order() {
        let doc = json!({"paths": {"/b": {"post": {"x-openwhisk": {"namespace": "g", "action": "a"},
            "operationId": "postB", "responses": {}, "extra": 1}}}, "info": {"version": "1", "title": "T"},
            "basePath": "/x", "swagger": "2.0"});
        let keys: Vec<String> = pretty(&doc, API_SWAGGER)
            .lines()
            .filter_map(|l| l.trim().split('"').nth(1).map(str::to_owned))
            .collect();
        assert_eq!(
            keys,
            [
                "swagger",
                "basePath",
                "info",
                "title",
                "version",
                "paths",
                "/b",
                "post",
                "operationId",
                "responses",
                "x-openwhisk",
                "action",
                "namespace",
                "package",
                "url"
            ]
        );
    }

    #[test]
    fn rows_follow_the_go_order() {
        let swagger = json!({"basePath": "/b", "info": {"title": "B"}, "paths": {
            "/z": {"post": {"x-openwhisk": {"namespace": "g", "package": "", "action": "a"}}},
            "/a": {"post": {"x-openwhisk": {"namespace": "g", "package": "p", "action": "a"}},
                   "get": {"x-openwhisk": {"namespace": "g", "package": "", "action": "a"}}}}});
        let r = rows(&swagger, "http://h/api/t/b", None, None);
        let got: Vec<(String, String, String)> = r
            .iter()
            .map(|r| (r.path.clone(), r.verb.clone(), r.action.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/a".into(), "get".into(), "/g/a".into()),
                ("/a".into(), "post".into(), "/g/p/a".into()),
                ("/z".into(), "post".into(), "/g/a".into()),
            ]
        );
        assert_eq!(r[0].url, "http://h/api/t/b/a");
        assert_eq!(rows(&swagger, "", Some("/a"), Some("POST")).len(), 1);
    }
}
