//! `wsk trigger create|update|fire|get|delete|list`, with the client-driven feed lifecycle
//! (reference §6.6): a trigger created with `--feed` is stored with a `feed` annotation, then
//! the feed action is invoked (blocking) with `lifecycleEvent` CREATE, `triggerName` and
//! `authKey`; `get`, `update` and `delete` send READ, UPDATE and DELETE the same way and
//! print the feed's activation, as OpenWhisk's CLI does.

use serde_json::{Map, Value};
use whisk_client::{Client, InvokeOutcome, Method, QualifiedName};

use super::action::print_invocation;
use super::entity::{self, qualify, slash_qualified};
use crate::cli::{GlobalArgs, TriggerCommand, TriggerFireArgs, TriggerPutArgs};
use crate::config::Properties;
use crate::error::EXIT_NOT_ALLOWED;
use crate::json::TRIGGER;
use crate::params::{KeyValues, Kind};
use crate::{client, messages, summary, table, CliError, Ctx};

const COLLECTION: &str = "triggers";

pub async fn run(
    cmd: TriggerCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    match cmd {
        TriggerCommand::Create(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            create(&a, &props, ctx).await
        }
        TriggerCommand::Update(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            update(&a, &props, ctx).await
        }
        TriggerCommand::Fire(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            fire(&a, &props, ctx).await
        }
        TriggerCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let field = entity::field_filter(TRIGGER, a.field.as_deref())?;
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let context = format!("Unable to get trigger '{name}'");
            let c = client(&props, &context)?;
            let path = entity::path(COLLECTION, &q);
            let t = entity::call(&c, Method::GET, &path, &[], None, &context).await?;
            if let Some(feed) = feed_of(&t) {
                // The feed describes the trigger; a failure is shown but not fatal.
                let input = feed_input("READ", &q, &props.auth, &KeyValues::default());
                if let Err(e) = configure_feed(ctx, &c, &feed, input, &props).await {
                    tracing::debug!(error = %e, "The feed's READ failed.");
                }
                return Ok(());
            }
            if a.summary {
                return ctx.print(&summary::trigger(ctx.style, &t));
            }
            let field = a.field.as_deref().zip(field);
            entity::print_got(ctx, "trigger", &name, &t, TRIGGER, field)
        }
        TriggerCommand::Delete(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let c = client(
                &props,
                &format!("Unable to delete trigger '{}'", q.entity_name()),
            )?;
            delete(&c, &q, &props, ctx).await
        }
        TriggerCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let (ns, shown) = entity::list_namespace_only(a.namespace.as_deref(), &props)?;
            let context = format!("Unable to obtain the list of triggers for namespace '{shown}'");
            let c = client(&props, &context)?;
            let mut items = entity::list(&c, COLLECTION, &ns, a.limit, a.skip, &context).await?;
            if a.name_sort {
                table::sort_by_name(&mut items);
            }
            ctx.print(&table::entity_list(ctx.style, "triggers", &items))
        }
    }
}

/// A PUT body: the name, and the parameters and annotations that were given.
fn trigger_body(q: &QualifiedName, params: &KeyValues, annotations: &KeyValues) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), q.entity_name().into());
    if !annotations.is_empty() {
        body.insert("annotations".into(), annotations.to_key_value_array());
    }
    if !params.is_empty() {
        body.insert("parameters".into(), params.to_key_value_array());
    }
    Value::Object(body)
}

/// The `feed` annotation of a trigger.
fn feed_of(trigger: &Value) -> Option<String> {
    table::annotation(trigger, "feed")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
}

/// What OpenWhisk's CLI refuses, with its exit code 149.
fn not_allowed(message: &str) -> CliError {
    CliError::Exit {
        message: message.to_owned(),
        code: EXIT_NOT_ALLOWED,
        usage: false,
    }
}

/// `-F`/`-T` were used (the "extended" form of create and update).
fn extended(a: &TriggerPutArgs) -> bool {
    !(a.feed_param.is_empty() && a.trigger_param.is_empty())
}

/// The `-p`/`-P` form is used: parameters were given, or nothing at all.
fn classic(a: &TriggerPutArgs) -> bool {
    !a.kv.param.is_empty() || a.kv.param_file.is_some() || !extended(a)
}

fn mixed_flags() -> CliError {
    not_allowed("Incorrect usage. Cannot combine --feed-param or --trigger-param flag with neither --param nor --param-file flag")
}

