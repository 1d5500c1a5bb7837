//! One action process of the actionloop executor: started with four pipes (requests on
//! stdin, logs on stdout and stderr, answers on fd 3), then spoken to a line at a time.
//!
//! The child's ends of the pipes are blocking (as programs expect of their stdio); the
//! proxy's ends are non-blocking and driven by tokio. Every pipe is created close-on-exec,
//! so the child's fd 3 is put in place by a `dup2` between fork and exec, and no other
//! process inherits it: when the process ends, fd 3 reads end-of-file.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStdin, Command};

use super::forward::Forwarder;
use super::lines::{LineReader, PipeReader};
use crate::env::EnvPair;
use crate::logs::Logs;

/// The file descriptor the process writes its answers to.
const RESULT_FD: RawFd = 3;
/// Set in the process's environment: it acknowledges start-up with `{"ok":true}` on fd 3.
const ENV_WAIT_FOR_ACK: &str = "__OW_WAIT_FOR_ACK";
/// How often a spawn that meets "text file busy" is retried.
const BUSY_RETRIES: u32 = 20;

/// How to start the process.
#[derive(Debug, Clone)]
pub(super) struct LoopCommand {
    /// The program: the launcher, or the action's `exec`.
    pub(super) program: PathBuf,
    /// Its arguments.
    pub(super) args: Vec<OsString>,
    /// Added to the proxy's environment (`/init`'s `value.env`).
    pub(super) env: Vec<EnvPair>,
    /// The working directory (the action directory).
    pub(super) dir: PathBuf,
}

/// What a request to the process came to.
#[derive(Debug)]
pub(super) enum Answer {
    /// A line on fd 3, without its newline.
    Line(Vec<u8>),
    /// The process ended (or closed fd 3) first; how, for the logs.
    Ended(String),
}

/// A running action process.
#[derive(Debug)]
pub(super) struct LoopProcess {
    child: Child,
    stdin: ChildStdin,
    answers: LineReader,
    out: Forwarder,
    err: Forwarder,
}

/// What happened first while waiting for a line.
enum Event {
    Line(Option<Vec<u8>>),
    Exit(io::Result<ExitStatus>),
}

impl LoopProcess {
    /// Starts `command`; its stdout and stderr are forwarded to `logs` from now on.
    ///
    /// # Errors
    ///
    /// Creating the pipes or starting the program failed.
    pub(super) fn spawn(command: &LoopCommand, logs: &Logs) -> io::Result<Self> {
        let (out_write, out_read) = pipe::pipe()?;
        let (err_write, err_read) = pipe::pipe()?;
        let (answer_write, answer_read) = pipe::pipe()?;
        let answer_write = answer_write.into_blocking_fd()?;

        let mut process = Command::new(&command.program);
        process
            .args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .env(ENV_WAIT_FOR_ACK, "1")
            .current_dir(&command.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out_write.into_blocking_fd()?))
            .stderr(Stdio::from(err_write.into_blocking_fd()?))
            .kill_on_drop(true);
        give_as_fd3(&mut process, &answer_write);
        let mut child = spawn_retrying(&mut process)?;
        // Only the child may hold the writing ends, so that its end is end-of-file here.
        drop(process);
        drop(answer_write);

        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("the child has no stdin pipe"))?;
        Ok(Self {
            child,
            stdin,
            answers: LineReader::new(PipeReader::new(answer_read)?),
            out: Forwarder::start(PipeReader::new(out_read)?, logs.out.clone()),
            err: Forwarder::start(PipeReader::new(err_read)?, logs.err.clone()),
        })
    }

    /// Whether the process still runs.
    pub(super) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Writes `request` (nothing, for the start-up line) to the process's stdin and waits
    /// for its next line on fd 3, or its end. Before returning, everything it wrote to
    /// stdout and stderr so far has reached the proxy's streams.
    pub(super) async fn exchange(&mut self, request: &[u8]) -> Answer {
        let event = {
            let Self {
                child,
                stdin,
                answers,
                ..
            } = &mut *self;
            // Reading starts at once: a process may answer before it has read everything.
            let talk = async {
                let (_written, line) = tokio::join!(stdin.write_all(request), answers.next_line());
                line
            };
            tokio::select! {
                biased;
                line = talk => Event::Line(line),
                status = child.wait() => Event::Exit(status),
            }
        };
        let answer = match event {
            Event::Line(Some(line)) => Answer::Line(line),
            Event::Line(None) => {
                // Fd 3 is closed: the process can never answer again.
                let _ = self.child.start_kill();
                let status = self.child.wait().await;
                Answer::Ended(describe(status))
            }
            // A line written just before the end may still be in the pipe.
            Event::Exit(status) => match self.answers.line_now() {
                Some(line) => Answer::Line(line),
                None => Answer::Ended(describe(status)),
            },
        };
        self.flush_logs().await;
        answer
    }

    /// Waits until what the process wrote to stdout and stderr is in the proxy's streams.
    async fn flush_logs(&self) {
        tokio::join!(self.out.flush(), self.err.flush());
    }

    /// The process's parts, for serving concurrent runs ([`super::mux::Mux`]).
    pub(super) fn into_parts(self) -> (Child, ChildStdin, LineReader, Forwarder, Forwarder) {
        (self.child, self.stdin, self.answers, self.out, self.err)
    }

    /// Ends the process (if it still runs) and forwards the last of its output.
    pub(super) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.flush_logs().await;
    }
}

fn describe(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(err) => format!("its status is unknown: {err}"),
    }
}

/// Spawns, retrying while the program file is still open for writing somewhere.
fn spawn_retrying(command: &mut Command) -> io::Result<Child> {
    let mut busy = 0;
    loop {
        match command.spawn() {
            Err(err) if err.kind() == io::ErrorKind::ExecutableFileBusy && busy < BUSY_RETRIES => {
                busy += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

/// Makes `fd` the child's file descriptor 3.
///
/// The one `unsafe` block of the library: `pre_exec` is the only way the standard library
/// offers to place a descriptor at a given number in the child.
#[allow(unsafe_code)]
fn give_as_fd3(command: &mut Command, fd: &OwnedFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec. It calls only `dup2` and
    // `fcntl`, which are async-signal-safe, allocates nothing and takes no lock. `fd` stays
    // open in the parent until `spawn` has returned (the caller drops it afterwards).
    unsafe {
        command.pre_exec(move || {
            let result = if fd == RESULT_FD {
                // `dup2` onto itself would keep close-on-exec: clear the flag instead.
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                // The copy `dup2` makes is not close-on-exec.
                libc::dup2(fd, RESULT_FD)
            };
            if result == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
