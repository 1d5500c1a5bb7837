//! The action entity (reference §5.2): exec, parameters, limits, annotations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::name::{EntityName, EntityPath, FullyQualifiedName};

/// One `{"key": ..., "value": ...}` entry of a parameter or annotation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
    /// Parameters marked `init` go to the container's environment at `/init`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
}

/// An ordered key/value list where the last entry for a key wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Parameters(pub Vec<KeyValue>);

impl Parameters {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .rev()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// Sets `key`, replacing any existing entry.
    pub fn set(&mut self, key: &str, value: Value) {
        self.0.retain(|kv| kv.key != key);
        self.0.push(KeyValue {
            key: key.to_owned(),
            value,
            init: false,
        });
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|kv| kv.key != key);
    }

    /// Adds every entry of `other`, its keys winning.
    pub fn merge(&mut self, other: &Parameters) {
        for kv in &other.0 {
            self.0.retain(|e| e.key != kv.key);
            self.0.push(kv.clone());
        }
    }

    /// True when the annotation is present and truthy (`true`, a non-empty string, non-zero).
    pub fn is_truthy(&self, key: &str) -> bool {
        match self.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.is_empty() && s != "false",
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(_) => true,
        }
    }

    /// The non-init parameters as a JSON object (the `/run` input before the payload).
    pub fn to_object(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        for kv in self.0.iter().filter(|kv| !kv.init) {
            m.insert(kv.key.clone(), kv.value.clone());
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `major.minor.patch`; every update bumps the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SemVer {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Default for SemVer {
    fn default() -> Self {
        Self {
            major: 0,
            minor: 0,
            patch: 1,
        }
    }
}

impl SemVer {
    pub fn bump_patch(self) -> Self {
        Self {
            patch: self.patch.saturating_add(1),
            ..self
        }
    }
}

impl fmt::Display for SemVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for SemVer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad semantic version {s}");
        let mut it = s.split('.');
        let mut next =
            || -> Result<u32, String> { it.next().ok_or_else(bad)?.parse().map_err(|_| bad()) };
        let v = Self {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if v == (Self {
            major: 0,
            minor: 0,
            patch: 0,
        }) || s.split('.').count() != 3
        {
            return Err(bad());
        }
        Ok(v)
    }
}

impl Serialize for SemVer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SemVer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Default and bounds of action limits (reference §5.2).
pub mod limits {
    pub const TIMEOUT_DEFAULT: u64 = 60_000;
    pub const TIMEOUT_MIN: u64 = 100;
    pub const TIMEOUT_MAX: u64 = 300_000;
    pub const MEMORY_DEFAULT: u64 = 256;
    pub const MEMORY_MIN: u64 = 128;
    pub const MEMORY_MAX: u64 = 512;
    pub const LOGS_DEFAULT: u64 = 10;
    pub const LOGS_MIN: u64 = 0;
    pub const LOGS_MAX: u64 = 10;
    pub const CONCURRENCY_DEFAULT: u64 = 1;
    /// The most activations one container may serve at once (`limits.concurrency`).
    pub const CONCURRENCY_MAX: u64 = 500;
}

/// Per-action limits: `timeout` ms, `memory` MB, `logs` MB, `concurrency` per container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLimits {
    pub timeout: u64,
    pub memory: u64,
    pub logs: u64,
    pub concurrency: u64,
}

impl Default for ActionLimits {
    fn default() -> Self {
        Self {
            timeout: limits::TIMEOUT_DEFAULT,
            memory: limits::MEMORY_DEFAULT,
            logs: limits::LOGS_DEFAULT,
            concurrency: limits::CONCURRENCY_DEFAULT,
        }
    }
}

/// The ranges action limits must fall in. The defaults are OpenWhisk's; an operator can
/// raise the maxima (`whiskd standalone --max-action-memory-mb` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitBounds {
    pub timeout_min: u64,
    pub timeout_max: u64,
    pub memory_min: u64,
    pub memory_max: u64,
    pub logs_min: u64,
    pub logs_max: u64,
    pub concurrency_max: u64,
}

impl Default for LimitBounds {
    fn default() -> Self {
        use limits::*;
        Self {
            timeout_min: TIMEOUT_MIN,
            timeout_max: TIMEOUT_MAX,
            memory_min: MEMORY_MIN,
            memory_max: MEMORY_MAX,
            logs_min: LOGS_MIN,
            logs_max: LOGS_MAX,
            concurrency_max: CONCURRENCY_MAX,
        }
    }
}

