//! Authentication: HTTP Basic `uuid:key` checked against the identity store's key hash
//! (Argon2id, or the older salted SHA-256; `whisk_store::keys`).
//!
//! Argon2 is slow on purpose, so a successful check is cached for `ttl`: keyed by a
//! digest of the presented credentials under a random per-process key (never the key
//! itself), bounded in size. Once `ttl` has passed the subject is read again; if its
//! stored hash is the very one these credentials were checked against (and it is not
//! blocked), the check would give the same answer, so it is not run again (the
//! profile in BENCHMARKS.md found one Argon2 check per key every `ttl` to be a tenth of
//! whiskd's CPU under load). A deleted, blocked or replaced key therefore keeps working
//! at most `ttl` on a controller that just saw it. Checks that miss the cache run in the
//! blocking pool, at most [`MAX_HASHING`] at once, so wrong keys cannot starve requests.
//! A legacy hash that verifies is replaced by an Argon2 hash of the same key.
//! Wrong keys for one subject run at most [`MAX_FAILURES`] hash checks per
//! [`FAILURE_WINDOW`]; past that the subject's uncached keys get 401 without a check, so
//! guessing at a known uuid costs the server nothing (keys cached as good keep working).
//!
//! [`authenticate`] first tries the key as an activation key
//! ([`whisk_types::activation_key`]), a separate branch that needs no hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use whisk_store::{hash_key, keys, verify_secret, IdentityStore};
use whisk_types::{now_millis, AuthKey, Identity};

use crate::controller::Controller;
use crate::error::ApiError;

/// Most successful authentications kept; past it the cache is emptied.
const MAX_ENTRIES: usize = 10_000;
/// Most key hashes checked at once (each is tens of milliseconds of one core).
pub(crate) const MAX_HASHING: usize = 2;

/// Failed key checks per subject and window before further checks are refused unrun.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window [`MAX_FAILURES`] counts in.
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Who made a request. The key it used stays here: it never reaches an action.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
}

/// A digest of presented credentials: the cache's key.
type Digest32 = [u8; 32];

/// One successful check of presented credentials.
#[derive(Debug, Clone)]
struct Verified {
    at: Instant,
    identity: Identity,
    /// The stored hash the credentials matched.
    secret_hash: String,
}

/// Successful authentications by digest of the credentials, each kept for `ttl`.
#[derive(Debug)]
pub(crate) struct AuthCache {
    ttl: Duration,
    /// Random per process: the digests mean nothing outside it.
    secret: [u8; 32],
    /// Verified credentials: when, as whom, and against which stored hash.
    entries: Mutex<HashMap<Digest32, Verified>>,
    /// Failed checks by subject uuid: the window's start and the count in it.
    failures: Mutex<HashMap<uuid::Uuid, (Instant, u32)>>,
    hashing: Semaphore,
    /// Hash checks run (tests count them).
    #[cfg(test)]
    hash_checks: std::sync::atomic::AtomicUsize,
}

impl AuthCache {
    /// Forgets every cached success (a key changed somewhere in the deployment).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn new(ttl: Duration) -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            ttl,
            secret,
            entries: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(MAX_HASHING),
            #[cfg(test)]
            hash_checks: std::sync::atomic::AtomicUsize::new(0),
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
        Ok(Caller { identity })
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
        if self.checked_against(&digest, &record.secret_hash) {
            self.insert(digest, record.identity.clone(), record.secret_hash);
            return Ok(record.identity);
        }
        if self.failures_exhausted(&key.uuid) {
            return Err(ApiError::AuthInvalid);
        }
        let permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let secret = key.secret.clone();
        #[cfg(test)]
        self.hash_checks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
            self.count_failure(key.uuid);
            return Err(ApiError::AuthInvalid);
        }
        let mut secret_hash = record.secret_hash.clone();
        if let Some(new) = rehashed {
            match store
                .rehash_secret(&key.uuid, &record.secret_hash, &new)
                .await
            {
                Ok(_) => secret_hash = new,
                Err(e) => {
                    tracing::warn!(uuid = %key.uuid, error = %e, "Could not rehash a legacy key.")
                }
            }
        }
        self.insert(digest, record.identity.clone(), secret_hash);
        Ok(record.identity)
    }

    /// Whether these credentials (by digest) were found good against `secret_hash`, the
    /// subject's stored hash now: checking them again would give the same answer.
    fn checked_against(&self, digest: &Digest32, secret_hash: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(digest)
            .is_some_and(|v| bool::from(v.secret_hash.as_bytes().ct_eq(secret_hash.as_bytes())))
    }

    /// Whether `uuid` used up its failed checks in the current window.
    fn failures_exhausted(&self, uuid: &uuid::Uuid) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(uuid)
            .is_some_and(|(start, n)| start.elapsed() < FAILURE_WINDOW && *n >= MAX_FAILURES)
    }

    fn count_failure(&self, uuid: uuid::Uuid) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, (start, _)| start.elapsed() < FAILURE_WINDOW);
            if failures.len() >= MAX_ENTRIES {
                failures.clear();
            }
        }
        let entry = failures.entry(uuid).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
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
            .filter(|v| v.at.elapsed() < self.ttl)
            .map(|v| v.identity.clone())
    }

    fn insert(&self, digest: Digest32, identity: Identity, secret_hash: String) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, v| v.at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let at = Instant::now();
        entries.insert(
            digest,
            Verified {
                at,
                identity,
                secret_hash,
            },
        );
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

