//! An in-memory host for native unit tests, one per test thread.
//!
//! Events are published to topics and queued, in publication order, for every matching
//! subscription; `wait` returns the earliest ones for the subscriptions it is given and
//! records which subscriptions each call covered. A wait (or an idle host, after a stream
//! answered `wait`) that could never end panics instead of hanging the test.

use std::cell::RefCell;

use serde_json::Value;

use crate::actors::{ActorError, Message};
use crate::events::{Event, EventsError, EventsErrorKind};
use crate::host::Level;
use crate::json::Json;
use crate::query::{QueryError, QueryRequest};
use crate::time::Timestamp;

/// The fake bus stamps every event with this time: 2026-01-11T19:30:00.000Z.
pub(crate) const NOW: u64 = 1_768_159_800_000;

#[derive(Default)]
struct Host {
    subscriptions: Vec<(Vec<String>, Vec<String>)>,
    /// `(subscription id, event)` in arrival order.
    arrivals: Vec<(u32, Event)>,
    /// Published only once a `wait` finds nothing else.
    later: Vec<(String, String, Value)>,
    next_event_id: u64,
    closed: Option<String>,
    wait_calls: Vec<Vec<u32>>,
    /// The subscriptions named by the last `wake_on`.
    wake_on: Vec<u32>,
    wake_on_calls: usize,
    query_response: Option<Result<Vec<String>, QueryError>>,
    queries: Vec<QueryRequest>,
    actor_response: Option<Result<String, ActorError>>,
    actor_calls: Vec<(String, String, Vec<Message>, bool)>,
    logs: Vec<(Level, String)>,
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::default();
}

