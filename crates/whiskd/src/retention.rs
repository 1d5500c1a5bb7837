//! Activation retention: a background task that purges records older than the retention
//! age and, per namespace, past the retention count, then gives the space of the store's
//! and the bus's files back to the file system, so both stay bounded under a long run.
//!
//! OpenWhisk's CouchDB store keeps records until an operator deletes them; its hosted
//! offerings keep them for about a week. rwhisk keeps 7 days and at most 10,000 records per
//! namespace unless told otherwise.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use whisk_bus::EmbeddedBus;
use whisk_store::ActivationStore;
use whisk_types::now_millis;

/// What the purge keeps, and how often it runs.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Records whose start is older than this go; `None` keeps them whatever their age.
    pub max_age: Option<Duration>,
    /// Records past the newest this many of a namespace go; `None` sets no count.
    pub max_per_namespace: Option<u64>,
    /// Pause between two purges (the first runs at start).
    pub interval: Duration,
}

/// Purges and reclaims every `retention.interval` until `stop` turns true. A failed round
/// is logged and tried again at the next interval. `bus` is the embedded bus whose file's
/// space is reclaimed (none for a NATS bus, which bounds its own streams). With several
/// controllers on one store each purges; the purge is idempotent.
pub async fn run(
    retention: Retention,
    store: Arc<dyn ActivationStore>,
    bus: Option<EmbeddedBus>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let older_than = retention.max_age.map_or(i64::MIN, |age| {
            now_millis().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
        });
        let keep = retention.max_per_namespace.unwrap_or(u64::MAX);
        match store.purge(older_than, keep).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "Purged old activation records."),
            Err(err) => tracing::warn!(error = %err, "Purging activation records failed."),
        }
        if let Some(bus) = &bus {
            if let Err(err) = bus.reclaim().await {
                tracing::warn!(error = %err, "Reclaiming the bus's free space failed.");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retention.interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
