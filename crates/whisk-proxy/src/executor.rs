//! How an activation runs. The proxy holds one [`Executor`] and hands it each `/run`.
//!
//! Today there is one kind, [`ExecPerRun`]: a new process per activation, as the Docker
//! skeleton does. The "actionloop" kind (one long-lived process started at `/init`, the
//! `/run` body as a JSON line on its stdin, the result as a line on its fd 3) is meant to
//! be a second variant here, chosen at `/init`; the proxy around it stays the same.

mod exec;

use serde_json::Value;

use crate::env::EnvPair;
use crate::logs::Logs;
use crate::protocol::RunRequest;

pub(crate) use exec::ExecPerRun;

/// The ways a run can fail to produce a result; each maps to a fixed 502 reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunError {
    /// There is no program to run, or it cannot be started.
    NoBinary,
    /// The program ran but its result line is not a JSON object or array.
    BadResult,
}

/// Runs activations.
#[derive(Debug)]
pub(crate) enum Executor {
    /// A new process of `exec` per activation.
    ExecPerRun(ExecPerRun),
}

impl Executor {
    /// Runs one activation: `request.value` is the argument, `env` the extra variables.
    /// The program's logs go to `logs`; the caller writes the sentinel afterwards.
    pub(crate) async fn run(
        &mut self,
        request: &RunRequest,
        env: &[EnvPair],
        logs: &mut Logs,
    ) -> Result<Value, RunError> {
        match self {
            Executor::ExecPerRun(exec) => exec.run(request, env, logs).await,
        }
    }
}
