//! The event bus behind the `events` capability (WIT `sluice:ingress/events`).
//!
//! [`EventBus`] is the backend trait; [`InMemoryBus`] is the in-process implementation. A
//! subscriber gets a [`Subscription`]: a bounded queue of [`BusEvent`]s, fed by the bus without
//! ever blocking the publisher. A subscriber that lets its queue fill up is a *slow consumer*:
//! the bus drops it and [`Subscription::closed_reason`] says why.
//!
//! ```
//! # use sluice::backends::bus::{EventBus, InMemoryBus};
//! let bus = InMemoryBus::default();
//! let mut sub = bus.subscribe(&["orders/ORD-123".into()], &[], None)?;
//! bus.publish("orders/ORD-123", "checkpoint", &serde_json::json!({"status": "paid"}))?;
//! let event = sub.try_recv().expect("delivered");
//! assert_eq!(&*event.data, r#"{"status":"paid"}"#);
//! # Ok::<(), sluice::backends::bus::BusError>(())
//! ```
//!
//! Topic and event-type rules live in [`validate_topic`] and [`validate_event_type`].

pub mod memory;

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

pub use memory::{InMemoryBus, InMemoryBusConfig};

/// Longest topic accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 256;
/// Longest event type accepted, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 128;

/// One event as the bus delivers it. Shared (`Arc`) between every subscriber that receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    /// Bus-wide, strictly increasing id (see [`InMemoryBus`] for where ids start).
    pub id: u64,
    pub topic: Arc<str>,
    pub event_type: Arc<str>,
    /// Milliseconds since the Unix epoch, when the bus accepted the event.
    pub timestamp_ms: u64,
    /// The event's data as compact JSON text.
    pub data: Arc<str>,
}

/// An event bus backend. Every method is non-blocking and may be called from async code.
pub trait EventBus: Send + Sync + 'static {
    /// Publish one event on `topic` and return it as delivered (with its id and timestamp).
    /// Never blocks and never waits on a subscriber.
    fn publish(
        &self,
        topic: &str,
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Arc<BusEvent>, BusError>;

    /// Every event published after this call on one of `topics` whose type is in
    /// `event_types` (empty = all types).
    /// With `after`, first the events the bus still holds with id > after (in id order), then
    /// live ones.
    fn subscribe(
        &self,
        topics: &[String],
        event_types: &[String],
        after: Option<u64>,
    ) -> Result<Subscription, BusError>;

    /// Live subscriptions, for metrics.
    fn subscriber_count(&self) -> usize;
}

/// Why the bus refused a call. All but [`BusError::EncodeData`] are the caller's fault
/// ([`BusError::is_invalid_input`]), which the `events` capability reports as `invalid`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic { topic: String, reason: &'static str },
    #[error("invalid event type {event_type:?}: {reason}")]
    InvalidEventType {
        event_type: String,
        reason: &'static str,
    },
    #[error("a subscription needs at least one topic")]
    NoTopics,
    #[error("a subscription may name at most {max} topics, got {given}")]
    TooManyTopics { given: usize, max: usize },
    #[error("a subscription may name at most {max} event types, got {given}")]
    TooManyEventTypes { given: usize, max: usize },
    #[error("event data could not be encoded as JSON: {0}")]
    EncodeData(#[from] serde_json::Error),
}

impl BusError {
    /// True when the request itself was malformed (bad topic, event type or counts).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, BusError::EncodeData(_))
    }
}

/// Check a topic: non-empty, at most [`MAX_TOPIC_LEN`] bytes, no control characters or
/// whitespace, no `*` (reserved for ACL wildcards such as `orders/*:read`), and `/`-separated
/// segments that are neither empty (no leading, trailing or doubled `/`) nor `.` or `..` (so a
/// topic never looks like a path that escapes an ACL prefix).
pub fn validate_topic(topic: &str) -> Result<(), BusError> {
    let invalid = |reason| BusError::InvalidTopic {
        topic: preview(topic),
        reason,
    };
    if topic.is_empty() {
        return Err(invalid("is empty"));
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(invalid("is longer than 256 bytes"));
    }
    if topic.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    if topic.chars().any(char::is_whitespace) {
        return Err(invalid("contains whitespace"));
    }
    if topic.contains('*') {
        return Err(invalid("contains '*', which is reserved for ACL wildcards"));
    }
    for segment in topic.split('/') {
        match segment {
            "" => {
                return Err(invalid(
                    "has an empty segment (leading, trailing or double '/')",
                ));
            }
            "." | ".." => return Err(invalid("has a '.' or '..' segment")),
            _ => {}
        }
    }
    Ok(())
}

/// Check an event type: non-empty, at most [`MAX_EVENT_TYPE_LEN`] bytes, no control
/// characters or whitespace.
pub fn validate_event_type(event_type: &str) -> Result<(), BusError> {
    let invalid = |reason| BusError::InvalidEventType {
        event_type: preview(event_type),
        reason,
    };
    if event_type.is_empty() {
        return Err(invalid("is empty"));
    }
    if event_type.len() > MAX_EVENT_TYPE_LEN {
        return Err(invalid("is longer than 128 bytes"));
    }
    if event_type.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    if event_type.chars().any(char::is_whitespace) {
        return Err(invalid("contains whitespace"));
    }
    Ok(())
}

