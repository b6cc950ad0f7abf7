//! [`InMemoryBus`]: the in-process event bus of the default deployment.
//!
//! Events are routed by topic: a map from topic to its bounded history and its subscribers, so
//! a publish touches only that topic's subscribers. One mutex guards the map and the id counter;
//! ids are assigned and events queued under it, which keeps every subscriber's queue in id
//! order (also across topics) and makes replay atomic with registration. The lock is held
//! only for in-memory work; delivery is a non-blocking `try_send`.
//!
//! **Ids.** The first id is the bus's creation time in microseconds since the Unix epoch; each
//! event takes the next integer. Ids therefore keep increasing across a host restart (unless the
//! previous run published faster than one event per microsecond on average, or the clock went
//! back), so a client reconnecting with a `Last-Event-ID` from before the restart gets
//! [`Subscription::gap`] instead of silently missing events.
//!
//! **Memory.** History is bounded per topic, but the number of topics is not: a topic keeps its
//! history until the bus is dropped. Topics that never saw an event are forgotten when their
//! last subscriber leaves.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    BusError, BusEvent, Delivery, EventBus, SubscriberSender, Subscription, validate_event_type,
    validate_topic,
};

/// Settings of an [`InMemoryBus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InMemoryBusConfig {
    /// Events kept per topic for replay after a `Last-Event-ID`. Default is 1000.
    pub history_per_topic: usize,
    /// Live events queued per subscriber before it is dropped as a slow consumer. Default is
    /// 1024.
    pub subscriber_buffer: usize,
    /// Topics one subscription may name. Default is 64.
    pub max_topics_per_subscription: usize,
    /// Event types one subscription may name. Default is 64.
    pub max_event_types_per_subscription: usize,
}

impl Default for InMemoryBusConfig {
    fn default() -> Self {
        InMemoryBusConfig {
            history_per_topic: 1000,
            subscriber_buffer: 1024,
            max_topics_per_subscription: 64,
            max_event_types_per_subscription: 64,
        }
    }
}

/// The in-process event bus. Share it as `Arc<InMemoryBus>` or `Arc<dyn EventBus>`; dropping
/// the last handle closes every subscription with the reason "event bus shut down".
#[derive(Debug)]
pub struct InMemoryBus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: InMemoryBusConfig,
    first_id: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    next_id: u64,
    next_subscriber: u64,
    live_subscribers: usize,
    topics: HashMap<Arc<str>, TopicState>,
}

#[derive(Debug)]
struct TopicState {
    name: Arc<str>,
    history: VecDeque<Arc<BusEvent>>,
    /// Highest id dropped from `history`; 0 when nothing was.
    highest_evicted: u64,
    subscribers: HashMap<u64, Arc<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    key: u64,
    topics: Box<[Arc<str>]>,
    /// Empty = every type.
    event_types: Box<[Box<str>]>,
    sender: SubscriberSender,
}

impl Subscriber {
    fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| **t == *event_type)
    }
}

impl Default for InMemoryBus {
    fn default() -> Self {
        InMemoryBus::new(InMemoryBusConfig::default())
    }
}

impl InMemoryBus {
    /// A bus whose ids start at the current time in microseconds since the Unix epoch.
    pub fn new(config: InMemoryBusConfig) -> Self {
        let micros = u64::try_from(since_epoch().as_micros()).unwrap_or(u64::MAX / 2);
        InMemoryBus::with_first_id(config, micros)
    }

    /// A bus whose first event gets id `first_id` (at least 1). For tests and for backends that
    /// persist their counter; [`InMemoryBus::new`] is what a host wants.
    pub fn with_first_id(config: InMemoryBusConfig, first_id: u64) -> Self {
        let first_id = first_id.max(1);
        InMemoryBus {
            shared: Arc::new(Shared {
                config,
                first_id,
                state: Mutex::new(State {
                    next_id: first_id,
                    next_subscriber: 0,
                    live_subscribers: 0,
                    topics: HashMap::new(),
                }),
            }),
        }
    }

