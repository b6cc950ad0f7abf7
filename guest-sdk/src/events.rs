//! The event bus (WIT interface `events`): subscribe with [`events`] or [`Subscribe`], then
//! turn the [`Events`] source into a [`Stream`] with [`Events::map`].
//!
//! A topic `actors/<type>/<id>` needs `actors/<type>:read` in the ingress `acl`; any other
//! topic `<topic>` needs `<topic>:read` (or a wildcard such as `feeds/*:read`). Actors
//! publish a `checkpoint` event on their topic after every state change.

use std::fmt;

use serde::Serialize;

use crate::error::Error;
use crate::json::Json;
use crate::record::json_text;
use crate::stream::Stream;
use crate::sys;
use crate::time::Timestamp;

/// One event from the bus.
///
/// It serializes as `{"topic","eventType","id","timestamp","data"}`, with `timestamp` as an
/// RFC 3339 UTC string with milliseconds, so `Record::event("updated").data(e)` sends the
/// whole event.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Event, Timestamp, json};
///
/// let e = Event {
///     topic: "actors/order/ORD-123".into(),
///     event_type: "checkpoint".into(),
///     id: 42,
///     timestamp: Timestamp::from_millis(1_768_159_800_000),
///     data: json!({ "status": "shipped" }).into(),
/// };
/// assert_eq!(
///     json!(e).to_string(),
///     r#"{"topic":"actors/order/ORD-123","eventType":"checkpoint","id":42,"timestamp":"2026-01-11T19:30:00.000Z","data":{"status":"shipped"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The topic it was published on, e.g. `actors/sku/123`.
    pub topic: String,
    /// Its type, e.g. `checkpoint`.
    pub event_type: String,
    /// Bus-wide, strictly increasing id; its decimal form is a good SSE `id`.
    pub id: u64,
    /// When the bus accepted it.
    pub timestamp: Timestamp,
    /// Its payload, parsed when it is first read (see [`Json`]).
    pub data: Json,
}

/// What kind of [`EventsError`] happened.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{EventsError, EventsErrorKind};
///
/// fn denied(err: &EventsError) -> bool {
///     err.kind() == EventsErrorKind::Forbidden
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventsErrorKind {
    /// The ingress `acl` does not grant the topic.
    Forbidden,
    /// A topic or event type that is empty or malformed.
    Invalid,
    /// The host closed the subscription because the connection fell too far behind, or lost
    /// its connection to the bus.
    Closed,
    /// The event bus is down or unreachable; a later attempt may succeed.
    Unavailable,
}

/// Why a subscription could not be made or read (WIT `events-error`).
///
/// With `?` it converts into an [`Error`]: `Forbidden` → `FORBIDDEN`, `Invalid` →
/// `EVENTS_ERROR`, `Closed` → `STREAM_CLOSED`, `Unavailable` → `UNAVAILABLE` (a
/// `503 Service Unavailable` response before the stream starts), with the host's message.
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, EventsErrorKind, events};
///
/// # fn main() -> Result<(), Error> {
/// match events("orders/ORD-123", "checkpoint") {
///     Ok(_source) => {}
///     Err(err) if err.kind() == EventsErrorKind::Forbidden => {
///         return Err(Error::forbidden("not allowed to follow this order"));
///     }
///     Err(err) => return Err(err.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsError {
    kind: EventsErrorKind,
    message: String,
}

