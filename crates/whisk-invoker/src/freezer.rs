//! Freezing and thawing a container's processes through the cgroup freezer, as the
//! factories pause idle containers: a frozen process uses no CPU and is resumed in a
//! fraction of a millisecond (no engine round trip, no signal).
//!
//! Both cgroup versions, found by what the directory holds:
//! - v1: the `freezer` controller's `freezer.state`, written `FROZEN`/`THAWED`; it reads
//!   `FREEZING` until every task stopped, so a freeze writes again and waits (bounded);
//! - v2: `cgroup.freeze`, written `1`/`0`; `cgroup.events` says `frozen 1` once done.
//!
//! A [`Freezer`] is made from a cgroup directory ([`Freezer::at`], as the runc factory
//! knows it) or from a container's init process ([`Freezer::of_pid`], read from
//! `/proc/<pid>/cgroup` and the mount table). On a hybrid host (v1 controllers with a v2
//! mount beside them) the v1 freezer is used when the process has one: its v2 cgroup there
//! is typically shared with the engine, and freezing it would stop more than the container.
//! The root cgroup of either version is never frozen.
//!
//! Under v1 a frozen process does not die of `SIGKILL` until thawed, so whoever removes a
//! container thaws it first ([`Freezer::thaw`] is cheap when it is not frozen).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// How long a freeze or thaw may take before it fails.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which interface a cgroup directory offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// The freezer of one cgroup. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freezer {
    dir: PathBuf,
    version: CgroupVersion,
}

/// The v1 file.
const V1_STATE: &str = "freezer.state";
/// The v2 files.
const V2_FREEZE: &str = "cgroup.freeze";
const V2_EVENTS: &str = "cgroup.events";

fn invalid(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, text)
}

impl Freezer {
    /// The freezer of the cgroup directory `dir`: v1 if it holds `freezer.state`, v2 if
    /// it holds `cgroup.freeze`.
    ///
    /// # Errors
    /// `dir` has neither (not a cgroup, a root cgroup, or no freezer controller).
    pub fn at(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        let version = if dir.join(V1_STATE).is_file() {
            CgroupVersion::V1
        } else if dir.join(V2_FREEZE).is_file() {
            CgroupVersion::V2
        } else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a cgroup with a freezer", dir.display()),
            ));
        };
        Ok(Self { dir, version })
    }

    /// The freezer of the cgroup process `pid` is in (the v1 freezer's if it has one).
    ///
    /// # Errors
    /// The process is gone, or is in no freezable cgroup.
    pub fn of_pid(pid: u32) -> io::Result<Self> {
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
        let dir = cgroup_dir(&cgroups, &mounts)
            .ok_or_else(|| invalid(format!("process {pid} is in no freezable cgroup")))?;
        Self::at(dir)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Whether the cgroup is frozen now (v1: `FROZEN`; `FREEZING` is not yet).
    ///
    /// # Errors
    /// The cgroup is gone.
    pub fn is_frozen(&self) -> io::Result<bool> {
        match self.version {
            CgroupVersion::V1 => Ok(self.read(V1_STATE)?.trim() == "FROZEN"),
            CgroupVersion::V2 => Ok(v2_frozen(&self.read(V2_EVENTS)?)),
        }
    }

    /// Freezes every process of the cgroup and waits until all are stopped. On failure
    /// the cgroup is thawed again (best effort), so it is never left half frozen.
    ///
    /// # Errors
    /// The cgroup is gone, or did not freeze within the timeout.
    pub async fn freeze(&self) -> io::Result<()> {
        let result = self.settle(true).await;
        if result.is_err() {
            let _ = self.write_state(false);
        }
        result
    }

    /// Thaws the cgroup and waits until it runs again; succeeds at once when it was not
    /// frozen.
    ///
    /// # Errors
    /// The cgroup is gone, or did not thaw within the timeout.
    pub async fn thaw(&self) -> io::Result<()> {
        self.settle(false).await
    }

    /// Writes the wanted state and polls until it holds. v1 writes `FROZEN` again on each
    /// poll while `FREEZING`, as the kernel asks (a task that was busy is retried).
    async fn settle(&self, frozen: bool) -> io::Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut polls = 0u32;
        self.write_state(frozen)?;
        loop {
            if self.is_frozen()? == frozen {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not {} within {SETTLE_TIMEOUT:?}",
                        self.dir.display(),
                        if frozen { "freeze" } else { "thaw" }
                    ),
                ));
            }
            polls += 1;
            // Most changes settle at once; yield a few times before sleeping.
            if polls < 8 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if frozen && self.version == CgroupVersion::V1 {
                self.write_state(true)?;
            }
        }
    }

    fn write_state(&self, frozen: bool) -> io::Result<()> {
        let (file, value) = match (self.version, frozen) {
            (CgroupVersion::V1, true) => (V1_STATE, "FROZEN"),
            (CgroupVersion::V1, false) => (V1_STATE, "THAWED"),
            (CgroupVersion::V2, true) => (V2_FREEZE, "1"),
            (CgroupVersion::V2, false) => (V2_FREEZE, "0"),
        };
        std::fs::write(self.dir.join(file), value)
    }

    fn read(&self, file: &str) -> io::Result<String> {
        std::fs::read_to_string(self.dir.join(file))
    }
}

