//! Instantiate → pull records → encode → write, for one request.
//!
//! SSE: headers go out as soon as `handle` returns a stream; the response body *is* the
//! pull loop, so the instance lives exactly as long as hyper keeps the body: when the
//! client goes away, hyper drops the body, which drops the instance mid-wait.
//! JSON: the first record is the response, then the instance is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use wasmtime::component::ResourceAny;

use super::stall::Stall;
use crate::deploy::Ingress;
use crate::encode::cut::CutStream;
use crate::encode::json::JsonResponse;
use crate::encode::keepalive::KeepAliveStream;
use crate::encode::sse;
use crate::metrics::{CpuCounter, Metrics, StreamEnd, StreamTelemetry};
use crate::negotiate::Mode;
use crate::runtime::bindings::types;
use crate::runtime::{Instance, Runtime};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Records pulled from the guest per call: bursts cost one call, not one per event.
const BATCH: u32 = 64;

/// How SSE streams are kept alive and ended.
pub struct StreamSettings {
    pub keepalive: Duration,
    /// Resolves when the stream must end (maximum lifetime, host draining), saying which.
    pub end: Pin<Box<dyn Future<Output = StreamEnd> + Send>>,
    /// Watches this request's body and cuts a slow consumer off: resets its HTTP/2 stream,
    /// or closes its HTTP/1.1 connection.
    pub stall: Arc<Stall>,
    /// JSON mode: how long the component may take to yield its first record.
    pub json_timeout: Option<Duration>,
    /// Resolves once the host drains; JSON requests still waiting then are answered 503.
    pub draining: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Run `ingress` for `request` and produce the response.
pub async fn run(
    runtime: &Runtime,
    metrics: &Metrics,
    ingress: &Ingress,
    request: types::Request,
    mode: Mode,
    settings: StreamSettings,
) -> Response<Body> {
    let admitted = Instant::now();
    // The ingress's own cap first: a request it refuses takes no place in the pool.
    let Ok(ingress_permit) = ingress.admit() else {
        runtime.count_refusal();
        return unavailable("too many concurrent connections to this ingress; retry shortly");
    };
    let Some(slot) = runtime.reserve(ingress.needs) else {
        runtime.count_refusal();
        return unavailable("too many concurrent connections; retry shortly");
    };
    let slot = slot.with_ingress_permit(ingress_permit);
    let id = &ingress.spec.id;
    let cpu = metrics.guest_cpu(id);
    if mode == Mode::Json {
        let answer = async {
            let started = start(runtime, metrics, &cpu, ingress, slot, &request).await;
            let (instance, stream) = match started {
                Ok(started) => started,
                Err(response) => return response,
            };
            json_mode(instance, stream, id, &cpu).await
        };
        return with_json_deadline(answer, settings.json_timeout, settings.draining, id).await;
    }
    let (instance, stream) = match start(runtime, metrics, &cpu, ingress, slot, &request).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let (telemetry, open) = metrics.open_stream(id, admitted);
    sse_mode(
        instance,
        stream,
        id.clone(),
        ingress.spec.sse_retry,
        settings,
        (telemetry, open),
    )
}

/// Instantiate and call `handle`: the instance and its record stream, or the response
/// saying why not. Whatever capacity instantiation ran out of is a 503, never a 500.
async fn start(
    runtime: &Runtime,
    metrics: &Metrics,
    cpu: &CpuCounter,
    ingress: &Ingress,
    slot: crate::runtime::Slot,
    request: &types::Request,
) -> Result<(Instance, ResourceAny), Response<Body>> {
    let id = &ingress.spec.id;
    let instantiating = Instant::now();
    let mut instance = match runtime
        .instantiate(&ingress.pre, ingress.context.clone(), slot)
        .await
    {
        Ok(instance) => {
            metrics.observe_instantiation(id, instantiating.elapsed());
            instance
        }
        Err(err) if crate::runtime::is_capacity_error(&err) => {
            runtime.count_refusal();
            tracing::warn!(ingress = %id, error = %format!("{err:#}"), "out of capacity at instantiation");
            return Err(unavailable("the host is at capacity; retry shortly"));
        }
        Err(err) => {
            tracing::error!(ingress = %id, error = %format!("{err:#}"), "instantiation failed");
            return Err(component_failed());
        }
    };
    let handled = instance.handle(request).await;
    cpu.inc_by(instance.take_cpu_time().as_secs_f64());
    match handled {
        Ok(Ok(stream)) => Ok((instance, stream)),
        Ok(Err(error)) => Err(guest_error_response(error)),
        Err(trap) => {
            tracing::warn!(ingress = %id, error = %format!("{trap:#}"), "component failed in handle");
            Err(component_failed())
        }
    }
}

/// A JSON request's answer, unless its deadline passes first (504, the instance dropped
/// mid-call) or the host drains first (503, so the client retries on another node).
async fn with_json_deadline(
    answer: impl Future<Output = Response<Body>>,
    timeout: Option<Duration>,
    draining: Pin<Box<dyn Future<Output = ()> + Send>>,
    id: &str,
) -> Response<Body> {
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        response = answer => response,
        () = deadline => {
            tracing::info!(ingress = %id, ?timeout, "JSON request past its deadline");
            error_response("TIMEOUT", "the component yielded no record before the deadline")
        }
        () = draining => unavailable("the host is shutting down; retry"),
    }
}

