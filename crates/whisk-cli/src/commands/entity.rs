//! What the trigger, rule and package commands share: REST calls on
//! `namespaces/{ns}/{collection}/{name}` through the client's generic request, `get` output
//! with an optional field, and list namespaces.

use serde_json::Value;
use whisk_client::{Client, Method, QualifiedName};

use crate::config::Properties;
use crate::json::{pretty, Field, Shape};
use crate::{messages, CliError, Ctx};

/// `namespaces/{ns}/{collection}/{name}`, for [`Client::request`].
pub fn path(collection: &str, q: &QualifiedName) -> String {
    format!(
        "namespaces/{}/{collection}/{}",
        q.namespace(),
        q.entity_name()
    )
}

/// Resolves a name against the default namespace.
pub fn qualify(name: &str, props: &Properties) -> Result<QualifiedName, CliError> {
    QualifiedName::parse_entity(name, props.default_namespace())
        .map_err(|e| CliError::Invalid(e.to_string()))
}

/// Sends one request; the JSON answer, or `Value::Null` for an empty or non-JSON body.
pub async fn call(
    c: &Client,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
    context: &str,
) -> Result<Value, CliError> {
    let r = c
        .request(method, path, query, body)
        .await
        .map_err(|e| CliError::client(context, e))?;
    Ok(r.json.unwrap_or(Value::Null))
}

/// A list call with paging; the items of the JSON array.
pub async fn list(
    c: &Client,
    collection: &str,
    namespace: &str,
    limit: u32,
    skip: u32,
    context: &str,
) -> Result<Vec<Value>, CliError> {
    let (limit, skip) = (limit.to_string(), skip.to_string());
    let v = call(
        c,
        Method::GET,
        &format!("namespaces/{namespace}/{collection}"),
        &[("limit", &limit), ("skip", &skip)],
        None,
        context,
    )
    .await?;
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(CliError::General(format!(
            "{context}: the server did not send a list"
        ))),
    }
}

/// The namespace a list command reads (`/ns` argument or the default) and how messages
/// name it (`_` is shown as `default`).
pub fn list_namespace(arg: Option<&str>, props: &Properties) -> Result<(String, String), CliError> {
    let ns = match arg {
        Some(a) => {
            let q = QualifiedName::parse(a, props.default_namespace())
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            q.namespace().to_owned()
        }
        None => props.default_namespace().to_owned(),
    };
    let shown = if ns == "_" {
        "default".to_owned()
    } else {
        ns.clone()
    };
    Ok((ns, shown))
}

/// [`list_namespace`] for lists that take only a namespace (`/ns`), not a package.
pub fn list_namespace_only(
    arg: Option<&str>,
    props: &Properties,
) -> Result<(String, String), CliError> {
    if let Some(a) = arg {
        let q = QualifiedName::parse(a, props.default_namespace())
            .map_err(|e| CliError::Invalid(e.to_string()))?;
        let entity = q.entity_name();
        if !entity.is_empty() {
            return Err(CliError::Invalid(format!(
                "An entity name, '{entity}', was provided instead of a namespace. Valid namespaces are of the following format: /NAMESPACE."
            )));
        }
    }
    list_namespace(arg, props)
}

/// Checks a field filter against a record shape.
pub fn field_filter(shape: Shape, field: Option<&str>) -> Result<Option<&'static Field>, CliError> {
    field
        .map(|f| {
            shape
                .field(f)
                .ok_or_else(|| CliError::General(format!("Invalid field filter '{f}'.")))
        })
        .transpose()
}

/// `ok: got KIND NAME` and the record, or with a field filter only that field.
pub fn print_got(
    ctx: &mut Ctx<'_>,
    kind: &str,
    name: &str,
    record: &Value,
    shape: Shape,
    field: Option<(&str, &Field)>,
) -> Result<(), CliError> {
    let st = ctx.style;
    match (field, record.as_object()) {
        (Some((typed, f)), Some(obj)) => ctx.print(&format!(
            "{}{}",
            messages::got_field(st, kind, name, typed),
            pretty(&Shape::shown_field(f, obj), f.shape)
        )),
        _ => ctx.print(&format!(
            "{}{}",
            messages::got(st, kind, name),
            pretty(record, shape)
        )),
    }
}

/// A name qualified with a leading slash, as rule bodies and feed names carry it:
/// `a` → `/ns/a`; `/x/a` and `x/p/a` stay qualified.
pub fn slash_qualified(name: &str, namespace: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    if name.starts_with('/') {
        name.to_owned()
    } else if parts.len() == 3 && !parts[0].is_empty() {
        format!("/{name}")
    } else {
        format!("/{namespace}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualification() {
        assert_eq!(slash_qualified("t", "_"), "/_/t");
        assert_eq!(slash_qualified("p/a", "guest"), "/guest/p/a");
        assert_eq!(slash_qualified("/x/a", "guest"), "/x/a");
        assert_eq!(slash_qualified("x/p/a", "guest"), "/x/p/a");
        let q = QualifiedName::parse("/guest/t", "_").unwrap();
        assert_eq!(path("triggers", &q), "namespaces/guest/triggers/t");
        let props = Properties::default();
        assert_eq!(
            list_namespace(None, &props).unwrap(),
            ("_".into(), "default".into())
        );
        assert_eq!(
            list_namespace(Some("/whisk.system"), &props).unwrap(),
            ("whisk.system".into(), "whisk.system".into())
        );
    }
}
