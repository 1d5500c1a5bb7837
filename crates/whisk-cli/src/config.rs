//! Where settings come from (reference §9.1): the properties file (`~/.wskprops`, or
//! `$WSK_CONFIG_FILE`), then `WHISK_AUTH`, `WHISK_APIHOST`, `WHISK_APIVERSION`, then the
//! global flags. The environment is read through [`Env`] so tests pass a map.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use whisk_client::{ClientCert, ClientConfig};

use crate::cli::GlobalArgs;
use crate::props::{self, PropsFile};
use crate::verbose::Verbose;

/// Names the path of the properties file.
pub const ENV_CONFIG_FILE: &str = "WSK_CONFIG_FILE";
/// Overrides `AUTH`.
pub const ENV_AUTH: &str = "WHISK_AUTH";
/// Overrides `APIHOST`.
pub const ENV_APIHOST: &str = "WHISK_APIHOST";
/// Overrides `APIVERSION`.
pub const ENV_APIVERSION: &str = "WHISK_APIVERSION";
/// The default API version.
pub const DEFAULT_API_VERSION: &str = "v1";
/// The default namespace.
pub const DEFAULT_NAMESPACE: &str = "_";
/// This CLI's version, shown by `wsk property get --cliversion`.
pub const CLI_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A source of environment variables.
pub trait Env {
    /// The value of `key`, if set.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// The settings a command runs with, after file, environment and flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// The properties file; `None` when `WSK_CONFIG_FILE` is set but empty or there is no
    /// home directory.
    pub file: Option<PathBuf>,
    /// Whether that file exists (for the "no API host" message).
    pub file_exists: bool,
    /// `APIHOST`.
    pub api_host: String,
    /// `AUTH`.
    pub auth: String,
    /// `NAMESPACE` from the file; empty when unset.
    pub namespace: String,
    /// `APIVERSION`.
    pub api_version: String,
    /// `CERT`.
    pub cert: String,
    /// `KEY`.
    pub key: String,
    /// `-i`.
    pub insecure: bool,
    /// `-v`.
    pub verbose: bool,
    /// `-d`.
    pub debug: bool,
}

impl Properties {
    /// Resolves the settings. An unreadable properties file counts as empty, as in
    /// OpenWhisk's CLI.
    pub fn load(env: &dyn Env, flags: &GlobalArgs) -> Self {
        let file = props_path(env);
        let (content, file_exists) = match &file {
            Some(path) => match PropsFile::read(path) {
                Ok(p) => (p, path.exists()),
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "Properties file is unreadable.");
                    (PropsFile::default(), false)
                }
            },
            None => (PropsFile::default(), false),
        };
        let from_file = |key: &str| content.get(key).unwrap_or("").to_owned();
        let pick = |flag: &Option<String>, env_key: Option<&str>, file_key: &str| -> String {
            if let Some(v) = flag {
                return v.clone();
            }
            if let Some(v) = env_key.and_then(|k| env.var(k)).filter(|v| !v.is_empty()) {
                return v;
            }
            from_file(file_key)
        };
        let mut api_version = pick(&flags.apiversion, Some(ENV_APIVERSION), props::APIVERSION);
        if api_version.is_empty() {
            api_version = DEFAULT_API_VERSION.to_owned();
        }
        let path_flag = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        Self {
            file_exists,
            api_host: pick(&flags.apihost, Some(ENV_APIHOST), props::APIHOST),
            auth: pick(&flags.auth, Some(ENV_AUTH), props::AUTH),
            namespace: from_file(props::NAMESPACE),
            api_version,
            cert: pick(&path_flag(&flags.cert), None, props::CERT),
            key: pick(&path_flag(&flags.key), None, props::KEY),
            insecure: flags.insecure,
            verbose: flags.verbose,
            debug: flags.debug,
            file,
        }
    }

    /// The namespace names resolve against: `NAMESPACE`, else `_`.
    pub fn default_namespace(&self) -> &str {
        if self.namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            &self.namespace
        }
    }

    /// The client settings for these properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.api_host.clone());
        c.auth = (!self.auth.is_empty()).then(|| self.auth.clone());
        c.insecure = self.insecure;
        c.api_version = self.api_version.clone();
        c.namespace = (!self.namespace.is_empty()).then(|| self.namespace.clone());
        c.user_agent = user_agent();
        if !self.cert.is_empty() && !self.key.is_empty() {
            c.client_cert = Some(ClientCert {
                cert: PathBuf::from(&self.cert),
                key: PathBuf::from(&self.key),
            });
        }
        if self.verbose {
            c.observer = Some(Arc::new(Verbose { full: self.debug }));
        }
        c
    }
}

