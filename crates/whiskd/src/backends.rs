//! The one place a store and a bus are opened from what the operator said: `--store`
//! (a path or `sqlite://PATH` for the embedded SQLite store, `postgres://...` for
//! PostgreSQL) and `--bus` (`embedded` or a path for the embedded SQLite queue,
//! `nats://...` or `tls://...` for NATS JetStream), shared by every role and by the tests. The bus is
//! wrapped so that every failed call counts in `whisk_bus_errors_total`.
//!
//! The embedded bus carries notifications (completions, heartbeats) only inside one
//! process, so the controller and invoker roles, which run as separate processes, need
//! `nats://`; `standalone` runs both in one process and may use either.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use whisk_bus::embedded::EmbeddedBusOptions;
use whisk_bus::{Bus, BusError, Consumer, Delivery, DeliveryToken, EmbeddedBus, Subscription};
use whisk_store::{ActivationStore, CodeStore, EntityStore, IdentityStore, SqliteStore};

/// The store's file in the data directory.
pub const STORE_FILE: &str = "whisk.db";
/// The bus's file in the data directory.
pub const BUS_FILE: &str = "bus.db";

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite store in this file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (`postgres://` or `postgresql://` URL).
    Postgres(String),
}

/// Where the bus is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusLocation {
    /// The embedded SQLite queue in this file (notifications stay in the process).
    Embedded(PathBuf),
    /// A NATS server with JetStream (`nats://` URL).
    Nats(String),
}

impl StoreLocation {
    /// Reads `--store`: absent means `whisk.db` in the data directory.
    ///
    /// # Errors
    /// An unknown URL scheme.
    pub fn parse(text: Option<&str>, data_dir: &Path) -> Result<Self> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Self::Sqlite(data_dir.join(STORE_FILE)));
        };
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if text.contains("://") {
            bail!(
                "--store {}: expected a path, sqlite://PATH or postgres://...",
                redact(text)
            );
        }
        Ok(Self::Sqlite(PathBuf::from(text)))
    }

    /// Whether the store lives in the data directory (so the files there are made private).
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

impl BusLocation {
    /// Reads `--bus`: absent or `embedded` means `bus.db` in the data directory.
    ///
    /// # Errors
    /// An unknown URL scheme.
    pub fn parse(text: Option<&str>, data_dir: &Path) -> Result<Self> {
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        match text {
            None | Some("embedded") => Ok(Self::Embedded(data_dir.join(BUS_FILE))),
            Some(t) if t.starts_with("nats://") || t.starts_with("tls://") => {
                Ok(Self::Nats(t.to_owned()))
            }
            Some(t) if t.contains("://") => {
                bail!(
                    "--bus {}: expected embedded, a path or nats://...",
                    redact(t)
                )
            }
            Some(t) => Ok(Self::Embedded(PathBuf::from(t))),
        }
    }

    /// Whether notifications reach other processes.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Nats(_))
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// The store as the traits the parts use.
#[derive(Clone)]
pub struct Stores {
    pub entities: Arc<dyn EntityStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub activations: Arc<dyn ActivationStore>,
    pub code: Arc<dyn CodeStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}

impl Stores {
    /// One backend seen through every trait.
    pub fn from_backend<S>(store: Arc<S>) -> Self
    where
        S: EntityStore + IdentityStore + ActivationStore + CodeStore,
    {
        Self {
            entities: store.clone(),
            identities: store.clone(),
            activations: store.clone(),
            code: store,
        }
    }
}

/// Opens the store.
///
/// # Errors
/// The file or server cannot be opened, or migrations failed.
pub async fn open_store(location: &StoreLocation) -> Result<Stores> {
    match location {
        StoreLocation::Sqlite(path) => {
            let store = SqliteStore::open(path)
                .with_context(|| format!("opening the store {}", path.display()))?;
            Ok(Stores::from_backend(Arc::new(store)))
        }
        StoreLocation::Postgres(url) => open_postgres(url).await,
    }
}

async fn open_postgres(url: &str) -> Result<Stores> {
    let store = whisk_store::PostgresStore::connect(url)
        .await
        .with_context(|| format!("connecting to the store {}", redact(url)))?;
    Ok(Stores::from_backend(Arc::new(store)))
}

/// The bus, with what the embedded one needs besides its file.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// How long a delivered message may go without ack or extension.
    pub ack_wait: Duration,
}

/// An opened bus: the trait object every part uses and, for the embedded bus, the
/// concrete one (its file's space is reclaimed by the retention task).
#[derive(Clone)]
pub struct OpenedBus {
    pub bus: Arc<dyn Bus>,
    pub embedded: Option<EmbeddedBus>,
}

impl std::fmt::Debug for OpenedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedBus")
            .field("embedded", &self.embedded.is_some())
            .finish_non_exhaustive()
    }
}

