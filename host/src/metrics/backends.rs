//! The bus and the actor backend with their traffic counted: one wrapper each, put around
//! the backend at boot, so every caller (components, actors, the admin endpoints, the
//! outbox relay) is counted in one place.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::Value;

use super::HistogramFamily;
use super::labels::{
    ActorLabels, ActorRejection, ActorRejectionLabels, PublishLabels, PublishResult,
    UNKNOWN_ACTOR_TYPE,
};
use crate::backends::actors::{ActorBackend, ActorError, ActorMessage};
use crate::backends::bus::{BusError, EventBus, Published, Subscription};

/// An [`EventBus`] whose publishes are counted by result.
pub(super) struct CountedBus {
    inner: Arc<dyn EventBus>,
    /// One handle per result, resolved once: a publish costs an atomic add.
    by_result: [Counter; 4],
}

impl CountedBus {
    pub fn new(inner: Arc<dyn EventBus>, publishes: Family<PublishLabels, Counter>) -> Self {
        let handle = |result| publishes.get_or_create_owned(&PublishLabels { result });
        Self {
            inner,
            by_result: [
                handle(PublishResult::Ok),
                handle(PublishResult::Duplicate),
                handle(PublishResult::Invalid),
                handle(PublishResult::Unavailable),
            ],
        }
    }
}

impl EventBus for CountedBus {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        event_type: &'a str,
        data: &'a Value,
        dedup_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Published, BusError>> {
        Box::pin(async move {
            let result = self.inner.publish(topic, event_type, data, dedup_id).await;
            let index = match PublishResult::of(&result) {
                PublishResult::Ok => 0,
                PublishResult::Duplicate => 1,
                PublishResult::Invalid => 2,
                PublishResult::Unavailable => 3,
            };
            self.by_result[index].inc();
            result
        })
    }

    fn subscribe<'a>(
        &'a self,
        topics: &'a [String],
        event_types: &'a [String],
        after: Option<u64>,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe(topics, event_types, after)
    }

    fn subscriber_count(&self) -> usize {
        self.inner.subscriber_count()
    }

    fn topic_count(&self) -> usize {
        self.inner.topic_count()
    }

    fn ready(&self) -> Result<(), BusError> {
        self.inner.ready()
    }
}

/// An [`ActorBackend`] whose calls are counted and timed by actor type.
pub(super) struct CountedActors {
    pub inner: Arc<dyn ActorBackend>,
    pub calls: Family<ActorLabels, Counter>,
    pub duration: HistogramFamily<ActorLabels>,
    pub rejections: Family<ActorRejectionLabels, Counter>,
}

impl ActorBackend for CountedActors {
    fn message<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        messages: Vec<ActorMessage>,
        preview: bool,
    ) -> BoxFuture<'a, Result<String, ActorError>> {
        Box::pin(async move {
            let started = Instant::now();
            let outcome = self
                .inner
                .message(actor_type, actor_id, messages, preview)
                .await;
            // A type that is not deployed came from the caller: not a label value.
            let actor_type = match &outcome {
                Err(ActorError::UnknownType(_)) => UNKNOWN_ACTOR_TYPE,
                _ => actor_type,
            };
            let labels = ActorLabels {
                actor_type: actor_type.to_owned(),
            };
            self.calls.get_or_create(&labels).inc();
            self.duration
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            if let Err(err) = &outcome {
                self.rejections
                    .get_or_create(&ActorRejectionLabels {
                        actor_type: labels.actor_type,
                        reason: ActorRejection::of(err),
                    })
                    .inc();
            }
            outcome
        })
    }
}