fn with<R>(f: impl FnOnce(&mut Host) -> R) -> R {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

/// A fake subscription: its index in the fake host.
pub(crate) struct Subscription {
    id: u32,
    gap: bool,
}

impl Subscription {
    pub(crate) fn gap(&self) -> bool {
        self.gap
    }

    pub(crate) fn key(&self) -> u32 {
        self.id
    }
}

pub(crate) fn subscribe(
    topics: &[String],
    event_types: &[String],
    after: Option<u64>,
) -> Result<Subscription, EventsError> {
    if topics.is_empty() || topics.iter().chain(event_types).any(String::is_empty) {
        return Err(EventsError::new(
            EventsErrorKind::Invalid,
            "empty topic or event type",
        ));
    }
    if topics.iter().any(|topic| topic.starts_with("down/")) {
        return Err(EventsError::new(
            EventsErrorKind::Unavailable,
            "the event bus is unavailable: connection refused",
        ));
    }
    if let Some(topic) = topics.iter().find(|topic| topic.starts_with("secret/")) {
        return Err(EventsError::new(
            EventsErrorKind::Forbidden,
            format!("'{topic}:read' is not granted"),
        ));
    }
    with(|host| {
        host.subscriptions
            .push((topics.to_vec(), event_types.to_vec()));
        Ok(Subscription {
            id: (host.subscriptions.len() - 1) as u32,
            gap: after.is_some(),
        })
    })
}

/// Publish an event now: every matching subscription gets it.
pub(crate) fn publish(topic: &str, event_type: &str, data: Value) {
    with(|host| publish_in(host, topic, event_type, data));
}

/// Publish an event once a `wait` finds nothing else to return.
pub(crate) fn publish_later(topic: &str, event_type: &str, data: Value) {
    with(|host| host.later.push((topic.into(), event_type.into(), data)));
}

fn publish_in(host: &mut Host, topic: &str, event_type: &str, data: Value) {
    host.next_event_id += 1;
    let event = Event {
        topic: topic.into(),
        event_type: event_type.into(),
        id: host.next_event_id,
        timestamp: Timestamp::from_millis(NOW),
        // As the host sends it: text, kept unparsed until read.
        data: Json::from_text(data.to_string()).unwrap_or_else(|_| unreachable!("a Value is JSON")),
    };
    for (id, (topics, types)) in host.subscriptions.iter().enumerate() {
        let wanted = topics.iter().any(|t| t == topic)
            && (types.is_empty() || types.iter().any(|t| t == event_type));
        if wanted {
            host.arrivals.push((id as u32, event.clone()));
        }
    }
}

/// Name the subscriptions the host waits on between pulls.
pub(crate) fn wake_on(subscriptions: &[&Subscription]) {
    with(|host| {
        host.wake_on = subscriptions.iter().map(|s| s.id).collect();
        host.wake_on_calls += 1;
    });
}

/// How many times `wake_on` was called.
pub(crate) fn wake_on_calls() -> usize {
    with(|host| host.wake_on_calls)
}

/// The host idles until a subscription named with `wake_on` has an event (or a close is
/// due): the `later` events are published if nothing else would wake it.
pub(crate) fn idle() {
    with(|host| {
        if host.closed.is_none() {
            let ids = host.wake_on.clone();
            wait_for_arrival(host, &ids);
        }
    });
}

/// Publish the `later` events unless one of `ids` has an event already; a wait that could
/// never end panics instead.
fn wait_for_arrival(host: &mut Host, ids: &[u32]) {
    let covered = |host: &Host| host.arrivals.iter().any(|(id, _)| ids.contains(id));
    if !covered(host) {
        for (topic, event_type, data) in std::mem::take(&mut host.later) {
            publish_in(host, &topic, &event_type, data);
        }
    }
    assert!(covered(host), "the fake host would wait forever on {ids:?}");
}

/// Make the next `wait` fail with `closed(message)`.
pub(crate) fn close(message: &str) {
    with(|host| host.closed = Some(message.into()));
}

/// The subscription ids each `wait` call covered, in call order.
pub(crate) fn wait_calls() -> Vec<Vec<u32>> {
    with(|host| host.wait_calls.clone())
}

pub(crate) fn wait(
    subscriptions: &[&Subscription],
    max: u32,
    timeout_ms: Option<u32>,
) -> Result<Vec<(u32, Event)>, EventsError> {
    with(|host| {
        let ids: Vec<u32> = subscriptions.iter().map(|s| s.id).collect();
        host.wait_calls.push(ids.clone());
        if let Some(message) = host.closed.take() {
            return Err(EventsError::new(EventsErrorKind::Closed, message));
        }
        if timeout_ms != Some(0) {
            wait_for_arrival(host, &ids);
        }
        let mut out = Vec::new();
        let mut index = 0;
        while index < host.arrivals.len() && out.len() < max as usize {
            if let Some(position) = ids.iter().position(|id| *id == host.arrivals[index].0) {
                let (_, event) = host.arrivals.remove(index);
                out.push((position as u32, event));
            } else {
                index += 1;
            }
        }
        Ok(out)
    })
}

/// Answer every following query with `response` (JSON rows or an error).
pub(crate) fn answer_queries(response: Result<Vec<Value>, QueryError>) {
    let response = response.map(|rows| rows.iter().map(Value::to_string).collect());
    with(|host| host.query_response = Some(response));
}

/// Every query run so far.
pub(crate) fn queries() -> Vec<QueryRequest> {
    with(|host| host.queries.clone())
}

pub(crate) fn run_query(request: &QueryRequest) -> Result<Vec<String>, QueryError> {
    with(|host| {
        host.queries.push(request.clone());
        host.query_response.clone().unwrap_or(Ok(Vec::new()))
    })
}

/// Answer every following actor call with `response` (the JSON text) or an error.
pub(crate) fn answer_actors(response: Result<String, ActorError>) {
    with(|host| host.actor_response = Some(response));
}

/// Every actor call so far: `(type, id, messages, preview)`.
pub(crate) fn actor_calls() -> Vec<(String, String, Vec<Message>, bool)> {
    with(|host| host.actor_calls.clone())
}

pub(crate) fn message_actor(
    actor_type: &str,
    actor_id: &str,
    messages: &[Message],
    preview: bool,
) -> Result<String, ActorError> {
    with(|host| {
        host.actor_calls.push((
            actor_type.into(),
            actor_id.into(),
            messages.to_vec(),
            preview,
        ));
        host.actor_response
            .clone()
            .unwrap_or_else(|| Ok("{}".into()))
    })
}

/// Every line logged so far.
pub(crate) fn logs() -> Vec<(Level, String)> {
    with(|host| host.logs.clone())
}

pub(crate) fn log(level: Level, message: &str) {
    with(|host| host.logs.push((level, message.into())));
}

pub(crate) fn now() -> u64 {
    NOW
}

pub(crate) fn new_id() -> String {
    "00000000-0000-4000-8000-000000000000".into()
}
