//! The contract every [`Bus`] backend must pass, written once over `&dyn Bus`.
//!
//! A backend's tests call each function with a fresh bus (or one shared by the calls:
//! every function uses topics and subjects of its own). The lease functions need a bus
//! whose ack wait is short ([`SHORT_ACK_WAIT`] or less), so the embedded backend runs them
//! with `EmbeddedBusOptions { ack_wait: SHORT_ACK_WAIT, .. }`, NATS with
//! `NatsBusOptions { ack_wait: SHORT_ACK_WAIT, .. }`; [`two_consumers_share_a_topic`]
//! needs the default (long) ack wait. `embedded::tests` and `nats::tests` run every
//! function here as `contract_<name>`.

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

/// Work is acknowledged only after it is done: a message a consumer took and never
/// acknowledged (the consumer stopped, or its process died) goes to the next consumer of
/// the topic, counted as a redelivery. Needs a short ack wait.
pub async fn unacknowledged_work_goes_to_the_next_consumer(bus: &dyn Bus) {
    let topic = unique("abandoned");
    bus.publish(&topic, b"work".to_vec()).await.unwrap();
    let first = bus.consume(&topic).await.unwrap();
    assert_short(&first);
    let d = next_within(&first).await;
    assert_eq!(d.redeliveries, 0);
    // The worker stops without acknowledging.
    drop(first);
    let second = bus.consume(&topic).await.unwrap();
    let again = next_within(&second).await;
    assert_eq!(again.payload, b"work".to_vec());
    assert!(again.redeliveries >= 1, "{again:?}");
    second.ack(&again.token).await.unwrap();
    assert_nothing(&second, second.ack_wait() * 3).await;
}

/// Two consumers of one topic (as two invoker processes would be) share its messages:
/// each message goes to one of them, none to both, none is lost. Needs an ack wait longer
/// than the test (the default).
pub async fn two_consumers_share_a_topic(bus: &dyn Bus) {
    let topic = unique("shared");
    let a = bus.consume(&topic).await.unwrap();
    let b = bus.consume(&topic).await.unwrap();
    assert!(a.ack_wait() > PATIENCE, "run with the default ack wait");
    const N: u32 = 40;
    for i in 0..N {
        bus.publish(&topic, i.to_string().into_bytes())
            .await
            .unwrap();
    }
    let taken = Arc::new(AtomicU64::new(0));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let take = |c: Arc<dyn Consumer>| {
        let taken = Arc::clone(&taken);
        async move {
            let mut got = vec![];
            // Each consumer takes until both together have every message.
            while taken.load(Ordering::SeqCst) < u64::from(N) {
                assert!(tokio::time::Instant::now() < deadline, "messages missing");
                if let Ok(d) = tokio::time::timeout(Duration::from_millis(200), c.next()).await {
                    let d = d.expect("next");
                    assert_eq!(d.redeliveries, 0);
                    c.ack(&d.token).await.unwrap();
                    got.push(d.payload);
                    taken.fetch_add(1, Ordering::SeqCst);
                }
            }
            got
        }
    };
    let (from_a, from_b) = tokio::join!(take(Arc::clone(&a)), take(Arc::clone(&b)));
    let mut all: Vec<Vec<u8>> = from_a.iter().chain(&from_b).cloned().collect();
    all.sort();
    let mut want: Vec<Vec<u8>> = (0..N).map(|i| i.to_string().into_bytes()).collect();
    want.sort();
    assert_eq!(all, want, "every message exactly once over both consumers");
    assert_nothing(&a, Duration::from_millis(300)).await;
    assert_nothing(&b, Duration::from_millis(300)).await;
}

/// `depth` counts the messages of a topic that are published and not yet acknowledged,
/// waiting or in flight; other topics do not count. A backend that cannot tell says `None`
/// everywhere, and this test then only checks that.
pub async fn depth_counts_unacknowledged_messages(bus: &dyn Bus) {
    let topic = unique("depth");
    let other = unique("depth-other");
    let Some(empty) = bus.depth(&topic).await.unwrap() else {
        assert_eq!(bus.depth(&other).await.unwrap(), None);
        return;
    };
    assert_eq!(empty, 0);
    for p in [b"1", b"2", b"3"] {
        bus.publish(&topic, p.to_vec()).await.unwrap();
    }
    bus.publish(&other, b"x".to_vec()).await.unwrap();
    assert_eq!(bus.depth(&topic).await.unwrap(), Some(3));
    let c = bus.consume(&topic).await.unwrap();
    let d = next_within(&c).await;
    // Taken but not acknowledged: still counted.
    assert_eq!(bus.depth(&topic).await.unwrap(), Some(3));
    c.ack(&d.token).await.unwrap();
    assert_eq!(bus.depth(&topic).await.unwrap(), Some(2));
    assert_eq!(bus.depth(&other).await.unwrap(), Some(1));
}
