//! From names in requests to entities, with entitlement (reference §2.2): a caller owns
//! what lives in its namespace; other namespaces' packages are readable only when
//! published, and so are the actions inside them. A non-owner gets 403 for anything else,
//! even for what does not exist, so nothing leaks. Bindings are followed here, and the
//! parameters of package, binding and action are merged in their order (§6.2).
//!
//! The invoke paths go through [`invocable`], which keeps what it resolved in the
//! controller's [`EntityCache`](crate::entity_cache::EntityCache), without the code.

use std::sync::Arc;

use whisk_store::{Collection, StoreError};
use whisk_types::{
    Action, CodeRef, EntityName, EntityPath, FullyQualifiedName, Identity, Parameters,
};

use crate::controller::Controller;
use crate::entities::{decode, Package};
use crate::error::ApiError;

/// An action ready to invoke: the real action, its merged parameters and how it was reached.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedAction {
    /// The action as stored (its `namespace` is the real package, not a binding).
    pub action: Action,
    /// Package < binding < action parameters.
    pub params: Parameters,
    /// The binding the action was reached through (`guest/mybinding`).
    pub binding: Option<EntityPath>,
    /// The reference to the action's code when `action` was stripped of it ([`invocable`]);
    /// `None` when `action` still holds its code, or has none.
    pub code: Option<CodeRef>,
}

impl ResolvedAction {
    /// Moves the code out of `action`, leaving its digest (built-ins keep theirs: the
    /// controller runs them and reads it).
    fn strip_code(&mut self) {
        if self.code.is_some() || crate::runtimes::is_builtin(self.action.exec.kind()) {
            return;
        }
        if let (stripped, Some(code)) = self.action.split_code() {
            self.action = stripped;
            self.code = Some(code);
        }
    }

    /// The documents this was resolved from when `asked` was the name asked for: the
    /// action, and the package (binding) named and the real package, if any.
    fn sources(&self, asked: &FullyQualifiedName) -> Vec<FullyQualifiedName> {
        let mut sources = vec![asked.clone()];
        let real = self.action.fqn();
        for name in [asked, &real] {
            if let Some(pkg) = package_of(name) {
                sources.push(pkg);
            }
        }
        sources.push(real);
        sources.dedup();
        sources
    }

    /// The action and the code reference an activation message carries.
    pub fn message_parts(&self) -> (Action, Option<CodeRef>) {
        match &self.code {
            Some(code) => (self.action.clone(), Some(code.clone())),
            None => self.action.split_code(),
        }
    }
}

/// The package `ns/pkg` of an action `ns/pkg/name`; `None` outside a package.
fn package_of(fqn: &FullyQualifiedName) -> Option<FullyQualifiedName> {
    let pkg = fqn.path.package()?;
    Some(FullyQualifiedName::new(
        EntityPath::namespace_only(fqn.namespace().clone()),
        pkg.clone(),
    ))
}

/// [`resolve_action`] for running the action: from the controller's entity cache when it
/// holds a fresh resolution for this caller, else resolved (the code left in the store,
/// as activation messages carry only its digest) and cached.
///
/// # Errors
/// As [`resolve_action`].
pub(crate) async fn invocable(
    ctl: &Controller,
    caller: &EntityName,
    fqn: &FullyQualifiedName,
) -> Result<Arc<ResolvedAction>, ApiError> {
    if let Some(hit) = ctl.entity_cache.action(caller, fqn) {
        return Ok(hit);
    }
    let generation = ctl.entity_cache.generation();
    let mut resolved = resolve_action(ctl, caller, fqn).await?;
    resolved.strip_code();
    let sources = resolved.sources(fqn);
    let resolved = Arc::new(resolved);
    ctl.entity_cache
        .insert_action(generation, caller, fqn, Arc::clone(&resolved), sources);
    Ok(resolved)
}

/// The identity of the subject owning `namespace`, through the entity cache.
///
/// # Errors
/// The identity store failed.
pub(crate) async fn owner_identity(
    ctl: &Controller,
    namespace: &EntityName,
) -> Result<Option<Identity>, ApiError> {
    if let Some(hit) = ctl.entity_cache.owner(namespace) {
        return Ok(Some(hit));
    }
    let generation = ctl.entity_cache.generation();
    let Some(record) = ctl.identities.subject_by_namespace(namespace).await? else {
        return Ok(None);
    };
    ctl.entity_cache
        .insert_owner(generation, namespace, record.identity.clone());
    Ok(Some(record.identity))
}

/// A package with a binding followed: the real package and the merged parameters.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedPackage {
    /// The package document named (the binding itself when it is one).
    pub named: Package,
    /// The package holding the actions (the bound one for a binding).
    pub real: Package,
    /// Package < binding parameters.
    pub params: Parameters,
}

/// `ns/pkg` or `ns/pkg/name`, as 403 texts name resources.
fn resource(fqn: &FullyQualifiedName) -> String {
    fqn.to_string()
}

