//! Entity names and paths with OpenWhisk's validation rules (reference §2.3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest allowed name segment.
pub const MAX_NAME_LEN: usize = 256;
/// The alias for "the caller's namespace".
pub const DEFAULT_NAMESPACE: &str = "_";

/// Why a name or path was refused. The texts are OpenWhisk's, word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("The name of the entity contains illegal characters.")]
    IllegalName,
    #[error("Name segement longer than allowed: {0} > 256.")]
    NameTooLong(usize),
    #[error("The namespace contains illegal characters.")]
    IllegalNamespace,
    #[error("Namespace longer than allowed: {0} > 256.")]
    NamespaceTooLong(usize),
    #[error("requirement failed: The fully qualified name of the entity must contain at least the namespace and the name of the entity.")]
    NotFullyQualified,
    #[error("The name of the entity contains illegal characters.")]
    TooManySegments,
}

/// Checks one segment against `\A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\z`.
fn valid_segment(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !word(first) {
        return false;
    }
    let rest: Vec<char> = chars.collect();
    if rest.is_empty() {
        return true;
    }
    if rest.len() > MAX_NAME_LEN - 1 {
        return false;
    }
    let (last, middle) = rest.split_last().expect("non-empty");
    middle
        .iter()
        .all(|&c| word(c) || matches!(c, '@' | ' ' | '.' | '&' | '-'))
        && (word(*last) || matches!(*last, '@' | '.' | '&' | '-'))
}

/// One validated name segment: an action, package, trigger, rule or namespace name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityName(String);

impl EntityName {
    /// Validates an entity name.
    ///
    /// # Errors
    /// `NameTooLong` past 256 chars, `IllegalName` for any other violation.
    pub fn new(s: &str) -> Result<Self, NameError> {
        let n = s.chars().count();
        if n > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(n));
        }
        if !valid_segment(s) {
            return Err(NameError::IllegalName);
        }
        Ok(Self(s.to_owned()))
    }

    /// Validates a namespace name (`_` is accepted here and resolved by the caller).
    ///
    /// # Errors
    /// `NamespaceTooLong` or `IllegalNamespace`.
    pub fn namespace(s: &str) -> Result<Self, NameError> {
        let n = s.chars().count();
        if n > MAX_NAME_LEN {
            return Err(NameError::NamespaceTooLong(n));
        }
        if !valid_segment(s) {
            return Err(NameError::IllegalNamespace);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EntityName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::new(s)
    }
}

impl Serialize for EntityName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EntityName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The path an entity lives under: a namespace, optionally followed by a package
/// (`guest` or `guest/mypkg`). Packages do not nest, so there are at most two segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityPath {
    namespace: EntityName,
    package: Option<EntityName>,
}

impl EntityPath {
    pub fn namespace_only(namespace: EntityName) -> Self {
        Self {
            namespace,
            package: None,
        }
    }

    pub fn with_package(namespace: EntityName, package: EntityName) -> Self {
        Self {
            namespace,
            package: Some(package),
        }
    }

    /// Parses `ns` or `ns/pkg`; empty segments are ignored as OpenWhisk does.
    ///
    /// # Errors
    /// A bad segment, or more than two segments.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [ns] => Ok(Self::namespace_only(EntityName::namespace(ns)?)),
            [ns, pkg] => Ok(Self::with_package(
                EntityName::namespace(ns)?,
                EntityName::new(pkg)?,
            )),
            [] => Err(NameError::IllegalNamespace),
            _ => Err(NameError::TooManySegments),
        }
    }

    pub fn namespace(&self) -> &EntityName {
        &self.namespace
    }

    pub fn package(&self) -> Option<&EntityName> {
        self.package.as_ref()
    }

    /// Replaces a `_` namespace with `ns`.
    pub fn resolve(mut self, ns: &EntityName) -> Self {
        if self.namespace.as_str() == DEFAULT_NAMESPACE {
            self.namespace = ns.clone();
        }
        self
    }
}

impl fmt::Display for EntityPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.package {
            Some(p) => write!(f, "{}/{}", self.namespace, p),
            None => write!(f, "{}", self.namespace),
        }
    }
}

impl FromStr for EntityPath {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

impl Serialize for EntityPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntityPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `path/name`, the document id of an entity (`guest/mypkg/hello`).
/// `Display` gives the id form without a leading slash; [`FullyQualifiedName::with_slash`]
/// gives `/guest/mypkg/hello` as `__OW_ACTION_NAME` and sequence components print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FullyQualifiedName {
    pub path: EntityPath,
    pub name: EntityName,
}

impl FullyQualifiedName {
    pub fn new(path: EntityPath, name: EntityName) -> Self {
        Self { path, name }
    }

