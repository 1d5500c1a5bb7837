//! Subjects, namespaces and their keys (reference §2.1).

use std::fmt;

use rand::distr::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::name::EntityName;

/// Length of a key's secret part.
pub const SECRET_LEN: usize = 64;

/// A `uuid:key` credential as clients send it in Basic auth.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    pub uuid: uuid::Uuid,
    pub secret: String,
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey({}:***)", self.uuid)
    }
}

impl fmt::Display for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uuid, self.secret)
    }
}

impl AuthKey {
    /// A fresh random key: a v4 UUID and a 64-char alphanumeric secret.
    pub fn generate() -> Self {
        Self {
            uuid: uuid::Uuid::new_v4(),
            secret: rand::rng()
                .sample_iter(&Alphanumeric)
                .take(SECRET_LEN)
                .map(char::from)
                .collect(),
        }
    }

    /// Parses `uuid:key`; `None` when either part is malformed (which callers answer with 401).
    pub fn parse(s: &str) -> Option<Self> {
        let (u, k) = s.split_once(':')?;
        let uuid = uuid::Uuid::parse_str(u).ok()?;
        if u.len() != 36 || k.len() != SECRET_LEN || !k.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Self {
            uuid,
            secret: k.to_owned(),
        })
    }
}

/// Who is calling: a subject with its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub subject: String,
    pub namespace: EntityName,
    pub uuid: uuid::Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = AuthKey::generate();
        assert_eq!(AuthKey::parse(&k.to_string()), Some(k.clone()));
        assert!(AuthKey::parse("nope").is_none());
        assert!(AuthKey::parse(&format!("{}:short", k.uuid)).is_none());
        assert!(!format!("{k:?}").contains(&k.secret));
    }
}
