//! The floors every scenario sets its figures beside, measured in the same run:
//!
//! - `docker run` to first byte: `docker run -d --rm -p 127.0.0.1:PORT:8080 IMAGE` until
//!   the image's proxy answers a first HTTP request (any status), CLI process included;
//! - `runc run` of the same image's root filesystem as an OCI bundle (unpacked once per
//!   run with `docker export`; the default `runc spec` namespaces), running `echo` until
//!   its first byte reaches us: a container start without an engine in between;
//! - a loopback round trip to a warm container's `/run`, sent straight to its published
//!   127.0.0.1 port with the container's own token (what whiskd's invoker does on the
//!   warm path, without whiskd).

use std::net::{Ipv4Addr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::load::{self, Outcome, Shape};

/// How long a floor's container may take to answer before the sample fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// `docker run` of `image` until its proxy answers its first request.
///
/// # Errors
/// docker failed, or the proxy never answered.
pub async fn docker_run(image: &str) -> Result<Duration> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/");
    let t = Instant::now();
    let out = Command::new("docker")
        .args(["run", "-d", "--rm", "-p"])
        .arg(format!("127.0.0.1:{port}:8080"))
        .arg(image)
        .output()
        .await
        .context("running docker run")?;
    if !out.status.success() {
        bail!(
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let deadline = Instant::now() + PATIENCE;
    let elapsed = loop {
        if probe.get(&url).send().await.is_ok() {
            break Some(t.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = Command::new("docker")
        .args(["rm", "-f", &id])
        .output()
        .await;
    elapsed.with_context(|| format!("{image} never answered on {url}"))
}

/// `count` samples of [`docker_run`].
///
/// # Errors
/// The first failed sample.
pub async fn docker_runs(image: &str, count: usize) -> Result<Vec<Duration>> {
    let mut v = Vec::with_capacity(count);
    for _ in 0..count {
        v.push(docker_run(image).await?);
    }
    Ok(v)
}

/// An OCI bundle made from a Docker image's root filesystem, removed on drop.
#[derive(Debug)]
pub struct RuncBundle {
    dir: tempfile::TempDir,
    runs: usize,
}

impl RuncBundle {
    /// Unpacks `image` (`docker create` + `docker export`) and writes `runc spec`'s
    /// config with `echo` as the process.
    ///
    /// # Errors
    /// runc is missing, or docker or tar failed.
    pub async fn prepare(image: &str) -> Result<Self> {
        let version = Command::new("runc").arg("--version").output().await;
        if !version.is_ok_and(|o| o.status.success()) {
            bail!("runc is not installed");
        }
        let dir = tempfile::Builder::new()
            .prefix("rwhisk-loadgen-bundle.")
            .tempdir()?;
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs)?;
        let created = Command::new("docker")
            .args(["create", image])
            .output()
            .await?;
        if !created.status.success() {
            bail!(
                "docker create {image}: {}",
                String::from_utf8_lossy(&created.stderr)
            );
        }
        let id = String::from_utf8_lossy(&created.stdout).trim().to_owned();
        let exported = export_into(&id, &rootfs).await;
        let _ = Command::new("docker")
            .args(["rm", "-f", &id])
            .output()
            .await;
        exported?;
        let spec = Command::new("runc")
            .arg("spec")
            .current_dir(dir.path())
            .output()
            .await?;
        if !spec.status.success() {
            bail!("runc spec: {}", String::from_utf8_lossy(&spec.stderr));
        }
        let path = dir.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["/bin/echo", "ok"]);
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        Ok(Self { dir, runs: 0 })
    }

    /// `runc run` of the bundle until the first byte of its output.
    ///
    /// # Errors
    /// runc failed or printed nothing.
    pub async fn run(&mut self) -> Result<Duration> {
        self.runs += 1;
        let id = format!("rwhisk-loadgen-{}-{}", std::process::id(), self.runs);
        let t = Instant::now();
        let mut child = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(self.dir.path())
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting runc")?;
        let mut stdout = child.stdout.take().context("runc stdout")?;
        let mut byte = [0u8; 1];
        let first = tokio::time::timeout(PATIENCE, stdout.read(&mut byte)).await;
        let elapsed = t.elapsed();
        let status = tokio::time::timeout(PATIENCE, child.wait()).await;
        let _ = Command::new("runc")
            .args(["delete", "-f", &id])
            .output()
            .await;
        match first {
            Ok(Ok(1)) => Ok(elapsed),
            _ => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err).await;
                }
                bail!("runc run printed nothing ({status:?}): {err}")
            }
        }
    }

    /// `count` samples of [`RuncBundle::run`].
    ///
    /// # Errors
    /// The first failed sample.
    pub async fn runs(&mut self, count: usize) -> Result<Vec<Duration>> {
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(self.run().await?);
        }
        Ok(v)
    }
}

