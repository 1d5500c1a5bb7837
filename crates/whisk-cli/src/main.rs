//! `wsk`: parses the command line and runs it; see the `whisk_cli` library.

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The local offset, for the times tables and summaries show.
    let offset = whisk_cli::local_offset();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.iter().any(|a| a == "-d" || a == "--debug") {
        init_debug_logging();
    }
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let env = whisk_cli::ProcessEnv;
    let style = whisk_cli::Style::detect(out.is_terminal(), &env);
    let code = whisk_cli::main_with_style(args, &env, &mut out, &mut err, offset, style);
    ExitCode::from(code)
}

/// `--debug`: the client's tracing events on stderr (`RUST_LOG` can narrow them).
fn init_debug_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
