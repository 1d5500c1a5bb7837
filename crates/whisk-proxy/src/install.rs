//! Putting the action's code into the action directory, as `/init` asks.
//!
//! For a program ([`Layout::Exec`]: exec mode, and actionloop without a launcher):
//! - No code: the image brought its own `exec` (a blackbox image); it only has to exist.
//! - Code as text: it becomes `exec` (mode 0755), usually a script with a `#!` line.
//! - Code as base64 of a zip (`binary: true`): the zip is unpacked into the directory and
//!   must contain `exec`, which is made executable (mode 0755).
//!
//! For a launcher ([`Layout::Source`]): text becomes the named source file (`index.js`), a
//! zip is unpacked as it is; the launcher finds its entry point and reports what is missing.
//!
//! Code that is base64 of a zip is unpacked even without `binary: true` (serverless
//! tooling sends zips that way): such text starts with `UEsDB`, the encoding of a zip's
//! `PK\x03\x04` signature, and could never be a script.
//!
//! Files are written beside their final name and renamed into place, so a file that is
//! being executed is never rewritten (no "text file busy").

use std::fs;
use std::io::{self, Cursor, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// The program's file name inside the action directory.
pub(crate) const EXEC: &str = "exec";

/// Why `/init` could not produce an executable `exec`; the text goes to the init's logs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    /// The binary code is not base64.
    #[error("the code is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The binary code is not a zip archive, or unpacking it failed.
    #[error("the code is not a usable zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing into the action directory failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// There is no `exec` file.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// `exec` exists but is not an executable file.
    #[error("{0} is not an executable file")]
    NotExecutable(PathBuf),
}

/// The base64 engine: standard alphabet, padding optional (whitespace is removed first).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the action directory must end up holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout<'a> {
    /// An executable `exec`.
    Exec,
    /// Code for a launcher; single-file code is written to this file name.
    Source(&'a str),
}

/// The base64 text of the 4-byte zip signature `PK\x03\x04` (plus two bits of the next byte).
const ZIP_BASE64_PREFIX: &str = "UEsDB";

/// Whether text code is in fact a base64 zip sent without `binary: true`.
fn is_zip_base64(code: &str) -> bool {
    code.trim_start().starts_with(ZIP_BASE64_PREFIX)
}

/// Installs `code` into `dir` as `layout` says and returns the path to run or load: `exec`
/// for [`Layout::Exec`]; for [`Layout::Source`], the source file for single-file code and
/// the directory otherwise.
pub(crate) fn install(
    dir: &Path,
    code: Option<&str>,
    binary: bool,
    layout: Layout<'_>,
) -> Result<PathBuf, InstallError> {
    let zip = match code {
        None => false,
        Some(code) if binary || is_zip_base64(code) => {
            unzip_base64(dir, code)?;
            true
        }
        Some(code) => {
            let name = match layout {
                Layout::Exec => EXEC,
                Layout::Source(name) => name,
            };
            write_file(dir, name, code.as_bytes())?;
            false
        }
    };
    match layout {
        Layout::Exec => locate(dir),
        Layout::Source(name) if code.is_some() && !zip => Ok(dir.join(name)),
        Layout::Source(_) => Ok(dir.to_owned()),
    }
}

/// The path of `dir/exec` if it is an executable regular file.
pub(crate) fn locate(dir: &Path) -> Result<PathBuf, InstallError> {
    let path = dir.join(EXEC);
    match fs::metadata(&path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(InstallError::Missing(path)),
        Err(source) => Err(InstallError::Write { path, source }),
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => Ok(path),
        Ok(_) => Err(InstallError::NotExecutable(path)),
    }
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Writes `dir/name` (mode 0755) through a temporary file renamed into place.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), InstallError> {
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(write_err(&tmp))?;
    file.write_all(bytes).map_err(write_err(&tmp))?;
    file.sync_all().map_err(write_err(&tmp))?;
    drop(file);
    make_executable(&tmp)?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).map_err(write_err(&path))
}

fn make_executable(path: &Path) -> Result<(), InstallError> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(write_err(path))
}

