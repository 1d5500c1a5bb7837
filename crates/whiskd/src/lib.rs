//! `whiskd`, the rwhisk server, as a library: the roles (`standalone`, `controller`,
//! `invoker`, `admin`) and the wiring they share, so the binary is a thin `main` and tests
//! put the same parts together in-process.
//!
//! # Layout
//! - [`Cli`]: the command line; [`config_file`] fills `RWHISK_*` variables from
//!   `--config FILE`.
//! - [`backends`]: the one place a store and a bus are opened from `--store`/`--bus`.
//! - [`args`]: flag groups the roles share.
//! - [`node`]: the parts of a role (stop signal, controller, listeners, invoker, metrics).
//! - [`standalone`], [`controller_role`], [`invoker_role`], [`admin`]: the roles.
//! - [`bootstrap`]: data directory, guest key, TLS certificate, signing-key file.
//! - [`containers`]: the container factory and stem cells; [`retention`]: record purge;
//!   [`serve`]: hardened listeners.

pub mod admin;
pub mod args;
pub mod backends;
pub mod bootstrap;
pub mod config_file;
pub mod containers;
pub mod controller_role;
pub mod invoker_role;
pub mod node;
pub mod retention;
pub mod serve;
pub mod standalone;

use std::future::Future;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

pub use backends::{BUS_FILE, STORE_FILE};
pub use node::Stop;

/// The rwhisk server: an Apache OpenWhisk compatible serverless platform.
#[derive(Debug, Parser)]
#[command(name = "whiskd", version, about, long_about = None)]
pub struct Cli {
    /// A file of `RWHISK_*=value` lines (one flag each, as its environment variable);
    /// flags and the environment win over it.
    #[arg(long, global = true, env = "RWHISK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start; the size of the flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Controller and invoker in one process, on the embedded store and bus by default.
    ///
    /// Example:
    ///   whiskd standalone --data-dir ~/.rwhisk
    ///   wsk property set --apihost http://127.0.0.1:3233 --auth "$(cat ~/.rwhisk/guest.key)"
    Standalone(Box<standalone::StandaloneArgs>),
    /// The API without an invoker; run any number on a shared store and bus.
    ///
    /// Example:
    ///   whiskd controller --id 0 --controllers 2 --store postgres://whisk:pw@db/whisk \
    ///     --bus nats://nats:4222 --signing-key-file /run/secrets/signing.key
    Controller(Box<controller_role::ControllerArgs>),
    /// One invoker (no API), consuming its topic `invoker<ID>`.
    ///
    /// Example:
    ///   whiskd invoker --id 0 --store postgres://whisk:pw@db/whisk --bus nats://nats:4222 \
    ///     --signing-key-file /run/secrets/signing.key
    Invoker(Box<invoker_role::InvokerArgs>),
    /// Subjects, keys and namespace limits of an installation (OpenWhisk's wskadmin).
    Admin(admin::AdminArgs),
}

impl Cli {
    /// Parses `args` (without the program name), as tests and embedders give them.
    ///
    /// # Errors
    /// Bad flags.
    pub fn from_args(args: &[String]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("whiskd".to_owned()).chain(args.iter().cloned()))
    }
}

/// Runs the command `cli` names.
///
/// # Errors
/// Whatever the role reports.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Standalone(args) => standalone::main(*args),
        Command::Controller(args) => controller_role::main(*args),
        Command::Invoker(args) => invoker_role::main(*args),
        Command::Admin(args) => admin::main(args),
    }
}

/// Builds the runtime and runs `role` until SIGINT or SIGTERM turn its [`Stop`].
///
/// # Errors
/// The runtime cannot start, or the role's error.
pub fn run_role<F, Fut>(role: F) -> Result<()>
where
    F: FnOnce(Stop) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let stop = Stop::default();
        let signal = stop.clone();
        tokio::spawn(async move {
            node::shutdown_signal().await;
            signal.stop();
        });
        role(stop).await
    })
}

/// `~/.rwhisk`, the default data directory.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".rwhisk")
}
