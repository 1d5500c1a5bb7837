//! The `whisk.system` namespace, made at start when absent: a subject with a random key
//! (stored hashed, never shown: nobody logs in as it yet), the shared package `alarms`
//! whose feed actions are built in, and the shared package `utils` whose small Node.js
//! actions (`echo`, `cat`, `sort`, `split`, `head`, `date`, `namespace`) behave as OpenWhisk's do. Several controllers may start at once: a write that
//! loses the race finds the entity there and moves on.

use std::sync::Arc;

use serde_json::{json, Value};
use whisk_store::{Collection, StoreError, SubjectRecord};
use whisk_types::{
    Action, ActionLimits, EntityName, EntityPath, Exec, FullyQualifiedName, Identity, Parameters,
    SemVer,
};

use crate::action_body::{EXEC_ANNOTATION, PROVIDE_API_KEY};
use crate::alarms::{ALARMS_PACKAGE, SYSTEM_NAMESPACE};
use crate::controller::Controller;
use crate::entities::{to_value, Package};
use crate::routes::FEED;
use crate::runtimes::{ResolvedKind, BUILTIN_ALARMS};

/// The feed actions of `alarms`, each with its bound parameter and description.
const FEEDS: [(&str, Option<&str>, &str); 3] = [
    ("alarm", None, "Fire trigger when alarm occurs"),
    (
        "once",
        Some("fireOnce"),
        "Fire trigger once when alarm occurs",
    ),
    (
        "interval",
        Some("isInterval"),
        "Fire trigger at specified interval",
    ),
];

/// The kind of the `utils` actions, resolved through the runtimes manifest.
const UTILS_KIND: &str = "nodejs:default";

/// The `utils` actions: name, description, code.
const UTILS: [(&str, &str, &str); 7] = [
    (
        "echo",
        "Returns the input",
        include_str!("system/utils/echo.js"),
    ),
    (
        "cat",
        "Concatenates input into a string",
        include_str!("system/utils/cat.js"),
    ),
    (
        "sort",
        "Sorts an array",
        include_str!("system/utils/sort.js"),
    ),
    (
        "split",
        "Splits a string into an array",
        include_str!("system/utils/split.js"),
    ),
    (
        "head",
        "Extracts the prefix of an array",
        include_str!("system/utils/head.js"),
    ),
    (
        "date",
        "Current date and time",
        include_str!("system/utils/date.js"),
    ),
    (
        "namespace",
        "Returns namespace for the authorization key used to invoke this action",
        include_str!("system/utils/namespace.js"),
    ),
];

fn name(s: &str) -> Result<EntityName, StoreError> {
    EntityName::new(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Makes sure the namespace, its subject and the `alarms` package with its feeds exist.
///
/// # Errors
/// Store failures.
pub(crate) async fn ensure(ctl: &Arc<Controller>) -> Result<(), StoreError> {
    let ns =
        EntityName::namespace(SYSTEM_NAMESPACE).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if ctl.identities.subject_by_namespace(&ns).await?.is_none() {
        // No key: an empty hash matches nothing, so nobody logs in as whisk.system until
        // an operator gives it one (`whiskd admin key regenerate whisk.system`).
        let record = SubjectRecord {
            identity: Identity {
                subject: SYSTEM_NAMESPACE.to_owned(),
                namespace: ns.clone(),
                uuid: uuid::Uuid::new_v4(),
            },
            salt: String::new(),
            secret_hash: String::new(),
            blocked: false,
        };
        match ctl.identities.put_subject(&record).await {
            Ok(()) => tracing::info!("Created the whisk.system subject."),
            Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }

    let mut parameters = Parameters::default();
    parameters.set("trigger_payload", json!(""));
    let alarms = ensure_package(
        ctl,
        &ns,
        ALARMS_PACKAGE,
        "Alarms and periodic utility",
        parameters,
    )
    .await?;
    for (feed, bound, description) in FEEDS {
        let mut parameters = Parameters::default();
        if let Some(p) = bound {
            parameters.set(p, json!(true));
        }
        let mut action =
            system_action(&alarms, feed, description, BUILTIN_ALARMS, feed, parameters)?;
        action.annotations.set(FEED, json!(true));
        create(ctl, Collection::Actions, &action.fqn(), to_value(&action)?).await?;
    }

    let utils = ensure_package(
        ctl,
        &ns,
        "utils",
        "Building blocks that format and assemble data",
        Parameters::default(),
    )
    .await?;
    let utils_kind = match ctl.config().runtimes.resolve(UTILS_KIND) {
        Ok(ResolvedKind::Runtime(k)) => k.kind.clone(),
        _ => {
            tracing::warn!("No Node.js runtime: whisk.system/utils is not installed.");
            return Ok(());
        }
    };
    for (action_name, description, code) in UTILS {
        let action = system_action(
            &utils,
            action_name,
            description,
            &utils_kind,
            code,
            Parameters::default(),
        )?;
        create(ctl, Collection::Actions, &action.fqn(), to_value(&action)?).await?;
    }
    Ok(())
}

/// Creates the shared package `name` in `ns` unless it exists; returns its path.
async fn ensure_package(
    ctl: &Controller,
    ns: &EntityName,
    name_str: &str,
    description: &str,
    parameters: Parameters,
) -> Result<EntityPath, StoreError> {
    let pkg_name = name(name_str)?;
    let mut annotations = Parameters::default();
    annotations.set("description", json!(description));
    let package = Package {
        namespace: EntityPath::namespace_only(ns.clone()),
        name: pkg_name.clone(),
        binding: None,
        parameters,
        version: SemVer::default(),
        publish: true,
        annotations,
        updated: 0,
    };
    let fqn = FullyQualifiedName::new(EntityPath::namespace_only(ns.clone()), pkg_name.clone());
    create(ctl, Collection::Packages, &fqn, to_value(&package)?).await?;
    Ok(EntityPath::with_package(ns.clone(), pkg_name))
}

/// An action of a system package with its code, kind and description.
fn system_action(
    package: &EntityPath,
    action_name: &str,
    description: &str,
    kind: &str,
    code: &str,
    parameters: Parameters,
) -> Result<Action, StoreError> {
    let mut annotations = Parameters::default();
    annotations.set("description", json!(description));
    annotations.set(PROVIDE_API_KEY, json!(false));
    annotations.set(EXEC_ANNOTATION, json!(kind));
    Ok(Action {
        namespace: package.clone(),
        name: name(action_name)?,
        exec: Exec::Code {
            kind: kind.to_owned(),
            code: code.to_owned(),
            main: None,
            binary: false,
        },
        parameters,
        limits: ActionLimits::default(),
        version: SemVer::default(),
        publish: false,
        annotations,
        updated: 0,
    })
}

/// Creates the entity unless it exists.
async fn create(
    ctl: &Controller,
    collection: Collection,
    fqn: &FullyQualifiedName,
    body: Value,
) -> Result<(), StoreError> {
    if ctl.entities.get(collection, fqn).await?.is_some() {
        return Ok(());
    }
    match ctl.entities.put(collection, fqn, body, None).await {
        Ok(_) | Err(StoreError::AlreadyExists) => Ok(()),
        Err(e) => Err(e),
    }
}
