//! The runtimes manifest: which `exec.kind` values actions may use, with their images.
//! `GET /` and `GET /api/v1` show it; action PUT resolves kinds through it.
//! [`RuntimeManifest::standard`] is the one place the native kinds are listed: `whiskd`
//! gives the same manifest to the controller and derives the invoker's kind-to-image map
//! ([`RuntimeManifest::images`]) and its default stem cells from it.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// The kind of Docker actions: any image serving `/init` and `/run` on 8080.
pub const BLACKBOX: &str = "blackbox";
/// The kind of sequences: the controller runs them. Not in the manifest, as in OpenWhisk.
pub const SEQUENCE: &str = "sequence";
/// Prefix of kinds the controller executes itself, with no container. PUT never accepts
/// them; only the controller's own `whisk.system` actions have them.
pub const BUILTIN_PREFIX: &str = "builtin:";
/// The built-in kind of the alarms feed actions (`/whisk.system/alarms/*`).
pub const BUILTIN_ALARMS: &str = "builtin:alarms";

/// The image of the `nodejs:18` kind, built by `images/build-runtimes.sh`.
pub const NODEJS_18_IMAGE: &str = "whisk/action-nodejs:18";
/// The image of the `python:3.11` kind, built by `images/build-runtimes.sh`.
pub const PYTHON_311_IMAGE: &str = "whisk/action-python:3.11";

/// Whether the controller runs actions of `kind` itself.
pub fn is_builtin(kind: &str) -> bool {
    kind.starts_with(BUILTIN_PREFIX)
}

/// One runtime kind of a family (`nodejs:20` of `nodejs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeKind {
    /// The family the kind belongs to (`nodejs`); `<family>:default` picks its default kind.
    pub family: String,
    /// The kind string stored in actions (`nodejs:20`).
    pub kind: String,
    /// The image the invoker starts for this kind.
    pub image: String,
    /// The family's default kind (exactly one per family).
    pub default: bool,
    /// Deprecated kinds can be read and deleted but not created, updated or invoked.
    pub deprecated: bool,
    /// Whether `exec.main` must be given.
    pub require_main: bool,
}

/// What an action's `exec.kind` resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedKind<'a> {
    Blackbox,
    Runtime(&'a RuntimeKind),
}

/// Why a kind was refused (OpenWhisk's texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    #[error("The specified runtime '{kind}' is not supported by this platform. Valid values are: {valid}.")]
    Unsupported { kind: String, valid: String },
    #[error("The '{0}' runtime is no longer supported. You may read and delete but not update or invoke this action.")]
    Deprecated(String),
}

/// The set of known runtime kinds. The default holds none: only `blackbox` is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeManifest {
    kinds: Vec<RuntimeKind>,
}

impl RuntimeManifest {
    /// A manifest of `kinds` (one default per family, as OpenWhisk requires).
    pub fn new(kinds: Vec<RuntimeKind>) -> Self {
        Self { kinds }
    }

    /// The native kinds of this build, with the images `images/build-runtimes.sh` makes
    /// from Debian bookworm: `nodejs:18` and `python:3.11`, each its family's default.
    pub fn standard() -> Self {
        let kind = |family: &str, kind: &str, image: &str| RuntimeKind {
            family: family.into(),
            kind: kind.into(),
            image: image.into(),
            default: true,
            deprecated: false,
            require_main: false,
        };
        Self::new(vec![
            kind("nodejs", "nodejs:18", NODEJS_18_IMAGE),
            kind("python", "python:3.11", PYTHON_311_IMAGE),
        ])
    }

    /// Every kind, in manifest order.
    pub fn kinds(&self) -> &[RuntimeKind] {
        &self.kinds
    }

    /// The image of every kind that can still run (`kind` → image): what the invoker
    /// starts for code actions.
    pub fn images(&self) -> HashMap<String, String> {
        self.kinds
            .iter()
            .filter(|k| !k.deprecated)
            .map(|k| (k.kind.clone(), k.image.clone()))
            .collect()
    }

    /// The default kind of each family (`nodejs:18`, `python:3.11`), in manifest order.
    pub fn default_kinds(&self) -> Vec<&RuntimeKind> {
        self.kinds
            .iter()
            .filter(|k| k.default && !k.deprecated)
            .collect()
    }