/// Opens the bus; every failed call counts in `errors`.
///
/// # Errors
/// The file or server cannot be opened.
pub async fn open_bus(
    location: &BusLocation,
    options: &BusOptions,
    errors: Counter,
) -> Result<OpenedBus> {
    match location {
        BusLocation::Embedded(path) => {
            let bus = EmbeddedBus::open_with(
                path,
                EmbeddedBusOptions {
                    ack_wait: options.ack_wait,
                    ..EmbeddedBusOptions::default()
                },
            )
            .with_context(|| format!("opening the bus {}", path.display()))?;
            Ok(OpenedBus {
                bus: Arc::new(CountingBus {
                    inner: Arc::new(bus.clone()),
                    errors,
                }),
                embedded: Some(bus),
            })
        }
        BusLocation::Nats(url) => {
            let bus = open_nats(url, options).await?;
            Ok(OpenedBus {
                bus: Arc::new(CountingBus { inner: bus, errors }),
                embedded: None,
            })
        }
    }
}

async fn open_nats(url: &str, options: &BusOptions) -> Result<Arc<dyn Bus>> {
    let bus = whisk_bus::nats::NatsBus::connect(
        url,
        whisk_bus::nats::NatsBusOptions {
            ack_wait: options.ack_wait,
            ..whisk_bus::nats::NatsBusOptions::default()
        },
    )
    .await
    .with_context(|| format!("connecting to the bus {}", redact(url)))?;
    Ok(Arc::new(bus))
}

/// Wraps a bus to count its failed calls (`whisk_bus_errors_total`). A closed bus is
/// not an error: it is how shutdown looks.
pub struct CountingBus {
    inner: Arc<dyn Bus>,
    errors: Counter,
}

impl std::fmt::Debug for CountingBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingBus")
            .field("errors", &self.errors.get())
            .finish_non_exhaustive()
    }
}

impl CountingBus {
    pub fn new(inner: Arc<dyn Bus>, errors: Counter) -> Self {
        Self { inner, errors }
    }
}

fn count<T>(errors: &Counter, r: Result<T, BusError>) -> Result<T, BusError> {
    if let Err(BusError::Backend(_)) = &r {
        errors.inc();
    }
    r
}

#[async_trait]
impl Bus for CountingBus {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), BusError> {
        count(&self.errors, self.inner.publish(topic, payload).await)
    }

    async fn consume(&self, topic: &str) -> Result<Arc<dyn Consumer>, BusError> {
        let inner = count(&self.errors, self.inner.consume(topic).await)?;
        Ok(Arc::new(CountingConsumer {
            inner,
            errors: self.errors.clone(),
        }))
    }

    async fn notify(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        count(&self.errors, self.inner.notify(subject, payload).await)
    }

    async fn subscribe(&self, subject: &str) -> Result<Box<dyn Subscription>, BusError> {
        count(&self.errors, self.inner.subscribe(subject).await)
    }

    async fn depth(&self, topic: &str) -> Result<Option<u64>, BusError> {
        count(&self.errors, self.inner.depth(topic).await)
    }
}

struct CountingConsumer {
    inner: Arc<dyn Consumer>,
    errors: Counter,
}

#[async_trait]
impl Consumer for CountingConsumer {
    async fn next(&self) -> Result<Delivery, BusError> {
        count(&self.errors, self.inner.next().await)
    }
    async fn ack(&self, token: &DeliveryToken) -> Result<(), BusError> {
        count(&self.errors, self.inner.ack(token).await)
    }
    async fn extend(&self, token: &DeliveryToken) -> Result<(), BusError> {
        count(&self.errors, self.inner.extend(token).await)
    }
    fn ack_wait(&self) -> Duration {
        self.inner.ack_wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_bus_locations() {
        let dir = Path::new("/data");
        assert_eq!(
            StoreLocation::parse(None, dir).unwrap(),
            StoreLocation::Sqlite(dir.join(STORE_FILE))
        );
        assert_eq!(
            StoreLocation::parse(Some("sqlite:///tmp/x.db"), dir).unwrap(),
            StoreLocation::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            StoreLocation::parse(Some("postgres://u:p@127.0.0.1:5432/whisk"), dir).unwrap(),
            StoreLocation::Postgres("postgres://u:p@127.0.0.1:5432/whisk".into())
        );
        let err = StoreLocation::parse(Some("mysql://u:secret@h/db"), dir).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(
            BusLocation::parse(Some("embedded"), dir).unwrap(),
            BusLocation::Embedded(dir.join(BUS_FILE))
        );
        assert_eq!(
            BusLocation::parse(Some("nats://127.0.0.1:4222"), dir).unwrap(),
            BusLocation::Nats("nats://127.0.0.1:4222".into())
        );
        assert!(BusLocation::parse(Some("kafka://h"), dir).is_err());
        assert_eq!(
            redact("postgres://whisk:pw@db:5432/whisk"),
            "postgres://whisk:***@db:5432/whisk"
        );
    }
}
