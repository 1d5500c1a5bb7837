//! The NATS JetStream bus, for controllers and invokers on several machines.
//!
//! # Topics
//! Every topic (`invoker{N}`) is a JetStream stream `WHISK_{topic}` holding the one subject
//! `whisk.topic.{topic}`, with work-queue retention (a message is removed when it is
//! acknowledged) and file storage. `publish` returns once JetStream acknowledged the
//! message, i.e. stored it. Each stream has one durable pull consumer, `worker`, with
//! explicit acks; every process consuming the topic pulls from it, so two consumers never
//! hold one message at once. A delivered message that is neither acknowledged nor
//! extended ("in progress", [`Consumer::extend`]) within the consumer's ack wait is
//! delivered again, to whichever consumer pulls next.
//!
//! Streams are bounded ([`NatsBusOptions`]: messages, bytes, age) with the `new` discard
//! policy: a full topic refuses the publish with [`BusError::Full`] instead of dropping an
//! older message. Only the age bound drops messages (ones older than `max_age`, left unread
//! that long), as any JetStream limit on age does.
//!
//! # Subjects
//! Notifications (`notify`/`subscribe`) are plain core NATS on `whisk.note.{subject}`:
//! fan-out to current subscribers, nothing stored.
//!
//! # Connection loss
//! The client reconnects by itself (forever, with back-off). While it is disconnected every
//! call fails at once with [`BusError::Backend`] rather than queueing; a consumer whose pull
//! broke makes a new one on its next call, so consumers resume after a reconnect. Messages
//! that were delivered but not acknowledged are delivered again after the ack wait.
//!
//! # Credentials
//! `nats://user:password@host:port` logs in with a user and password,
//! `nats://token@host:port` with a token; `tls://` requires TLS.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_nats::{ConnectOptions, ServerAddr, Subject};
use async_trait::async_trait;
use futures_util::StreamExt;
use tracing::{debug, info, warn};

use crate::{Bus, BusError, Consumer, Delivery, DeliveryToken, Subscription};

/// The durable consumer every process consuming a topic shares.
const WORKER: &str = "worker";

/// Tuning and bounds of the NATS bus. The bounds apply to each topic's stream, and are
/// set (or updated) when a process first uses the topic.
#[derive(Debug, Clone)]
pub struct NatsBusOptions {
    /// A delivered message that is neither acknowledged nor extended within this time is
    /// delivered again.
    pub ack_wait: Duration,
    /// Most messages one topic holds (published, not yet acknowledged).
    pub max_messages: i64,
    /// Most bytes one topic holds.
    pub max_bytes: i64,
    /// Messages older than this are removed, read or not.
    pub max_age: Duration,
    /// Most messages delivered and not yet acknowledged per topic, over all its consumers.
    pub max_ack_pending: i64,
    /// Stream replicas (1 for a single server; 3 in a JetStream cluster).
    pub replicas: usize,
    /// How long a request to the server (a publish's ack, an info) may take.
    pub request_timeout: Duration,
    /// How long the first connection may take.
    pub connect_timeout: Duration,
    /// How often a waiting pull expects a heartbeat; two missed ones end the pull.
    pub heartbeat: Duration,
}

impl Default for NatsBusOptions {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_messages: 1_000_000,
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_ack_pending: 10_000,
            replicas: 1,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// The NATS JetStream bus. Cloning is cheap and shares the connection.
#[derive(Debug, Clone)]
pub struct NatsBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    options: NatsBusOptions,
    /// Topics whose stream this process made sure of (few: one per invoker).
    streams: Mutex<std::collections::HashSet<String>>,
    /// Dropped with the last handle on the bus: subscriptions then end with `Closed`.
    open: tokio::sync::watch::Sender<()>,
}

fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

/// `e` with its sources, since async-nats puts the server's words in the source.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A URL's user or password as written before percent-encoding (`p%40ss` is `p@ss`); an
/// invalid escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, BusError> {
    m.lock()
        .map_err(|_| BusError::Backend("a bus lock was poisoned".into()))
}

/// Topics become stream names, so they are limited to letters, digits, `-` and `_`.
fn check_topic(topic: &str) -> Result<(), BusError> {
    let ok = !topic.is_empty()
        && topic.len() <= 200
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BusError::Backend(format!(
            "invalid topic name {topic:?}: use letters, digits, '-' and '_'"
        )))
    }
}

