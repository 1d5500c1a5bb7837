//! Activation keys: API credentials an invoker mints for one running activation, so an
//! action can call the API back (`__OW_API_KEY`) without any subject's real key leaving the
//! identity store.
//!
//! A key is an ordinary `uuid:secret` ([`AuthKey`]): the uuid is the action owner's subject,
//! and the 64-char alphanumeric secret is stateless, made of
//! - the activation id (32 lowercase hex chars),
//! - the expiry, epoch ms in 10 base62 chars (the activation's deadline),
//! - a MAC, the first 128 bits of HMAC-SHA256 over uuid, id and expiry, in 22 base62 chars,
//!
//! keyed by a [`SigningKey`] that controllers and invokers share. Whoever holds the signing
//! key can check a key without a lookup; the controller also refuses it once the
//! activation's record is stored, so it lives no longer than its activation.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::identity::{AuthKey, SECRET_LEN};
use crate::ids::ActivationId;

/// The shared secret activation keys are signed with. Never stored: a standalone process
/// makes a fresh one at each start (keys of a previous run stop working, as their
/// activations did).
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// What a valid activation key grants: the owner's uuid (the key's), for one activation,
/// until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationGrant {
    pub owner: uuid::Uuid,
    pub activation_id: ActivationId,
    /// Epoch ms after which the key is refused.
    pub expires_at: i64,
}

const ID_LEN: usize = 32;
const EXPIRY_LEN: usize = 10;
const MAC_LEN: usize = SECRET_LEN - ID_LEN - EXPIRY_LEN;
/// Bytes of the HMAC kept (128 bits).
const MAC_BYTES: usize = 16;
/// Separates these MACs from any other use of the same key.
const DOMAIN: &[u8] = b"rwhisk activation key v1\0";
/// The latest expiry the 10 base62 chars hold (62^10 - 1 ms, far past any deadline).
const MAX_EXPIRY: u64 = 839_299_365_868_340_223;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes);
        Self(bytes)
    }

    /// The key as 64 hex digits, for a key file shared by the processes of a deployment.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key from [`SigningKey::to_hex`]'s 64 hex digits (surrounding whitespace
    /// ignored); `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim().as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in text.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok()?;
            bytes[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(Self(bytes))
    }

    fn mac(&self, owner: &uuid::Uuid, id: &ActivationId, expires_at: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(DOMAIN);
        mac.update(owner.as_bytes());
        mac.update(id.as_str().as_bytes());
        mac.update(&expires_at.to_be_bytes());
        mac
    }

    /// The key of activation `id`, acting as subject `owner`, valid until `expires_at`.
    pub fn mint(&self, owner: uuid::Uuid, id: ActivationId, expires_at: i64) -> AuthKey {
        let expires_at = (expires_at.max(0) as u64).min(MAX_EXPIRY);
        let tag = self.mac(&owner, &id, expires_at).finalize().into_bytes();
        let mut head = [0u8; MAC_BYTES];
        head.copy_from_slice(&tag[..MAC_BYTES]);
        let mut secret = String::with_capacity(SECRET_LEN);
        secret.push_str(id.as_str());
        secret.push_str(&base62(u128::from(expires_at), EXPIRY_LEN));
        secret.push_str(&base62(u128::from_be_bytes(head), MAC_LEN));
        AuthKey {
            uuid: owner,
            secret,
        }
    }

    /// The grant of `key` when this signing key minted it; `None` for any other key (a
    /// subject's own key, a forgery, a key of another signing key). Expiry is the caller's
    /// to check. The MAC is compared in constant time.
    pub fn verify(&self, key: &AuthKey) -> Option<ActivationGrant> {
        let s = key.secret.as_str();
        if s.len() != SECRET_LEN || !s.is_ascii() {
            return None;
        }
        let (id, rest) = s.split_at(ID_LEN);
        let (expiry, tag) = rest.split_at(EXPIRY_LEN);
        let activation_id = ActivationId::parse(id).ok()?;
        if activation_id.as_str() != id {
            return None; // only the canonical (lowercase) spelling
        }
        let expires_at = u64::try_from(unbase62(expiry)?).ok()?;
        let tag = unbase62(tag)?.to_be_bytes();
        self.mac(&key.uuid, &activation_id, expires_at)
            .verify_truncated_left(&tag)
            .ok()?;
        Some(ActivationGrant {
            owner: key.uuid,
            activation_id,
            expires_at: i64::try_from(expires_at).ok()?,
        })
    }
}

