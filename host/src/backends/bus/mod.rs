//! The event bus behind the `events` capability (WIT `sluice:ingress/events`).
//!
//! [`EventBus`] is the backend trait, async and backend-neutral; [`InMemoryBus`] is the
//! in-process implementation of the default deployment. A subscriber gets a [`Subscription`]:
//! replayed history, then a bounded queue of live [`BusEvent`]s fed by the bus without ever
//! blocking the publisher. A subscriber that lets its queue fill up is a *slow consumer*: the
//! bus drops it and [`Subscription::closed_reason`] says why.
//!
//! ```
//! # use sluice::backends::bus::{EventBus, InMemoryBus};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let bus = InMemoryBus::default();
//! let mut sub = bus.subscribe(&["orders/ORD-123".into()], &[], None).await?;
//! let data = serde_json::json!({"status": "paid"});
//! bus.publish("orders/ORD-123", "checkpoint", &data, None).await?;
//! let event = sub.try_recv().expect("delivered");
//! assert_eq!(&*event.data, r#"{"status":"paid"}"#);
//! # Ok::<(), sluice::backends::bus::BusError>(())
//! # }).unwrap();
//! ```
//!
//! Topic and event-type rules live in [`validate_topic`] and [`validate_event_type`].

pub mod jetstream;
pub mod memory;
mod subscription;

use std::sync::Arc;

use futures::future::BoxFuture;

pub use jetstream::{JetStreamBus, JetStreamConfig};
pub use memory::{InMemoryBus, InMemoryBusConfig};
pub use subscription::{Delivery, SubscriberSender, Subscription};

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

/// What [`EventBus::publish`] returns once the bus has stored the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The event's bus id. For a duplicate, the id the first publish got.
    pub id: u64,
    /// True when an event with the same `dedup_id` was already stored: nothing new was
    /// published.
    pub duplicate: bool,
}

/// An event bus backend: the in-process [`InMemoryBus`], or a networked one. One trait object
/// (`Arc<dyn EventBus>`) serves every ingress; each call may be made from async code and never
/// blocks a thread.
pub trait EventBus: Send + Sync + 'static {
    /// Publish one event on `topic`; resolves once the bus has stored it (a networked bus:
    /// once its server acknowledged it). Never waits on a subscriber.
    ///
    /// With `dedup_id`, publishing again with the same key stores nothing new and returns the
    /// first event's id with [`Published::duplicate`] set, as long as the first publish is
    /// still within the backend's de-duplication window. That makes a retried publish (an
    /// outbox replaying checkpoints after a crash) idempotent.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        event_type: &'a str,
        data: &'a serde_json::Value,
        dedup_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Published, BusError>>;

    /// Every event published after this call on one of `topics` whose type is in
    /// `event_types` (empty = all types). With `after`, first the events the bus still holds
    /// with id > after (in id order), then live ones, with none missing or repeated at the
    /// seam; [`Subscription::gap`] tells whether some after `after` may have been lost.
    fn subscribe<'a>(
        &'a self,
        topics: &'a [String],
        event_types: &'a [String],
        after: Option<u64>,
    ) -> BoxFuture<'a, Result<Subscription, BusError>>;

    /// Live subscriptions on this node, for metrics.
    fn subscriber_count(&self) -> usize;

    /// Topics this node holds state for (history, subscribers or a consumer), for metrics.
    /// Cheap: read on every scrape.
    fn topic_count(&self) -> usize;

    /// Whether the bus can take publishes and subscriptions right now, checked cheaply (no
    /// round trip): for `GET /readyz`. `Err` says why not.
    fn ready(&self) -> Result<(), BusError>;
}

/// Why the bus refused or failed a call. [`BusError::is_invalid_input`] errors are the
/// caller's fault (the `events` capability reports them as `invalid`);
/// [`BusError::is_unavailable`] ones are an outage of the bus (reported as `unavailable`, and
/// worth retrying later).
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
    #[error("a de-duplication id must be 1 to {max} bytes without control characters")]
    InvalidDedupId { max: usize },
    #[error("event data could not be encoded as JSON: {0}")]
    EncodeData(#[from] serde_json::Error),
    #[error("event data is {size} bytes, more than the bus accepts ({max})")]
    TooLarge { size: usize, max: usize },
    /// The bus's configuration is unusable (reported at start).
    #[error("invalid bus configuration: {0}")]
    Config(String),
    /// The bus cannot be reached or did not answer (a networked bus's server is down). The
    /// message is safe to show.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

impl BusError {
    /// True when the request itself was malformed (bad topic, event type, counts or size).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, BusError::EncodeData(_) | BusError::Unavailable(_))
    }

    /// True when the bus is down or unreachable: nothing about the request was wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BusError::Unavailable(_))
    }
}

/// How many topics and event types one subscription may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionLimits {
    pub max_topics: usize,
    pub max_event_types: usize,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        SubscriptionLimits {
            max_topics: 64,
            max_event_types: 64,
        }
    }
}

/// Check a subscription request the same way on every backend: at least one topic, within
/// `limits`, each topic and event type valid. Returns them without repeats, in order.
pub fn check_subscription<'a>(
    topics: &'a [String],
    event_types: &[String],
    limits: SubscriptionLimits,
) -> Result<(Vec<&'a str>, Vec<Box<str>>), BusError> {
    if topics.is_empty() {
        return Err(BusError::NoTopics);
    }
    if topics.len() > limits.max_topics {
        return Err(BusError::TooManyTopics {
            given: topics.len(),
            max: limits.max_topics,
        });
    }
    if event_types.len() > limits.max_event_types {
        return Err(BusError::TooManyEventTypes {
            given: event_types.len(),
            max: limits.max_event_types,
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
    Ok((wanted_topics, wanted_types))
}

/// Longest `dedup_id` accepted, in bytes.
pub const MAX_DEDUP_ID_LEN: usize = 256;

/// Check a `dedup_id`: 1 to [`MAX_DEDUP_ID_LEN`] bytes, no control characters (it travels as
/// a header value on networked buses).
pub fn validate_dedup_id(dedup_id: &str) -> Result<(), BusError> {
    if dedup_id.is_empty()
        || dedup_id.len() > MAX_DEDUP_ID_LEN
        || dedup_id.chars().any(char::is_control)
    {
        return Err(BusError::InvalidDedupId {
            max: MAX_DEDUP_ID_LEN,
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bus_can_be_shared_as_a_trait_object() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Arc<dyn EventBus>>();
    }

    #[test]
    fn unavailable_is_not_invalid_input() {
        let down = BusError::Unavailable("no route".into());
        assert!(down.is_unavailable());
        assert!(!down.is_invalid_input());
        assert!(BusError::NoTopics.is_invalid_input());
        assert!(!BusError::NoTopics.is_unavailable());
    }

    #[test]
    fn dedup_ids_are_short_printable_text() {
        assert!(validate_dedup_id("6f1c2a0e-checkpoint").is_ok());
        for bad in ["", "a\nb", &"x".repeat(MAX_DEDUP_ID_LEN + 1)] {
            assert!(validate_dedup_id(bad).is_err(), "{bad:?}");
        }
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
}