/// Subjects are dot-separated tokens without wildcards or white space.
fn check_subject(subject: &str) -> Result<(), BusError> {
    let ok = subject.len() <= 200
        && subject.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
        });
    if ok {
        Ok(())
    } else {
        Err(BusError::Backend(format!(
            "invalid subject name {subject:?}"
        )))
    }
}

fn stream_name(topic: &str) -> String {
    format!("WHISK_{topic}")
}

fn topic_subject(topic: &str) -> String {
    format!("whisk.topic.{topic}")
}

fn note_subject(subject: &str) -> String {
    format!("whisk.note.{subject}")
}

impl NatsBus {
    /// Connects to the server at `url` (`nats://[user:password@|token@]host:port`, several
    /// separated by commas). The first connection must succeed; later losses are
    /// reconnected by themselves.
    ///
    /// # Errors
    /// The URL is invalid, or the server cannot be reached or refuses the credentials.
    pub async fn connect(url: &str, options: NatsBusOptions) -> Result<NatsBus, BusError> {
        let addrs: Vec<ServerAddr> = url
            .split(',')
            .map(|u| ServerAddr::from_str(u.trim()))
            .collect::<Result<_, _>>()
            .map_err(|e| BusError::Backend(format!("invalid NATS URL: {e}")))?;
        let mut connect = ConnectOptions::new()
            .name("rwhisk")
            .connection_timeout(options.connect_timeout)
            .request_timeout(Some(options.request_timeout))
            .max_reconnects(None)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => info!("Connected to NATS."),
                    async_nats::Event::Disconnected => {
                        warn!("Disconnected from NATS; reconnecting.");
                    }
                    async_nats::Event::SlowConsumer(_) => {
                        warn!("A slow subscriber dropped notifications.");
                    }
                    async_nats::Event::ServerError(e) => warn!(error = %e, "NATS server error."),
                    other => debug!(event = %other, "NATS connection event."),
                }
            });
        if let Some(first) = addrs.first() {
            match (first.username(), first.password()) {
                (Some(user), Some(pass)) => {
                    connect = connect.user_and_password(percent_decode(user), percent_decode(pass));
                }
                (Some(token), None) => connect = connect.token(percent_decode(token)),
                _ => {}
            }
        }
        let client = connect
            .connect(addrs)
            .await
            .map_err(|e| BusError::Backend(format!("cannot connect to NATS: {e}")))?;
        let js = jetstream::new(client.clone());
        Ok(NatsBus {
            inner: Arc::new(Inner {
                client,
                js,
                options,
                streams: Mutex::default(),
                open: tokio::sync::watch::Sender::new(()),
            }),
        })
    }
}

impl Inner {
    /// Fails at once while the client is disconnected, rather than queueing the call.
    fn connected(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            state => Err(BusError::Backend(format!(
                "not connected to NATS ({state:?}); reconnecting"
            ))),
        }
    }

    fn stream_config(&self, topic: &str) -> stream::Config {
        stream::Config {
            name: stream_name(topic),
            subjects: vec![topic_subject(topic)],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::New,
            max_messages: self.options.max_messages,
            max_bytes: self.options.max_bytes,
            max_age: self.options.max_age,
            num_replicas: self.options.replicas,
            ..Default::default()
        }
    }

    /// Makes sure the topic's stream exists with this process's bounds (once per process,
    /// unless `again`).
    async fn ensure_stream(&self, topic: &str, again: bool) -> Result<stream::Stream, BusError> {
        let want = self.stream_config(topic);
        let stream = match self.js.get_stream(&want.name).await {
            Ok(s) => {
                let have = &s.cached_info().config;
                if have.max_messages != want.max_messages
                    || have.max_bytes != want.max_bytes
                    || have.max_age != want.max_age
                    || have.discard != want.discard
                {
                    debug!(topic, "Updating the bounds of the topic's stream.");
                    self.js
                        .update_stream(&want)
                        .await
                        .map_err(|e| BusError::Backend(format!("updating stream: {e}")))?;
                }
                s
            }
            Err(e)
                if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                match self.js.create_stream(want.clone()).await {
                    Ok(s) => s,
                    // Another process may have made it at the same time.
                    Err(create) => self.js.get_stream(&want.name).await.map_err(|_| {
                        BusError::Backend(format!(
                            "creating stream {}: {}",
                            want.name,
                            describe(&create)
                        ))
                    })?,
                }
            }
            Err(e) => return Err(BusError::Backend(format!("stream info: {e}"))),
        };
        if !again {
            lock(&self.streams)?.insert(topic.to_owned());
        }
        Ok(stream)
    }

    fn known(&self, topic: &str) -> Result<bool, BusError> {
        Ok(lock(&self.streams)?.contains(topic))
    }

    async fn worker(&self, topic: &str) -> Result<consumer::PullConsumer, BusError> {
        let stream = self.ensure_stream(topic, false).await?;
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(WORKER.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: self.options.ack_wait,
                max_deliver: -1,
                max_ack_pending: self.options.max_ack_pending,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::Backend(format!("creating consumer: {e}")))
    }
}