    /// The id the first event of this bus got (or will get).
    pub fn first_id(&self) -> u64 {
        self.shared.first_id
    }

    /// Live subscriptions, for metrics.
    pub fn subscriber_count(&self) -> usize {
        self.shared.lock().live_subscribers
    }

    /// Live subscriptions on `topic`, for metrics.
    pub fn topic_subscriber_count(&self, topic: &str) -> usize {
        self.shared
            .lock()
            .topics
            .get(topic)
            .map_or(0, |t| t.subscribers.len())
    }

    /// Topics the bus holds state for (history or subscribers), for metrics.
    pub fn topic_count(&self) -> usize {
        self.shared.lock().topics.len()
    }
}

impl EventBus for InMemoryBus {
    fn subscriber_count(&self) -> usize {
        InMemoryBus::subscriber_count(self)
    }

    fn publish(
        &self,
        topic: &str,
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Arc<BusEvent>, BusError> {
        validate_topic(topic)?;
        validate_event_type(event_type)?;
        // Encode before taking the lock: it is the only costly step.
        let data: Arc<str> = serde_json::to_string(data)?.into();
        let event_type: Arc<str> = event_type.into();
        let history_cap = self.shared.config.history_per_topic;

        let mut slow = Vec::new();
        let event = {
            let mut state = self.shared.lock();
            let id = state.next_id;
            state.next_id += 1;
            let topic_state = state.topic_mut(topic);
            let event = Arc::new(BusEvent {
                id,
                topic: Arc::clone(&topic_state.name),
                event_type,
                timestamp_ms: u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX),
                data,
            });
            topic_state.history.push_back(Arc::clone(&event));
            while topic_state.history.len() > history_cap {
                if let Some(evicted) = topic_state.history.pop_front() {
                    topic_state.highest_evicted = evicted.id;
                }
            }
            let mut dropped = Vec::new();
            for subscriber in topic_state.subscribers.values() {
                if !subscriber.wants(&event.event_type) {
                    continue;
                }
                match subscriber.sender.try_deliver(Arc::clone(&event)) {
                    Delivery::Queued => {}
                    Delivery::Full => {
                        subscriber.sender.set_closed_reason(&format!(
                            "slow consumer: its buffer of {} events was full",
                            self.shared.config.subscriber_buffer
                        ));
                        slow.push(subscriber.key);
                        dropped.push(Arc::clone(subscriber));
                    }
                    // Dropped but not yet unsubscribed: its drop hook is waiting for the lock.
                    Delivery::Gone => dropped.push(Arc::clone(subscriber)),
                }
            }
            for subscriber in dropped {
                state.remove(subscriber.key, &subscriber.topics);
            }
            event
        };
        for key in slow {
            tracing::warn!(
                subscriber = key,
                topic,
                "closed a slow consumer of the event bus"
            );
        }
        tracing::trace!(id = event.id, topic, "published");
        Ok(event)
    }

