//! CLI failures, how they are printed (`error: <context>: <cause>`) and the exit code
//! each one gives (reference §9.3): an HTTP status `s` exits with `s - 256` taken as a
//! byte (404 → 148, 502 → 246), general errors 1, usage errors 2, network errors 3.

use std::io::Write;

use whisk_client::ClientError;

use crate::style::Style;

/// Exit code of general errors.
pub const EXIT_GENERAL: u8 = 1;
/// Exit code of usage errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of network errors.
pub const EXIT_NETWORK: u8 = 3;
/// Exit code of a blocking invoke whose wait ran out (HTTP 202).
pub const EXIT_TIMED_OUT: u8 = 202;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A request failed during a step described by `context`
    /// (`Unable to invoke action 'x'`).
    #[error("{context}: {source}")]
    Client {
        /// What the command was doing, as OpenWhisk's CLI words it.
        context: String,
        /// What went wrong.
        #[source]
        source: ClientError,
        /// Whether "Run 'wsk --help' for usage." follows, as it does for action commands.
        usage: bool,
    },
    /// The command line is wrong; "Run 'wsk --help' for usage." follows the message.
    #[error("{0}")]
    Usage(String),
    /// Any other failure.
    #[error("{0}")]
    General(String),
    /// Wrong input that OpenWhisk's CLI reports with exit code 1 and the usage hint.
    #[error("{0}")]
    Invalid(String),
    /// A failure with its own exit code (149 for what OpenWhisk's CLI does not allow).
    #[error("{message}")]
    Exit {
        /// The message after `error: `.
        message: String,
        /// The process exit code.
        code: u8,
        /// Whether the usage hint follows.
        usage: bool,
    },
    /// The failure was already reported on stderr; exit with this code.
    #[error("exit {0}")]
    Reported(u8),
}

impl CliError {
    /// Wraps a client error with the step it happened in.
    pub fn client(context: impl Into<String>, source: ClientError) -> Self {
        Self::Client {
            context: context.into(),
            source,
            usage: false,
        }
    }

    /// The same failure followed by the usage hint, as the Go CLI's nested errors show it.
    #[must_use]
    pub fn with_usage(self) -> Self {
        match self {
            Self::Client {
                context, source, ..
            } => Self::Client {
                context,
                source,
                usage: true,
            },
            Self::General(m) => Self::Invalid(m),
            Self::Exit { message, code, .. } => Self::Exit {
                message,
                code,
                usage: true,
            },
            other => other,
        }
    }

    /// The same failure with `prefix` before its message, keeping its exit code, followed by
    /// the usage hint (`Invalid argument(s). ...`).
    #[must_use]
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Self::Client {
                context, source, ..
            } => Self::Client {
                context: format!("{prefix}{context}"),
                source,
                usage: true,
            },
            Self::Reported(code) => Self::Reported(code),
            other => Self::Exit {
                message: format!("{prefix}{other}"),
                code: other.exit_code(),
                usage: true,
            },
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Client { source, .. } => client_exit_code(source),
            Self::Usage(_) => EXIT_USAGE,
            Self::General(_) | Self::Invalid(_) => EXIT_GENERAL,
            Self::Exit { code, .. } | Self::Reported(code) => *code,
        }
    }

    /// Writes the message to `err` (nothing for [`CliError::Reported`]), `error: ` in red
    /// when `style` has colours.
    ///
    /// # Errors
    /// Write failures.
    pub fn report(&self, err: &mut dyn Write, style: Style) -> std::io::Result<()> {
        let prefix = style.error_prefix();
        match self {
            Self::Reported(_) => Ok(()),
            Self::Usage(msg) | Self::Invalid(msg) => {
                writeln!(err, "{prefix}{msg}")?;
                writeln!(err, "{USAGE_HINT}")
            }
            Self::General(msg) => writeln!(err, "{prefix}{msg}"),
            Self::Exit { message, usage, .. } => {
                writeln!(err, "{prefix}{message}")?;
                if *usage {
                    writeln!(err, "{USAGE_HINT}")?;
                }
                Ok(())
            }
            Self::Client {
                context,
                source,
                usage,
            } => {
                writeln!(err, "{prefix}{context}: {source}")?;
                if let Some(hint) = hint(source) {
                    writeln!(err, "{hint}")?;
                }
                if *usage || matches!(source, ClientError::NoAuth) {
                    writeln!(err, "{USAGE_HINT}")?;
                }
                Ok(())
            }
        }
    }
}

/// The line after errors that come from a wrong command line.
pub const USAGE_HINT: &str = "Run 'wsk --help' for usage.";

/// Exit code of what OpenWhisk's CLI refuses (`NOT_ALLOWED`).
pub const EXIT_NOT_ALLOWED: u8 = 149;

