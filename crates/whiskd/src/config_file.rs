//! `--config FILE`: the flags of any role as `RWHISK_*=value` lines (the flag's
//! environment variable), so one file configures a deployment's process. Blank lines and
//! lines starting with `#` are skipped; values may be quoted. The file only fills
//! variables the environment does not set, and flags win over both.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The `(name, value)` pairs of a config file's text.
///
/// # Errors
/// A line that is not `RWHISK_NAME=value`.
pub fn parse(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            bail!("line {}: expected RWHISK_NAME=value", n + 1);
        };
        let name = name.trim();
        if !name.starts_with("RWHISK_")
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            bail!("line {}: {name:?} is not an RWHISK_* variable", n + 1);
        }
        let value = value.trim();
        let value = ["\"", "'"]
            .iter()
            .find_map(|q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
            .unwrap_or(value);
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// Where `--config` (or `RWHISK_CONFIG`) points, read from the raw arguments before
/// clap parses them.
pub fn path_from_args(args: &[std::ffi::OsString]) -> Option<std::path::PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(std::path::PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.into());
        }
    }
    std::env::var_os("RWHISK_CONFIG").map(std::path::PathBuf::from)
}

/// Sets the file's variables the environment does not set. Call before any thread starts.
///
/// # Errors
/// The file cannot be read or has a bad line.
pub fn load(path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    for (name, value) in parse(&text).with_context(|| format!("in {}", path.display()))? {
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let got = parse(
            "# a deployment\n\nRWHISK_STORE=postgres://w:p@db/whisk\nexport RWHISK_BUS = \"nats://nats:4222\"\nRWHISK_CONTROLLERS='2'\n",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("RWHISK_STORE".into(), "postgres://w:p@db/whisk".into()),
                ("RWHISK_BUS".into(), "nats://nats:4222".into()),
                ("RWHISK_CONTROLLERS".into(), "2".into()),
            ]
        );
        assert!(parse("PATH=/bin").is_err());
        assert!(parse("RWHISK_STORE").is_err());
        assert!(parse("RWHISK_store=x").is_err());
    }
}