    fn subscribe(
        &self,
        topics: &[String],
        event_types: &[String],
        after: Option<u64>,
    ) -> Result<Subscription, BusError> {
        let config = &self.shared.config;
        if topics.is_empty() {
            return Err(BusError::NoTopics);
        }
        if topics.len() > config.max_topics_per_subscription {
            return Err(BusError::TooManyTopics {
                given: topics.len(),
                max: config.max_topics_per_subscription,
            });
        }
        if event_types.len() > config.max_event_types_per_subscription {
            return Err(BusError::TooManyEventTypes {
                given: event_types.len(),
                max: config.max_event_types_per_subscription,
            });
        }
        let mut wanted_topics: Vec<&str> = Vec::with_capacity(topics.len());
        for topic in topics {
            validate_topic(topic)?;
            if !wanted_topics.contains(&topic.as_str()) {
                wanted_topics.push(topic);
            }
        }
        let mut wanted_types: Vec<Box<str>> = Vec::with_capacity(event_types.len());
        for event_type in event_types {
            validate_event_type(event_type)?;
            if !wanted_types.iter().any(|t| **t == **event_type) {
                wanted_types.push(event_type.as_str().into());
            }
        }

        let (sender, subscription) = Subscription::channel(config.subscriber_buffer);
        let mut state = self.shared.lock();
        let key = state.next_subscriber;
        state.next_subscriber += 1;
        let topic_names: Box<[Arc<str>]> = wanted_topics
            .iter()
            .map(|topic| Arc::clone(&state.topic_mut(topic).name))
            .collect();
        let subscriber = Arc::new(Subscriber {
            key,
            topics: topic_names.clone(),
            event_types: wanted_types.into(),
            sender,
        });

        let mut replay = Vec::new();
        let mut gap = false;
        if let Some(after) = after {
            // Ids below first_id - 1 were issued by an earlier bus (or never); ids at or above
            // next_id were never issued by this one. Either way this bus cannot vouch for them.
            gap = after.saturating_add(1) < self.shared.first_id || after >= state.next_id;
            for name in topic_names.iter() {
                let Some(topic) = state.topics.get(name) else {
                    continue;
                };
                gap |= after < topic.highest_evicted;
                let start = topic.history.partition_point(|event| event.id <= after);
                replay.extend(
                    topic
                        .history
                        .range(start..)
                        .filter(|event| subscriber.wants(&event.event_type))
                        .cloned(),
                );
            }
        }
        for name in topic_names.iter() {
            if let Some(topic) = state.topics.get_mut(name) {
                topic.subscribers.insert(key, Arc::clone(&subscriber));
            }
        }
        state.live_subscribers += 1;
        drop(state);

        // Each topic's history is in id order; merge the topics.
        replay.sort_unstable_by_key(|event| event.id);
        tracing::debug!(subscriber = key, topics = ?topic_names, ?after, gap, "subscribed");
        // The hook must not hold the subscriber (its sender): the bus closes a subscription by
        // dropping every `Arc` of it.
        let shared = Arc::downgrade(&self.shared);
        drop(subscriber);
        Ok(subscription
            .with_replay(replay.into(), gap)
            .on_drop(move || unsubscribe(&shared, key, &topic_names)))
    }
}

