//! Root filesystems of dockerd's images, unpacked once per image id, and what to start
//! from an image's configuration (arguments, environment, working directory, user).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bollard::models::{ContainerCreateBody, ImageConfig};
use bollard::query_parameters::RemoveContainerOptions;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tracing::{info, warn};

use super::{engine, status_of, RuncFactory, LABEL_EXPORT};
use crate::factory::FactoryError;

/// What an action container is started from: one image, unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuncImage {
    /// The image id (`sha256:...`).
    pub id: String,
    /// The unpacked root filesystem.
    pub rootfs: PathBuf,
    /// `Entrypoint` followed by `Cmd`.
    pub args: Vec<String>,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Whether the image has files under `/action` to copy into the container's.
    pub action_files: bool,
}

impl RuncFactory {
    /// The value of [`LABEL_EXPORT`] on this factory's export containers.
    fn export_label(&self) -> String {
        self.inner.dir.display().to_string()
    }

    /// Removes export containers an earlier run of this factory left (killed mid-export).
    pub(super) async fn remove_export_leftovers(&self) {
        let options = bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{LABEL_EXPORT}={}", self.export_label())],
            )])),
            ..Default::default()
        };
        let found = match self.inner.docker.list_containers(Some(options)).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "Listing leftover export containers failed.");
                return;
            }
        };
        for id in found.into_iter().filter_map(|c| c.id) {
            let options = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            if let Err(e) = self.inner.docker.remove_container(&id, Some(options)).await {
                warn!(container = %id, error = %e, "Removing a leftover export container failed.");
            }
        }
    }

    /// Removes unpacked images that dockerd no longer has and no bundle uses (the disk an
    /// image whose tag moved, or that was removed, took). Done at start, before any
    /// container of this factory's is created.
    pub(super) async fn remove_stale_images(&self) {
        let images = self.inner.dir.join("images");
        let bundles = self.inner.dir.join("bundles");
        let mut used = String::new();
        for bundle in std::fs::read_dir(&bundles).into_iter().flatten().flatten() {
            used.push_str(
                &std::fs::read_to_string(bundle.path().join("config.json")).unwrap_or_default(),
            );
        }
        for entry in std::fs::read_dir(&images).into_iter().flatten().flatten() {
            let hex = entry.file_name().to_string_lossy().into_owned();
            if hex.starts_with('.') || used.contains(&*entry.path().to_string_lossy()) {
                continue;
            }
            match self
                .inner
                .docker
                .inspect_image(&format!("sha256:{hex}"))
                .await
            {
                Err(e) if status_of(&e) == Some(404) => {
                    info!(id = %hex, "Removing an unpacked image dockerd no longer has.");
                    if let Err(e) = tokio::fs::remove_dir_all(entry.path()).await {
                        warn!(id = %hex, error = %e, "Removing an unpacked image failed.");
                    }
                }
                _ => {}
            }
        }
    }

    /// The image `name` as the local dockerd has it now, unpacked (once per image id).
    ///
    /// # Errors
    /// [`FactoryError::ImageUnavailable`] when dockerd does not have it; unpacking failed.
    pub async fn image(&self, name: &str) -> Result<RuncImage, FactoryError> {
        let inspected = match self.inner.docker.inspect_image(name).await {
            Ok(i) => i,
            Err(e) if status_of(&e) == Some(404) => {
                return Err(FactoryError::ImageUnavailable(name.to_owned()))
            }
            Err(e) => return Err(engine(&format!("inspecting image {name}"), e)),
        };
        let id = inspected
            .id
            .ok_or_else(|| engine(&format!("inspecting image {name}"), "no id"))?;
        let hex: String = id
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect();
        if hex.len() < 12 {
            return Err(engine(&format!("image {name}"), format!("odd id {id:?}")));
        }
        let cell = {
            let mut images = self.inner.images.lock().unwrap_or_else(|p| p.into_inner());
            images.entry(hex.clone()).or_default().clone()
        };
        let rootfs = cell
            .get_or_try_init(|| self.unpack(name, &hex))
            .await?
            .clone();
        image_from_config(id, rootfs, inspected.config.unwrap_or_default())
    }

    /// Unpacks image `name` (id `hex`) into `images/<hex>/rootfs` unless it is there.
    async fn unpack(&self, name: &str, hex: &str) -> Result<PathBuf, FactoryError> {
        let images = self.inner.dir.join("images");
        let done = images.join(hex);
        let rootfs = done.join("rootfs");
        if rootfs.is_dir() {
            return Ok(rootfs);
        }
        let started = std::time::Instant::now();
        let partial = images.join(format!(".{hex}.{}", uuid::Uuid::new_v4().simple()));
        let result = self.export_into(name, &partial.join("rootfs")).await;
        let result = match result {
            // Another process may have finished the same image meanwhile: keep either.
            Ok(()) => match tokio::fs::rename(&partial, &done).await {
                Ok(()) => Ok(rootfs),
                Err(_) if rootfs.is_dir() => Ok(rootfs),
                Err(e) => Err(engine("placing an unpacked image", e)),
            },
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_dir_all(&partial).await;
        if result.is_ok() {
            info!(
                image = name,
                id = hex,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "Image unpacked for runc."
            );
        }
        result
    }

    /// Exports image `name`'s filesystem through a created (never started) container and
    /// unpacks it into `rootfs`, with the mount points the bundles need.
    async fn export_into(&self, name: &str, rootfs: &Path) -> Result<(), FactoryError> {
        tokio::fs::create_dir_all(rootfs)
            .await
            .map_err(|e| engine(&format!("creating {}", rootfs.display()), e))?;
        let docker = &self.inner.docker;
        let body = ContainerCreateBody {
            image: Some(name.to_owned()),
            // Never run; images without a command cannot be created without one.
            cmd: Some(vec!["/rwhisk-export".into()]),
            labels: Some(HashMap::from([(
                LABEL_EXPORT.to_owned(),
                self.export_label(),
            )])),
            network_disabled: Some(true),
            ..Default::default()
        };
        let created = docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
            .map_err(|e| match status_of(&e) {
                Some(404) => FactoryError::ImageUnavailable(name.to_owned()),
                _ => engine(&format!("creating a container of {name} to export"), e),
            })?;
        let exported = self.untar(&created.id, rootfs).await;
        let removed = docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        if let Err(e) = removed {
            warn!(container = %created.id, error = %e, "Removing an export container failed.");
        }
        exported?;
        for dir in ["proc", "sys", "dev", "tmp", "action"] {
            let path = rootfs.join(dir);
            if tokio::fs::symlink_metadata(&path).await.is_err() {
                tokio::fs::create_dir(&path)
                    .await
                    .map_err(|e| engine(&format!("creating {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// Streams container `id`'s export into `tar -x` in `rootfs`.
    async fn untar(&self, id: &str, rootfs: &Path) -> Result<(), FactoryError> {
        let mut tar = Command::new("tar")
            .args([
                "-x",
                "-p",
                "--numeric-owner",
                "--same-owner",
                "-f",
                "-",
                "-C",
            ])
            .arg(rootfs)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| engine("running tar", e))?;
        let mut stdin = tar
            .stdin
            .take()
            .ok_or_else(|| engine("running tar", "no stdin"))?;
        let mut stream = self.inner.docker.export_container(id);
        let mut fed = Ok(());
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(e) = stdin.write_all(&bytes).await {
                        fed = Err(engine("unpacking an image", e));
                        break;
                    }
                }
                Err(e) => {
                    fed = Err(engine("exporting an image", e));
                    break;
                }
            }
        }
        drop(stdin);
        let out = tar
            .wait_with_output()
            .await
            .map_err(|e| engine("running tar", e))?;
        fed?;
        if !out.status.success() {
            return Err(engine(
                "unpacking an image",
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        Ok(())
    }
}

/// The image's user (`uid[:gid]` or names in its `/etc/passwd` and `/etc/group`) as ids;
/// empty is root.
fn resolve_user(user: &str, rootfs: &Path) -> Result<(u32, u32), FactoryError> {
    let (name, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // The id (field 2) and the next field of the entry whose field `at` (0: name, 2: id)
    // is `key`.
    let lookup_at = |file: &str, at: usize, key: &str| -> Option<(u32, Option<u32>)> {
        let text = std::fs::read_to_string(rootfs.join(file)).ok()?;
        text.lines().find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            if fields.len() < 4 || fields[at] != key {
                return None;
            }
            Some((fields[2].parse().ok()?, fields[3].parse().ok()))
        })
    };
    let passwd = |at: usize, key: &str| match lookup_at("etc/passwd", at, key) {
        Some((uid, Some(gid))) => Some((uid, gid)),
        _ => None,
    };
    let (uid, primary) = if name.is_empty() {
        (0, 0)
    } else if let Ok(uid) = name.parse::<u32>() {
        (uid, passwd(2, name).map_or(uid, |(_, g)| g))
    } else {
        passwd(0, name).ok_or_else(|| {
            FactoryError::Engine(format!(
                "the image's user {name:?} is not in its /etc/passwd"
            ))
        })?
    };
    let gid = match group {
        None | Some("") => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup_at("etc/group", 0, g)
                .map(|(gid, _)| gid)
                .ok_or_else(|| {
                    FactoryError::Engine(format!(
                        "the image's group {g:?} is not in its /etc/group"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}

/// What to start from an image's configuration, unpacked at `rootfs`.
fn image_from_config(
    id: String,
    rootfs: PathBuf,
    config: ImageConfig,
) -> Result<RuncImage, FactoryError> {
    let mut args = config.entrypoint.unwrap_or_default();
    args.extend(config.cmd.unwrap_or_default());
    if args.is_empty() {
        return Err(FactoryError::Engine(format!(
            "image {id} has neither an entrypoint nor a command"
        )));
    }
    let (uid, gid) = resolve_user(config.user.as_deref().unwrap_or_default(), &rootfs)?;
    let action_files = std::fs::read_dir(rootfs.join("action"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    Ok(RuncImage {
        id,
        args,
        env: config.env.unwrap_or_default(),
        cwd: config
            .working_dir
            .filter(|d| d.starts_with('/'))
            .unwrap_or_else(|| "/".into()),
        uid,
        gid,
        action_files,
        rootfs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_by_number_or_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let r = |u: &str| resolve_user(u, dir.path());
        assert_eq!(r(""), Ok((0, 0)));
        assert_eq!(r("1000:1000"), Ok((1000, 1000)));
        assert_eq!(r("1000"), Ok((1000, 1001)));
        assert_eq!(r("4242"), Ok((4242, 4242)));
        assert_eq!(r("app"), Ok((1000, 1001)));
        assert_eq!(r("app:staff"), Ok((1000, 50)));
        assert!(r("nobody").is_err());
        assert!(r("app:wheel").is_err());
    }

    #[test]
    fn image_config_gives_args_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let config = ImageConfig {
            entrypoint: Some(vec!["/bin/tini".into(), "--".into()]),
            cmd: Some(vec!["/proxy".into()]),
            working_dir: Some(String::new()),
            user: Some("7:7".into()),
            ..Default::default()
        };
        let image = image_from_config("sha256:ab".into(), dir.path().into(), config).unwrap();
        assert_eq!(image.args, ["/bin/tini", "--", "/proxy"]);
        assert_eq!(image.cwd, "/");
        assert_eq!((image.uid, image.gid), (7, 7));
        assert!(!image.action_files);
        let empty = image_from_config(
            "sha256:ab".into(),
            dir.path().into(),
            ImageConfig::default(),
        );
        assert!(empty.is_err());
    }
}
