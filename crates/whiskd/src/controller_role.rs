//! `whiskd controller`: the API and everything above the invoker, with no invoker of its
//! own. Any number run side by side on one store and one bus (PostgreSQL and NATS): each
//! learns the invokers from their heartbeats, places activations with the sharding
//! balancer, takes its share (`1 / --controllers`) of every throttle and of every
//! invoker's memory, and receives its completions on a subject no other process uses. On
//! SIGTERM it drains: new activations get 503, the listeners stop accepting, requests in
//! flight (blocking invokes included) finish within the grace period, then it exits 0.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::metrics::counter::Counter;
use whisk_controller::{ControllerConfig, RuntimeManifest};

use crate::args::{BackendArgs, LimitArgs, ListenerArgs, RetentionArgs};
use crate::backends::{OpenedBus, Stores};
use crate::bootstrap;
use crate::node::{self, ApiListeners, Stop};
use crate::retention;

/// Flags of `whiskd controller`; each also reads an `RWHISK_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// This controller's id, stable across its restarts (compositions it leaves running
    /// are ended by it when it starts again). Give each controller its own.
    #[arg(long, env = "RWHISK_CONTROLLER_ID", default_value = "0")]
    pub id: String,
    /// How many controllers the deployment runs: each admits this share of every
    /// namespace's throttles and uses this share of every invoker's memory.
    #[arg(long, env = "RWHISK_CONTROLLERS", default_value_t = 1)]
    pub controllers: u64,
    /// Where the TLS certificate and the guest key (when this controller made the guest)
    /// live [default: ~/.rwhisk].
    #[arg(long, env = "RWHISK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub backends: BackendArgs,
    #[command(flatten)]
    pub listeners: ListenerArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Seconds requests in flight may take to finish when the controller stops.
    #[arg(long, env = "RWHISK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs until SIGINT or SIGTERM.
///
/// # Errors
/// Bad configuration, an unreachable store or bus, a port in use.
pub fn main(args: ControllerArgs) -> Result<()> {
    crate::run_role(|stop| run(args, stop))
}

/// Opens the store and bus the flags name, then [`run_with`].
///
/// # Errors
/// As [`main`]; the embedded bus (it cannot reach invokers in other processes).
pub async fn run(args: ControllerArgs, stop: Stop) -> Result<()> {
    let data_dir = crate::args::data_dir(args.data_dir.as_ref());
    let (stores, bus, bus_errors) = args.backends.open_shared("controller", &data_dir).await?;
    run_with(args, stores, bus, bus_errors, stop).await
}

/// Runs a controller over `stores` and `bus` until `stop`, then drains.
///
/// # Errors
/// As [`main`].
pub async fn run_with(
    args: ControllerArgs,
    stores: Stores,
    bus: OpenedBus,
    bus_errors: Counter,
    stop: Stop,
) -> Result<()> {
    let data_dir = crate::args::data_dir(args.data_dir.as_ref());
    crate::args::private_dir(&data_dir, &[])?;
    let signing_key = args.backends.signing_key(true)?;
    if bootstrap::ensure_guest_shared(stores.identities.as_ref(), &data_dir)
        .await?
        .is_some()
    {
        tracing::info!("This controller made the guest subject.");
    }
    let listeners = ApiListeners::bind(&args.listeners, &data_dir).await?;
    let mut config = ControllerConfig {
        id: args.id.clone(),
        boot: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        invokers: Vec::new(),
        cluster_size: args.controllers.max(1),
        runtimes: RuntimeManifest::standard(),
        signing_key,
        ..ControllerConfig::default()
    };
    args.limits.apply(&mut config)?;
    let controller = node::start_controller(config, &stores, bus.bus.clone(), &bus_errors)
        .await
        .context("starting the controller")?;
    let app = whisk_controller::router(controller.clone());
    let depth = node::DepthGauge::default();
    controller.register_metrics(|r| node::register_depth(r, &depth));
    let depth_task = node::sample_depths(
        bus.bus.clone(),
        node::known_topics(&controller),
        depth,
        &stop,
    );
    let retention_task = tokio::spawn(retention::run(
        args.retention.retention(),
        stores.activations.clone(),
        bus.embedded.clone(),
        stop.receiver(),
    ));
    let (http_addr, https_addr) = (listeners.http_addr, listeners.https_addr);
    let mut tasks = listeners.serve(app, &stop);
    tracing::info!(
        id = %args.id,
        completions = %controller.config().completion_id(),
        http = %http_addr.map_or("off".to_owned(), |a| a.to_string()),
        https = %https_addr.map_or("off".to_owned(), |a| a.to_string()),
        "whiskd controller is ready."
    );

    stop.stopped().await;
    tracing::info!("Draining: new activations get 503; requests in flight finish.");
    controller.drain();
    tasks.push(retention_task);
    tasks.push(depth_task);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    node::join_within(tasks, grace + Duration::from_secs(5)).await;
    controller.shutdown();
    tracing::info!("whiskd controller stopped.");
    Ok(())
}