impl ActionLimits {
    /// Checks every field against OpenWhisk's default bounds.
    ///
    /// # Errors
    /// The first limit out of range, with OpenWhisk's message.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_within(&LimitBounds::default())
    }

    /// Checks every field against `b`, with OpenWhisk's messages (`TimeLimit`,
    /// `MemoryLimit`, `LogLimit`, `ConcurrencyLimit`).
    ///
    /// # Errors
    /// The first limit out of range.
    pub fn validate_within(&self, b: &LimitBounds) -> Result<(), String> {
        if self.timeout > b.timeout_max {
            return Err(format!(
                "duration {} milliseconds exceeds allowed threshold of {} milliseconds",
                self.timeout, b.timeout_max
            ));
        }
        if self.timeout < b.timeout_min {
            return Err(format!(
                "duration {} milliseconds below allowed threshold of {} milliseconds",
                self.timeout, b.timeout_min
            ));
        }
        if self.memory > b.memory_max {
            return Err(format!(
                "memory {} MB exceeds allowed threshold of {} MB",
                self.memory, b.memory_max
            ));
        }
        if self.memory < b.memory_min {
            return Err(format!(
                "memory {} MB below allowed threshold of {} MB",
                self.memory, b.memory_min
            ));
        }
        if self.logs > b.logs_max {
            return Err(format!(
                "log {} MB exceeds allowed threshold of {} MB",
                self.logs, b.logs_max
            ));
        }
        if self.logs < b.logs_min {
            return Err(format!(
                "log {} MB below allowed threshold of {} MB",
                self.logs, b.logs_min
            ));
        }
        if self.concurrency > b.concurrency_max {
            return Err(format!(
                "concurrency {} exceeds allowed threshold of {}",
                self.concurrency, b.concurrency_max
            ));
        }
        if self.concurrency < 1 {
            return Err(format!(
                "concurrency {} below allowed threshold of 1",
                self.concurrency
            ));
        }
        Ok(())
    }
}

/// What runs when the action is invoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Exec {
    /// Any image serving `/init` and `/run` on 8080 (`wsk action create --docker`).
    #[serde(rename = "blackbox")]
    Blackbox {
        image: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        main: Option<String>,
        #[serde(default)]
        binary: bool,
    },
    /// A chain of other actions.
    #[serde(rename = "sequence")]
    Sequence { components: Vec<FullyQualifiedName> },
    /// Source code for a runtime kind such as `nodejs:18`.
    #[serde(untagged)]
    Code {
        kind: String,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        main: Option<String>,
        #[serde(default)]
        binary: bool,
    },
}

impl Exec {
    /// The kind string as OpenWhisk shows it.
    pub fn kind(&self) -> &str {
        match self {
            Exec::Blackbox { .. } => "blackbox",
            Exec::Sequence { .. } => "sequence",
            Exec::Code { kind, .. } => kind,
        }
    }

    pub fn is_binary(&self) -> bool {
        match self {
            Exec::Blackbox { binary, .. } | Exec::Code { binary, .. } => *binary,
            Exec::Sequence { .. } => false,
        }
    }
}

/// True when the code looks like base64 (a zip), the rule OpenWhisk uses for `binary`.
pub fn looks_like_base64(code: &str) -> bool {
    let t = code.trim();
    !t.is_empty()
        && t.len().is_multiple_of(4)
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'\n' | b'\r'))
}

/// A stored action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub namespace: EntityPath,
    pub name: EntityName,
    pub exec: Exec,
    #[serde(default)]
    pub parameters: Parameters,
    #[serde(default)]
    pub limits: ActionLimits,
    #[serde(default)]
    pub version: SemVer,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub annotations: Parameters,
    /// Epoch ms of the last write, set by the store.
    #[serde(default)]
    pub updated: i64,
}

impl Action {
    pub fn fqn(&self) -> FullyQualifiedName {
        FullyQualifiedName::new(self.namespace.clone(), self.name.clone())
    }

    /// A key that changes whenever the action is written: containers are reused only for
    /// the exact same revision.
    pub fn revision(&self) -> String {
        format!("{}@{}#{}", self.fqn(), self.version, self.updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_json() {
        let e: Exec = serde_json::from_str(r#"{"kind":"blackbox","image":"x/y"}"#).unwrap();
        assert_eq!(e.kind(), "blackbox");
        let e: Exec = serde_json::from_str(r#"{"kind":"nodejs:18","code":"x"}"#).unwrap();
        assert_eq!(e.kind(), "nodejs:18");
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["kind"], "nodejs:18");
        let e: Exec =
            serde_json::from_str(r#"{"kind":"sequence","components":["/_/a","guest/p/b"]}"#)
                .unwrap();
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["components"][1], "/guest/p/b");
    }

    #[test]
    fn semver() {
        assert_eq!("0.0.1".parse::<SemVer>().unwrap(), SemVer::default());
        assert!("0.0.0".parse::<SemVer>().is_err());
        assert!("1.2".parse::<SemVer>().is_err());
        assert_eq!(SemVer::default().bump_patch().to_string(), "0.0.2");
    }

    #[test]
    fn limits() {
        assert!(ActionLimits::default().validate().is_ok());
        let l = ActionLimits {
            memory: 1024,
            ..Default::default()
        };
        assert_eq!(
            l.validate().unwrap_err(),
            "memory 1024 MB exceeds allowed threshold of 512 MB"
        );
    }
}
