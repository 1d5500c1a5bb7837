//! `wsk rule create|update|enable|disable|status|get|delete|list`.

use serde_json::{json, Value};
use whisk_client::Method;

use super::entity::{self, qualify, slash_qualified};
use crate::cli::{GlobalArgs, RuleCommand, RulePutArgs};
use crate::config::Properties;
use crate::json::RULE;
use crate::{client, messages, summary, table, CliError, Ctx};

const COLLECTION: &str = "rules";

pub async fn run(cmd: RuleCommand, root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    match cmd {
        RuleCommand::Create(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a, false, &props, ctx).await
        }
        RuleCommand::Update(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a, true, &props, ctx).await
        }
        RuleCommand::Enable(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            set_state(&a.name, true, &props, ctx).await
        }
        RuleCommand::Disable(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            set_state(&a.name, false, &props, ctx).await
        }
        RuleCommand::Status(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let context = format!("Unable to get status of rule '{name}'");
            let c = client(&props, &context)?;
            let r = entity::call(
                &c,
                Method::GET,
                &entity::path(COLLECTION, &q),
                &[],
                None,
                &context,
            )
            .await
            .map_err(CliError::with_usage)?;
            let status = r.get("status").and_then(Value::as_str).unwrap_or("");
            let st = ctx.style;
            ctx.print(&format!(
                "{} rule {} is {}\n",
                st.ok(),
                st.bold(&name),
                st.bold(status)
            ))
        }
        RuleCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let field = entity::field_filter(RULE, a.field.as_deref())?;
            let context = format!("Unable to get rule '{name}'");
            let c = client(&props, &context)?;
            let r = entity::call(
                &c,
                Method::GET,
                &entity::path(COLLECTION, &q),
                &[],
                None,
                &context,
            )
            .await
            .map_err(CliError::with_usage)?;
            if a.summary {
                return ctx.print(&summary::rule(ctx.style, &r));
            }
            entity::print_got(ctx, "rule", &name, &r, RULE, a.field.as_deref().zip(field))
        }
        RuleCommand::Delete(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let context = format!("Unable to delete rule '{name}'");
            let c = client(&props, &context)?;
            let path = entity::path(COLLECTION, &q);
            if a.disable {
                entity::call(
                    &c,
                    Method::POST,
                    &path,
                    &[],
                    Some(&json!({"status": "inactive"})),
                    &format!("Unable to disable rule '{name}'"),
                )
                .await?;
            }
            entity::call(&c, Method::DELETE, &path, &[], None, &context).await?;
            ctx.print(&messages::deleted(ctx.style, "rule", &name))
        }
        RuleCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let (ns, shown) = entity::list_namespace_only(a.namespace.as_deref(), &props)?;
            let context = format!("Unable to obtain the list of rules for namespace '{shown}'");
            let c = client(&props, &context)?;
            let mut items = entity::list(&c, COLLECTION, &ns, a.limit, a.skip, &context).await?;
            if a.name_sort {
                table::sort_by_name(&mut items);
            }
            // Lists carry no status: each rule is read for it.
            let mut rows = Vec::with_capacity(items.len());
            for rule in items {
                let rule_name = rule
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let rule_ns = rule
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(&ns)
                    .to_owned();
                let path = format!("namespaces/{rule_ns}/{COLLECTION}/{rule_name}");
                let status_context = format!("Unable to get status of rule '{rule_name}'");
                let full = entity::call(&c, Method::GET, &path, &[], None, &status_context).await?;
                let status = full
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                rows.push((rule, status));
            }
            ctx.print(&table::rule_list(ctx.style, &rows))
        }
    }
}

/// The PUT body: trigger and action as `/ns/name`, `_` standing for the default namespace.
pub fn rule_body(name: &str, trigger: &str, action: &str, namespace: &str) -> Value {
    json!({
        "name": name,
        "trigger": slash_qualified(trigger, namespace),
        "action": slash_qualified(action, namespace),
    })
}

async fn put(
    a: &RulePutArgs,
    update: bool,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let q = qualify(&a.name, props)?;
    let name = q.entity_name();
    let verb = if update { "update" } else { "create" };
    let context = format!("Unable to {verb} rule '{name}'");
    let c = client(props, &context)?;
    let body = rule_body(q.entity(), &a.trigger, &a.action, props.default_namespace());
    let overwrite = if update { "true" } else { "false" };
    entity::call(
        &c,
        Method::PUT,
        &entity::path(COLLECTION, &q),
        &[("overwrite", overwrite)],
        Some(&body),
        &context,
    )
    .await?;
    ctx.print(&if update {
        messages::updated(ctx.style, "rule", &name)
    } else {
        messages::created(ctx.style, "rule", &name)
    })
}

async fn set_state(
    rule: &str,
    active: bool,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let q = qualify(rule, props)?;
    let name = q.entity_name();
    let (verb, status) = if active {
        ("enable", "active")
    } else {
        ("disable", "inactive")
    };
    let context = format!("Unable to {verb} rule '{name}'");
    let c = client(props, &context)?;
    entity::call(
        &c,
        Method::POST,
        &entity::path(COLLECTION, &q),
        &[],
        Some(&json!({"status": status})),
        &context,
    )
    .await?;
    let st = ctx.style;
    ctx.print(&format!("{} {verb}d rule {}\n", st.ok(), st.bold(&name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(
            rule_body("r", "t", "pkg/a", "_"),
            json!({"name": "r", "trigger": "/_/t", "action": "/_/pkg/a"})
        );
        assert_eq!(
            rule_body("r", "/guest/t", "a", "guest"),
            json!({"name": "r", "trigger": "/guest/t", "action": "/guest/a"})
        );
    }
}
