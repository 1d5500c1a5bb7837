//! The actionloop executor: one long-lived process per container, as in OpenWhisk's
//! ActionLoop proxy, so a warm `/run` costs a line over a pipe instead of a fork and exec.
//!
//! # The process
//!
//! `/init` installs the code, then starts the process with the container's environment,
//! `/init`'s `value.env` and `__OW_WAIT_FOR_ACK=1`:
//! - with a launcher (`WHISK_LAUNCHER`): `LAUNCHER <code path> <main>`, where the code path
//!   is the single source file (`/action/index.js`) or the action directory (a zip, or code
//!   the image brought) and `main` is `/init`'s `value.main` (default `main`);
//! - without one: `/action/exec` with no arguments (an ActionLoop program of its own, as
//!   OpenWhisk's Go runtime builds them).
//!
//! A `/run` before any successful `/init` starts it the same way with no `value.env` and
//! `main`, as exec-per-run runs the image's own `exec`.
//!
//! # The child's protocol (file descriptors)
//!
//! 1. Start-up: it writes one line on fd 3. `{"ok":true}` means ready. A JSON string (or an
//!    object with `error`) means it cannot start: `/init` answers 502 with that error. If it
//!    ends first, `/init` answers 502 "did not initialize and exited unexpectedly".
//! 2. Per activation it reads one line on stdin: the whole `/run` body as compact JSON
//!    (`{"value":...,"namespace":...,"activation_id":...}`, so no raw newline inside), and
//!    writes exactly one line on fd 3:
//!    - a JSON object or array: the result, answered 200 (an object with `error` is an
//!      application error; the invoker decides that);
//!    - a JSON string: a developer error with that message, answered 502 `{"error": ...}`
//!      (our launchers use it for a throw and for a result that is not a dictionary);
//!    - anything else: 502 "The action did not return a dictionary or array.".
//! 3. Its stdout and stderr are the activation's logs. Whatever it wrote there before its
//!    result line reaches the container log before the sentinel: after the line arrives, the
//!    proxy empties both pipes before it answers.
//!
//! # Concurrent runs
//!
//! Given `__OW_ALLOW_CONCURRENT=true` (in `/init`'s `value.env`), a launcher that can serve
//! several runs at once acknowledges with `{"ok":true,"concurrent":true}`; `/init` then
//! answers the same, and runs go to the process at once, tagged (see `mux.rs`). A program
//! that acknowledges with a plain `{"ok":true}` gets one run at a time, as always, and the
//! invoker, reading the plain `/init` reply, sends it one activation at a time.
//!
//! # Crashes
//!
//! A process that ends (or closes fd 3) during a `/run` gets that `/run` answered 502
//! "The action did not produce a valid response and exited unexpectedly." with a line in
//! the logs saying how it ended; the next `/run` starts it again with the same code and
//! `value.env`. (OpenWhisk's Go proxy answers 400 "command exited" and does not restart.)

mod forward;
mod lines;
pub(crate) mod mux;
mod process;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Failure;
use crate::config::EXEC_FILE;
use crate::env::{self, EnvPair};
use crate::install::Layout;
use crate::logs::Logs;
use whisk_protocol::{InitRequest, RunRequest, ERROR_KEY, KEY_CONCURRENT};

use mux::Mux;
use process::{Answer, LoopCommand, LoopProcess};

/// The entry point a launcher is given when `/init` names none.
const DEFAULT_MAIN: &str = "main";

/// Runs every activation in one long-lived process.
#[derive(Debug)]
pub(crate) struct ActionLoop {
    /// The action directory: code goes there, and the process runs there.
    dir: PathBuf,
    /// The language launcher; `None` runs `dir/exec` itself.
    launcher: Option<PathBuf>,
    /// The file name single-file code is written to for the launcher.
    source_file: String,
    /// How the process is (re)started: set by a successful `/init`.
    command: Option<LoopCommand>,
    /// The running process, if any.
    process: Option<LoopProcess>,
    /// The process serving concurrent runs, when its launcher said it can.
    mux: Option<Arc<Mux>>,
}

impl ActionLoop {
    /// An executor for the action in `dir`.
    pub(crate) fn new(dir: PathBuf, launcher: Option<PathBuf>, source_file: String) -> Self {
        Self {
            dir,
            launcher,
            source_file,
            command: None,
            process: None,
            mux: None,
        }
    }

