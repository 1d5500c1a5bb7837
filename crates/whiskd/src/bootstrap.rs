//! First-start work on the data directory: its permissions (0700, databases and keys
//! 0600), the guest subject and its key file, and the self-signed TLS certificate for the
//! HTTPS listener.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use whisk_store::{hash_key, verify_secret, IdentityStore, SubjectRecord};
use whisk_types::{AuthKey, EntityName, Identity};

/// The subject and namespace every new installation gets.
pub const GUEST: &str = "guest";
/// The file in the data directory holding the guest's `uuid:key`.
pub const GUEST_KEY_FILE: &str = "guest.key";

/// Makes sure the guest subject exists and `DIR/guest.key` holds its key.
///
/// The store keeps only an Argon2 hash, so when the key file is lost a new key replaces
/// the old one (the namespace and its entities stay).
///
/// # Errors
/// Store failures, or the key file cannot be written.
pub async fn ensure_guest(identities: &dyn IdentityStore, data_dir: &Path) -> Result<AuthKey> {
    let key_path = data_dir.join(GUEST_KEY_FILE);
    let existing = identities
        .subject_by_name(GUEST)
        .await
        .context("reading the guest subject")?;
    if let (Some(record), Ok(text)) = (&existing, fs::read_to_string(&key_path)) {
        if let Some(key) = AuthKey::parse(text.trim()) {
            if key.uuid == record.identity.uuid && verify_secret(record, &key.secret) {
                if !whisk_store::keys::is_current(record) {
                    // A salted SHA-256 of an older version: rehash the same key with Argon2.
                    let upgraded = SubjectRecord {
                        salt: String::new(),
                        secret_hash: hash_key(&key.secret),
                        ..record.clone()
                    };
                    identities
                        .put_subject(&upgraded)
                        .await
                        .context("rehashing the guest key")?;
                }
                return Ok(key);
            }
        }
    }
    let mut key = AuthKey::generate();
    if let Some(record) = &existing {
        // Keep the subject's uuid; only the secret is replaced.
        key.uuid = record.identity.uuid;
    }
    let record = SubjectRecord {
        identity: Identity {
            subject: GUEST.to_owned(),
            namespace: EntityName::namespace(GUEST)?,
            uuid: key.uuid,
        },
        salt: String::new(),
        secret_hash: hash_key(&key.secret),
        blocked: existing.as_ref().is_some_and(|r| r.blocked),
    };
    identities
        .put_subject(&record)
        .await
        .context("storing the guest subject")?;
    write_private(&key_path, key.to_string().as_bytes())?;
    tracing::info!(path = %key_path.display(), "Created the guest subject and wrote its key.");
    Ok(key)
}

/// For a store several controllers share: creates the guest subject (and writes its key
/// to `DIR/guest.key`) only when the store has none. An existing guest is left alone even
/// without a key file here, since another controller holds its key (`whiskd admin key
/// regenerate guest` makes a new one). `None` when the guest existed.
///
/// # Errors
/// Store failures, or the key file cannot be written.
pub async fn ensure_guest_shared(
    identities: &dyn IdentityStore,
    data_dir: &Path,
) -> Result<Option<AuthKey>> {
    let existing = identities
        .subject_by_name(GUEST)
        .await
        .context("reading the guest subject")?;
    if existing.is_some() {
        return Ok(None);
    }
    ensure_guest(identities, data_dir).await.map(Some)
}

/// The activation-key signing key every controller and invoker of a deployment shares,
/// from `path` (64 hex digits). A missing file is created with a fresh key, mode 0600,
/// without replacing one another process made at the same moment; a file others can read
/// or write is refused.
///
/// # Errors
/// The file cannot be read or made, holds no key, or is not private.
pub fn signing_key_file(path: &Path) -> Result<whisk_types::SigningKey> {
    use std::io::ErrorKind;
    match fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let key = whisk_types::SigningKey::generate();
            f.write_all(key.to_hex().as_bytes())?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), "Made a new activation-key signing key.");
            return Ok(key);
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("making {}", path.display())),
    }
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        meta.permissions().mode() & 0o077 == 0,
        "{} must be readable by its owner only (chmod 600)",
        path.display()
    );
    // A file another process is writing right now may still be empty: wait a moment.
    for _ in 0..50 {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if let Some(key) = whisk_types::SigningKey::from_hex(&text) {
            return Ok(key);
        }
        if !text.trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    anyhow::bail!("{} holds no signing key (64 hex digits)", path.display())
}

