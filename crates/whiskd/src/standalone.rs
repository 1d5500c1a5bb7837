//! `whiskd standalone`: controller, invoker, embedded store and embedded bus in one
//! process, serving the API on a loopback HTTP and HTTPS listener by default (`--no-http`
//! leaves only HTTPS). Actions run in Docker containers unless `--container-factory
//! process` asks for local processes. The listeners' guards against slow clients are in
//! [`crate::serve`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{watch, Semaphore};
use whisk_bus::embedded::EmbeddedBusOptions;
use whisk_bus::EmbeddedBus;
use whisk_controller::{Controller, ControllerConfig, RuntimeManifest};
use whisk_invoker::{ActionNetwork, Invoker, InvokerConfig};
use whisk_store::SqliteStore;
use whisk_types::action::limits;
use whisk_types::SigningKey;

use crate::bootstrap;
use crate::containers::{self, FactoryChoice};
use crate::retention::{self, Retention};
use crate::serve::{self, Listener, ServeLimits};

/// The store's file in the data directory.
pub const STORE_FILE: &str = "whisk.db";
/// The bus's file in the data directory.
pub const BUS_FILE: &str = "bus.db";

/// Flags of `whiskd standalone`; each also reads an `RWHISK_*` environment variable.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// Where the store, the queue, the TLS certificate and guest.key live [default: ~/.rwhisk].
    #[arg(long, env = "RWHISK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Plain HTTP listener.
    #[arg(long, env = "RWHISK_HTTP_ADDR", default_value = "127.0.0.1:3233")]
    http_addr: SocketAddr,
    /// Serve no plain HTTP listener at all, only HTTPS.
    #[arg(long, env = "RWHISK_NO_HTTP")]
    no_http: bool,
    /// HTTPS listener (self-signed certificate unless --tls-cert/--tls-key are given).
    #[arg(long, env = "RWHISK_HTTPS_ADDR", default_value = "127.0.0.1:3443")]
    https_addr: SocketAddr,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "RWHISK_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "RWHISK_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a client has for a TLS handshake and for each request's headers; an idle
    /// keep-alive connection is closed after the same time.
    #[arg(long, env = "RWHISK_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    header_read_timeout_secs: u64,
    /// Longest pause, in seconds, between two chunks of a request body, and longest time
    /// a response waits for the client to read it.
    #[arg(long, env = "RWHISK_BODY_TIMEOUT_SECS", default_value_t = 30)]
    body_timeout_secs: u64,
    /// Most client connections open at once, over both listeners; more wait to be accepted.
    #[arg(long, env = "RWHISK_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Memory the invoker may give to action containers, in MB.
    #[arg(long, env = "RWHISK_INVOKER_MEMORY_MB", default_value_t = 2048)]
    invoker_memory_mb: u64,
    /// Seconds an idle warm container is kept before it is removed.
    #[arg(long, env = "RWHISK_IDLE_TIMEOUT_SECS", default_value_t = 600)]
    idle_timeout_secs: u64,
    /// The API host given to containers as __OW_API_HOST [default:
    /// http://<container-api-addr>, else http://<http-addr>, or https://<https-addr> with
    /// --no-http].
    #[arg(long, env = "RWHISK_CONTAINER_API_HOST")]
    container_api_host: Option<String>,
    /// A plain-HTTP listener for action containers to call the API on (the `openwhisk`
    /// client inside actions), bound to this address only: the action network's gateway
    /// (`docker network inspect rwhisk-actions`, e.g. 172.19.0.1:3233), which containers on
    /// that network and the host reach, and nothing else. Bound once the action network
    /// exists. [default: none; containers cannot reach the loopback listeners]
    #[arg(long, env = "RWHISK_CONTAINER_API_ADDR")]
    container_api_addr: Option<SocketAddr>,
    /// Seconds an activation may wait for a container (free memory or a warm container)
    /// before it ends in a whisk error.
    #[arg(long, env = "RWHISK_CONTAINER_WAIT_SECS", default_value_t = 120)]
    container_wait_secs: u64,
    /// Megabytes of action code the invoker keeps in memory (fetched by digest).
    #[arg(long, env = "RWHISK_CODE_CACHE_MB", default_value_t = 256)]
    code_cache_mb: u64,
    /// Seconds a message taken from the bus may go without an ack or a lease extension
    /// before it is delivered again (the invoker extends it every third of this while the
    /// activation runs).
    #[arg(long, env = "RWHISK_BUS_ACK_WAIT_SECS", default_value_t = 600)]
    bus_ack_wait_secs: u64,
    /// Activation records older than this many seconds are purged; 0 keeps them forever
    /// [default: 7 days].
    #[arg(long, env = "RWHISK_ACTIVATION_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    activation_retention_secs: u64,
    /// Activation records kept per namespace, newest first; 0 sets no count.
    #[arg(
        long,
        env = "RWHISK_ACTIVATION_RETENTION_COUNT",
        default_value_t = 10_000
    )]
    activation_retention_count: u64,
    /// Seconds between two purges of old activation records (and reclaims of free space).
    #[arg(long, env = "RWHISK_PURGE_INTERVAL_SECS", default_value_t = 60)]
    purge_interval_secs: u64,
    /// Seconds a running activation may take to finish when the server stops.
    #[arg(long, env = "RWHISK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    shutdown_grace_secs: u64,
    /// How actions run: `docker` containers, or `process`: local child processes for
    /// machines without Docker (native kinds only; isolates nothing). Never chosen unless
    /// asked for.
    #[arg(long, env = "RWHISK_CONTAINER_FACTORY", value_enum, default_value_t = FactoryChoice::Docker)]
    container_factory: FactoryChoice,
    /// The Docker network action containers join: a bridge network on which containers
    /// cannot reach each other (`enable_icc=false`), created if missing; whiskd refuses to
    /// start with a network of that name that lets containers talk. Outbound traffic is
    /// allowed (as dockerd's NAT allows). One network per engine is enough: every
    /// installation may share it. `none`: no network at all (actions reach nothing; whiskd
    /// reaches them through their network namespace, which needs root).
    #[arg(long, env = "RWHISK_ACTION_NETWORK", default_value = whisk_invoker::DEFAULT_ACTION_NETWORK)]
    action_network: String,
    /// Prewarmed containers per kind: `0` for none, or KIND=COUNT[@MEMORY_MB],... such as
    /// `nodejs:18=2,python:3.11=1@512` [default: one of 256 MB per default kind].
    #[arg(long, env = "RWHISK_STEM_CELLS", value_name = "KIND=COUNT[@MB],...")]
    stem_cells: Option<String>,
    /// The whisk-proxy binary the process factory starts [default: next to whiskd, or a
    /// build in the target directory whiskd runs from].
    #[arg(long, env = "RWHISK_PROXY_BIN")]
    proxy_bin: Option<PathBuf>,
    /// The launchers the process factory uses (the repository's `runtimes/`) [default:
    /// `runtimes/` next to whiskd, or the repository whiskd was built from].
    #[arg(long, env = "RWHISK_RUNTIMES_DIR")]
    runtimes_dir: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// The system's limits: throttles per namespace (each can be overridden per namespace with