/// Whether `cgroup.events` says `frozen 1`.
fn v2_frozen(events: &str) -> bool {
    events
        .lines()
        .any(|l| l.split_once(' ') == Some(("frozen", "1")))
}

/// The cgroup directory to freeze for a process, from its `/proc/<pid>/cgroup` and the
/// reader's `/proc/self/mountinfo`: the v1 freezer hierarchy if mounted and the process
/// has a non-root cgroup in it, else the v2 hierarchy likewise; `None` otherwise.
fn cgroup_dir(cgroups: &str, mountinfo: &str) -> Option<PathBuf> {
    let mut v1 = None;
    let mut v2 = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == "freezer") {
            v1 = Some(path);
        }
    }
    let mount_of = |v2: bool| {
        mountinfo.lines().find_map(|line| {
            let (fields, fs) = line.split_once(" - ")?;
            let fields: Vec<&str> = fields.split(' ').collect();
            let mut fs = fs.split(' ');
            let (fstype, _source, options) = (fs.next()?, fs.next()?, fs.next().unwrap_or(""));
            let wanted = if v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && options.split(',').any(|o| o == "freezer")
            };
            if !wanted {
                return None;
            }
            Some((*fields.get(3)?, *fields.get(4)?))
        })
    };
    let join = |(root, mount): (&str, &str), path: &str| -> Option<PathBuf> {
        // The mount shows the hierarchy from `root` down; the process's path is absolute.
        let rel = if root == "/" {
            path
        } else {
            path.strip_prefix(root)?
        };
        let rel = rel.trim_start_matches('/');
        (!rel.is_empty() && !rel.split('/').any(|c| c == "..")).then(|| Path::new(mount).join(rel))
    };
    if let (Some(path), Some(mount)) = (v1, mount_of(false)) {
        if let Some(dir) = join(mount, path) {
            return Some(dir);
        }
    }
    join(mount_of(true)?, v2?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 21 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
30 25 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid - cgroup cgroup rw,freezer
";
    const PURE_V2: &str = "35 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";

    #[test]
    fn a_hybrid_host_uses_the_v1_freezer() {
        let cgroups =
            "6:freezer:/docker/abc\n4:memory:/docker/abc\n0::/system.slice/docker.service\n";
        assert_eq!(
            cgroup_dir(cgroups, HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/freezer/docker/abc"))
        );
    }

    #[test]
    fn a_pure_v2_host_uses_the_unified_hierarchy() {
        assert_eq!(
            cgroup_dir("0::/system.slice/docker-abc.scope\n", PURE_V2),
            Some(PathBuf::from(
                "/sys/fs/cgroup/system.slice/docker-abc.scope"
            ))
        );
        // Hybrid without a v1 freezer cgroup for the process: v2 beside.
        assert_eq!(
            cgroup_dir("6:freezer:/\n0::/rwhisk/x\n", HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified/rwhisk/x"))
        );
    }

    #[test]
    fn root_cgroups_and_unknown_mounts_are_refused() {
        assert_eq!(cgroup_dir("6:freezer:/\n0::/\n", HYBRID), None);
        assert_eq!(
            cgroup_dir("0::/a\n", "31 25 0:28 / /m rw - cgroup cgroup rw,memory\n"),
            None
        );
        assert_eq!(cgroup_dir("0::/../etc\n", PURE_V2), None);
        assert_eq!(cgroup_dir("garbage", PURE_V2), None);
    }

    #[test]
    fn a_mount_of_a_subtree_is_joined_below_its_root() {
        let nested =
            "40 25 0:29 /docker/outer /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n";
        assert_eq!(
            cgroup_dir("6:freezer:/docker/outer/inner\n", nested),
            Some(PathBuf::from("/sys/fs/cgroup/freezer/inner"))
        );
        assert_eq!(cgroup_dir("6:freezer:/elsewhere\n", nested), None);
    }

    #[test]
    fn v2_events_are_read_by_line() {
        assert!(v2_frozen("populated 1\nfrozen 1\n"));
        assert!(!v2_frozen("populated 1\nfrozen 0\n"));
        assert!(!v2_frozen(""));
    }

    /// A real cgroup made for one test under a hierarchy's mount, holding a `sleep`,
    /// removed (process killed first) when dropped.
    struct TestCgroup {
        dir: PathBuf,
        child: std::process::Child,
    }

    impl TestCgroup {
        /// `None` (with the reason printed) where this cannot run: not root, or the
        /// hierarchy is not mounted there.
        fn make(mount: &str, marker: &str) -> Option<Self> {
            if !rustix::process::geteuid().is_root() {
                // CI runs as root: a skip there would pass without having run.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "creating a cgroup needs root, and CI runs as root"
                );
                eprintln!("skipped: creating a cgroup needs root");
                return None;
            }
            if !Path::new(mount).join(marker).exists() {
                eprintln!("skipped: no cgroup hierarchy with {marker} at {mount}");
                return None;
            }
            let dir =
                Path::new(mount).join(format!("rwhisk-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir(&dir).expect("create the test cgroup");
            let child = std::process::Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("start sleep");
            std::fs::write(dir.join("cgroup.procs"), child.id().to_string())
                .expect("move sleep into the test cgroup");
            Some(Self { dir, child })
        }

        /// The process's state letter from `/proc/<pid>/stat`-like status.
        fn task_state(&self) -> String {
            let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
                .unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("State:"))
                .unwrap_or("")
                .trim()
                .to_owned()
        }
    }

    impl Drop for TestCgroup {
        fn drop(&mut self) {
            let _ = Freezer::at(&self.dir).map(|f| f.write_state(false));
            let _ = self.child.kill();
            let _ = self.child.wait();
            // The kernel may take a moment to empty the cgroup.
            for _ in 0..100 {
                if std::fs::remove_dir(&self.dir).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!("test cgroup {} left behind", self.dir.display());
        }
    }

    async fn freeze_and_thaw(cg: &TestCgroup, version: CgroupVersion) {
        let freezer = Freezer::of_pid(cg.child.id()).expect("freezer of the process");
        assert_eq!(freezer.dir(), cg.dir);
        assert_eq!(freezer.version(), version);
        assert!(!freezer.is_frozen().unwrap());
        freezer.freeze().await.expect("freeze");
        assert!(freezer.is_frozen().unwrap());
        // A frozen task shows in D state (v1) or stays stopped in the freezer (v2); either
        // way the freezer says so and a second freeze is a no-op.
        freezer.freeze().await.expect("freeze again");
        freezer.thaw().await.expect("thaw");
        assert!(!freezer.is_frozen().unwrap());
        // Thawed: sleeping again, or still running from the wake-up (never stopped or in
        // the uninterruptible wait a v1 freeze shows).
        let state = cg.task_state();
        assert!(state.starts_with('S') || state.starts_with('R'), "{state}");
        freezer.thaw().await.expect("thaw again");
    }

    #[tokio::test]
    async fn a_v1_cgroup_freezes_and_thaws() {
        let Some(cg) = TestCgroup::make("/sys/fs/cgroup/freezer", V1_STATE) else {
            return;
        };
        freeze_and_thaw(&cg, CgroupVersion::V1).await;
    }

    #[tokio::test]
    async fn a_v2_cgroup_freezes_and_thaws() {
        // Pure v2 hosts mount it at /sys/fs/cgroup; hybrid ones at .../unified.
        let mount = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .find(|m| Path::new(m).join("cgroup.controllers").exists());
        let Some(cg) = mount.and_then(|m| TestCgroup::make(m, "cgroup.controllers")) else {
            eprintln!("skipped: no cgroup v2 hierarchy (or not root)");
            return;
        };
        // On a hybrid host the process also sits in the root v1 freezer: `of_pid` picks v2.
        freeze_and_thaw(&cg, CgroupVersion::V2).await;
    }

    #[tokio::test]
    async fn a_frozen_v1_task_dies_of_sigkill_only_once_thawed() {
        let Some(mut cg) = TestCgroup::make("/sys/fs/cgroup/freezer", V1_STATE) else {
            return;
        };
        let freezer = Freezer::at(&cg.dir).unwrap();
        freezer.freeze().await.unwrap();
        cg.child.kill().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            cg.child.try_wait().unwrap().is_none(),
            "a frozen task should not die before it is thawed"
        );
        freezer.thaw().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while cg.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the thawed task did not die");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_directory_without_a_freezer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = Freezer::at(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(Freezer::of_pid(u32::MAX).is_err());
    }
}
