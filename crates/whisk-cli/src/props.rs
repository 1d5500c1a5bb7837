//! The `~/.wskprops` file: `KEY=VALUE` lines, `#` comments (reference §9.1).
//!
//! Reading follows OpenWhisk's CLI: text after `#` is dropped, the line is trimmed, and only
//! lines with exactly one `=` count. Writing keeps every other line (comments, unknown keys,
//! blank lines) as it was, changes a key in place and appends new keys at the end.

use std::io;
use std::path::Path;

/// Keys this CLI reads and writes.
pub const APIHOST: &str = "APIHOST";
/// `uuid:key` credentials.
pub const AUTH: &str = "AUTH";
/// The default namespace for names without one.
pub const NAMESPACE: &str = "NAMESPACE";
/// The API version path segment.
pub const APIVERSION: &str = "APIVERSION";
/// Client TLS certificate file.
pub const CERT: &str = "CERT";
/// Client TLS key file.
pub const KEY: &str = "KEY";

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A `KEY=VALUE` line: the parsed pair and the line as written.
    Pair {
        key: String,
        value: String,
        raw: String,
    },
    /// Anything else, kept verbatim.
    Other(String),
}

/// The parsed file, able to write itself back with its other lines untouched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropsFile {
    lines: Vec<Line>,
}

impl PropsFile {
    /// Parses file content.
    pub fn parse(content: &str) -> Self {
        let lines = content.lines().map(parse_line).collect();
        Self { lines }
    }

    /// Reads `path`; a missing file is an empty one.
    ///
    /// # Errors
    /// Any read error other than "not found".
    pub fn read(path: &Path) -> io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(Self::parse(&s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the file (mode 0600 on Unix when it is created, since it holds the key).
    ///
    /// # Errors
    /// Any write error.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_all()
    }

    /// The file content.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for line in &self.lines {
            match line {
                Line::Pair { raw, .. } | Line::Other(raw) => s.push_str(raw),
            }
            s.push('\n');
        }
        s
    }

    /// The value of `key` (the last line wins, as a map built line by line would have it).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().rev().find_map(|l| match l {
            Line::Pair { key: k, value, .. } if k == key => Some(value.as_str()),
            _ => None,
        })
    }

    /// Sets `key`: the first line holding it is rewritten, later duplicates are removed;
    /// a new key is appended.
    pub fn set(&mut self, key: &str, value: &str) {
        let raw = format!("{key}={value}");
        let mut done = false;
        self.lines.retain_mut(|l| match l {
            Line::Pair { key: k, .. } if k == key => {
                if done {
                    return false;
                }
                done = true;
                *l = Line::Pair {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    raw: raw.clone(),
                };
                true
            }
            _ => true,
        });
        if !done {
            self.lines.push(Line::Pair {
                key: key.to_owned(),
                value: value.to_owned(),
                raw,
            });
        }
    }

    /// Removes every line holding `key`.
    pub fn unset(&mut self, key: &str) {
        self.lines
            .retain(|l| !matches!(l, Line::Pair { key: k, .. } if k == key));
    }
}

fn parse_line(raw: &str) -> Line {
    let content = raw.split('#').next().unwrap_or("").trim();
    let parts: Vec<&str> = content.split('=').collect();
    match parts.as_slice() {
        [k, v] if !k.trim().is_empty() => Line::Pair {
            key: k.trim().to_owned(),
            value: v.trim().to_owned(),
            raw: raw.to_owned(),
        },
        _ => Line::Other(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_get(content: &str, key: &str, expected: Option<&str>) {
        assert_eq!(
            PropsFile::parse(content).get(key),
            expected,
            "{content:?} {key}"
        );
    }

    #[test]
    fn reading() {
        check_get("APIHOST=localhost:443\n", APIHOST, Some("localhost:443"));
        check_get("APIHOST=a\nAPIHOST=b\n", APIHOST, Some("b"));
        check_get("# APIHOST=a\n", APIHOST, None);
        check_get("APIHOST=a # the host\n", APIHOST, Some("a"));
        check_get("  AUTH = u:k  \n", AUTH, Some("u:k"));
        check_get("AUTH=a=b\n", AUTH, None);
        check_get("AUTH\n", AUTH, None);
        check_get("=x\n", "", None);
        check_get("NAMESPACE=guest\r\n", NAMESPACE, Some("guest"));
        check_get("AUTH=\n", AUTH, Some(""));
        check_get("", AUTH, None);
    }

    fn check_set(content: &str, key: &str, value: &str, expected: &str) {
        let mut p = PropsFile::parse(content);
        p.set(key, value);
        assert_eq!(p.render(), expected, "{content:?}");
        assert_eq!(PropsFile::parse(&p.render()).get(key), Some(value));
    }

    #[test]
    fn setting_keeps_other_lines() {
        check_set("", APIHOST, "h", "APIHOST=h\n");
        check_set(
            "# my props\nAPIHOST=old\nFOO=bar\n\nAUTH=k\n",
            APIHOST,
            "new",
            "# my props\nAPIHOST=new\nFOO=bar\n\nAUTH=k\n",
        );
        check_set(
            "APIHOST=a\n# keep\nAPIHOST=b\n",
            APIHOST,
            "c",
            "APIHOST=c\n# keep\n",
        );
        check_set(
            "FOO=bar\nweird line\n",
            NAMESPACE,
            "guest",
            "FOO=bar\nweird line\nNAMESPACE=guest\n",
        );
        check_set("# APIHOST=x\n", APIHOST, "y", "# APIHOST=x\nAPIHOST=y\n");
    }

    #[test]
    fn unsetting() {
        let mut p = PropsFile::parse("AUTH=a\n# c\nAPIHOST=h\nAUTH=b\n");
        p.unset(AUTH);
        assert_eq!(p.render(), "# c\nAPIHOST=h\n");
        assert_eq!(p.get(AUTH), None);
        p.unset("MISSING");
        assert_eq!(p.render(), "# c\nAPIHOST=h\n");
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("props");
        assert_eq!(PropsFile::read(&path).unwrap(), PropsFile::default());
        let mut p = PropsFile::parse("# hello\nX=1\n");
        p.set(AUTH, "u:k");
        p.write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# hello\nX=1\nAUTH=u:k\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(PropsFile::read(&path).unwrap().get(AUTH), Some("u:k"));
    }
}
