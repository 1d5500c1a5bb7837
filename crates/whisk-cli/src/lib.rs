//! `wsk`, the rwhisk command line: OpenWhisk's CLI commands, flags, outputs and exit codes
//! over [`whisk_client`]. The binary is a thin `main`; everything runs through [`main_with`]
//! so tests can pass arguments, an environment map and output buffers.
//!
//! # Layout
//! - `cli`: the clap command tree.
//! - `config`: properties file + environment + flags → [`config::Properties`].
//! - `props`: the `~/.wskprops` file format.
//! - `params`: `-p KEY VALUE` / `-P FILE` parsing.
//! - `json`, `table`, `messages`, `summary`: output in the Go CLI's exact forms.
//! - `style`: colours (green `ok:`, bold names) when stdout is a terminal.
//! - `error`: [`CliError`] and exit codes.
//! - `commands/*`: one file per command group.
#![forbid(unsafe_code)]

pub mod cli;
mod commands;
pub mod config;
pub mod error;
pub mod json;
pub mod messages;
pub mod params;
pub mod props;
pub mod style;
pub mod summary;
pub mod table;
mod verbose;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use jiff::tz::Offset;
use whisk_client::{Client, ClientError};

pub use crate::cli::Cli;
pub use crate::config::{Env, ProcessEnv, Properties};
pub use crate::error::CliError;
pub use crate::style::Style;

/// What a command runs with besides its arguments: the environment, where output goes,
/// the time zone for tables and the directory files are written to.
pub struct Ctx<'a> {
    /// Environment variables.
    pub env: &'a dyn Env,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Offset used to show times (the local one, found before any thread starts).
    pub offset: Offset,
    /// Directory `sdk install` and `action get --save` write to.
    pub cwd: PathBuf,
    /// Colours on or off.
    pub style: Style,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("offset", &self.offset)
            .field("cwd", &self.cwd)
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    /// Writes to stdout.
    ///
    /// # Errors
    /// A failed write.
    pub fn print(&mut self, s: &str) -> Result<(), CliError> {
        self.out
            .write_all(s.as_bytes())
            .map_err(|e| CliError::General(format!("cannot write output: {e}")))
    }

    /// Writes to stderr.
    ///
    /// # Errors
    /// A failed write.
    pub fn eprint(&mut self, s: &str) -> Result<(), CliError> {
        self.err
            .write_all(s.as_bytes())
            .map_err(|e| CliError::General(format!("cannot write output: {e}")))
    }

    /// The properties for a command given the root's and the command's global flags.
    pub fn properties(&self, flags: &cli::GlobalArgs) -> Properties {
        Properties::load(self.env, flags)
    }
}

/// Builds a client for `props`; `context` prefixes the error the way the failed step
/// would have (`Unable to invoke action 'x'`). A missing or malformed API host is reported
/// as OpenWhisk's CLI does before any command runs: `The API host is not valid: ...`.
///
/// # Errors
/// A missing or malformed API host, or an unusable client certificate.
pub fn client(props: &Properties, context: &str) -> Result<Client, CliError> {
    Client::new(props.client_config()).map_err(|e| match e {
        ClientError::NoApiHost | ClientError::InvalidApiHost { .. } => CliError::Client {
            context: "The API host is not valid".to_owned(),
            source: e,
            usage: true,
        },
        e => CliError::client(context, e),
    })
}

/// Parses `args` and runs the command on a single-threaded runtime without colours;
/// returns the exit code. Help and version go to `out` with code 0; usage errors to `err`
/// with code 2.
pub fn main_with<I, T>(
    args: I,
    env: &dyn Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
    offset: Offset,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    main_with_style(args, env, out, err, offset, Style::PLAIN)
}

/// [`main_with`] with colours as `style` says (the binary turns them on for a terminal).
pub fn main_with_style<I, T>(
    args: I,
    env: &dyn Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
    offset: Offset,
    style: Style,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            // `wsk` or `wsk action` alone shows the help, and that is not a failure.
            let help_only =
                e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
            let code = if help_only {
                0
            } else {
                u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE)
            };
            let stream: &mut dyn Write = if e.use_stderr() && !help_only {
                err
            } else {
                out
            };
            let _ = stream.write_all(text.as_bytes());
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return error::EXIT_GENERAL;
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut ctx = Ctx {
        env,
        out,
        err,
        offset,
        cwd,
        style,
    };
    runtime.block_on(run(cli, &mut ctx))
}

/// Runs a parsed command line; returns the exit code after printing any error.
pub async fn run(cli: Cli, ctx: &mut Ctx<'_>) -> u8 {
    match commands::dispatch(cli, ctx).await {
        Ok(()) => 0,
        Err(e) => {
            let _ = e.report(ctx.err, ctx.style);
            e.exit_code()
        }
    }
}

/// The local UTC offset now (of the system time zone; UTC when it cannot be found).
pub fn local_offset() -> Offset {
    jiff::tz::TimeZone::system().to_offset(jiff::Timestamp::now())
}
