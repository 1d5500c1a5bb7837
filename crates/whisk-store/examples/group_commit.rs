//! What group commit buys one activation's SQLite work, at concurrency 1, 4 and 16:
//! - store: an activation record put, then read back (the invoker's write, the caller's
//!   read), through [`SqliteStore`];
//! - bus: publish → next → ack (the controller's enqueue, the invoker's take and ack),
//!   through [`EmbeddedBus`];
//!
//! each beside the previous code path rebuilt here on the same schema and statements
//! (every statement its own commit, each a `spawn_blocking` hop onto a mutex-guarded
//! connection; store reads a hop onto a pooled reader). Prints per operation: p50/p99,
//! operations per second and the ratio new/previous, the process's CPU time (utime +
//! stime from /proc) and context switches (all threads, /proc) per operation, and the
//! writer's commits per operation. Wall-clock figures depend on the machine's load;
//! CPU and context switches per operation much less.
//!
//! `cargo run -p whisk-store --features test-util --example group_commit [-- OPS]`
//! (default 3000 operations per run; bounded).

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use whisk_bus::{Bus, Consumer, EmbeddedBus};
use whisk_store::contract;
use whisk_store::{ActivationStore, SqliteStore};
use whisk_types::Activation;

const TOPIC: &str = "bench";

/// Runs `f` on `conn` in the blocking pool, as the previous build ran every statement.
async fn hop<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> T {
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || f(&conn.lock().expect("lock")).expect("statement"))
        .await
        .expect("join")
}

/// The store's put and get as the previous build ran them.
#[derive(Clone)]
struct OldStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

impl OldStore {
    fn open(path: &Path) -> Self {
        drop(SqliteStore::open(path).expect("store schema"));
        let open = || {
            let c = Connection::open(path).expect("open");
            c.pragma_update(None, "synchronous", "NORMAL")
                .expect("sync");
            Arc::new(Mutex::new(c))
        };
        Self {
            writer: open(),
            reader: open(),
        }
    }

    async fn put(&self, a: &Activation) {
        let record = serde_json::to_string(a).expect("json");
        let (id, ns, name, start) = (
            a.activation_id.to_string(),
            a.namespace.namespace().to_string(),
            a.name.to_string(),
            a.start,
        );
        hop(&self.writer, move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO activations
                     (activation_id, namespace, name, path, start, record)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
            )?
            .execute(params![id, ns, name, start, record])
        })
        .await;
    }

    async fn get(&self, a: &Activation) -> Activation {
        let (id, ns) = (
            a.activation_id.to_string(),
            a.namespace.namespace().to_string(),
        );
        let text: Option<String> = hop(&self.reader, move |c| {
            c.prepare_cached(
                "SELECT record FROM activations WHERE activation_id = ?1 AND namespace = ?2",
            )?
            .query_row(params![id, ns], |r| r.get(0))
            .optional()
        })
        .await;
        serde_json::from_str(&text.expect("stored")).expect("record")
    }
}

/// The bus's publish, take and ack as the previous build ran them.
#[derive(Clone)]
struct OldBus(Arc<Mutex<Connection>>);

impl OldBus {
    fn open(path: &Path) -> Self {
        // The schema as the bus makes it.
        drop(EmbeddedBus::open(path).expect("bus schema"));
        let c = Connection::open(path).expect("open");
        c.pragma_update(None, "synchronous", "NORMAL")
            .expect("sync");
        Self(Arc::new(Mutex::new(c)))
    }

    async fn round(&self) {
        let payload = vec![b'x'; 1024];
        hop(&self.0, move |c| {
            c.prepare_cached("INSERT INTO bus_queue (topic, payload) VALUES (?1, ?2)")?
                .execute(params![TOPIC, payload])
        })
        .await;
        let id = loop {
            let taken = hop(&self.0, |c| {
                c.prepare_cached(
                    "UPDATE bus_queue SET delivered = 1, deliveries = deliveries + 1,
                         delivered_at = ?2
                     WHERE id = (SELECT id FROM bus_queue
                                 WHERE topic = ?1 AND delivered = 0 ORDER BY id LIMIT 1)
                     RETURNING id, payload, deliveries",
                )?
                .query_row(params![TOPIC, 0], |r| r.get::<_, i64>(0))
                .optional()
            })
            .await;
            // Each round published before taking: a message is there or coming.
            match taken {
                Some(id) => break id,
                None => tokio::task::yield_now().await,
            }
        };
        hop(&self.0, move |c| {
            c.prepare_cached("DELETE FROM bus_queue WHERE id = ?1")?
                .execute(params![id])
        })
        .await;
    }
}

