//! The writer against real files: durability, isolation of failures, bounds, shutdown, crashes.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rusqlite::params;

use super::*;

fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .unwrap();
    conn
}

fn start(path: &Path, options: WriterOptions) -> Writer<Connection> {
    Writer::start("test-writer", open(path), options).unwrap()
}

fn ids(path: &Path) -> HashSet<i64> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM t").unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn insert(c: &mut Connection, id: i64) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT INTO t (id, v) VALUES (?1, 'x')")?
        .execute(params![id])
        .map(|_| ())
}

/// Blocks the writer thread until the returned sender is dropped; returns once it runs.
async fn block(w: &Writer<Connection>) -> (std_mpsc::Sender<()>, Pending<(), (), fn(())>) {
    let (started_tx, started_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let pending = w
        .submit(
            false,
            move |_: &mut Connection| {
                started_tx.send(()).unwrap();
                let _ = release_rx.recv();
                Ok::<_, ()>(())
            },
            (|_| {}) as fn(()),
        )
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    (release_tx, pending)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_are_all_durable_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = Arc::new(start(&path, WriterOptions::default()));
    let tasks: Vec<_> = (0..16i64)
        .map(|task| {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                for i in 0..50 {
                    w.write(move |c| insert(c, task * 1000 + i))
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = w.stats();
    assert_eq!(stats.requests, 800);
    assert!(stats.commits <= stats.requests);
    drop(w);
    let want: HashSet<i64> = (0..16i64)
        .flat_map(|t| (0..50).map(move |i| t * 1000 + i))
        .collect();
    assert_eq!(ids(&path), want);
}

#[tokio::test]
async fn a_failing_request_does_not_fail_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = start(&path, WriterOptions::default());
    let (release, blocker) = block(&w).await;
    // Queued while the writer is busy: all of these run in the next batch, one transaction.
    let mut pending = Vec::new();
    for id in 0..10i64 {
        let p = w
            .submit(
                false,
                move |c: &mut Connection| {
                    insert(c, id)?;
                    match id {
                        // Wrote, then failed: its row must not stay.
                        3 => Err(rusqlite::Error::QueryReturnedNoRows),
                        // A constraint error of SQLite itself.
                        5 => insert(c, 4),
                        7 => panic!("a bug in one request"),
                        _ => Ok(()),
                    }
                },
                |_| {},
            )
            .await
            .unwrap();
        pending.push(p);
    }
    drop(release);
    blocker.await.unwrap().unwrap();
    let mut ok = HashSet::new();
    for (id, p) in pending.into_iter().enumerate() {
        match (id, p.await) {
            (3, Ok(Err(rusqlite::Error::QueryReturnedNoRows))) => {}
            (5, Ok(Err(e))) => assert!(e.to_string().contains("UNIQUE"), "{e}"),
            (7, Err(WriteError::Failed(e))) => assert!(e.contains("panicked"), "{e}"),
            (_, Ok(Ok(()))) => {
                ok.insert(id as i64);
            }
            (id, other) => panic!("request {id}: {other:?}"),
        }
    }
    assert_eq!(ok, HashSet::from([0, 1, 2, 4, 6, 8, 9]));
    // The blocker's batch, then one for the ten.
    assert_eq!(w.stats().commits, 2);
    drop(w);
    assert_eq!(ids(&path), ok);
}

/// A request alone in its transaction runs without a savepoint: failing, it is rolled
/// back all the same.
#[tokio::test]
async fn a_lone_failing_request_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = start(&path, WriterOptions::default());
    let failed = w
        .write(|c| {
            insert(c, 1)?;
            insert(c, 1)
        })
        .await
        .unwrap();
    assert!(failed.is_err());
    let panicked = w
        .write(|c| -> rusqlite::Result<()> {
            insert(c, 2)?;
            panic!("a bug")
        })
        .await;
    assert!(matches!(panicked, Err(WriteError::Failed(_))));
    w.write(|c| insert(c, 3)).await.unwrap().unwrap();
    assert_eq!(
        w.stats(),
        WriterStats {
            requests: 3,
            commits: 3
        }
    );
    drop(w);
    assert_eq!(ids(&path), HashSet::from([3]));
}

#[tokio::test]
async fn shutdown_flushes_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = start(&path, WriterOptions::default());
    let (release, blocker) = block(&w).await;
    let mut pending = Vec::new();
    for id in 0..20i64 {
        pending.push(
            w.submit(false, move |c| insert(c, id), |_| {})
                .await
                .unwrap(),
        );
    }
    // Dropping the writer waits for its thread, which is still blocked: drop it elsewhere.
    let dropper = std::thread::spawn(move || drop(w));
    drop(release);
    dropper.join().unwrap();
    blocker.await.unwrap().unwrap();
    for p in pending {
        p.await.unwrap().unwrap();
    }
    assert_eq!(ids(&path), (0..20).collect());
}

#[tokio::test]
async fn a_full_queue_makes_the_caller_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = start(&path, WriterOptions { queue: 2, batch: 8 });
    let (release, blocker) = block(&w).await;
    let a = w.submit(false, |c| insert(c, 1), |_| {}).await.unwrap();
    let b = w.submit(false, |c| insert(c, 2), |_| {}).await.unwrap();
    // The queue holds two: the third caller waits for room instead of growing it.
    {
        let third = w.write(|c| insert(c, 3));
        tokio::pin!(third);
        assert!(tokio::time::timeout(Duration::from_millis(100), &mut third)
            .await
            .is_err());
        drop(release);
        third.await.unwrap().unwrap();
    }
    blocker.await.unwrap().unwrap();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    drop(w);
    assert_eq!(ids(&path), HashSet::from([1, 2, 3]));
}

