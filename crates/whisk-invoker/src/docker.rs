//! [`DockerFactory`]: action containers through the Docker Engine API over its unix socket.
//!
//! Every container is hardened the same way ([`DockerFactory::create_body`]):
//! - its own secret ([`new_token`]) in the proxy's environment, which the proxy removes
//!   before the action starts and then demands on `/init` and `/run`;
//! - on the installation's action network ([`ActionNetwork`]), a bridge network whose
//!   containers cannot reach each other (`enable_icc=false`), created at the first start
//!   if missing; a network that lets containers talk is refused, never used;
//! - every capability dropped and none added, `no-new-privileges`;
//! - the action's memory limit (memory and memory plus swap), a pids limit, a `nofile`
//!   ulimit of 1024, CPU shares by its share of the invoker's memory;
//! - for the runtime images (code kinds), a read-only root filesystem with writable tmpfs
//!   mounts at `/tmp` and `/action` (what the proxy writes at `/init`); blackbox images
//!   keep a writable root, since the user's image decides where its program writes;
//! - the invoker's labels, and its port 8080 published on 127.0.0.1 only, with an
//!   ephemeral host port that is read back once after start; or, with
//!   [`ActionNetwork::None`], no network at all, the proxy reached through the container's
//!   network namespace.
//!
//! The runtime images and the skeleton also run as an unprivileged user (uid 1000), set in
//! the images (`images/`).
//!
//! Idle containers are paused with the cgroup freezer ([`Freezer`]) directly on the
//! container's cgroup, found from its init process at the first pause: Docker's own
//! pause goes through dockerd, containerd and runc. Docker does not know such a container
//! is frozen; removal thaws it first (a frozen process ignores `SIGKILL` under cgroup v1),
//! and [`ContainerFactory::remove_labelled`] thaws leftovers of an earlier run.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, NetworkCreateRequest, NetworkInspect,
    PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::{future, StreamExt};
use tokio::sync::OnceCell;
use tracing::{debug, error, info, warn};
use whisk_protocol::ENV_TOKEN;

use crate::client::check_netns_access;
use crate::factory::{new_token, ContainerFactory, ContainerHandle, ContainerSpec, FactoryError};
use crate::freezer::Freezer;
use crate::logs::{LogLine, LogLines, LogStream};

/// Where dockerd listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The container port the action protocol is served on.
const ACTION_PORT: &str = "8080/tcp";
/// Seconds a Docker API call may take (pulls and log streams are bounded separately).
const API_TIMEOUT_SECS: u64 = 120;
/// How long the past-events query of [`DockerFactory::oom_killed`] may take.
const EVENTS_TIMEOUT: Duration = Duration::from_secs(2);
/// The bridge option that, set to `false`, stops traffic between a network's containers.
const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";
/// The label marking a network this factory created.
const LABEL_NETWORK: &str = "rwhisk.network";
/// The kind whose images are the user's own: they keep a writable root filesystem.
const BLACKBOX: &str = "blackbox";
/// The user the runtime images run as (`images/build-runtimes.sh`): owner of `/action`.
const RUNTIME_UID: u32 = 1000;

/// The network that action containers join, unless configured otherwise: one per Docker
/// engine, shared by every installation on it. Sharing costs no isolation (no container on
/// it reaches another) and keeps to one of the engine's few address pools.
pub const DEFAULT_ACTION_NETWORK: &str = "rwhisk-actions";

/// Where action containers are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionNetwork {
    /// The bridge network of this name, with traffic between its containers disabled
    /// (`com.docker.network.bridge.enable_icc=false`; created so if missing). Containers
    /// reach outside as dockerd's NAT allows (OpenWhisk's default: actions may call out),
    /// but no other container. It holds only while dockerd manages iptables.
    Isolated(String),
    /// No network at all (`--network none`): the action reaches nothing, not even
    /// outside, and needs no iptables. The invoker reaches the proxy through the
    /// container's network namespace, which needs whiskd to run as root.
    None,
}

