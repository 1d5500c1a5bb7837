//! The `whisk-proxy` binary: reads its settings from the environment and serves until
//! SIGTERM or SIGINT. It prints nothing of its own at start-up, since everything it writes
//! lands in the container log that the invoker reads as activation logs.
//!
//! Before anything else it hides the container's token from the action (see
//! [`hide_token`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match whisk_proxy::ProxyConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("whisk-proxy: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = hide_token() {
        eprintln!("whisk-proxy: cannot protect the container's token: {err}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("whisk-proxy: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(whisk_proxy::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("whisk-proxy: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps the token (read into the config already) out of the action's reach: removes it
/// from the environment the action's processes inherit, and makes this process
/// non-dumpable, so its memory and its original environment (`/proc/1/environ`) cannot be
/// read by the action's processes (that needs `CAP_SYS_PTRACE`, which containers lack).
///
/// Runs before the async runtime starts, while the process has a single thread.
#[allow(unsafe_code)]
fn hide_token() -> std::io::Result<()> {
    std::env::remove_var(whisk_proxy::config::ENV_TOKEN);
    // SAFETY: `prctl(PR_SET_DUMPABLE, 0)` takes integer arguments only and changes a flag of
    // this process; it touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
