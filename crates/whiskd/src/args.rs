//! Flag groups the roles share: where the store and bus are, the API listeners, the
//! invoker's containers, the limits and record retention. Every flag also reads an
//! `RWHISK_*` environment variable, and `--config FILE` (see [`crate::config_file`])
//! fills those variables from a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::metrics::counter::Counter;
use whisk_controller::{ControllerConfig, RuntimeManifest};
use whisk_invoker::{ActionNetwork, InvokerConfig};
use whisk_types::action::limits;
use whisk_types::SigningKey;

use crate::backends::{self, BusLocation, BusOptions, OpenedBus, StoreLocation, Stores};
use crate::containers::{self, FactoryChoice};
use crate::retention::Retention;
use crate::serve::ServeLimits;

/// Where the store and the bus are, and the key activation keys are signed with.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// The store: a SQLite file path (or sqlite://PATH), or postgres://USER:PASSWORD@HOST/DB
    /// [default: whisk.db in the data directory].
    #[arg(long, env = "RWHISK_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,
    /// The bus: `embedded` (a SQLite queue in the data directory, one process only) or
    /// nats://HOST:PORT (NATS with JetStream) [default: embedded].
    #[arg(long, env = "RWHISK_BUS", value_name = "embedded|URL")]
    pub bus: Option<String>,
    /// Seconds a message taken from the bus may go without an ack or a lease extension
    /// before it is delivered again (the invoker extends it every third of this while the
    /// activation runs).
    #[arg(long, env = "RWHISK_BUS_ACK_WAIT_SECS", default_value_t = 600)]
    pub bus_ack_wait_secs: u64,
    /// The file holding the key activation keys (`__OW_API_KEY`) are signed with; every
    /// controller and invoker of a deployment must read the same one. Made (0600) if
    /// missing. [default: standalone: a new key per start, held in memory only]
    #[arg(long, env = "RWHISK_SIGNING_KEY_FILE", value_name = "FILE")]
    pub signing_key_file: Option<PathBuf>,
}

impl BackendArgs {
    /// Where the store is.
    ///
    /// # Errors
    /// A URL of an unknown scheme.
    pub fn store_location(&self, data_dir: &Path) -> Result<StoreLocation> {
        StoreLocation::parse(self.store.as_deref(), data_dir)
    }

    /// Where the bus is.
    ///
    /// # Errors
    /// A URL of an unknown scheme.
    pub fn bus_location(&self, data_dir: &Path) -> Result<BusLocation> {
        BusLocation::parse(self.bus.as_deref(), data_dir)
    }

    pub fn bus_options(&self) -> BusOptions {
        BusOptions {
            ack_wait: Duration::from_secs(self.bus_ack_wait_secs.max(1)),
        }
    }

    /// Opens the store and the bus of a role that shares them with other processes
    /// (`whiskd controller`, `whiskd invoker`): the bus must reach other processes.
    /// Returns the stores, the bus and the counter of the bus's failed calls.
    ///
    /// # Errors
    /// The embedded bus, a private data directory that is not private, an unreachable
    /// store or bus.
    pub async fn open_shared(
        &self,
        role: &str,
        data_dir: &Path,
    ) -> Result<(Stores, OpenedBus, Counter)> {
        let bus_location = self.bus_location(data_dir)?;
        anyhow::ensure!(
            bus_location.is_shared(),
            "whiskd {role} needs a bus that reaches other processes (--bus nats://...); \
             the embedded bus works inside one process only (whiskd standalone)"
        );
        private_dir(data_dir, &[])?;
        let stores = backends::open_store(&self.store_location(data_dir)?).await?;
        let bus_errors = Counter::default();
        let bus =
            backends::open_bus(&bus_location, &self.bus_options(), bus_errors.clone()).await?;
        Ok((stores, bus, bus_errors))
    }

    /// The signing key from `--signing-key-file`, else (`required` false) a fresh one.
    ///
    /// # Errors
    /// The file is unusable, or `required` and no file given.
    pub fn signing_key(&self, required: bool) -> Result<SigningKey> {
        match &self.signing_key_file {
            Some(path) => crate::bootstrap::signing_key_file(path),
            None if required => anyhow::bail!(
                "--signing-key-file is required: every controller and invoker of a \
                 deployment must share the activation-key signing key"
            ),
            None => Ok(SigningKey::generate()),
        }
    }
}

