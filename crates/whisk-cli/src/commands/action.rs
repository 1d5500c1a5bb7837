//! `wsk action create|update|invoke|get|delete|list`. As in OpenWhisk's CLI, every failure
//! of an action command is followed by the usage hint, and mistakes in the flags of
//! `create`/`update` read `Invalid argument(s). <reason>`.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};
use whisk_client::{api_base_url, Client, InvokeOutcome, ListOptions, QualifiedName};

use super::web;
use crate::cli::{
    ActionCommand, ActionGetArgs, ActionInvokeArgs, ActionListArgs, ActionSpec, GlobalArgs,
};
use crate::config::Properties;
use crate::error::{status_exit_code, EXIT_NOT_ALLOWED, EXIT_USAGE};
use crate::json::{pretty, Shape, ACTION};
use crate::params::{KeyValues, Kind};
use crate::{client, messages, summary, table, CliError, Ctx};

/// What `create`/`update` errors start with.
const INVALID_ARGUMENTS: &str = "Invalid argument(s). ";

pub async fn run(cmd: ActionCommand, root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    dispatch(cmd, root, ctx).await.map_err(CliError::with_usage)
}

async fn dispatch(
    cmd: ActionCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
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
            ctx.print(&messages::deleted(ctx.style, "action", &name))
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

/// An error of OpenWhisk's CLI that exits with the usage code (2).
fn usage_error(message: impl Into<String>) -> CliError {
    CliError::Exit {
        message: message.into(),
        code: EXIT_USAGE,
        usage: true,
    }
}

fn no_artifact() -> CliError {
    usage_error("An action name and code artifact are required.")
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
    let context = format!("Unable to create action '{name}'");
    let c = client(props, &context)?;
    let body = action_body(&c, spec, del_annotations, update, props)
        .await
        .map_err(|e| e.prefixed(INVALID_ARGUMENTS))?;
    c.action_put(&spec.name, &body, update)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    let line = if update {
        messages::updated(ctx.style, "action", &name)
    } else {
        messages::created(ctx.style, "action", &name)
    };
    ctx.print(&line)
}

/// The PUT body: `exec` (from `--docker`/`--native`/`--sequence`/`--copy`/a code file),
/// parameters, annotations including the `--web`/`--web-secure` ones, the limits that were
/// given and, on update, `delAnnotations`. Reads the copied action, and on update the
/// existing one, through `c`.
///
/// # Errors
/// Conflicting or missing options, unreadable files, failed reads of those actions.
pub async fn action_body(
    c: &Client,
    spec: &ActionSpec,
    del_annotations: &[String],
    update: bool,
    props: &Properties,
) -> Result<Value, CliError> {
    let params = KeyValues::build(Kind::Parameter, spec.param_file.as_deref(), &spec.param)?;
    let annotations = KeyValues::build(
        Kind::Annotation,
        spec.annotation_file.as_deref(),
        &spec.annotation,
    )?;
    let mut params = (!params.is_empty()).then(|| params.to_key_value_vec());
    let mut annotations = (!annotations.is_empty()).then(|| annotations.to_key_value_vec());
    if spec.kind.is_some() && spec.docker.is_some() {
        return Err(CliError::Exit {
            message: "Cannot specify both --kind and --docker at the same time.".to_owned(),
            code: EXIT_NOT_ALLOWED,
            usage: false,
        });
    }
    let exec = if spec.copy {
        let source = spec.artifact.as_deref().ok_or_else(no_artifact)?;
        let sq = qualify(source, props)?;
        let existing = c.action_get_with_code(source, true).await.map_err(|e| {
            CliError::client(format!("Unable to get action '{}'", sq.entity_name()), e).with_usage()
        })?;
        for (mine, field) in [
            (&mut params, "parameters"),
            (&mut annotations, "annotations"),
        ] {
            let theirs = existing.get(field).and_then(Value::as_array);
            if let Some(theirs) = theirs.filter(|t| !t.is_empty()) {
                let list = mine.get_or_insert_with(Vec::new);
                web::append_missing(list, theirs);
            }
        }
        existing.get("exec").cloned()
    } else if spec.sequence {
        let list = spec.artifact.as_deref().ok_or_else(no_artifact)?;
        let components: Vec<String> = list
            .split(',')
            .map(|c| super::entity::slash_qualified(c, props.default_namespace()))
            .collect();
        Some(json!({"kind": "sequence", "components": components}))
    } else if spec.artifact.is_some() || spec.docker.is_some() {
        Some(exec(spec)?)
    } else if !update {
        return Err(no_artifact());
    } else {
        None
    };

    let mut body = Map::new();
    if let Some(exec) = exec {
        body.insert("exec".into(), exec);
    }
    if let Some(p) = params {
        body.insert("parameters".into(), Value::Array(p));
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
    let mut del = del_annotations.to_vec();

    if spec.web.is_some() || spec.web_secure.is_some() {
        let existing = if update {
            existing_action(c, &spec.name, props).await?
        } else {
            None
        };
        let outcome = web::augment(
            annotations,
            spec.web.as_deref(),
            spec.web_secure.as_deref(),
            existing.as_ref(),
        )?;
        annotations = outcome.annotations;
        if let Some(d) = outcome.del_annotations {
            del = d;
        }
    }
    if let Some(a) = annotations {
        body.insert("annotations".into(), Value::Array(a));
    }
    if update && !del.is_empty() {
        body.insert("delAnnotations".into(), json!(del));
    }
    Ok(Value::Object(body))
}

/// The action being updated, without its code; `None` when it does not exist yet.
async fn existing_action(
    c: &Client,
    name: &str,
    props: &Properties,
) -> Result<Option<Value>, CliError> {
    match c.action_get_with_code(name, false).await {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => {
            let q = qualify(name, props)?;
            Err(CliError::client(
                format!("Unable to get action '{}'", q.entity_name()),
                e,
            ))
        }
    }
}

/// Kinds picked from a code file's extension (with its dot, compared exactly).
fn kind_for_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        ".swift" => "swift:default",
        ".js" => "nodejs:default",
        ".py" => "python:default",
        ".jar" => "java:default",
        ".php" => "php:default",
        ".rb" => "ruby:default",
        ".rs" => "rust:default",
        ".go" => "go:default",
        ".balx" => "ballerina:default",
        _ => return None,
    })
}

