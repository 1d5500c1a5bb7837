//! Settings of the proxy, read once from the environment at start-up.
//!
//! The runtime images choose the executor here: `WHISK_PROXY_MODE=actionloop` with
//! `WHISK_LAUNCHER` (the language's launcher, started once per container) and
//! `WHISK_LAUNCHER_SOURCE` (the file name single-file code is written to). Without them the
//! proxy is the Docker skeleton's exec-per-run proxy.
//!
//! The invoker gives every container a secret in `WHISK_PROXY_TOKEN`; the proxy then
//! answers `/init` and `/run` only to requests that carry it (see [`crate::server`]), and
//! the binary removes it from its environment before anything else starts, so the action
//! never inherits it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The port the skeleton has always listened on.
pub const DEFAULT_PORT: u16 = 8080;
/// Where the action's code lives inside the container.
pub const DEFAULT_ACTION_DIR: &str = "/action";

/// Environment variable: the port, first choice.
pub const ENV_PORT: &str = "__OW_PROXY_PORT";
/// Environment variable: the port, as the Flask skeleton's Dockerfiles set it.
pub const ENV_FLASK_PORT: &str = "FLASK_PROXY_PORT";
/// Environment variable: the address to bind (default `0.0.0.0`); a process-mode invoker
/// or a test sets `127.0.0.1`.
pub const ENV_BIND: &str = "WHISK_PROXY_BIND";
/// Environment variable: the action directory (default `/action`), for tests.
pub const ENV_ACTION_DIR: &str = "WHISK_ACTION_DIR";
/// Environment variable: how activations run, `exec` (the default) or `actionloop`.
pub const ENV_MODE: &str = "WHISK_PROXY_MODE";
/// Environment variable (actionloop mode): the launcher program, started once per container
/// as `LAUNCHER <code path> <main>`. Unset: the action's own `exec` is the loop program.
pub const ENV_LAUNCHER: &str = "WHISK_LAUNCHER";
/// Environment variable (actionloop mode with a launcher): the file name, inside the action
/// directory, that single-file code is written to (`index.js`, `__main__.py`).
pub const ENV_LAUNCHER_SOURCE: &str = "WHISK_LAUNCHER_SOURCE";

/// Environment variable: the secret every `/init` and `/run` must carry as
/// `Authorization: Bearer <token>`. Unset or empty: the proxy answers anyone (the proxy
/// run by hand or by its own tests; the invoker always sets it). Part of the container
/// protocol, so defined there.
pub use whisk_protocol::ENV_TOKEN;

/// The value of [`ENV_MODE`] for the exec-per-run executor.
pub const MODE_EXEC: &str = "exec";
/// The value of [`ENV_MODE`] for the actionloop executor.
pub const MODE_ACTIONLOOP: &str = "actionloop";
/// The action's program in the action directory (exec mode, actionloop without launcher),
/// and the default name of single-file code for a launcher.
pub const EXEC_FILE: &str = "exec";

/// How activations run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// A new process of `/action/exec` per activation (the Docker skeleton).
    #[default]
    ExecPerRun,
    /// One long-lived process per container reads a JSON line per activation on stdin and
    /// writes the result line on fd 3 (OpenWhisk's ActionLoop protocol).
    ActionLoop {
        /// The launcher started once per container; `None`: `/action/exec` is started.
        launcher: Option<PathBuf>,
        /// The file name single-file code is written to when there is a launcher.
        source_file: String,
    },
}

/// Where the proxy listens and where the action lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The listening address: `0.0.0.0:8080` in a container.
    pub listen: SocketAddr,
    /// The directory that holds `exec` (and whatever a zip brought along).
    pub action_dir: PathBuf,
    /// The executor `/init` sets up.
    pub mode: ProxyMode,
    /// The secret requests must carry ([`ENV_TOKEN`]); `None`: no check.
    pub token: Option<String>,
}

/// A setting in the environment that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A port variable is not a number from 0 to 65535.
    #[error("{var}={value:?} is not a port number")]
    BadPort {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The bind variable is not an IP address.
    #[error("{var}={value:?} is not an IP address")]
    BadAddress {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The mode variable names no executor.
    #[error("{ENV_MODE}={0:?} is neither {MODE_EXEC:?} nor {MODE_ACTIONLOOP:?}")]
    BadMode(String),
    /// The source file name is not a plain file name.
    #[error("{ENV_LAUNCHER_SOURCE}={0:?} is not a plain file name")]
    BadSourceFile(String),
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
            action_dir: PathBuf::from(DEFAULT_ACTION_DIR),
            mode: ProxyMode::ExecPerRun,
            token: None,
        }
    }
}