/// True when the server refused a publish because the stream is at one of its bounds.
fn is_full(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("maximum messages") || t.contains("maximum bytes") || t.contains("resource limits")
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), BusError> {
        check_topic(topic)?;
        let inner = &self.inner;
        inner.connected()?;
        if !inner.known(topic)? {
            inner.ensure_stream(topic, false).await?;
        }
        let payload = bytes::Bytes::from(payload);
        let mut retried = false;
        loop {
            let ack = inner
                .js
                .publish(topic_subject(topic), payload.clone())
                .await
                .map_err(|e| BusError::Backend(format!("publish: {e}")))?
                .await;
            match ack {
                Ok(_) => return Ok(()),
                Err(e) => {
                    // The stream went away (a server that lost its store): make it again once.
                    if !retried
                        && matches!(
                            e.kind(),
                            jetstream::context::PublishErrorKind::StreamNotFound
                        )
                    {
                        retried = true;
                        inner.ensure_stream(topic, true).await?;
                        continue;
                    }
                    let text = describe(&e);
                    if is_full(&text) {
                        return Err(BusError::Full {
                            topic: topic.to_owned(),
                            reason: text,
                        });
                    }
                    return Err(BusError::Backend(format!("publish to {topic}: {text}")));
                }
            }
        }
    }

    async fn consume(&self, topic: &str) -> Result<Arc<dyn Consumer>, BusError> {
        check_topic(topic)?;
        self.inner.connected()?;
        let worker = self.inner.worker(topic).await?;
        let ack_wait = worker.cached_info().config.ack_wait;
        let messages = open_pull(&worker, &self.inner.options).await?;
        Ok(Arc::new(NatsConsumer {
            inner: Arc::clone(&self.inner),
            topic: topic.into(),
            ack_wait,
            pull: tokio::sync::Mutex::new(Some(messages)),
            in_flight: Mutex::default(),
        }))
    }

    async fn notify(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        check_subject(subject)?;
        self.inner.connected()?;
        self.inner
            .client
            .publish(note_subject(subject), payload.into())
            .await
            .map_err(|e| BusError::Backend(format!("notify: {e}")))
    }

    async fn subscribe(&self, subject: &str) -> Result<Box<dyn Subscription>, BusError> {
        check_subject(subject)?;
        self.inner.connected()?;
        let sub = self
            .inner
            .client
            .subscribe(note_subject(subject))
            .await
            .map_err(|e| BusError::Backend(format!("subscribe: {e}")))?;
        Ok(Box::new(NatsSubscription {
            sub,
            open: self.inner.open.subscribe(),
        }))
    }

    async fn depth(&self, topic: &str) -> Result<Option<u64>, BusError> {
        check_topic(topic)?;
        self.inner.connected()?;
        match self.inner.js.get_stream(stream_name(topic)).await {
            Ok(s) => Ok(Some(s.cached_info().state.messages)),
            Err(e)
                if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                Ok(Some(0))
            }
            Err(e) => Err(BusError::Backend(format!("stream info: {e}"))),
        }
    }
}

async fn open_pull(
    worker: &consumer::PullConsumer,
    options: &NatsBusOptions,
) -> Result<consumer::pull::Stream, BusError> {
    // One message per pull: a message waiting in this process's buffer counts against its
    // ack wait, so the buffer is kept to the one being handed out.
    worker
        .stream()
        .max_messages_per_batch(1)
        .heartbeat(options.heartbeat)
        .expires(options.heartbeat * 6)
        .messages()
        .await
        .map_err(|e| BusError::Backend(format!("pulling: {e}")))
}