    /// Resolves a client's kind: trimmed, lowercased, `<family>:default` mapped to the
    /// family's default kind.
    ///
    /// # Errors
    /// An unknown kind, or a deprecated one.
    pub fn resolve(&self, kind: &str) -> Result<ResolvedKind<'_>, KindError> {
        let kind = kind.trim().to_lowercase();
        if kind == BLACKBOX {
            return Ok(ResolvedKind::Blackbox);
        }
        let found = match kind.strip_suffix(":default") {
            Some(family) => self.kinds.iter().find(|k| k.family == family && k.default),
            None => self.kinds.iter().find(|k| k.kind == kind),
        };
        match found {
            Some(k) if k.deprecated => Err(KindError::Deprecated(k.kind.clone())),
            Some(k) => Ok(ResolvedKind::Runtime(k)),
            None => Err(KindError::Unsupported {
                kind,
                valid: format!("'{}'", self.valid_kinds().join("', '")),
            }),
        }
    }

    /// Every kind a PUT accepts, sorted.
    pub fn valid_kinds(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .kinds
            .iter()
            .filter(|k| !k.deprecated)
            .map(|k| k.kind.clone())
            .chain(std::iter::once(BLACKBOX.to_owned()))
            .collect();
        v.sort();
        v
    }

    /// `{"<family>": [{"kind","image","deprecated","default","attached","requireMain"}]}`;
    /// `blackbox` does not appear, as in OpenWhisk.
    pub fn to_json(&self) -> Value {
        let mut families: Map<String, Value> = Map::new();
        for k in &self.kinds {
            let entry = json!({
                "kind": k.kind,
                "image": k.image,
                "deprecated": k.deprecated,
                "default": k.default,
                "attached": false,
                "requireMain": k.require_main,
            });
            match families
                .entry(k.family.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(list) => list.push(entry),
                other => *other = Value::Array(vec![entry]),
            }
        }
        Value::Object(families)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: &str, default: bool, deprecated: bool) -> RuntimeKind {
        RuntimeKind {
            family: "nodejs".into(),
            kind: kind.into(),
            image: format!("img/{kind}"),
            default,
            deprecated,
            require_main: false,
        }
    }

    #[test]
    fn resolves_kinds() {
        let m = RuntimeManifest::new(vec![
            node("nodejs:20", true, false),
            node("nodejs:18", false, false),
            node("nodejs:6", false, true),
        ]);
        assert_eq!(m.resolve(" BlackBox ").unwrap(), ResolvedKind::Blackbox);
        assert!(
            matches!(m.resolve("nodejs:default"), Ok(ResolvedKind::Runtime(k)) if k.kind == "nodejs:20")
        );
        assert!(
            matches!(m.resolve("nodejs:18"), Ok(ResolvedKind::Runtime(k)) if k.kind == "nodejs:18")
        );
        assert!(m
            .resolve("nodejs:6")
            .unwrap_err()
            .to_string()
            .contains("no longer supported"));
        assert_eq!(
            m.resolve("cobol").unwrap_err().to_string(),
            "The specified runtime 'cobol' is not supported by this platform. Valid values are: 'blackbox', 'nodejs:18', 'nodejs:20'."
        );
        assert_eq!(m.to_json()["nodejs"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn standard_manifest_lists_the_native_kinds() {
        let m = RuntimeManifest::standard();
        assert!(
            matches!(m.resolve(" NodeJS:Default "), Ok(ResolvedKind::Runtime(k)) if k.kind == "nodejs:18")
        );
        assert!(
            matches!(m.resolve("python:default"), Ok(ResolvedKind::Runtime(k)) if k.kind == "python:3.11")
        );
        assert_eq!(
            m.resolve("nodejs:20").unwrap_err().to_string(),
            "The specified runtime 'nodejs:20' is not supported by this platform. Valid values are: 'blackbox', 'nodejs:18', 'python:3.11'."
        );
        assert_eq!(
            m.images(),
            HashMap::from([
                ("nodejs:18".to_owned(), NODEJS_18_IMAGE.to_owned()),
                ("python:3.11".to_owned(), PYTHON_311_IMAGE.to_owned()),
            ])
        );
        let defaults: Vec<&str> = m.default_kinds().iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(defaults, ["nodejs:18", "python:3.11"]);
        assert_eq!(
            m.to_json(),
            json!({
                "nodejs": [{"kind": "nodejs:18", "image": NODEJS_18_IMAGE, "deprecated": false,
                            "default": true, "attached": false, "requireMain": false}],
                "python": [{"kind": "python:3.11", "image": PYTHON_311_IMAGE, "deprecated": false,
                            "default": true, "attached": false, "requireMain": false}],
            })
        );
    }

    #[test]
    fn empty_manifest_accepts_only_blackbox() {
        let m = RuntimeManifest::default();
        assert_eq!(m.resolve("blackbox").unwrap(), ResolvedKind::Blackbox);
        assert_eq!(
            m.resolve("sequence").unwrap_err().to_string(),
            "The specified runtime 'sequence' is not supported by this platform. Valid values are: 'blackbox'."
        );
        assert_eq!(m.to_json(), json!({}));
    }
}
