//! `wsk action create|update|invoke|get|delete|list`.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};
use whisk_client::{InvokeOutcome, ListOptions, QualifiedName};

use crate::cli::{
    ActionCommand, ActionGetArgs, ActionInvokeArgs, ActionListArgs, ActionSpec, GlobalArgs,
};
use crate::config::Properties;
use crate::error::status_exit_code;
use crate::json::{pretty, Shape, ACTION};
use crate::params::{KeyValues, Kind};
use crate::{client, messages, table, CliError, Ctx};

pub async fn run(cmd: ActionCommand, root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    match cmd {
        ActionCommand::Create(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a.spec, &[], false, &props, ctx).await
        }
        ActionCommand::Update(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a.spec, &a.del_annotation, true, &props, ctx).await
        }
        ActionCommand::Invoke(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            invoke(&a, &props, ctx).await
        }
        ActionCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            get(&a, &props, ctx).await
        }
        ActionCommand::Delete(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let context = format!("Unable to delete action '{name}'");
            let c = client(&props, &context)?;
            c.action_delete(&a.name)
                .await
                .map_err(|e| CliError::client(&context, e))?;
            ctx.print(&messages::deleted("action", &name))
        }
        ActionCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            list(&a, &props, ctx).await
        }
    }
}

/// Resolves a name as the Go CLI does, for messages.
fn qualify(name: &str, props: &Properties) -> Result<QualifiedName, CliError> {
    QualifiedName::parse_entity(name, props.default_namespace())
        .map_err(|e| CliError::Invalid(e.to_string()))
}

/// `action create` / `action update`.
async fn put(
    spec: &ActionSpec,
    del_annotations: &[String],
    update: bool,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let q = qualify(&spec.name, props)?;
    let name = q.entity_name();
    let body = action_body(spec, del_annotations, update, props)?;
    let context = format!("Unable to create action '{name}'");
    let c = client(props, &context)?;
    c.action_put(&spec.name, &body, update)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    if update {
        ctx.print(&messages::updated("action", &name))
    } else {
        ctx.print(&messages::created("action", &name))
    }
}

/// The PUT body: `exec` from `--docker`/`--native`/`--sequence`/a code file, plus
/// parameters, annotations and the limits that were given.
///
/// # Errors
/// Conflicting or missing options, unreadable files.
pub fn action_body(
    spec: &ActionSpec,
    del_annotations: &[String],
    update: bool,
    props: &Properties,
) -> Result<Value, CliError> {
    let mut body = Map::new();
    if spec.kind.is_some() && spec.docker.is_some() {
        return Err(CliError::General(
            "Cannot specify both --kind and --docker at the same time.".to_owned(),
        ));
    }
    if let Some(exec) = exec(spec, props)? {
        body.insert("exec".into(), exec);
    } else if !update {
        return Err(CliError::Invalid(
            "An action name and code artifact are required.".to_owned(),
        ));
    }
    let params = KeyValues::build(Kind::Parameter, spec.param_file.as_deref(), &spec.param)?;
    if !params.is_empty() {
        body.insert("parameters".into(), params.to_key_value_array());
    }
    let annotations = KeyValues::build(
        Kind::Annotation,
        spec.annotation_file.as_deref(),
        &spec.annotation,
    )?;
    if !annotations.is_empty() {
        body.insert("annotations".into(), annotations.to_key_value_array());
    }
    let mut limits = Map::new();
    for (key, value) in [
        ("timeout", spec.timeout),
        ("memory", spec.memory),
        ("logs", spec.logsize),
        ("concurrency", spec.concurrency),
    ] {
        if let Some(v) = value {
            limits.insert(key.into(), v.into());
        }
    }
    if !limits.is_empty() {
        body.insert("limits".into(), Value::Object(limits));
    }
    if update && !del_annotations.is_empty() {
        body.insert("delAnnotations".into(), json!(del_annotations));
    }
    Ok(Value::Object(body))
}