/// The API listeners.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenerArgs {
    /// Plain HTTP listener.
    #[arg(long, env = "RWHISK_HTTP_ADDR", default_value = "127.0.0.1:3233")]
    pub http_addr: SocketAddr,
    /// Serve no plain HTTP listener at all, only HTTPS.
    #[arg(long, env = "RWHISK_NO_HTTP")]
    pub no_http: bool,
    /// HTTPS listener (self-signed certificate unless --tls-cert/--tls-key are given).
    #[arg(long, env = "RWHISK_HTTPS_ADDR", default_value = "127.0.0.1:3443")]
    pub https_addr: SocketAddr,
    /// Serve no HTTPS listener (a proxy in front terminates TLS).
    #[arg(long, env = "RWHISK_NO_HTTPS", conflicts_with = "no_http")]
    pub no_https: bool,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "RWHISK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "RWHISK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a client has for a TLS handshake and for each request's headers; an idle
    /// keep-alive connection is closed after the same time.
    #[arg(long, env = "RWHISK_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub header_read_timeout_secs: u64,
    /// Longest pause, in seconds, between two chunks of a request body, and longest time
    /// a response waits for the client to read it.
    #[arg(long, env = "RWHISK_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Most client connections open at once, over both listeners; more wait to be accepted.
    #[arg(long, env = "RWHISK_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
}

impl ListenerArgs {
    /// # Errors
    /// Zero connections or timeouts.
    pub fn check(&self) -> Result<()> {
        anyhow::ensure!(
            self.max_connections > 0,
            "--max-connections must be at least 1"
        );
        anyhow::ensure!(
            self.header_read_timeout_secs > 0 && self.body_timeout_secs > 0,
            "--header-read-timeout-secs and --body-timeout-secs must be at least 1"
        );
        Ok(())
    }

    pub fn limits(&self) -> ServeLimits {
        ServeLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
        }
    }

    /// The API host containers get by default: the plain listener, else HTTPS.
    pub fn api_host(&self) -> String {
        if self.no_http {
            format!("https://{}", self.https_addr)
        } else {
            format!("http://{}", self.http_addr)
        }
    }
}

/// How the invoker runs action containers.
#[derive(Debug, Clone, clap::Args)]
pub struct PoolArgs {
    /// Memory the invoker may give to action containers, in MB: the sum of their memory
    /// limits, busy, idle and paused. When a new container needs more, idle and paused
    /// containers are removed, least recently used first [default: sized to the host:
    /// three quarters of MemTotal in /proc/meminfo, at least 1024 and at most 262144].
    #[arg(long, env = "RWHISK_INVOKER_MEMORY_MB")]
    pub invoker_memory_mb: Option<u64>,
    /// Seconds an idle warm container is kept before it is removed.
    #[arg(long, env = "RWHISK_IDLE_TIMEOUT_SECS", default_value_t = 600)]
    pub idle_timeout_secs: u64,
    /// Milliseconds an idle container stays running before it is paused through the
    /// cgroup freezer (it keeps its memory, uses no CPU, and is resumed in well under a
    /// millisecond when next used); 0: never pause. Docker and runc factories only.
    #[arg(long, env = "RWHISK_PAUSE_GRACE_MS", default_value_t = 50)]
    pub pause_grace_ms: u64,
    /// The API host given to containers as __OW_API_HOST [default: standalone:
    /// http://<http-addr>, or https://<https-addr> with --no-http; invoker:
    /// http://127.0.0.1:3233].
    #[arg(long, env = "RWHISK_CONTAINER_API_HOST")]
    pub container_api_host: Option<String>,
    /// Seconds an activation may wait for a container (free memory or a warm container)
    /// before it ends in a whisk error.
    #[arg(long, env = "RWHISK_CONTAINER_WAIT_SECS", default_value_t = 120)]
    pub container_wait_secs: u64,
    /// Megabytes of action code the invoker keeps in memory (fetched by digest).
    #[arg(long, env = "RWHISK_CODE_CACHE_MB", default_value_t = 256)]
    pub code_cache_mb: u64,
    /// How actions run: `docker` containers, `runc` containers started by runc directly
    /// from dockerd's images (needs root; no network but loopback), or `process`: local
    /// child processes for machines without Docker (native kinds only; isolates nothing).
    /// Never `process` unless asked for. `--container-factory` is the old name.
    #[arg(
        long = "factory",
        visible_alias = "container-factory",
        env = "RWHISK_CONTAINER_FACTORY",
        value_enum,
        default_value_t = FactoryChoice::Docker
    )]
    pub container_factory: FactoryChoice,
    /// The Docker network action containers join: a bridge network on which containers
    /// cannot reach each other (`enable_icc=false`), created if missing; whiskd refuses to
    /// start with a network of that name that lets containers talk. Outbound traffic is
    /// allowed (as dockerd's NAT allows). One network per engine is enough: every
    /// installation may share it. `none`: no network at all (actions reach nothing; whiskd
    /// reaches them through their network namespace, which needs root).
    #[arg(long, env = "RWHISK_ACTION_NETWORK", default_value = whisk_invoker::DEFAULT_ACTION_NETWORK)]
    pub action_network: String,
    /// Prewarmed containers per kind: `0` for none, or KIND=COUNT[@MEMORY_MB],... such as
    /// `nodejs:18=2,python:3.11=1@512` [default: one of 256 MB per default kind].
    #[arg(long, env = "RWHISK_STEM_CELLS", value_name = "KIND=COUNT[@MB],...")]
    pub stem_cells: Option<String>,
    /// The whisk-proxy binary the process factory starts [default: next to whiskd, or a
    /// build in the target directory whiskd runs from].
    #[arg(long, env = "RWHISK_PROXY_BIN")]
    pub proxy_bin: Option<PathBuf>,
    /// The runc binary the runc factory runs.
    #[arg(long, env = "RWHISK_RUNC", default_value = whisk_invoker::DEFAULT_RUNC)]
    pub runc_bin: PathBuf,
    /// The launchers the process factory uses (the repository's `runtimes/`) [default:
    /// `runtimes/` next to whiskd, or the repository whiskd was built from].
    #[arg(long, env = "RWHISK_RUNTIMES_DIR")]
    pub runtimes_dir: Option<PathBuf>,
}