fn unsubscribe(shared: &Weak<Shared>, key: u64, topics: &[Arc<str>]) {
    if let Some(shared) = shared.upgrade() {
        shared.lock().remove(key, topics);
        tracing::debug!(subscriber = key, "unsubscribed");
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, and the state stays consistent at every
        // step, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn topic_mut(&mut self, topic: &str) -> &mut TopicState {
        // The entry API needs an owned key; a small allocation is cheaper than a second lookup.
        self.topics
            .entry(Arc::from(topic))
            .or_insert_with_key(|name| TopicState {
                name: Arc::clone(name),
                history: VecDeque::new(),
                highest_evicted: 0,
                subscribers: HashMap::new(),
            })
    }

    /// Remove subscriber `key` from `topics`; idempotent. Dropping the last `Arc` of it drops
    /// its sender, which closes the subscription once its queue is drained.
    fn remove(&mut self, key: u64, topics: &[Arc<str>]) {
        let mut was_registered = false;
        for name in topics {
            let Some(topic) = self.topics.get_mut(name) else {
                continue;
            };
            was_registered |= topic.subscribers.remove(&key).is_some();
            let never_used = topic.history.is_empty() && topic.highest_evicted == 0;
            if topic.subscribers.is_empty() && never_used {
                self.topics.remove(name);
            }
        }
        if was_registered {
            self.live_subscribers -= 1;
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        for topic in self.topics.values() {
            for subscriber in topic.subscribers.values() {
                subscriber.sender.set_closed_reason("event bus shut down");
            }
        }
    }
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn small_bus(history: usize, buffer: usize) -> InMemoryBus {
        InMemoryBus::with_first_id(
            InMemoryBusConfig {
                history_per_topic: history,
                subscriber_buffer: buffer,
                ..InMemoryBusConfig::default()
            },
            1,
        )
    }

    fn drain(sub: &mut Subscription) -> Vec<u64> {
        std::iter::from_fn(|| sub.try_recv())
            .map(|e| e.id)
            .collect()
    }

    fn publish_n(bus: &InMemoryBus, topic: &str, n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| {
                bus.publish(topic, "checkpoint", &json!({ "i": i }))
                    .expect("publish")
                    .id
            })
            .collect()
    }

    #[test]
    fn delivers_events_in_publish_order_with_their_fields() {
        let bus = InMemoryBus::default();
        let mut sub = bus
            .subscribe(&topics(&["orders/ORD-123"]), &[], None)
            .expect("subscribe");
        let first = bus
            .publish(
                "orders/ORD-123",
                "checkpoint",
                &json!({"b": 1, "a": [true, null]}),
            )
            .expect("publish");
        let ids = publish_n(&bus, "orders/ORD-123", 3);
        let got = sub.try_recv().expect("first event");
        assert_eq!(got, first);
        assert_eq!(&*got.topic, "orders/ORD-123");
        assert_eq!(&*got.event_type, "checkpoint");
        assert_eq!(&*got.data, r#"{"b":1,"a":[true,null]}"#);
        assert!(got.timestamp_ms > 1_600_000_000_000);
        assert_eq!(drain(&mut sub), ids);
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn ids_start_at_the_creation_time_in_microseconds() {
        let before = u64::try_from(since_epoch().as_micros()).expect("fits");
        let bus = InMemoryBus::default();
        let after = u64::try_from(since_epoch().as_micros()).expect("fits");
        let id = bus.publish("t", "e", &json!(null)).expect("publish").id;
        assert!(
            (before..=after).contains(&id),
            "{before} <= {id} <= {after}"
        );
        assert_eq!(id, bus.first_id());
    }

    #[test]
    fn events_go_only_to_subscribers_of_their_topic() {
        let bus = InMemoryBus::default();
        let mut a = bus
            .subscribe(&topics(&["a"]), &[], None)
            .expect("subscribe");
        let mut b = bus
            .subscribe(&topics(&["b"]), &[], None)
            .expect("subscribe");
        let on_a = publish_n(&bus, "a", 2);
        let on_b = publish_n(&bus, "b", 1);
        publish_n(&bus, "c", 1);
        assert_eq!(drain(&mut a), on_a);
        assert_eq!(drain(&mut b), on_b);
    }

    #[test]
    fn event_types_filter_per_subscriber() {
        let bus = InMemoryBus::default();
        let mut only_created = bus
            .subscribe(&topics(&["t"]), &topics(&["created"]), None)
            .expect("subscribe");
        let mut everything = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let created = bus.publish("t", "created", &json!(1)).expect("publish").id;
        let updated = bus.publish("t", "updated", &json!(2)).expect("publish").id;
        assert_eq!(drain(&mut only_created), [created]);
        assert_eq!(drain(&mut everything), [created, updated]);
    }

    #[test]
    fn replays_exactly_the_events_after_the_given_id() {
        let bus = InMemoryBus::default();
        let mut first = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let seen = publish_n(&bus, "t", 3);
        assert_eq!(drain(&mut first), seen);
        drop(first);
        let missed = publish_n(&bus, "t", 5);

        let mut again = bus
            .subscribe(&topics(&["t"]), &[], Some(seen[2]))
            .expect("subscribe");
        assert!(!again.gap());
        assert_eq!(drain(&mut again), missed);
        let live = publish_n(&bus, "t", 1);
        assert_eq!(drain(&mut again), live);
    }

    #[test]
    fn replay_applies_the_event_type_filter() {
        let bus = InMemoryBus::default();
        let wanted = bus
            .publish("t", "checkpoint", &json!(1))
            .expect("publish")
            .id;
        bus.publish("t", "other", &json!(2)).expect("publish");
        let mut sub = bus
            .subscribe(&topics(&["t"]), &topics(&["checkpoint"]), Some(wanted - 1))
            .expect("subscribe");
        assert_eq!(drain(&mut sub), [wanted]);
    }

    #[test]
    fn reports_a_gap_only_when_events_after_the_id_were_evicted() {
        let bus = small_bus(3, 16);
        let ids = publish_n(&bus, "t", 5); // ids[0] and ids[1] evicted
        let mut covered = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[1]))
            .expect("subscribe");
        assert!(!covered.gap());
        assert_eq!(drain(&mut covered), ids[2..]);

        let mut lost = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[0]))
            .expect("subscribe");
        assert!(lost.gap());
        assert_eq!(drain(&mut lost), ids[2..]);

        let fresh = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        assert!(!fresh.gap());
    }

    #[test]
    fn reports_a_gap_on_any_subscribed_topic() {
        let bus = small_bus(1, 16);
        let start = publish_n(&bus, "quiet", 1)[0];
        publish_n(&bus, "busy", 3);
        let sub = bus
            .subscribe(&topics(&["quiet", "busy"]), &[], Some(start))
            .expect("subscribe");
        assert!(sub.gap());
    }

    #[test]
    fn reports_a_gap_for_ids_this_bus_did_not_issue() {
        let bus = InMemoryBus::with_first_id(InMemoryBusConfig::default(), 1000);
        let just_before = bus
            .subscribe(&topics(&["t"]), &[], Some(999))
            .expect("subscribe");
        assert!(
            !just_before.gap(),
            "nothing was published before the first id"
        );
        let earlier_run = bus
            .subscribe(&topics(&["t"]), &[], Some(500))
            .expect("subscribe");
        assert!(earlier_run.gap());
        let last = publish_n(&bus, "t", 2)[1];
        let current = bus
            .subscribe(&topics(&["t"]), &[], Some(last))
            .expect("subscribe");
        assert!(!current.gap());
        let future = bus
            .subscribe(&topics(&["t"]), &[], Some(last + 1))
            .expect("subscribe");
        assert!(future.gap());
    }

    #[test]
    fn with_no_history_any_earlier_event_is_a_gap() {
        let bus = small_bus(0, 16);
        let ids = publish_n(&bus, "t", 2);
        let mut sub = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[0]))
            .expect("subscribe");
        assert!(sub.gap());
        assert!(drain(&mut sub).is_empty());
    }

    #[test]
    fn closes_a_slow_consumer_without_affecting_a_fast_one() {
        let bus = small_bus(10, 2);
        let mut slow = bus
            .subscribe(&topics(&["t", "u"]), &[], None)
            .expect("subscribe");
        let mut fast = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let mut received = Vec::new();
        let mut published = Vec::new();
        for _ in 0..5 {
            published.extend(publish_n(&bus, "t", 1));
            received.extend(drain(&mut fast));
        }
        assert_eq!(received, published);
        assert_eq!(bus.subscriber_count(), 1);
        assert_eq!(bus.topic_subscriber_count("u"), 0);
        let reason = slow.closed_reason().expect("closed");
        assert!(reason.starts_with("slow consumer"), "{reason}");
        // It drains what it had, then sees the end.
        assert_eq!(drain(&mut slow), published[..2]);
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert_eq!(slow.poll_recv(&mut cx), std::task::Poll::Ready(None));
    }

    #[test]
    fn a_long_replay_does_not_make_a_new_subscriber_slow() {
        let bus = small_bus(100, 2);
        let ids = publish_n(&bus, "t", 50);
        let mut sub = bus
            .subscribe(&topics(&["t"]), &[], Some(ids[0] - 1))
            .expect("subscribe");
        assert_eq!(drain(&mut sub), ids);
        assert_eq!(sub.closed_reason(), None);
    }

    #[test]
    fn dropping_a_subscription_unsubscribes_from_every_topic() {
        let bus = InMemoryBus::default();
        let sub = bus
            .subscribe(&topics(&["a", "b", "a"]), &[], None)
            .expect("subscribe");
        let other = bus
            .subscribe(&topics(&["a"]), &[], None)
            .expect("subscribe");
        assert_eq!(bus.subscriber_count(), 2);
        assert_eq!(bus.topic_subscriber_count("a"), 2);
        assert_eq!(bus.topic_subscriber_count("b"), 1);
        drop(sub);
        assert_eq!(bus.topic_subscriber_count("a"), 1);
        assert_eq!(bus.topic_subscriber_count("b"), 0);
        drop(other);
        assert_eq!(bus.subscriber_count(), 0);
        assert_eq!(bus.topic_count(), 0, "unused topics are forgotten");
    }

    #[test]
    fn a_multi_topic_subscription_receives_in_id_order() {
        let bus = InMemoryBus::default();
        let before = publish_n(&bus, "a", 1)[0];
        let mut expected = Vec::new();
        for topic in ["b", "a", "c", "b", "a"] {
            expected.extend(publish_n(&bus, topic, 1));
        }
        let mut sub = bus
            .subscribe(&topics(&["a", "b", "c"]), &[], Some(before))
            .expect("subscribe");
        for topic in ["c", "a", "b"] {
            expected.extend(publish_n(&bus, topic, 1));
        }
        assert_eq!(drain(&mut sub), expected);
    }

    #[test]
    fn replay_and_live_delivery_neither_lose_nor_repeat_events_under_concurrency() {
        let bus = Arc::new(InMemoryBus::default());
        let publisher = {
            let bus = Arc::clone(&bus);
            std::thread::spawn(move || publish_n(&bus, "t", 500))
        };
        let first = bus.first_id();
        let mut sub = bus
            .subscribe(&topics(&["t"]), &[], Some(first - 1))
            .expect("subscribe");
        let published = publisher.join().expect("publisher");
        assert!(!sub.gap());
        assert_eq!(drain(&mut sub), published);
    }

    #[test]
    fn rejects_bad_subscriptions_and_publishes() {
        let bus = InMemoryBus::default();
        assert!(matches!(
            bus.subscribe(&[], &[], None),
            Err(BusError::NoTopics)
        ));
        assert!(matches!(
            bus.subscribe(&topics(&["a b"]), &[], None),
            Err(BusError::InvalidTopic { .. })
        ));
        assert!(matches!(
            bus.subscribe(&topics(&["t"]), &topics(&[""]), None),
            Err(BusError::InvalidEventType { .. })
        ));
        let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
        assert!(matches!(
            bus.subscribe(&many, &[], None),
            Err(BusError::TooManyTopics { given: 65, max: 64 })
        ));
        assert!(matches!(
            bus.publish("", "e", &json!(1)),
            Err(BusError::InvalidTopic { .. })
        ));
        assert!(matches!(
            bus.publish("t", "a\nb", &json!(1)),
            Err(BusError::InvalidEventType { .. })
        ));
        assert_eq!(bus.subscriber_count(), 0);
        assert_eq!(bus.topic_count(), 0);
    }

    #[test]
    fn dropping_the_bus_closes_subscriptions_with_a_reason() {
        let bus = InMemoryBus::default();
        let mut sub = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        drop(bus);
        assert_eq!(sub.closed_reason(), Some("event bus shut down"));
        assert_eq!(sub.try_recv(), None);
    }

    #[tokio::test]
    async fn recv_wakes_when_an_event_is_published() {
        let bus = Arc::new(InMemoryBus::default());
        let mut sub = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let publisher = {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                bus.publish("t", "e", &json!("hi")).expect("publish").id
            })
        };
        let event = sub.recv().await.expect("event");
        assert_eq!(event.id, publisher.await.expect("join"));
    }

    #[tokio::test]
    async fn works_as_a_stream_behind_the_trait() {
        use futures::StreamExt;
        let bus: Arc<dyn EventBus> = Arc::new(InMemoryBus::default());
        let sub = bus
            .subscribe(&topics(&["t"]), &[], None)
            .expect("subscribe");
        bus.publish("t", "e", &json!(1)).expect("publish");
        bus.publish("t", "e", &json!(2)).expect("publish");
        let data: Vec<String> = sub.take(2).map(|e| e.data.to_string()).collect().await;
        assert_eq!(data, ["1", "2"]);
    }
}
