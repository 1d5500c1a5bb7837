//! Putting the action's code into the action directory, as `/init` asks.
//!
//! - No code: the image brought its own `exec` (a blackbox image); it only has to exist.
//! - Code as text: it becomes `exec` (mode 0755), usually a script with a `#!` line.
//! - Code as base64 of a zip (`binary: true`): the zip is unpacked into the directory and
//!   must contain `exec`, which is made executable (mode 0755).
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

/// Installs `code` into `dir` and returns the path of the executable `exec`.
pub(crate) fn install(
    dir: &Path,
    code: Option<&str>,
    binary: bool,
) -> Result<PathBuf, InstallError> {
    match code {
        None => {}
        Some(code) if binary => unzip_base64(dir, code)?,
        Some(code) => write_exec(dir, code.as_bytes())?,
    }
    locate(dir)
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

fn write_exec(dir: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let tmp = dir.join(".exec.tmp");
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
    let path = dir.join(EXEC);
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
        let exec = install(dir.path(), Some("#!/bin/sh\necho '{}'\n"), false).unwrap();
        assert_eq!(exec, dir.path().join("exec"));
        assert_eq!(fs::read_to_string(&exec).unwrap(), "#!/bin/sh\necho '{}'\n");
        assert_eq!(mode(&exec), 0o755);
        // Replacing works too.
        install(dir.path(), Some("#!/bin/sh\n"), false).unwrap();
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
        let exec = install(dir.path(), Some(&wrapped), true).unwrap();
        assert_eq!(mode(&exec), 0o755);
        assert_eq!(fs::read(dir.path().join("lib/data.txt")).unwrap(), b"data");
    }

    #[test]
    fn zip_without_exec_fails() {
        let dir = tempfile::tempdir().unwrap();
        let code = zip_of(&[("main.sh", b"#!/bin/sh\n", 0o755)]);
        assert!(matches!(
            install(dir.path(), Some(&code), true),
            Err(InstallError::Missing(_))
        ));
    }

    #[test]
    fn bad_base64_and_bad_zip_fail() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            install(dir.path(), Some("!!!"), true),
            Err(InstallError::Base64(_))
        ));
        let not_zip = base64::engine::general_purpose::STANDARD.encode(b"plain text");
        assert!(matches!(
            install(dir.path(), Some(&not_zip), true),
            Err(InstallError::Zip(_))
        ));
    }

    #[test]
    fn no_code_needs_an_existing_executable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            install(dir.path(), None, false),
            Err(InstallError::Missing(_))
        ));
        let exec = dir.path().join("exec");
        fs::write(&exec, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            install(dir.path(), None, false),
            Err(InstallError::NotExecutable(_))
        ));
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(install(dir.path(), None, false).unwrap(), exec);
    }
}