/// `whiskd admin limits set`), entity caps, alarm period and the ranges of action limits.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Invocations a namespace may start per minute (OpenWhisk's invocationsPerMinute).
    #[arg(long, env = "RWHISK_INVOCATIONS_PER_MINUTE", default_value_t = 60)]
    invocations_per_minute: u64,
    /// Activations a namespace may have running at once (concurrentInvocations).
    #[arg(long, env = "RWHISK_CONCURRENT_INVOCATIONS", default_value_t = 30)]
    concurrent_invocations: u64,
    /// Trigger fires a namespace may make per minute (firesPerMinute).
    #[arg(long, env = "RWHISK_FIRES_PER_MINUTE", default_value_t = 60)]
    fires_per_minute: u64,
    /// Most actions, packages, triggers and rules (each) one namespace may hold.
    #[arg(long, env = "RWHISK_MAX_ENTITIES", default_value_t = 1000)]
    max_entities: u64,
    /// Shortest period between two ticks of an alarm trigger, in seconds.
    #[arg(long, env = "RWHISK_ALARM_MIN_PERIOD_SECS", default_value_t = 60)]
    alarm_min_period_secs: u64,
    /// Latest second of its minute a 5-field cron alarm fires at unless created with
    /// `strict` true (spreads the fires of one minute; a hash of the trigger's name picks
    /// the second); 0 fires all at the top of the minute.
    #[arg(long, env = "RWHISK_ALARM_DELAY_LIMIT_SECS", default_value_t = 59,
          value_parser = clap::value_parser!(u8).range(0..=59))]
    alarm_delay_limit_secs: u8,
    /// Largest action `timeout`, in ms.
    #[arg(long, env = "RWHISK_MAX_ACTION_TIMEOUT_MS", default_value_t = limits::TIMEOUT_MAX)]
    max_action_timeout_ms: u64,
    /// Largest action `memory`, in MB (at most --invoker-memory-mb to be runnable).
    #[arg(long, env = "RWHISK_MAX_ACTION_MEMORY_MB", default_value_t = limits::MEMORY_MAX)]
    max_action_memory_mb: u64,
    /// Largest action `logs`, in MB.
    #[arg(long, env = "RWHISK_MAX_ACTION_LOGS_MB", default_value_t = limits::LOGS_MAX)]
    max_action_logs_mb: u64,
    /// Largest action code (`exec`), in MB.
    #[arg(long, env = "RWHISK_MAX_ACTION_CODE_MB", default_value_t = 48)]
    max_action_code_mb: usize,
}

