//! The whiskd under test: either one this run starts (`whiskd standalone` on a free
//! loopback port, in a temporary data directory, with the throttles lifted and no stem
//! cells unless asked), or one already running (`--apihost`/`--auth`). A started whiskd
//! is stopped with SIGTERM (it removes its containers) and its data directory deleted.
//!
//! A whiskd that exits before answering `/ping` (for example because it does not know a
//! flag a scenario needs yet) is reported as [`Start::Refused`] with the end of its log,
//! so the scenario can print "skipped" with the reason instead of failing.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How long a started whiskd has to answer `/ping`.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How long a stopped whiskd has to exit after SIGTERM before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(30);
/// Lines of whiskd's log quoted when it refused to start.
const LOG_TAIL_LINES: usize = 6;

/// Flags every started whiskd gets unless the scenario or `--whiskd-arg` gives the same
/// flag: no throttling of the load, no prewarmed containers.
const BENCH_FLAGS: &[(&str, Option<&str>)] = &[
    ("--no-https", None),
    ("--invocations-per-minute", Some("100000000")),
    ("--concurrent-invocations", Some("100000")),
    ("--fires-per-minute", Some("100000000")),
    ("--stem-cells", Some("0")),
];

/// The command line of `whiskd standalone`: the fixed part, the bench flags nobody
/// overrides, then `extra` and `flags`.
fn command_line(
    data_dir: &Path,
    http_addr: &str,
    extra: &[String],
    flags: &[String],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "standalone".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--http-addr".into(),
        http_addr.to_owned(),
    ];
    let given = |name: &str| {
        extra
            .iter()
            .chain(flags)
            .any(|a| a == name || a.starts_with(&format!("{name}=")))
    };
    for (name, value) in BENCH_FLAGS {
        if !given(name) {
            args.push((*name).to_owned());
            args.extend(value.map(str::to_owned));
        }
    }
    args.extend(extra.iter().cloned());
    args.extend(flags.iter().cloned());
    args
}

/// How to get a whiskd.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start `bin standalone` with `extra` flags after the bench flags (each scenario adds
    /// its own after these).
    Spawn { bin: PathBuf, extra: Vec<String> },
    /// Use a running one; `pid` (when known) gives its CPU time.
    External {
        apihost: String,
        auth: String,
        pid: Option<u32>,
    },
}

impl Target {
    /// Whether this target starts its own whiskd (scenarios that need particular flags
    /// need one).
    pub fn spawns(&self) -> bool {
        matches!(self, Self::Spawn { .. })
    }
}

/// A whiskd to send load to.
#[derive(Debug)]
pub struct Whiskd {
    /// `http://127.0.0.1:PORT`.
    pub apihost: String,
    /// `uuid:key` of the guest namespace.
    pub auth: String,
    /// Its process id, for its CPU time.
    pub pid: Option<u32>,
    /// The `rwhisk.invoker` label of its containers (`<instance>-0`), when started here.
    pub invoker_label: Option<String>,
    /// The command line it was started with (for the report).
    pub command: String,
    child: Option<Child>,
    data: Option<tempfile::TempDir>,
}

/// The outcome of starting a whiskd.
#[derive(Debug)]
pub enum Start {
    /// It answers.
    Up(Whiskd),
    /// It exited before answering: the reason (end of its log).
    Refused(String),
}

impl Whiskd {
    /// Starts (or connects to) a whiskd with `flags` added to the target's flags and
    /// `env` set (`NAME=value`). A running whiskd cannot take flags (refused) and keeps
    /// its environment (`env` is ignored: scenarios that depend on it refuse external
    /// targets themselves).
    ///
    /// # Errors
    /// The binary cannot be run, or it neither answers nor exits within a minute.
    pub async fn start(target: &Target, flags: &[String], env: &[(&str, &str)]) -> Result<Start> {
        match target {
            Target::External { apihost, auth, pid } => {
                if !flags.is_empty() {
                    return Ok(Start::Refused(format!(
                        "needs whiskd started with {} (run without --apihost)",
                        flags.join(" ")
                    )));
                }
                Ok(Start::Up(Self {
                    apihost: apihost.clone(),
                    auth: auth.clone(),
                    pid: *pid,
                    invoker_label: None,
                    command: format!("(running at {apihost})"),
                    child: None,
                    data: None,
                }))
            }
            Target::Spawn { bin, extra } => spawn(bin, extra, flags, env).await,
        }
    }

