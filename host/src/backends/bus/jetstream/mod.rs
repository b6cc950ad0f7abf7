//! [`JetStreamBus`]: the event bus of a cluster, on NATS JetStream.
//!
//! **Layout.** Every topic lives in one stream (`bus.stream`, default `SLUICE`) as its own
//! subject, `<subjectPrefix>.<segments…>` (see [`subject`] for the reversible escaping). A
//! message's payload is the event's data as JSON text; its `Sluice-Event-Type` header the event
//! type; `Nats-Msg-Id` the publish's `dedup_id`. History per topic is the stream's max messages
//! per subject (`bus.historyPerTopic`), plus optional max age and total size.
//!
//! **Ids.** An event's bus id is its stream sequence: strictly increasing across the cluster,
//! so an SSE id written by one node is a valid `Last-Event-ID` on every other.
//!
//! **Fan-out.** A node holds one NATS consumer per topic that has local subscribers (an
//! ordered consumer filtered on that topic's subject, delivering new messages), and hands each
//! message to its local subscribers without blocking; none for topics nobody on the node
//! follows, so no node receives every event. The ordered consumer survives a NATS restart: it
//! is recreated from the last sequence it delivered, so open streams resume.
//!
//! **Replay and the seam.** `subscribe(after)` registers the subscriber with the topic's
//! consumer first (waiting until that consumer exists), then reads the subject's history after
//! `after` from the stream (direct get, message by message). Any event stored after the
//! registration reaches the subscriber live; any stored before it is in the history read; one
//! that is both is skipped by [`Subscription`] (live events at or below the last replayed id of
//! their topic). Nothing is missed or repeated.
//!
//! **Gap rule** (conservative: "gap" when unsure, never "no gap" when events may be lost).
//! JetStream only ever drops the oldest messages of a subject, so what it holds of a subject is
//! a suffix. After the replay, for each topic: let `oldest` be the oldest message it still
//! holds on the subject and `last` the stream's last sequence. Gap when `after > last` (an id
//! this stream never issued: a recreated stream), when `oldest > after + 1` (messages between
//! `after` and `oldest` may have existed and been dropped), or when the subject holds nothing
//! and `after < last` (anything after `after` may have been dropped). Otherwise every message
//! of the subject after `after` is still held, and was replayed.
//!
//! **Order.** Events of one topic arrive in id order. Events of different topics of one
//! subscription come from different consumers and may interleave out of id order.

pub mod config;
pub mod subject;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::watch;

pub use config::{JetStreamConfig, Storage};

use super::subscription::Subscriber;
use super::{
    BusError, BusEvent, Delivery, EventBus, Published, Subscription, SubscriptionLimits,
    check_subscription, validate_dedup_id, validate_event_type, validate_topic,
};

/// The header carrying an event's type.
const EVENT_TYPE_HEADER: &str = "Sluice-Event-Type";

/// The JetStream event bus. Cheap to share as `Arc<JetStreamBus>` or `Arc<dyn EventBus>`.
pub struct JetStreamBus {
    shared: Arc<Shared>,
}

struct Shared {
    config: JetStreamConfig,
    client: async_nats::Client,
    context: jetstream::Context,
    stream: stream::Stream,
    feeds: Mutex<HashMap<Arc<str>, Arc<Feed>>>,
    next_subscriber: AtomicU64,
    live_subscribers: AtomicUsize,
}

/// One topic's consumer on this node and the local subscribers it feeds.
struct Feed {
    /// Tells this feed from a later one of the same topic.
    id: u64,
    topic: Arc<str>,
    subscribers: Mutex<HashMap<u64, Arc<Subscriber>>>,
    /// `Some(Ok)` once the consumer exists, `Some(Err)` if it could not be made.
    ready: watch::Receiver<Option<Result<(), String>>>,
    task: tokio::task::AbortHandle,
}

impl std::fmt::Debug for JetStreamBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBus")
            .field("url", &self.shared.config.url)
            .field("stream", &self.shared.config.stream)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("{what}: {err}"))
}