/// `n` in base62, left-padded with `0` to `width` (wide enough for the values used here).
fn base62(mut n: u128, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    debug_assert_eq!(n, 0, "value too wide for {width} base62 digits");
    String::from_utf8(out).expect("base62 is ascii")
}

/// Base62 text to a number; `None` for other characters or an overflow.
fn unbase62(s: &str) -> Option<u128> {
    s.bytes().try_fold(0u128, |acc, c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        acc.checked_mul(62)?.checked_add(u128::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_refusals() {
        let k = SigningKey::generate();
        let hex = k.to_hex();
        assert_eq!(hex.len(), 64);
        let back = SigningKey::from_hex(&format!(" {hex}\n")).unwrap();
        let owner = uuid::Uuid::new_v4();
        let key = k.mint(owner, ActivationId::generate(), 1_790_000_000_123);
        assert!(back.verify(&key).is_some());
        assert!(SigningKey::from_hex(&hex[..62]).is_none());
        assert!(SigningKey::from_hex(&"zz".repeat(32)).is_none());
        assert!(SigningKey::from_hex(&"é".repeat(32)).is_none());
    }

    #[test]
    fn minted_keys_verify_and_parse_as_ordinary_keys() {
        let k = SigningKey::generate();
        let owner = uuid::Uuid::new_v4();
        let id = ActivationId::generate();
        let key = k.mint(owner, id, 1_790_000_000_123);
        let parsed = AuthKey::parse(&key.to_string()).expect("a well-formed uuid:key");
        assert_eq!(parsed, key);
        assert_eq!(
            k.verify(&parsed),
            Some(ActivationGrant {
                owner,
                activation_id: id,
                expires_at: 1_790_000_000_123
            })
        );
        assert!(!format!("{k:?}").contains(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn refuses_other_keys_and_any_change() {
        let k = SigningKey::generate();
        let owner = uuid::Uuid::new_v4();
        let key = k.mint(owner, ActivationId::generate(), 1_000);
        assert!(SigningKey::generate().verify(&key).is_none());
        assert!(k.verify(&AuthKey::generate()).is_none());
        let other_owner = AuthKey {
            uuid: uuid::Uuid::new_v4(),
            ..key.clone()
        };
        assert!(k.verify(&other_owner).is_none());
        // Flip every character in turn: nothing else verifies.
        for i in 0..SECRET_LEN {
            let mut bytes = key.secret.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = AuthKey {
                uuid: owner,
                secret: String::from_utf8(bytes).unwrap(),
            };
            assert!(k.verify(&changed).is_none(), "position {i}");
        }
        // A later expiry under the same MAC.
        let later = k.mint(owner, ActivationId::generate(), 2_000);
        let forged = format!(
            "{}{}{}",
            &key.secret[..ID_LEN],
            &later.secret[ID_LEN..ID_LEN + EXPIRY_LEN],
            &key.secret[ID_LEN + EXPIRY_LEN..]
        );
        assert!(k
            .verify(&AuthKey {
                uuid: owner,
                secret: forged
            })
            .is_none());
    }

    #[test]
    fn base62_round_trips() {
        for n in [0u128, 1, 61, 62, 1_790_000_000_123, u128::MAX] {
            assert_eq!(unbase62(&base62(n, 22)), Some(n));
        }
        assert_eq!(
            unbase62(&base62(u128::from(MAX_EXPIRY), EXPIRY_LEN)),
            Some(u128::from(MAX_EXPIRY))
        );
        assert_eq!(unbase62("zzzzzzzzzz"), Some(u128::from(MAX_EXPIRY)));
        assert_eq!(unbase62("zzzzzzzzzzzzzzzzzzzzzz"), None);
        assert_eq!(unbase62("-"), None);
    }
}
