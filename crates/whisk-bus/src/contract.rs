//! The contract every [`Bus`] backend must pass, written once over `&dyn Bus`.
//!
//! A backend's tests call each function with a fresh bus (or one shared by the calls:
//! every function uses topics and subjects of its own). The lease functions need a bus
//! whose ack wait is short ([`SHORT_ACK_WAIT`] or less), so the embedded backend runs them
//! with `EmbeddedBusOptions { ack_wait: SHORT_ACK_WAIT, .. }`; NATS with a consumer whose
//! `ack_wait` is as short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Bus, Consumer, Delivery};

/// The longest ack wait the lease functions accept (they wait several of them).
pub const SHORT_ACK_WAIT: Duration = Duration::from_millis(500);

/// How long anything may take before a function gives up (never a speed assertion).
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A topic or subject name no other call (or other process on a shared server) uses.
fn unique(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "contract-{what}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) async fn next_within(c: &Arc<dyn Consumer>) -> Delivery {
    tokio::time::timeout(PATIENCE, c.next())
        .await
        .expect("a message within the patience")
        .expect("next")
}

/// Asserts that nothing is delivered during `wait` (a negative check, bounded).
pub(crate) async fn assert_nothing(c: &Arc<dyn Consumer>, wait: Duration) {
    if let Ok(r) = tokio::time::timeout(wait, c.next()).await {
        panic!("unexpected delivery: {r:?}");
    }
}

fn assert_short(c: &Arc<dyn Consumer>) -> Duration {
    let wait = c.ack_wait();
    assert!(
        wait <= SHORT_ACK_WAIT && !wait.is_zero(),
        "run the lease contract with an ack wait of at most {SHORT_ACK_WAIT:?}, not {wait:?}"
    );
    wait
}

/// Messages come out in publish order, once each; acked messages never come back, acking
/// twice is harmless, and topics are separate.
pub async fn publish_consume_ack(bus: &dyn Bus) {
    let topic = unique("topic");
    let other = unique("other");
    for p in [b"a", b"b", b"c"] {
        bus.publish(&topic, p.to_vec()).await.unwrap();
    }
    bus.publish(&other, b"x".to_vec()).await.unwrap();
    let c = bus.consume(&topic).await.unwrap();
    let mut tokens = vec![];
    for want in [b"a", b"b", b"c"] {
        let d = next_within(&c).await;
        assert_eq!(d.payload, want.to_vec());
        assert_eq!(d.redeliveries, 0);
        tokens.push(d.token);
    }
    for t in &tokens {
        c.ack(t).await.unwrap();
    }
    c.ack(&tokens[0]).await.unwrap();
    // Extending an acknowledged message does nothing either.
    c.extend(&tokens[1]).await.unwrap();
    assert_nothing(&c, Duration::from_millis(300)).await;
    let o = bus.consume(&other).await.unwrap();
    let x = next_within(&o).await;
    assert_eq!(x.payload, b"x".to_vec());
    o.ack(&x.token).await.unwrap();
}

/// A message neither acknowledged nor extended is delivered again after the ack wait,
/// counted as a redelivery; once acknowledged it is gone.
pub async fn redelivery_after_the_ack_wait(bus: &dyn Bus) {
    let topic = unique("lease");
    bus.publish(&topic, b"m".to_vec()).await.unwrap();
    let c = bus.consume(&topic).await.unwrap();
    assert_short(&c);
    let first = next_within(&c).await;
    assert_eq!(first.redeliveries, 0);
    let again = next_within(&c).await;
    assert_eq!(again.payload, b"m".to_vec());
    assert_eq!(again.redeliveries, 1);
    c.ack(&again.token).await.unwrap();
    assert_nothing(&c, c.ack_wait() * 3).await;
}

/// A message whose lease is extended more often than the ack wait is not delivered
/// again, however long the work takes; when the extensions stop, it is.
pub async fn no_redelivery_while_extended(bus: &dyn Bus) {
    let topic = unique("extended");
    bus.publish(&topic, b"long".to_vec()).await.unwrap();
    let c = bus.consume(&topic).await.unwrap();
    let wait = assert_short(&c);
    let d = next_within(&c).await;
    // Work for six ack waits, extending every third of one.
    let work = tokio::time::sleep(wait * 6);
    tokio::pin!(work);
    let mut tick = tokio::time::interval(wait / 3);
    loop {
        tokio::select! {
            () = &mut work => break,
            _ = tick.tick() => c.extend(&d.token).await.unwrap(),
            r = c.next() => panic!("delivered again while extended: {r:?}"),
        }
    }
    // The worker "hangs": no more extensions, so it comes back.
    let again = next_within(&c).await;
    assert_eq!(again.payload, b"long".to_vec());
    assert_eq!(again.redeliveries, 1);
    c.ack(&again.token).await.unwrap();
}

/// Notifications reach every current subscriber of their subject in order, and nobody
/// else; a notification nobody listens to is dropped without error.
pub async fn notify_subscribe(bus: &dyn Bus) {
    let subject = unique("subject");
    let other_subject = unique("subject");
    bus.notify(&subject, b"lost".to_vec()).await.unwrap();
    let mut a = bus.subscribe(&subject).await.unwrap();
    let mut b = bus.subscribe(&subject).await.unwrap();
    let mut other = bus.subscribe(&other_subject).await.unwrap();
    bus.notify(&subject, b"1".to_vec()).await.unwrap();
    bus.notify(&subject, b"2".to_vec()).await.unwrap();
    bus.notify(&other_subject, b"o".to_vec()).await.unwrap();
    for s in [&mut a, &mut b] {
        for want in [b"1", b"2"] {
            let got = tokio::time::timeout(PATIENCE, s.next())
                .await
                .expect("a notification within the patience")
                .unwrap();
            assert_eq!(got, want.to_vec());
        }
    }
    let got = tokio::time::timeout(PATIENCE, other.next())
        .await
        .expect("a notification within the patience")
        .unwrap();
    assert_eq!(got, b"o".to_vec());
}
