//! `wsk trigger create|update|fire|get|delete|list`, with the client-driven feed lifecycle
//! of `--feed` (reference §6.6): the trigger is stored, then the feed action is invoked with
//! `lifecycleEvent` CREATE (UPDATE, DELETE later), `triggerName` and `authKey`.

use serde_json::{json, Map, Value};
use whisk_client::{Client, InvokeOutcome, Method, QualifiedName};

use super::entity::{self, qualify, slash_qualified};
use crate::cli::{GlobalArgs, TriggerCommand, TriggerFireArgs, TriggerPutArgs};
use crate::config::Properties;
use crate::json::TRIGGER;
use crate::params::{KeyValues, Kind};
use crate::{client, messages, table, CliError, Ctx};

const COLLECTION: &str = "triggers";

pub async fn run(
    cmd: TriggerCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    match cmd {
        TriggerCommand::Create(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a, false, &props, ctx).await
        }
        TriggerCommand::Update(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a, true, &props, ctx).await
        }
        TriggerCommand::Fire(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            fire(&a, &props, ctx).await
        }
        TriggerCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let field = entity::field_filter(TRIGGER, a.field.as_deref())?;
            let context = format!("Unable to get trigger '{name}'");
            let c = client(&props, &context)?;
            let t = entity::call(
                &c,
                Method::GET,
                &entity::path(COLLECTION, &q),
                &[],
                None,
                &context,
            )
            .await?;
            let field = a.field.as_deref().zip(field);
            entity::print_got(ctx, "trigger", &name, &t, TRIGGER, field)
        }
        TriggerCommand::Delete(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let context = format!("Unable to delete trigger '{name}'");
            let c = client(&props, &context)?;
            let path = entity::path(COLLECTION, &q);
            let t = entity::call(
                &c,
                Method::GET,
                &path,
                &[],
                None,
                &format!("Unable to get trigger '{name}'"),
            )
            .await?;
            if let Some(feed) = feed_of(&t) {
                invoke_feed(
                    &c,
                    &feed,
                    "DELETE",
                    &q,
                    &props,
                    &KeyValues::default(),
                    &context,
                )
                .await?;
            }
            entity::call(&c, Method::DELETE, &path, &[], None, &context).await?;
            ctx.print(&messages::deleted("trigger", &name))
        }
        TriggerCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let (ns, shown) = entity::list_namespace(a.namespace.as_deref(), &props)?;
            let context = format!("Unable to obtain the list of triggers for namespace '{shown}'");
            let c = client(&props, &context)?;
            let mut items = entity::list(&c, COLLECTION, &ns, a.limit, a.skip, &context).await?;
            if a.name_sort {
                table::sort_by_name(&mut items);
            }
            ctx.print(&table::entity_list("triggers", &items))
        }
    }
}

/// The `feed` annotation of a trigger.
fn feed_of(trigger: &Value) -> Option<String> {
    table::annotation(trigger, "feed")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `trigger create|update`.
async fn put(
    a: &TriggerPutArgs,
    update: bool,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let q = qualify(&a.name, props)?;
    let name = q.entity_name();
    let verb = if update { "update" } else { "create" };
    let context = format!("Unable to {verb} trigger '{name}'");
    let c = client(props, &context)?;
    let params = KeyValues::build(Kind::Parameter, a.kv.param_file.as_deref(), &a.kv.param)?;
    let mut annotations = KeyValues::build(
        Kind::Annotation,
        a.kv.annotation_file.as_deref(),
        &a.kv.annotation,
    )?;
    let path = entity::path(COLLECTION, &q);

    // On update, a trigger that already has a feed passes new parameters to the feed.
    let existing_feed = if update {
        match c.request(Method::GET, &path, &[], None).await {
            Ok(r) => r.json.as_ref().and_then(feed_of),
            Err(e) if e.status() == Some(404) => None,
            Err(e) => {
                return Err(CliError::client(
                    format!("Unable to get trigger '{name}'"),
                    e,
                ))
            }
        }
    } else {
        None
    };
    let new_feed = a
        .feed
        .as_deref()
        .map(|f| slash_qualified(f, props.default_namespace()));
    if let Some(feed) = &new_feed {
        annotations.insert("feed".to_owned(), Value::String(feed.clone()));
    }
    let mut body = Map::new();
    if !annotations.is_empty() {
        body.insert("annotations".into(), annotations.to_key_value_array());
    }
    if new_feed.is_none() && existing_feed.is_none() && !params.is_empty() {
        body.insert("parameters".into(), params.to_key_value_array());
    }
    let overwrite = if update { "true" } else { "false" };
    entity::call(
        &c,
        Method::PUT,
        &path,
        &[("overwrite", overwrite)],
        Some(&Value::Object(body)),
        &context,
    )
    .await?;

    if let Some(feed) = &new_feed {
        let event = if update { "UPDATE" } else { "CREATE" };
        if let Err(e) = invoke_feed(&c, feed, event, &q, props, &params, &context).await {
            if !update {
                // As OpenWhisk's CLI: a trigger whose feed failed is removed again.
                let _ = c.request(Method::DELETE, &path, &[], None).await;
            }
            return Err(e);
        }
    } else if let Some(feed) = &existing_feed {
        if !params.is_empty() {
            invoke_feed(&c, feed, "UPDATE", &q, props, &params, &context).await?;
        }
    }
    ctx.print(&if update {
        messages::updated("trigger", &name)
    } else {
        messages::created("trigger", &name)
    })
}

/// The feed action's input: the lifecycle fields, then the user's parameters.
pub fn feed_input(event: &str, trigger: &QualifiedName, auth: &str, params: &KeyValues) -> Value {
    let mut input = json!({
        "lifecycleEvent": event,
        "triggerName": format!("/{}/{}", trigger.namespace(), trigger.entity_name()),
        "authKey": auth,
    });
    if let (Value::Object(m), Value::Object(p)) = (&mut input, params.to_object()) {
        m.extend(p);
    }
    input
}

/// Invokes the feed action (blocking) for a lifecycle event.
async fn invoke_feed(
    c: &Client,
    feed: &str,
    event: &str,
    trigger: &QualifiedName,
    props: &Properties,
    params: &KeyValues,
    context: &str,
) -> Result<(), CliError> {
    let input = feed_input(event, trigger, &props.auth, params);
    let failed = |detail: String| {
        CliError::General(format!(
            "{context}: the feed action '{feed}' failed for {event}: {detail}"
        ))
    };
    match c.action_invoke(feed, &input, true, false).await {
        Ok(InvokeOutcome::Completed { .. } | InvokeOutcome::Accepted { .. }) => Ok(()),
        Ok(InvokeOutcome::Failed { body, .. }) => {
            let detail = body
                .pointer("/response/result/error")
                .or_else(|| body.get("error"))
                .map_or_else(
                    || body.to_string(),
                    |e| e.as_str().map_or_else(|| e.to_string(), str::to_owned),
                );
            Err(failed(detail))
        }
        Err(e) => Err(failed(e.to_string())),
    }
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
    ctx.print(&format!("ok: triggered {q} with id {id}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_lifecycle_input() {
        let q = QualifiedName::parse("tick", "_").unwrap();
        let params =
            KeyValues::build(Kind::Parameter, None, &["cron".into(), "* * * * *".into()]).unwrap();
        assert_eq!(
            feed_input("CREATE", &q, "u:k", &params),
            json!({"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": "u:k", "cron": "* * * * *"})
        );
    }
}
