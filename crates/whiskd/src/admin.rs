//! `whiskd admin`: manage subjects, keys and per-namespace limits in a data directory, as
//! OpenWhisk's `wskadmin` does (same commands, flags and messages where they exist).
//!
//! It writes the store directly and works beside a running `whiskd` (the store allows
//! concurrent use): the SQLite store of a data directory, or a shared one named by
//! `--store postgres://...`. A running controller sees a change within its cache
//! lifetimes: limits after `limits_cache_ttl` (2 s), a deleted, blocked or replaced key
//! after `auth_cache_ttl` (5 s); with `--bus nats://...` every controller is told at once
//! (a cache invalidation on the bus).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use whisk_store::{hash_key, IdentityStore, LimitOverrides, SubjectRecord};
use whisk_types::message::{CacheInvalidation, CACHE_INVALIDATION_SUBJECT};
use whisk_types::{AuthKey, EntityName, Identity};

/// `whiskd admin ...`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The data directory of the installation [default: ~/.rwhisk].
    #[arg(long, env = "RWHISK_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The store: the data directory's (default), a SQLite file, or postgres://...
    #[arg(long, env = "RWHISK_STORE", global = true, value_name = "PATH|URL")]
    store: Option<String>,
    /// A bus to tell running controllers about the change at once (nats://...).
    #[arg(long, env = "RWHISK_BUS", global = true, value_name = "URL")]
    bus: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Subjects and their keys.
    #[command(subcommand)]
    User(UserCommand),
    /// Keys of subjects.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Namespaces: block or unblock every subject of one.
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    /// Per-namespace limits (throttles, allowed kinds, whether records are kept).
    #[command(subcommand)]
    Limits(LimitsCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Creates a subject with a new random key and prints the key (`uuid:key`).
    ///
    /// The key is shown once: only an Argon2 hash of it is stored.
    ///
    /// Example:
    ///   whiskd admin user create alice5            # namespace alice5
    ///   whiskd admin user create bobby --namespace team
    Create {
        /// The subject name (at least 5 characters, as OpenWhisk requires).
        subject: String,
        /// Its namespace [default: the subject name].
        #[arg(long, short = 'n', alias = "ns")]
        namespace: Option<String>,
        /// Use this `uuid:key` instead of a random one (wskadmin's `--auth`, e.g. to keep
        /// the keys of an OpenWhisk installation).
        #[arg(long, short = 'u', value_name = "UUID:KEY")]
        auth: Option<String>,
    },
    /// Prints the subject's namespace and uuid (never its key, which is not stored).
    Get { subject: String },
    /// Deletes subjects; their namespaces, entities and limits stay.
    Delete {
        #[arg(required = true)]
        subjects: Vec<String>,
    },
    /// Lists subjects (of one namespace): subject, namespace, uuid, and `blocked`.
    List { namespace: Option<String> },
    /// Blocks subjects: their keys stop working (401).
    Block {
        #[arg(required = true)]
        subjects: Vec<String>,
    },
    /// Unblocks subjects.
    Unblock {
        #[arg(required = true)]
        subjects: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Gives the subject a new random key (same uuid) and prints it; the old key stops
    /// working.
    Regenerate { subject: String },
}

#[derive(Debug, Subcommand)]
enum NamespaceCommand {
    /// Blocks every subject of the namespace: their keys get 401, and its web actions and
    /// alarms stop, as no unblocked subject owns it.
    Block { namespace: String },
    /// Unblocks every subject of the namespace.
    Unblock { namespace: String },
}

#[derive(Debug, Subcommand)]
enum LimitsCommand {
    /// Prints the limits set for the namespace, one `name = value` a line.
    Get { namespace: String },
    /// Sets limits of the namespace; limits not named keep their value.
    ///
    /// Example:
    ///   whiskd admin limits set team --invocationsPerMinute 600 --concurrentInvocations 50
    ///   whiskd admin limits set team --allowedKinds nodejs:18 blackbox
    ///   whiskd admin limits set team --storeActivations false
    Set {
        namespace: String,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Removes the limits of the namespace: the system defaults apply.
    Delete { namespace: String },
}

/// wskadmin's `limits set` flags.
#[derive(Debug, Args)]
struct LimitFlags {
    /// Invocations per minute (0 blocks all).
    #[arg(long = "invocationsPerMinute", value_name = "N")]
    invocations_per_minute: Option<u64>,
    /// Activations running at once.
    #[arg(long = "concurrentInvocations", value_name = "N")]
    concurrent_invocations: Option<u64>,
    /// Trigger fires per minute.
    #[arg(long = "firesPerMinute", value_name = "N")]
    fires_per_minute: Option<u64>,
    /// The only kinds actions may have (e.g. `nodejs:18 blackbox`).
    #[arg(long = "allowedKinds", value_name = "KIND", num_args = 1..)]
    allowed_kinds: Option<Vec<String>>,
    /// Whether activation records are kept.
    #[arg(long = "storeActivations", value_name = "BOOL")]
    store_activations: Option<bool>,
}

/// Runs an admin command.
///
/// # Errors
/// Bad names, an existing or missing subject, or an unusable store.
pub fn main(args: AdminArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: AdminArgs) -> Result<()> {
    let dir = args.data_dir.unwrap_or_else(crate::default_data_dir);
    let location = crate::backends::StoreLocation::parse(args.store.as_deref(), &dir)?;
    if let crate::backends::StoreLocation::Sqlite(db) = &location {
        if !db.exists() {
            bail!(
                "no store at {}: start `whiskd standalone --data-dir {}` once first",
                db.display(),
                dir.display()
            );
        }
    }
    let stores = crate::backends::open_store(&location)
        .await
        .context("opening the store")?;
    let invalidation = invalidation_of(&args.command);
    for line in execute(stores.identities.as_ref(), args.command).await? {
        println!("{line}");
    }
    if let (Some(bus), Some(what)) = (args.bus.as_deref(), invalidation) {
        announce(bus, &dir, &what).await?;
    }
    Ok(())
}

/// What running controllers must forget after `command`.
fn invalidation_of(command: &AdminCommand) -> Option<CacheInvalidation> {
    match command {
        AdminCommand::Limits(LimitsCommand::Set { namespace, .. })
        | AdminCommand::Limits(LimitsCommand::Delete { namespace }) => {
            Some(CacheInvalidation::Limits {
                namespace: namespace.clone(),
            })
        }
        AdminCommand::Limits(LimitsCommand::Get { .. }) => None,
        AdminCommand::User(UserCommand::Get { .. } | UserCommand::List { .. }) => None,
        _ => Some(CacheInvalidation::Credentials),
    }
}

/// Tells every controller on `bus` to forget `what`.
async fn announce(bus: &str, dir: &std::path::Path, what: &CacheInvalidation) -> Result<()> {
    let location = crate::backends::BusLocation::parse(Some(bus), dir)?;
    anyhow::ensure!(
        location.is_shared(),
        "--bus: only a shared bus (nats://...) reaches running controllers"
    );
    let opened = crate::backends::open_bus(
        &location,
        &crate::backends::BusOptions {
            ack_wait: std::time::Duration::from_secs(60),
        },
        prometheus_client::metrics::counter::Counter::default(),
    )
    .await?;
    opened
        .bus
        .notify(CACHE_INVALIDATION_SUBJECT, serde_json::to_vec(what)?)
        .await
        .context("announcing the change to the controllers")?;
    Ok(())
}

/// Runs one command against `store`; the lines to print.
async fn execute(store: &dyn IdentityStore, command: AdminCommand) -> Result<Vec<String>> {
    Ok(match command {
        AdminCommand::User(UserCommand::Create {
            subject,
            namespace,
            auth,
        }) => {
            let key = match auth {
                Some(text) => AuthKey::parse(&text)
                    .context("--auth must be UUID:KEY with a 64-character alphanumeric key")?,
                None => AuthKey::generate(),
            };
            vec![create_user(store, &subject, namespace.as_deref(), key)
                .await?
                .to_string()]
        }
        AdminCommand::User(UserCommand::Get { subject }) => {
            let r = subject_record(store, &subject).await?;
            vec![format!("{}\t{}", r.identity.namespace, r.identity.uuid)]
        }
        AdminCommand::User(UserCommand::Delete { subjects }) => {
            let mut out = Vec::new();
            for subject in subjects {
                if !store.delete_subject(&subject).await? {
                    bail!("'{subject} missing");
                }
                out.push("Subject deleted".to_owned());
            }
            out
        }
        AdminCommand::User(UserCommand::List { namespace }) => {
            let namespace = namespace.map(|n| namespace_name(&n)).transpose()?;
            store
                .list_subjects()
                .await?
                .into_iter()
                .filter(|r| {
                    namespace
                        .as_ref()
                        .is_none_or(|n| &r.identity.namespace == n)
                })
                .map(|r| {
                    let blocked = if r.blocked { "\tblocked" } else { "" };
                    format!(
                        "{}\t{}\t{}{blocked}",
                        r.identity.subject, r.identity.namespace, r.identity.uuid
                    )
                })
                .collect()
        }
        AdminCommand::User(UserCommand::Block { subjects }) => {
            set_blocked(store, &subjects, true).await?
        }
        AdminCommand::User(UserCommand::Unblock { subjects }) => {
            set_blocked(store, &subjects, false).await?
        }
        AdminCommand::Key(KeyCommand::Regenerate { subject }) => {
            let mut record = subject_record(store, &subject).await?;
            let mut key = AuthKey::generate();
            key.uuid = record.identity.uuid;
            record.salt = String::new();
            record.secret_hash = hash_key(&key.secret);
            store.put_subject(&record).await?;
            vec![key.to_string()]
        }
        AdminCommand::Namespace(cmd) => {
            let (name, blocked) = match cmd {
                NamespaceCommand::Block { namespace } => (namespace, true),
                NamespaceCommand::Unblock { namespace } => (namespace, false),
            };
            let namespace = namespace_name(&name)?;
            if store.block_namespace(&namespace, blocked).await? == 0 {
                bail!("no identities found for namespace  '{namespace}'");
            }
            let done = if blocked { "blocked" } else { "unblocked" };
            vec![format!("'{namespace}' {done} successfully")]
        }
        AdminCommand::Limits(LimitsCommand::Get { namespace }) => {
            match store.namespace_limits(&namespace_name(&namespace)?).await? {
                Some(limits) if !limits.is_empty() => limit_lines(&limits),
                _ => vec!["No limits found, default system limits apply".to_owned()],
            }
        }
        AdminCommand::Limits(LimitsCommand::Set { namespace, limits }) => {
            let ns = namespace_name(&namespace)?;
            let old = store.namespace_limits(&ns).await?;
            let mut new = old.clone().unwrap_or_default();
            let f = limits;
            new.invocations_per_minute = f.invocations_per_minute.or(new.invocations_per_minute);
            new.concurrent_invocations = f.concurrent_invocations.or(new.concurrent_invocations);
            new.fires_per_minute = f.fires_per_minute.or(new.fires_per_minute);
            new.allowed_kinds = f.allowed_kinds.or(new.allowed_kinds);
            new.store_activations = f.store_activations.or(new.store_activations);
            store.put_namespace_limits(&ns, &new).await?;
            let verb = if old.is_some() { "updated" } else { "set" };
            vec![format!("Limits successfully {verb} for '{ns}'")]
        }
        AdminCommand::Limits(LimitsCommand::Delete { namespace }) => {
            let ns = namespace_name(&namespace)?;
            if !store.delete_namespace_limits(&ns).await? {
                bail!("Limits not found for '{ns}'");
            }
            vec!["Limits deleted".to_owned()]
        }
    })
}

fn namespace_name(name: &str) -> Result<EntityName> {
    EntityName::namespace(name).context("invalid namespace name")
}

async fn subject_record(store: &dyn IdentityStore, subject: &str) -> Result<SubjectRecord> {
    match store.subject_by_name(subject).await? {
        Some(r) => Ok(r),
        None => bail!("'{subject} missing"),
    }
}

async fn set_blocked(
    store: &dyn IdentityStore,
    subjects: &[String],
    blocked: bool,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for subject in subjects {
        let record = subject_record(store, subject).await?;
        store
            .put_subject(&SubjectRecord { blocked, ..record })
            .await?;
        let done = if blocked { "blocked" } else { "unblocked" };
        out.push(format!("'{subject}' {done} successfully"));
    }
    Ok(out)
}

/// `name = value` lines of the limits set, in wskadmin's names.
fn limit_lines(l: &LimitOverrides) -> Vec<String> {
    let numbers = [
        ("invocationsPerMinute", l.invocations_per_minute),
        ("concurrentInvocations", l.concurrent_invocations),
        ("firesPerMinute", l.fires_per_minute),
    ];
    let mut out: Vec<String> = numbers
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name} = {v}")))
        .collect();
    if let Some(kinds) = &l.allowed_kinds {
        out.push(format!("allowedKinds = {}", kinds.join(", ")));
    }
    if let Some(store) = l.store_activations {
        out.push(format!("storeActivations = {store}"));
    }
    out
}

/// Creates `subject` in `namespace` (default: its own name) with `key`.
///
/// # Errors
/// A subject shorter than 5 characters, a bad namespace name, an existing subject, or a
/// key whose uuid another subject has.
pub async fn create_user(
    store: &dyn IdentityStore,
    subject: &str,
    namespace: Option<&str>,
    key: AuthKey,
) -> Result<AuthKey> {
    if subject.chars().count() < 5 {
        bail!("subject name must be at least 5 characters");
    }
    let namespace = namespace_name(namespace.unwrap_or(subject))?;
    if store.subject_by_name(subject).await?.is_some() {
        bail!("subject '{subject}' already exists");
    }
    if store.subject_by_uuid(&key.uuid).await?.is_some() {
        bail!("another subject has the uuid {}", key.uuid);
    }
    store
        .put_subject(&SubjectRecord {
            identity: Identity {
                subject: subject.to_owned(),
                namespace,
                uuid: key.uuid,
            },
            salt: String::new(),
            secret_hash: hash_key(&key.secret),
            blocked: false,
        })
        .await
        .context("storing the subject")?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use whisk_store::SqliteStore;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AdminArgs,
    }

    async fn admin(store: &SqliteStore, line: &str) -> Result<Vec<String>> {
        let args = Cli::try_parse_from(std::iter::once("admin").chain(line.split_whitespace()))?;
        execute(store, args.args.command).await
    }

    #[tokio::test]
    async fn wskadmin_commands_and_messages() {
        let store = SqliteStore::temporary().unwrap();
        let key = admin(&store, "user create alice5").await.unwrap();
        let key = AuthKey::parse(&key[0]).expect("prints uuid:key");
        let record = store.subject_by_name("alice5").await.unwrap().unwrap();
        assert!(record.secret_hash.starts_with("$argon2id$"));
        assert!(whisk_store::verify_secret(&record, &key.secret));
        admin(&store, "user create bobby5 --namespace alice5")
            .await
            .unwrap();
        assert!(admin(&store, "user create abc").await.is_err());
        let given = AuthKey::generate();
        assert_eq!(
            admin(&store, &format!("user create carol5 --auth {given}"))
                .await
                .unwrap(),
            vec![given.to_string()]
        );
        let carol = store.subject_by_name("carol5").await.unwrap().unwrap();
        assert_eq!(carol.identity.uuid, given.uuid);
        assert!(whisk_store::verify_secret(&carol, &given.secret));
        assert!(
            admin(&store, &format!("user create dave55 --auth {given}"))
                .await
                .is_err(),
            "uuid taken"
        );
        assert!(admin(&store, "user create erin55 --auth nope")
            .await
            .is_err());
        assert!(admin(&store, "user create alice5").await.is_err());

        let listed = admin(&store, "user list alice5").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].starts_with("alice5\talice5\t"), "{listed:?}");

        assert_eq!(
            admin(&store, "user block alice5").await.unwrap(),
            vec!["'alice5' blocked successfully"]
        );
        assert!(
            store
                .subject_by_name("alice5")
                .await
                .unwrap()
                .unwrap()
                .blocked
        );
        assert!(admin(&store, "user list").await.unwrap()[0].ends_with("\tblocked"));
        admin(&store, "user unblock alice5").await.unwrap();
        assert_eq!(
            admin(&store, "namespace block alice5").await.unwrap(),
            vec!["'alice5' blocked successfully"]
        );
        assert!(
            store
                .subject_by_name("bobby5")
                .await
                .unwrap()
                .unwrap()
                .blocked
        );
        admin(&store, "namespace unblock alice5").await.unwrap();
        assert!(admin(&store, "namespace block nobody").await.is_err());

        let new = admin(&store, "key regenerate alice5").await.unwrap();
        let new = AuthKey::parse(&new[0]).unwrap();
        assert_eq!(new.uuid, key.uuid, "same uuid");
        let record = store.subject_by_name("alice5").await.unwrap().unwrap();
        assert!(whisk_store::verify_secret(&record, &new.secret));
        assert!(!whisk_store::verify_secret(&record, &key.secret));

        assert_eq!(
            admin(&store, "limits get alice5").await.unwrap(),
            vec!["No limits found, default system limits apply"]
        );
        assert_eq!(
            admin(
                &store,
                "limits set alice5 --invocationsPerMinute 13 --allowedKinds nodejs:18 blackbox"
            )
            .await
            .unwrap(),
            vec!["Limits successfully set for 'alice5'"]
        );
        assert_eq!(
            admin(&store, "limits set alice5 --storeActivations false")
                .await
                .unwrap(),
            vec!["Limits successfully updated for 'alice5'"]
        );
        assert_eq!(
            admin(&store, "limits get alice5").await.unwrap(),
            vec![
                "invocationsPerMinute = 13",
                "allowedKinds = nodejs:18, blackbox",
                "storeActivations = false"
            ]
        );
        assert_eq!(
            admin(&store, "limits delete alice5").await.unwrap(),
            vec!["Limits deleted"]
        );
        assert!(admin(&store, "limits delete alice5").await.is_err());

        assert_eq!(
            admin(&store, "user delete bobby5").await.unwrap(),
            vec!["Subject deleted"]
        );
        assert!(store.subject_by_name("bobby5").await.unwrap().is_none());
        assert!(admin(&store, "user delete bobby5").await.is_err());
    }
}
