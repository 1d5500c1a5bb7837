//! Test harness (feature `test-util`): a real PostgreSQL server started by the test itself,
//! on loopback, on a free port, in a temporary directory, and a fresh database per test.
//!
//! - [`TestPostgres::new`] starts a server of the test's own (needed to [`TestPostgres::stop`],
//!   [`TestPostgres::start`] or [`TestPostgres::restart`] it, as chaos tests do).
//! - [`TestPostgres::shared`] gives a fresh database on a server shared by the tests of one
//!   test binary that run at the same time; the server stops when the last of them drops
//!   its handle, so nothing outlives the tests and parallel tests start one server, not one each.
//!
//! The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest installed);
//! `scripts/setup-host.sh` installs them. PostgreSQL refuses to run as root, so when the
//! tests run as root `initdb` and `postgres` run as the user `postgres` (the data directory
//! is chowned to it). They are started as direct children with that uid, not through
//! `runuser`, whose session process would stand between the harness and the server and
//! keep it from signalling the server. Settings favour speed over durability (`fsync=off`):
//! the data is thrown away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// How long a server may take to start or stop before the harness gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// The server shared by the tests of this binary running at the same time.
static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

/// A database on a PostgreSQL server started for tests; the server stops when the last
/// handle to it is dropped.
#[derive(Debug)]
pub struct TestPostgres {
    server: Arc<Server>,
    database: String,
    /// A shared server cannot be stopped by one of its tests.
    own: bool,
}

impl TestPostgres {
    /// Starts a server of this test's own and creates a fresh database on it.
    ///
    /// # Panics
    /// When PostgreSQL is not installed (run `scripts/setup-host.sh`) or does not start.
    pub async fn new() -> TestPostgres {
        let server = tokio::task::spawn_blocking(|| Arc::new(Server::launch()))
            .await
            .expect("starting PostgreSQL");
        Self::on(server, true).await
    }

    /// A fresh database on the server shared by the tests of this binary (started if none
    /// runs).
    ///
    /// # Panics
    /// As [`TestPostgres::new`].
    pub async fn shared() -> TestPostgres {
        let server = tokio::task::spawn_blocking(|| {
            let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(server) = shared.upgrade() {
                return server;
            }
            let server = Arc::new(Server::launch());
            *shared = Arc::downgrade(&server);
            server
        })
        .await
        .expect("starting PostgreSQL");
        Self::on(server, false).await
    }

    async fn on(server: Arc<Server>, own: bool) -> TestPostgres {
        let database = server.create_database().await;
        TestPostgres {
            server,
            database,
            own,
        }
    }

    /// The URL of this test's database (`postgres://postgres@127.0.0.1:PORT/NAME`).
    pub fn url(&self) -> String {
        self.server.url(&self.database)
    }

    /// The loopback port of the server.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Creates another fresh database on the same server and returns its URL.
    pub async fn new_database(&self) -> String {
        let name = self.server.create_database().await;
        self.server.url(&name)
    }

    /// Stops the server (fast shutdown: connections are cut) and waits until it is gone.
    /// The data is kept for [`TestPostgres::start`].
    ///
    /// # Panics
    /// On a shared server, or when the server does not stop.
    pub async fn stop(&self) {
        let server = self.own_server("stop");
        tokio::task::spawn_blocking(move || server.stop(Signal::INT))
            .await
            .expect("stopping PostgreSQL");
    }

    /// Starts the stopped server again, on the same port and data.
    ///
    /// # Panics
    /// On a shared server, or when the server does not start.
    pub async fn start(&self) {
        let server = self.own_server("start");
        tokio::task::spawn_blocking(move || server.start())
            .await
            .expect("starting PostgreSQL");
    }

    /// [`TestPostgres::stop`], then [`TestPostgres::start`].
    pub async fn restart(&self) {
        self.stop().await;
        self.start().await;
    }

    fn own_server(&self, what: &str) -> Arc<Server> {
        assert!(
            self.own,
            "cannot {what} a shared PostgreSQL server: use TestPostgres::new()"
        );
        Arc::clone(&self.server)
    }
}

/// One running (or stopped) server and its files.
#[derive(Debug)]
struct Server {
    bin: PathBuf,
    /// Holds the data directory, the socket and the log; removed on drop.
    dir: tempfile::TempDir,
    /// Fixed once the server started; the same after a restart.
    port: AtomicU16,
    /// The user to run as (`postgres`) when the tests run as root.
    user: Option<(u32, u32)>,
    child: Mutex<Option<Child>>,
}

