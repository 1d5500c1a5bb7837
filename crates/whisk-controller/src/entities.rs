//! The entity documents besides actions, typed: packages and bindings (reference §5.5),
//! triggers with their `rules` map (§5.3) and rules (§5.4). The store keeps them as JSON;
//! handlers decode them here and never poke at raw fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use whisk_store::{Document, StoreError};
use whisk_types::{EntityName, EntityPath, FullyQualifiedName, Parameters, SemVer};

/// A `{"path": "ns[/pkg]", "name": "x"}` reference, as rules name triggers and actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PathName {
    pub path: EntityPath,
    pub name: EntityName,
}

impl PathName {
    pub fn fqn(&self) -> FullyQualifiedName {
        FullyQualifiedName::new(self.path.clone(), self.name.clone())
    }

    pub fn of(fqn: &FullyQualifiedName) -> Self {
        Self {
            path: fqn.path.clone(),
            name: fqn.name.clone(),
        }
    }
}

/// The package a binding refers to: `{"namespace": "whisk.system", "name": "alarms"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Binding {
    pub namespace: EntityName,
    pub name: EntityName,
}

impl Binding {
    pub fn fqn(&self) -> FullyQualifiedName {
        FullyQualifiedName::new(
            EntityPath::namespace_only(self.namespace.clone()),
            self.name.clone(),
        )
    }
}

/// `binding` is `{}` for a plain package; lists show `false` instead (see [`Package::summary`]).
fn ser_binding<S: Serializer>(b: &Option<Binding>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => b.serialize(s),
        None => Map::new().serialize(s),
    }
}

fn de_binding<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Binding>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Object(m) if m.is_empty() => Ok(None),
        Value::Null | Value::Bool(false) => Ok(None),
        other => serde_json::from_value(other)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// A package, or a binding to another package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Package {
    pub namespace: EntityPath,
    pub name: EntityName,
    #[serde(
        default,
        serialize_with = "ser_binding",
        deserialize_with = "de_binding"
    )]
    pub binding: Option<Binding>,
    #[serde(default)]
    pub parameters: Parameters,
    #[serde(default)]
    pub version: SemVer,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub annotations: Parameters,
    #[serde(default)]
    pub updated: i64,
}

impl Package {
    /// The list row: `binding` is `false` or `{namespace, name}` (reference §4.0).
    pub fn summary(&self) -> Value {
        json!({
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "publish": self.publish,
            "annotations": self.annotations,
            "updated": self.updated,
            "binding": match &self.binding {
                Some(b) => json!(b),
                None => Value::Bool(false),
            },
        })
    }
}

/// Whether a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RuleStatus {
    Active,
    Inactive,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Active => "active",
            RuleStatus::Inactive => "inactive",
        }
    }
}

/// One entry of a trigger's `rules` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RuleLink {
    pub action: PathName,
    pub status: RuleStatus,
}

/// A trigger. `rules` maps rule names (`ns/rule`, no leading slash) to their links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Trigger {
    pub namespace: EntityPath,
    pub name: EntityName,
    #[serde(default)]
    pub parameters: Parameters,
    #[serde(default = "empty_object")]
    pub limits: Value,
    #[serde(default)]
    pub version: SemVer,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub annotations: Parameters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<BTreeMap<String, RuleLink>>,
    #[serde(default)]
    pub updated: i64,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl Trigger {
    /// The list row (reference §4.0).
    pub fn summary(&self) -> Value {
        json!({
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "publish": self.publish,
            "annotations": self.annotations,
            "updated": self.updated,
        })
    }

    /// The links of active rules, in rule-name order.
    pub fn active_rules(&self) -> Vec<(String, PathName)> {
        self.rules
            .iter()
            .flatten()
            .filter(|(_, l)| l.status == RuleStatus::Active)
            .map(|(k, l)| (k.clone(), l.action.clone()))
            .collect()
    }
}

/// A rule as stored: without `status`, which lives in the trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rule {
    pub namespace: EntityPath,
    pub name: EntityName,
    pub trigger: PathName,
    pub action: PathName,
    #[serde(default)]
    pub version: SemVer,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub annotations: Parameters,
    #[serde(default)]
    pub updated: i64,
}

impl Rule {
    pub fn fqn(&self) -> FullyQualifiedName {
        FullyQualifiedName::new(self.namespace.clone(), self.name.clone())
    }

    /// The rule JSON with its `status`, as GET, PUT and DELETE answer.
    pub fn with_status(&self, status: RuleStatus) -> Result<Value, StoreError> {
        let mut v = to_value(self)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("status".into(), status.as_str().into());
        }
        Ok(v)
    }
}

/// Decodes a stored document into its entity type, taking `updated` from the store.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T, StoreError> {
    let mut body = doc.body.clone();
    if let Some(m) = body.as_object_mut() {
        m.insert("updated".into(), doc.updated.into());
    }
    serde_json::from_value(body)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", doc.collection.as_str(), doc.fqn)))
}

/// The JSON of an entity to store.
pub(crate) fn to_value<T: Serialize>(entity: &T) -> Result<Value, StoreError> {
    serde_json::to_value(entity).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_binding_forms() {
        let p: Package = serde_json::from_value(json!({
            "namespace": "guest", "name": "p", "binding": {}, "parameters": [],
        }))
        .unwrap();
        assert!(p.binding.is_none());
        assert_eq!(serde_json::to_value(&p).unwrap()["binding"], json!({}));
        assert_eq!(p.summary()["binding"], json!(false));
        let b: Package = serde_json::from_value(json!({
            "namespace": "guest", "name": "b",
            "binding": {"namespace": "whisk.system", "name": "alarms"},
        }))
        .unwrap();
        assert_eq!(
            b.binding.as_ref().unwrap().fqn().to_string(),
            "whisk.system/alarms"
        );
        assert_eq!(
            b.summary()["binding"],
            json!({"namespace": "whisk.system", "name": "alarms"})
        );
    }

    #[test]
    fn trigger_rules_map() {
        let t: Trigger = serde_json::from_value(json!({
            "namespace": "guest", "name": "t",
            "rules": {
                "guest/r1": {"action": {"path": "guest", "name": "a"}, "status": "active"},
                "guest/r2": {"action": {"path": "guest/p", "name": "b"}, "status": "inactive"},
            },
        }))
        .unwrap();
        let active = t.active_rules();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].0, "guest/r1");
        assert_eq!(active[0].1.fqn().to_string(), "guest/a");
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["limits"], json!({}));
        let bare: Trigger =
            serde_json::from_value(json!({"namespace": "guest", "name": "t"})).unwrap();
        assert!(serde_json::to_value(&bare).unwrap().get("rules").is_none());
    }
}
