//! Authentication: HTTP Basic `uuid:key` checked against the identity store's salted hash.
//! Subject records are cached for a short time; the secret is compared on every request, so
//! a wrong key is never accepted from the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use whisk_store::{hash_secret, IdentityStore, SubjectRecord};
use whisk_types::{AuthKey, Identity};

use crate::error::ApiError;

/// Who made a request, with the key used (handed to actions allowed to call the API).
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub key: AuthKey,
}

/// Subject records by uuid, each kept for `ttl`.
#[derive(Debug)]
pub(crate) struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<uuid::Uuid, (Instant, SubjectRecord)>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves the `Authorization` header to a caller.
    ///
    /// # Errors
    /// 401 when credentials are missing or invalid; 500 when the store fails.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        store: &dyn IdentityStore,
    ) -> Result<Caller, ApiError> {
        let key = basic_credentials(headers)?;
        if let Some(record) = self.cached(&key.uuid) {
            if secret_matches(&record, &key.secret) {
                return Ok(Caller {
                    identity: record.identity,
                    key,
                });
            }
        }
        // Not cached, expired, or the cached record disagrees (the key may have changed).
        let record = store
            .subject_by_uuid(&key.uuid)
            .await?
            .ok_or(ApiError::AuthInvalid)?;
        self.insert(record.clone());
        if !secret_matches(&record, &key.secret) {
            return Err(ApiError::AuthInvalid);
        }
        Ok(Caller {
            identity: record.identity,
            key,
        })
    }

    fn cached(&self, uuid: &uuid::Uuid) -> Option<SubjectRecord> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(uuid)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, r)| r.clone())
    }

    fn insert(&self, record: SubjectRecord) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        entries.insert(record.identity.uuid, (Instant::now(), record));
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

pub(crate) fn secret_matches(record: &SubjectRecord, secret: &str) -> bool {
    constant_time_eq(
        hash_secret(&record.salt, secret).as_bytes(),
        record.secret_hash.as_bytes(),
    )
}

/// Compares without an early exit, so timing does not tell how much of a hash matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    #[test]
    fn compares_in_constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