async fn json_mode(
    mut instance: Instance,
    stream: ResourceAny,
    id: &str,
    cpu: &CpuCounter,
) -> Response<Body> {
    let first = instance.next_records(stream, 1).await;
    cpu.inc_by(instance.take_cpu_time().as_secs_f64());
    let first = match first {
        Ok(records) => records.into_iter().next(),
        Err(trap) => {
            tracing::warn!(ingress = %id, error = %format!("{trap:#}"), "component failed");
            return component_failed();
        }
    };
    drop(instance);
    let Some(record) = first else {
        return Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(empty())
            .unwrap_or_default();
    };
    match serde_json::from_str::<Value>(&record) {
        Ok(value) => into_response(JsonResponse::from_value(value)),
        Err(err) => {
            tracing::warn!(ingress = %id, %err, "component yielded text that is not JSON");
            error_response(
                "INVALID_RECORD",
                "the component yielded a record that is not JSON",
            )
        }
    }
}

/// The SSE response: its body pulls bursts from the component whenever hyper polls it, in
/// the connection's task, under the [`Stall`] watch that cuts a slow consumer off.
/// `telemetry` hears how the stream goes; `open` is dropped with the body.
fn sse_mode(
    instance: Instance,
    stream: ResourceAny,
    id: String,
    retry: Option<u64>,
    settings: StreamSettings,
    (telemetry, open): (Arc<StreamTelemetry>, crate::metrics::OpenStream),
) -> Response<Body> {
    let retry = retry.map(|ms| {
        let mut frame = BytesMut::new();
        sse::encode_retry(ms, &mut frame);
        frame.freeze()
    });
    // The body runs in hyper's task, outside the request's span (the instance's calls go
    // back into it): what is logged about the stream goes there too.
    let span = tracing::Span::current();
    let bursts = Box::pin(pull(instance, stream, id.clone(), telemetry.clone()));
    let dispatch_timeout = settings.stall.timeout();
    let ended = telemetry.clone();
    let bursts = settings.stall.watch(bursts, move |stalled| {
        if stalled {
            span.in_scope(|| {
                tracing::warn!(ingress = %id, ?dispatch_timeout, "slow consumer: cut off");
            });
            ended.ended_by(StreamEnd::SlowConsumer);
        }
        // The stream counts as ended when hyper drops the body, and why is known by now.
        drop(open);
    });
    let records = futures::stream::iter(retry).chain(bursts);
    let frames = KeepAliveStream::new(records, settings.keepalive);
    let end = settings.end;
    let ended_by = telemetry.clone();
    let frames = CutStream::new(frames, async move { ended_by.ended_by(end.await) });
    let body = StreamBody::new(frames.map(move |bytes| {
        telemetry.sent(bytes.len());
        Ok(Frame::data(bytes))
    }));
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-store")
        .header("x-accel-buffering", "no")
        .body(BodyExt::boxed_unsync(body))
        .unwrap_or_default()
}