/// Kinds picked from a code file's extension.
fn kind_for_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "js" => "nodejs:default",
        "py" => "python:default",
        "swift" => "swift:default",
        "jar" => "java:default",
        "php" => "php:default",
        "rb" => "ruby:default",
        "rs" => "rust:default",
        "go" => "go:default",
        "balx" => "ballerina:default",
        _ => return None,
    })
}

fn exec(spec: &ActionSpec, props: &Properties) -> Result<Option<Value>, CliError> {
    let mut exec = Map::new();
    if spec.sequence {
        let Some(list) = &spec.artifact else {
            return Err(CliError::Invalid(
                "An action name and code artifact are required.".to_owned(),
            ));
        };
        let components: Vec<String> = list
            .split(',')
            .map(|c| super::entity::slash_qualified(c.trim(), props.default_namespace()))
            .collect();
        exec.insert("kind".into(), "sequence".into());
        exec.insert("components".into(), json!(components));
        return Ok(Some(Value::Object(exec)));
    }
    if spec.docker.is_none() && !spec.native && spec.artifact.is_none() {
        return Ok(None);
    }
    if let Some(path) = &spec.artifact {
        let path = Path::new(path);
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let blackbox = spec.docker.is_some() || spec.native;
        if !blackbox {
            let kind = match (&spec.kind, ext.as_str()) {
                (Some(k), _) => k.clone(),
                (None, "zip") => {
                    return Err(CliError::Invalid(
                        "creating an action from a .zip artifact requires specifying the action kind explicitly".to_owned(),
                    ))
                }
                (None, e) => kind_for_extension(e)
                    .ok_or_else(|| {
                        CliError::Invalid(format!("'{e}' is not a supported action runtime"))
                    })?
                    .to_owned(),
            };
            if kind.starts_with("java") && spec.main.is_none() {
                return Err(CliError::Invalid(
                    "Java actions require --main to specify the fully-qualified name of the main class".to_owned(),
                ));
            }
            exec.insert("kind".into(), kind.into());
        }
        let bytes = std::fs::read(path).map_err(|e| {
            CliError::Usage(format!(
                "File '{}' is not a valid file or it does not exist: {e}",
                path.display()
            ))
        })?;
        let code = if matches!(ext.as_str(), "zip" | "jar" | "balx") {
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        } else {
            String::from_utf8(bytes).map_err(|_| {
                CliError::General(format!(
                    "Unable to read '{}': the file is not UTF-8 text",
                    path.display()
                ))
            })?
        };
        exec.insert("code".into(), code.into());
    }
    if spec.docker.is_some() || spec.native {
        exec.insert("kind".into(), "blackbox".into());
        let image = spec
            .docker
            .clone()
            .unwrap_or_else(|| "openwhisk/dockerskeleton".to_owned());
        exec.insert("image".into(), image.into());
    }
    if let Some(main) = &spec.main {
        exec.insert("main".into(), main.clone().into());
    }
    Ok(Some(Value::Object(exec)))
}

/// `action invoke`.
async fn invoke(
    args: &ActionInvokeArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let q = qualify(&args.name, props)?;
    let params = KeyValues::build(Kind::Parameter, args.param_file.as_deref(), &args.param)?;
    let blocking = args.blocking || args.result;
    let context = format!("Unable to invoke action '{}'", q.entity_name());
    let c = client(props, &context)?;
    let outcome = c
        .action_invoke(&args.name, &params.to_object(), blocking, args.result)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    let shown = q.to_string();
    match outcome {
        InvokeOutcome::Accepted { activation_id } if blocking => {
            ctx.eprint(&messages::invoked_not_finished(&shown, &activation_id))?;
            Err(CliError::Reported(crate::error::EXIT_TIMED_OUT))
        }
        InvokeOutcome::Accepted { activation_id } => {
            ctx.print(&messages::invoked(&shown, &activation_id))
        }
        InvokeOutcome::Completed {
            activation_id,
            body,
        } => {
            let mut s = String::new();
            if !args.result {
                s.push_str(&messages::invoked(
                    &shown,
                    activation_id.as_deref().unwrap_or(""),
                ));
            }
            if blocking {
                s.push_str(&pretty(&body, Shape::Any));
            }
            ctx.print(&s)
        }
        InvokeOutcome::Failed {
            status,
            activation_id,
            body,
        } => {
            // As OpenWhisk's CLI: the same output, on stderr, and the status as exit code.
            let mut s = String::new();
            if !args.result {
                s.push_str(&messages::invoked(
                    &shown,
                    activation_id.as_deref().unwrap_or(""),
                ));
            }
            s.push_str(&pretty(&body, Shape::Any));
            ctx.eprint(&s)?;
            Err(CliError::Reported(status_exit_code(status)))
        }
    }
}

