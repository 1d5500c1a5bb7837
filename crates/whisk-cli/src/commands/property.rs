//! `wsk property set|unset|get`: the properties file and the table of current settings.

use serde_json::Value;
use whisk_client::api_base_url;

use crate::cli::{
    GlobalArgs, PropertyCommand, PropertyGetArgs, PropertySetArgs, PropertyUnsetArgs,
};
use crate::config::{Properties, CLI_VERSION, DEFAULT_API_VERSION, DEFAULT_NAMESPACE};
use crate::messages::{self, property_line};
use crate::props::{self, PropsFile};
use crate::{client, CliError, Ctx};

pub async fn run(
    cmd: PropertyCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    match cmd {
        PropertyCommand::Set(a) => set(&a, root, ctx).await,
        PropertyCommand::Unset(a) => {
            let props = ctx.properties(&root.merge(&GlobalArgs::from(&a.basic)));
            unset(&a, &props, ctx)
        }
        PropertyCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&GlobalArgs::from(&a.basic)));
            get(&a, &props, ctx).await
        }
    }
}

fn props_file(props: &Properties, what: &str) -> Result<(std::path::PathBuf, PropsFile), CliError> {
    let path = props.file.clone().ok_or_else(|| {
        CliError::General(format!(
            "Unable to {what} the property value: no properties file (WSK_CONFIG_FILE is empty and there is no home directory)"
        ))
    })?;
    let file = PropsFile::read(&path)
        .map_err(|e| CliError::General(format!("Unable to {what} the property value: {e}")))?;
    Ok((path, file))
}

/// `property set`: writes each given value; `--namespace` is checked against the
/// namespaces the (new) credentials may use.
async fn set(args: &PropertySetArgs, root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let flags = root.merge(&args.global);
    let props = ctx.properties(&flags);
    let (path, mut file) = props_file(&props, "set")?;
    let mut ok = String::new();
    let mut failure = None;
    let st = ctx.style;

    if let Some(cert) = &flags.cert {
        file.set(props::CERT, &cert.display().to_string());
        ok.push_str(&messages::cert_set(st));
    }
    if let Some(key) = &flags.key {
        file.set(props::KEY, &key.display().to_string());
        ok.push_str(&messages::key_set(st));
    }
    if let Some(auth) = &flags.auth {
        file.set(props::AUTH, auth);
        ok.push_str(&messages::auth_set(st));
    }
    if let Some(host) = &flags.apihost {
        match api_base_url(host) {
            Ok(_) => {
                file.set(props::APIHOST, host);
                ok.push_str(&messages::apihost_set(st, host));
            }
            Err(e) => {
                failure = Some(CliError::General(format!(
                    "Unable to set API host value; the API host value '{host}' is invalid: {e}"
                )));
            }
        }
    }
    if let Some(version) = &flags.apiversion {
        file.set(props::APIVERSION, version);
        ok.push_str(&messages::apiversion_set(st, version));
    }
    if let Some(ns) = &args.namespace {
        let context =
            format!("Authenticated user does not have namespace '{ns}'; set command failed");
        let listed = match client(&props, &context) {
            Ok(c) => c
                .namespaces()
                .await
                .map_err(|e| CliError::client(&context, e)),
            Err(e) => Err(e),
        };
        match listed {
            Err(e) => failure = Some(e),
            Ok(list) if !list.iter().any(|n| n == ns) => {
                failure = Some(CliError::General(format!(
                    "Namespace '{ns}' is not in the list of entitled namespaces"
                )));
            }
            Ok(_) => {
                file.set(props::NAMESPACE, ns);
                ok.push_str(&messages::namespace_set(st, ns));
            }
        }
    }

    file.write(&path)
        .map_err(|e| CliError::General(format!("Unable to set the property value(s): {e}")))?;
    ctx.print(&ok)?;
    failure.map_or(Ok(()), Err)
}

