//! A `nats-server` with JetStream that a test starts for itself (feature `test-util`).
//!
//! [`TestNats::start`] runs `nats-server -a 127.0.0.1 -p <free port> -js -sd <temp dir>`
//! and waits until it answers with JetStream on. The test can stop and start it again on
//! the same port and store directory (what a restart of the server looks like to clients),
//! and it is killed when the value is dropped. The server's output goes to `nats.log` in
//! the directory.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The largest message the test server takes: activation messages carry parameters of up
/// to a few MB, beyond core NATS's default of 1 MB.
const MAX_PAYLOAD: &str = "8MB";

/// A running (or stopped) `nats-server` of one test.
#[derive(Debug)]
pub struct TestNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Where the server binary is: on `PATH`, or where Debian's package puts it.
fn binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
    for dir in candidates {
        let path = dir.join("nats-server");
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "nats-server is not installed: run scripts/setup-host.sh (it installs Debian's \
         nats-server package), then run the tests again"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl TestNats {
    /// Starts a server on a free port with its store in a new temporary directory.
    ///
    /// # Panics
    /// `nats-server` is missing (the message says how to install it) or does not answer.
    #[must_use]
    pub fn start() -> TestNats {
        Self::start_with("")
    }

    /// [`TestNats::start`] with more lines for the server's configuration file, such as
    /// `authorization { token: "..." }`.
    ///
    /// # Panics
    /// As [`TestNats::start`].
    #[must_use]
    pub fn start_with(config: &str) -> TestNats {
        let dir = tempfile::Builder::new()
            .prefix("whisk-nats-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::write(
            dir.path().join("nats.conf"),
            format!("max_payload: {MAX_PAYLOAD}\n{config}\n"),
        )
        .expect("writing nats.conf");
        let mut nats = TestNats {
            port: free_port(),
            dir,
            child: None,
        };
        nats.start_again();
        nats
    }

    /// `nats://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (kept across restarts).
    #[must_use]
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// Stops the server as an operator would (SIGTERM: it writes its state out and
    /// exits) and waits for it to exit. Does nothing if it is stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let terminated = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|pid| {
                    rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
                });
            if terminated {
                let deadline = Instant::now() + READY_WITHIN;
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server (SIGKILL, as a crash: what JetStream wrote to its files stays,
    /// state it had not written yet, such as recent acknowledgements, is lost) and waits for
    /// it to exit. Does nothing if it is stopped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store directory, and waits until it
    /// answers. Does nothing if it runs.
    ///
    /// # Panics
    /// The server does not start or answer.
    pub fn start_again(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))
            .expect("opening nats.log");
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        self.wait_ready();
    }

    /// [`TestNats::stop`] then [`TestNats::start_again`].
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Waits until the server sends its greeting with JetStream enabled.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "nats-server exited ({status}) on port {}; its log:\n{}",
                        self.port,
                        self.log()
                    );
                }
            }
            if greeting_has_jetstream(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not answer on port {} within {READY_WITHIN:?}; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// The temporary directory holding the configuration, log and store.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// True when a server on `port` answers with an `INFO` line that says JetStream is on.
fn greeting_has_jetstream(port: u16) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) => line.starts_with("INFO ") && line.contains("\"jetstream\":true"),
        Err(_) => false,
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.kill();
    }
}