/// `status - 256` as a byte for answers, 3 for network failures, 2 for missing
/// credentials, 1 otherwise.
pub fn client_exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Api { status, .. } | ClientError::Status { status, .. } => {
            status_exit_code(*status)
        }
        ClientError::NoAuth => EXIT_USAGE,
        e if e.is_network() => EXIT_NETWORK,
        _ => EXIT_GENERAL,
    }
}

/// `status - 256` taken as a byte, as the Go CLI's `os.Exit(status - 256)` ends up.
pub fn status_exit_code(status: u16) -> u8 {
    (status % 256) as u8
}

/// A second line that tells the user what to do about a failure.
fn hint(e: &ClientError) -> Option<&'static str> {
    match e {
        ClientError::Certificate { .. } => Some(
            "The server's certificate is not trusted (a standalone server makes a self-signed one); use -i (--insecure) to skip the check.",
        ),
        ClientError::Tls { .. } => Some(
            "The host may not speak TLS: for plain HTTP give the API host with http:// (wsk property set --apihost http://HOST:PORT).",
        ),
        ClientError::Unreachable { .. } => Some(
            "Check that the server is running and that the API host is right (wsk property get --apihost).",
        ),
        ClientError::NoApiHost => Some(
            "Set one with 'wsk property set --apihost HOST' (kept in ~/.wskprops or $WSK_CONFIG_FILE), or pass --apihost HOST.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> ClientError {
        ClientError::Api {
            status,
            error: "The requested resource does not exist.".into(),
            code: Some("abc".into()),
        }
    }

    #[test]
    fn exit_codes() {
        for (status, code) in [
            (400, 144),
            (401, 145),
            (403, 147),
            (404, 148),
            (409, 153),
            (413, 157),
            (429, 173),
            (500, 244),
            (502, 246),
            (503, 247),
            (202, 202),
        ] {
            assert_eq!(
                CliError::client("x", api(status)).exit_code(),
                code,
                "{status}"
            );
        }
        assert_eq!(CliError::Usage("u".into()).exit_code(), 2);
        assert_eq!(CliError::General("g".into()).exit_code(), 1);
        assert_eq!(CliError::Reported(246).exit_code(), 246);
        assert_eq!(CliError::client("x", ClientError::NoAuth).exit_code(), 2);
        assert_eq!(CliError::client("x", ClientError::NoApiHost).exit_code(), 1);
        let status = ClientError::Status {
            status: 404,
            body: String::new(),
        };
        assert_eq!(client_exit_code(&status), 148);
    }

    #[test]
    fn usage_and_prefixes() {
        let e = CliError::client("Unable to get action 'x'", api(404)).with_usage();
        assert_eq!(
            printed(&e),
            "error: Unable to get action 'x': The requested resource does not exist. (code abc)\nRun 'wsk --help' for usage.\n"
        );
        assert_eq!(e.exit_code(), 148);
        let e = CliError::client("Unable to get action 'src'", api(404))
            .prefixed("Invalid argument(s). ");
        assert_eq!(
            printed(&e),
            "error: Invalid argument(s). Unable to get action 'src': The requested resource does not exist. (code abc)\nRun 'wsk --help' for usage.\n"
        );
        let e = CliError::Usage("File 'x' is not a valid file or it does not exist".into())
            .prefixed("Invalid argument(s). ");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            printed(&e),
            "error: Invalid argument(s). File 'x' is not a valid file or it does not exist\nRun 'wsk --help' for usage.\n"
        );
        assert_eq!(CliError::General("g".into()).with_usage().exit_code(), 1);
        assert!(matches!(
            CliError::Reported(246).prefixed("x"),
            CliError::Reported(246)
        ));
        let mut v = Vec::new();
        CliError::General("red".into())
            .report(&mut v, Style { color: true })
            .unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "\x1b[31merror: \x1b[0mred\n");
    }

    fn printed(e: &CliError) -> String {
        let mut v = Vec::new();
        e.report(&mut v, Style::PLAIN).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn messages() {
        assert_eq!(
            printed(&CliError::client("Unable to invoke action 'x'", api(404))),
            "error: Unable to invoke action 'x': The requested resource does not exist. (code abc)\n"
        );
        assert_eq!(
            printed(&CliError::Usage("An action name is required.".into())),
            "error: An action name is required.\nRun 'wsk --help' for usage.\n"
        );
        assert_eq!(printed(&CliError::Reported(202)), "");
        let no_auth = printed(&CliError::client(
            "Unable to get action 'x'",
            ClientError::NoAuth,
        ));
        assert_eq!(
            no_auth,
            "error: Unable to get action 'x': Authorization key is not configured (--auth is required)\nRun 'wsk --help' for usage.\n"
        );
    }
}