/// `action get [FIELD] [--url]`.
async fn get(args: &ActionGetArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let q = qualify(&args.name, props)?;
    let name = q.entity_name();
    let field = match (&args.field, args.url) {
        (Some(f), false) => Some(
            ACTION
                .field(f)
                .ok_or_else(|| CliError::General(format!("Invalid field filter '{f}'.")))?,
        ),
        _ => None,
    };
    let context = format!("Unable to get action '{name}'");
    let c = client(props, &context)?;
    let action = c
        .action_get(&args.name)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    if args.url {
        let url = action_url(c.base_url().as_str(), &props.api_version, &q, &action);
        return ctx.print(&format!("{}{url}\n", messages::got("action", &name)));
    }
    match (field, action.as_object()) {
        (Some(f), Some(obj)) => {
            let value = Shape::field_value(f, obj).unwrap_or(Value::Null);
            ctx.print(&format!(
                "{}{}",
                messages::got_field("action", &name, args.field.as_deref().unwrap_or("")),
                pretty(&value, f.shape)
            ))
        }
        _ => ctx.print(&format!(
            "{}{}",
            messages::got("action", &name),
            pretty(&action, ACTION)
        )),
    }
}

/// The action's REST URL, or its web URL when it is exported
/// (`<base>/v1/web/<ns>/<pkg|default>/<name>`).
fn action_url(base: &str, version: &str, q: &QualifiedName, action: &Value) -> String {
    let esc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let ns = action
        .get("namespace")
        .and_then(Value::as_str)
        .and_then(|n| n.split('/').next())
        .unwrap_or(q.namespace());
    let name = esc(q.entity());
    let web = table::annotation(action, "web-export").and_then(Value::as_bool) == Some(true);
    let base = base.trim_end_matches('/');
    match (web, q.package()) {
        (true, pkg) => format!(
            "{base}/{version}/web/{}/{}/{name}",
            esc(ns),
            esc(pkg.unwrap_or("default"))
        ),
        (false, Some(pkg)) => format!(
            "{base}/{version}/namespaces/{}/actions/{}/{name}",
            esc(ns),
            esc(pkg)
        ),
        (false, None) => format!("{base}/{version}/namespaces/{}/actions/{name}", esc(ns)),
    }
}