impl ActionNetwork {
    /// `none` is [`ActionNetwork::None`] (Docker's name for no network); any other name is
    /// an isolated bridge network of that name.
    pub fn named(name: &str) -> Self {
        if name == "none" {
            Self::None
        } else {
            Self::Isolated(name.to_owned())
        }
    }
}

impl Default for ActionNetwork {
    fn default() -> Self {
        Self::Isolated(DEFAULT_ACTION_NETWORK.into())
    }
}

/// Containers through dockerd. Cheap to clone; clones share the connection settings.
#[derive(Debug, Clone)]
pub struct DockerFactory {
    docker: Docker,
    pull_timeout: Duration,
    network: ActionNetwork,
    /// Set once the network is known to exist with isolation (checked at the first start).
    network_ready: std::sync::Arc<OnceCell<()>>,
    /// The freezer of each container paused at least once, by id (dropped at removal).
    freezers: std::sync::Arc<std::sync::Mutex<HashMap<String, Freezer>>>,
}

fn engine(e: DockerError) -> FactoryError {
    FactoryError::Engine(e.to_string())
}

fn status_of(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl DockerFactory {
    /// Connects to dockerd at `socket` (a path, or `unix://path`) and agrees on an API
    /// version with it.
    ///
    /// # Errors
    /// The socket is missing or dockerd does not answer.
    pub async fn connect(socket: &str) -> Result<Self, FactoryError> {
        let docker = Docker::connect_with_unix(socket, API_TIMEOUT_SECS, API_DEFAULT_VERSION)
            .map_err(engine)?
            .negotiate_version()
            .await
            .map_err(engine)?;
        Ok(Self {
            docker,
            pull_timeout: Duration::from_secs(5),
            network: ActionNetwork::default(),
            network_ready: std::sync::Arc::default(),
            freezers: std::sync::Arc::default(),
        })
    }

    /// Attaches action containers to `network` (default: [`ActionNetwork::default`]).
    pub fn with_network(mut self, network: ActionNetwork) -> Self {
        self.network = network;
        self.network_ready = std::sync::Arc::default();
        self
    }

    /// Makes sure the action network exists and isolates its containers, creating it if
    /// missing (without a network: that this process can enter network namespaces).
    /// Called by the first container start; call it at start-up to learn early.
    ///
    /// # Errors
    /// The network cannot be created, or a network of that name exists that lets its
    /// containers reach each other (it is not used: no container starts); without a
    /// network, namespaces cannot be entered.
    pub async fn prepare(&self) -> Result<(), FactoryError> {
        self.network_ready
            .get_or_try_init(|| async {
                let result = match &self.network {
                    ActionNetwork::Isolated(name) => self.ensure_isolated_network(name).await,
                    ActionNetwork::None => check_netns_access().map_err(|e| {
                        FactoryError::Engine(format!(
                            "containers without a network are reached through their network \
                             namespace, which this process may not enter ({e}); run whiskd \
                             as root or use an isolated action network"
                        ))
                    }),
                };
                if let Err(e) = &result {
                    error!(network = ?self.network, error = %e, "ACTION NETWORK NOT USABLE: no action container will start until this is fixed.");
                }
                result
            })
            .await
            .map(|_| ())
    }

    async fn ensure_isolated_network(&self, name: &str) -> Result<(), FactoryError> {
        match self.docker.inspect_network(name, None).await {
            Ok(net) => return isolating(name, &net),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(engine(e)),
        }
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".into()),
            options: Some(HashMap::from([(ICC_OPTION.to_owned(), "false".to_owned())])),
            labels: Some(HashMap::from([(
                LABEL_NETWORK.to_owned(),
                "actions".to_owned(),
            )])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => info!(
                network = name,
                "Action network created (containers isolated from each other)."
            ),
            // Created meanwhile by another installation: check what it is.
            Err(e) if status_of(&e) == Some(409) => {}
            Err(e) => return Err(engine(e)),
        }
        let net = self
            .docker
            .inspect_network(name, None)
            .await
            .map_err(engine)?;
        isolating(name, &net)
    }

    /// How long a pull of a missing image may take before the activation fails
    /// (default 5 s: pulls fail fast where no registry is reachable).
    pub fn with_pull_timeout(mut self, timeout: Duration) -> Self {
        self.pull_timeout = timeout;
        self
    }

    /// The underlying client, for callers that need other Docker calls (tests, tools).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// What to create for `spec`, with `token` for its proxy (see the module documentation).
    fn create_body(&self, spec: &ContainerSpec, token: &str) -> ContainerCreateBody {
        let memory = i64::try_from(spec.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
        let (network, port_bindings) = match &self.network {
            ActionNetwork::Isolated(name) => (
                name.clone(),
                Some(HashMap::from([(
                    ACTION_PORT.to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some(Ipv4Addr::LOCALHOST.to_string()),
                        host_port: Some(String::new()),
                    }]),
                )])),
            ),
            ActionNetwork::None => ("none".to_owned(), None),
        };
        // The runtime images keep nothing outside these; blackbox images are the user's.
        let read_only = spec.kind != BLACKBOX;
        let tmpfs = read_only.then(|| {
            // Docker ignores `mode` here; /tmp keeps the image's 1777 and /action is given
            // to the images' user. Both count against the memory limit.
            let options = format!("rw,exec,nosuid,nodev,size={}m", spec.memory_mb);
            HashMap::from([
                ("/tmp".to_owned(), options.clone()),
                (
                    whisk_proxy::config::DEFAULT_ACTION_DIR.to_owned(),
                    format!("{options},uid={RUNTIME_UID},gid={RUNTIME_UID}"),
                ),
            ])
        });
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("{ENV_TOKEN}={token}"));
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(env),
            labels: Some(spec.labels.iter().cloned().collect()),
            exposed_ports: Some(vec![ACTION_PORT.into()]),
            tty: Some(false),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(spec.pids_limit),
                cpu_shares: Some(i64::try_from(spec.cpu_shares).unwrap_or(1024)),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(Vec::new()),
                readonly_rootfs: Some(read_only),
                tmpfs,
                network_mode: Some(network),
                ulimits: Some(vec![ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(1024),
                    hard: Some(1024),
                }]),
                port_bindings,
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    config: Some(HashMap::from([
                        ("max-size".to_owned(), "16m".to_owned()),
                        ("max-file".to_owned(), "2".to_owned()),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn create_container(
        &self,
        spec: &ContainerSpec,
        token: &str,
    ) -> Result<String, DockerError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), self.create_body(spec, token))
            .await?;
        Ok(created.id)
    }

    /// Tries to pull `image` within the pull timeout; false when it is still unavailable.
    async fn pull(&self, image: &str) -> bool {
        let options = CreateImageOptions {
            from_image: Some(image.to_owned()),
            ..Default::default()
        };
        let mut progress = self.docker.create_image(Some(options), None, None);
        let pulled = tokio::time::timeout(self.pull_timeout, async {
            while let Some(item) = progress.next().await {
                if let Err(e) = item {
                    debug!(image, error = %e, "Image pull failed.");
                    return false;
                }
            }
            true
        })
        .await;
        pulled.unwrap_or(false)
    }

    /// The freezer of container `id`: known since its first pause, else found from its
    /// init process.
    async fn freezer(&self, id: &str) -> Result<Freezer, FactoryError> {
        if let Some(f) = self.known_freezer(id) {
            return Ok(f);
        }
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(engine)?;
        let pid = info
            .state
            .and_then(|s| s.pid)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p > 0)
            .ok_or_else(|| FactoryError::Engine(format!("container {id} has no process")))?;
        let freezer = Freezer::of_pid(pid).map_err(|e| {
            FactoryError::Unsupported(format!("container {id} cannot be frozen here: {e}"))
        })?;
        self.lock_freezers().insert(id.to_owned(), freezer.clone());
        Ok(freezer)
    }

    fn known_freezer(&self, id: &str) -> Option<Freezer> {
        self.lock_freezers().get(id).cloned()
    }

    fn lock_freezers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Freezer>> {
        self.freezers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Thaws container `id` if it is frozen (a leftover of an earlier run, not known to
    /// this factory, is looked up); errors are only logged, removal goes on.
    async fn thaw_for_removal(&self, id: &str, look_up: bool) {
        let known = self.lock_freezers().remove(id);
        let freezer = match known {
            Some(f) => f,
            None if look_up => match self.freezer(id).await {
                Ok(f) => {
                    self.lock_freezers().remove(id);
                    f
                }
                Err(_) => return,
            },
            None => return,
        };
        if freezer.is_frozen().unwrap_or(false) {
            if let Err(e) = freezer.thaw().await {
                warn!(container = %id, error = %e, "Could not thaw a paused container before removing it.");
            }
        }
    }

    /// Removes container `id` (running or not) with its anonymous volumes; one that is
    /// already gone or being removed counts as removed.
    async fn remove(&self, id: &str) -> Result<(), FactoryError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Already gone, or its removal is already under way.
            Err(e) if matches!(status_of(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(engine(e)),
        }
    }

    /// Where the started container's proxy is reached: its published loopback port, or,
    /// without a network, port 8080 in the namespace of its init process.
    async fn address(&self, id: &str) -> Result<(SocketAddr, Option<u32>), FactoryError> {
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(engine)?;
        let state = info.state.as_ref();
        if state.and_then(|s| s.running) == Some(false) {
            return Err(FactoryError::Exited(id.to_owned()));
        }
        if self.network == ActionNetwork::None {
            let pid = state
                .and_then(|s| s.pid)
                .and_then(|p| u32::try_from(p).ok())
                .filter(|&p| p > 0)
                .ok_or_else(|| FactoryError::Engine(format!("container {id} has no process")))?;
            return Ok((SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)), Some(pid)));
        }
        let port: u16 = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|mut ports| ports.remove(ACTION_PORT))
            .flatten()
            .into_iter()
            .flatten()
            .find_map(|b| b.host_port.and_then(|p| p.parse().ok()))
            .ok_or_else(|| FactoryError::Engine(format!("container {id} has no published port")))?;
        Ok((SocketAddr::from((Ipv4Addr::LOCALHOST, port)), None))
    }

    async fn start(&self, id: &str, token: String) -> Result<ContainerHandle, FactoryError> {
        match self.docker.start_container(id, None).await {
            Ok(()) => {}
            // The action network was removed since it was prepared (`docker network prune`
            // removes it while no container uses it): make it again, once.
            Err(e) if status_of(&e) == Some(404) && e.to_string().contains("network") => {
                let ActionNetwork::Isolated(name) = &self.network else {
                    return Err(engine(e));
                };
                warn!(network = %name, "The action network is gone; creating it again.");
                self.ensure_isolated_network(name).await?;
                self.docker
                    .start_container(id, None)
                    .await
                    .map_err(engine)?;
            }
            Err(e) => return Err(engine(e)),
        }
        let (addr, netns_pid) = self.address(id).await?;
        Ok(ContainerHandle {
            id: id.to_owned(),
            addr,
            token,
            netns_pid,
        })
    }
}