/// `$WSK_CONFIG_FILE` when set (an empty value means none), else `~/.wskprops`.
pub fn props_path(env: &dyn Env) -> Option<PathBuf> {
    match env.var(ENV_CONFIG_FILE) {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => env
            .var("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".wskprops")),
    }
}

/// `OpenWhisk-CLI/1.0 (rwhisk <version>) <os> <arch>`, in the Go CLI's form.
pub fn user_agent() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "OpenWhisk-CLI/1.0 (rwhisk {CLI_VERSION}) {} {arch}",
        std::env::consts::OS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn file_env_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("props");
        std::fs::write(
            &path,
            "APIHOST=file-host\nAUTH=file:auth\nNAMESPACE=guest\n# APIVERSION=v9\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let none = GlobalArgs::default();

        let props = Properties::load(&env(&[(ENV_CONFIG_FILE, p)]), &none);
        assert_eq!(props.api_host, "file-host");
        assert_eq!(props.auth, "file:auth");
        assert_eq!(props.namespace, "guest");
        assert_eq!(props.default_namespace(), "guest");
        assert_eq!(props.api_version, "v1");
        assert!(props.file_exists);

        let e = env(&[
            (ENV_CONFIG_FILE, p),
            (ENV_APIHOST, "env-host"),
            (ENV_AUTH, "env:auth"),
            (ENV_APIVERSION, "v2"),
        ]);
        let props = Properties::load(&e, &none);
        assert_eq!(
            (
                props.api_host.as_str(),
                props.auth.as_str(),
                props.api_version.as_str()
            ),
            ("env-host", "env:auth", "v2")
        );

        let flags = GlobalArgs {
            apihost: Some("flag-host".into()),
            auth: Some("flag:auth".into()),
            insecure: true,
            ..GlobalArgs::default()
        };
        let props = Properties::load(&e, &flags);
        assert_eq!(
            (props.api_host.as_str(), props.auth.as_str()),
            ("flag-host", "flag:auth")
        );
        let c = props.client_config();
        assert!(c.insecure);
        assert_eq!(c.auth.as_deref(), Some("flag:auth"));
        assert_eq!(c.namespace.as_deref(), Some("guest"));
        assert!(c.user_agent.starts_with("OpenWhisk-CLI/1.0 (rwhisk "));
    }

    #[test]
    fn props_file_location() {
        assert_eq!(
            props_path(&env(&[("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.wskprops"))
        );
        assert_eq!(
            props_path(&env(&[("HOME", "/home/u"), (ENV_CONFIG_FILE, "/x/p")])),
            Some(PathBuf::from("/x/p"))
        );
        // Set but empty: defaults only, ~/.wskprops is ignored.
        assert_eq!(
            props_path(&env(&[("HOME", "/home/u"), (ENV_CONFIG_FILE, "")])),
            None
        );
        assert_eq!(props_path(&env(&[])), None);
        let props = Properties::load(&env(&[(ENV_CONFIG_FILE, "")]), &GlobalArgs::default());
        assert_eq!(props.api_host, "");
        assert_eq!(props.default_namespace(), "_");
        assert!(!props.file_exists);
    }

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope");
        let props = Properties::load(
            &env(&[(ENV_CONFIG_FILE, p.to_str().unwrap())]),
            &GlobalArgs::default(),
        );
        assert_eq!(props.auth, "");
        assert!(!props.file_exists);
        assert_eq!(props.file.as_deref(), Some(p.as_path()));
    }
}