/// A consumer of one topic: one pull on the shared durable consumer.
struct NatsConsumer {
    inner: Arc<Inner>,
    topic: Arc<str>,
    ack_wait: Duration,
    /// The pull; `None` after it failed, remade by the next `next`.
    pull: tokio::sync::Mutex<Option<consumer::pull::Stream>>,
    /// How to acknowledge each message handed out and not yet acknowledged, by stream
    /// sequence, with when it was handed out or last extended.
    in_flight: Mutex<HashMap<u64, (Subject, Instant)>>,
}

impl std::fmt::Debug for NatsConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConsumer")
            .field("topic", &self.topic)
            .field("ack_wait", &self.ack_wait)
            .finish_non_exhaustive()
    }
}

impl NatsConsumer {
    /// Forgets entries whose lease ran out long ago (the message was delivered again,
    /// maybe elsewhere), so a task that never acks cannot grow the table without bound.
    fn forget_stale(&self, table: &mut HashMap<u64, (Subject, Instant)>) {
        let cap = usize::try_from(self.inner.options.max_ack_pending)
            .unwrap_or(usize::MAX)
            .max(16);
        if table.len() > cap {
            let stale = self.ack_wait * 2;
            table.retain(|_, (_, at)| at.elapsed() < stale);
        }
    }

    /// The subject acknowledging `token`'s latest delivery, if it is in flight here.
    fn reply(&self, token: &DeliveryToken) -> Result<Option<Subject>, BusError> {
        Ok(lock(&self.in_flight)?.get(&token.0).map(|(r, _)| r.clone()))
    }
}

impl NatsConsumer {
    /// Records how to acknowledge `message` and hands it out.
    fn delivered(&self, message: jetstream::Message) -> Result<Delivery, BusError> {
        let info = message.info().map_err(backend)?;
        let seq = info.stream_sequence;
        let redeliveries = u32::try_from(info.delivered.saturating_sub(1)).unwrap_or(u32::MAX);
        let Some(reply) = message.reply.clone() else {
            return Err(BusError::Backend(
                "a pulled message has no reply subject".into(),
            ));
        };
        let (message, _) = message.split();
        let mut table = lock(&self.in_flight)?;
        self.forget_stale(&mut table);
        table.insert(seq, (reply, Instant::now()));
        Ok(Delivery {
            token: DeliveryToken(seq),
            payload: message.payload.to_vec(),
            redeliveries,
        })
    }
}

#[async_trait]
impl Consumer for NatsConsumer {
    async fn next(&self) -> Result<Delivery, BusError> {
        // Cancel-safe: a message the pull received stays in its buffer for the next call.
        let mut pull = self.pull.lock().await;
        // Twice at most: a pull that missed its heartbeats on a live connection is
        // replaced at once.
        for first in [true, false] {
            let messages = match pull.as_mut() {
                Some(messages) => messages,
                None => {
                    self.inner.connected()?;
                    let worker = self.inner.worker(&self.topic).await?;
                    let opened = open_pull(&worker, &self.inner.options).await?;
                    debug!(topic = &*self.topic, "Pull on the topic (re)opened.");
                    pull.insert(opened)
                }
            };
            match messages.next().await {
                Some(Ok(message)) => return self.delivered(message),
                // The pull broke (missed heartbeats: an outage, a server that forgot the
                // pull, a stalled process; a deleted consumer) or ended: a new one is
                // opened, now if the connection is up, else by the next call.
                Some(Err(e)) => {
                    *pull = None;
                    let missed = matches!(
                        e.kind(),
                        consumer::pull::MessagesErrorKind::MissingHeartbeat
                    );
                    if first && missed && self.inner.connected().is_ok() {
                        debug!(
                            topic = &*self.topic,
                            "Pull missed its heartbeats; reopening."
                        );
                        continue;
                    }
                    return Err(BusError::Backend(format!(
                        "pulling from {}: {e}",
                        self.topic
                    )));
                }
                None => {
                    *pull = None;
                    break;
                }
            }
        }
        Err(BusError::Backend(format!(
            "the pull from {} ended",
            self.topic
        )))
    }