impl EventsError {
    pub(crate) fn new(kind: EventsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::events("", "checkpoint").unwrap_err();
    /// assert_eq!(err.kind(), sluice_sdk::EventsErrorKind::Invalid);
    /// ```
    pub fn kind(&self) -> EventsErrorKind {
        self.kind
    }

    /// The host's message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::events("secret/topic", "checkpoint").unwrap_err();
    /// sluice_sdk::warn!("{}", err.message());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EventsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EventsError {}

impl From<EventsError> for Error {
    fn from(err: EventsError) -> Self {
        let code = match err.kind {
            EventsErrorKind::Forbidden => "FORBIDDEN",
            EventsErrorKind::Invalid => "EVENTS_ERROR",
            EventsErrorKind::Closed => "STREAM_CLOSED",
            EventsErrorKind::Unavailable => "UNAVAILABLE",
        };
        Error::new(code, err.message)
    }
}

/// Subscribe to events of `event_type` on `topic`: the platform's
/// `events(topic, eventType)`.
///
/// # Errors
///
/// [`EventsError`] when the `acl` does not grant the topic or it is malformed.
///
/// # Examples
///
/// The document's `from events($'actors/order/{orderId}', 'checkpoint') select e => …`:
///
/// ```no_run
/// use sluice_sdk::{Error, Record, Request, Stream, events};
///
/// fn handle(req: Request) -> Result<Stream, Error> {
///     let order_id: String = req.param("orderId")?;
///     Ok(events(format!("actors/order/{order_id}"), "checkpoint")?
///         .map(|e| Ok(Record::event("updated").data(e))))
/// }
/// ```
pub fn events(
    topic: impl Into<String>,
    event_type: impl Into<String>,
) -> Result<Events, EventsError> {
    Subscribe::new().topic(topic).event_type(event_type).open()
}

/// Like [`events`], but first replaying the events the bus still holds after bus event id
/// `after` (typically [`Request::last_bus_event_id`](crate::Request::last_bus_event_id)).
/// `None` subscribes from now. Check [`Events::gap`] to learn whether some were lost.
///
/// # Errors
///
/// As for [`events`].
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, Record, Request, Stream, events_after};
///
/// fn handle(req: Request) -> Result<Stream, Error> {
///     let source = events_after("orders/ORD-123", "checkpoint", req.last_bus_event_id())?;
///     Ok(source.map(|e| Ok(Record::event("updated").id(e.id).data(e))))
/// }
/// ```
pub fn events_after(
    topic: impl Into<String>,
    event_type: impl Into<String>,
    after: Option<u64>,
) -> Result<Events, EventsError> {
    Subscribe::new()
        .topic(topic)
        .event_type(event_type)
        .after(after)
        .open()
}

/// A subscription request: several topics and event types in one subscription, optionally
/// replaying from a bus event id. [`open`](Subscribe::open) makes it.
///
/// Default is no topics, every event type, no replay.
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, Record, Subscribe};
///
/// # fn main() -> Result<(), Error> {
/// let source = Subscribe::new()
///     .topics(["actors/order/ORD-123", "actors/payment/PAY-9"])
///     .event_types(["checkpoint", "deleted"])
///     .open()?;
/// let stream = source.map(|e| Ok(Record::event(e.event_type.clone()).data(e)));
/// # let _ = stream;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscribe {
    topics: Vec<String>,
    event_types: Vec<String>,
    after: Option<u64>,
}

impl Subscribe {
    /// An empty subscription request.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sluice_sdk::Subscribe::new().topic("feeds/news");
    /// # let _ = request;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one topic.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sluice_sdk::Subscribe::new().topic("feeds/news").topic("feeds/sport");
    /// # let _ = request;
    /// ```
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Add several topics.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sluice_sdk::Subscribe::new().topics(["feeds/news", "feeds/sport"]);
    /// # let _ = request;
    /// ```
    pub fn topics(mut self, topics: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Add one event type. With none, every type is delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sluice_sdk::Subscribe::new().topic("actors/sku/1").event_type("checkpoint");
    /// # let _ = request;
    /// ```
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// Add several event types.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sluice_sdk::Subscribe::new().topic("feeds/news").event_types(["message", "retracted"]);
    /// # let _ = request;
    /// ```
    pub fn event_types(mut self, event_types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.event_types
            .extend(event_types.into_iter().map(Into::into));
        self
    }

    /// Replay what the bus still holds after bus event id `after` first. `None` (the
    /// default) subscribes from now.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sluice_sdk::Subscribe::new().topic("feeds/news").after(Some(41));
    /// # let _ = request;
    /// ```
    pub fn after(mut self, after: Option<u64>) -> Self {
        self.after = after;
        self
    }

    /// Make the subscription. Events published from now on (or after `after`) are kept for
    /// it until the stream reads them.
    ///
    /// # Errors
    ///
    /// [`EventsError`] when the `acl` does not grant a topic or one is malformed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// let source = sluice_sdk::Subscribe::new().topic("feeds/news").open()?;
    /// # let _ = source;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(self) -> Result<Events, EventsError> {
        let subscription = sys::subscribe(&self.topics, &self.event_types, self.after)?;
        Ok(Events { subscription })
    }
}

/// An open subscription: a source of [`Event`]s, made into a [`Stream`] with
/// [`map`](Events::map), [`filter_map`](Events::filter_map) or
/// [`into_stream`](Events::into_stream). It ends only when the connection does.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), sluice_sdk::Error> {
/// use sluice_sdk::{Record, events};
///
/// let updates = events("actors/order/ORD-123", "checkpoint")?
///     .map(|e| Ok(Record::event("updated").data(e)));
/// # let _ = updates;
/// # Ok(())
/// # }
/// ```
pub struct Events {
    subscription: sys::Subscription,
}