    /// Installs the code and starts the process; ready when it has acknowledged. True when
    /// it serves concurrent runs.
    pub(crate) async fn init(
        &mut self,
        request: InitRequest,
        logs: &Logs,
    ) -> Result<bool, Failure> {
        // The new code replaces whatever ran before (a `/run` without `/init`, say).
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
        if let Some(mux) = self.mux.take() {
            mux.stop().await;
        }
        let layout = match self.launcher {
            Some(_) => Layout::Source(&self.source_file),
            None => Layout::Exec,
        };
        let path = match super::install_code(&self.dir, &request, layout).await {
            Ok(path) => path,
            Err(err) => {
                logs.err.line(&format!("whisk-proxy: /init failed: {err}"));
                return Err(match self.launcher {
                    Some(_) => {
                        Failure::Reported(format!("Initialization has failed due to: {err}"))
                    }
                    None => Failure::InitFailed,
                });
            }
        };
        let main = request
            .main
            .as_deref()
            .filter(|main| !main.trim().is_empty())
            .unwrap_or(DEFAULT_MAIN);
        let command = self.command(path, main, env::init_env(&request.env));
        let (process, concurrent) = start(&command, logs).await?;
        self.command = Some(command);
        if concurrent {
            self.mux = Some(Arc::new(Mux::new(process)));
        } else {
            self.process = Some(process);
        }
        Ok(concurrent)
    }

    /// The process serving concurrent runs (started again if it ended), or `None` when
    /// runs go one at a time.
    pub(crate) async fn concurrent(&mut self, logs: &Logs) -> Option<Result<Arc<Mux>, Failure>> {
        let mux = self.mux.as_ref()?;
        if mux.is_running() {
            return Some(Ok(Arc::clone(mux)));
        }
        mux.stop().await;
        let command = self.command.clone()?;
        Some(match start(&command, logs).await {
            Ok((process, true)) => {
                let mux = Arc::new(Mux::new(process));
                self.mux = Some(Arc::clone(&mux));
                Ok(mux)
            }
            Ok((process, false)) => {
                process.stop().await;
                Err(Failure::StartFailed)
            }
            Err(failure) => Err(failure),
        })
    }

    /// Sends the activation to the process (started or restarted first when needed).
    pub(crate) async fn run(&mut self, request: RunRequest, logs: &Logs) -> Result<Value, Failure> {
        let running = self.process.as_mut().is_some_and(LoopProcess::is_running);
        let mut process = match self.process.take() {
            Some(process) if running => process,
            ended => {
                if let Some(process) = ended {
                    process.stop().await;
                }
                let command = match &self.command {
                    Some(command) => command.clone(),
                    None => self.command(self.dir.clone(), DEFAULT_MAIN, Vec::new()),
                };
                start(&command, logs).await?.0
            }
        };
        match process.exchange(&request_line(request)).await {
            Answer::Line(line) => {
                self.process = Some(process);
                result(&line, logs)
            }
            Answer::Ended(how) => {
                process.stop().await;
                logs.err.line(&format!(
                    "whisk-proxy: the action process ended ({how}) before writing its result; \
                     the next /run starts it again."
                ));
                Err(Failure::RunExited)
            }
        }
    }

    /// The command that starts the process for the code at `code` (see the module docs).
    fn command(&self, code: PathBuf, main: &str, env: Vec<EnvPair>) -> LoopCommand {
        let (program, args) = match &self.launcher {
            Some(launcher) => (
                launcher.clone(),
                vec![OsString::from(code), OsString::from(main)],
            ),
            None => (self.dir.join(EXEC_FILE), Vec::new()),
        };
        LoopCommand {
            program,
            args,
            env,
            dir: self.dir.clone(),
        }
    }
}

/// Starts the process and waits for its start-up acknowledgement; true when it serves
/// concurrent runs.
async fn start(command: &LoopCommand, logs: &Logs) -> Result<(LoopProcess, bool), Failure> {
    let mut process = LoopProcess::spawn(command, logs).map_err(|err| {
        logs.err.line(&format!(
            "whisk-proxy: cannot start {}: {err}",
            command.program.display()
        ));
        Failure::StartFailed
    })?;
    let answer = process.exchange(b"").await;
    match answer {
        Answer::Line(line) => match acknowledgement(&line, logs) {
            Ok(concurrent) => Ok((process, concurrent)),
            Err(failure) => {
                process.stop().await;
                Err(failure)
            }
        },
        Answer::Ended(how) => {
            process.stop().await;
            logs.err.line(&format!(
                "whisk-proxy: the action process ended ({how}) while starting."
            ));
            Err(Failure::InitExited)
        }
    }
}

