//! The `whisk.system` namespace, made at start when absent: a subject with a random key
//! (stored hashed, never shown: nobody logs in as it yet), the shared package `alarms`
//! whose feed actions are built in, and the shared package `utils` whose small Node.js
//! actions (`echo`, `cat`, `sort`, `split`, `head`, `date`) behave as OpenWhisk's do. Several controllers may start at once: a write that
//! loses the race finds the entity there and moves on.

use std::sync::Arc;

use serde_json::{json, Value};
use whisk_store::{hash_secret, new_salt, Collection, StoreError, SubjectRecord};
use whisk_types::{
    Action, ActionLimits, AuthKey, EntityName, EntityPath, Exec, FullyQualifiedName, Identity,
    Parameters, SemVer,
};

use crate::action_body::{EXEC_ANNOTATION, PROVIDE_API_KEY};
use crate::alarms::{ALARMS_PACKAGE, SYSTEM_NAMESPACE};
use crate::controller::Controller;
use crate::entities::{to_value, Package};
use crate::routes::FEED;
use crate::runtimes::BUILTIN_ALARMS;

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

/// The kind of the `utils` actions.
const UTILS_KIND: &str = "nodejs:18";

/// The `utils` actions: name, description, code.
const UTILS: [(&str, &str, &str); 6] = [
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
        let key = AuthKey::generate();
        let salt = new_salt();
        let record = SubjectRecord {
            identity: Identity {
                subject: SYSTEM_NAMESPACE.to_owned(),
                namespace: ns.clone(),
                uuid: key.uuid,
            },
            secret_hash: hash_secret(&salt, &key.secret),
            salt,
        };
        match ctl.identities.put_subject(&record).await {
            Ok(()) => tracing::info!("Created the whisk.system subject."),
            Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }

    let pkg_name = name(ALARMS_PACKAGE)?;
    let pkg_fqn = FullyQualifiedName::new(EntityPath::namespace_only(ns.clone()), pkg_name.clone());
    let mut annotations = Parameters::default();
    annotations.set("description", json!("Alarms and periodic utility"));
    let mut parameters = Parameters::default();
    parameters.set("trigger_payload", json!(""));
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
    create(ctl, Collection::Packages, &pkg_fqn, to_value(&package)?).await?;

    for (feed, bound, description) in FEEDS {
        let mut annotations = Parameters::default();
        annotations.set(FEED, json!(true));
        annotations.set("description", json!(description));
        annotations.set(PROVIDE_API_KEY, json!(false));
        annotations.set(EXEC_ANNOTATION, json!(BUILTIN_ALARMS));
        let mut parameters = Parameters::default();
        if let Some(p) = bound {
            parameters.set(p, json!(true));
        }
        let action = Action {
            namespace: EntityPath::with_package(ns.clone(), pkg_name.clone()),
            name: name(feed)?,
            exec: Exec::Code {
                kind: BUILTIN_ALARMS.to_owned(),
                code: feed.to_owned(),
                main: None,
                binary: false,
            },
            parameters,
            limits: ActionLimits::default(),
            version: SemVer::default(),
            publish: false,
            annotations,
            updated: 0,
        };
        create(ctl, Collection::Actions, &action.fqn(), to_value(&action)?).await?;
    }
    ensure_utils(ctl, &ns).await
}

/// The shared package `utils` with its Node.js actions.
async fn ensure_utils(ctl: &Arc<Controller>, ns: &EntityName) -> Result<(), StoreError> {
    let pkg_name = name("utils")?;
    let path = EntityPath::namespace_only(ns.clone());
    let mut annotations = Parameters::default();
    annotations.set(
        "description",
        json!("Building blocks that format and assemble data"),
    );
    let package = Package {
        namespace: path.clone(),
        name: pkg_name.clone(),
        binding: None,
        parameters: Parameters::default(),
        version: SemVer::default(),
        publish: true,
        annotations,
        updated: 0,
    };
    let pkg_fqn = FullyQualifiedName::new(path, pkg_name.clone());
    create(ctl, Collection::Packages, &pkg_fqn, to_value(&package)?).await?;
    for (action_name, description, code) in UTILS {
        let mut annotations = Parameters::default();
        annotations.set("description", json!(description));
        annotations.set(PROVIDE_API_KEY, json!(false));
        annotations.set(EXEC_ANNOTATION, json!(UTILS_KIND));
        let action = Action {
            namespace: EntityPath::with_package(ns.clone(), pkg_name.clone()),
            name: name(action_name)?,
            exec: Exec::Code {
                kind: UTILS_KIND.to_owned(),
                code: code.to_owned(),
                main: None,
                binary: false,
            },
            parameters: Parameters::default(),
            limits: ActionLimits::default(),
            version: SemVer::default(),
            publish: false,
            annotations,
            updated: 0,
        };
        create(ctl, Collection::Actions, &action.fqn(), to_value(&action)?).await?;
    }
    Ok(())
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