impl PoolArgs {
    /// The container memory budget: `--invoker-memory-mb`, else sized to the host.
    pub fn memory_mb(&self) -> u64 {
        self.invoker_memory_mb
            .unwrap_or_else(whisk_invoker::host_memory_budget_mb)
    }

    /// The invoker's configuration (its id, instance, key and API host set by the caller).
    ///
    /// # Errors
    /// A bad `--stem-cells`.
    pub fn invoker_config(
        &self,
        runtimes: &RuntimeManifest,
        api_host: String,
        shutdown_grace: Duration,
    ) -> Result<InvokerConfig> {
        Ok(InvokerConfig {
            memory_mb: self.memory_mb(),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            pause_grace: Duration::from_millis(self.pause_grace_ms),
            api_host: self.container_api_host.clone().unwrap_or(api_host),
            shutdown_grace,
            container_wait: Duration::from_secs(self.container_wait_secs),
            code_cache_bytes: self.code_cache_mb.saturating_mul(1024 * 1024),
            runtime_images: runtimes.images(),
            stem_cells: containers::stem_cells(self.stem_cells.as_deref(), runtimes)?,
            ..InvokerConfig::default()
        })
    }

    /// The container factory these flags choose.
    ///
    /// # Errors
    /// Docker unreachable or the network not isolating; no proxy or launchers found; runc
    /// missing or not root.
    pub async fn factory(
        &self,
        runtimes: &RuntimeManifest,
        data_dir: &Path,
    ) -> Result<std::sync::Arc<dyn whisk_invoker::ContainerFactory>> {
        containers::factory(
            self.container_factory,
            runtimes,
            containers::ProcessPaths {
                proxy: self.proxy_bin.clone(),
                runtimes_dir: self.runtimes_dir.clone(),
                work_dir: data_dir.join(containers::PROCESS_DIR),
            },
            containers::RuncPaths {
                runc: self.runc_bin.clone(),
                dir: data_dir.join(containers::RUNC_DIR),
            },
            ActionNetwork::named(&self.action_network),
        )
        .await
    }
}

/// How long activation records are kept.
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArgs {
    /// Activation records older than this many seconds are purged; 0 keeps them forever
    /// [default: 7 days].
    #[arg(long, env = "RWHISK_ACTIVATION_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub activation_retention_secs: u64,
    /// Activation records kept per namespace, newest first; 0 sets no count.
    #[arg(
        long,
        env = "RWHISK_ACTIVATION_RETENTION_COUNT",
        default_value_t = 10_000
    )]
    pub activation_retention_count: u64,
    /// Seconds between two purges of old activation records (and reclaims of free space).
    #[arg(long, env = "RWHISK_PURGE_INTERVAL_SECS", default_value_t = 60)]
    pub purge_interval_secs: u64,
}

impl RetentionArgs {
    pub fn retention(&self) -> Retention {
        Retention {
            max_age: (self.activation_retention_secs > 0)
                .then(|| Duration::from_secs(self.activation_retention_secs)),
            max_per_namespace: (self.activation_retention_count > 0)
                .then_some(self.activation_retention_count),
            interval: Duration::from_secs(self.purge_interval_secs.max(1)),
        }
    }
}

