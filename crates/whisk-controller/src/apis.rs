//! API management built in: what OpenWhisk does with its `apimgmt` actions and an
//! nginx gateway, served by the controller itself.
//!
//! - An API is one swagger 2.0 document per base path, stored in the caller's namespace
//!   in [`Collection::Apis`] under a name made from the base path ([`doc_name`]). Its
//!   operations name web actions of that same namespace (`x-openwhisk`); [`swagger`] builds
//!   and checks documents.
//! - [`mgmt`] serves `/api/v1/web/whisk.system/apimgmt/{createApi,getApi,deleteApi}`, the
//!   endpoints OpenWhisk's CLI and JS client call, for the authenticated caller's
//!   namespace only (`spaceguid` and `accesstoken` are accepted and ignored).
//! - [`serve`] answers `/api/{tenant}/{base}/{path}`: `tenant` is the hex of the namespace
//!   name ([`tenant_id`]), so it never clashes with `v1` and one namespace cannot take
//!   another's URLs. A matching route runs as a web action call of its action's owner.

pub(crate) mod mgmt;
pub(crate) mod serve;
pub(crate) mod swagger;

use axum::http::{header, HeaderMap};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use whisk_store::{Collection, Document, ListQuery};
use whisk_types::{EntityName, EntityPath, FullyQualifiedName};

use crate::controller::Controller;
use crate::error::ApiError;

/// Most APIs (base paths) one namespace may have.
pub(crate) const MAX_APIS: u64 = 100;
/// Largest swagger document, serialized.
pub(crate) const MAX_SWAGGER: usize = 256 * 1024;

/// Set by the HTTPS listener on its requests, so URLs handed back name the right scheme.
#[derive(Debug, Clone, Copy)]
pub struct Https;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2)
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The URL segment naming a namespace's APIs: its name in lowercase hex.
pub(crate) fn tenant_id(ns: &EntityName) -> String {
    hex(ns.as_str().as_bytes())
}

/// The namespace of a tenant segment, when it is one.
pub(crate) fn tenant_namespace(tenant: &str) -> Option<EntityName> {
    if tenant.is_empty() {
        return None;
    }
    let bytes = unhex(tenant)?;
    EntityName::namespace(std::str::from_utf8(&bytes).ok()?).ok()
}

/// `scheme://host` as the client reached this server.
pub(crate) fn origin(headers: &HeaderMap, https: bool) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// The store name of the API at `basepath`: `api.` and a digest of the path, so any
/// base path fits an entity name. It lives in the [`Collection::Apis`] of its namespace.
pub(crate) fn doc_name(basepath: &str) -> EntityName {
    let digest = Sha256::digest(basepath.as_bytes());
    EntityName::new(&format!("api.{}", &hex(&digest)[..40])).expect("a valid name")
}

pub(crate) fn doc_fqn(ns: &EntityName, basepath: &str) -> FullyQualifiedName {
    FullyQualifiedName::new(EntityPath::namespace_only(ns.clone()), doc_name(basepath))
}

/// The base path of `/a/b/` is `/a/b`; of `/` it is `/`.
pub(crate) fn normalize_base(basepath: &str) -> String {
    let trimmed = basepath.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_owned()
    }
}

pub(crate) async fn load(
    ctl: &Controller,
    ns: &EntityName,
    basepath: &str,
) -> Result<Option<Document>, ApiError> {
    Ok(ctl
        .entities
        .get(Collection::Apis, &doc_fqn(ns, basepath))
        .await?)
}

/// Every API of a namespace (at most [`MAX_APIS`]), newest first.
pub(crate) async fn list(ctl: &Controller, ns: &EntityName) -> Result<Vec<Document>, ApiError> {
    let query = ListQuery {
        namespace: ns.clone(),
        package: None,
        skip: 0,
        limit: MAX_APIS,
    };
    Ok(ctl.entities.list(Collection::Apis, &query).await?)
}

/// The API as OpenWhisk's clients read it (`generateCliApiFromGwApi`).
pub(crate) fn cli_value(ns: &EntityName, swagger: &Value, origin: &str) -> Value {
    let base = swagger["basePath"].as_str().unwrap_or("/");
    let url = format!(
        "{origin}/api/{}{}",
        tenant_id(ns),
        base.trim_end_matches('/')
    );
    json!({
        "namespace": ns,
        "gwApiActivated": true,
        "tenantId": tenant_id(ns),
        "gwApiUrl": url,
        "apidoc": swagger,
    })
}

/// One entry of a `getApi` answer.
pub(crate) fn cli_item(ns: &EntityName, swagger: &Value, origin: &str) -> Value {
    let id = format!("API:{ns}:{}", swagger["basePath"].as_str().unwrap_or("/"));
    json!({ "id": id, "key": id, "value": cli_value(ns, swagger, origin) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_round_trip_and_never_clash() {
        let ns = EntityName::namespace("guest").unwrap();
        assert_eq!(tenant_id(&ns), "6775657374");
        assert_eq!(tenant_namespace("6775657374"), Some(ns));
        assert_eq!(tenant_namespace("v1"), None);
        assert_eq!(tenant_namespace("6775657374ZZ"), None);
        // One spelling per namespace: uppercase hex is not a tenant.
        assert!(tenant_namespace("7a7a").is_some());
        assert_eq!(tenant_namespace("7A7A"), None);
        assert_eq!(tenant_namespace(""), None);
        // `/` (2f) is not a namespace character.
        assert_eq!(tenant_namespace("612f62"), None);
    }

    #[test]
    fn names_and_bases() {
        assert_eq!(normalize_base("/a/b/"), "/a/b");
        assert_eq!(normalize_base("/"), "/");
        assert_ne!(doc_name("/a"), doc_name("/b"));
        assert!(doc_name(&"/x".repeat(300)).as_str().len() < 50);
    }
}
