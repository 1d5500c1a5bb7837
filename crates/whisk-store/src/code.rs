//! Action code kept by content digest ([`whisk_types::code_digest`]), so activation
//! messages carry a reference instead of the code and an invoker can fetch exactly the
//! code an invocation resolved, even after the action was updated.
//!
//! A backend keeps the code of every stored action under its digest, written in the same
//! transaction as the action. When no action holds a digest any more (overwritten or
//! deleted), the code is *released*, not removed: messages published before the write may
//! still need it. Released code is removed after [`CODE_RETENTION`] (a backend does it as
//! part of its writes) or by [`CodeStore::collect_code`].

use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// How long code no action holds any more is kept for invocations still queued.
pub const CODE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Code blobs by digest. Implemented by every store backend beside [`crate::EntityStore`]
/// (which writes them); the invoker reads through it.
#[async_trait]
pub trait CodeStore: Send + Sync + 'static {
    /// The code with this digest, if it is kept.
    async fn get_code(&self, digest: &str) -> Result<Option<String>, StoreError>;

    /// Removes code no action holds that was released before `released_before` (epoch
    /// ms); returns how many blobs were removed.
    async fn collect_code(&self, released_before: i64) -> Result<u64, StoreError>;
}