/// `property unset`: removes each named key.
fn unset(args: &PropertyUnsetArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let (path, mut file) = props_file(props, "unset")?;
    let s = &args.select;
    let st = ctx.style;
    let mut ok = String::new();
    if s.cert {
        file.unset(props::CERT);
        ok.push_str(&messages::cert_unset(st));
    }
    if s.key {
        file.unset(props::KEY);
        ok.push_str(&messages::key_unset(st));
    }
    if s.auth {
        file.unset(props::AUTH);
        ok.push_str(&messages::auth_unset(st));
    }
    if s.namespace {
        file.unset(props::NAMESPACE);
        ok.push_str(&messages::namespace_unset(st, DEFAULT_NAMESPACE));
    }
    if s.apihost {
        file.unset(props::APIHOST);
        ok.push_str(&messages::apihost_unset(st));
    }
    if s.apiversion {
        file.unset(props::APIVERSION);
        ok.push_str(&messages::apiversion_unset(st, DEFAULT_API_VERSION));
    }
    file.write(&path)
        .map_err(|e| CliError::General(format!("Unable to unset the property value: {e}")))?;
    ctx.print(&ok)
}

/// `property get`: the seed's table, or the selected lines; with `-o raw` only the values.
async fn get(
    args: &PropertyGetArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let raw = match args.output.as_str() {
        "std" => false,
        "raw" => true,
        _ => {
            return Err(CliError::General(
                "Supported output format are std|raw".to_owned(),
            ))
        }
    };
    let s = &args.select;
    let all = args.all
        || !(s.cert
            || s.key
            || s.auth
            || s.apihost
            || s.apiversion
            || s.namespace
            || args.cliversion
            || args.apibuild
            || args.apibuildno);
    if all && raw {
        return Err(CliError::General(
            "--output|-o raw only supported with specific property type".to_owned(),
        ));
    }
    let st = ctx.style;
    let line = |label: &str, value: &str| {
        if raw {
            format!("{}\n", st.bold(value))
        } else {
            property_line(st, label, value)
        }
    };
    let mut lines = String::new();
    if all || s.cert {
        lines.push_str(&line("client cert", &props.cert));
    }
    if all || s.key {
        lines.push_str(&line("Client key", &props.key));
    }
    if all || s.auth {
        lines.push_str(&line("whisk auth", &props.auth));
    }
    if all || s.apihost {
        lines.push_str(&line("whisk API host", &props.api_host));
    }
    if all || s.apiversion {
        lines.push_str(&line("whisk API version", &props.api_version));
    }
    if all || s.namespace {
        let ns = current_namespace(props).await;
        lines.push_str(&line("whisk namespace", &ns));
    }
    if all || args.cliversion {
        lines.push_str(&line("whisk CLI version", CLI_VERSION));
    }
    let mut failure = None;
    if all || args.apibuild || args.apibuildno {
        let context = "Unable to obtain API build information";
        let info = match client(props, context) {
            Ok(c) => c.info().await.map_err(|e| CliError::client(context, e)),
            Err(e) => Err(e),
        };
        let (build, buildno) = match info {
            Ok(info) => (text(info.get("build")), text(info.get("buildno"))),
            Err(e) => {
                failure = Some(e);
                ("Unknown".to_owned(), "Unknown".to_owned())
            }
        };
        if all || args.apibuild {
            lines.push_str(&line("whisk API build", &build));
        }
        if all || args.apibuildno {
            lines.push_str(&line("whisk API build number", &buildno));
        }
    }
    ctx.print(&lines)?;
    failure.map_or(Ok(()), Err)
}

/// The namespace the credentials act in: `NAMESPACE` when the server lists it, else the
/// server's first namespace; without an answer, `NAMESPACE` or `_`.
async fn current_namespace(props: &Properties) -> String {
    let fallback = props.default_namespace().to_owned();
    let Ok(c) = client(props, "") else {
        return fallback;
    };
    match c.namespaces().await {
        Ok(list) if list.contains(&props.namespace) => props.namespace.clone(),
        Ok(list) => list.into_iter().next().unwrap_or(fallback),
        Err(e) => {
            tracing::debug!(error = %e, "Namespace lookup failed.");
            fallback
        }
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}
