//! [`DockerFactory`]: action containers through the Docker Engine API over its unix socket.
//!
//! Every container gets the action's memory limit (memory and memory plus swap), a pids
//! limit, `no-new-privileges`, no added capabilities (and `NET_RAW` dropped), a `nofile`
//! ulimit of 1024, the invoker's labels, and its port 8080 published on 127.0.0.1 with an
//! ephemeral host port that is read back once after start.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::{future, StreamExt};
use tracing::{debug, warn};

use crate::factory::{ContainerFactory, ContainerHandle, ContainerSpec, FactoryError};
use crate::logs::{LogLine, LogLines, LogStream};

/// Where dockerd listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The container port the action protocol is served on.
const ACTION_PORT: &str = "8080/tcp";
/// Seconds a Docker API call may take (pulls and log streams are bounded separately).
const API_TIMEOUT_SECS: u64 = 120;
/// How long the past-events query of [`DockerFactory::oom_killed`] may take.
const EVENTS_TIMEOUT: Duration = Duration::from_secs(2);

/// Containers through dockerd. Cheap to clone; clones share the connection settings.
#[derive(Debug, Clone)]
pub struct DockerFactory {
    docker: Docker,
    pull_timeout: Duration,
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
        })
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

    fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
        let memory = i64::try_from(spec.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.iter().cloned().collect()),
            exposed_ports: Some(vec![ACTION_PORT.into()]),
            tty: Some(false),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(spec.pids_limit),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_drop: Some(vec!["NET_RAW".into()]),
                ulimits: Some(vec![ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(1024),
                    hard: Some(1024),
                }]),
                port_bindings: Some(HashMap::from([(
                    ACTION_PORT.to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some(Ipv4Addr::LOCALHOST.to_string()),
                        host_port: Some(String::new()),
                    }]),
                )])),
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

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), Self::create_body(spec))
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

    async fn published_port(&self, id: &str) -> Result<u16, FactoryError> {
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(engine)?;
        if info.state.as_ref().and_then(|s| s.running) == Some(false) {
            return Err(FactoryError::Exited(id.to_owned()));
        }
        info.network_settings
            .and_then(|n| n.ports)
            .and_then(|mut ports| ports.remove(ACTION_PORT))
            .flatten()
            .into_iter()
            .flatten()
            .find_map(|b| b.host_port.and_then(|p| p.parse().ok()))
            .ok_or_else(|| FactoryError::Engine(format!("container {id} has no published port")))
    }

    async fn start(&self, id: &str) -> Result<ContainerHandle, FactoryError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(engine)?;
        let port = self.published_port(id).await?;
        Ok(ContainerHandle {
            id: id.to_owned(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        })
    }
}

#[async_trait]
impl ContainerFactory for DockerFactory {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerHandle, FactoryError> {
        let id = match self.create_container(spec).await {
            Ok(id) => id,
            Err(e) if status_of(&e) == Some(404) => {
                if !self.pull(&spec.image).await {
                    return Err(FactoryError::ImageUnavailable(spec.image.clone()));
                }
                self.create_container(spec).await.map_err(|e| {
                    if status_of(&e) == Some(404) {
                        FactoryError::ImageUnavailable(spec.image.clone())
                    } else {
                        engine(e)
                    }
                })?
            }
            Err(e) => return Err(engine(e)),
        };
        match self.start(&id).await {
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
        let results = future::join_all(ids.iter().map(|id| self.destroy(id))).await;
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
