//! The real host imports of world `ingress`, converted to and from SDK types.

use serde_json::Value;

use crate::actors::{ActorError, ActorErrorKind, Message};
use crate::bindings::sluice::ingress::{actors, events, host, query};
use crate::events::{Event, EventsError, EventsErrorKind};
use crate::host::Level;
use crate::json::Json;
use crate::query::{QueryError, QueryErrorKind, QueryRequest};
use crate::time::Timestamp;

/// An open bus subscription (WIT resource `events.subscription`).
pub(crate) struct Subscription(events::Subscription);

impl Subscription {
    pub(crate) fn gap(&self) -> bool {
        self.0.gap()
    }

    /// Tells this subscription apart from the others of the instance while it lives.
    pub(crate) fn key(&self) -> u32 {
        self.0.handle()
    }
}

pub(crate) fn subscribe(
    topics: &[String],
    event_types: &[String],
    after: Option<u64>,
) -> Result<Subscription, EventsError> {
    events::subscribe(topics, event_types, after)
        .map(Subscription)
        .map_err(events_error)
}

pub(crate) fn wait(
    subscriptions: &[&Subscription],
    max: u32,
    timeout_ms: Option<u32>,
) -> Result<Vec<(u32, Event)>, EventsError> {
    let borrowed: Vec<&events::Subscription> = subscriptions.iter().map(|s| &s.0).collect();
    let arrived = events::wait(&borrowed, max, timeout_ms).map_err(events_error)?;
    Ok(arrived
        .into_iter()
        .map(|(index, event)| {
            let event = Event {
                topic: event.topic,
                event_type: event.event_type,
                id: event.id,
                timestamp: Timestamp::from_millis(event.timestamp),
                // Data that is not JSON (published by another system) arrives as a string.
                data: Json::from_text(event.data).unwrap_or_else(|text| Value::String(text).into()),
            };
            (index, event)
        })
        .collect())
}

pub(crate) fn wake_on(subscriptions: &[&Subscription]) {
    let borrowed: Vec<&events::Subscription> = subscriptions.iter().map(|s| &s.0).collect();
    events::wake_on(&borrowed);
}

fn events_error(err: events::EventsError) -> EventsError {
    match err {
        events::EventsError::Forbidden(message) => {
            EventsError::new(EventsErrorKind::Forbidden, message)
        }
        events::EventsError::Invalid(message) => {
            EventsError::new(EventsErrorKind::Invalid, message)
        }
        events::EventsError::Closed(message) => EventsError::new(EventsErrorKind::Closed, message),
        events::EventsError::Unavailable(message) => {
            EventsError::new(EventsErrorKind::Unavailable, message)
        }
    }
}

pub(crate) fn run_query(request: &QueryRequest) -> Result<Vec<String>, QueryError> {
    let request = query::QueryRequest {
        edge: request.edge.clone(),
        fields: request.fields.clone(),
        filter: request.filter.clone(),
        arguments: request.arguments.clone(),
        order_by: request.order_by.clone(),
        limit: request.limit,
    };
    query::run(&request).map_err(|err| match err {
        query::QueryError::Forbidden(message) => {
            QueryError::new(QueryErrorKind::Forbidden, message, None)
        }
        query::QueryError::UnknownEdge(message) => {
            QueryError::new(QueryErrorKind::UnknownEdge, message, None)
        }
        query::QueryError::Syntax(syntax) => QueryError::new(
            QueryErrorKind::Syntax,
            syntax.message,
            Some(syntax.position),
        ),
        query::QueryError::Invalid(message) => {
            QueryError::new(QueryErrorKind::Invalid, message, None)
        }
        query::QueryError::Store(message) => QueryError::new(QueryErrorKind::Store, message, None),
        query::QueryError::Unavailable(message) => {
            QueryError::new(QueryErrorKind::Unavailable, message, None)
        }
    })
}

pub(crate) fn message_actor(
    actor_type: &str,
    actor_id: &str,
    messages: &[Message],
    preview: bool,
) -> Result<String, ActorError> {
    let messages: Vec<actors::Message> = messages
        .iter()
        .map(|message| actors::Message {
            type_: message.message_type().to_owned(),
            alias: message.alias_name().map(str::to_owned),
            body: message.body_json(),
        })
        .collect();
    actors::message_actor(actor_type, actor_id, &messages, preview).map_err(|err| match err {
        actors::ActorError::Forbidden(message) => {
            ActorError::new(ActorErrorKind::Forbidden, message)
        }
        actors::ActorError::UnknownType(message) => {
            ActorError::new(ActorErrorKind::UnknownType, message)
        }
        actors::ActorError::NotFound(message) => ActorError::new(ActorErrorKind::NotFound, message),
        actors::ActorError::Failed(message) => ActorError::new(ActorErrorKind::Failed, message),
        actors::ActorError::Unavailable(message) => {
            ActorError::new(ActorErrorKind::Unavailable, message)
        }
    })
}

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => host::Level::Trace,
        Level::Debug => host::Level::Debug,
        Level::Info => host::Level::Info,
        Level::Warn => host::Level::Warn,
        Level::Error => host::Level::Error,
    };
    host::log(level, message);
}

pub(crate) fn now() -> u64 {
    host::now()
}

pub(crate) fn new_id() -> String {
    host::new_id()
}