impl Events {
    /// True when the subscription asked to replay (`after`) and the bus no longer held all
    /// events after that id: some were lost, so send fresh state first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Error, Record, Request, Stream, events_after, json};
    ///
    /// fn handle(req: Request) -> Result<Stream, Error> {
    ///     let source = events_after("feeds/news", "message", req.last_bus_event_id())?;
    ///     let resync = source.gap().then(|| Record::event("resync").data(json!({})));
    ///     Ok(Stream::from_iter(resync)
    ///         .chain(source.map(|e| Ok(Record::event("message").id(e.id).data(e.data)))))
    /// }
    /// ```
    pub fn gap(&self) -> bool {
        self.subscription.gap()
    }

    /// A stream of what `select` returns for each event, in bus order: the platform's
    /// `select e => …`. An `Err` from `select` is yielded as an `{"error":{…}}` record (an
    /// SSE `error` event) and the stream goes on, so `select` may call [`query`](crate::query)
    /// or [`message_actor`](crate::message_actor) with `?`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Error, Message, Record, events, message_actor};
    ///
    /// # fn main() -> Result<(), Error> {
    /// let stream = events("actors/sku/42", "checkpoint")?.map(|_checkpoint| {
    ///     let stock = message_actor("sku", "42", [Message::new("calculateAvailableStock")])?;
    ///     Ok(Record::event("stockUpdated").data(stock))
    /// });
    /// # let _ = stream;
    /// # Ok(())
    /// # }
    /// ```
    pub fn map<T, F>(self, mut select: F) -> Stream
    where
        T: Serialize,
        F: FnMut(Event) -> Result<T, Error> + 'static,
    {
        Stream::from_subscription(
            self.subscription,
            Box::new(move |event| Some(yielded(select(event)))),
        )
    }

    /// Like [`map`](Events::map), but `Ok(None)` skips the event.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Record, events};
    ///
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// let shipped = events("actors/order/ORD-123", "checkpoint")?.filter_map(|e| {
    ///     let is_shipped = e.data["status"] == "shipped";
    ///     Ok(is_shipped.then(|| Record::event("shipped").data(e)))
    /// });
    /// # let _ = shipped;
    /// # Ok(())
    /// # }
    /// ```
    pub fn filter_map<T, F>(self, mut select: F) -> Stream
    where
        T: Serialize,
        F: FnMut(Event) -> Result<Option<T>, Error> + 'static,
    {
        Stream::from_subscription(
            self.subscription,
            Box::new(move |event| match select(event) {
                Ok(Some(value)) => Some(json_text(value)),
                Ok(None) => None,
                Err(err) => Some(json_text(err.to_json())),
            }),
        )
    }

    /// A stream of the events themselves, each yielded as the [`Event`] object (SSE:
    /// `data: {"topic":…,"eventType":…,…}`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// let raw = sluice_sdk::events("feeds/news", "message")?.into_stream();
    /// # let _ = raw;
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_stream(self) -> Stream {
        self.map(Ok)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl From<Events> for Stream {
    fn from(events: Events) -> Self {
        events.into_stream()
    }
}

/// The JSON a `select` result yields: the value, or the error record.
fn yielded<T: Serialize>(result: Result<T, Error>) -> String {
    match result {
        Ok(value) => json_text(value),
        Err(err) => json_text(err.to_json()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_bus_is_a_typed_error_that_becomes_unavailable() {
        let err = events("down/orders", "checkpoint").expect_err("bus down");
        assert_eq!(err.kind(), EventsErrorKind::Unavailable);
        let err = Error::from(err);
        assert_eq!(err.code(), "UNAVAILABLE");
        assert!(err.message().contains("unavailable"), "{}", err.message());
    }

    #[test]
    fn each_kind_has_its_error_code() {
        for (kind, code) in [
            (EventsErrorKind::Forbidden, "FORBIDDEN"),
            (EventsErrorKind::Invalid, "EVENTS_ERROR"),
            (EventsErrorKind::Closed, "STREAM_CLOSED"),
            (EventsErrorKind::Unavailable, "UNAVAILABLE"),
        ] {
            assert_eq!(Error::from(EventsError::new(kind, "m")).code(), code);
        }
    }
}