impl LimitArgs {
    /// Applies the limits to `config`.
    ///
    /// # Errors
    /// A maximum below OpenWhisk's minimum of the same limit.
    fn apply(&self, config: &mut ControllerConfig) -> Result<()> {
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

/// Builds the runtime and runs until SIGINT or SIGTERM.
///
/// # Errors
/// Bad configuration, an unusable data directory, a port in use, Docker unreachable (or,
/// with `--container-factory process`, no proxy binary or launchers).
pub fn main(args: StandaloneArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: StandaloneArgs) -> Result<()> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::default_data_dir);
    bootstrap::secure_data_dir(&data_dir, &[STORE_FILE, BUS_FILE])?;
    anyhow::ensure!(
        args.max_connections > 0,
        "--max-connections must be at least 1"
    );
    if let Some(addr) = args.container_api_addr {
        anyhow::ensure!(
            !addr.ip().is_unspecified(),
            "--container-api-addr {addr} would serve plain HTTP on every interface: give the action network's gateway address"
        );
    }
    anyhow::ensure!(
        args.header_read_timeout_secs > 0 && args.body_timeout_secs > 0,
        "--header-read-timeout-secs and --body-timeout-secs must be at least 1"
    );
    let tls = bootstrap::ensure_tls(&data_dir, args.tls_cert.clone(), args.tls_key.clone())?;
    let tls_acceptor = serve::tls_acceptor(&tls.cert, &tls.key)?;

    let store =
        Arc::new(SqliteStore::open(&data_dir.join(STORE_FILE)).context("opening the store")?);
    let bus_options = EmbeddedBusOptions {
        ack_wait: Duration::from_secs(args.bus_ack_wait_secs.max(1)),
        ..EmbeddedBusOptions::default()
    };
    let bus = Arc::new(
        EmbeddedBus::open_with(&data_dir.join(BUS_FILE), bus_options).context("opening the bus")?,
    );
    bootstrap::ensure_guest(store.as_ref(), &data_dir).await?;

    // Bind before starting anything that runs actions, so a port in use fails fast.
    let http = if args.no_http {
        None
    } else {
        Some(
            tokio::net::TcpListener::bind(args.http_addr)
                .await
                .with_context(|| format!("binding {}", args.http_addr))?,
        )
    };
    let https = tokio::net::TcpListener::bind(args.https_addr)
        .await
        .with_context(|| format!("binding {}", args.https_addr))?;

    // One manifest: the kinds the API accepts, the images the invoker starts for them and
    // the kinds of the default stem cells.
    let runtimes = RuntimeManifest::standard();
    let stem_cells = containers::stem_cells(args.stem_cells.as_deref(), &runtimes)?;
    // The invoker signs the API keys of running activations with it and the controller
    // checks them; made per start and held only in memory.
    let signing_key = SigningKey::generate();
    let mut controller_config = ControllerConfig {
        runtimes: runtimes.clone(),
        signing_key: signing_key.clone(),
        ..ControllerConfig::default()
    };
    args.limits.apply(&mut controller_config)?;
    if args.limits.max_action_memory_mb > args.invoker_memory_mb {
        tracing::warn!(
            max_action_memory_mb = args.limits.max_action_memory_mb,
            invoker_memory_mb = args.invoker_memory_mb,
            "Actions may ask for more memory than the invoker has; such actions cannot run."
        );
    }
    let controller = Controller::new(
        controller_config,
        store.clone(),
        store.clone(),
        store.clone(),
        bus.clone(),
    );
    controller
        .start()
        .await
        .context("starting the controller")?;
    let app = whisk_controller::router(controller.clone());