/// `trigger create`.
async fn create(a: &TriggerPutArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let q = qualify(&a.name, props)?;
    let name = q.entity_name();
    let context = format!("Unable to create trigger '{name}'");
    let use_classic = classic(a);
    if use_classic && extended(a) {
        return Err(mixed_flags());
    }
    let c = client(props, &context)?;
    let feed = a
        .feed
        .as_deref()
        .map(|f| slash_qualified(f, props.default_namespace()));
    let mut annotations = KeyValues::build(
        Kind::Annotation,
        a.kv.annotation_file.as_deref(),
        &a.kv.annotation,
    )?;
    if let Some(f) = &feed {
        annotations.insert("feed".to_owned(), Value::String(f.clone()));
    }
    let (trigger_params, feed_params) = if use_classic {
        let p = KeyValues::build(Kind::Parameter, a.kv.param_file.as_deref(), &a.kv.param)?;
        if feed.is_some() {
            (KeyValues::default(), p)
        } else {
            (p, KeyValues::default())
        }
    } else {
        if feed.is_none() && !a.feed_param.is_empty() {
            return Err(not_allowed(
                "Incorrect usage. Trigger without a feed cannot have feed parameters",
            ));
        }
        (
            KeyValues::build(Kind::Parameter, None, &a.trigger_param)?,
            KeyValues::build(Kind::Parameter, None, &a.feed_param)?,
        )
    };
    let body = trigger_body(&q, &trigger_params, &annotations);
    let path = entity::path(COLLECTION, &q);
    entity::call(
        &c,
        Method::PUT,
        &path,
        &[("overwrite", "false")],
        Some(&body),
        &context,
    )
    .await?;

    if let Some(feed) = &feed {
        let fq = qualify(feed, props)?;
        let input = feed_input("CREATE", &q, &props.auth, &feed_params);
        match c.action_invoke(feed, &input, true, false).await {
            Ok(outcome) => {
                // Success shows the `ok: invoked` line; a failure only the activation.
                let header = matches!(outcome, InvokeOutcome::Completed { .. });
                if let Err(e) = print_invocation(ctx, &fq, outcome, true, header) {
                    // The failed activation is on stderr; the trigger is removed again.
                    let _ = delete(&c, &q, props, ctx).await;
                    return Err(feed_failed(&context, feed, e));
                }
            }
            Err(e) => {
                let _ = delete(&c, &q, props, ctx).await;
                let code = crate::error::client_exit_code(&e);
                return Err(CliError::Exit {
                    message: format!("{context}: Unable to configure feed '{feed}': {e}"),
                    code,
                    usage: false,
                });
            }
        }
    }
    ctx.print(&messages::created(ctx.style, "trigger", &name))
}

/// A feed call that failed after its activation was printed: nothing more is shown, the
/// exit code is the call's.
fn feed_failed(context: &str, feed: &str, e: CliError) -> CliError {
    match e {
        CliError::Reported(code) => CliError::Reported(code),
        other => CliError::Exit {
            message: format!("{context}: Unable to configure feed '{feed}': {other}"),
            code: other.exit_code(),
            usage: false,
        },
    }
}

/// `trigger update`: a missing trigger is created; a trigger with a feed passes the new
/// parameters to its feed (UPDATE) instead of storing them.
async fn update(a: &TriggerPutArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let q = qualify(&a.name, props)?;
    let name = q.entity_name();
    let params = KeyValues::build(Kind::Parameter, a.kv.param_file.as_deref(), &a.kv.param)
        .map_err(CliError::with_usage)?;
    let annotations = KeyValues::build(
        Kind::Annotation,
        a.kv.annotation_file.as_deref(),
        &a.kv.annotation,
    )
    .map_err(CliError::with_usage)?;
    let get_context = format!("Unable to get trigger '{name}'");
    let c = client(props, &get_context)?;
    let path = entity::path(COLLECTION, &q);
    let existing = match c.request(Method::GET, &path, &[], None).await {
        Ok(r) => r.json.unwrap_or(Value::Null),
        Err(e) if e.status() == Some(404) => return create(a, props, ctx).await,
        Err(e) => return Err(CliError::client(get_context, e)),
    };
    let feed = feed_of(&existing);
    let update_context = format!("Unable to update trigger '{name}'");
    let create_context = format!("Unable to create trigger '{name}'");
    let put = |params: &KeyValues| trigger_body(&q, params, &annotations);
    if classic(a) {
        if extended(a) {
            return Err(mixed_flags());
        }
        match &feed {
            Some(feed) => {
                let input = feed_input("UPDATE", &q, &props.auth, &params);
                configure_feed(ctx, &c, feed, input, props)
                    .await
                    .map_err(|e| e.prefixed(&format!("{create_context}: ")))?;
            }
            None => {
                let body = put(&params);
                entity::call(
                    &c,
                    Method::PUT,
                    &path,
                    &[("overwrite", "true")],
                    Some(&body),
                    &update_context,
                )
                .await?;
            }
        }
    } else {
        let trigger_params = KeyValues::build(Kind::Parameter, None, &a.trigger_param)?;
        let body = put(&trigger_params);
        entity::call(
            &c,
            Method::PUT,
            &path,
            &[("overwrite", "true")],
            Some(&body),
            &update_context,
        )
        .await?;
        match &feed {
            None if !a.feed_param.is_empty() => {
                return Err(CliError::General(format!(
                    "Unable to configure feed '{name}': this trigger does not contain a feed"
                )))
            }
            Some(feed) if !a.feed_param.is_empty() => {
                let feed_params = KeyValues::build(Kind::Parameter, None, &a.feed_param)?;
                let input = feed_input("UPDATE", &q, &props.auth, &feed_params);
                configure_feed(ctx, &c, feed, input, props)
                    .await
                    .map_err(|e| e.prefixed(&format!("{create_context}: ")))?;
            }
            _ => {}
        }
    }
    ctx.print(&messages::updated(ctx.style, "trigger", &name))
}

