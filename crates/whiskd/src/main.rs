//! `whiskd`: the rwhisk server. The roles live in the `whiskd` library; this is its thin
//! `main` (config file, logging, exit status).

use clap::Parser;

fn main() -> std::process::ExitCode {
    return_large_allocations_to_the_system();
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(path) = whiskd::config_file::path_from_args(&raw) {
        if let Err(err) = whiskd::config_file::load(&path) {
            eprintln!("error: {err:#}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let cli = whiskd::Cli::parse_from(raw);
    init_tracing();
    let result = whiskd::run(cli);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("Caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Makes glibc's malloc serve every allocation of 1 MiB or more with its own mapping,
/// unmapped when freed. By default the threshold rises to the largest block freed (up to
/// 32 MiB), after which such blocks come from per-thread arenas that keep them: each
/// Argon2 key check (19 MiB) or large request body, run on whichever blocking thread,
/// then stays resident in up to 8 arenas per core. The soak (scripts/soak.sh) saw RSS grow
/// from 25 MB to 330 MB that way; with the fixed threshold it stays flat.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets a malloc parameter; it is called before any other thread
    // exists, and the value is in range.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info`), `RWHISK_LOG_FORMAT=json`
/// switches to JSON lines.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("RWHISK_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