/// The pull loop: each item is the encoding of one burst of records. Between bursts an
/// instance waiting for events idles without a stack (`Instance::next_records`).
fn pull(
    instance: Instance,
    stream: ResourceAny,
    id: String,
    telemetry: Arc<StreamTelemetry>,
) -> impl Stream<Item = Bytes> + Send {
    let puller = Puller {
        instance: Some(instance),
        stream,
        id,
        telemetry,
    };
    futures::stream::unfold(puller, |mut puller| async move {
        let burst = puller.next_burst().await?;
        Some((burst, puller))
    })
}

/// What [`pull`] carries from one burst to the next.
struct Puller {
    /// `None` once the component failed: its error event is the last burst.
    instance: Option<Instance>,
    stream: ResourceAny,
    id: String,
    telemetry: Arc<StreamTelemetry>,
}

impl Puller {
    async fn next_burst(&mut self) -> Option<Bytes> {
        let telemetry = &self.telemetry;
        let Some(instance) = &mut self.instance else {
            // The client has the component's last burst.
            telemetry.component_done();
            return None;
        };
        let batch = instance.next_records(self.stream, BATCH).await;
        telemetry.guest_cpu(instance.take_cpu_time());
        let mut out = BytesMut::new();
        match batch {
            Ok(records) if records.is_empty() => {
                telemetry.component_done();
                None
            }
            Ok(records) => {
                // Sized once from the records (an event is about as long as its JSON), not
                // grown from empty, and only now: an idle stream holds no buffer.
                out.reserve(records.iter().map(|record| record.len() + 16).sum());
                for record in &records {
                    encode_record(record, &mut out, &self.id);
                }
                telemetry.delivered(records.len() as u64);
                Some(out.freeze())
            }
            Err(trap) => {
                instance.span().in_scope(|| {
                    tracing::warn!(ingress = %self.id, error = %format!("{trap:#}"), "component failed mid-stream");
                });
                telemetry.component_failed();
                self.instance = None;
                sse::encode_error("COMPONENT_FAILED", "the component failed", &mut out);
                telemetry.delivered(1);
                Some(out.freeze())
            }
        }
    }
}

fn encode_record(record: &str, out: &mut BytesMut, id: &str) {
    if let Err(invalid) = sse::encode_text(record, out) {
        let reason = invalid.reason();
        tracing::debug!(ingress = %id, %reason, "invalid event replaced");
        sse::encode_error("INVALID_EVENT", reason, out);
    }
}

fn guest_error_response(error: types::Error) -> Response<Body> {
    let details = error
        .details
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    into_response(JsonResponse::error(
        &error.code,
        &error.message,
        error.status,
        details,
    ))
}

/// 431 with the documented error body: more header fields than `maxHeaders`.
pub fn headers_too_large() -> Response<Body> {
    into_response(JsonResponse::error(
        "HEADERS_TOO_LARGE",
        "the request has too many header fields",
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.as_u16()),
        None,
    ))
}

/// 503 with `Retry-After: 1`: a cap is reached, and a place usually frees up soon.
fn unavailable(message: &str) -> Response<Body> {
    let mut response = error_response("UNAVAILABLE", message);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn component_failed() -> Response<Body> {
    error_response("COMPONENT_FAILED", "the component failed")
}

/// A host-made error response (status from the code).
pub fn error_response(code: &str, message: &str) -> Response<Body> {
    into_response(JsonResponse::error(code, message, None, None))
}

pub fn into_response(response: JsonResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    builder.body(full(response.body)).unwrap_or_default()
}

pub fn full(bytes: Bytes) -> Body {
    BodyExt::boxed_unsync(Full::new(bytes))
}

pub fn empty() -> Body {
    full(Bytes::new())
}
