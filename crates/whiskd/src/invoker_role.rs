//! `whiskd invoker --id N`: one invoker and its container pool, no API. It consumes its
//! own topic `invoker{N}`, announces itself with heartbeats (controllers place work only
//! on invokers they hear from), and serves `/metrics` and `/health` on a loopback
//! `--metrics-addr`. Give every invoker its own id; an invoker restarted with the same id
//! (and data directory) removes the containers its previous run left and takes over the
//! messages still on its topic. On SIGTERM it drains: stops taking messages, says
//! `draining` in its heartbeats, finishes what runs within the grace period, removes its
//! containers, and exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::metrics::counter::Counter;
use whisk_controller::RuntimeManifest;

use crate::args::{BackendArgs, PoolArgs};
use crate::backends::{OpenedBus, Stores};
use crate::bootstrap;
use crate::node::{self, Stop};

/// Flags of `whiskd invoker`; each also reads an `RWHISK_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct InvokerArgs {
    /// This invoker's number: it consumes the topic `invoker<ID>`. Unique per deployment,
    /// below 1024.
    #[arg(long, env = "RWHISK_INVOKER_ID",
          value_parser = clap::value_parser!(u32).range(..i64::from(whisk_controller::MAX_INVOKERS)))]
    pub id: u32,
    /// Where the invoker's instance name (labelling its containers) and, for the process
    /// factory, its processes' files live [default: ~/.rwhisk].
    #[arg(long, env = "RWHISK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serves GET /metrics and GET /health here. Keep it on loopback or a private network.
    #[arg(long, env = "RWHISK_METRICS_ADDR", default_value = "127.0.0.1:9233")]
    pub metrics_addr: SocketAddr,
    #[command(flatten)]
    pub backends: BackendArgs,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Seconds running activations may take to finish when the invoker stops; what
    /// still runs then is abandoned (and delivered again to this invoker's next run).
    #[arg(long, env = "RWHISK_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
}

/// Runs until SIGINT or SIGTERM.
///
/// # Errors
/// Bad configuration, an unreachable store, bus or Docker engine, a port in use.
pub fn main(args: InvokerArgs) -> Result<()> {
    crate::run_role(|stop| run(args, stop))
}

/// Opens the store and bus the flags name, then [`run_with`].
///
/// # Errors
/// As [`main`]; the embedded bus (it cannot reach controllers in other processes).
pub async fn run(args: InvokerArgs, stop: Stop) -> Result<()> {
    let data_dir = crate::args::data_dir(args.data_dir.as_ref());
    let (stores, bus, bus_errors) = args.backends.open_shared("invoker", &data_dir).await?;
    run_with(args, stores, bus, bus_errors, stop).await
}

/// Runs an invoker over `stores` and `bus` until `stop`, then drains.
///
/// # Errors
/// As [`main`].
pub async fn run_with(
    args: InvokerArgs,
    stores: Stores,
    bus: OpenedBus,
    bus_errors: Counter,
    stop: Stop,
) -> Result<()> {
    let data_dir = crate::args::data_dir(args.data_dir.as_ref());
    crate::args::private_dir(&data_dir, &[])?;
    let signing_key = args.backends.signing_key(true)?;
    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding {}", args.metrics_addr))?;
    let runtimes = RuntimeManifest::standard();
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let mut config =
        args.pool
            .invoker_config(&runtimes, "http://127.0.0.1:3233".to_owned(), grace)?;
    config.id = args.id;
    config.instance = bootstrap::ensure_instance(&data_dir)?;
    config.signing_key = signing_key;
    let mut registry = node::invoker_registry(&config, &bus_errors);
    let depth = node::DepthGauge::default();
    node::register_depth(&mut registry, &depth);
    let own_topic = whisk_types::message::invoker_topic(args.id);
    let depth_task = node::sample_depths(
        bus.bus.clone(),
        move || vec![own_topic.clone()],
        depth,
        &stop,
    );
    let registry = Arc::new(registry);
    let factory = args.pool.factory(&runtimes, &data_dir).await?;
    let (invoker, invoker_task) =
        node::spawn_invoker(config, factory, &stores, bus.bus.clone(), &stop);
    let server = node::invoker_server(registry, invoker);
    let metrics_addr = metrics_listener.local_addr().ok();
    // The health endpoint answers through the drain (503 `draining`); it is stopped once
    // the invoker has.
    let server_task = tokio::spawn(async move {
        if let Err(e) = axum::serve(metrics_listener, server).await {
            tracing::warn!(error = %e, "The metrics server stopped.");
        }
    });
    tracing::info!(
        id = args.id,
        metrics = %metrics_addr.map_or("?".to_owned(), |a| a.to_string()),
        "whiskd invoker is ready."
    );
    stop.stopped().await;
    tracing::info!("Draining: no new messages; running activations finish.");
    node::join_within(
        vec![invoker_task, depth_task],
        grace + Duration::from_secs(10),
    )
    .await;
    server_task.abort();
    tracing::info!("whiskd invoker stopped.");
    Ok(())
}