/// Error messages quote the offending text; cut it so a hostile megabyte topic does not end up
/// in the logs whole.
fn preview(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A live subscription: replayed history first, then live events, in bus order.
///
/// Dropping it unsubscribes promptly from every topic. Once the bus closes it (slow consumer,
/// bus shut down), the events already queued are still delivered, then [`Subscription::poll_recv`]
/// returns `None`.
pub struct Subscription {
    replay: VecDeque<Arc<BusEvent>>,
    receiver: mpsc::Receiver<Arc<BusEvent>>,
    closed: Arc<OnceLock<Box<str>>>,
    gap: bool,
    unsubscribe: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("replay", &self.replay.len())
            .field("gap", &self.gap)
            .field("closed", &self.closed_reason())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// For backends: a subscription whose live queue holds at most `capacity` events, and the
    /// sender that feeds it. Add replayed history and the unsubscribe hook with
    /// [`Subscription::with_replay`] and [`Subscription::on_drop`].
    pub fn channel(capacity: usize) -> (SubscriberSender, Subscription) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let closed = Arc::new(OnceLock::new());
        let subscription = Subscription {
            replay: VecDeque::new(),
            receiver,
            closed: Arc::clone(&closed),
            gap: false,
            unsubscribe: None,
        };
        (SubscriberSender { sender, closed }, subscription)
    }

    /// For backends: events delivered before any live one (already in id order), and whether
    /// some events after the requested id were lost. Replay does not count against the live
    /// queue's capacity, so a full history never makes a new subscriber a slow consumer.
    pub fn with_replay(mut self, replay: VecDeque<Arc<BusEvent>>, gap: bool) -> Self {
        self.replay = replay;
        self.gap = gap;
        self
    }

    /// For backends: run `unsubscribe` when this subscription is dropped.
    pub fn on_drop(mut self, unsubscribe: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.unsubscribe = Some(Box::new(unsubscribe));
        self
    }

    /// True when `after` was given and some events after it were already evicted from
    /// history, or predate this bus.
    pub fn gap(&self) -> bool {
        self.gap
    }

    /// The next event, or `None` once the subscription is closed and drained.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<BusEvent>>> {
        if let Some(event) = self.replay.pop_front() {
            return Poll::Ready(Some(event));
        }
        self.receiver.poll_recv(cx)
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<BusEvent>> {
        self.replay
            .pop_front()
            .or_else(|| self.receiver.try_recv().ok())
    }

    /// Wait for the next event; `None` once the subscription is closed and drained.
    pub async fn recv(&mut self) -> Option<Arc<BusEvent>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Why the bus closed this subscription (e.g. `slow consumer: …`), once it has. Events
    /// queued before the close are still delivered.
    pub fn closed_reason(&self) -> Option<&str> {
        self.closed.get().map(|reason| &**reason)
    }
}

impl futures::Stream for Subscription {
    type Item = Arc<BusEvent>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(unsubscribe) = self.unsubscribe.take() {
            unsubscribe();
        }
    }
}

/// The bus's end of one [`Subscription`].
#[derive(Debug)]
pub struct SubscriberSender {
    sender: mpsc::Sender<Arc<BusEvent>>,
    closed: Arc<OnceLock<Box<str>>>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// The subscriber's queue is full: it is a slow consumer.
    Full,
    /// The subscription was dropped.
    Gone,
}

impl SubscriberSender {
    /// Queue `event` without waiting.
    pub fn try_deliver(&self, event: Arc<BusEvent>) -> Delivery {
        match self.sender.try_send(event) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Delivery::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    /// Record why the subscription is being closed. The receiver sees `None` once this sender
    /// is dropped; set the reason first so it is visible by then. The first reason wins.
    pub fn set_closed_reason(&self, reason: &str) {
        let _ = self.closed.set(reason.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_can_live_in_a_wasmtime_resource_table() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Subscription>();
        send_sync::<Arc<dyn EventBus>>();
    }

    #[test]
    fn accepts_ordinary_topics() {
        for topic in ["orders/ORD-123", "actors/sku/PROD-001", "a", "x:y/z.json"] {
            assert!(validate_topic(topic).is_ok(), "{topic}");
        }
    }

    #[test]
    fn rejects_malformed_topics() {
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        for topic in [
            "", "a\nb", "a\u{7f}", "a b", "orders/*", "/orders", "orders/", "a//b", "a/../b",
            "./a", &long,
        ] {
            let err = validate_topic(topic).expect_err(topic);
            assert!(err.is_invalid_input());
        }
    }

    #[test]
    fn rejects_malformed_event_types() {
        for event_type in [
            "",
            "check point",
            "a\0",
            &"e".repeat(MAX_EVENT_TYPE_LEN + 1),
        ] {
            assert!(validate_event_type(event_type).is_err(), "{event_type:?}");
        }
        assert!(validate_event_type("checkpoint").is_ok());
    }

    #[test]
    fn error_messages_cut_long_input() {
        let err = validate_topic(&"é".repeat(1000)).expect_err("too long");
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn closed_subscription_drains_then_reports_the_reason() {
        let (sender, mut sub) = Subscription::channel(4);
        let event = Arc::new(BusEvent {
            id: 1,
            topic: "t".into(),
            event_type: "e".into(),
            timestamp_ms: 0,
            data: "null".into(),
        });
        assert_eq!(sender.try_deliver(Arc::clone(&event)), Delivery::Queued);
        sender.set_closed_reason("slow consumer");
        drop(sender);
        assert_eq!(sub.closed_reason(), Some("slow consumer"));
        assert_eq!(sub.try_recv(), Some(event));
        assert_eq!(sub.try_recv(), None);
    }

    #[test]
    fn replay_comes_before_live_events() {
        let make = |id| {
            Arc::new(BusEvent {
                id,
                topic: "t".into(),
                event_type: "e".into(),
                timestamp_ms: 0,
                data: "null".into(),
            })
        };
        let (sender, sub) = Subscription::channel(4);
        let mut sub = sub.with_replay(VecDeque::from([make(1), make(2)]), true);
        sender.try_deliver(make(3));
        assert!(sub.gap());
        let ids: Vec<u64> = std::iter::from_fn(|| sub.try_recv())
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [1, 2, 3]);
    }
}