/// The caller of an activation key: the owner subject the key was minted for (unless
/// blocked since), while its activation runs. `None` when the credentials are not an
/// activation key of this deployment's signing key (the subject path decides then).
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
    // Its activation has ended once its completion came, even before the record is stored.
    if grant.expires_at < now_millis()
        || ctl.recent.has_ended(&grant.activation_id)
        || ctl.activations.exists(&grant.activation_id).await?
    {
        return Err(ApiError::AuthInvalid);
    }
    let record = ctl
        .identities
        .subject_by_uuid(&grant.owner)
        .await?
        .filter(|r| !r.blocked)
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    /// Past [`MAX_FAILURES`] wrong keys, a subject's uncached keys are refused without a
    /// hash check (even the right one, until the window ends), while a key already cached
    /// as good keeps working.
    #[tokio::test]
    async fn guessing_at_one_subject_stops_costing_hash_checks() {
        let store = whisk_store::SqliteStore::temporary().unwrap();
        let ns = whisk_types::EntityName::namespace("guesses").unwrap();
        let good = AuthKey::generate();
        let mut record = whisk_store::contract::subject_record("guesses", &ns, "unused");
        record.identity.uuid = good.uuid;
        record.secret_hash = hash_key(&good.secret);
        store.put_subject(&record).await.unwrap();
        // One controller saw the good key before the guessing, one did not.
        let warm = AuthCache::new(Duration::from_secs(600));
        warm.identity(&good, &store).await.unwrap();
        let cold = AuthCache::new(Duration::from_secs(600));
        for cache in [&warm, &cold] {
            for _ in 0..MAX_FAILURES {
                let wrong = AuthKey {
                    uuid: good.uuid,
                    ..AuthKey::generate()
                };
                assert!(matches!(
                    cache.identity(&wrong, &store).await,
                    Err(ApiError::AuthInvalid)
                ));
            }
        }
        assert!(matches!(
            cold.identity(&good, &store).await,
            Err(ApiError::AuthInvalid)
        ));
        assert_eq!(warm.identity(&good, &store).await.unwrap(), record.identity);
    }

    /// Past the ttl the subject is read again, but the key is hashed again only when the
    /// stored hash changed (then the old key fails).
    #[tokio::test]
    async fn an_expired_entry_is_not_hashed_again_while_the_stored_hash_is_the_same() {
        let store = whisk_store::SqliteStore::temporary().unwrap();
        let ns = whisk_types::EntityName::namespace("again").unwrap();
        let key = AuthKey::generate();
        let mut record = whisk_store::contract::subject_record("again", &ns, "unused");
        record.identity.uuid = key.uuid;
        record.secret_hash = hash_key(&key.secret);
        store.put_subject(&record).await.unwrap();
        let checks = |c: &AuthCache| c.hash_checks.load(std::sync::atomic::Ordering::SeqCst);
        // A zero ttl: every call finds its entry expired.
        let cache = AuthCache::new(Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(cache.identity(&key, &store).await.unwrap(), record.identity);
        }
        assert_eq!(checks(&cache), 1);
        // A new key for the subject: the old one is checked against the new hash, and fails.
        let new = AuthKey {
            uuid: key.uuid,
            ..AuthKey::generate()
        };
        record.secret_hash = hash_key(&new.secret);
        store.put_subject(&record).await.unwrap();
        assert!(matches!(
            cache.identity(&key, &store).await,
            Err(ApiError::AuthInvalid)
        ));
        assert_eq!(checks(&cache), 2);
        assert_eq!(cache.identity(&new, &store).await.unwrap(), record.identity);
        // Blocked: refused without a check.
        record.blocked = true;
        store.put_subject(&record).await.unwrap();
        assert!(matches!(
            cache.identity(&new, &store).await,
            Err(ApiError::AuthInvalid)
        ));
        assert_eq!(checks(&cache), 3);
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
