//! `whiskd`: the rwhisk server. `whiskd standalone` runs everything in one process.

mod admin;
mod bootstrap;
mod containers;
mod retention;
mod serve;
mod standalone;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The rwhisk server: an Apache OpenWhisk compatible serverless platform.
#[derive(Debug, Parser)]
#[command(name = "whiskd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start; the size of the standalone flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Controller, invoker, embedded store and embedded bus in one process.
    ///
    /// Example:
    ///   whiskd standalone --data-dir ~/.rwhisk
    ///   wsk property set --apihost http://127.0.0.1:3233 --auth "$(cat ~/.rwhisk/guest.key)"
    Standalone(Box<standalone::StandaloneArgs>),
    /// Subjects, keys and namespace limits of an installation (OpenWhisk's wskadmin).
    Admin(admin::AdminArgs),
}

fn main() -> std::process::ExitCode {
    return_large_allocations_to_the_system();
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Standalone(args) => standalone::main(*args),
        Command::Admin(args) => admin::main(args),
    };
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

/// `~/.rwhisk`, the default data directory.
fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".rwhisk")
}
