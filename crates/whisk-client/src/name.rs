//! Names as users type them, `[/ns/][pkg/]name`, resolved the way OpenWhisk's CLI does
//! (reference §2.3, §9.1): a name without a namespace takes the default one (`_` unless
//! configured); `ns/pkg/name` with three parts counts as fully qualified.

use std::fmt;

/// The one message OpenWhisk's CLI gives for every malformed name.
pub const INVALID_NAME_MESSAGE: &str = "A valid qualified name must be specified.";

/// A resolved name: namespace, optional package, entity. The entity is empty only for a
/// bare namespace (`/guest`), which list commands accept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualifiedName {
    namespace: String,
    package: Option<String>,
    entity: String,
}

impl QualifiedName {
    /// Parses `name`, taking `default_namespace` when it carries none.
    ///
    /// | input | namespace | package | entity |
    /// |---|---|---|---|
    /// | `a` | default | | `a` |
    /// | `p/a` | default | `p` | `a` |
    /// | `/ns/a` | `ns` | | `a` |
    /// | `/ns/p/a`, `ns/p/a` | `ns` | `p` | `a` |
    /// | `/ns` | `ns` | | (empty) |
    ///
    /// # Errors
    /// An empty name or segment, `.` or `..` as a segment, or too many segments, with
    /// [`INVALID_NAME_MESSAGE`] as the reason.
    pub fn parse(name: &str, default_namespace: &str) -> Result<Self, crate::ClientError> {
        let invalid = || crate::ClientError::InvalidName {
            name: name.to_owned(),
            reason: INVALID_NAME_MESSAGE.to_owned(),
        };
        let parts: Vec<&str> = name.split('/').collect();
        let qualified = name.starts_with('/') || (parts.len() == 3 && !parts[0].is_empty());
        let parts: &[&str] = if name.starts_with('/') {
            &parts[1..]
        } else {
            &parts
        };
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(invalid());
        }
        let owned = |s: &str| s.to_owned();
        match (qualified, parts) {
            (true, [ns]) => Ok(Self::new(ns, None, "")),
            (true, [ns, entity]) => Ok(Self::new(ns, None, entity)),
            (true, [ns, pkg, entity]) => Ok(Self::new(ns, Some(owned(pkg)), entity)),
            (false, [entity]) => Ok(Self::new(default_namespace, None, entity)),
            (false, [pkg, entity]) => Ok(Self::new(default_namespace, Some(owned(pkg)), entity)),
            _ => Err(invalid()),
        }
    }

    /// Like [`QualifiedName::parse`], but a bare namespace (`/ns`) is refused.
    ///
    /// # Errors
    /// As `parse`, plus a missing entity.
    pub fn parse_entity(name: &str, default_namespace: &str) -> Result<Self, crate::ClientError> {
        let q = Self::parse(name, default_namespace)?;
        if q.entity.is_empty() {
            return Err(crate::ClientError::InvalidName {
                name: name.to_owned(),
                reason: INVALID_NAME_MESSAGE.to_owned(),
            });
        }
        Ok(q)
    }

    fn new(namespace: &str, package: Option<String>, entity: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            package,
            entity: entity.to_owned(),
        }
    }

    /// The namespace segment (`_` or a real namespace).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The package, when the entity lives in one.
    pub fn package(&self) -> Option<&str> {
        self.package.as_deref()
    }

    /// The simple entity name (empty for a bare namespace).
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// `pkg/name` or `name`: what OpenWhisk's CLI prints after `ok: created action`.
    pub fn entity_name(&self) -> String {
        match &self.package {
            Some(p) => format!("{p}/{}", self.entity),
            None => self.entity.clone(),
        }
    }

    /// The URL path segments after the collection: `[pkg, name]` or `[name]`.
    pub fn entity_segments(&self) -> Vec<&str> {
        let mut v = Vec::with_capacity(2);
        if let Some(p) = &self.package {
            v.push(p.as_str());
        }
        if !self.entity.is_empty() {
            v.push(self.entity.as_str());
        }
        v
    }
}

/// `/ns/[pkg/]name`, as in `ok: invoked /_/hello with id ...`.
impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.namespace)?;
        if let Some(p) = &self.package {
            write!(f, "/{p}")?;
        }
        if !self.entity.is_empty() {
            write!(f, "/{}", self.entity)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(input: &str, ns: &str, pkg: Option<&str>, entity: &str, display: &str) {
        let q = QualifiedName::parse(input, "_").unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(q.namespace(), ns, "{input}");
        assert_eq!(q.package(), pkg, "{input}");
        assert_eq!(q.entity(), entity, "{input}");
        assert_eq!(q.to_string(), display, "{input}");
    }

    fn bad(input: &str) {
        let e = QualifiedName::parse(input, "_").expect_err(input);
        assert_eq!(
            e.to_string(),
            format!("'{input}' is not a valid qualified name: A valid qualified name must be specified.")
        );
    }

    #[test]
    fn resolution() {
        check("a", "_", None, "a", "/_/a");
        check("p/a", "_", Some("p"), "a", "/_/p/a");
        check("/ns/a", "ns", None, "a", "/ns/a");
        check("/ns/p/a", "ns", Some("p"), "a", "/ns/p/a");
        check("ns/p/a", "ns", Some("p"), "a", "/ns/p/a");
        check("/ns", "ns", None, "", "/ns");
        check("hello world", "_", None, "hello world", "/_/hello world");
        check("/_/a", "_", None, "a", "/_/a");
    }

    #[test]
    fn invalid_names() {
        for s in [
            "", ".", "..", "/", "//a", "/ns/", "a/", "/a//b", "p/./a", "bad/../x", "a/b/c/d",
            "/a/b/c/d", "/ns/p/a/",
        ] {
            bad(s);
        }
        assert!(QualifiedName::parse_entity("/ns", "_").is_err());
        assert!(QualifiedName::parse_entity("/ns/a", "_").is_ok());
    }

    #[test]
    fn default_namespace_from_properties() {
        let q = QualifiedName::parse("whisk_go", "guest").unwrap();
        assert_eq!(q.to_string(), "/guest/whisk_go");
        assert_eq!(q.entity_name(), "whisk_go");
        let q = QualifiedName::parse("p/a", "guest").unwrap();
        assert_eq!(q.entity_name(), "p/a");
        assert_eq!(q.entity_segments(), vec!["p", "a"]);
        // An explicit namespace wins over the default.
        assert_eq!(
            QualifiedName::parse("/x/a", "guest").unwrap().namespace(),
            "x"
        );
    }

    proptest! {
        #[test]
        fn display_round_trips(ns in "[A-Za-z0-9_][A-Za-z0-9_@ .&-]{0,20}", pkg in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_ -]{0,10}"), entity in "[A-Za-z0-9_][A-Za-z0-9_@.-]{0,20}") {
            prop_assume!(ns != "." && entity != ".");
            let q = QualifiedName::parse(&format!("/{}{}/{}", ns, pkg.as_ref().map(|p| format!("/{p}")).unwrap_or_default(), entity), "_").unwrap();
            let again = QualifiedName::parse(&q.to_string(), "other").unwrap();
            prop_assert_eq!(again, q);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = QualifiedName::parse(&s, "_");
        }
    }
}