/// `trigger delete`: tells the feed (DELETE; a failure is shown, not fatal), then deletes.
async fn delete(
    c: &Client,
    q: &QualifiedName,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let name = q.entity_name();
    let path = entity::path(COLLECTION, q);
    let t = entity::call(
        c,
        Method::GET,
        &path,
        &[],
        None,
        &format!("Unable to get trigger '{name}'"),
    )
    .await?;
    if let Some(feed) = feed_of(&t) {
        let input = feed_input("DELETE", q, &props.auth, &KeyValues::default());
        if let Err(e) = configure_feed(ctx, c, &feed, input, props).await {
            tracing::debug!(error = %e, "The feed's DELETE failed.");
        }
    }
    let context = format!("Unable to delete trigger '{name}'");
    entity::call(c, Method::DELETE, &path, &[], None, &context).await?;
    ctx.print(&messages::deleted(ctx.style, "trigger", &name))
}

/// The feed action's input: the user's parameters, then the lifecycle fields (which win).
pub fn feed_input(event: &str, trigger: &QualifiedName, auth: &str, params: &KeyValues) -> Value {
    let mut input = match params.to_object() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    input.insert("lifecycleEvent".into(), event.into());
    input.insert(
        "triggerName".into(),
        format!("/{}/{}", trigger.namespace(), trigger.entity_name()).into(),
    );
    input.insert("authKey".into(), auth.into());
    Value::Object(input)
}

/// Invokes a feed action (blocking) and prints its activation without the `ok:` line, as
/// OpenWhisk's CLI does for READ, UPDATE and DELETE.
///
/// # Errors
/// `Unable to configure feed 'FEED': ...`; a failed activation is already on stderr.
async fn configure_feed(
    ctx: &mut Ctx<'_>,
    c: &Client,
    feed: &str,
    input: Value,
    props: &Properties,
) -> Result<(), CliError> {
    let prefix = format!("Unable to configure feed '{feed}': ");
    let fq = qualify(feed, props).map_err(|e| e.prefixed(&prefix))?;
    let invoked = match c.action_invoke(feed, &input, true, false).await {
        Ok(outcome) => print_invocation(ctx, &fq, outcome, true, false),
        Err(e) => Err(CliError::client(
            format!("Unable to invoke action '{}'", fq.entity_name()),
            e,
        )),
    };
    invoked.map_err(|e| e.prefixed(&prefix))
}

/// `trigger fire`.
async fn fire(a: &TriggerFireArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let q = qualify(&a.name, props)?;
    let context = format!("Unable to fire trigger '{}'", q.entity_name());
    let c = client(props, &context)?;
    let params = KeyValues::build(Kind::Parameter, a.param_file.as_deref(), &a.param)?;
    let r = entity::call(
        &c,
        Method::POST,
        &entity::path(COLLECTION, &q),
        &[],
        Some(&params.to_object()),
        &context,
    )
    .await?;
    // 204 (no active rule) has no body, so no id.
    let id = r.get("activationId").and_then(Value::as_str).unwrap_or("");
    ctx.print(&messages::triggered(
        ctx.style,
        q.namespace(),
        &q.entity_name(),
        id,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn feed_lifecycle_input() {
        let q = QualifiedName::parse("tick", "_").unwrap();
        let params = KeyValues::build(
            Kind::Parameter,
            None,
            &[
                "cron".into(),
                "* * * * *".into(),
                "lifecycleEvent".into(),
                "X".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            feed_input("CREATE", &q, "u:k", &params),
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": "u:k", "cron": "* * * * *"})
        );
    }
}