    /// Parses a fully qualified name: `/ns/a`, `/ns/p/a`, `ns/a`, `ns/p/a`.
    ///
    /// # Errors
    /// `NotFullyQualified` with fewer than two segments; bad segments.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [ns, name] => Ok(Self::new(
                EntityPath::namespace_only(EntityName::namespace(ns)?),
                EntityName::new(name)?,
            )),
            [ns, pkg, name] => Ok(Self::new(
                EntityPath::with_package(EntityName::namespace(ns)?, EntityName::new(pkg)?),
                EntityName::new(name)?,
            )),
            [] | [_] => Err(NameError::NotFullyQualified),
            _ => Err(NameError::TooManySegments),
        }
    }

    /// Resolves a name the way the CLI and conductors do, relative to namespace `ns`:
    /// `a` → `/ns/a`, `p/a` → `/ns/p/a`, `/x/a` and `/x/p/a` stay, `x/p/a` is fully qualified.
    ///
    /// # Errors
    /// A leading slash with a single part, or bad segments.
    pub fn resolve_relative(s: &str, ns: &EntityName) -> Result<Self, NameError> {
        let parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty()).collect();
        if s.starts_with('/') || parts.len() == 3 {
            return Self::parse(s).map(|f| f.resolve(ns));
        }
        match parts.as_slice() {
            [name] => Ok(Self::new(
                EntityPath::namespace_only(ns.clone()),
                EntityName::new(name)?,
            )),
            [pkg, name] => Ok(Self::new(
                EntityPath::with_package(ns.clone(), EntityName::new(pkg)?),
                EntityName::new(name)?,
            )),
            _ => Err(NameError::IllegalName),
        }
    }

    /// Replaces a `_` namespace with `ns`.
    pub fn resolve(self, ns: &EntityName) -> Self {
        Self {
            path: self.path.resolve(ns),
            name: self.name,
        }
    }

    pub fn namespace(&self) -> &EntityName {
        self.path.namespace()
    }

    /// `/ns[/pkg]/name`.
    pub fn with_slash(&self) -> String {
        format!("/{self}")
    }
}

impl fmt::Display for FullyQualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.path, self.name)
    }
}

impl FromStr for FullyQualifiedName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

impl Serialize for FullyQualifiedName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("/{self}"))
    }
}

impl<'de> Deserialize<'de> for FullyQualifiedName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check_name(s: &str, ok: bool) {
        assert_eq!(EntityName::new(s).is_ok(), ok, "{s:?}");
    }

    #[test]
    fn names() {
        check_name("a", true);
        check_name("hello-world", true);
        check_name("a b", true);
        check_name("a@b.c&d", true);
        check_name("a ", false);
        check_name(" a", false);
        check_name("-a", false);
        check_name("", false);
        check_name("a/b", false);
        check_name("a$", false);
        check_name(&"x".repeat(256), true);
        assert_eq!(
            EntityName::new(&"x".repeat(257)),
            Err(NameError::NameTooLong(257))
        );
    }

    #[test]
    fn fully_qualified() {
        let f = FullyQualifiedName::parse("/guest/pkg/a").unwrap();
        assert_eq!(f.to_string(), "guest/pkg/a");
        assert_eq!(f.with_slash(), "/guest/pkg/a");
        assert_eq!(
            FullyQualifiedName::parse("/guest//a").unwrap().to_string(),
            "guest/a"
        );
        assert_eq!(
            FullyQualifiedName::parse("a"),
            Err(NameError::NotFullyQualified)
        );
        let ns = EntityName::new("guest").unwrap();
        let r = |s| {
            FullyQualifiedName::resolve_relative(s, &ns)
                .unwrap()
                .to_string()
        };
        assert_eq!(r("a"), "guest/a");
        assert_eq!(r("p/a"), "guest/p/a");
        assert_eq!(r("/x/a"), "x/a");
        assert_eq!(r("/_/a"), "guest/a");
        assert_eq!(r("x/p/a"), "x/p/a");
        assert!(FullyQualifiedName::resolve_relative("/a", &ns).is_err());
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(s in "[A-Za-z0-9_][A-Za-z0-9_@ .&-]{0,60}[A-Za-z0-9_@.&-]") {
            let n = EntityName::new(&s).unwrap();
            prop_assert_eq!(n.to_string(), s);
        }

        #[test]
        fn any_string_never_panics(s in "\\PC{0,300}") {
            let _ = EntityName::new(&s);
            let _ = EntityPath::parse(&s);
            let _ = FullyQualifiedName::parse(&s);
        }

        #[test]
        fn fqn_round_trip(ns in "[a-z][a-z0-9_]{0,10}", pkg in proptest::option::of("[a-z][a-z0-9]{0,10}"), name in "[a-z][a-z0-9.-]{0,10}[a-z]") {
            let s = match &pkg { Some(p) => format!("/{ns}/{p}/{name}"), None => format!("/{ns}/{name}") };
            let f = FullyQualifiedName::parse(&s).unwrap();
            prop_assert_eq!(f.with_slash(), s.clone());
            let json = serde_json::to_string(&f).unwrap();
            let back: FullyQualifiedName = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, f);
        }
    }
}
