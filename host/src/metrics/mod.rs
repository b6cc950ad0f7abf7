//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format
//! (`prometheus-client`). One [`Metrics`] holds every family, registered once; each thing
//! is counted at the one place it happens, and what the host already counts (live
//! instances, capacity refusals, bus subscribers and topics) is read at scrape time
//! instead of kept twice. The README's "Metrics" section lists every metric.
//!
//! Labels are low-cardinality only: ingress id, mode, status class, reason enums, actor
//! type. Never a route parameter, path, topic or actor id.

mod backends;
mod labels;
mod scrape;
mod stream;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::backends::actors::ActorBackend;
use crate::backends::bus::EventBus;
use crate::negotiate::Mode;
use crate::runtime::Runtime;
pub use labels::{
    ActorLabels, ActorQueryLabels, ActorRejection, ActorRejectionLabels, AuthRefusal,
    AuthRefusalLabels, IngressLabels, LoadLabels, LoadResult, ModeLabel, NO_INGRESS, PublishLabels,
    PublishResult, QueryAnswer, RequestLabels, StatusClass, StreamEnd, StreamEndLabels,
    UNKNOWN_ACTOR_TYPE,
};
pub use stream::{CpuCounter, OpenStream, StreamTelemetry};

/// The content type of a scrape: what prometheus-client's text encoder writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Buckets, in seconds. Time to first event runs from instantiation (milliseconds) to
/// a quiet topic's first publish (minutes).
const FIRST_EVENT_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const STREAM_DURATION_BUCKETS: [f64; 11] = [
    0.1, 1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0,
];
const INSTANTIATION_BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];
const ACTOR_CALL_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn first_event_histogram() -> Histogram {
    Histogram::new(FIRST_EVENT_BUCKETS)
}

fn stream_duration_histogram() -> Histogram {
    Histogram::new(STREAM_DURATION_BUCKETS)
}

fn instantiation_histogram() -> Histogram {
    Histogram::new(INSTANTIATION_BUCKETS)
}

fn actor_call_histogram() -> Histogram {
    Histogram::new(ACTOR_CALL_BUCKETS)
}