/// `action list [NAMESPACE|PACKAGE]`.
async fn list(
    args: &ActionListArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let ns_shown = match &args.within {
        Some(w) => QualifiedName::parse(w, props.default_namespace())
            .map_err(|e| CliError::Invalid(e.to_string()))?
            .namespace()
            .to_owned(),
        None => props.default_namespace().to_owned(),
    };
    let ns_shown = if ns_shown == "_" {
        "default".to_owned()
    } else {
        ns_shown
    };
    let context = format!("Unable to obtain the list of actions for namespace '{ns_shown}'");
    let c = client(props, &context)?;
    let opts = ListOptions {
        within: args.within.clone(),
        limit: Some(args.limit),
        skip: Some(args.skip),
    };
    let mut actions = c
        .action_list(&opts)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    if args.name_sort {
        table::sort_actions_by_name(&mut actions);
    }
    ctx.print(&table::action_list(&actions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ActionSpec {
        ActionSpec {
            name: name.to_owned(),
            ..ActionSpec::default()
        }
    }

    fn props() -> Properties {
        Properties::default()
    }

    #[test]
    fn docker_body() {
        let mut s = spec("whisk_c");
        s.docker = Some("chanwit/whisk_c".into());
        s.param = vec!["key".into(), "value".into()];
        s.timeout = Some(1000);
        let body = action_body(&s, &[], false, &props()).unwrap();
        assert_eq!(
            body,
            json!({"exec": {"kind": "blackbox", "image": "chanwit/whisk_c"},
                   "parameters": [{"key": "key", "value": "value"}],
                   "limits": {"timeout": 1000}})
        );
    }

    #[test]
    fn create_needs_an_artifact_update_does_not() {
        let e = action_body(&spec("a"), &[], false, &props()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "An action name and code artifact are required."
        );
        assert_eq!(e.exit_code(), 1);
        let body = action_body(&spec("a"), &["k".to_owned()], true, &props()).unwrap();
        assert_eq!(body, json!({"delAnnotations": ["k"]}));
        let mut s = spec("a");
        s.kind = Some("nodejs:20".into());
        s.docker = Some("img".into());
        assert!(action_body(&s, &[], false, &props()).is_err());
    }

    #[test]
    fn code_files() {
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("hello.js");
        std::fs::write(&js, "function main(p) { return p }").unwrap();
        let mut s = spec("hello");
        s.artifact = Some(js.display().to_string());
        let body = action_body(&s, &[], false, &props()).unwrap();
        assert_eq!(
            body["exec"],
            json!({"kind": "nodejs:default", "code": "function main(p) { return p }"})
        );

        let zip = dir.path().join("app.zip");
        std::fs::write(&zip, [0x50, 0x4b, 3, 4]).unwrap();
        s.artifact = Some(zip.display().to_string());
        assert!(action_body(&s, &[], false, &props()).is_err());
        s.kind = Some("python:3.11".into());
        s.main = Some("run".into());
        let body = action_body(&s, &[], false, &props()).unwrap();
        assert_eq!(
            body["exec"],
            json!({"kind": "python:3.11", "code": "UEsDBA==", "main": "run"})
        );

        // --docker with a zip: the image's proxy gets the zip at /init.
        let mut s = spec("native");
        s.artifact = Some(zip.display().to_string());
        s.native = true;
        let body = action_body(&s, &[], false, &props()).unwrap();
        assert_eq!(
            body["exec"],
            json!({"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": "UEsDBA=="})
        );

        let mut s = spec("x");
        s.artifact = Some(dir.path().join("x.txt").display().to_string());
        assert_eq!(
            action_body(&s, &[], false, &props())
                .unwrap_err()
                .to_string(),
            "'txt' is not a supported action runtime"
        );
    }

    #[test]
    fn sequences() {
        let mut s = spec("seq");
        s.sequence = true;
        s.artifact = Some("a,p/b,/x/c,y/p/d".into());
        let body = action_body(&s, &[], false, &props()).unwrap();
        assert_eq!(
            body["exec"],
            json!({"kind": "sequence", "components": ["/_/a", "/_/p/b", "/x/c", "/y/p/d"]})
        );
    }

    #[test]
    fn urls() {
        let q = QualifiedName::parse("hello world", "_").unwrap();
        let action = json!({"namespace": "guest", "name": "hello world"});
        assert_eq!(
            action_url("https://h/api", "v1", &q, &action),
            "https://h/api/v1/namespaces/guest/actions/hello%20world"
        );
        let q = QualifiedName::parse("p/a", "_").unwrap();
        let web =
            json!({"namespace": "guest/p", "annotations": [{"key": "web-export", "value": true}]});
        assert_eq!(
            action_url("https://h/api", "v1", &q, &web),
            "https://h/api/v1/web/guest/p/a"
        );
    }
}