/// Whether `net` keeps its containers from reaching each other.
fn isolating(name: &str, net: &NetworkInspect) -> Result<(), FactoryError> {
    let icc = net.options.as_ref().and_then(|o| o.get(ICC_OPTION));
    if net.driver.as_deref() == Some("bridge") && icc.map(String::as_str) == Some("false") {
        Ok(())
    } else {
        Err(FactoryError::Engine(format!(
            "the Docker network {name} lets its containers reach each other (it must be a \
             bridge network with {ICC_OPTION}=false); remove it so rwhisk creates it, or \
             choose another action network"
        )))
    }
}

#[async_trait]
impl ContainerFactory for DockerFactory {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError> {
        self.prepare().await?;
        let token = new_token();
        let id = match self.create_container(spec, &token).await {
            Ok(id) => id,
            Err(e) if status_of(&e) == Some(404) => {
                if !self.pull(&spec.image).await {
                    return Err(FactoryError::ImageUnavailable(spec.image.clone()));
                }
                self.create_container(spec, &token).await.map_err(|e| {
                    if status_of(&e) == Some(404) {
                        FactoryError::ImageUnavailable(spec.image.clone())
                    } else {
                        engine(e)
                    }
                })?
            }
            Err(e) => return Err(engine(e)),
        };
        match self.start(&id, token).await {
            Ok(handle) => Ok(handle),
            Err(e @ FactoryError::Exited(_)) => Err(e),
            Err(e) => {
                if let Err(cleanup) = self.destroy(&id).await {
                    warn!(container = %id, error = %cleanup, "Container left behind after a failed start.");
                }
                Err(e)
            }
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), FactoryError> {
        self.thaw_for_removal(id, false).await;
        self.remove(id).await
    }

