//! The runc factory against real runc and dockerd: images unpacked once per image id (and
//! again when a tag moves), a container's cgroup limits, namespaces and removal.
//!
//! Needs root, `runc` and dockerd with `whisk/dockerskeleton` and `whisk/example-c`
//! (`make images sdk-images`). Skipped with a printed reason where one is missing, except
//! under CI (`CI` set), where a skipped test would pass without having run.

use std::path::{Path, PathBuf};
use std::process::Command;

use whisk_invoker::{ContainerFactory, ContainerSpec, RuncFactory, DEFAULT_RUNC, DEFAULT_SOCKET};

const SKELETON: &str = "whisk/dockerskeleton:latest";
const C_IMAGE: &str = "whisk/example-c:latest";

fn runc_available() -> bool {
    let root = rustix::process::geteuid().is_root();
    let runc = Command::new(DEFAULT_RUNC).arg("--version").output().is_ok();
    let docker = Path::new(DEFAULT_SOCKET).exists();
    if root && runc && docker {
        return true;
    }
    let why = format!("root {root}, runc {runc}, dockerd {docker}");
    assert!(std::env::var_os("CI").is_none(), "under CI: {why}");
    eprintln!("skipped: {why}");
    false
}

async fn factory(dir: &Path) -> RuncFactory {
    RuncFactory::connect(Path::new(DEFAULT_RUNC), dir.join("runc"), DEFAULT_SOCKET)
        .await
        .expect("runc factory")
}

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The unpacked images under the factory's directory (no half-done ones).
fn unpacked(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("runc/images"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn images_unpack_once_per_id_and_again_when_the_tag_moves() {
    if !runc_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = factory(dir.path()).await;
    // A tag of this test's own, moved from one image to another.
    let tag = format!("rwhisk-runc-test/moving:{}", std::process::id());
    docker(&["tag", SKELETON, &tag]);

    let first = futures_util::future::join_all((0..4).map(|_| f.image(&tag))).await;
    let first: Vec<_> = first.into_iter().map(|r| r.unwrap()).collect();
    assert!(first.iter().all(|i| i == &first[0]), "{first:?}");
    assert_eq!(
        unpacked(dir.path()).len(),
        1,
        "one unpacking for four first uses"
    );
    let image = &first[0];
    assert!(image.rootfs.join("usr/local/bin/whisk-proxy").is_file());
    assert_eq!((image.uid, image.gid), (1000, 1000));
    assert_eq!(image.args, ["/usr/local/bin/whisk-proxy"]);

    docker(&["tag", C_IMAGE, &tag]);
    let moved = f.image(&tag).await.unwrap();
    docker(&["rmi", &tag]);
    assert_ne!(moved.id, image.id);
    assert_ne!(moved.rootfs, image.rootfs);
    assert!(moved.action_files, "example-c ships /action/exec");
    assert_eq!(unpacked(dir.path()).len(), 2);

    let missing = f.image("rwhisk-runc-test/never-built:x").await.unwrap_err();
    assert_eq!(
        missing,
        whisk_invoker::FactoryError::ImageUnavailable("rwhisk-runc-test/never-built:x".into())
    );
}

#[tokio::test]
async fn a_container_is_limited_in_its_cgroup_and_removed_with_it() {
    if !runc_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = factory(dir.path()).await;
    let id = format!("rwhisk-runc-test-{}", uuid::Uuid::new_v4().simple());
    let label = ("rwhisk.invoker".to_owned(), id.clone());
    let spec = ContainerSpec {
        name: id.clone(),
        kind: "blackbox".into(),
        image: SKELETON.into(),
        memory_mb: 128,
        pids_limit: 50,
        cpu_shares: 256,
        env: vec![("__OW_API_HOST".into(), "http://127.0.0.1:1".into())],
        labels: vec![label.clone()],
    };
    let handle = f.create(&spec).await.unwrap();
    let pid = handle
        .netns_pid
        .expect("reached through its network namespace");
    assert_eq!(handle.addr.to_string(), "127.0.0.1:8080");

    // Its own network (and pid) namespace.
    let ns = |p: &str, kind: &str| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).unwrap();
    for kind in ["net", "pid", "ipc", "uts", "mnt"] {
        assert_ne!(ns(&pid.to_string(), kind), ns("self", kind), "{kind}");
    }

    // Its limits, in the cgroup the factory names.
    let cgroup = f.cgroup_path(&id).expect("a cgroup path");
    assert_eq!(cgroup, format!("/rwhisk/{id}"));
    let in_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(in_cgroup.contains(&cgroup), "{in_cgroup}");
    let v1 = Path::new("/sys/fs/cgroup/memory").join(cgroup.trim_start_matches('/'));
    if v1.is_dir() {
        let read = |c: &str, file: &str| {
            let path = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(cgroup.trim_start_matches('/'))
                .join(file);
            std::fs::read_to_string(path).unwrap().trim().to_owned()
        };
        assert_eq!(read("memory", "memory.limit_in_bytes"), "134217728");
        assert_eq!(read("pids", "pids.max"), "50");
        assert_eq!(read("cpu", "cpu.shares"), "256");
    } else {
        let dir = Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'));
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(read("memory.max").trim(), "134217728");
        assert_eq!(read("pids.max").trim(), "50");
    }
    assert!(!f.oom_killed(&id).await);

    // Found by its label, as after a crash, and removed with its bundle and cgroup.
    assert_eq!(f.remove_labelled(&label.0, &label.1).await.unwrap(), 1);
    assert!(!dir.path().join("runc/bundles").join(&id).exists());
    let listed = Command::new(DEFAULT_RUNC)
        .arg("--root")
        .arg(dir.path().join("runc/state"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let left = hierarchy.path().join(cgroup.trim_start_matches('/'));
        assert!(!left.exists(), "{} left", left.display());
    }
    assert!(f.cgroup_path(&id).is_none());
    // Removing again is not an error.
    f.destroy(&id).await.unwrap();
}

#[tokio::test]
async fn an_unpacked_image_dockerd_no_longer_has_is_removed_at_the_next_start() {
    if !runc_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // An image of this test's own: the skeleton with a label, so a new id.
    let tag = format!("rwhisk-runc-test/gone:{}", uuid::Uuid::new_v4().simple());
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "--label"])
        .arg(format!("rwhisk.test={tag}"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("FROM {SKELETON}\n").as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let kept = factory(dir.path()).await.image(SKELETON).await.unwrap();
    let gone = factory(dir.path()).await.image(&tag).await.unwrap();
    assert!(gone.rootfs.is_dir());
    docker(&["rmi", &tag]);

    let _restarted = factory(dir.path()).await;
    assert!(!gone.rootfs.exists(), "the removed image's files stay");
    assert!(kept.rootfs.is_dir(), "an image dockerd has is kept");
}
