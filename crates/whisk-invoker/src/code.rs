//! The invoker's source of action code: messages name the code by digest
//! ([`whisk_types::CodeRef`]); a cold start fetches it from the store and keeps it in a
//! cache bounded by total bytes. Code under a digest never changes, so cached code never
//! goes stale; the least recently used blobs leave when the cache is full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::{debug, warn};
use whisk_store::CodeStore;
use whisk_types::{code_digest, ActivationMessage, ActivationResponse, CodeRef};

use crate::outcome;

/// Fetches and caches code by digest.
pub(crate) struct CodeCache {
    source: Arc<dyn CodeStore>,
    /// The most bytes of code kept; a blob larger than this is fetched every time.
    capacity: u64,
    cached: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    /// Code by digest, with the use counter at its last use.
    blobs: HashMap<String, (Arc<str>, u64)>,
    bytes: u64,
    uses: u64,
}

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (blobs, bytes) = self
            .cached
            .lock()
            .map_or((0, 0), |c| (c.blobs.len(), c.bytes));
        f.debug_struct("CodeCache")
            .field("capacity", &self.capacity)
            .field("blobs", &blobs)
            .field("bytes", &bytes)
            .finish_non_exhaustive()
    }
}

impl CodeCache {
    pub(crate) fn new(source: Arc<dyn CodeStore>, capacity: u64) -> Self {
        Self {
            source,
            capacity,
            cached: Mutex::default(),
        }
    }

    /// The code to `/init` the action of `msg` with: fetched by the message's reference,
    /// else the code the message's action carries (messages from older controllers), else
    /// none. A failure is the activation's response.
    pub(crate) async fn code_for(
        &self,
        msg: &ActivationMessage,
    ) -> Result<Option<Arc<str>>, ActivationResponse> {
        match &msg.code {
            Some(reference) => self.fetch(reference).await.map(Some),
            None => Ok(msg.action.exec.code().map(Arc::from)),
        }
    }

    async fn fetch(&self, reference: &CodeRef) -> Result<Arc<str>, ActivationResponse> {
        if let Some(code) = self.cached(&reference.digest) {
            return Ok(code);
        }
        let code = match self.source.get_code(&reference.digest).await {
            Ok(Some(code)) => code,
            Ok(None) => {
                warn!(digest = %reference.digest, "The code of the action is no longer kept.");
                return Err(ActivationResponse::application_error(
                    outcome::ACTION_REMOVED.into(),
                    None,
                ));
            }
            Err(e) => {
                warn!(digest = %reference.digest, error = %e, "Fetching the code failed.");
                return Err(ActivationResponse::whisk_error(
                    outcome::ACTION_FETCH_FAILED,
                ));
            }
        };
        if code_digest(&code) != reference.digest {
            warn!(digest = %reference.digest, "The code fetched does not match its digest.");
            return Err(ActivationResponse::whisk_error(outcome::ACTION_MISMATCH));
        }
        let code: Arc<str> = Arc::from(code);
        self.keep(&reference.digest, &code);
        Ok(code)
    }

    fn cached(&self, digest: &str) -> Option<Arc<str>> {
        let mut c = self.cached.lock().ok()?;
        c.uses += 1;
        let uses = c.uses;
        let (code, last) = c.blobs.get_mut(digest)?;
        *last = uses;
        Some(Arc::clone(code))
    }

    fn keep(&self, digest: &str, code: &Arc<str>) {
        let size = code.len() as u64;
        if size > self.capacity {
            return;
        }
        let Ok(mut c) = self.cached.lock() else {
            return;
        };
        if c.blobs.contains_key(digest) {
            return;
        }
        while c.bytes + size > self.capacity {
            let Some(lru) = c
                .blobs
                .iter()
                .min_by_key(|(_, (_, last))| *last)
                .map(|(d, _)| d.clone())
            else {
                break;
            };
            if let Some((gone, _)) = c.blobs.remove(&lru) {
                c.bytes -= gone.len() as u64;
                debug!(digest = %lru, "Code evicted from the cache.");
            }
        }
        c.uses += 1;
        let uses = c.uses;
        c.bytes += size;
        c.blobs.insert(digest.to_owned(), (Arc::clone(code), uses));
    }

    /// Digests cached now.
    #[cfg(test)]
    fn digests(&self) -> Vec<String> {
        let mut d: Vec<String> = self.cached.lock().unwrap().blobs.keys().cloned().collect();
        d.sort();
        d
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use whisk_store::StoreError;
    use whisk_types::ResponseStatus;

    use super::*;

    /// A code source that counts its reads (the cache is what is under test).
    #[derive(Default)]
    struct Counting {
        blobs: HashMap<String, String>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl CodeStore for Counting {
        async fn get_code(&self, digest: &str) -> Result<Option<String>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if digest == "broken" {
                return Err(StoreError::Backend("down".into()));
            }
            Ok(self.blobs.get(digest).cloned())
        }
        async fn collect_code(&self, _: i64) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn source(codes: &[&str]) -> Arc<Counting> {
        let mut c = Counting::default();
        for code in codes {
            c.blobs.insert(code_digest(code), (*code).to_owned());
        }
        // A blob stored under a digest that is not its own.
        c.blobs.insert(code_digest("forged"), "other".into());
        Arc::new(c)
    }

    #[tokio::test]
    async fn fetches_once_and_evicts_the_least_recently_used_by_bytes() {
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let src = source(&[&a, &b, &c]);
        let cache = CodeCache::new(src.clone(), 100);
        for _ in 0..3 {
            assert_eq!(&*cache.fetch(&CodeRef::of(&a)).await.unwrap(), a.as_str());
        }
        assert_eq!(src.reads.load(Ordering::SeqCst), 1);
        cache.fetch(&CodeRef::of(&b)).await.unwrap();
        // `a` used last, so `b` goes when `c` needs the room.
        cache.fetch(&CodeRef::of(&a)).await.unwrap();
        cache.fetch(&CodeRef::of(&c)).await.unwrap();
        let mut want = vec![code_digest(&a), code_digest(&c)];
        want.sort();
        assert_eq!(cache.digests(), want);
        assert_eq!(src.reads.load(Ordering::SeqCst), 3);
        // Larger than the whole cache: served, not kept.
        let big = "x".repeat(101);
        let cache = CodeCache::new(source(&[&big]), 100);
        cache.fetch(&CodeRef::of(&big)).await.unwrap();
        assert!(cache.digests().is_empty());
    }

    #[tokio::test]
    async fn missing_broken_and_forged_code_are_activation_errors() {
        let cache = CodeCache::new(source(&[]), 100);
        let missing = cache.fetch(&CodeRef::of("gone")).await.unwrap_err();
        assert_eq!(missing.status(), ResponseStatus::ApplicationError);
        assert_eq!(missing.result["error"], outcome::ACTION_REMOVED);
        let broken = CodeRef {
            digest: "broken".into(),
            size: 1,
        };
        let e = cache.fetch(&broken).await.unwrap_err();
        assert_eq!(e.status(), ResponseStatus::WhiskError);
        assert_eq!(e.result["error"], outcome::ACTION_FETCH_FAILED);
        let e = cache.fetch(&CodeRef::of("forged")).await.unwrap_err();
        assert_eq!(e.status(), ResponseStatus::WhiskError);
        assert_eq!(e.result["error"], outcome::ACTION_MISMATCH);
        assert!(cache.digests().is_empty());
    }
}