    async fn pause(&self, id: &str) -> Result<(), FactoryError> {
        let freezer = self.freezer(id).await?;
        freezer
            .freeze()
            .await
            .map_err(|e| FactoryError::Engine(format!("could not freeze container {id}: {e}")))
    }

    async fn resume(&self, id: &str) -> Result<(), FactoryError> {
        let freezer = self.freezer(id).await?;
        freezer
            .thaw()
            .await
            .map_err(|e| FactoryError::Engine(format!("could not thaw container {id}: {e}")))
    }

    async fn remove_labelled(&self, key: &str, value: &str) -> Result<usize, FactoryError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{key}={value}")],
            )])),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(engine)?;
        let ids: Vec<String> = found.into_iter().filter_map(|c| c.id).collect();
        let results = future::join_all(ids.iter().map(|id| async move {
            // Possibly paused by an earlier run that ended without thawing it.
            self.thaw_for_removal(id, true).await;
            self.remove(id).await
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(ids.len())
    }

    fn logs(&self, id: &str) -> LogLines {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            ..Default::default()
        };
        self.docker
            .logs(id, Some(options))
            .filter_map(|item| {
                future::ready(match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok(LogLine::parse_timestamped(LogStream::Stdout, &message)))
                    }
                    Ok(LogOutput::StdErr { message }) => {
                        Some(Ok(LogLine::parse_timestamped(LogStream::Stderr, &message)))
                    }
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(engine(e))),
                })
            })
            .boxed()
    }

    async fn oom_killed(&self, id: &str) -> bool {
        let inspected = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await;
        if let Ok(info) = inspected {
            if info.state.and_then(|s| s.oom_killed) == Some(true) {
                return true;
            }
        }
        // Older engines flag only a killed main process; any OOM kill in the container
        // (such as the action process under the proxy) shows as an `oom` event.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let options = EventsOptions {
            since: Some("0".into()),
            until: Some(format!("{}.{:09}", now.as_secs(), now.subsec_nanos())),
            filters: Some(HashMap::from([
                ("container".to_owned(), vec![id.to_owned()]),
                ("event".to_owned(), vec!["oom".to_owned()]),
            ])),
        };
        let mut events = self.docker.events(Some(options));
        tokio::time::timeout(EVENTS_TIMEOUT, async move {
            while let Some(event) = events.next().await {
                if event.is_ok() {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(driver: &str, icc: Option<&str>) -> NetworkInspect {
        NetworkInspect {
            driver: Some(driver.into()),
            options: icc.map(|v| HashMap::from([(ICC_OPTION.to_owned(), v.to_owned())])),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_bridge_without_icc_is_isolating() {
        assert_eq!(isolating("n", &network("bridge", Some("false"))), Ok(()));
        for bad in [
            network("bridge", None),
            network("bridge", Some("true")),
            network("overlay", Some("false")),
        ] {
            let err = isolating("n", &bad).unwrap_err().to_string();
            assert!(
                err.contains("lets its containers reach each other"),
                "{err}"
            );
        }
    }

    #[test]
    fn none_names_no_network() {
        assert_eq!(ActionNetwork::named("none"), ActionNetwork::None);
        assert_eq!(
            ActionNetwork::named("mine"),
            ActionNetwork::Isolated("mine".into())
        );
    }
}
