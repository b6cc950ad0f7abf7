//! Values read at scrape time from counters the host keeps anyway: live instances and
//! the instance cap, capacity refusals, bus subscribers and topics.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::backends::bus::EventBus;
use crate::runtime::Runtime;

/// Where the scrape-time values come from.
pub(super) struct Sources {
    pub runtime: Arc<Runtime>,
    pub bus: Arc<dyn EventBus>,
}

/// Encodes [`Sources`]' values on every scrape; nothing before [`super::Metrics::watch`].
#[derive(Debug)]
pub(super) struct Collector {
    sources: Arc<OnceLock<Sources>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sources")
    }
}

impl Collector {
    pub fn new(sources: Arc<OnceLock<Sources>>) -> Self {
        Self { sources }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: usize,
) -> Result<(), std::fmt::Error> {
    let value = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    let metric = encoder.encode_descriptor(name, help, None, value.metric_type())?;
    value.encode(metric)
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(sources) = self.sources.get() else {
            return Ok(());
        };
        let runtime = &sources.runtime;
        gauge(
            &mut encoder,
            "instances_live",
            "Component instances alive right now (connections and JSON requests)",
            runtime.live_instances(),
        )?;
        gauge(
            &mut encoder,
            "instances_capacity",
            "Instances admitted at once (maxInstances, or fewer where the machine cannot hold it; unset, what the machine holds)",
            runtime.instance_cap() as usize,
        )?;
        gauge(
            &mut encoder,
            "fiber_stacks_in_use",
            "Fiber stacks held by instances: calls into guests running or blocked (a stream idle between events holds none)",
            runtime.stacks_in_use(),
        )?;
        let refusals = ConstCounter::new(runtime.refusals());
        let metric = encoder.encode_descriptor(
            "capacity_refusals",
            "Requests answered 503 because an instance cap was reached",
            None,
            refusals.metric_type(),
        )?;
        refusals.encode(metric)?;
        gauge(
            &mut encoder,
            "bus_subscribers",
            "Live bus subscriptions on this node",
            sources.bus.subscriber_count(),
        )?;
        gauge(
            &mut encoder,
            "bus_topics",
            "Topics this node's bus holds state for (history, subscribers or a consumer)",
            sources.bus.topic_count(),
        )
    }
}
