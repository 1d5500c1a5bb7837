//! Action code by content: the digest that names a code blob, so an activation message
//! refers to the code instead of carrying it (up to 48 MB) through the bus.
//!
//! The digest is the SHA-256 of the code's UTF-8 text. Code with a given digest never
//! changes, so stores keep it under the digest and invokers cache it forever; an action
//! updated between an invoke and its run still runs the code it was invoked with.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::action::{Action, Exec};

/// The content address of a code blob: `sha256:<64 hex digits>`.
pub fn code_digest(code: &str) -> String {
    let hash = Sha256::digest(code.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A reference to the code of an action, carried by messages instead of the code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeRef {
    /// [`code_digest`] of the code.
    pub digest: String,
    /// Its length in bytes (for cache accounting and logs).
    pub size: u64,
}

impl CodeRef {
    /// The reference of `code`.
    pub fn of(code: &str) -> Self {
        Self {
            digest: code_digest(code),
            size: code.len() as u64,
        }
    }
}

impl Exec {
    /// The code (source or base64 zip) this exec carries, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Exec::Code { code, .. } => Some(code),
            Exec::Blackbox { code, .. } => code.as_deref(),
            Exec::Sequence { .. } => None,
        }
    }

    /// This exec with `code` in place of its own (none for a sequence).
    pub fn with_code(&self, new: String) -> Exec {
        let mut exec = self.clone();
        match &mut exec {
            Exec::Code { code, .. } => *code = new,
            Exec::Blackbox { code, .. } => *code = Some(new),
            Exec::Sequence { .. } => {}
        }
        exec
    }
}

impl Action {
    /// Splits the action into everything but its code (the code left empty) and a
    /// reference to the code; `None` when it has no code.
    pub fn split_code(&self) -> (Action, Option<CodeRef>) {
        let Some(code) = self.exec.code() else {
            return (self.clone(), None);
        };
        let reference = CodeRef::of(code);
        // Cloned without the code, so a large action is not copied just to be emptied.
        let exec = match &self.exec {
            Exec::Code {
                kind, main, binary, ..
            } => Exec::Code {
                kind: kind.clone(),
                code: String::new(),
                main: main.clone(),
                binary: *binary,
            },
            Exec::Blackbox {
                image,
                main,
                binary,
                ..
            } => Exec::Blackbox {
                image: image.clone(),
                code: None,
                main: main.clone(),
                binary: *binary,
            },
            Exec::Sequence { .. } => unreachable!("a sequence has no code"),
        };
        let action = Action {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            exec,
            parameters: self.parameters.clone(),
            limits: self.limits,
            version: self.version,
            publish: self.publish,
            annotations: self.annotations.clone(),
            updated: self.updated,
        };
        (action, Some(reference))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn digest_is_sha256_of_the_text() {
        assert_eq!(
            code_digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(code_digest("a"), code_digest("b"));
        assert_eq!(CodeRef::of("abc").size, 3);
    }

    #[test]
    fn split_code_keeps_everything_but_the_code() {
        let action: Action = serde_json::from_value(json!({
            "namespace": "guest",
            "name": "a",
            "exec": {"kind": "nodejs:18", "code": "function main() {}", "main": "m"},
            "limits": {"timeout": 1000, "memory": 128, "logs": 1, "concurrency": 1},
            "updated": 7,
        }))
        .unwrap();
        let (stripped, reference) = action.split_code();
        let reference = reference.unwrap();
        assert_eq!(reference, CodeRef::of("function main() {}"));
        assert_eq!(stripped.exec.code(), Some(""));
        assert_eq!(
            stripped.exec.with_code("function main() {}".into()),
            action.exec
        );
        assert_eq!(
            Action {
                exec: action.exec.clone(),
                ..stripped
            },
            action
        );

        let blackbox: Action = serde_json::from_value(json!({
            "namespace": "guest", "name": "b",
            "exec": {"kind": "blackbox", "image": "x/y", "code": "zip"},
        }))
        .unwrap();
        let (stripped, reference) = blackbox.split_code();
        assert_eq!(reference.unwrap().digest, code_digest("zip"));
        assert_eq!(stripped.exec.code(), None);
        assert_eq!(stripped.exec.with_code("zip".into()), blackbox.exec);

        let image_only: Action = serde_json::from_value(json!({
            "namespace": "guest", "name": "c", "exec": {"kind": "blackbox", "image": "x/y"},
        }))
        .unwrap();
        assert_eq!(image_only.split_code(), (image_only.clone(), None));
    }
}
