//! What a durable enqueue costs: the latency of `publish` (the controller's side of every
//! invocation) and of a full publish → next → ack round trip, on the embedded bus (a
//! SQLite file) and on NATS JetStream (a `nats-server -js` of its own on loopback, file
//! storage), beside an in-process channel as the baseline. Prints medians and p99s.
//!
//! `cargo run -p whisk-bus --features test-util --example enqueue_latency [-- MESSAGES]`
//! (default 2000 messages of 1 kB per backend; bounded).

use std::sync::Arc;
use std::time::{Duration, Instant};

use whisk_bus::testing::TestNats;
use whisk_bus::{Bus, EmbeddedBus, NatsBus, NatsBusOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{what:<52} p50 {:>9.1} µs   p99 {:>9.1} µs",
        p50.as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
    p50
}

async fn measure(name: &str, bus: &dyn Bus, n: usize) -> (Duration, Duration) {
    let payload = vec![b'x'; 1024];
    let topic = format!("bench-{}", std::process::id());
    let mut publish = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        bus.publish(&topic, payload.clone()).await.expect("publish");
        publish.push(t.elapsed());
    }
    let c = bus.consume(&topic).await.expect("consume");
    for _ in 0..n {
        let d = c.next().await.expect("next");
        c.ack(&d.token).await.expect("ack");
    }
    let mut round = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        bus.publish(&topic, payload.clone()).await.expect("publish");
        let d = c.next().await.expect("next");
        c.ack(&d.token).await.expect("ack");
        round.push(t.elapsed());
    }
    (
        report(&format!("{name}: publish"), publish),
        report(&format!("{name}: publish + next + ack"), round),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000)
        .clamp(10, 100_000);
    println!("{n} messages of 1 kB per backend");

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let mut channel = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        tx.send(vec![b'x'; 1024]).await.expect("send");
        rx.recv().await.expect("recv");
        channel.push(t.elapsed());
    }
    let base = report("in-process channel: send + recv", channel);

    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = EmbeddedBus::open(&dir.path().join("bus.db")).expect("embedded bus");
    let (e_pub, e_round) = measure("embedded (SQLite file)", &embedded, n).await;

    let nats = TestNats::start();
    let bus = Arc::new(
        NatsBus::connect(&nats.url(), NatsBusOptions::default())
            .await
            .expect("NATS bus"),
    );
    let (n_pub, n_round) = measure("NATS JetStream (file storage)", bus.as_ref(), n).await;

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "NATS/embedded p50 ratio: publish {:.2}, round trip {:.2}; round trip over channel: embedded {:.0}x, NATS {:.0}x",
        ratio(n_pub, e_pub),
        ratio(n_round, e_round),
        ratio(e_round, base),
        ratio(n_round, base)
    );
}
