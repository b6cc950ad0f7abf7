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
//! **Memory.** History is bounded per topic (`history_per_topic`) and in total
//! (`max_history_bytes`, counted as the events' and topics' estimated heap size, see
//! [`InMemoryBus::accounted_bytes`]): past the total, the oldest events of the whole bus are
//! dropped first. A topic with no subscribers is forgotten with its history once it has had no
//! event for `topic_idle` (checked as the bus is used, so forgetting happens between one and
//! two `topic_idle` periods after the last event), or as soon as it holds no history (never
//! had an event, or all of it evicted).
//!
//! **Gaps after forgetting.** The bus keeps one number, the highest id any forgotten topic ever
//! had; a topic (re)created later starts as if its events up to that id had been evicted. So a
//! reconnect asking for history of a forgotten topic after an older id gets
//! [`Subscription::gap`], and one with an id newer than everything forgotten does not.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;

use super::subscription::Subscriber;
use super::{
    BusError, BusEvent, Delivery, EventBus, Published, Subscription, SubscriptionLimits,
    check_subscription, validate_dedup_id, validate_event_type, validate_topic,
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
    /// How many recent `dedup_id`s the bus remembers; a publish repeating one of them is a
    /// duplicate. Default is 10,000.
    pub dedup_window: usize,
    /// A topic without subscribers and without an event for this long is forgotten with its
    /// history. Default is 15 minutes (`busTopicIdleSeconds: 900`).
    pub topic_idle: Duration,
    /// All topics' history together, in accounted bytes; the oldest events go first. Default
    /// is 64 MiB (`busMaxHistoryBytes`).
    pub max_history_bytes: usize,
}

