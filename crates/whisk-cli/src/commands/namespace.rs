//! `wsk namespace list|get` and `wsk list`: the caller's namespaces, and every package,
//! action, trigger and rule of one namespace.

use serde_json::Value;
use whisk_client::{ListOptions, Method, QualifiedName};

use super::entity;
use crate::cli::{GlobalArgs, NamespaceCommand, NamespaceGetArgs};
use crate::style::Style;
use crate::{client, table, CliError, Ctx};

pub async fn run(
    cmd: NamespaceCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    match cmd {
        NamespaceCommand::List(args) => {
            let props = ctx.properties(&root.merge(&args.global));
            let context = "Unable to obtain the list of available namespaces";
            let c = client(&props, context)?;
            let names = c
                .namespaces()
                .await
                .map_err(|e| CliError::client(context, e))?;
            ctx.print(&namespace_list(ctx.style, &names))
        }
        NamespaceCommand::Get(args) => get(&args, root, ctx).await,
    }
}

/// `namespaces`, then one name per line.
pub fn namespace_list(st: Style, names: &[String]) -> String {
    let mut s = table::header(st, "namespaces", names.is_empty());
    for n in names {
        s.push_str(n);
        s.push('\n');
    }
    s
}

/// `namespace get` / `list`: `Entities in namespace: NS`, then the package, action, trigger
/// and rule lists (each rule read again for its status).
pub async fn get(
    args: &NamespaceGetArgs,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let props = ctx.properties(&root.merge(&args.global));
    let ns = match args.namespace.as_deref() {
        None | Some("/_") => props.default_namespace().to_owned(),
        Some(arg) => {
            let q = QualifiedName::parse(arg, props.default_namespace())
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            if !arg.starts_with('/') || !q.entity_name().is_empty() {
                return Err(CliError::Invalid(format!(
                    "Invalid argument(s): {arg}. No arguments are required."
                )));
            }
            q.namespace().to_owned()
        }
    };
    let shown = if ns == "_" { "default" } else { ns.as_str() };
    let context = format!("Unable to obtain the list of entities for namespace '{shown}'");
    let c = client(&props, &context)?;
    let mut actions = c
        .action_list(&ListOptions {
            within: Some(format!("/{ns}")),
            limit: Some(0),
            skip: Some(0),
        })
        .await
        .map_err(|e| CliError::client(&context, e))?;
    let mut packages = entity::list(&c, "packages", &ns, 0, 0, &context).await?;
    let mut triggers = entity::list(&c, "triggers", &ns, 0, 0, &context).await?;
    let mut rules = entity::list(&c, "rules", &ns, 0, 0, &context).await?;
    let mut rows = Vec::with_capacity(rules.len());
    if args.name_sort {
        table::sort_by_name(&mut packages);
        table::sort_actions_by_name(&mut actions);
        table::sort_by_name(&mut triggers);
        table::sort_by_name(&mut rules);
    }
    for rule in rules {
        let name = rule.get("name").and_then(Value::as_str).unwrap_or("");
        let status_context = format!("Unable to get status of rule '{name}'");
        let path = format!("namespaces/{ns}/rules/{name}");
        match entity::call(&c, Method::GET, &path, &[], None, &status_context).await {
            Ok(full) => {
                let status = full
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                rows.push((rule, status));
            }
            Err(e) => {
                // OpenWhisk's CLI prints this one on stdout too.
                ctx.print(&format!("{e}\n"))?;
                return Err(e);
            }
        }
    }
    let st = ctx.style;
    let mut s = format!("Entities in namespace: {}\n", st.bold(shown));
    s.push_str(&table::entity_list(st, "packages", &packages));
    s.push_str(&table::action_list(st, &actions));
    s.push_str(&table::entity_list(st, "triggers", &triggers));
    s.push_str(&table::rule_list(st, &rows));
    ctx.print(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing() {
        assert_eq!(
            namespace_list(Style::PLAIN, &["guest".to_owned()]),
            "namespaces\nguest\n"
        );
        assert_eq!(namespace_list(Style::PLAIN, &[]), "namespaces\n");
    }
}