    async fn ack(&self, token: &DeliveryToken) -> Result<(), BusError> {
        let Some(reply) = self.reply(token)? else {
            return Ok(());
        };
        self.inner.connected()?;
        // A request: waits for the server to confirm, so Ok means the message will not
        // come back.
        self.inner
            .client
            .request(reply, AckKind::Ack.into())
            .await
            .map_err(|e| BusError::Backend(format!("ack: {e}")))?;
        lock(&self.in_flight)?.remove(&token.0);
        Ok(())
    }

    async fn extend(&self, token: &DeliveryToken) -> Result<(), BusError> {
        let Some(reply) = self.reply(token)? else {
            return Ok(());
        };
        self.inner.connected()?;
        self.inner
            .client
            .publish(reply, AckKind::Progress.into())
            .await
            .map_err(|e| BusError::Backend(format!("extend: {e}")))?;
        if let Some((_, at)) = lock(&self.in_flight)?.get_mut(&token.0) {
            *at = Instant::now();
        }
        Ok(())
    }

    fn ack_wait(&self) -> Duration {
        self.ack_wait
    }
}

/// A core NATS subscription.
#[derive(Debug)]
struct NatsSubscription {
    sub: async_nats::Subscriber,
    /// Errs once the bus is dropped.
    open: tokio::sync::watch::Receiver<()>,
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Result<Vec<u8>, BusError> {
        tokio::select! {
            m = self.sub.next() => match m {
                Some(m) => Ok(m.payload.to_vec()),
                None => Err(BusError::Closed),
            },
            // The sender never sends: this completes only when the bus is gone.
            _ = self.open.changed() => Err(BusError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::contract::{self, assert_nothing, next_within, PATIENCE, SHORT_ACK_WAIT};
    use crate::testing::TestNats;

    /// Options for tests: quick to notice a dead server, quick to give up on a request.
    fn quick() -> NatsBusOptions {
        NatsBusOptions {
            request_timeout: Duration::from_secs(2),
            heartbeat: Duration::from_millis(500),
            ..Default::default()
        }
    }

    fn short_lease() -> NatsBusOptions {
        NatsBusOptions {
            ack_wait: SHORT_ACK_WAIT,
            ..quick()
        }
    }

    async fn bus(nats: &TestNats, options: NatsBusOptions) -> NatsBus {
        NatsBus::connect(&nats.url(), options).await.unwrap()
    }

    #[tokio::test]
    async fn contract_publish_consume_ack() {
        let nats = TestNats::start();
        contract::publish_consume_ack(&bus(&nats, quick()).await).await;
    }

    #[tokio::test]
    async fn contract_redelivery_after_the_ack_wait() {
        let nats = TestNats::start();
        contract::redelivery_after_the_ack_wait(&bus(&nats, short_lease()).await).await;
    }

    #[tokio::test]
    async fn contract_no_redelivery_while_extended() {
        let nats = TestNats::start();
        contract::no_redelivery_while_extended(&bus(&nats, short_lease()).await).await;
    }

    #[tokio::test]
    async fn contract_unacknowledged_work_goes_to_the_next_consumer() {
        let nats = TestNats::start();
        let bus = bus(&nats, short_lease()).await;
        contract::unacknowledged_work_goes_to_the_next_consumer(&bus).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contract_two_consumers_share_a_topic() {
        let nats = TestNats::start();
        contract::two_consumers_share_a_topic(&bus(&nats, quick()).await).await;
    }

    #[tokio::test]
    async fn contract_depth_counts_unacknowledged_messages() {
        let nats = TestNats::start();
        contract::depth_counts_unacknowledged_messages(&bus(&nats, quick()).await).await;
    }

    #[tokio::test]
    async fn contract_notify_subscribe() {
        let nats = TestNats::start();
        contract::notify_subscribe(&bus(&nats, quick()).await).await;
    }

    #[tokio::test]
    async fn subscriptions_close_with_the_bus() {
        let nats = TestNats::start();
        let bus = bus(&nats, quick()).await;
        let mut s = bus.subscribe("s").await.unwrap();
        drop(bus);
        let end = tokio::time::timeout(PATIENCE, s.next()).await.unwrap();
        assert!(matches!(end, Err(BusError::Closed)), "{end:?}");
    }

    /// Two processes' buses on one server: a notification reaches the other connection.
    #[tokio::test]
    async fn notifications_cross_connections() {
        let nats = TestNats::start();
        let a = bus(&nats, quick()).await;
        let b = bus(&nats, quick()).await;
        let mut sub = b.subscribe("completed.c1").await.unwrap();
        // The subscription reaches the server a moment after `subscribe` returns: notify
        // until one arrives (bounded), as a controller's later completions would.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no notification crossed"
            );
            a.notify("completed.c1", b"done".to_vec()).await.unwrap();
            if let Ok(got) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
                assert_eq!(got.unwrap(), b"done".to_vec());
                break;
            }
        }
    }

    /// Calls `f` until it succeeds (the client reconnecting), within the patience.
    async fn until_ok<T, F, Fut>(mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, BusError>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match f().await {
                Ok(v) => return v,
                Err(e) => {
                    assert!(tokio::time::Instant::now() < deadline, "still failing: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// A restart of nats-server loses no published message: acknowledged ones stay gone,
    /// one in flight comes back, waiting ones are delivered; calls during the outage fail
    /// with an error, and the same bus, consumer and subscription work again afterwards.
    #[tokio::test]
    async fn survives_a_server_restart() {
        let mut nats = TestNats::start();
        let bus = bus(&nats, short_lease()).await;
        for p in [b"a", b"b", b"c"] {
            bus.publish("invoker0", p.to_vec()).await.unwrap();
        }
        let c = bus.consume("invoker0").await.unwrap();
        let a = next_within(&c).await;
        assert_eq!(a.payload, b"a".to_vec());
        c.ack(&a.token).await.unwrap();
        let b = next_within(&c).await;
        assert_eq!(b.payload, b"b".to_vec());
        let mut sub = bus.subscribe("action-changed").await.unwrap();

        nats.stop();
        let outage = bus.publish("invoker0", b"lost?".to_vec()).await;
        assert!(matches!(outage, Err(BusError::Backend(_))), "{outage:?}");
        assert!(bus.depth("invoker0").await.is_err());
        assert!(bus.notify("action-changed", b"x".to_vec()).await.is_err());
        // The consumer reports the outage instead of hanging or panicking.
        let during = tokio::time::timeout(PATIENCE, c.next())
            .await
            .expect("an answer");
        assert!(during.is_err(), "{during:?}");

        nats.start_again();
        until_ok(|| bus.publish("invoker0", b"d".to_vec())).await;
        let mut got = vec![];
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        while got.len() < 3 {
            assert!(tokio::time::Instant::now() < deadline, "got only {got:?}");
            match tokio::time::timeout(PATIENCE, c.next()).await {
                Ok(Ok(d)) => {
                    c.ack(&d.token).await.unwrap();
                    got.push(d.payload);
                }
                Ok(Err(e)) => {
                    debug!(error = %e, "Pull failed while reconnecting.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => panic!("nothing delivered after the restart; got {got:?}"),
            }
        }
        got.sort();
        assert_eq!(got, vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        assert_nothing(&c, c.ack_wait() * 3).await;
        assert_eq!(bus.depth("invoker0").await.unwrap(), Some(0));

        // The subscription was renewed with the connection.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no notification after the restart"
            );
            if bus
                .notify("action-changed", b"after".to_vec())
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Ok(got) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
                assert_eq!(got.unwrap(), b"after".to_vec());
                break;
            }
        }
    }

    /// A crash of nats-server (SIGKILL) loses no message whose publish returned: every
    /// one is delivered after the restart. An acknowledgement the server had not written
    /// out yet may be lost, so an acknowledged message may come once more (consumers are
    /// idempotent on the activation id); that is the only duplicate allowed.
    #[tokio::test]
    async fn a_server_crash_loses_no_published_message() {
        let mut nats = TestNats::start();
        let bus = bus(&nats, short_lease()).await;
        for p in [b"a", b"b", b"c"] {
            bus.publish("invoker0", p.to_vec()).await.unwrap();
        }
        let c = bus.consume("invoker0").await.unwrap();
        let a = next_within(&c).await;
        c.ack(&a.token).await.unwrap();
        let b = next_within(&c).await;
        assert_eq!(b.payload, b"b".to_vec());

        nats.kill();
        assert!(bus.publish("invoker0", b"x".to_vec()).await.is_err());
        nats.start_again();
        until_ok(|| bus.publish("invoker0", b"d".to_vec())).await;
        let want: Vec<Vec<u8>> = [b"b", b"c", b"d"].iter().map(|p| p.to_vec()).collect();
        let mut got: Vec<Vec<u8>> = vec![];
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        while !want.iter().all(|w| got.contains(w)) {
            assert!(tokio::time::Instant::now() < deadline, "got only {got:?}");
            match tokio::time::timeout(PATIENCE, c.next()).await {
                Ok(Ok(d)) => {
                    c.ack(&d.token).await.unwrap();
                    got.push(d.payload);
                }
                Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => panic!("nothing delivered after the restart; got {got:?}"),
            }
        }
        got.sort();
        got.dedup();
        assert!(
            got.len() <= 4 && got.iter().all(|p| p.as_slice() != b"x"),
            "{got:?}"
        );
    }

    /// Steady publishing and consuming while nats-server is killed and started again: every
    /// message whose publish returned Ok is delivered (at least once); nothing arrives that
    /// was never published. Bounded: 300 messages, a deadline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_accepted_message_is_lost_when_the_server_dies_under_load() {
        use std::collections::BTreeSet;
        const TOTAL: u32 = 300;
        let mut nats = TestNats::start();
        let options = NatsBusOptions {
            ack_wait: Duration::from_secs(2),
            ..quick()
        };
        let producer_bus = bus(&nats, options.clone()).await;
        let consumer_bus = bus(&nats, options).await;
        let c = consumer_bus.consume("invoker3").await.unwrap();
        let (published_tx, mut published_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let produced = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let producer = tokio::spawn({
            let produced = Arc::clone(&produced);
            async move {
                let mut accepted = BTreeSet::new();
                let mut refused = 0u32;
                for i in 0..TOTAL {
                    match producer_bus
                        .publish("invoker3", i.to_be_bytes().to_vec())
                        .await
                    {
                        Ok(()) => {
                            accepted.insert(i);
                        }
                        Err(_) => refused += 1,
                    }
                    let _ = published_tx.send(i);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                produced.store(true, std::sync::atomic::Ordering::SeqCst);
                (accepted, refused)
            }
        });
        let consumer = tokio::spawn(async move {
            let mut received = BTreeSet::new();
            let mut deliveries = 0u32;
            let deadline = tokio::time::Instant::now() + PATIENCE * 3;
            while tokio::time::Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(5), c.next()).await {
                    Ok(Ok(d)) => {
                        deliveries += 1;
                        let i = u32::from_be_bytes(d.payload.as_slice().try_into().unwrap());
                        received.insert(i);
                        // An ack lost in the outage only means one more delivery.
                        let _ = c.ack(&d.token).await;
                    }
                    Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                    // Quiet for a while after the last publish: everything is in.
                    Err(_) if produced.load(std::sync::atomic::Ordering::SeqCst) => break,
                    Err(_) => {}
                }
            }
            (received, deliveries)
        });
        // Kill the server a third of the way through, start it again a moment later.
        while let Some(i) = published_rx.recv().await {
            if i == TOTAL / 3 {
                nats.kill();
                tokio::time::sleep(Duration::from_millis(300)).await;
                nats.start_again();
            }
        }
        let (accepted, refused) = producer.await.unwrap();
        let (received, deliveries) = consumer.await.unwrap();
        let lost: Vec<_> = accepted.difference(&received).collect();
        assert!(lost.is_empty(), "accepted but never delivered: {lost:?}");
        assert!(received.iter().all(|i| *i < TOTAL));
        // The outage was real: some publishes were refused.
        assert!(refused > 0, "no publish failed during the outage");
        debug!(
            accepted = accepted.len(),
            refused, deliveries, "Load across a crash."
        );
    }

    /// A server that comes back without its store (a new machine, a wiped volume): the
    /// bus makes the topic's stream and consumer again by itself.
    #[tokio::test]
    async fn a_server_that_lost_its_store_gets_the_streams_again() {
        let mut nats = TestNats::start();
        let bus = bus(&nats, quick()).await;
        bus.publish("invoker4", b"before".to_vec()).await.unwrap();
        let c = bus.consume("invoker4").await.unwrap();
        let d = next_within(&c).await;
        c.ack(&d.token).await.unwrap();

        nats.stop();
        std::fs::remove_dir_all(nats.store_dir()).unwrap();
        nats.start_again();
        until_ok(|| bus.publish("invoker4", b"after".to_vec())).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let d = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing after the wipe"
            );
            match tokio::time::timeout(PATIENCE, c.next()).await {
                Ok(Ok(d)) => break d,
                Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => panic!("the consumer did not resume"),
            }
        };
        assert_eq!(d.payload, b"after".to_vec());
        c.ack(&d.token).await.unwrap();
    }

    /// A topic at its bound refuses further messages with a clear error and drops nothing;
    /// once a message is acknowledged there is room again.
    #[tokio::test]
    async fn a_full_topic_refuses_publish() {
        let nats = TestNats::start();
        let bus = bus(
            &nats,
            NatsBusOptions {
                max_messages: 2,
                ..quick()
            },
        )
        .await;
        bus.publish("invoker7", b"1".to_vec()).await.unwrap();
        bus.publish("invoker7", b"2".to_vec()).await.unwrap();
        let err = bus.publish("invoker7", b"3".to_vec()).await.unwrap_err();
        assert!(
            matches!(&err, BusError::Full { topic, reason } if topic == "invoker7" && reason.contains("maximum messages")),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("topic invoker7 is full"),
            "{err}"
        );
        assert_eq!(bus.depth("invoker7").await.unwrap(), Some(2));
        let c = bus.consume("invoker7").await.unwrap();
        let one = next_within(&c).await;
        assert_eq!(one.payload, b"1".to_vec());
        c.ack(&one.token).await.unwrap();
        bus.publish("invoker7", b"3".to_vec()).await.unwrap();
        let two = next_within(&c).await;
        assert_eq!(two.payload, b"2".to_vec());
        c.ack(&two.token).await.unwrap();
        let three = next_within(&c).await;
        assert_eq!(three.payload, b"3".to_vec());
        c.ack(&three.token).await.unwrap();
    }

    #[tokio::test]
    async fn bad_names_are_refused() {
        let nats = TestNats::start();
        let bus = bus(&nats, quick()).await;
        for topic in ["", "a.b", "a*", "a b", ">"] {
            assert!(bus.publish(topic, vec![]).await.is_err(), "{topic:?}");
            assert!(bus.consume(topic).await.is_err(), "{topic:?}");
        }
        for subject in ["", "a..b", "a.*", "a.>", "a b"] {
            assert!(bus.notify(subject, vec![]).await.is_err(), "{subject:?}");
            assert!(bus.subscribe(subject).await.is_err(), "{subject:?}");
        }
    }

    #[tokio::test]
    async fn credentials_in_the_url() {
        let nats = TestNats::start_with("authorization { token: \"s3cret-token\" }");
        let good = format!("nats://s3cret-token@127.0.0.1:{}", nats.port());
        let bus = NatsBus::connect(&good, quick()).await.unwrap();
        bus.publish("invoker1", b"m".to_vec()).await.unwrap();
        let bad = format!("nats://wrong@127.0.0.1:{}", nats.port());
        assert!(NatsBus::connect(&bad, quick()).await.is_err());
        assert!(NatsBus::connect(&nats.url(), quick()).await.is_err());

        let nats = TestNats::start_with("authorization { user: whisk, password: \"pw-1\" }");
        let good = format!("nats://whisk:pw-1@127.0.0.1:{}", nats.port());
        let bus = NatsBus::connect(&good, quick()).await.unwrap();
        bus.publish("invoker1", b"m".to_vec()).await.unwrap();
        let bad = format!("nats://whisk:nope@127.0.0.1:{}", nats.port());
        assert!(NatsBus::connect(&bad, quick()).await.is_err());

        // Characters that a URL cannot hold as they are go percent-encoded.
        let nats = TestNats::start_with("authorization { user: whisk, password: \"p@ss:w/rd\" }");
        let good = format!("nats://whisk:p%40ss%3Aw%2Frd@127.0.0.1:{}", nats.port());
        NatsBus::connect(&good, quick()).await.unwrap();
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("p%40ss%3aw%2Frd"), "p@ss:w/rd");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