/// Every metric family of the host, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    auth_refusals: Family<AuthRefusalLabels, Counter>,
    instantiation: HistogramFamily<IngressLabels>,
    guest_cpu: Family<IngressLabels, CpuCounter>,
    streams: stream::StreamFamilies,
    bus_publishes: Family<PublishLabels, Counter>,
    actor_calls: Family<ActorLabels, Counter>,
    actor_call_duration: HistogramFamily<ActorLabels>,
    actor_rejections: Family<ActorRejectionLabels, Counter>,
    actor_queries: Family<ActorQueryLabels, Counter>,
    deploy_loads: Family<LoadLabels, Counter>,
    /// What is read at scrape time; set once the runtime and bus exist ([`Metrics::watch`]).
    sources: Arc<OnceLock<scrape::Sources>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests to /ingress/, by ingress (empty: none matched), negotiated mode and status class",
            Family::clone(&requests),
        );
        let auth_refusals = Family::default();
        registry.register(
            "auth_refusals",
            "Callers turned away: missing or invalid token (401), insufficient scope (403)",
            Family::clone(&auth_refusals),
        );
        let streams = stream::StreamFamilies {
            open: Family::default(),
            events: Family::default(),
            bytes: Family::default(),
            first_event: Family::new_with_constructor(first_event_histogram),
            duration: Family::new_with_constructor(stream_duration_histogram),
            ends: Family::default(),
        };
        registry.register(
            "sse_streams_open",
            "SSE streams open right now",
            streams.open.clone(),
        );
        registry.register(
            "sse_events_sent",
            "SSE events handed to the connection (records and error events)",
            streams.events.clone(),
        );
        registry.register_with_unit(
            "sse_sent",
            "SSE body bytes handed to the connection (events, comments, retry hints)",
            Unit::Bytes,
            streams.bytes.clone(),
        );
        registry.register_with_unit(
            "sse_time_to_first_event",
            "From a stream's admission (before instantiation) to its first event",
            Unit::Seconds,
            streams.first_event.clone(),
        );
        registry.register_with_unit(
            "sse_stream_duration",
            "How long SSE streams stayed open, counted when they end",
            Unit::Seconds,
            streams.duration.clone(),
        );
        registry.register(
            "sse_stream_ends",
            "SSE streams ended, by reason",
            streams.ends.clone(),
        );
        let instantiation = HistogramFamily::new_with_constructor(instantiation_histogram);
        registry.register_with_unit(
            "instantiation",
            "Time to instantiate a component for a request",
            Unit::Seconds,
            instantiation.clone(),
        );
        let guest_cpu = Family::default();
        registry.register_with_unit(
            "guest_cpu",
            "Time ingress components ran for, as the CPU budget charges it (waits excluded)",
            Unit::Seconds,
            Family::clone(&guest_cpu),
        );
        let bus_publishes = Family::default();
        registry.register(
            "bus_publishes",
            "Publishes on the event bus (components, actors, admin), by result",
            Family::clone(&bus_publishes),
        );
        let actor_calls = Family::default();
        registry.register(
            "actor_calls",
            "Calls to actors (messageActor and the admin endpoint), by actor type",
            Family::clone(&actor_calls),
        );
        let actor_call_duration = HistogramFamily::new_with_constructor(actor_call_histogram);
        registry.register_with_unit(
            "actor_call_duration",
            "Actor call latency, queueing for an actor slot included",
            Unit::Seconds,
            actor_call_duration.clone(),
        );
        let actor_rejections = Family::default();
        registry.register(
            "actor_rejections",
            "Actor calls not carried out, by reason",
            Family::clone(&actor_rejections),
        );
        let actor_queries = Family::default();
        registry.register(
            "actor_query_answers",
            "Query batches (spec.queries) answered, by actor type and whether the actor ran or \
             the answer was shared from a run on the same state version",
            Family::clone(&actor_queries),
        );
        let deploy_loads = Family::default();
        registry.register(
            "deploy_reloads",
            "Loads of the deploy directory (the boot is the first), by result: failed when any file was refused",
            Family::clone(&deploy_loads),
        );
        let sources = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(scrape::Collector::new(sources.clone())));
        Self {
            registry,
            requests,
            auth_refusals,
            instantiation,
            guest_cpu,
            streams,
            bus_publishes,
            actor_calls,
            actor_call_duration,
            actor_rejections,
            actor_queries,
            deploy_loads,
            sources,
        }
    }

    /// Read live instances, capacity, refusals, bus subscribers and topics from these on
    /// every scrape. Only the first call counts.
    pub fn watch(&self, runtime: Arc<Runtime>, bus: Arc<dyn EventBus>) {
        let _ = self.sources.set(scrape::Sources { runtime, bus });
    }

    /// `bus`, with its publishes counted.
    pub fn instrument_bus(&self, bus: Arc<dyn EventBus>) -> Arc<dyn EventBus> {
        Arc::new(backends::CountedBus::new(bus, self.bus_publishes.clone()))
    }

    /// `actors`, with calls, latency and rejections counted.
    pub fn instrument_actors(&self, actors: Arc<dyn ActorBackend>) -> Arc<dyn ActorBackend> {
        Arc::new(backends::CountedActors {
            inner: actors,
            calls: self.actor_calls.clone(),
            duration: self.actor_call_duration.clone(),
            rejections: self.actor_rejections.clone(),
        })
    }

    /// Counts query answers for [`crate::actors::WasmActors::count_queries`].
    pub fn query_counter(&self) -> crate::actors::QueryCounter {
        let family = self.actor_queries.clone();
        Arc::new(move |actor_type, source| {
            family
                .get_or_create(&ActorQueryLabels {
                    actor_type: actor_type.to_owned(),
                    answer: QueryAnswer(source),
                })
                .inc();
        })
    }

    /// The whole registry in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%err, "metrics could not be encoded");
        }
        text
    }

    /// One request answered by `ingress` (`None`: no ingress matched).
    pub fn count_request(&self, ingress: Option<&str>, mode: Mode, status: StatusCode) {
        self.requests
            .get_or_create(&RequestLabels {
                ingress: ingress.unwrap_or(NO_INGRESS).to_owned(),
                mode: ModeLabel::from(mode),
                status: StatusClass::of(status),
            })
            .inc();
    }

    /// A caller of `ingress` turned away.
    pub fn count_auth_refusal(&self, ingress: &str, reason: AuthRefusal) {
        self.auth_refusals
            .get_or_create(&AuthRefusalLabels {
                ingress: ingress.to_owned(),
                reason,
            })
            .inc();
    }

    /// An instance of `ingress` took `took` to instantiate.
    pub fn observe_instantiation(&self, ingress: &str, took: Duration) {
        self.instantiation
            .get_or_create(&IngressLabels {
                ingress: ingress.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// The guest CPU counter of `ingress`, to add each call's CPU time to.
    pub fn guest_cpu(&self, ingress: &str) -> CpuCounter {
        self.guest_cpu.get_or_create_owned(&IngressLabels {
            ingress: ingress.to_owned(),
        })
    }

    /// The deploy directory was loaded: `ok` when every file was accepted. The boot counts
    /// as the first load; a live reload calls this each time.
    pub fn deploy_loaded(&self, ok: bool) {
        self.deploy_loads
            .get_or_create(&LoadLabels {
                result: LoadResult(ok),
            })
            .inc();
    }
}
