//! What every role is made of: a stop signal, a controller serving the API on its
//! listeners, an invoker feeding its pool from the bus, the metrics registry, the bus
//! queue-depth sampler, and the invoker's small metrics and health server. The roles
//! (`standalone`, `controller`, `invoker`) put these together; tests do too.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use whisk_bus::Bus;
use whisk_controller::{Controller, ControllerConfig};
use whisk_invoker::{ContainerFactory, Invoker, InvokerConfig};

use crate::args::ListenerArgs;
use crate::backends::Stores;
use crate::bootstrap;
use crate::serve::{self, Listener, ServeLimits};

/// The stop signal of a role: turned true once, on SIGTERM/SIGINT or by a test.
#[derive(Debug, Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Stop {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Stop {
    /// Asks everything to stop.
    pub fn stop(&self) {
        let _ = self.tx.send(true);
    }

    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Resolves once [`Stop::stop`] was called.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.receiver();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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

/// Registers the bus-error counter (`whisk_bus_errors_total`), once per process.
pub fn register_bus_errors(registry: &mut Registry, bus_errors: &Counter) {
    registry.register(
        "whisk_bus_errors",
        "Bus calls that failed",
        bus_errors.clone(),
    );
}

/// The invoker role's registry: the invoker's metrics, its store errors and the bus
/// errors.
pub fn invoker_registry(config: &InvokerConfig, bus_errors: &Counter) -> Registry {
    let mut registry = Registry::default();
    config.metrics.register(&mut registry);
    registry.register(
        "whisk_store_errors",
        "Store calls that failed",
        config.metrics.store_errors.clone(),
    );
    register_bus_errors(&mut registry, bus_errors);
    registry
}