impl Default for InMemoryBusConfig {
    fn default() -> Self {
        InMemoryBusConfig {
            history_per_topic: 1000,
            subscriber_buffer: 1024,
            max_topics_per_subscription: 64,
            max_event_types_per_subscription: 64,
            dedup_window: 10_000,
            topic_idle: Duration::from_secs(900),
            max_history_bytes: 64 << 20,
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
    /// Recent `dedup_id`s and the ids their events got, oldest first in `dedup_order`.
    dedup: HashMap<Box<str>, u64>,
    dedup_order: VecDeque<Box<str>>,
    /// Every history event as (id, topic), in id order; entries of events already evicted by
    /// their topic's own limit are skipped when they reach the front.
    order: VecDeque<(u64, Arc<str>)>,
    /// Events in all topics' history.
    history_events: usize,
    /// Estimated heap bytes of topics and history.
    accounted_bytes: usize,
    /// Topics to check for idleness, oldest check first: (when queued, topic, generation).
    idle_queue: VecDeque<(Instant, Arc<str>, u64)>,
    next_generation: u64,
    /// The highest event id of any forgotten topic.
    forgotten_up_to: u64,
}

/// Heap bytes of one history event beyond its data and type text: the event, its `Arc`
/// headers, its history slot and its `order` entry.
const EVENT_OVERHEAD: usize = std::mem::size_of::<BusEvent>()
    + 3 * 16
    + std::mem::size_of::<Arc<BusEvent>>()
    + std::mem::size_of::<(u64, Arc<str>)>();
/// Heap bytes of one topic beyond its name: its state, map slot and idle-queue entry.
const TOPIC_OVERHEAD: usize = std::mem::size_of::<TopicState>()
    + 2 * std::mem::size_of::<Arc<str>>()
    + 16
    + std::mem::size_of::<(Instant, Arc<str>, u64)>();

fn event_cost(event: &BusEvent) -> usize {
    EVENT_OVERHEAD + event.data.len() + event.event_type.len()
}

fn topic_cost(name: &str) -> usize {
    TOPIC_OVERHEAD + name.len()
}

#[derive(Debug)]
struct TopicState {
    name: Arc<str>,
    history: VecDeque<Arc<BusEvent>>,
    /// Highest id dropped from `history` (or possibly dropped: see the module docs).
    highest_evicted: u64,
    /// Id of the topic's last event; 0 when it never had one.
    last_event_id: u64,
    /// Last event or last subscriber leaving.
    last_active: Instant,
    generation: u64,
    subscribers: HashMap<u64, Arc<Subscriber>>,
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
                    dedup: HashMap::new(),
                    dedup_order: VecDeque::new(),
                    order: VecDeque::new(),
                    history_events: 0,
                    accounted_bytes: 0,
                    idle_queue: VecDeque::new(),
                    next_generation: 0,
                    forgotten_up_to: 0,
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

    /// Events held in all topics' history, for metrics.
    pub fn history_len(&self) -> usize {
        self.shared.lock().history_events
    }

    /// The estimated heap bytes of the bus's topics and history: what `max_history_bytes`
    /// bounds (subscriptions and the dedup window come on top).
    pub fn accounted_bytes(&self) -> usize {
        self.shared.lock().accounted_bytes
    }
}

impl EventBus for InMemoryBus {
    fn subscriber_count(&self) -> usize {
        InMemoryBus::subscriber_count(self)
    }

    fn topic_count(&self) -> usize {
        InMemoryBus::topic_count(self)
    }

    /// Always: the bus lives in this process.
    fn ready(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        event_type: &'a str,
        data: &'a serde_json::Value,
        dedup_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Published, BusError>> {
        let result = self.publish_now(topic, event_type, data, dedup_id);
        Box::pin(async move { result })
    }

    fn subscribe<'a>(
        &'a self,
        topics: &'a [String],
        event_types: &'a [String],
        after: Option<u64>,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        let result = self.subscribe_now(topics, event_types, after);
        Box::pin(async move { result })
    }
}

impl InMemoryBus {
    /// [`EventBus::publish`] without the future: everything happens before it returns.
    pub fn publish_now(
        &self,
        topic: &str,
        event_type: &str,
        data: &serde_json::Value,
        dedup_id: Option<&str>,
    ) -> Result<Published, BusError> {
        validate_topic(topic)?;
        validate_event_type(event_type)?;
        if let Some(dedup_id) = dedup_id {
            validate_dedup_id(dedup_id)?;
        }
        // Encode before taking the lock: it is the only costly step.
        let data: Arc<str> = serde_json::to_string(data)?.into();
        let event_type: Arc<str> = event_type.into();
        let history_cap = self.shared.config.history_per_topic;

        let mut slow = Vec::new();
        let config = &self.shared.config;
        let event = {
            let mut state = self.shared.lock();
            let now = Instant::now();
            state.forget_idle(now, config.topic_idle);
            if let Some(dedup_id) = dedup_id
                && let Some(&id) = state.dedup.get(dedup_id)
            {
                return Ok(Published {
                    id,
                    duplicate: true,
                });
            }
            let id = state.next_id;
            state.next_id += 1;
            if let Some(dedup_id) = dedup_id {
                state.remember(dedup_id, id, self.shared.config.dedup_window);
            }
            let topic_state = state.topic_mut(topic, now);
            let name = Arc::clone(&topic_state.name);
            let event = Arc::new(BusEvent {
                id,
                topic: Arc::clone(&name),
                event_type,
                timestamp_ms: u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX),
                data,
            });
            let mut freed = 0;
            let mut evicted_here = 0;
            topic_state.last_event_id = id;
            topic_state.last_active = now;
            if history_cap > 0 {
                topic_state.history.push_back(Arc::clone(&event));
            } else {
                topic_state.highest_evicted = id;
            }
            while topic_state.history.len() > history_cap {
                if let Some(evicted) = topic_state.history.pop_front() {
                    topic_state.highest_evicted = evicted.id;
                    freed += event_cost(&evicted);
                    evicted_here += 1;
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
            if history_cap > 0 {
                state.order.push_back((id, name));
                state.history_events += 1;
                state.accounted_bytes += event_cost(&event);
            }
            state.history_events -= evicted_here;
            state.accounted_bytes -= freed;
            state.compact_order();
            while state.accounted_bytes > config.max_history_bytes && state.evict_oldest() {}
            for subscriber in dropped {
                state.remove(subscriber.key, &subscriber.topics, now);
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
        Ok(Published {
            id: event.id,
            duplicate: false,
        })
    }

    /// [`EventBus::subscribe`] without the future: the subscription is registered (and its
    /// replay taken) before it returns.
    pub fn subscribe_now(
        &self,
        topics: &[String],
        event_types: &[String],
        after: Option<u64>,
    ) -> Result<Subscription, BusError> {
        let config = &self.shared.config;
        let (wanted_topics, wanted_types) = check_subscription(
            topics,
            event_types,
            SubscriptionLimits {
                max_topics: config.max_topics_per_subscription,
                max_event_types: config.max_event_types_per_subscription,
            },
        )?;

        let (sender, subscription) = Subscription::channel(config.subscriber_buffer);
        let mut state = self.shared.lock();
        let now = Instant::now();
        state.forget_idle(now, config.topic_idle);
        let key = state.next_subscriber;
        state.next_subscriber += 1;
        let topic_names: Box<[Arc<str>]> = wanted_topics
            .iter()
            .map(|topic| Arc::clone(&state.topic_mut(topic, now).name))
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
        shared.lock().remove(key, topics, Instant::now());
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
    fn remember(&mut self, dedup_id: &str, id: u64, window: usize) {
        if window == 0 {
            return;
        }
        while self.dedup_order.len() >= window {
            if let Some(oldest) = self.dedup_order.pop_front() {
                self.dedup.remove(&oldest);
            }
        }
        self.dedup.insert(dedup_id.into(), id);
        self.dedup_order.push_back(dedup_id.into());
    }

    fn topic_mut(&mut self, topic: &str, now: Instant) -> &mut TopicState {
        // The entry API needs an owned key; a small allocation is cheaper than a second lookup.
        let forgotten_up_to = self.forgotten_up_to;
        let generation = self.next_generation;
        let mut created = None;
        let state = self
            .topics
            .entry(Arc::from(topic))
            .or_insert_with_key(|name| {
                created = Some(Arc::clone(name));
                TopicState {
                    name: Arc::clone(name),
                    history: VecDeque::new(),
                    // It may have existed before, and been forgotten.
                    highest_evicted: forgotten_up_to,
                    last_event_id: 0,
                    last_active: now,
                    generation,
                    subscribers: HashMap::new(),
                }
            });
        if let Some(name) = created {
            self.next_generation += 1;
            self.accounted_bytes += topic_cost(&name);
            self.idle_queue.push_back((now, name, generation));
        }
        state
    }

    /// Drop `name` with its history, remembering its last id for the gap rule.
    fn forget(&mut self, name: &str) {
        let Some(topic) = self.topics.remove(name) else {
            return;
        };
        self.forgotten_up_to = self.forgotten_up_to.max(topic.last_event_id);
        self.accounted_bytes -= topic_cost(&topic.name);
        self.history_events -= topic.history.len();
        for event in &topic.history {
            self.accounted_bytes -= event_cost(event);
        }
    }

    /// Evict the oldest event of the whole bus. False when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((id, name)) = self.order.pop_front() {
            let Some(topic) = self.topics.get_mut(&name) else {
                continue;
            };
            if topic.history.front().map(|event| event.id) != Some(id) {
                continue; // already evicted by the topic's own limit
            }
            let Some(event) = topic.history.pop_front() else {
                continue;
            };
            topic.highest_evicted = id;
            let now_empty = topic.history.is_empty() && topic.subscribers.is_empty();
            self.history_events -= 1;
            self.accounted_bytes -= event_cost(&event);
            if now_empty {
                self.forget(&name);
            }
            return true;
        }
        false
    }

    /// Drop `order` entries of events evicted by their topic's own limit once they outnumber
    /// the live ones, so a busy topic cannot grow `order` without bound.
    fn compact_order(&mut self) {
        let topics = &self.topics;
        if self.order.len() > 2 * self.history_events + 1024 {
            self.order.retain(|(id, name)| {
                topics
                    .get(name)
                    .and_then(|topic| topic.history.front())
                    .is_some_and(|front| front.id <= *id)
            });
            shrink(&mut self.order);
        }
        // Likewise the idle queue, whose entries of forgotten topics wait for `topic_idle`.
        if self.idle_queue.len() > 2 * topics.len() + 1024 {
            self.idle_queue.retain(|(_, name, generation)| {
                topics
                    .get(name)
                    .is_some_and(|t| t.generation == *generation)
            });
            shrink(&mut self.idle_queue);
        }
    }

    /// Forget topics idle for `idle`: a few per call, so no call holds the lock for long.
    fn forget_idle(&mut self, now: Instant, idle: Duration) {
        for _ in 0..64 {
            let Some((queued, _, _)) = self.idle_queue.front() else {
                return;
            };
            if now.saturating_duration_since(*queued) < idle {
                return;
            }
            let Some((_, name, generation)) = self.idle_queue.pop_front() else {
                return;
            };
            let Some(topic) = self.topics.get(&name) else {
                continue;
            };
            if topic.generation != generation {
                continue;
            }
            if topic.subscribers.is_empty()
                && now.saturating_duration_since(topic.last_active) >= idle
            {
                self.forget(&name);
            } else {
                self.idle_queue.push_back((now, name, generation));
            }
        }
    }

    /// Remove subscriber `key` from `topics`; idempotent. Dropping the last `Arc` of it drops
    /// its sender, which closes the subscription once its queue is drained. A topic left with
    /// neither subscribers nor history is forgotten.
    fn remove(&mut self, key: u64, topics: &[Arc<str>], now: Instant) {
        let mut was_registered = false;
        for name in topics {
            let Some(topic) = self.topics.get_mut(name) else {
                continue;
            };
            if topic.subscribers.remove(&key).is_some() {
                was_registered = true;
                topic.last_active = now;
            }
            if topic.subscribers.is_empty() && topic.history.is_empty() {
                self.forget(name);
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

/// Give back a queue's memory once it is mostly empty.
fn shrink<T>(queue: &mut VecDeque<T>) {
    if queue.capacity() > 4 * queue.len() + 1024 {
        queue.shrink_to(2 * queue.len());
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
                bus.publish_now(topic, "checkpoint", &json!({ "i": i }), None)
                    .expect("publish")
                    .id
            })
            .collect()
    }

    #[test]
    fn delivers_events_in_publish_order_with_their_fields() {
        let bus = InMemoryBus::default();
        let mut sub = bus
            .subscribe_now(&topics(&["orders/ORD-123"]), &[], None)
            .expect("subscribe");
        let first = bus
            .publish_now(
                "orders/ORD-123",
                "checkpoint",
                &json!({"b": 1, "a": [true, null]}),
                None,
            )
            .expect("publish");
        let ids = publish_n(&bus, "orders/ORD-123", 3);
        let got = sub.try_recv().expect("first event");
        assert_eq!(got.id, first.id);
        assert_eq!(&*got.topic, "orders/ORD-123");
        assert_eq!(&*got.event_type, "checkpoint");
        assert_eq!(&*got.data, r#"{"b":1,"a":[true,null]}"#);
        assert!(got.timestamp_ms > 1_600_000_000_000);
        assert_eq!(drain(&mut sub), ids);
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn a_repeated_dedup_id_stores_the_event_once() {
        let bus = small_bus(10, 16);
        let mut sub = bus
            .subscribe_now(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let first = bus
            .publish_now("t", "checkpoint", &json!(1), Some("cp-1"))
            .expect("publish");
        let again = bus
            .publish_now("t", "checkpoint", &json!(1), Some("cp-1"))
            .expect("publish");
        let other = bus
            .publish_now("t", "checkpoint", &json!(2), Some("cp-2"))
            .expect("publish");
        assert!(!first.duplicate && !other.duplicate);
        assert_eq!(
            again,
            Published {
                id: first.id,
                duplicate: true
            }
        );
        assert_eq!(drain(&mut sub), [first.id, other.id]);
    }

    #[test]
    fn the_dedup_window_is_bounded() {
        let bus = InMemoryBus::with_first_id(
            InMemoryBusConfig {
                dedup_window: 2,
                ..InMemoryBusConfig::default()
            },
            1,
        );
        for key in ["a", "b", "c"] {
            bus.publish_now("t", "e", &json!(null), Some(key))
                .expect("publish");
        }
        let forgotten = bus
            .publish_now("t", "e", &json!(null), Some("a"))
            .expect("publish");
        assert!(!forgotten.duplicate, "only the last 2 keys are remembered");
        let remembered = bus
            .publish_now("t", "e", &json!(null), Some("c"))
            .expect("publish");
        assert!(remembered.duplicate);
        assert!(matches!(
            bus.publish_now("t", "e", &json!(null), Some("")),
            Err(BusError::InvalidDedupId { .. })
        ));
    }

    fn forgetful_bus(idle: Duration, max_bytes: usize) -> InMemoryBus {
        InMemoryBus::with_first_id(
            InMemoryBusConfig {
                topic_idle: idle,
                max_history_bytes: max_bytes,
                ..InMemoryBusConfig::default()
            },
            1,
        )
    }

    #[test]
    fn idle_topics_without_subscribers_are_forgotten_with_their_history() {
        let bus = forgetful_bus(Duration::ZERO, usize::MAX);
        let old = publish_n(&bus, "orders/1", 2);
        let followed = bus
            .subscribe_now(&topics(&["orders/2"]), &[], None)
            .expect("subscribe");
        publish_n(&bus, "orders/2", 1);
        // Any later call sweeps: orders/1 is idle and unfollowed.
        publish_n(&bus, "orders/3", 1);
        assert_eq!(bus.topic_subscriber_count("orders/2"), 1);
        let mut again = bus
            .subscribe_now(&topics(&["orders/1"]), &[], Some(old[0]))
            .expect("subscribe");
        assert!(again.gap(), "its history was forgotten");
        assert!(drain(&mut again).is_empty());
        drop(followed);
    }

    #[test]
    fn active_topics_are_kept() {
        let bus = forgetful_bus(Duration::from_secs(3600), usize::MAX);
        let ids = publish_n(&bus, "orders/1", 3);
        publish_n(&bus, "orders/2", 100);
        let mut again = bus
            .subscribe_now(&topics(&["orders/1"]), &[], Some(ids[0]))
            .expect("subscribe");
        assert!(!again.gap());
        assert_eq!(drain(&mut again), ids[1..]);
    }

    #[test]
    fn total_history_is_bounded_oldest_first() {
        let bus = forgetful_bus(Duration::from_secs(3600), 64 << 10);
        let first = publish_n(&bus, "a", 1)[0];
        for i in 0..5000 {
            publish_n(&bus, &format!("t/{i}"), 1);
        }
        assert!(
            bus.accounted_bytes() <= 64 << 10,
            "{}",
            bus.accounted_bytes()
        );
        assert!(bus.history_len() > 0 && bus.history_len() < 5000);
        let newest = publish_n(&bus, "b", 1)[0];
        let mut lost = bus
            .subscribe_now(&topics(&["a"]), &[], Some(first - 1))
            .expect("subscribe");
        assert!(lost.gap(), "the oldest event went first");
        assert!(drain(&mut lost).is_empty());
        let mut kept = bus
            .subscribe_now(&topics(&["b"]), &[], Some(newest - 1))
            .expect("subscribe");
        assert!(!kept.gap());
        assert_eq!(drain(&mut kept), [newest]);
    }

    #[test]
    fn a_forgotten_topic_reports_no_gap_for_ids_after_everything_forgotten() {
        let bus = forgetful_bus(Duration::ZERO, usize::MAX);
        publish_n(&bus, "old", 1);
        let last = publish_n(&bus, "other", 1)[0]; // sweeps "old"
        let sub = bus
            .subscribe_now(&topics(&["old"]), &[], Some(last))
            .expect("subscribe");
        assert!(!sub.gap(), "nothing after {last} was forgotten");
    }

    #[test]
    fn a_busy_topic_does_not_grow_the_eviction_queue() {
        let bus = small_bus(2, 16);
        publish_n(&bus, "hot", 10_000);
        let state = bus.shared.lock();
        assert_eq!(state.history_events, 2);
        assert!(
            state.order.len() <= 2 * 2 + 1024 + 1,
            "{}",
            state.order.len()
        );
    }

    #[test]
    fn ids_start_at_the_creation_time_in_microseconds() {
        let before = u64::try_from(since_epoch().as_micros()).expect("fits");
        let bus = InMemoryBus::default();
        let after = u64::try_from(since_epoch().as_micros()).expect("fits");
        let id = bus
            .publish_now("t", "e", &json!(null), None)
            .expect("publish")
            .id;
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
            .subscribe_now(&topics(&["a"]), &[], None)
            .expect("subscribe");
        let mut b = bus
            .subscribe_now(&topics(&["b"]), &[], None)
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
            .subscribe_now(&topics(&["t"]), &topics(&["created"]), None)
            .expect("subscribe");
        let mut everything = bus
            .subscribe_now(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let created = bus
            .publish_now("t", "created", &json!(1), None)
            .expect("publish")
            .id;
        let updated = bus
            .publish_now("t", "updated", &json!(2), None)
            .expect("publish")
            .id;
        assert_eq!(drain(&mut only_created), [created]);
        assert_eq!(drain(&mut everything), [created, updated]);
    }

    #[test]
    fn replays_exactly_the_events_after_the_given_id() {
        let bus = InMemoryBus::default();
        let mut first = bus
            .subscribe_now(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let seen = publish_n(&bus, "t", 3);
        assert_eq!(drain(&mut first), seen);
        drop(first);
        let missed = publish_n(&bus, "t", 5);

        let mut again = bus
            .subscribe_now(&topics(&["t"]), &[], Some(seen[2]))
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
            .publish_now("t", "checkpoint", &json!(1), None)
            .expect("publish")
            .id;
        bus.publish_now("t", "other", &json!(2), None)
            .expect("publish");
        let mut sub = bus
            .subscribe_now(&topics(&["t"]), &topics(&["checkpoint"]), Some(wanted - 1))
            .expect("subscribe");
        assert_eq!(drain(&mut sub), [wanted]);
    }

    #[test]
    fn reports_a_gap_only_when_events_after_the_id_were_evicted() {
        let bus = small_bus(3, 16);
        let ids = publish_n(&bus, "t", 5); // ids[0] and ids[1] evicted
        let mut covered = bus
            .subscribe_now(&topics(&["t"]), &[], Some(ids[1]))
            .expect("subscribe");
        assert!(!covered.gap());
        assert_eq!(drain(&mut covered), ids[2..]);

        let mut lost = bus
            .subscribe_now(&topics(&["t"]), &[], Some(ids[0]))
            .expect("subscribe");
        assert!(lost.gap());
        assert_eq!(drain(&mut lost), ids[2..]);

        let fresh = bus
            .subscribe_now(&topics(&["t"]), &[], None)
            .expect("subscribe");
        assert!(!fresh.gap());
    }

    #[test]
    fn reports_a_gap_on_any_subscribed_topic() {
        let bus = small_bus(1, 16);
        let start = publish_n(&bus, "quiet", 1)[0];
        publish_n(&bus, "busy", 3);
        let sub = bus
            .subscribe_now(&topics(&["quiet", "busy"]), &[], Some(start))
            .expect("subscribe");
        assert!(sub.gap());
    }

    #[test]
    fn reports_a_gap_for_ids_this_bus_did_not_issue() {
        let bus = InMemoryBus::with_first_id(InMemoryBusConfig::default(), 1000);
        let just_before = bus
            .subscribe_now(&topics(&["t"]), &[], Some(999))
            .expect("subscribe");
        assert!(
            !just_before.gap(),
            "nothing was published before the first id"
        );
        let earlier_run = bus
            .subscribe_now(&topics(&["t"]), &[], Some(500))
            .expect("subscribe");
        assert!(earlier_run.gap());
        let last = publish_n(&bus, "t", 2)[1];
        let current = bus
            .subscribe_now(&topics(&["t"]), &[], Some(last))
            .expect("subscribe");
        assert!(!current.gap());
        let future = bus
            .subscribe_now(&topics(&["t"]), &[], Some(last + 1))
            .expect("subscribe");
        assert!(future.gap());
    }

    #[test]
    fn with_no_history_any_earlier_event_is_a_gap() {
        let bus = small_bus(0, 16);
        let ids = publish_n(&bus, "t", 2);
        let mut sub = bus
            .subscribe_now(&topics(&["t"]), &[], Some(ids[0]))
            .expect("subscribe");
        assert!(sub.gap());
        assert!(drain(&mut sub).is_empty());
    }

    #[test]
    fn closes_a_slow_consumer_without_affecting_a_fast_one() {
        let bus = small_bus(10, 2);
        let mut slow = bus
            .subscribe_now(&topics(&["t", "u"]), &[], None)
            .expect("subscribe");
        let mut fast = bus
            .subscribe_now(&topics(&["t"]), &[], None)
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
            .subscribe_now(&topics(&["t"]), &[], Some(ids[0] - 1))
            .expect("subscribe");
        assert_eq!(drain(&mut sub), ids);
        assert_eq!(sub.closed_reason(), None);
    }

    #[test]
    fn dropping_a_subscription_unsubscribes_from_every_topic() {
        let bus = InMemoryBus::default();
        let sub = bus
            .subscribe_now(&topics(&["a", "b", "a"]), &[], None)
            .expect("subscribe");
        let other = bus
            .subscribe_now(&topics(&["a"]), &[], None)
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
            .subscribe_now(&topics(&["a", "b", "c"]), &[], Some(before))
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
            .subscribe_now(&topics(&["t"]), &[], Some(first - 1))
            .expect("subscribe");
        let published = publisher.join().expect("publisher");
        assert!(!sub.gap());
        assert_eq!(drain(&mut sub), published);
    }

    #[test]
    fn rejects_bad_subscriptions_and_publishes() {
        let bus = InMemoryBus::default();
        assert!(matches!(
            bus.subscribe_now(&[], &[], None),
            Err(BusError::NoTopics)
        ));
        assert!(matches!(
            bus.subscribe_now(&topics(&["a b"]), &[], None),
            Err(BusError::InvalidTopic { .. })
        ));
        assert!(matches!(
            bus.subscribe_now(&topics(&["t"]), &topics(&[""]), None),
            Err(BusError::InvalidEventType { .. })
        ));
        let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
        assert!(matches!(
            bus.subscribe_now(&many, &[], None),
            Err(BusError::TooManyTopics { given: 65, max: 64 })
        ));
        assert!(matches!(
            bus.publish_now("", "e", &json!(1), None),
            Err(BusError::InvalidTopic { .. })
        ));
        assert!(matches!(
            bus.publish_now("t", "a\nb", &json!(1), None),
            Err(BusError::InvalidEventType { .. })
        ));
        assert_eq!(bus.subscriber_count(), 0);
        assert_eq!(bus.topic_count(), 0);
    }

    #[test]
    fn dropping_the_bus_closes_subscriptions_with_a_reason() {
        let bus = InMemoryBus::default();
        let mut sub = bus
            .subscribe_now(&topics(&["t"]), &[], None)
            .expect("subscribe");
        drop(bus);
        assert_eq!(sub.closed_reason(), Some("event bus shut down"));
        assert_eq!(sub.try_recv(), None);
    }

    #[tokio::test]
    async fn recv_wakes_when_an_event_is_published() {
        let bus = Arc::new(InMemoryBus::default());
        let mut sub = bus
            .subscribe_now(&topics(&["t"]), &[], None)
            .expect("subscribe");
        let publisher = {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                bus.publish_now("t", "e", &json!("hi"), None)
                    .expect("publish")
                    .id
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
            .await
            .expect("subscribe");
        bus.publish("t", "e", &json!(1), None)
            .await
            .expect("publish");
        bus.publish("t", "e", &json!(2), None)
            .await
            .expect("publish");
        let data: Vec<String> = sub.take(2).map(|e| e.data.to_string()).collect().await;
        assert_eq!(data, ["1", "2"]);
    }
}