    let factory = containers::factory(
        args.container_factory,
        &runtimes,
        containers::ProcessPaths {
            proxy: args.proxy_bin.clone(),
            runtimes_dir: args.runtimes_dir.clone(),
            work_dir: data_dir.join(containers::PROCESS_DIR),
        },
        ActionNetwork::named(&args.action_network),
    )
    .await?;
    // The action network exists now, so its gateway address can be bound.
    let container_api = match args.container_api_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --container-api-addr {addr}"))?,
        ),
        None => None,
    };
    let invoker_config = InvokerConfig {
        instance: bootstrap::ensure_instance(&data_dir)?,
        memory_mb: args.invoker_memory_mb,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        api_host: args.container_api_host.clone().unwrap_or_else(|| {
            if let Some(addr) = args.container_api_addr {
                format!("http://{addr}")
            } else if args.no_http {
                format!("https://{}", args.https_addr)
            } else {
                format!("http://{}", args.http_addr)
            }
        }),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        container_wait: Duration::from_secs(args.container_wait_secs),
        code_cache_bytes: args.code_cache_mb.saturating_mul(1024 * 1024),
        runtime_images: runtimes.images(),
        stem_cells,
        signing_key,
        ..InvokerConfig::default()
    };
    let invoker = Invoker::new(
        invoker_config,
        factory,
        store.clone(),
        store.clone(),
        bus.clone(),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let invoker_task = tokio::spawn(invoker.run(stopped(stop_rx.clone())));
    let invoker_task = async move {
        match invoker_task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "The invoker stopped."),
            Err(err) => tracing::error!(error = %err, "The invoker task failed."),
        }
    };
    let invoker_task = tokio::spawn(invoker_task);
    let retention_task = tokio::spawn(retention::run(
        Retention {
            max_age: (args.activation_retention_secs > 0)
                .then(|| Duration::from_secs(args.activation_retention_secs)),
            max_per_namespace: (args.activation_retention_count > 0)
                .then_some(args.activation_retention_count),
            interval: Duration::from_secs(args.purge_interval_secs.max(1)),
        },
        store.clone(),
        bus.as_ref().clone(),
        stop_rx.clone(),
    ));

    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
    };
    let connections = Arc::new(Semaphore::new(args.max_connections));
    let https_task = tokio::spawn(serve::serve(
        Listener {
            tcp: https,
            tls: Some(tls_acceptor),
        },
        app.clone(),
        limits.clone(),
        connections.clone(),
        stop_rx.clone(),
    ));
    // Its own connection cap: actions holding connections open cannot use up the
    // listeners of everyone else.
    let container_api_task = container_api.map(|tcp| {
        tokio::spawn(serve::serve(
            Listener { tcp, tls: None },
            app.clone(),
            limits.clone(),
            Arc::new(Semaphore::new(args.max_connections)),
            stop_rx.clone(),
        ))
    });
    let http_task = http.map(|tcp| {
        tokio::spawn(serve::serve(
            Listener { tcp, tls: None },
            app,
            limits,
            connections,
            stop_rx.clone(),
        ))
    });

    tracing::info!(
        http = %if args.no_http { "off".to_owned() } else { args.http_addr.to_string() },
        https = %args.https_addr,
        container_api = ?args.container_api_addr,
        data_dir = %data_dir.display(),
        "whiskd standalone is ready."
    );

    shutdown_signal().await;
    tracing::info!("Shutting down.");
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let drained = tokio::time::timeout(grace + Duration::from_secs(5), async {
        if let Some(http_task) = http_task {
            let _ = http_task.await;
        }
        if let Some(task) = container_api_task {
            let _ = task.await;
        }
        let _ = https_task.await;
        let _ = invoker_task.await;
        let _ = retention_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("Some work did not finish within the shutdown grace period.");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "Cannot listen for SIGTERM.");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
