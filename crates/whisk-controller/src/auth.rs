//! Authentication: HTTP Basic `uuid:key` checked against the identity store's salted hash.
//! Subject records are cached for a short time; the secret is compared on every request, so
//! a wrong key is never accepted from the cache. [`authenticate`] first tries the key as an
//! activation key ([`whisk_types::activation_key`]), a separate branch that needs no hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use whisk_store::{hash_secret, IdentityStore, SubjectRecord};
use whisk_types::{now_millis, AuthKey, Identity};

use crate::controller::Controller;
use crate::error::ApiError;

/// Who made a request. The key it used stays here: it never reaches an action.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
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

/// Resolves a request's `Authorization` to a caller: an activation key an invoker minted,
/// else a subject's key through `ctl.auth`.
///
/// # Errors
/// 401 when credentials are missing or invalid (an activation key also once expired or
/// once its activation's record is stored); 500 when a store fails.
pub(crate) async fn authenticate(
    ctl: &Controller,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    if let Some(caller) = activation_caller(ctl, headers).await? {
        return Ok(caller);
    }
    ctl.auth
        .authenticate(headers, ctl.identities.as_ref())
        .await
}

/// The caller of an activation key: the owner subject the key was minted for, while its
/// activation runs. `None` when the credentials are not an activation key of this
/// deployment's signing key (the subject path decides then).
async fn activation_caller(
    ctl: &Controller,
    headers: &HeaderMap,
) -> Result<Option<Caller>, ApiError> {
    let Ok(key) = basic_credentials(headers) else {
        return Ok(None);
    };
    let Some(grant) = ctl.config.signing_key.verify(&key) else {
        return Ok(None);
    };
    if grant.expires_at < now_millis() || ctl.activations.exists(&grant.activation_id).await? {
        return Err(ApiError::AuthInvalid);
    }
    let record = ctl
        .identities
        .subject_by_uuid(&grant.owner)
        .await?
        .ok_or(ApiError::AuthInvalid)?;
    Ok(Some(Caller {
        identity: record.identity,
    }))
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