/// `docker export ID | tar -x -C rootfs`.
async fn export_into(id: &str, rootfs: &std::path::Path) -> Result<()> {
    let mut export = std::process::Command::new("docker")
        .args(["export", id])
        .stdout(Stdio::piped())
        .spawn()
        .context("docker export")?;
    let pipe = export.stdout.take().context("docker export stdout")?;
    let tar = std::process::Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(rootfs)
        .stdin(pipe)
        .status()
        .context("tar")?;
    let exported = export.wait()?;
    if !tar.success() || !exported.success() {
        bail!("unpacking {id}: docker export {exported}, tar {tar}");
    }
    Ok(())
}

/// A warm container of an action: its published `127.0.0.1:PORT` and the
/// `Authorization` value its proxy demands.
#[derive(Debug, Clone)]
pub struct WarmContainer {
    pub addr: String,
    pub authorization: String,
}

/// The warm containers of `fqn` (`namespace/action`) that `invoker_label` (when given)
/// runs, from `docker ps` and `docker inspect` (the token is in the container's
/// configuration; only whoever can use the Docker engine can read it).
///
/// # Errors
/// docker failed.
pub async fn warm_containers(fqn: &str, invoker_label: Option<&str>) -> Result<Vec<WarmContainer>> {
    let mut ps = Command::new("docker");
    ps.args(["ps", "--format", "{{.ID}} {{.Ports}}", "--filter"])
        .arg(format!("label=rwhisk.action={fqn}"));
    if let Some(label) = invoker_label {
        ps.arg("--filter")
            .arg(format!("label=rwhisk.invoker={label}"));
    }
    let out = ps.output().await.context("running docker ps")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut containers = Vec::new();
    for line in text.lines() {
        let Some((id, ports)) = line.split_once(' ') else {
            continue;
        };
        let Some(addr) = published_loopback(ports) else {
            continue;
        };
        let env = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{range .Config.Env}}{{println .}}{{end}}",
                id,
            ])
            .output()
            .await
            .context("running docker inspect")?;
        let prefix = format!("{}=", whisk_protocol::ENV_TOKEN);
        let token = String::from_utf8_lossy(&env.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_default();
        containers.push(WarmContainer {
            addr: addr.to_owned(),
            authorization: whisk_protocol::authorization(&token),
        });
    }
    Ok(containers)
}

/// The `127.0.0.1:PORT` side of docker ps's ports column.
fn published_loopback(ports: &str) -> Option<&str> {
    ports
        .split(", ")
        .filter_map(|p| p.split("->").next())
        .map(str::trim)
        .find(|a| a.starts_with("127.0.0.1:"))
}

/// The `/run` body the invoker would send for `fqn` with `value`.
pub fn run_body(fqn: &str, value: &Value) -> Value {
    let namespace = fqn.split('/').next().unwrap_or("guest");
    json!({
        (whisk_protocol::KEY_VALUE): value,
        (whisk_protocol::KEY_NAMESPACE): namespace,
        (whisk_protocol::KEY_ACTION_NAME): format!("/{fqn}"),
        (whisk_protocol::KEY_ACTION_VERSION): "0.0.1",
        (whisk_protocol::KEY_ACTIVATION_ID): "0".repeat(32),
        (whisk_protocol::KEY_TRANSACTION_ID): "loadgen",
        (whisk_protocol::KEY_DEADLINE): "9999999999999",
    })
}

/// The loopback floor: `shape` sent straight to `containers`' `/run` (worker `w` uses
/// container `w % n`), with a keep-alive client. The containers then hold log sentinels
/// nobody asked for: the caller deletes the action afterwards so they are retired.
///
/// # Errors
/// No containers.
pub async fn direct_run(
    http: &reqwest::Client,
    containers: &[WarmContainer],
    body: &Value,
    shape: Shape,
) -> Result<Outcome> {
    if containers.is_empty() {
        bail!("no warm container found with docker ps");
    }
    let body = serde_json::to_vec(body)?;
    let urls: Vec<String> = containers
        .iter()
        .map(|c| format!("http://{}{}", c.addr, whisk_protocol::PATH_RUN))
        .collect();
    Ok(load::run(shape, None, |w, _| {
        let i = w % containers.len();
        let req = http
            .post(&urls[i])
            .header("authorization", &containers[i].authorization)
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            match req.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_loopback_port_docker_published() {
        assert_eq!(
            published_loopback("8080/tcp, 127.0.0.1:49153->8080/tcp"),
            Some("127.0.0.1:49153")
        );
        assert_eq!(published_loopback("0.0.0.0:80->8080/tcp"), None);
        assert_eq!(published_loopback(""), None);
    }

    #[test]
    fn run_body_carries_the_action_and_value() {
        let b = run_body("guest/noop", &json!({"k": "v"}));
        assert_eq!(b["namespace"], "guest");
        assert_eq!(b["action_name"], "/guest/noop");
        assert_eq!(b["value"]["k"], "v");
    }
}
