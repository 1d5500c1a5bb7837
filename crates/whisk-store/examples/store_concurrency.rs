//! What group commit buys the SQLite store: an activation record put, then read back
//! (the invoker's write and the caller's read of one activation), at concurrency 1, 4
//! and 16, through [`SqliteStore`] (one writer thread batching commits, point reads on
//! the caller's thread) beside the previous code path rebuilt here on the same schema
//! (each put its own commit through `spawn_blocking` onto a mutex-guarded writer, each
//! get a `spawn_blocking` hop onto a pooled reader). Prints p50/p99 per put+get, pairs
//! per second, their ratio, and the writer's commits per put.
//!
//! `cargo run -p whisk-store --features test-util --example store_concurrency [-- PAIRS]`
//! (default 3000 pairs per run; bounded).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use whisk_store::contract;
use whisk_store::{ActivationStore, SqliteStore};
use whisk_types::Activation;

/// The store's statements as the previous build ran them.
#[derive(Clone)]
struct OldPath {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: Arc<Path>,
}

impl OldPath {
    fn open(path: &Path) -> Self {
        // The schema as the store makes it.
        drop(SqliteStore::open(path).expect("store"));
        let c = Connection::open(path).expect("open");
        c.pragma_update(None, "synchronous", "NORMAL")
            .expect("sync");
        Self {
            writer: Arc::new(Mutex::new(c)),
            readers: Arc::default(),
            path: path.into(),
        }
    }

    async fn put(&self, a: &Activation) {
        let record = serde_json::to_string(a).expect("json");
        let (id, ns, name) = (
            a.activation_id.to_string(),
            a.namespace.namespace().to_string(),
            a.name.to_string(),
        );
        let start = a.start;
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            writer
                .lock()
                .expect("lock")
                .prepare_cached(
                    "INSERT OR IGNORE INTO activations
                         (activation_id, namespace, name, path, start, record)
                     VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                )?
                .execute(params![id, ns, name, start, record])
        })
        .await
        .expect("join")
        .expect("insert");
    }

    async fn get(&self, a: &Activation) -> Activation {
        let (id, ns) = (
            a.activation_id.to_string(),
            a.namespace.namespace().to_string(),
        );
        let this = self.clone();
        let text: String = tokio::task::spawn_blocking(move || {
            let idle = this.readers.lock().expect("lock").pop();
            let conn = idle.unwrap_or_else(|| Connection::open(&this.path).expect("open"));
            let out = conn
                .prepare_cached(
                    "SELECT record FROM activations WHERE activation_id = ?1 AND namespace = ?2",
                )
                .and_then(|mut s| s.query_row(params![id, ns], |r| r.get(0)).optional());
            this.readers.lock().expect("lock").push(conn);
            out
        })
        .await
        .expect("join")
        .expect("select")
        .expect("stored");
        serde_json::from_str(&text).expect("record")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

struct Run {
    p50: f64,
    p99: f64,
    per_sec: f64,
}

async fn run<F, Fut>(c: usize, pairs: usize, pair: F) -> Run
where
    F: Fn(Activation) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let pair = Arc::new(pair);
    let ns = contract::random_namespace();
    let start = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (pair, ns) = (Arc::clone(&pair), ns.clone());
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(pairs / c);
                for i in 0..pairs / c {
                    let a = contract::activation(&ns, "bench", i as i64, None);
                    let t = Instant::now();
                    pair(a).await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(pairs);
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Run {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let pairs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000)
        .clamp(16, 200_000);
    println!("{pairs} activation put+get pairs per run, 2 runtime threads");
    println!(
        "{:>3} | {:>22} | {:>22} | {:>9} | {:>15}",
        "c", "group commit p50/p99 µs", "previous p50/p99 µs", "pairs/s ratio", "commits per put"
    );
    for c in [1usize, 4, 16] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("new.db")).expect("store");
        let before = store.writer_stats();
        let new = {
            let store = store.clone();
            run(c, pairs, move |a| {
                let store = store.clone();
                async move {
                    assert!(ActivationStore::put(&store, &a).await.expect("put"));
                    let got =
                        ActivationStore::get(&store, &a.namespace.namespace(), &a.activation_id)
                            .await
                            .expect("get");
                    assert_eq!(got.as_ref(), Some(&a));
                }
            })
            .await
        };
        let after = store.writer_stats();
        let old_store = OldPath::open(&dir.path().join("old.db"));
        let old = run(c, pairs, move |a| {
            let old_store = old_store.clone();
            async move {
                old_store.put(&a).await;
                assert_eq!(old_store.get(&a).await, a);
            }
        })
        .await;
        let done = (pairs / c * c) as f64;
        println!(
            "{c:>3} | {:>10.1} / {:>9.1} | {:>10.1} / {:>9.1} | {:>12.2}x | {:>6.2} (was 1)   {:.0} vs {:.0} pairs/s",
            new.p50,
            new.p99,
            old.p50,
            old.p99,
            new.per_sec / old.per_sec,
            (after.commits - before.commits) as f64 / done,
            new.per_sec,
            old.per_sec,
        );
    }
}
