//! One SSE stream's telemetry: its metric handles, resolved once when it starts (the
//! fan-out path then costs an atomic add per burst, no lookup or lock), and the reason it
//! ended, decided by whichever side saw the end first.
//!
//! The reason is a first-wins atomic: the stall watch sets `slow_consumer` as it cuts the
//! client off, the stream's end timer sets `lifetime` or `drain`, the body sets the
//! component's outcome once it has handed the client the last burst. When the body is
//! dropped with no reason set, the client left: `client_gone`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::labels::{IngressLabels, StreamEnd, StreamEndLabels};
use super::{HistogramFamily, Metrics};

/// Guest CPU seconds of one ingress.
pub type CpuCounter = Counter<f64, AtomicU64>;

/// The stream families, registered once in [`Metrics::new`].
#[derive(Debug, Clone)]
pub(super) struct StreamFamilies {
    pub open: Family<IngressLabels, Gauge>,
    pub events: Family<IngressLabels, Counter>,
    pub bytes: Family<IngressLabels, Counter>,
    pub first_event: HistogramFamily<IngressLabels>,
    pub duration: HistogramFamily<IngressLabels>,
    pub ends: Family<StreamEndLabels, Counter>,
}

/// What one SSE stream reports. Shared by the parts of the stream's body.
#[derive(Debug)]
pub struct StreamTelemetry {
    ingress: String,
    open: Gauge,
    events: Counter,
    bytes: Counter,
    first_event: Histogram,
    duration: Histogram,
    ends: Family<StreamEndLabels, Counter>,
    cpu: CpuCounter,
    /// When the request was admitted: time to first event counts from here.
    admitted: Instant,
    /// When the response head went out: stream duration counts from here.
    started: Instant,
    first_seen: AtomicBool,
    /// A [`StreamEnd::code`], or 0 while no side has seen the end.
    reason: AtomicU8,
    /// Set when the component trapped; read when the body runs dry.
    component_failed: AtomicBool,
}

impl Metrics {
    /// Start counting a stream of `ingress` admitted at `admitted`: it is open from now
    /// until the returned guard is dropped with the response body.
    pub fn open_stream(
        &self,
        ingress: &str,
        admitted: Instant,
    ) -> (Arc<StreamTelemetry>, OpenStream) {
        let labels = IngressLabels {
            ingress: ingress.to_owned(),
        };
        let families = &self.streams;
        let telemetry = Arc::new(StreamTelemetry {
            open: families.open.get_or_create_owned(&labels),
            events: families.events.get_or_create_owned(&labels),
            bytes: families.bytes.get_or_create_owned(&labels),
            first_event: families.first_event.get_or_create_owned(&labels),
            duration: families.duration.get_or_create_owned(&labels),
            ends: families.ends.clone(),
            cpu: self.guest_cpu.get_or_create_owned(&labels),
            ingress: labels.ingress,
            admitted,
            started: Instant::now(),
            first_seen: AtomicBool::new(false),
            reason: AtomicU8::new(0),
            component_failed: AtomicBool::new(false),
        });
        telemetry.open.inc();
        (telemetry.clone(), OpenStream(telemetry))
    }
}

impl StreamTelemetry {
    /// A burst of `events` events reached the response body.
    pub fn delivered(&self, events: u64) {
        if events == 0 {
            return;
        }
        self.events.inc_by(events);
        if !self.first_seen.load(Ordering::Relaxed)
            && !self.first_seen.swap(true, Ordering::Relaxed)
        {
            self.first_event
                .observe(self.admitted.elapsed().as_secs_f64());
        }
    }

    /// `bytes` of the body (events, comments, the retry hint) were handed to the connection.
    pub fn sent(&self, bytes: usize) {
        self.bytes.inc_by(bytes as u64);
    }

    /// CPU time the guest used in one call.
    pub fn guest_cpu(&self, used: Duration) {
        if !used.is_zero() {
            self.cpu.inc_by(used.as_secs_f64());
        }
    }