/// CPU time of this process (all threads) from /proc, in µs.
fn cpu_micros() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on Linux.
    ticks * 10_000.0
}

/// Context switches of every live thread of this process, from /proc.
fn context_switches() -> u64 {
    let mut n = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let status = std::fs::read_to_string(task.expect("task").path().join("status"));
        for line in status.unwrap_or_default().lines() {
            if line.contains("ctxt_switches:") {
                n += line
                    .split_whitespace()
                    .last()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    n
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

struct Run {
    p50: f64,
    p99: f64,
    per_sec: f64,
    cpu: f64,
    switches: f64,
}

/// Runs `ops` operations split over `c` tasks; each is timed.
async fn run<F, Fut>(c: usize, ops: usize, op: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let (cpu0, sw0) = (cpu_micros(), context_switches());
    let start = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(ops / c);
                for i in 0..ops / c {
                    let t = Instant::now();
                    op(i).await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(ops);
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let elapsed = start.elapsed();
    let n = all.len() as f64;
    let (cpu, switches) = (
        (cpu_micros() - cpu0) / n,
        (context_switches() - sw0) as f64 / n,
    );
    all.sort_unstable();
    Run {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        per_sec: n / elapsed.as_secs_f64(),
        cpu,
        switches,
    }
}

fn print(what: &str, c: usize, new: &Run, old: &Run, commits: f64, old_commits: u32) {
    println!(
        "{what:<5} c={c:<2} | {:>7.0} {:>7.0} | {:>7.0} {:>7.0} | {:>6.0} {:>6.0} {:>5.2}x | {:>5.0} {:>5.0} | {:>5.1} {:>5.1} | {:>5.2} {old_commits:>3}",
        new.p50, new.p99, old.p50, old.p99, new.per_sec, old.per_sec, new.per_sec / old.per_sec,
        new.cpu, old.cpu, new.switches, old.switches, commits,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let ops: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000)
        .clamp(16, 200_000);
    println!(
        "{ops} operations per run, 2 runtime threads; new = group commit, old = previous path"
    );
    println!("store op = put activation + get it; bus op = publish 1 kB + next + ack");
    println!(
        "           | new p50/p99 µs  | old p50/p99 µs  |  ops/s new old  ratio | CPU µs/op | ctx sw/op | commits/op"
    );
    for c in [1usize, 4, 16] {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = contract::random_namespace();

        let store = SqliteStore::open(&dir.path().join("new.db")).expect("store");
        let before = store.writer_stats();
        let new = {
            let (store, ns) = (store.clone(), ns.clone());
            run(c, ops, move |i| {
                let (store, a) = (
                    store.clone(),
                    contract::activation(&ns, "b", i as i64, None),
                );
                async move {
                    assert!(ActivationStore::put(&store, &a).await.expect("put"));
                    let got =
                        ActivationStore::get(&store, a.namespace.namespace(), &a.activation_id);
                    assert_eq!(got.await.expect("get").as_ref(), Some(&a));
                }
            })
            .await
        };
        let commits = (store.writer_stats().commits - before.commits) as f64 / (ops / c * c) as f64;
        let old_store = OldStore::open(&dir.path().join("old.db"));
        let old = run(c, ops, move |i| {
            let (old_store, a) = (
                old_store.clone(),
                contract::activation(&ns, "b", i as i64, None),
            );
            async move {
                old_store.put(&a).await;
                assert_eq!(old_store.get(&a).await, a);
            }
        })
        .await;
        print("store", c, &new, &old, commits, 1);

        let bus = EmbeddedBus::open(&dir.path().join("bus.db")).expect("bus");
        let consumer: Arc<dyn Consumer> = bus.consume(TOPIC).await.expect("consume");
        let before = bus.writer_stats();
        let new = {
            let bus = bus.clone();
            run(c, ops, move |_| {
                let (bus, consumer) = (bus.clone(), Arc::clone(&consumer));
                async move {
                    bus.publish(TOPIC, vec![b'x'; 1024]).await.expect("publish");
                    let d = consumer.next().await.expect("next");
                    consumer.ack(&d.token).await.expect("ack");
                }
            })
            .await
        };
        let commits = (bus.writer_stats().commits - before.commits) as f64 / (ops / c * c) as f64;
        let old_bus = OldBus::open(&dir.path().join("oldbus.db"));
        let old = run(c, ops, move |_| {
            let old_bus = old_bus.clone();
            async move { old_bus.round().await }
        })
        .await;
        print("bus", c, &new, &old, commits, 3);
    }
}
