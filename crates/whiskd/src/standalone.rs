//! `whiskd standalone`: controller and invoker in one process, serving the API on a
//! loopback HTTP and HTTPS listener by default (`--no-http` leaves only HTTPS). The store
//! and bus are the embedded SQLite ones in the data directory unless `--store`/`--bus`
//! name PostgreSQL or NATS. Actions run in Docker containers unless `--factory runc`
//! (runc directly) or `--factory process` (local processes) asks otherwise. The listeners' guards against slow clients are in
//! [`crate::serve`]; the parts are put together as in [`crate::node`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;
use whisk_controller::{ControllerConfig, RuntimeManifest};

use crate::args::{BackendArgs, LimitArgs, ListenerArgs, PoolArgs, RetentionArgs};
use crate::backends::{self, BUS_FILE, STORE_FILE};
use crate::bootstrap;
use crate::node::{self, ApiListeners, Stop};
use crate::retention;
use crate::serve::{self, Listener};

/// Flags of `whiskd standalone`; each also reads an `RWHISK_*` environment variable.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// Where the store, the queue, the TLS certificate and guest.key live [default: ~/.rwhisk].
    #[arg(long, env = "RWHISK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub backends: BackendArgs,
    #[command(flatten)]
    pub listeners: ListenerArgs,
    /// A plain-HTTP listener for action containers to call the API on (the `openwhisk`
    /// client inside actions), bound to this address only: the action network's gateway
    /// (`docker network inspect rwhisk-actions`, e.g. 172.19.0.1:3233), which containers on
    /// that network and the host reach, and nothing else. Bound once the action network
    /// exists; becomes __OW_API_HOST unless --container-api-host is given. [default: none;
    /// containers cannot reach the loopback listeners]
    #[arg(long, env = "RWHISK_CONTAINER_API_ADDR")]
    pub container_api_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub pool: PoolArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Seconds a running activation may take to finish when the server stops.
    #[arg(long, env = "RWHISK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Builds the runtime and runs until SIGINT or SIGTERM.
///
/// # Errors
/// Bad configuration, an unusable data directory, a port in use, Docker unreachable (or,
/// with `--factory process`, no proxy binary or launchers).
pub fn main(args: StandaloneArgs) -> Result<()> {
    crate::run_role(|stop| run(args, stop))
}

/// Runs standalone until `stop`, then drains and returns.
///
/// # Errors
/// As [`main`].
pub async fn run(args: StandaloneArgs, stop: Stop) -> Result<()> {
    if let Some(addr) = args.container_api_addr {
        anyhow::ensure!(
            !addr.ip().is_unspecified(),
            "--container-api-addr {addr} would serve plain HTTP on every interface: give the action network's gateway address"
        );
    }
    let data_dir = crate::args::data_dir(args.data_dir.as_ref());
    let store_location = args.backends.store_location(&data_dir)?;
    let bus_location = args.backends.bus_location(&data_dir)?;
    let mut private = Vec::new();
    if store_location == backends::StoreLocation::Sqlite(data_dir.join(STORE_FILE)) {
        private.push(STORE_FILE);
    }
    if bus_location == backends::BusLocation::Embedded(data_dir.join(BUS_FILE)) {
        private.push(BUS_FILE);
    }
    bootstrap::secure_data_dir(&data_dir, &private)?;

    let stores = backends::open_store(&store_location).await?;
    let bus_errors = Counter::default();
    let opened = backends::open_bus(
        &bus_location,
        &args.backends.bus_options(),
        bus_errors.clone(),
    )
    .await?;
    bootstrap::ensure_guest(stores.identities.as_ref(), &data_dir).await?;

    // Bind before starting anything that runs actions, so a port in use fails fast.
    let listeners = ApiListeners::bind(&args.listeners, &data_dir).await?;

    // One manifest: the kinds the API accepts, the images the invoker starts for them and
    // the kinds of the default stem cells.
    let runtimes = RuntimeManifest::standard();
    // The invoker signs the API keys of running activations with it and the controller
    // checks them: from --signing-key-file, else made per start and held only in memory.
    let signing_key = args.backends.signing_key(false)?;
    let mut controller_config = ControllerConfig {
        runtimes: runtimes.clone(),
        signing_key: signing_key.clone(),
        ..ControllerConfig::default()
    };
    args.limits.apply(&mut controller_config)?;
    if args.limits.max_action_memory_mb > args.pool.memory_mb() {
        tracing::warn!(
            max_action_memory_mb = args.limits.max_action_memory_mb,
            invoker_memory_mb = args.pool.memory_mb(),
            "Actions may ask for more memory than the invoker has; such actions cannot run."
        );
    }
    let controller =
        node::start_controller(controller_config, &stores, opened.bus.clone(), &bus_errors).await?;
    let app = whisk_controller::router(controller.clone());

    let factory = args.pool.factory(&runtimes, &data_dir).await?;
    // The action network exists now, so its gateway address can be bound.
    let container_api = match args.container_api_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --container-api-addr {addr}"))?,
        ),
        None => None,
    };
    let api_host = match args.container_api_addr {
        Some(addr) => format!("http://{addr}"),
        None => args.listeners.api_host(),
    };
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let mut invoker_config = args.pool.invoker_config(&runtimes, api_host, grace)?;
    invoker_config.instance = bootstrap::ensure_instance(&data_dir)?;
    invoker_config.signing_key = signing_key;
    // One /metrics for both, one store-error counter.
    invoker_config.metrics.store_errors = controller.metrics().store_errors.clone();
    controller.register_metrics(|r| invoker_config.metrics.register(r));
    let (_invoker, invoker_task) =
        node::spawn_invoker(invoker_config, factory, &stores, opened.bus.clone(), &stop);

    let depth = node::DepthGauge::default();
    controller.register_metrics(|r| node::register_depth(r, &depth));
    let depth_task = node::sample_depths(
        opened.bus.clone(),
        node::known_topics(&controller),
        depth,
        &stop,
    );
    let retention_task = tokio::spawn(retention::run(
        args.retention.retention(),
        stores.activations.clone(),
        opened.embedded.clone(),
        stop.receiver(),
    ));
    let (http_addr, https_addr) = (listeners.http_addr, listeners.https_addr);
    let serve_limits = args.listeners.limits();
    let mut tasks = listeners.serve(app.clone(), &stop);
    // Its own connection cap: actions holding connections open cannot use up the
    // listeners of everyone else.
    if let Some(tcp) = container_api {
        tasks.push(tokio::spawn(serve::serve(
            Listener { tcp, tls: None },
            app,
            serve_limits,
            Arc::new(Semaphore::new(args.listeners.max_connections)),
            stop.receiver(),
        )));
    }

    tracing::info!(
        http = %http_addr.map_or("off".to_owned(), |a| a.to_string()),
        https = %https_addr.map_or("off".to_owned(), |a| a.to_string()),
        container_api = ?args.container_api_addr,
        data_dir = %data_dir.display(),
        store = %backends::redact(args.backends.store.as_deref().unwrap_or("embedded")),
        bus = %backends::redact(args.backends.bus.as_deref().unwrap_or("embedded")),
        "whiskd standalone is ready."
    );

    stop.stopped().await;
    tracing::info!("Shutting down.");
    controller.drain();
    tasks.push(invoker_task);
    tasks.push(retention_task);
    tasks.push(depth_task);
    node::join_within(tasks, grace + Duration::from_secs(5)).await;
    controller.shutdown();
    Ok(())
}