/// Makes the data directory private before anything is written into it: the directory
/// 0700, and the database files (`files`, with SQLite's `-wal` and `-shm` beside them)
/// 0600. Missing databases are created empty with mode 0600, and SQLite gives its `-wal`
/// and `-shm` files the mode of their database; files of an older installation are
/// tightened.
///
/// # Errors
/// The directory or a file cannot be created or changed.
pub fn secure_data_dir(data_dir: &Path, files: &[&str]) -> Result<()> {
    if let Ok(meta) = fs::metadata(data_dir) {
        // A shared directory such as /tmp must not be taken over (made 0700).
        anyhow::ensure!(
            meta.permissions().mode() & 0o002 == 0,
            "data directory {} is writable by everyone; give whiskd a directory of its own",
            data_dir.display()
        );
    }
    fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", data_dir.display()))?;
    for file in files {
        let path = data_dir.join(file);
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let path = data_dir.join(format!("{file}{suffix}"));
            if path.exists() {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private", path.display()))?;
            }
        }
    }
    for private in [GUEST_KEY_FILE, "tls/key.pem"] {
        let path = data_dir.join(private);
        if path.exists() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Writes a file readable only by its owner (mode 0600).
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The name of this installation, kept in `DIR/instance` (made on first start). It labels
/// the containers, so installations sharing one Docker engine leave each other alone.
///
/// # Errors
/// The file cannot be read or written.
pub fn ensure_instance(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("instance");
    if let Ok(text) = fs::read_to_string(&path) {
        let name = text.trim();
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(name.to_owned());
        }
    }
    let name = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    write_private(&path, name.as_bytes())?;
    Ok(name)
}

/// Paths of the certificate and key the HTTPS listener uses.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Returns the given certificate files, or a self-signed pair kept in `DIR/tls/`
/// (made on first start) for `localhost` and `127.0.0.1`.
///
/// # Errors
/// Given files missing, or the generated pair cannot be written.
pub fn ensure_tls(
    data_dir: &Path,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<TlsFiles> {
    match (cert, key) {
        (Some(cert), Some(key)) => {
            anyhow::ensure!(
                cert.exists(),
                "--tls-cert {} does not exist",
                cert.display()
            );
            anyhow::ensure!(key.exists(), "--tls-key {} does not exist", key.display());
            return Ok(TlsFiles { cert, key });
        }
        (None, None) => {}
        _ => anyhow::bail!("--tls-cert and --tls-key must be given together"),
    }
    let dir = data_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    write_private(&files.key, certified.signing_key.serialize_pem().as_bytes())?;
    fs::write(&files.cert, certified.cert.pem())
        .with_context(|| format!("writing {}", files.cert.display()))?;
    tracing::info!(cert = %files.cert.display(), "Made a self-signed certificate for HTTPS.");
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guest_key_is_stable_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = whisk_store::SqliteStore::open(&dir.path().join("db")).unwrap();
        let k1 = ensure_guest(&store, dir.path()).await.unwrap();
        let k2 = ensure_guest(&store, dir.path()).await.unwrap();
        assert_eq!(k1, k2);
        let path = dir.path().join(GUEST_KEY_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), k1.to_string());
        let rec = store.subject_by_name(GUEST).await.unwrap().unwrap();
        assert!(
            rec.secret_hash.starts_with("$argon2id$"),
            "an Argon2 PHC string"
        );
        assert!(!rec.secret_hash.contains(&k1.secret));
        let db = fs::read(dir.path().join("db")).unwrap();
        let wal = fs::read(dir.path().join("db-wal")).unwrap_or_default();
        for bytes in [db, wal] {
            assert!(
                !bytes
                    .windows(k1.secret.len())
                    .any(|w| w == k1.secret.as_bytes()),
                "the key is not in the database"
            );
        }
        // A key hashed by an older version (salted SHA-256) is rehashed with Argon2.
        let salt = whisk_store::new_salt();
        store
            .put_subject(&SubjectRecord {
                salt: salt.clone(),
                secret_hash: whisk_store::hash_secret(&salt, &k1.secret),
                ..rec.clone()
            })
            .await
            .unwrap();
        assert_eq!(ensure_guest(&store, dir.path()).await.unwrap(), k1);
        let rec = store.subject_by_name(GUEST).await.unwrap().unwrap();
        assert!(rec.secret_hash.starts_with("$argon2id$") && rec.salt.is_empty());
        assert!(verify_secret(&rec, &k1.secret));
        // A lost key file gives a new key; the old one stops working.
        fs::remove_file(&path).unwrap();
        let k3 = ensure_guest(&store, dir.path()).await.unwrap();
        assert_ne!(k3.secret, k1.secret);
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn data_dir_databases_and_keys_are_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        // A database left world-readable by an older version is tightened too.
        fs::write(dir.join("old.db"), b"").unwrap();
        fs::set_permissions(dir.join("old.db"), fs::Permissions::from_mode(0o644)).unwrap();
        secure_data_dir(&dir, &["whisk.db", "old.db"]).unwrap();
        let shared = parent.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(
            secure_data_dir(&shared, &["whisk.db"]).is_err(),
            "like /tmp"
        );
        assert_eq!(mode(&shared) & 0o777, 0o777, "left alone");
        let store = whisk_store::SqliteStore::open(&dir.join("whisk.db")).unwrap();
        ensure_guest(&store, &dir).await.unwrap();
        ensure_tls(&dir, None, None).unwrap();
        ensure_instance(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("tls")), 0o700);
        for file in [
            "whisk.db",
            "whisk.db-wal",
            "whisk.db-shm",
            "old.db",
            GUEST_KEY_FILE,
            "tls/key.pem",
            "instance",
        ] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
    }

    #[test]
    fn self_signed_pair_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure_tls(dir.path(), None, None).unwrap();
        let pem = fs::read_to_string(&a.cert).unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE"));
        let b = ensure_tls(dir.path(), None, None).unwrap();
        assert_eq!(fs::read_to_string(&b.cert).unwrap(), pem);
        assert!(ensure_tls(dir.path(), Some("x".into()), None).is_err());
    }
}