fn unzip_base64(dir: &Path, code: &str) -> Result<(), InstallError> {
    let compact: Vec<u8> = code.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = BASE64.decode(compact)?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    // An `exec` already in place (from the image) is moved aside first, so that extraction
    // writes a new file instead of rewriting one that may be running.
    let exec = dir.join(EXEC);
    if archive.index_for_name(EXEC).is_some() && exec.exists() {
        fs::remove_file(&exec).map_err(write_err(&exec))?;
    }
    archive.extract(dir)?;
    match fs::symlink_metadata(&exec) {
        Ok(meta) if meta.is_file() => make_executable(&exec),
        // A missing or odd `exec` is reported by `locate`.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &[u8], u32)]) -> String {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes, mode) in files {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(*mode);
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn text_code_becomes_an_executable_exec() {
        let dir = tempfile::tempdir().unwrap();
        let exec = install(
            dir.path(),
            Some("#!/bin/sh\necho '{}'\n"),
            false,
            Layout::Exec,
        )
        .unwrap();
        assert_eq!(exec, dir.path().join("exec"));
        assert_eq!(fs::read_to_string(&exec).unwrap(), "#!/bin/sh\necho '{}'\n");
        assert_eq!(mode(&exec), 0o755);
        // Replacing works too.
        install(dir.path(), Some("#!/bin/sh\n"), false, Layout::Exec).unwrap();
        assert_eq!(fs::read_to_string(&exec).unwrap(), "#!/bin/sh\n");
    }

    #[test]
    fn zip_code_is_unpacked_and_exec_made_executable() {
        let dir = tempfile::tempdir().unwrap();
        let code = zip_of(&[
            ("exec", b"#!/bin/sh\n", 0o644),
            ("lib/data.txt", b"data", 0o644),
        ]);
        // Line-wrapped base64, as `base64` prints it, is accepted.
        let wrapped: String = code
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let exec = install(dir.path(), Some(&wrapped), true, Layout::Exec).unwrap();
        assert_eq!(mode(&exec), 0o755);
        assert_eq!(fs::read(dir.path().join("lib/data.txt")).unwrap(), b"data");
    }

    #[test]
    fn zip_without_exec_fails() {
        let dir = tempfile::tempdir().unwrap();
        let code = zip_of(&[("main.sh", b"#!/bin/sh\n", 0o755)]);
        assert!(matches!(
            install(dir.path(), Some(&code), true, Layout::Exec),
            Err(InstallError::Missing(_))
        ));
    }

    #[test]
    fn bad_base64_and_bad_zip_fail() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            install(dir.path(), Some("!!!"), true, Layout::Exec),
            Err(InstallError::Base64(_))
        ));
        let not_zip = base64::engine::general_purpose::STANDARD.encode(b"plain text");
        assert!(matches!(
            install(dir.path(), Some(&not_zip), true, Layout::Exec),
            Err(InstallError::Zip(_))
        ));
    }

    #[test]
    fn no_code_needs_an_existing_executable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            install(dir.path(), None, false, Layout::Exec),
            Err(InstallError::Missing(_))
        ));
        let exec = dir.path().join("exec");
        fs::write(&exec, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            install(dir.path(), None, false, Layout::Exec),
            Err(InstallError::NotExecutable(_))
        ));
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            install(dir.path(), None, false, Layout::Exec).unwrap(),
            exec
        );
    }

    #[test]
    fn a_base64_zip_without_the_binary_flag_is_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let code = zip_of(&[("exec", b"#!/bin/sh\n", 0o644)]);
        assert!(code.starts_with(ZIP_BASE64_PREFIX));
        let exec = install(dir.path(), Some(&code), false, Layout::Exec).unwrap();
        assert_eq!(fs::read(&exec).unwrap(), b"#!/bin/sh\n");
    }

    #[test]
    fn source_layout_writes_the_named_file_or_unpacks_without_needing_exec() {
        let dir = tempfile::tempdir().unwrap();
        let path = install(
            dir.path(),
            Some("function main() {}"),
            false,
            Layout::Source("index.js"),
        )
        .unwrap();
        assert_eq!(path, dir.path().join("index.js"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "function main() {}");
        assert!(!dir.path().join("exec").exists());

        let dir = tempfile::tempdir().unwrap();
        let code = zip_of(&[("__main__.py", b"def main(a):\n  return a\n", 0o644)]);
        let path = install(dir.path(), Some(&code), true, Layout::Source("__main__.py")).unwrap();
        assert_eq!(path, dir.path());
        assert!(dir.path().join("__main__.py").is_file());

        // No code: the launcher looks at the directory the image filled.
        let path = install(dir.path(), None, false, Layout::Source("__main__.py")).unwrap();
        assert_eq!(path, dir.path());
    }
}
