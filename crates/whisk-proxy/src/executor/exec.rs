//! The exec-per-run executor: each activation starts `exec` anew.
//!
//! The argument's JSON goes on argv\[1\] when the kernel allows it (at most 131071 bytes,
//! MAX_ARG_STRLEN less the terminating NUL) and always on stdin, followed by a newline.
//! The program's stderr and all but its last stdout line are forwarded to the proxy's own
//! streams as they arrive; its last stdout line is the result. Its exit status does not
//! matter, only its output does (as in the skeleton).
//!
//! Every run is a process of its own, so runs may go at once: given
//! `__OW_ALLOW_CONCURRENT=true` in `/init`'s `value.env`, `/init` says so and the proxy
//! runs them concurrently, each with its own tagged log handles.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::Failure;
use crate::env::{self, EnvPair};
use crate::install::{self, Layout};
use crate::logs::{Logs, StreamLog};
use crate::output::{parse_result_line, LastLineSplitter};
use whisk_protocol::{InitRequest, RunRequest, ENV_ALLOW_CONCURRENT};

/// The longest single argument Linux accepts (MAX_ARG_STRLEN is 131072 with the NUL).
pub(crate) const MAX_ARG_LEN: usize = 131_071;

/// How often a spawn that meets "text file busy" is retried.
const BUSY_RETRIES: u32 = 20;

/// Runs `exec` from the action directory once per activation.
#[derive(Debug, Clone)]
pub(crate) struct ExecPerRun {
    /// The action directory; the program is `dir/exec` and runs with `dir` as its cwd.
    dir: PathBuf,
    /// `/init`'s `value.env`, given to every run.
    init_env: Vec<EnvPair>,
    /// `/init` allowed concurrent runs.
    pub(crate) concurrent: bool,
}

impl ExecPerRun {
    /// An executor for the program in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            init_env: Vec::new(),
            concurrent: false,
        }
    }

    /// Installs the code (or checks the image's `exec`) and keeps `value.env` for the runs.
    /// True when runs may go at once.
    pub(crate) async fn init(
        &mut self,
        request: InitRequest,
        logs: &Logs,
    ) -> Result<bool, Failure> {
        match super::install_code(&self.dir, &request, Layout::Exec).await {
            Ok(_exec) => {
                self.init_env = env::init_env(&request.env);
                self.concurrent =
                    request.env.get(ENV_ALLOW_CONCURRENT) == Some(&Value::String("true".into()));
                Ok(self.concurrent)
            }
            Err(err) => {
                logs.err.line(&format!("whisk-proxy: /init failed: {err}"));
                Err(Failure::InitFailed)
            }
        }
    }

    /// Runs `exec` once with the environment: `value.env`, then the run's `__OW_*` keys.
    pub(crate) async fn run(&self, request: &RunRequest, logs: &Logs) -> Result<Value, Failure> {
        let exec = install::locate(&self.dir).map_err(|err| {
            logs.err
                .line(&format!("whisk-proxy: cannot run the action: {err}"));
            Failure::NoBinary
        })?;
        let mut env = self.init_env.clone();
        env.extend(env::run_env(&request.context));
        let input = request.value.to_string();
        let mut child = spawn(&exec, &self.dir, &input, &env).await.map_err(|err| {
            logs.err.line(&format!(
                "whisk-proxy: cannot start {}: {err}",
                exec.display()
            ));
            Failure::NoBinary
        })?;

        let Logs { out, err } = logs;
        let (last, status) = collect(&mut child, input, out, err).await;
        match parse_result_line(&last) {
            Some(result) => Ok(result),
            None => {
                // The skeleton logs a bad result line, so the developer can see it.
                if !last.is_empty() {
                    let mut line = last;
                    line.push(b'\n');
                    out.write(&line);
                }
                match status {
                    Ok(status) if !status.success() => {
                        err.line(&format!("whisk-proxy: the action ended with {status}"));
                    }
                    Ok(_) => {}
                    Err(e) => err.line(&format!("whisk-proxy: cannot wait for the action: {e}")),
                }
                Err(Failure::BadResult)
            }
        }
    }
}

/// Starts `exec` with the argument on argv\[1\] if it fits, and pipes on all three streams.
async fn spawn(exec: &Path, dir: &Path, input: &str, env: &[EnvPair]) -> io::Result<Child> {
    let mut with_arg = input.len() <= MAX_ARG_LEN;
    let mut busy = 0;
    loop {
        let mut command = Command::new(exec);
        if with_arg {
            command.arg(OsStr::new(input));
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match command.spawn() {
            Ok(child) => return Ok(child),
            // The argument plus the environment exceed the kernel's limit: stdin only.
            Err(err) if err.kind() == io::ErrorKind::ArgumentListTooLong && with_arg => {
                with_arg = false;
            }
            // Another process still holds the file open for writing (a fork racing with
            // the write); it goes away on that process's exec.
            Err(err) if err.kind() == io::ErrorKind::ExecutableFileBusy && busy < BUSY_RETRIES => {
                busy += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Feeds stdin, forwards logs, waits for the end of both streams and the process.
/// Returns the last stdout line and the exit status.
async fn collect(
    child: &mut Child,
    input: String,
    out: &StreamLog,
    err: &StreamLog,
) -> (Vec<u8>, io::Result<std::process::ExitStatus>) {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let feed = async move {
        if let Some(mut stdin) = stdin {
            let mut bytes = input.into_bytes();
            bytes.push(b'\n');
            // The program may exit without reading its input: a broken pipe is fine.
            let _ = stdin.write_all(&bytes).await;
        }
    };
    let read_out = async {
        let mut splitter = LastLineSplitter::default();
        pump(stdout, |chunk| out.write(&splitter.push(chunk))).await;
        let (rest, last) = splitter.finish();
        out.write(&rest);
        last
    };
    let read_err = pump(stderr, |chunk| err.write(chunk));

    let ((), last, ()) = tokio::join!(feed, read_out, read_err);
    (last, child.wait().await)
}

/// Reads `source` to its end, handing each chunk to `sink`.
async fn pump(source: Option<impl AsyncRead + Unpin>, mut sink: impl FnMut(&[u8])) {
    let Some(mut source) = source else { return };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match source.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