impl ProxyConfig {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    ///
    /// A port or bind variable that is set but unusable; empty variables count as unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    ///
    /// As [`ProxyConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Self::default();
        for var in [ENV_PORT, ENV_FLASK_PORT] {
            if let Some(value) = get(var) {
                let port = value
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| ConfigError::BadPort { var, value })?;
                config.listen.set_port(port);
                break;
            }
        }
        if let Some(value) = get(ENV_BIND) {
            let ip = value
                .trim()
                .parse::<IpAddr>()
                .map_err(|_| ConfigError::BadAddress {
                    var: ENV_BIND,
                    value,
                })?;
            config.listen.set_ip(ip);
        }
        config.token = get(ENV_TOKEN).map(|t| t.trim().to_owned());
        if let Some(dir) = get(ENV_ACTION_DIR) {
            config.action_dir = PathBuf::from(dir);
        }
        config.mode = match get(ENV_MODE).as_deref().map(str::trim) {
            None | Some(MODE_EXEC) => ProxyMode::ExecPerRun,
            Some(MODE_ACTIONLOOP) => {
                let source_file = get(ENV_LAUNCHER_SOURCE).unwrap_or_else(|| EXEC_FILE.into());
                if source_file.contains('/') || source_file == "." || source_file == ".." {
                    return Err(ConfigError::BadSourceFile(source_file));
                }
                ProxyMode::ActionLoop {
                    launcher: get(ENV_LAUNCHER).map(PathBuf::from),
                    source_file,
                }
            }
            Some(other) => return Err(ConfigError::BadMode(other.to_owned())),
        };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ProxyConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_to_all_interfaces_port_8080_and_slash_action() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.action_dir, PathBuf::from("/action"));
        assert_eq!(c.mode, ProxyMode::ExecPerRun);
    }

    #[test]
    fn actionloop_mode_with_and_without_a_launcher() {
        let c = config(&[
            (ENV_MODE, "actionloop"),
            (ENV_LAUNCHER, "/usr/local/lib/whisk/launcher.js"),
            (ENV_LAUNCHER_SOURCE, "index.js"),
        ])
        .unwrap();
        assert_eq!(
            c.mode,
            ProxyMode::ActionLoop {
                launcher: Some(PathBuf::from("/usr/local/lib/whisk/launcher.js")),
                source_file: "index.js".into(),
            }
        );
        let c = config(&[(ENV_MODE, "actionloop")]).unwrap();
        assert_eq!(
            c.mode,
            ProxyMode::ActionLoop {
                launcher: None,
                source_file: "exec".into(),
            }
        );
        // Exec mode ignores the launcher settings; an empty mode is the default.
        let c = config(&[(ENV_MODE, "exec"), (ENV_LAUNCHER, "/x")]).unwrap();
        assert_eq!(c.mode, ProxyMode::ExecPerRun);
        let c = config(&[(ENV_MODE, " ")]).unwrap();
        assert_eq!(c.mode, ProxyMode::ExecPerRun);
    }

    #[test]
    fn ow_port_wins_over_flask_port() {
        let c = config(&[(ENV_PORT, "9000"), (ENV_FLASK_PORT, "9001")]).unwrap();
        assert_eq!(c.listen.port(), 9000);
        let c = config(&[(ENV_FLASK_PORT, "9001")]).unwrap();
        assert_eq!(c.listen.port(), 9001);
    }

    #[test]
    fn token_is_optional() {
        assert_eq!(config(&[]).unwrap().token, None);
        assert_eq!(config(&[(ENV_TOKEN, " ")]).unwrap().token, None);
        assert_eq!(
            config(&[(ENV_TOKEN, "s3cret")]).unwrap().token.as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn bind_and_action_dir_are_overridable() {
        let c = config(&[(ENV_BIND, "127.0.0.1"), (ENV_ACTION_DIR, "/tmp/a")]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.action_dir, PathBuf::from("/tmp/a"));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(matches!(
            config(&[(ENV_FLASK_PORT, "http")]),
            Err(ConfigError::BadPort {
                var: ENV_FLASK_PORT,
                ..
            })
        ));
        assert!(matches!(
            config(&[(ENV_BIND, "localhost")]),
            Err(ConfigError::BadAddress { .. })
        ));
        assert!(matches!(
            config(&[(ENV_MODE, "loop")]),
            Err(ConfigError::BadMode(m)) if m == "loop"
        ));
        for bad in ["a/b", "..", "."] {
            assert!(matches!(
                config(&[(ENV_MODE, "actionloop"), (ENV_LAUNCHER_SOURCE, bad)]),
                Err(ConfigError::BadSourceFile(_))
            ));
        }
    }
}