impl JetStreamBus {
    /// Connect to NATS and create (or update) the stream. Fails when NATS cannot be reached
    /// within `connectTimeoutSeconds` or JetStream refuses the stream; once connected, the
    /// client reconnects by itself for as long as the bus lives.
    pub async fn connect(config: JetStreamConfig) -> Result<JetStreamBus, BusError> {
        config.validate().map_err(BusError::Config)?;
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(config.connect_timeout_seconds))
            .request_timeout(Some(config.request_timeout()))
            .max_reconnects(None)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("event bus: connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("event bus: lost NATS, reconnecting")
                    }
                    other => tracing::info!(event = %other, "event bus: NATS"),
                }
            });
        let connect = options.connect(config.url.as_str());
        let client =
            tokio::time::timeout(Duration::from_secs(config.connect_timeout_seconds), connect)
                .await
                .map_err(|_| unavailable("cannot reach NATS", "timed out"))?
                .map_err(|err| unavailable("cannot reach NATS", err))?;
        let mut context = jetstream::new(client.clone());
        context.set_timeout(config.request_timeout());
        let stream_config = stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            max_messages_per_subject: i64::from(config.history_per_topic),
            max_age: Duration::from_secs(config.max_age_seconds),
            max_bytes: config.max_bytes,
            duplicate_window: Duration::from_secs(config.duplicate_window_seconds),
            num_replicas: usize::from(config.replicas),
            storage: match config.storage {
                Storage::File => stream::StorageType::File,
                Storage::Memory => stream::StorageType::Memory,
            },
            discard: stream::DiscardPolicy::Old,
            allow_direct: true,
            ..Default::default()
        };
        context
            .create_or_update_stream(stream_config)
            .await
            .map_err(|err| unavailable(&format!("cannot set up stream {}", config.stream), err))?;
        let stream = context
            .get_stream(&config.stream)
            .await
            .map_err(|err| unavailable(&format!("cannot open stream {}", config.stream), err))?;
        tracing::info!(url = %config.url, stream = %config.stream, "event bus: JetStream");
        Ok(JetStreamBus {
            shared: Arc::new(Shared {
                config,
                client,
                context,
                stream,
                feeds: Mutex::new(HashMap::new()),
                next_subscriber: AtomicU64::new(0),
                live_subscribers: AtomicUsize::new(0),
            }),
        })
    }

    /// Topics this node holds a consumer for, for metrics and tests.
    pub fn feed_count(&self) -> usize {
        self.shared.lock_feeds().len()
    }

    /// Delete the stream with everything in it (for tests and operators).
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        self.shared
            .context
            .delete_stream(&self.shared.config.stream)
            .await
            .map(|_| ())
            .map_err(|err| unavailable("cannot delete the stream", err))
    }

    /// The NATS client, e.g. to check the connection state.
    pub fn client(&self) -> &async_nats::Client {
        &self.shared.client
    }

    fn subject(&self, topic: &str) -> String {
        subject::topic_to_subject(&self.shared.config.subject_prefix, topic)
    }

    async fn publish_inner(
        &self,
        topic: &str,
        event_type: &str,
        data: &serde_json::Value,
        dedup_id: Option<&str>,
    ) -> Result<Published, BusError> {
        validate_topic(topic)?;
        validate_event_type(event_type)?;
        let mut publish = jetstream::message::PublishMessage::build()
            .payload(serde_json::to_vec(data)?.into())
            .header(EVENT_TYPE_HEADER, event_type);
        if let Some(dedup_id) = dedup_id {
            validate_dedup_id(dedup_id)?;
            publish = publish.message_id(dedup_id);
        }
        let ack = self
            .shared
            .context
            .send_publish(self.subject(topic), publish)
            .await
            .map_err(|err| match err.kind() {
                jetstream::context::PublishErrorKind::MaxPayloadExceeded => BusError::TooLarge {
                    size: serde_json::to_vec(data).map_or(0, |d| d.len()),
                    max: self.shared.client.server_info().max_payload,
                },
                _ => unavailable("publish failed", err),
            })?
            .await
            .map_err(|err| unavailable("publish was not acknowledged", err))?;
        Ok(Published {
            id: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    async fn subscribe_inner(
        &self,
        topics: &[String],
        event_types: &[String],
        after: Option<u64>,
    ) -> Result<Subscription, BusError> {
        let config = &self.shared.config;
        let (wanted_topics, wanted_types) =
            check_subscription(topics, event_types, SubscriptionLimits::default())?;
        let (sender, subscription) = Subscription::channel(config.subscriber_buffer);
        let key = self.shared.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let topic_names: Box<[Arc<str>]> = wanted_topics.iter().map(|t| Arc::from(*t)).collect();
        let subscriber = Arc::new(Subscriber {
            key,
            topics: topic_names.clone(),
            event_types: wanted_types.into(),
            sender,
        });
        // Register with every topic's feed before reading history: see the module docs.
        let feeds: Vec<Arc<Feed>> = topic_names
            .iter()
            .map(|topic| self.shared.feed(topic, Arc::clone(&subscriber)))
            .collect();
        self.shared.live_subscribers.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::downgrade(&self.shared);
        let hook_topics = topic_names.clone();
        // From here on, dropping `subscription` (also on an error return) unregisters it.
        let subscription = subscription.on_drop(move || unsubscribe(&shared, key, &hook_topics));
        for feed in &feeds {
            let mut ready = feed.ready.clone();
            let state =
                tokio::time::timeout(config.request_timeout(), ready.wait_for(Option::is_some))
                    .await
                    .map_err(|_| unavailable("cannot follow the topic", "timed out"))?
                    .map_err(|_| unavailable("cannot follow the topic", "its feed stopped"))?
                    .clone();
            if let Some(Err(reason)) = state {
                return Err(BusError::Unavailable(format!(
                    "cannot follow topic {}: {reason}",
                    feed.topic
                )));
            }
        }
        let Some(after) = after else {
            return Ok(subscription);
        };
        let mut replay = Vec::new();
        let mut gap = false;
        for topic in topic_names.iter() {
            let (events, topic_gap) = self
                .history(topic, after, &|event_type| subscriber.wants(event_type))
                .await?;
            replay.extend(events);
            gap |= topic_gap;
        }
        // The bus closes a subscription by dropping every `Arc` of its subscriber.
        drop(subscriber);
        replay.sort_unstable_by_key(|event: &Arc<BusEvent>| event.id);
        tracing::debug!(
            subscriber = key,
            ?after,
            gap,
            replayed = replay.len(),
            "subscribed"
        );
        Ok(subscription.with_replay(VecDeque::from(replay), gap))
    }

    /// The events of `topic` after `after` that the stream holds, and whether some may have
    /// been dropped (the gap rule in the module docs).
    async fn history(
        &self,
        topic: &Arc<str>,
        after: u64,
        wants: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(Vec<Arc<BusEvent>>, bool), BusError> {
        let subject = self.subject(topic);
        let stream = &self.shared.stream;
        let mut events = Vec::new();
        let mut next = after.saturating_add(1);
        // History per subject bounds this loop; the cap guards against a misconfigured stream.
        let cap = self.shared.config.history_per_topic as usize + 1;
        while events.len() <= cap {
            match stream
                .direct_get_next_for_subject(subject.as_str(), Some(next))
                .await
            {
                Ok(message) => {
                    next = message.sequence + 1;
                    let event_type = message
                        .headers
                        .get(EVENT_TYPE_HEADER)
                        .map(|value| value.as_str().to_owned())
                        .unwrap_or_default();
                    if !wants(&event_type) {
                        continue;
                    }
                    if let Some(event) = to_event(
                        topic,
                        message.sequence,
                        &event_type,
                        &message.payload,
                        message.time.unix_timestamp_nanos(),
                    ) {
                        events.push(event);
                    }
                }
                Err(err) if matches!(err.kind(), stream::DirectGetErrorKind::NotFound) => break,
                Err(err) => return Err(unavailable("cannot read history", err)),
            }
        }
        let oldest = match stream.direct_get_first_for_subject(subject.as_str()).await {
            Ok(message) => Some(message.sequence),
            Err(err) if matches!(err.kind(), stream::DirectGetErrorKind::NotFound) => None,
            Err(err) => return Err(unavailable("cannot read history", err)),
        };
        let last = self
            .shared
            .stream
            .clone()
            .info()
            .await
            .map_err(|err| unavailable("cannot read the stream state", err))?
            .state
            .last_sequence;
        Ok((events, gap_rule(after, oldest, last)))
    }
}

/// The conservative gap rule of the module docs.
pub fn gap_rule(after: u64, oldest_on_subject: Option<u64>, last_in_stream: u64) -> bool {
    if after > last_in_stream {
        return true;
    }
    match oldest_on_subject {
        Some(oldest) => oldest > after.saturating_add(1),
        None => after < last_in_stream,
    }
}

fn to_event(
    topic: &Arc<str>,
    id: u64,
    event_type: &str,
    payload: &[u8],
    unix_nanos: i128,
) -> Option<Arc<BusEvent>> {
    let Ok(data) = std::str::from_utf8(payload) else {
        tracing::warn!(id, %topic, "skipped a bus message whose data is not UTF-8");
        return None;
    };
    let millis = unix_nanos / 1_000_000;
    Some(Arc::new(BusEvent {
        id,
        topic: Arc::clone(topic),
        event_type: event_type.into(),
        timestamp_ms: u64::try_from(millis).unwrap_or(0),
        data: data.into(),
    }))
}

impl Shared {
    fn lock_feeds(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Feed>>> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The feed of `topic` with `subscriber` registered; starts the feed if there is none.
    fn feed(self: &Arc<Self>, topic: &Arc<str>, subscriber: Arc<Subscriber>) -> Arc<Feed> {
        let mut feeds = self.lock_feeds();
        let feed = feeds
            .entry(Arc::clone(topic))
            .or_insert_with(|| self.start_feed(topic));
        feed.lock_subscribers().insert(subscriber.key, subscriber);
        Arc::clone(feed)
    }

    fn start_feed(self: &Arc<Self>, topic: &Arc<str>) -> Arc<Feed> {
        let (ready_tx, ready) = watch::channel(None);
        let subject = subject::topic_to_subject(&self.config.subject_prefix, topic);
        let stream = self.stream.clone();
        let shared = Arc::downgrade(self);
        let name: Arc<str> = Arc::clone(topic);
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(async move {
            run_feed(stream, subject, (name, id), shared, ready_tx).await;
        });
        Arc::new(Feed {
            id,
            topic: Arc::clone(topic),
            subscribers: Mutex::new(HashMap::new()),
            ready,
            task: task.abort_handle(),
        })
    }
}

impl Feed {
    fn lock_subscribers(&self) -> MutexGuard<'_, HashMap<u64, Arc<Subscriber>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Follow one topic's subject and deliver each message to the feed's local subscribers.
async fn run_feed(
    stream: stream::Stream,
    subject: String,
    (topic, id): (Arc<str>, u64),
    shared: Weak<Shared>,
    ready: watch::Sender<Option<Result<(), String>>>,
) {
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject,
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await;
    let messages = match consumer {
        Ok(consumer) => consumer.messages().await.map_err(|err| err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let mut messages = match messages {
        Ok(messages) => {
            ready.send_replace(Some(Ok(())));
            messages
        }
        Err(reason) => {
            tracing::warn!(%topic, %reason, "event bus: cannot follow topic");
            ready.send_replace(Some(Err(reason)));
            // The next subscriber starts afresh.
            if let Some(shared) = shared.upgrade() {
                close_feed(&shared, &topic, id, "the event bus is unavailable");
            }
            return;
        }
    };
    while let Some(message) = messages.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match message {
            Ok(message) => {
                let Ok(info) = message.info() else { continue };
                let event_type = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(EVENT_TYPE_HEADER))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                let Some(event) = to_event(
                    &topic,
                    info.stream_sequence,
                    &event_type,
                    &message.payload,
                    info.published.unix_timestamp_nanos(),
                ) else {
                    continue;
                };
                deliver(&shared, &topic, id, &event);
            }
            Err(err) => {
                tracing::warn!(%topic, %err, "event bus: lost the topic's feed");
                close_feed(
                    &shared,
                    &topic,
                    id,
                    &format!("lost the event bus feed: {err}"),
                );
                return;
            }
        }
    }
}

fn deliver(shared: &Shared, topic: &Arc<str>, id: u64, event: &Arc<BusEvent>) {
    let Some(feed) = shared.lock_feeds().get(topic).cloned() else {
        return;
    };
    if feed.id != id {
        return;
    }
    let mut dropped = Vec::new();
    for subscriber in feed.lock_subscribers().values() {
        if !subscriber.wants(&event.event_type) {
            continue;
        }
        match subscriber.sender.try_deliver(Arc::clone(event)) {
            Delivery::Queued => {}
            Delivery::Full => {
                subscriber.sender.set_closed_reason(&format!(
                    "slow consumer: its buffer of {} events was full",
                    shared.config.subscriber_buffer
                ));
                tracing::warn!(subscriber = subscriber.key, %topic, "closed a slow consumer of the event bus");
                dropped.push(Arc::clone(subscriber));
            }
            Delivery::Gone => dropped.push(Arc::clone(subscriber)),
        }
    }
    for subscriber in dropped {
        remove(shared, subscriber.key, &subscriber.topics);
    }
}

/// Close every local subscriber of `topic` with `reason` and forget the feed.
fn close_feed(shared: &Shared, topic: &Arc<str>, id: u64, reason: &str) {
    let feed = {
        let mut feeds = shared.lock_feeds();
        match feeds.get(topic) {
            Some(feed) if feed.id == id => feeds.remove(topic),
            _ => None,
        }
    };
    let Some(feed) = feed else { return };
    feed.task.abort();
    let subscribers: Vec<Arc<Subscriber>> =
        feed.lock_subscribers().drain().map(|(_, s)| s).collect();
    for subscriber in subscribers {
        subscriber.sender.set_closed_reason(reason);
        remove(shared, subscriber.key, &subscriber.topics);
    }
}

/// The drop hook of a subscription: it stops counting as live only now, even if the bus
/// closed it earlier.
fn unsubscribe(shared: &Weak<Shared>, key: u64, topics: &[Arc<str>]) {
    if let Some(shared) = shared.upgrade() {
        remove(&shared, key, topics);
        shared.live_subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Remove subscriber `key` from the feeds of `topics`; idempotent. A feed left without
/// subscribers stops, and its consumer with it.
fn remove(shared: &Shared, key: u64, topics: &[Arc<str>]) {
    let mut feeds = shared.lock_feeds();
    for topic in topics {
        let Some(feed) = feeds.get(topic) else {
            continue;
        };
        let mut subscribers = feed.lock_subscribers();
        subscribers.remove(&key);
        if subscribers.is_empty() {
            drop(subscribers);
            if let Some(feed) = feeds.remove(topic) {
                feed.task.abort();
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for feed in self
            .feeds
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            feed.task.abort();
            for subscriber in feed.lock_subscribers().values() {
                subscriber.sender.set_closed_reason("event bus shut down");
            }
        }
    }
}

impl EventBus for JetStreamBus {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        event_type: &'a str,
        data: &'a serde_json::Value,
        dedup_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Published, BusError>> {
        Box::pin(self.publish_inner(topic, event_type, data, dedup_id))
    }

    fn subscribe<'a>(
        &'a self,
        topics: &'a [String],
        event_types: &'a [String],
        after: Option<u64>,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(self.subscribe_inner(topics, event_types, after))
    }

    fn subscriber_count(&self) -> usize {
        self.shared.live_subscribers.load(Ordering::Relaxed)
    }

    fn topic_count(&self) -> usize {
        self.feed_count()
    }

    /// The NATS client's connection state: while it reconnects, publishes fail.
    fn ready(&self) -> Result<(), BusError> {
        match self.shared.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(unavailable(
                &format!("NATS at {}", self.shared.config.url),
                state,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_rule_is_conservative() {
        // after, oldest held on the subject, last sequence of the stream → gap?
        for (after, oldest, last, gap) in [
            (10, Some(5), 20, false),  // everything after 10 is still held
            (10, Some(11), 20, false), // the next one is the oldest held
            (10, Some(12), 20, true),  // 11 may have been on this subject and dropped
            (10, None, 10, false),     // nothing was published after 10 at all
            (10, None, 20, true),      // the subject may have lost 11..=20
            (30, Some(5), 20, true),   // an id this stream never issued
            (0, Some(1), 20, false),
            (u64::MAX, None, 20, true),
        ] {
            assert_eq!(
                gap_rule(after, oldest, last),
                gap,
                "{after} {oldest:?} {last}"
            );
        }
    }
}
