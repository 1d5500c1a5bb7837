//! What group commit buys the embedded bus: publish → next → ack round trips (one
//! activation's bus work) at concurrency 1, 4 and 16 on a SQLite file, through
//! [`EmbeddedBus`] (one writer thread batching commits) beside the previous code path
//! rebuilt here (the same statements, each its own commit, each a `spawn_blocking` hop
//! onto a mutex-guarded connection). Prints p50/p99 per round trip, round trips per
//! second, their ratio, and the writer's commits per round trip.
//!
//! `cargo run -p whisk-bus --example bus_concurrency [-- ROUNDS]` (default 3000 round
//! trips of 1 kB per run; bounded).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use whisk_bus::{Bus, Consumer, EmbeddedBus};

const TOPIC: &str = "bench";

/// The bus's statements as the previous build ran them.
#[derive(Clone)]
struct OldPath(Arc<Mutex<Connection>>);

impl OldPath {
    fn open(path: &Path) -> Self {
        let c = Connection::open(path).expect("open");
        c.pragma_update(None, "journal_mode", "WAL").expect("wal");
        c.pragma_update(None, "synchronous", "NORMAL")
            .expect("sync");
        c.execute_batch(
            "CREATE TABLE bus_queue (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
                 delivered INTEGER NOT NULL DEFAULT 0, deliveries INTEGER NOT NULL DEFAULT 0,
                 delivered_at INTEGER);
             CREATE INDEX bus_queue_ready ON bus_queue (topic, delivered, id);",
        )
        .expect("schema");
        Self(Arc::new(Mutex::new(c)))
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> T {
        let conn = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || f(&conn.lock().expect("lock")).expect("statement"))
            .await
            .expect("join")
    }

    async fn publish(&self, payload: Vec<u8>) {
        self.with(move |c| {
            c.prepare_cached("INSERT INTO bus_queue (topic, payload) VALUES (?1, ?2)")?
                .execute(params![TOPIC, payload])
        })
        .await;
    }

    async fn take(&self) -> i64 {
        loop {
            let got = self
                .with(|c| {
                    c.prepare_cached(
                        "UPDATE bus_queue SET delivered = 1, deliveries = deliveries + 1,
                             delivered_at = ?2
                         WHERE id = (SELECT id FROM bus_queue
                                     WHERE topic = ?1 AND delivered = 0 ORDER BY id LIMIT 1)
                         RETURNING id, payload",
                    )?
                    .query_row(params![TOPIC, 0], |r| r.get::<_, i64>(0))
                    .optional()
                })
                .await;
            if let Some(id) = got {
                return id;
            }
            tokio::task::yield_now().await;
        }
    }

    async fn ack(&self, id: i64) {
        self.with(move |c| {
            c.prepare_cached("DELETE FROM bus_queue WHERE id = ?1")?
                .execute(params![id])
        })
        .await;
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

/// Runs `rounds` round trips split over `c` tasks; `round` does one and is timed.
async fn run<F, Fut>(c: usize, rounds: usize, round: F) -> Run
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let round = Arc::new(round);
    let start = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let round = Arc::clone(&round);
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(rounds / c);
                for _ in 0..rounds / c {
                    let t = Instant::now();
                    round().await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(rounds);
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
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000)
        .clamp(16, 200_000);
    println!("{rounds} publish+next+ack round trips of 1 kB per run, 2 runtime threads");
    println!(
        "{:>3} | {:>22} | {:>22} | {:>9} | {:>14}",
        "c", "group commit p50/p99 µs", "previous p50/p99 µs", "rt/s ratio", "commits per rt"
    );
    for c in [1usize, 4, 16] {
        let dir = tempfile::tempdir().expect("temp dir");
        let bus = EmbeddedBus::open(&dir.path().join("bus.db")).expect("bus");
        let consumer: Arc<dyn Consumer> = bus.consume(TOPIC).await.expect("consume");
        let before = bus.writer_stats();
        let new = {
            let bus = bus.clone();
            run(c, rounds, move || {
                let (bus, consumer) = (bus.clone(), Arc::clone(&consumer));
                async move {
                    bus.publish(TOPIC, vec![b'x'; 1024]).await.expect("publish");
                    let d = consumer.next().await.expect("next");
                    consumer.ack(&d.token).await.expect("ack");
                }
            })
            .await
        };
        let after = bus.writer_stats();
        let old_bus = OldPath::open(&dir.path().join("old.db"));
        let old = run(c, rounds, move || {
            let old_bus = old_bus.clone();
            async move {
                old_bus.publish(vec![b'x'; 1024]).await;
                let id = old_bus.take().await;
                old_bus.ack(id).await;
            }
        })
        .await;
        let done = (rounds / c * c) as f64;
        println!(
            "{c:>3} | {:>10.1} / {:>9.1} | {:>10.1} / {:>9.1} | {:>9.2}x | {:>5.2} (was 3)   {:.0} vs {:.0} rt/s",
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
