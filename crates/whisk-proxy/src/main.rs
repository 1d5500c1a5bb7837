//! The `whisk-proxy` binary: reads its settings from the environment and serves until
//! SIGTERM or SIGINT. It prints nothing of its own at start-up, since everything it writes
//! lands in the container log that the invoker reads as activation logs.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match whisk_proxy::ProxyConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("whisk-proxy: {err}");
            return ExitCode::FAILURE;
        }
    };
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
