//! Hashing and checking of subject secrets.
//!
//! New keys are stored as Argon2id PHC strings (`$argon2id$v=19$m=...`, salt inside), a
//! slow password hash, so a copy of the database does not give the keys away cheaply.
//! Subjects made before carry a salted SHA-256 ([`crate::hash_secret`]); both verify.
//! Verification is slow on purpose (tens of milliseconds): the controller caches
//! successful checks (`whisk_controller`'s auth cache) so the hot path pays it rarely.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::{hash_secret, SubjectRecord};

/// The prefix of the PHC strings [`hash_key`] makes.
pub const ARGON2_PREFIX: &str = "$argon2";

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// Hashes a secret for storage: an Argon2id PHC string with a fresh random salt. Store it
/// as `secret_hash` with an empty `salt`.
pub fn hash_key(secret: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    // 16 bytes always encode; an empty hash (matching nothing) would be the fallback.
    let Ok(salt) = SaltString::encode_b64(&bytes) else {
        return String::new();
    };
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing fails only for parameters out of range, and the defaults are not.
        .unwrap_or_default()
}

/// Whether `secret` is the subject's: Argon2 for PHC strings, else the legacy salted
/// SHA-256, compared in constant time. An empty or malformed hash matches nothing.
pub fn verify_secret(record: &SubjectRecord, secret: &str) -> bool {
    if record.secret_hash.starts_with(ARGON2_PREFIX) {
        return PasswordHash::new(&record.secret_hash)
            .is_ok_and(|h| hasher().verify_password(secret.as_bytes(), &h).is_ok());
    }
    if record.secret_hash.is_empty() {
        return false;
    }
    let legacy = hash_secret(&record.salt, secret);
    legacy
        .as_bytes()
        .ct_eq(record.secret_hash.as_bytes())
        .into()
}

/// Whether the record's hash is the current format (an Argon2 PHC string).
pub fn is_current(record: &SubjectRecord) -> bool {
    record.secret_hash.starts_with(ARGON2_PREFIX)
}

#[cfg(test)]
mod tests {
    use whisk_types::{EntityName, Identity};

    use super::*;
    use crate::new_salt;

    fn record(salt: String, secret_hash: String) -> SubjectRecord {
        SubjectRecord {
            identity: Identity {
                subject: "someone".into(),
                namespace: EntityName::namespace("someone").unwrap(),
                uuid: uuid::Uuid::new_v4(),
            },
            salt,
            secret_hash,
            blocked: false,
        }
    }

    #[test]
    fn argon2_hashes_verify_and_hide_the_secret() {
        let secret = "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Tabcd";
        let hash = hash_key(secret);
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(secret));
        assert_ne!(hash, hash_key(secret), "salted");
        let rec = record(String::new(), hash);
        assert!(is_current(&rec));
        assert!(verify_secret(&rec, secret));
        assert!(!verify_secret(&rec, "another"));
    }

    #[test]
    fn legacy_hashes_still_verify() {
        let salt = new_salt();
        let rec = record(salt.clone(), hash_secret(&salt, "old"));
        assert!(!is_current(&rec));
        assert!(verify_secret(&rec, "old"));
        assert!(!verify_secret(&rec, "new"));
        assert!(!verify_secret(&record(String::new(), String::new()), ""));
        assert!(!verify_secret(
            &record(String::new(), "$argon2id$garbage".into()),
            ""
        ));
    }
}