/// `exec` from a code file and/or `--docker`, `--native`, `--kind`, `--main`.
fn exec(spec: &ActionSpec) -> Result<Value, CliError> {
    let mut exec = Map::new();
    let mut ext = String::new();
    if let Some(artifact) = &spec.artifact {
        let path = Path::new(artifact);
        ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let bytes = read_artifact(artifact)?;
        let code = if matches!(ext.as_str(), ".zip" | ".jar" | ".balx") {
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        exec.insert("code".into(), code.into());
    }
    if let Some(kind) = &spec.kind {
        exec.insert("kind".into(), kind.clone().into());
    } else if spec.docker.is_some() || spec.native {
        exec.insert("kind".into(), "blackbox".into());
        let image = if spec.native {
            "openwhisk/dockerskeleton".to_owned()
        } else {
            spec.docker.clone().unwrap_or_default()
        };
        exec.insert("image".into(), image.into());
    } else if let Some(kind) = kind_for_extension(&ext) {
        exec.insert("kind".into(), kind.into());
    } else if ext == ".zip" {
        return Err(usage_error(
            "creating an action from a .zip artifact requires specifying the action kind explicitly",
        ));
    } else {
        return Err(usage_error(format!(
            "'{ext}' is not a supported action runtime"
        )));
    }
    match &spec.main {
        Some(main) => {
            exec.insert("main".into(), main.clone().into());
        }
        None if exec.get("kind").and_then(Value::as_str) == Some("java") => {
            return Err(usage_error(
                "Java actions require --main to specify the fully-qualified name of the main class",
            ))
        }
        None => {}
    }
    Ok(Value::Object(exec))
}

/// The bytes of a code file; the Go CLI's message when it is missing.
fn read_artifact(artifact: &str) -> Result<Vec<u8>, CliError> {
    let path = Path::new(artifact);
    if !path.exists() {
        return Err(usage_error(format!(
            "File '{artifact}' is not a valid file or it does not exist"
        )));
    }
    std::fs::read(path)
        .map_err(|e| CliError::Invalid(format!("Unable to read the file '{artifact}': {e}")))
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
    print_invocation(ctx, &q, outcome, blocking, !args.result)
}

/// The output of an invoke, as `action invoke` and the trigger feed calls print it: the
/// `ok: invoked` line (when `header`), then with `blocking` the response. A failed blocking
/// call prints the same on stderr and exits with its status; a call the server stopped
/// waiting for prints the `not yet finished` line on stderr and exits with 202.
pub fn print_invocation(
    ctx: &mut Ctx<'_>,
    q: &QualifiedName,
    outcome: InvokeOutcome,
    blocking: bool,
    header: bool,
) -> Result<(), CliError> {
    let (ns, name) = (q.namespace(), q.entity_name());
    let st = ctx.style;
    match outcome {
        InvokeOutcome::Accepted { activation_id } if blocking => {
            ctx.eprint(&messages::invoked_not_finished(
                st,
                ns,
                &name,
                &activation_id,
            ))?;
            Err(CliError::Reported(crate::error::EXIT_TIMED_OUT))
        }
        InvokeOutcome::Accepted { activation_id } => {
            ctx.print(&messages::invoked(st, ns, &name, &activation_id))
        }
        InvokeOutcome::Completed {
            activation_id,
            body,
        } => {
            let mut s = String::new();
            if header {
                s.push_str(&messages::invoked(
                    st,
                    ns,
                    &name,
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
            if header {
                s.push_str(&messages::invoked(
                    st,
                    ns,
                    &name,
                    activation_id.as_deref().unwrap_or(""),
                ));
            }
            s.push_str(&pretty(&body, Shape::Any));
            ctx.eprint(&s)?;
            Err(CliError::Reported(status_exit_code(status)))
        }
    }
}

/// `action get [FIELD] [--url | --summary | --save | --save-as FILE]`.
async fn get(args: &ActionGetArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let field = match (&args.field, args.url || args.summary) {
        (Some(f), false) => Some(
            ACTION
                .field(f)
                .ok_or_else(|| usage_error(format!("Invalid field filter '{f}'.")))?,
        ),
        _ => None,
    };
    let q = qualify(&args.name, props)?;
    let name = q.entity_name();
    let save = args.save || args.save_as.is_some();
    let context = format!("Unable to get action '{name}'");
    let c = client(props, &context)?;
    let action = c
        .action_get_with_code(&args.name, save)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    let st = ctx.style;
    if args.url {
        let url = action_url(&props.api_host, &props.api_version, &q, &action)?;
        return ctx.print(&format!(
            "{}{url}\n",
            messages::got(st, "action", q.entity())
        ));
    }
    if args.summary {
        return ctx.print(&summary::action(st, &action));
    }
    if save {
        return save_code(ctx, &action, args.save_as.as_deref());
    }
    match (field, action.as_object()) {
        (Some(f), Some(obj)) => ctx.print(&format!(
            "{}{}",
            messages::got_field(st, "action", &name, args.field.as_deref().unwrap_or("")),
            pretty(&Shape::shown_field(f, obj), f.shape)
        )),
        _ => ctx.print(&format!(
            "{}{}",
            messages::got(st, "action", &name),
            pretty(&action, ACTION)
        )),
    }
}

/// The extension `action get --save` gives a runtime's code.
fn save_extension(runtime: &str, binary: bool) -> String {
    let runtime = runtime.to_ascii_lowercase();
    if binary {
        return match runtime.as_str() {
            "java" => ".jar",
            "ballerina" => ".balx",
            _ => ".zip",
        }
        .to_owned();
    }
    match runtime.as_str() {
        "nodejs" => ".js".to_owned(),
        "python" => ".py".to_owned(),
        "swift" | "php" => format!(".{runtime}"),
        "ruby" => ".rb".to_owned(),
        "rust" => ".rs".to_owned(),
        "go" => ".go".to_owned(),
        _ => String::new(),
    }
}

/// `action get --save[-as]`: writes the code (decoded when binary) to `<name><ext>` or the
/// given file in the current directory; never over an existing file.
fn save_code(ctx: &mut Ctx<'_>, action: &Value, save_as: Option<&str>) -> Result<(), CliError> {
    let exec = action.get("exec").cloned().unwrap_or(Value::Null);
    let kind = exec.get("kind").and_then(Value::as_str).unwrap_or("");
    let runtime = kind.split(':').next().unwrap_or("");
    let code = exec.get("code").and_then(Value::as_str);
    let binary = exec.get("binary").and_then(Value::as_bool) == Some(true);
    if runtime.eq_ignore_ascii_case("blackbox") && code.is_none() && !binary {
        return Err(usage_error("Cannot save Docker images"));
    }
    if runtime.eq_ignore_ascii_case("sequence") {
        return Err(usage_error("Cannot save action sequences"));
    }
    let code = code.unwrap_or("");
    let bytes = if binary {
        base64::engine::general_purpose::STANDARD
            .decode(code)
            .unwrap_or_default()
    } else {
        code.as_bytes().to_vec()
    };
    let name = action.get("name").and_then(Value::as_str).unwrap_or("");
    let file = match save_as {
        Some(f) if !f.is_empty() => f.to_owned(),
        _ => format!("{name}{}", save_extension(runtime, binary)),
    };
    let path = ctx.cwd.join(&file);
    if path.exists() {
        return Err(usage_error(format!("The file '{file}' already exists")));
    }
    std::fs::write(&path, bytes)
        .map_err(|e| usage_error(format!("Cannot create file '{file}': {e}")))?;
    let shown = format!("{}/{file}", ctx.cwd.display());
    ctx.print(&messages::saved(ctx.style, &shown))
}

/// The action's REST URL, or its web URL when it is exported
/// (`<apihost>/api/<version>/web/<ns>/<pkg|default>/<name>`); the API host gets `https://`
/// when it has no scheme.
fn action_url(
    api_host: &str,
    version: &str,
    q: &QualifiedName,
    action: &Value,
) -> Result<String, CliError> {
    api_base_url(api_host)
        .map_err(|e| CliError::General(format!("Invalid host address '{api_host}': {e}")))?;
    let host = api_host.trim().trim_end_matches('/');
    let base = if host.starts_with("http") && host.contains("://") {
        format!("{host}/api")
    } else {
        format!("https://{host}/api")
    };
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
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let name = esc(action.get("name").and_then(Value::as_str).unwrap_or(""));
    let pkg = esc(q.package().unwrap_or(""));
    let web = table::annotation(action, "web-export").and_then(Value::as_bool) == Some(true);
    Ok(match (web, pkg.is_empty()) {
        (true, true) => format!("{base}/{version}/web/{}/default/{name}", esc(ns)),
        (true, false) => format!("{base}/{version}/web/{}/{pkg}/{name}", esc(ns)),
        (false, true) => format!("{base}/{version}/namespaces/{}/actions/{name}", esc(ns)),
        (false, false) => format!(
            "{base}/{version}/namespaces/{}/actions/{pkg}/{name}",
            esc(ns)
        ),
    })
}

/// `action list [NAMESPACE|PACKAGE]`.
async fn list(
    args: &ActionListArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let (_, ns_shown) = super::entity::list_namespace(args.within.as_deref(), props)?;
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
    ctx.print(&table::action_list(ctx.style, &actions))
}

#[cfg(test)]
mod tests {
    use whisk_client::ClientConfig;

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

    /// A client for bodies that need no server (nothing is copied or updated).
    fn offline() -> Client {
        Client::new(ClientConfig::new("http://127.0.0.1:9")).unwrap()
    }

    async fn body(s: &ActionSpec, update: bool) -> Result<Value, CliError> {
        action_body(&offline(), s, &[], update, &props()).await
    }

    #[tokio::test]
    async fn docker_body() {
        let mut s = spec("whisk_c");
        s.docker = Some("chanwit/whisk_c".into());
        s.param = vec!["key".into(), "value".into()];
        s.timeout = Some(1000);
        assert_eq!(
            body(&s, false).await.unwrap(),
            json!({"exec": {"kind": "blackbox", "image": "chanwit/whisk_c"},
                   "parameters": [{"key": "key", "value": "value"}],
                   "limits": {"timeout": 1000}})
        );
    }

    #[tokio::test]
    async fn create_needs_an_artifact_update_does_not() {
        let e = body(&spec("a"), false).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "An action name and code artifact are required."
        );
        assert_eq!(e.exit_code(), 2);
        let b = action_body(&offline(), &spec("a"), &["k".to_owned()], true, &props())
            .await
            .unwrap();
        assert_eq!(b, json!({"delAnnotations": ["k"]}));
        let mut s = spec("a");
        s.kind = Some("nodejs:20".into());
        s.docker = Some("img".into());
        assert_eq!(body(&s, false).await.unwrap_err().exit_code(), 149);
    }

    #[tokio::test]
    async fn code_files() {
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("hello.js");
        std::fs::write(&js, "function main(p) { return p }").unwrap();
        let mut s = spec("hello");
        s.artifact = Some(js.display().to_string());
        assert_eq!(
            body(&s, false).await.unwrap()["exec"],
            json!({"kind": "nodejs:default", "code": "function main(p) { return p }"})
        );

        let zip = dir.path().join("app.zip");
        std::fs::write(&zip, [0x50, 0x4b, 3, 4]).unwrap();
        s.artifact = Some(zip.display().to_string());
        assert_eq!(body(&s, false).await.unwrap_err().to_string(), "creating an action from a .zip artifact requires specifying the action kind explicitly");
        s.kind = Some("python:3.11".into());
        s.main = Some("run".into());
        assert_eq!(
            body(&s, false).await.unwrap()["exec"],
            json!({"kind": "python:3.11", "code": "UEsDBA==", "main": "run"})
        );

        // --native: the skeleton image runs the zip (or script) it gets at /init.
        let mut s = spec("native");
        s.artifact = Some(zip.display().to_string());
        s.native = true;
        assert_eq!(
            body(&s, false).await.unwrap()["exec"],
            json!({"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": "UEsDBA=="})
        );

        let mut s = spec("x");
        let txt = dir.path().join("x.txt");
        std::fs::write(&txt, "hi").unwrap();
        s.artifact = Some(txt.display().to_string());
        assert_eq!(
            body(&s, false).await.unwrap_err().to_string(),
            "'.txt' is not a supported action runtime"
        );
        s.artifact = Some(dir.path().join("nope.js").display().to_string());
        let e = body(&s, false).await.unwrap_err();
        assert!(e
            .to_string()
            .ends_with("nope.js' is not a valid file or it does not exist"));
        assert_eq!(e.exit_code(), 2);
        let mut s = spec("j");
        s.kind = Some("java".into());
        s.artifact = Some(js.display().to_string());
        assert_eq!(
            body(&s, false).await.unwrap_err().to_string(),
            "Java actions require --main to specify the fully-qualified name of the main class"
        );
    }

    #[tokio::test]
    async fn sequences_and_web_flags() {
        let mut s = spec("seq");
        s.sequence = true;
        s.artifact = Some("a,p/b,/x/c,y/p/d".into());
        assert_eq!(
            body(&s, false).await.unwrap()["exec"],
            json!({"kind": "sequence", "components": ["/_/a", "/_/p/b", "/x/c", "/y/p/d"]})
        );
        let mut s = spec("page");
        s.docker = Some("img".into());
        s.annotation = vec!["description".into(), "a page".into()];
        s.web = Some("raw".into());
        s.web_secure = Some("s3cret".into());
        assert_eq!(
            body(&s, false).await.unwrap()["annotations"],
            json!([{"key": "description", "value": "a page"}, {"key": "web-export", "value": true},
                   {"key": "raw-http", "value": true}, {"key": "final", "value": true},
                   {"key": "require-whisk-auth", "value": "s3cret"}])
        );
        s.web = None;
        let e = body(&s, false).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "The --web-secure option is only valid when the --web option is enabled."
        );
    }

    #[test]
    fn urls() {
        let q = QualifiedName::parse("hello world", "_").unwrap();
        let action = json!({"namespace": "guest", "name": "hello world"});
        assert_eq!(
            action_url("h", "v1", &q, &action).unwrap(),
            "https://h/api/v1/namespaces/guest/actions/hello%20world"
        );
        let q = QualifiedName::parse("p/a", "_").unwrap();
        let web = json!({"namespace": "guest/p", "name": "a",
            "annotations": [{"key": "web-export", "value": true}]});
        assert_eq!(
            action_url("http://127.0.0.1:3233/", "v1", &q, &web).unwrap(),
            "http://127.0.0.1:3233/api/v1/web/guest/p/a"
        );
        let plain = json!({"namespace": "guest/p", "name": "a"});
        assert_eq!(
            action_url("http://h", "v1", &q, &plain).unwrap(),
            "http://h/api/v1/namespaces/guest/actions/p/a"
        );
        assert!(action_url("", "v1", &q, &plain).is_err());
    }

    #[test]
    fn save_extensions() {
        assert_eq!(save_extension("nodejs", false), ".js");
        assert_eq!(save_extension("python", false), ".py");
        assert_eq!(save_extension("php", false), ".php");
        assert_eq!(save_extension("blackbox", false), "");
        assert_eq!(save_extension("java", true), ".jar");
        assert_eq!(save_extension("python", true), ".zip");
    }
}