#[tokio::test]
async fn a_request_alone_runs_outside_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let w = start(&dir.path().join("db"), WriterOptions::default());
    let inside = w
        .write(|c| Ok::<_, ()>(c.is_autocommit()))
        .await
        .unwrap()
        .unwrap();
    let alone = w
        .write_alone(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok::<_, rusqlite::Error>(c.is_autocommit())
        })
        .await
        .unwrap()
        .unwrap();
    assert!(!inside);
    assert!(alone);
}

#[tokio::test]
async fn an_abandoned_answer_goes_to_the_undelivered_hook() {
    let dir = tempfile::tempdir().unwrap();
    let w = start(&dir.path().join("db"), WriterOptions::default());
    let (tx, rx) = std_mpsc::channel();
    // Dropped before the writer ran it: the writer's send fails and it calls the hook.
    let (release, blocker) = block(&w).await;
    let hook = {
        let tx = tx.clone();
        move |v: i64| tx.send(v).unwrap()
    };
    drop(
        w.submit(false, |c| insert(c, 1).map(|()| 1), hook)
            .await
            .unwrap(),
    );
    drop(release);
    blocker.await.unwrap().unwrap();
    // Answered, then dropped unread: the dropped `Pending` calls the hook.
    let hook = move |v: i64| tx.send(v).unwrap();
    let p = w
        .submit(false, |c| insert(c, 2).map(|()| 2), hook)
        .await
        .unwrap();
    w.write(|_| Ok::<_, ()>(())).await.unwrap().unwrap();
    drop(p);
    let mut got: Vec<i64> = rx.try_iter().collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2]);
}

const CRASH_CHILD_ENV: &str = "WHISK_SQLITE_CRASH_CHILD_DIR";

/// The child half of `a_crash_loses_only_unanswered_requests`: does nothing unless the
/// parent set the environment variable; then writes concurrently, notes each answered
/// id in a file, and aborts after some answers with requests still queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let w = Arc::new(start(&dir.join("db"), WriterOptions::default()));
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    for id in 0..2000i64 {
        let w = Arc::clone(&w);
        let answered = answered_tx.clone();
        tokio::spawn(async move {
            if let Ok(Ok(())) = w.write(move |c| insert(c, id)).await {
                let _ = answered.send(id);
            }
        });
    }
    let mut log = std::fs::File::create(dir.join("answered")).unwrap();
    for _ in 0..300 {
        let id = answered_rx.recv().await.unwrap();
        // Unbuffered: in the kernel before the next line, so it survives the abort.
        log.write_all(format!("{id}\n").as_bytes()).unwrap();
    }
    std::process::abort();
}

#[test]
fn a_crash_loses_only_unanswered_requests() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::crash_child", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");
    let answered: HashSet<i64> = std::fs::read_to_string(dir.path().join("answered"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(answered.len(), 300);
    let stored = ids(&dir.path().join("db"));
    let lost: Vec<_> = answered.difference(&stored).collect();
    assert!(lost.is_empty(), "answered but not stored: {lost:?}");
}