    /// The component trapped: once the client has the error event, that is why it ended.
    pub fn component_failed(&self) {
        self.component_failed.store(true, Ordering::Release);
    }

    /// The body handed over the component's last burst: the stream ends because the
    /// component ended or failed (unless something else ended it first).
    pub fn component_done(&self) {
        let reason = if self.component_failed.load(Ordering::Acquire) {
            StreamEnd::ComponentFailed
        } else {
            StreamEnd::ComponentEnded
        };
        self.ended_by(reason);
    }

    /// Record why the stream ends, unless a reason is already recorded.
    pub fn ended_by(&self, reason: StreamEnd) {
        let _ = self
            .reason
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// The recorded reason, or `client_gone` when none is.
    pub fn reason(&self) -> StreamEnd {
        StreamEnd::from_code(self.reason.load(Ordering::Acquire)).unwrap_or(StreamEnd::ClientGone)
    }

    fn finish(&self) {
        self.open.dec();
        self.duration.observe(self.started.elapsed().as_secs_f64());
        self.ends
            .get_or_create(&StreamEndLabels {
                ingress: self.ingress.clone(),
                reason: self.reason(),
            })
            .inc();
    }
}

/// Held by the response body: dropping it (the stream is over, whichever way) counts the
/// end.
#[derive(Debug)]
pub struct OpenStream(Arc<StreamTelemetry>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(metrics: &Metrics, reason: StreamEnd) -> u64 {
        metrics
            .streams
            .ends
            .get_or_create(&StreamEndLabels {
                ingress: "i".into(),
                reason,
            })
            .get()
    }

    fn open(metrics: &Metrics) -> i64 {
        metrics
            .streams
            .open
            .get_or_create(&IngressLabels {
                ingress: "i".into(),
            })
            .get()
    }

    #[test]
    fn a_stream_dropped_with_no_reason_ended_because_the_client_left() {
        let metrics = Metrics::new();
        let (telemetry, guard) = metrics.open_stream("i", Instant::now());
        assert_eq!(open(&metrics), 1);
        telemetry.delivered(3);
        drop(guard);
        assert_eq!(open(&metrics), 0);
        assert_eq!(ends(&metrics, StreamEnd::ClientGone), 1);
        assert_eq!(telemetry.events.get(), 3);
    }

    #[test]
    fn the_first_reason_seen_wins() {
        let metrics = Metrics::new();
        let (telemetry, guard) = metrics.open_stream("i", Instant::now());
        telemetry.ended_by(StreamEnd::SlowConsumer);
        // The cut then runs the body dry; that is not why the stream ended.
        telemetry.component_done();
        drop(guard);
        assert_eq!(ends(&metrics, StreamEnd::SlowConsumer), 1);
        assert_eq!(ends(&metrics, StreamEnd::ComponentEnded), 0);
    }

    #[test]
    fn a_component_that_failed_ends_its_stream_as_failed() {
        let metrics = Metrics::new();
        let (telemetry, guard) = metrics.open_stream("i", Instant::now());
        telemetry.component_failed();
        telemetry.component_done();
        drop(guard);
        assert_eq!(ends(&metrics, StreamEnd::ComponentFailed), 1);
    }

    #[test]
    fn time_to_first_event_is_observed_once_and_only_for_events() {
        let metrics = Metrics::new();
        let (telemetry, _guard) = metrics.open_stream("i", Instant::now());
        let observed = || {
            let line = r#"sluice_sse_time_to_first_event_seconds_count{ingress="i"} "#;
            let text = metrics.encode();
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(line))
                .map(str::to_owned);
            value.expect("the histogram is encoded")
        };
        telemetry.delivered(0);
        assert_eq!(observed(), "0", "a burst of no events");
        telemetry.delivered(2);
        telemetry.delivered(5);
        assert_eq!(observed(), "1");
        assert_eq!(telemetry.events.get(), 7);
    }
}
