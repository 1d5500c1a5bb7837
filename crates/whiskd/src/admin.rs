//! `whiskd admin`: manage subjects and their keys in a data directory, as OpenWhisk's
//! `wskadmin user` does. Works beside a running `whiskd` (the store allows concurrent use).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use whisk_store::{hash_secret, new_salt, IdentityStore, SqliteStore, SubjectRecord};
use whisk_types::{AuthKey, EntityName, Identity};

/// `whiskd admin ...`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The data directory of the installation [default: ~/.rwhisk].
    #[arg(long, env = "RWHISK_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Subjects and their keys.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Creates a subject with a new random key and prints the key (`uuid:key`).
    ///
    /// The key is shown once: only a salted hash of it is stored.
    ///
    /// Example:
    ///   whiskd admin user create alice            # namespace alice
    ///   whiskd admin user create bob --namespace team
    Create {
        /// The subject name (at least 5 characters, as OpenWhisk requires).
        subject: String,
        /// Its namespace [default: the subject name].
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Prints the subject's namespace and uuid (never its key).
    Get { subject: String },
}

/// Runs an admin command.
///
/// # Errors
/// Bad names, an existing subject, or an unusable store.
pub fn main(args: AdminArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: AdminArgs) -> Result<()> {
    let dir = args.data_dir.unwrap_or_else(crate::default_data_dir);
    let db = dir.join(crate::standalone::STORE_FILE);
    if !db.exists() {
        bail!(
            "no store at {}: start `whiskd standalone --data-dir {}` once first",
            db.display(),
            dir.display()
        );
    }
    let store = SqliteStore::open(&db).context("opening the store")?;
    match args.command {
        AdminCommand::User(UserCommand::Create { subject, namespace }) => {
            let key = create_user(&store, &subject, namespace.as_deref()).await?;
            println!("{key}");
        }
        AdminCommand::User(UserCommand::Get { subject }) => {
            match store.subject_by_name(&subject).await? {
                Some(r) => println!("{}\t{}", r.identity.namespace, r.identity.uuid),
                None => bail!("subject '{subject}' does not exist"),
            }
        }
    }
    Ok(())
}

/// Creates `subject` in `namespace` (default: its own name) with a fresh key.
///
/// # Errors
/// A subject shorter than 5 characters, a bad namespace name, or an existing subject.
pub async fn create_user(
    store: &dyn IdentityStore,
    subject: &str,
    namespace: Option<&str>,
) -> Result<AuthKey> {
    if subject.chars().count() < 5 {
        bail!("subject name must be at least 5 characters");
    }
    let namespace =
        EntityName::namespace(namespace.unwrap_or(subject)).context("invalid namespace name")?;
    if store.subject_by_name(subject).await?.is_some() {
        bail!("subject '{subject}' already exists");
    }
    let key = AuthKey::generate();
    let salt = new_salt();
    store
        .put_subject(&SubjectRecord {
            identity: Identity {
                subject: subject.to_owned(),
                namespace,
                uuid: key.uuid,
            },
            secret_hash: hash_secret(&salt, &key.secret),
            salt,
        })
        .await
        .context("storing the subject")?;
    Ok(key)
}