/// The system's limits: throttles per namespace (each can be overridden per namespace with
/// `whiskd admin limits set`), entity caps, alarm period and the ranges of action limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Invocations a namespace may start per minute (OpenWhisk's invocationsPerMinute),
    /// over all controllers.
    #[arg(long, env = "RWHISK_INVOCATIONS_PER_MINUTE", default_value_t = 60)]
    pub invocations_per_minute: u64,
    /// Activations a namespace may have running at once (concurrentInvocations), over
    /// all controllers.
    #[arg(long, env = "RWHISK_CONCURRENT_INVOCATIONS", default_value_t = 30)]
    pub concurrent_invocations: u64,
    /// Trigger fires a namespace may make per minute (firesPerMinute), over all
    /// controllers.
    #[arg(long, env = "RWHISK_FIRES_PER_MINUTE", default_value_t = 60)]
    pub fires_per_minute: u64,
    /// Most actions, packages, triggers and rules (each) one namespace may hold.
    #[arg(long, env = "RWHISK_MAX_ENTITIES", default_value_t = 1000)]
    pub max_entities: u64,
    /// Shortest period between two ticks of an alarm trigger, in seconds.
    #[arg(long, env = "RWHISK_ALARM_MIN_PERIOD_SECS", default_value_t = 60)]
    pub alarm_min_period_secs: u64,
    /// Latest second of its minute a 5-field cron alarm fires at unless created with
    /// `strict` true (spreads the fires of one minute; a hash of the trigger's name picks
    /// the second); 0 fires all at the top of the minute.
    #[arg(long, env = "RWHISK_ALARM_DELAY_LIMIT_SECS", default_value_t = 59,
          value_parser = clap::value_parser!(u8).range(0..=59))]
    pub alarm_delay_limit_secs: u8,
    /// Largest action `timeout`, in ms.
    #[arg(long, env = "RWHISK_MAX_ACTION_TIMEOUT_MS", default_value_t = limits::TIMEOUT_MAX)]
    pub max_action_timeout_ms: u64,
    /// Largest action `memory`, in MB (at most --invoker-memory-mb to be runnable).
    #[arg(long, env = "RWHISK_MAX_ACTION_MEMORY_MB", default_value_t = limits::MEMORY_MAX)]
    pub max_action_memory_mb: u64,
    /// Largest action `logs`, in MB.
    #[arg(long, env = "RWHISK_MAX_ACTION_LOGS_MB", default_value_t = limits::LOGS_MAX)]
    pub max_action_logs_mb: u64,
    /// Largest action code (`exec`), in MB.
    #[arg(long, env = "RWHISK_MAX_ACTION_CODE_MB", default_value_t = 48)]
    pub max_action_code_mb: usize,
}

impl LimitArgs {
    /// Applies the limits to `config`.
    ///
    /// # Errors
    /// A maximum below OpenWhisk's minimum of the same limit.
    pub fn apply(&self, config: &mut ControllerConfig) -> Result<()> {
        let b = &mut config.action_limits;
        b.timeout_max = self.max_action_timeout_ms;
        b.memory_max = self.max_action_memory_mb;
        b.logs_max = self.max_action_logs_mb;
        anyhow::ensure!(
            b.timeout_max >= b.timeout_min && b.memory_max >= b.memory_min,
            "--max-action-timeout-ms must be at least {} and --max-action-memory-mb at least {}",
            b.timeout_min,
            b.memory_min
        );
        config.max_exec = self.max_action_code_mb.saturating_mul(1024 * 1024);
        config.max_request = config.max_request.max(config.max_exec + 2 * 1024 * 1024);
        config.limits.invocations_per_minute = self.invocations_per_minute;
        config.limits.concurrent_invocations = self.concurrent_invocations;
        config.limits.fires_per_minute = self.fires_per_minute;
        config.max_entities = self.max_entities;
        config.alarm_min_period = Duration::from_secs(self.alarm_min_period_secs);
        config.alarm_delay_limit = self.alarm_delay_limit_secs;
        Ok(())
    }
}

/// The data directory: `--data-dir` or `~/.rwhisk`.
pub fn data_dir(given: Option<&PathBuf>) -> PathBuf {
    given.cloned().unwrap_or_else(crate::default_data_dir)
}

/// Makes sure `dir` exists and is private (0700), without touching database files
/// (roles whose store and bus are servers keep only keys and certificates there).
///
/// # Errors
/// The directory cannot be made or is world-writable.
pub fn private_dir(dir: &Path, files: &[&str]) -> Result<()> {
    crate::bootstrap::secure_data_dir(dir, files)
        .with_context(|| format!("preparing the data directory {}", dir.display()))
}