/// The `/run` body as one line of compact JSON (which never holds a raw newline).
fn request_line(request: RunRequest) -> Vec<u8> {
    let mut line = request.into_body().to_string().into_bytes();
    line.push(b'\n');
    line
}

/// Reads the start-up line: `{"ok":true}` (with `"concurrent":true` when the process
/// serves runs at once), or the reason the action cannot start.
fn acknowledgement(line: &[u8], logs: &Logs) -> Result<bool, Failure> {
    match serde_json::from_slice::<Value>(line.trim_ascii()) {
        Ok(Value::Object(map)) if map.get("ok") == Some(&Value::Bool(true)) => {
            Ok(map.get(KEY_CONCURRENT) == Some(&Value::Bool(true)))
        }
        Ok(Value::String(message)) => Err(Failure::Reported(message)),
        Ok(Value::Object(map)) if map.contains_key(ERROR_KEY) => {
            Err(Failure::Reported(error_text(&map)))
        }
        _ => {
            logs.err.line(&format!(
                "whisk-proxy: the action's start-up line is not {{\"ok\":true}}: {}",
                String::from_utf8_lossy(line)
            ));
            Err(Failure::StartFailed)
        }
    }
}

/// The text of an object's `error` field: a string as it is, other values as JSON.
fn error_text(map: &Map<String, Value>) -> String {
    match map.get(ERROR_KEY) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Reads a result line (see the module docs).
fn result(line: &[u8], logs: &Logs) -> Result<Value, Failure> {
    match serde_json::from_slice::<Value>(line.trim_ascii()) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => Ok(value),
        Ok(Value::String(message)) => Err(Failure::Reported(message)),
        _ => {
            // As with exec-per-run: the developer gets to see what came instead.
            let mut shown = line.to_vec();
            shown.push(b'\n');
            logs.out.write(&shown);
            Err(Failure::BadResult)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_line_is_the_whole_body_on_one_line() {
        let request = whisk_protocol::parse_run(
            b"{\n  \"value\": {\"text\": \"two\\nlines\"},\n  \"namespace\": \"guest\"\n}",
        )
        .unwrap();
        let line = request_line(request);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"value": {"text": "two\nlines"}, "namespace": "guest"})
        );
    }

    #[test]
    fn results_strings_and_junk() {
        let logs = Logs::default();
        assert_eq!(result(br#"{"a":1}"#, &logs), Ok(json!({"a": 1})));
        assert_eq!(result(b"[1] \r", &logs), Ok(json!([1])));
        assert_eq!(
            result(br#"{"error":"app"}"#, &logs),
            Ok(json!({"error": "app"}))
        );
        assert_eq!(
            result(br#""An error has occurred: Error: boom""#, &logs),
            Err(Failure::Reported(
                "An error has occurred: Error: boom".into()
            ))
        );
        for junk in [&b"42"[..], b"null", b"", b"{", b"true"] {
            assert_eq!(result(junk, &logs), Err(Failure::BadResult));
        }
    }

    #[test]
    fn acknowledgements() {
        let logs = Logs::default();
        assert_eq!(acknowledgement(br#"{"ok":true}"#, &logs), Ok(false));
        assert_eq!(acknowledgement(b" {\"ok\": true}\r", &logs), Ok(false));
        assert_eq!(
            acknowledgement(br#"{"ok":true,"concurrent":true}"#, &logs),
            Ok(true)
        );
        assert_eq!(
            acknowledgement(br#""Initialization has failed due to: x""#, &logs),
            Err(Failure::Reported(
                "Initialization has failed due to: x".into()
            ))
        );
        assert_eq!(
            acknowledgement(br#"{"ok":false,"error":{"code":1}}"#, &logs),
            Err(Failure::Reported(r#"{"code":1}"#.into()))
        );
        for bad in [&br#"{"ok":false}"#[..], b"{}", b"ok", b"[]"] {
            assert_eq!(acknowledgement(bad, &logs), Err(Failure::StartFailed));
        }
    }
}
