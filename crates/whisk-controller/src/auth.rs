//! Authentication: HTTP Basic `uuid:key` checked against the identity store's key hash
//! (Argon2id, or the older salted SHA-256; `whisk_store::keys`).
//!
//! Argon2 is slow on purpose, so a successful check is cached for `ttl`: keyed by a
//! digest of the presented credentials under a random per-process key (never the key
//! itself), bounded in size. A deleted, blocked or replaced key therefore keeps working
//! at most `ttl` on a controller that just saw it. Checks that miss the cache run in the
//! blocking pool, at most [`MAX_HASHING`] at once, so wrong keys cannot starve requests.
//! A legacy hash that verifies is replaced by an Argon2 hash of the same key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use whisk_store::{hash_key, keys, verify_secret, IdentityStore};
use whisk_types::{AuthKey, Identity};

use crate::error::ApiError;

/// Most successful authentications kept; past it the cache is emptied.
const MAX_ENTRIES: usize = 10_000;
/// Most key hashes checked at once (each is tens of milliseconds of one core).
pub(crate) const MAX_HASHING: usize = 2;

/// Who made a request, with the key used (handed to actions allowed to call the API).
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub key: AuthKey,
}

/// A digest of presented credentials: the cache's key.
type Digest32 = [u8; 32];

/// Successful authentications by digest of the credentials, each kept for `ttl`.
#[derive(Debug)]
pub(crate) struct AuthCache {
    ttl: Duration,
    /// Random per process: the digests mean nothing outside it.
    secret: [u8; 32],
    entries: Mutex<HashMap<Digest32, (Instant, Identity)>>,
    hashing: Semaphore,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            ttl,
            secret,
            entries: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(MAX_HASHING),
        }
    }

    /// Resolves the `Authorization` header to a caller.
    ///
    /// # Errors
    /// 401 when credentials are missing, invalid or blocked; 500 when the store fails.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        store: &dyn IdentityStore,
    ) -> Result<Caller, ApiError> {
        let key = basic_credentials(headers)?;
        let identity = self.identity(&key, store).await?;
        Ok(Caller { identity, key })
    }

    /// The identity `key` belongs to, from the cache or the store.
    ///
    /// # Errors
    /// 401 when the key is unknown, wrong or blocked; 500 when the store fails.
    pub async fn identity(
        &self,
        key: &AuthKey,
        store: &dyn IdentityStore,
    ) -> Result<Identity, ApiError> {
        let digest = self.digest(key);
        if let Some(identity) = self.cached(&digest) {
            return Ok(identity);
        }
        let record = store
            .subject_by_uuid(&key.uuid)
            .await?
            .filter(|r| !r.blocked)
            .ok_or(ApiError::AuthInvalid)?;
        let permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let secret = key.secret.clone();
        let (record, matches, rehashed) = tokio::task::spawn_blocking(move || {
            let ok = verify_secret(&record, &secret);
            // A legacy salted SHA-256 gets an Argon2 hash of the same key.
            let rehashed = (ok && !keys::is_current(&record)).then(|| hash_key(&secret));
            (record, ok, rehashed)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        drop(permit);
        if !matches {
            return Err(ApiError::AuthInvalid);
        }
        if let Some(new) = rehashed {
            if let Err(e) = store
                .rehash_secret(&key.uuid, &record.secret_hash, &new)
                .await
            {
                tracing::warn!(uuid = %key.uuid, error = %e, "Could not rehash a legacy key.");
            }
        }
        self.insert(digest, record.identity.clone());
        Ok(record.identity)
    }

    fn digest(&self, key: &AuthKey) -> Digest32 {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(key.uuid.as_bytes());
        h.update(key.secret.as_bytes());
        h.finalize().into()
    }

    fn cached(&self, digest: &Digest32) -> Option<Identity> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(digest)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, identity)| identity.clone())
    }

    fn insert(&self, digest: Digest32, identity: Identity) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(digest, (Instant::now(), identity));
    }
}

/// Decodes `Authorization: Basic base64(uuid:key)`.
fn basic_credentials(headers: &HeaderMap) -> Result<AuthKey, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::AuthMissing)?
        .to_str()
        .map_err(|_| ApiError::AuthInvalid)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or(ApiError::AuthMissing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::AuthMissing);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::AuthInvalid)?;
    let text = String::from_utf8(decoded).map_err(|_| ApiError::AuthInvalid)?;
    AuthKey::parse(&text).ok_or(ApiError::AuthInvalid)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn parses_basic_credentials() {
        let key = AuthKey::generate();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.to_string());
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {b64}"))).unwrap(),
            key
        );
        assert_eq!(
            basic_credentials(&headers(&format!("basic  {b64}"))).unwrap(),
            key
        );
        assert!(matches!(
            basic_credentials(&HeaderMap::new()),
            Err(ApiError::AuthMissing)
        ));
        assert!(matches!(
            basic_credentials(&headers("Bearer x")),
            Err(ApiError::AuthMissing)
        ));
        assert!(matches!(
            basic_credentials(&headers("Basic !!!")),
            Err(ApiError::AuthInvalid)
        ));
        let short = base64::engine::general_purpose::STANDARD.encode("a:b");
        assert!(matches!(
            basic_credentials(&headers(&format!("Basic {short}"))),
            Err(ApiError::AuthInvalid)
        ));
    }
}
