//! Activation and transaction ids.

use std::fmt;
use std::str::FromStr;

use rand::distr::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an activation id was refused (texts as OpenWhisk gives them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationIdError {
    #[error("Activation id length is {0} but must be 32.")]
    Length(usize),
    #[error("The activation id is not valid.")]
    NotHex,
}

/// 32 lowercase hex chars: a random UUID without dashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActivationId([u8; 32]);

impl ActivationId {
    pub fn generate() -> Self {
        let s = uuid::Uuid::new_v4().simple().to_string();
        let mut b = [0u8; 32];
        b.copy_from_slice(s.as_bytes());
        Self(b)
    }

    /// Validates an id given by a client.
    ///
    /// # Errors
    /// Wrong length, or characters that are not hex.
    pub fn parse(s: &str) -> Result<Self, ActivationIdError> {
        if s.len() != 32 {
            return Err(ActivationIdError::Length(s.chars().count()));
        }
        if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(ActivationIdError::NotHex);
        }
        let mut b = [0u8; 32];
        b.copy_from_slice(s.to_ascii_lowercase().as_bytes());
        Ok(Self(b))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex is ascii")
    }
}

impl fmt::Display for ActivationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActivationId {
    type Err = ActivationIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ActivationId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActivationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The id of one API request, echoed as `X-Request-ID` and as `code` in error bodies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransactionId(String);

impl TransactionId {
    /// A new random 32-char alphanumeric id.
    pub fn generate() -> Self {
        Self(
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect(),
        )
    }

    /// Takes a client's `X-Request-ID` when it is sane (printable ASCII, at most 128 chars).
    pub fn from_header(s: &str) -> Option<Self> {
        (!s.is_empty() && s.len() <= 128 && s.bytes().all(|c| c.is_ascii_graphic()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_ids() {
        let id = ActivationId::generate();
        assert_eq!(ActivationId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            ActivationId::parse("abc"),
            Err(ActivationIdError::Length(3))
        );
        assert_eq!(
            ActivationId::parse(&"z".repeat(32)),
            Err(ActivationIdError::NotHex)
        );
    }
}