impl Server {
    /// Makes a data directory and starts a server on a free port.
    fn launch() -> Server {
        let bin = find_binaries();
        let user = if rustix::process::geteuid().is_root() {
            Some(postgres_user())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("whisk-pg-")
            .tempdir()
            .expect("temporary directory for PostgreSQL");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("chown of the PostgreSQL directory");
        }
        let data = dir.path().join("data");
        let mut initdb = as_user(Command::new(bin.join("initdb")), user);
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .stdout(Stdio::null());
        let out = initdb.output().expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = Server {
            bin,
            port: AtomicU16::new(free_port()),
            user,
            child: Mutex::new(None),
            dir,
        };
        // A port free now may be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            match server.try_start() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
            server.port.store(free_port(), Ordering::SeqCst);
        }
        panic!("PostgreSQL did not start: {last}");
    }

    fn start(&self) {
        if let Err(e) = self.try_start() {
            panic!("PostgreSQL did not start again: {e}");
        }
    }

    /// Starts the server and waits until it accepts connections.
    fn try_start(&self) -> Result<(), String> {
        let mut child = lock(&self.child);
        assert!(child.is_none(), "PostgreSQL is already running");
        let log_path = self.dir.path().join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("log file: {e}"))?;
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(&log_path, Some(uid), Some(gid))
                .map_err(|e| format!("chown of the log: {e}"))?;
        }
        let stderr = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = as_user(Command::new(self.bin.join("postgres")), self.user);
        cmd.arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port().to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let mut started = cmd.spawn().map_err(|e| format!("spawning postgres: {e}"))?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = started.try_wait() {
                return Err(format!("postgres exited ({status}): {}", self.log_tail()));
            }
            if self.is_ready() {
                *child = Some(started);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = started.kill();
                let _ = started.wait();
                return Err(format!("postgres not ready in time: {}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether `postmaster.pid` says the server accepts connections.
    fn is_ready(&self) -> bool {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .is_ok_and(|pid| pid.lines().nth(7).is_some_and(|s| s.trim() == "ready"))
    }

    /// Sends `signal` to the server and waits until it exits (killing it if it will not).
    fn stop(&self, signal: Signal) {
        let Some(mut child) = lock(&self.child).take() else {
            return;
        };
        if let Some(pid) = Pid::from_raw(child.id() as i32) {
            let _ = kill_process(pid, signal);
        }
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port())
    }

    /// Creates a database with a random name and returns the name.
    async fn create_database(&self) -> String {
        let name = format!("whisk_{}", uuid::Uuid::new_v4().simple());
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .expect("connecting to the test PostgreSQL server");
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        drop(client);
        let _ = connection.await;
        name
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Immediate shutdown: the data is thrown away with the directory.
        self.stop(Signal::QUIT);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn as_user(mut cmd: Command, user: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

const SETUP_HINT: &str = "PostgreSQL is needed by this test: run scripts/setup-host.sh \
                          (it installs Debian's postgresql package)";

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `postgres`.
fn find_binaries() -> PathBuf {
    newest_binaries(Path::new(POSTGRES_LIB))
        .unwrap_or_else(|| panic!("no {POSTGRES_LIB}/*/bin/postgres found. {SETUP_HINT}"))
}

/// Where Debian installs PostgreSQL, one directory per major version.
const POSTGRES_LIB: &str = "/usr/lib/postgresql";

/// The `bin` directory of the highest version under `lib` that has both binaries.
fn newest_binaries(lib: &Path) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The uid and gid of the user `postgres`, from `/etc/passwd`.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == "postgres")
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
        })
        .next()
        .unwrap_or_else(|| panic!("no user postgres to run the server as. {SETUP_HINT}"))
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_complete_installation_is_used() {
        let lib = tempfile::tempdir().unwrap();
        assert_eq!(newest_binaries(lib.path()), None, "nothing installed");
        assert_eq!(newest_binaries(&lib.path().join("absent")), None);
        for (version, files) in [
            ("9", &["initdb", "postgres"][..]),
            ("15", &["initdb", "postgres"][..]),
            ("16", &["initdb"][..]),
            ("latest", &["initdb", "postgres"][..]),
        ] {
            let bin = lib.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for f in files {
                std::fs::write(bin.join(f), "").unwrap();
            }
        }
        assert_eq!(
            newest_binaries(lib.path()),
            Some(lib.path().join("15").join("bin")),
            "16 lacks postgres, `latest` is no version"
        );
    }
}