    /// The guest namespace's client (whisk-client, no request timeout beyond its own).
    ///
    /// # Errors
    /// A malformed API host.
    pub fn client(&self) -> Result<whisk_client::Client> {
        let config = whisk_client::ClientConfig::new(self.apihost.clone()).with_auth(&self.auth);
        whisk_client::Client::new(config).context("building the whisk client")
    }

    /// The data directory of a whiskd started here.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_ref().map(tempfile::TempDir::path)
    }

    /// Stops a whiskd started here (SIGTERM, then SIGKILL after 30 s) and removes its data
    /// directory; nothing for an external one.
    pub fn stop(mut self) {
        self.stop_child();
    }

    fn stop_child(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Whiskd {
    fn drop(&mut self) {
        self.stop_child();
    }
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The last `n` lines of `text`, joined with " | ".
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

async fn spawn(
    bin: &Path,
    extra: &[String],
    flags: &[String],
    env: &[(&str, &str)],
) -> Result<Start> {
    let data = tempfile::Builder::new()
        .prefix("rwhisk-loadgen.")
        .tempdir()
        .context("making a data directory")?;
    let port = free_port()?;
    let http_addr = format!("127.0.0.1:{port}");
    let log_path = data.path().join("whiskd.log");
    let log = std::fs::File::create(&log_path).context("creating whiskd.log")?;
    let args = command_line(data.path(), &http_addr, extra, flags);
    let env_text: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    let command = format!("{env_text}{} {}", bin.display(), args.join(" "));
    let child = Command::new(bin)
        .args(&args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut whiskd = Whiskd {
        apihost: format!("http://{http_addr}"),
        auth: String::new(),
        pid: Some(child.id()),
        invoker_label: None,
        command,
        child: Some(child),
        data: Some(data),
    };
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let ping = format!("{}/ping", whiskd.apihost);
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        if let Some(child) = whiskd.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                whiskd.child = None;
                return Ok(Start::Refused(format!(
                    "whiskd exited ({status}): {}",
                    tail(&text, LOG_TAIL_LINES)
                )));
            }
        }
        if probe
            .get(&ping)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("{} did not answer {ping} within a minute", whiskd.command);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dir = whiskd.data_dir().context("data directory")?.to_owned();
    whiskd.auth = std::fs::read_to_string(dir.join("guest.key"))
        .context("reading guest.key of the started whiskd")?
        .trim()
        .to_owned();
    whiskd.invoker_label = std::fs::read_to_string(dir.join("instance"))
        .ok()
        .map(|i| format!("{}-0", i.trim()));
    Ok(Start::Up(whiskd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        assert_eq!(tail("a\n\nb\nc\n\n", 2), "b | c");
        assert_eq!(tail("only", 5), "only");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn bench_flags_give_way_to_the_same_flag_given_by_a_scenario_or_the_user() {
        let extra = vec!["--invocations-per-minute=5".to_owned()];
        let flags = vec!["--stem-cells".to_owned(), "nodejs:18=1".to_owned()];
        let args = command_line(Path::new("/d"), "127.0.0.1:1", &extra, &flags);
        let line = args.join(" ");
        assert!(line.starts_with("standalone --data-dir /d --http-addr 127.0.0.1:1 --no-https"));
        assert_eq!(line.matches("--stem-cells").count(), 1, "{line}");
        assert!(
            line.ends_with("--invocations-per-minute=5 --stem-cells nodejs:18=1"),
            "{line}"
        );
        assert!(line.contains("--fires-per-minute 100000000"), "{line}");
        assert!(
            !line.contains("--invocations-per-minute 100000000"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_binary_that_exits_at_once_is_refused_with_its_output() {
        // `false`-like: `sh -c` ignores the whiskd arguments and exits 3 after a message.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fake-whiskd");
        std::fs::write(
            &bin,
            "#!/bin/sh\necho \"error: unexpected argument '--factory'\" >&2\nexit 3\n",
        )
        .unwrap();
        let mut perm = std::fs::metadata(&bin).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&bin, perm).unwrap();
        let target = Target::Spawn { bin, extra: vec![] };
        match Whiskd::start(&target, &["--factory".into(), "runc".into()], &[])
            .await
            .unwrap()
        {
            Start::Refused(reason) => {
                assert!(
                    reason.contains("unexpected argument '--factory'"),
                    "{reason}"
                );
                assert!(reason.contains("exit status: 3"), "{reason}");
            }
            Start::Up(w) => panic!("a fake whiskd came up: {w:?}"),
        }
    }
}