/// The document `fqn` of `collection`, or `None`; a name held by another collection reads
/// as absent (resolution walks names that may be anything).
async fn lookup(
    ctl: &Controller,
    collection: Collection,
    fqn: &FullyQualifiedName,
) -> Result<Option<whisk_store::Document>, ApiError> {
    match ctl.entities.get(collection, fqn).await {
        Ok(d) => Ok(d),
        Err(StoreError::WrongCollection) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads package `fqn` as `caller` may: owners get 404 when it is absent; others get 403
/// unless it exists and is published.
///
/// # Errors
/// 403, 404, or a store failure.
pub(crate) async fn entitled_package(
    ctl: &Controller,
    caller: &EntityName,
    fqn: &FullyQualifiedName,
) -> Result<Package, ApiError> {
    let owner = fqn.namespace() == caller;
    let doc = lookup(ctl, Collection::Packages, fqn).await?;
    let package: Option<Package> = doc.as_ref().map(decode).transpose()?;
    match package {
        Some(p) if owner || p.publish => Ok(p),
        None if owner => Err(ApiError::NotFound),
        _ => Err(ApiError::Forbidden(resource(fqn))),
    }
}

/// Follows a binding to the package it refers to.
///
/// # Errors
/// 403 when the caller may not see the package or what it binds; 404 when either is gone.
pub(crate) async fn resolve_package(
    ctl: &Controller,
    caller: &EntityName,
    fqn: &FullyQualifiedName,
) -> Result<ResolvedPackage, ApiError> {
    let named = entitled_package(ctl, caller, fqn).await?;
    if named.binding.is_some() && fqn.namespace() != caller {
        // Bindings are read only by their owner.
        return Err(ApiError::Forbidden(resource(fqn)));
    }
    let Some(binding) = named.binding.clone() else {
        return Ok(ResolvedPackage {
            params: named.parameters.clone(),
            real: named.clone(),
            named,
        });
    };
    let real = match entitled_package(ctl, caller, &binding.fqn()).await {
        Ok(p) if p.binding.is_none() => p,
        Ok(_) => return Err(ApiError::NotFound),
        // The bound package vanished: the binding leads nowhere.
        Err(ApiError::NotFound) => return Err(ApiError::NotFound),
        Err(e) => return Err(e),
    };
    let mut params = real.parameters.clone();
    params.merge(&named.parameters);
    Ok(ResolvedPackage {
        named,
        real,
        params,
    })
}

/// Resolves an action name for `caller`: through its package or binding, with entitlement,
/// merging package, binding and action parameters.
///
/// # Errors
/// 403 when not entitled, 404 when absent, or a store failure.
pub(crate) async fn resolve_action(
    ctl: &Controller,
    caller: &EntityName,
    fqn: &FullyQualifiedName,
) -> Result<ResolvedAction, ApiError> {
    let Some(pkg) = fqn.path.package() else {
        if fqn.namespace() != caller {
            return Err(ApiError::Forbidden(resource(fqn)));
        }
        let action = read_action(ctl, fqn).await?.ok_or(ApiError::NotFound)?;
        return Ok(ResolvedAction {
            params: action.parameters.clone(),
            action,
            binding: None,
            code: None,
        });
    };
    let pkg_fqn = FullyQualifiedName::new(
        EntityPath::namespace_only(fqn.namespace().clone()),
        pkg.clone(),
    );
    let rp = match resolve_package(ctl, caller, &pkg_fqn).await {
        Ok(rp) => rp,
        // Another namespace's actions are refused as a whole, never "not found".
        Err(ApiError::Forbidden(_)) => return Err(ApiError::Forbidden(resource(fqn))),
        Err(e) => return Err(e),
    };
    let real_fqn = FullyQualifiedName::new(
        EntityPath::with_package(rp.real.namespace.namespace().clone(), rp.real.name.clone()),
        fqn.name.clone(),
    );
    let action = read_action(ctl, &real_fqn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut params = rp.params;
    params.merge(&action.parameters);
    let binding = rp.named.binding.is_some().then(|| pkg_fqn_path(&pkg_fqn));
    Ok(ResolvedAction {
        action,
        params,
        binding,
        code: None,
    })
}

fn pkg_fqn_path(pkg: &FullyQualifiedName) -> EntityPath {
    EntityPath::with_package(pkg.namespace().clone(), pkg.name.clone())
}

/// The typed action `fqn`, with `updated` from the store.
///
/// # Errors
/// A store failure or a corrupt document.
pub(crate) async fn read_action(
    ctl: &Controller,
    fqn: &FullyQualifiedName,
) -> Result<Option<Action>, ApiError> {
    let Some(doc) = lookup(ctl, Collection::Actions, fqn).await? else {
        return Ok(None);
    };
    let mut action: Action = serde_json::from_value(doc.body)
        .map_err(|e| StoreError::Corrupt(format!("action {fqn}: {e}")))?;
    action.updated = doc.updated;
    Ok(Some(action))
}