/// `whisk_bus_queue_depth{topic}`: messages published to an invoker's topic and not yet
/// acknowledged, sampled every [`DEPTH_EVERY`] by [`sample_depths`].
pub type DepthGauge = Family<[(&'static str, String); 1], Gauge>;

/// How often queue depths are sampled.
pub const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// Registers the queue-depth gauge.
pub fn register_depth(registry: &mut Registry, depth: &DepthGauge) {
    registry.register(
        "whisk_bus_queue_depth",
        "Messages on an invoker topic not yet acknowledged",
        depth.clone(),
    );
}

/// Samples the depth of the topics `topics()` names every [`DEPTH_EVERY`] until `stop`
/// (backends that cannot tell leave the gauge empty).
pub fn sample_depths<F>(
    bus: Arc<dyn Bus>,
    topics: F,
    gauge: DepthGauge,
    stop: &Stop,
) -> JoinHandle<()>
where
    F: Fn() -> Vec<String> + Send + 'static,
{
    let stopped = stop.stopped();
    tokio::spawn(async move {
        tokio::pin!(stopped);
        loop {
            for topic in topics() {
                if let Ok(Some(n)) = bus.depth(&topic).await {
                    gauge
                        .get_or_create(&[("topic", topic)])
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            tokio::select! {
                () = &mut stopped => return,
                () = tokio::time::sleep(DEPTH_EVERY) => {}
            }
        }
    })
}

/// The topics of the invokers `controller` knows.
pub fn known_topics(controller: &Arc<Controller>) -> impl Fn() -> Vec<String> + Send + 'static {
    let weak = Arc::downgrade(controller);
    move || {
        weak.upgrade().map_or_else(Vec::new, |c| {
            c.balancer()
                .invokers()
                .into_iter()
                .map(|(id, _)| whisk_types::message::invoker_topic(id))
                .collect()
        })
    }
}

/// Makes and starts a controller over `stores` and `bus`: its listeners for completions,
/// heartbeats and invalidations, the `whisk.system` namespace, the alarm scheduler. Its
/// `/metrics` also shows `bus_errors`.
///
/// # Errors
/// The bus refused a subscription, or the store the system entities.
pub async fn start_controller(
    config: ControllerConfig,
    stores: &Stores,
    bus: Arc<dyn Bus>,
    bus_errors: &Counter,
) -> Result<Arc<Controller>> {
    let controller = Controller::new(
        config,
        stores.entities.clone(),
        stores.identities.clone(),
        stores.activations.clone(),
        bus,
    );
    controller.register_metrics(|r| register_bus_errors(r, bus_errors));
    controller
        .start()
        .await
        .context("starting the controller")?;
    Ok(controller)
}

/// Bound API listeners, before anything runs actions (a port in use fails fast).
#[derive(Debug)]
pub struct ApiListeners {
    http: Option<tokio::net::TcpListener>,
    https: Option<Listener>,
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
    limits: ServeLimits,
    max_connections: usize,
}

impl ApiListeners {
    /// Binds what `args` ask for; the certificate comes from `--tls-cert`/`--tls-key` or
    /// a self-signed one in `data_dir`.
    ///
    /// # Errors
    /// Bad flags, a port in use, unusable certificate files.
    pub async fn bind(args: &ListenerArgs, data_dir: &std::path::Path) -> Result<Self> {
        args.check()?;
        let http = if args.no_http {
            None
        } else {
            Some(
                tokio::net::TcpListener::bind(args.http_addr)
                    .await
                    .with_context(|| format!("binding {}", args.http_addr))?,
            )
        };
        let https = if args.no_https {
            None
        } else {
            let tls = bootstrap::ensure_tls(data_dir, args.tls_cert.clone(), args.tls_key.clone())?;
            let acceptor = serve::tls_acceptor(&tls.cert, &tls.key)?;
            let tcp = tokio::net::TcpListener::bind(args.https_addr)
                .await
                .with_context(|| format!("binding {}", args.https_addr))?;
            Some(Listener {
                tcp,
                tls: Some(acceptor),
            })
        };
        Ok(Self {
            http_addr: http.as_ref().and_then(|l| l.local_addr().ok()),
            https_addr: https.as_ref().and_then(|l| l.tcp.local_addr().ok()),
            http,
            https,
            limits: args.limits(),
            max_connections: args.max_connections,
        })
    }

    /// Serves `app` on every listener until `stop`; then stops accepting and lets the
    /// requests in flight finish.
    pub fn serve(self, app: Router, stop: &Stop) -> Vec<JoinHandle<()>> {
        let connections = Arc::new(Semaphore::new(self.max_connections));
        let mut tasks = Vec::new();
        if let Some(listener) = self.https {
            tasks.push(tokio::spawn(serve::serve(
                listener,
                app.clone(),
                self.limits.clone(),
                connections.clone(),
                stop.receiver(),
            )));
        }
        if let Some(tcp) = self.http {
            tasks.push(tokio::spawn(serve::serve(
                Listener { tcp, tls: None },
                app,
                self.limits,
                connections,
                stop.receiver(),
            )));
        }
        tasks
    }
}

/// Makes an invoker and runs it until `stop`, then drains it (see
/// [`whisk_invoker::Invoker::run`]). The task ends when the invoker stopped.
pub fn spawn_invoker(
    config: InvokerConfig,
    factory: Arc<dyn ContainerFactory>,
    stores: &Stores,
    bus: Arc<dyn Bus>,
    stop: &Stop,
) -> (Arc<Invoker>, JoinHandle<()>) {
    let invoker = Invoker::new(
        config,
        factory,
        stores.activations.clone(),
        stores.code.clone(),
        bus,
    );
    let run = Arc::clone(&invoker).run(stop.stopped());
    let task = tokio::spawn(async move {
        if let Err(err) = run.await {
            tracing::error!(error = %err, "The invoker stopped.");
        }
    });
    (invoker, task)
}

/// The invoker's own small server (the invoker role has no API): `GET /metrics` and
/// `GET /health` (200 `up`, 503 `draining`), meant for a loopback or private address.
pub fn invoker_server(registry: Arc<Registry>, invoker: Arc<Invoker>) -> Router {
    #[derive(Clone)]
    struct S {
        registry: Arc<Registry>,
        invoker: Arc<Invoker>,
    }
    async fn metrics(State(s): State<S>) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                whisk_controller::metrics::CONTENT_TYPE,
            )],
            whisk_controller::metrics::encode(&s.registry),
        )
            .into_response()
    }
    async fn health(State(s): State<S>) -> Response {
        if s.invoker.is_draining() {
            (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
        } else {
            (StatusCode::OK, "up").into_response()
        }
    }
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(S { registry, invoker })
}

/// Waits for `tasks`, at most `limit`; says so when some did not end.
pub async fn join_within(tasks: Vec<JoinHandle<()>>, limit: Duration) {
    let all = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(limit, all).await.is_err() {
        tracing::warn!("Some work did not finish within the shutdown grace period.");
    }
}
