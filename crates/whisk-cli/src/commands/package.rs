//! `wsk package bind|create|update|get|delete|list`.

use serde_json::{json, Map, Value};
use whisk_client::{Method, QualifiedName};

use super::entity::{self, qualify};
use crate::cli::{GlobalArgs, KeyValueArgs, PackageBindArgs, PackageCommand, PackagePutArgs};
use crate::config::Properties;
use crate::json::PACKAGE;
use crate::params::{KeyValues, Kind};
use crate::{client, messages, summary, table, CliError, Ctx};

const COLLECTION: &str = "packages";

pub async fn run(
    cmd: PackageCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    match cmd {
        PackageCommand::Bind(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            bind(&a, &props, ctx).await
        }
        PackageCommand::Create(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a, false, &props, ctx).await
        }
        PackageCommand::Update(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            put(&a, true, &props, ctx).await
        }
        PackageCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let field = entity::field_filter(PACKAGE, a.field.as_deref())?;
            let context = format!("Unable to get package '{name}'");
            let c = client(&props, &context)?;
            let p = entity::call(
                &c,
                Method::GET,
                &entity::path(COLLECTION, &q),
                &[],
                None,
                &context,
            )
            .await?;
            if a.summary {
                return ctx.print(&summary::package(ctx.style, &p));
            }
            entity::print_got(
                ctx,
                "package",
                &name,
                &p,
                PACKAGE,
                a.field.as_deref().zip(field),
            )
        }
        PackageCommand::Delete(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let q = qualify(&a.name, &props)?;
            let name = q.entity_name();
            let context = format!("Unable to delete package '{name}'");
            let c = client(&props, &context)?;
            entity::call(
                &c,
                Method::DELETE,
                &entity::path(COLLECTION, &q),
                &[],
                None,
                &context,
            )
            .await?;
            ctx.print(&messages::deleted(ctx.style, "package", &name))
        }
        PackageCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let (ns, shown) = entity::list_namespace_only(a.namespace.as_deref(), &props)?;
            let context = format!("Unable to obtain the list of packages for namespace '{shown}'");
            let c = client(&props, &context)?;
            let mut items = entity::list(&c, COLLECTION, &ns, a.limit, a.skip, &context).await?;
            if a.name_sort {
                table::sort_by_name(&mut items);
            }
            ctx.print(&table::entity_list(ctx.style, "packages", &items))
        }
    }
}

/// `--shared yes|no` as `publish`.
pub fn shared_flag(v: &str) -> Result<bool, CliError> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(CliError::Invalid(format!(
            "Cannot use value '{v}' for shared."
        ))),
    }
}

/// Parameters and annotations into a body.
fn key_values(kv: &KeyValueArgs, body: &mut Map<String, Value>) -> Result<(), CliError> {
    let params = KeyValues::build(Kind::Parameter, kv.param_file.as_deref(), &kv.param)?;
    if !params.is_empty() {
        body.insert("parameters".into(), params.to_key_value_array());
    }
    let annotations = KeyValues::build(
        Kind::Annotation,
        kv.annotation_file.as_deref(),
        &kv.annotation,
    )?;
    if !annotations.is_empty() {
        body.insert("annotations".into(), annotations.to_key_value_array());
    }
    Ok(())
}

async fn put(
    a: &PackagePutArgs,
    update: bool,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let q = qualify(&a.name, props)?;
    let name = q.entity_name();
    let context = if update {
        "Package update failed".to_owned()
    } else {
        format!("Unable to create package '{name}'")
    };
    let mut body = Map::new();
    if let Some(shared) = &a.shared {
        body.insert("publish".into(), shared_flag(shared)?.into());
    }
    key_values(&a.kv, &mut body)?;
    let c = client(props, &context)?;
    let overwrite = if update { "true" } else { "false" };
    entity::call(
        &c,
        Method::PUT,
        &entity::path(COLLECTION, &q),
        &[("overwrite", overwrite)],
        Some(&Value::Object(body)),
        &context,
    )
    .await?;
    ctx.print(&if update {
        messages::updated(ctx.style, "package", &name)
    } else {
        messages::created(ctx.style, "package", &name)
    })
}

/// The `binding` of a bind body: the bound package's namespace and name.
pub fn binding_of(package: &QualifiedName) -> Value {
    json!({"namespace": package.namespace(), "name": package.entity()})
}

async fn bind(a: &PackageBindArgs, props: &Properties, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let target = qualify(&a.package, props)?;
    let q = qualify(&a.name, props)?;
    let name = q.entity_name();
    let context = "Binding creation failed";
    let mut body = Map::new();
    body.insert("binding".into(), binding_of(&target));
    key_values(&a.kv, &mut body)?;
    let c = client(props, context)?;
    let overwrite = if a.overwrite { "true" } else { "false" };
    entity::call(
        &c,
        Method::PUT,
        &entity::path(COLLECTION, &q),
        &[("overwrite", overwrite)],
        Some(&Value::Object(body)),
        context,
    )
    .await?;
    ctx.print(&messages::created(ctx.style, "binding", &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_bindings() {
        assert!(shared_flag("yes").unwrap());
        assert!(shared_flag("YES").unwrap());
        assert!(!shared_flag("no").unwrap());
        let e = shared_flag("true").unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "Cannot use value 'true' for shared.");
        let p = QualifiedName::parse("/whisk.system/alarms", "_").unwrap();
        assert_eq!(
            binding_of(&p),
            json!({"namespace": "whisk.system", "name": "alarms"})
        );
    }
}
