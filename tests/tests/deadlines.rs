//! JSON mode has a deadline, and draining answers JSON requests still waiting.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Host;

/// `order-events` yields only when a checkpoint is published: in JSON mode it waits.
const WAITING: &str = "/ingress/api/orders/ORD-J/events";

#[tokio::test(flavor = "multi_thread")]
async fn a_json_request_past_json_timeout_seconds_is_a_504_timeout_and_frees_its_instance() {
    let host = Host::demo_with(&[("sluice.yaml", "jsonTimeoutSeconds: 1\n")]).await;
    let started = Instant::now();
    let response = host.json(WAITING).send().await.expect("request");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered before the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "TIMEOUT", "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.live_instances().await != 0 {
        assert!(Instant::now() < deadline, "the instance is still live");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Streams have no such deadline: SSE on the same ingress stays open past it.
    let mut events = host.stream(WAITING).await;
    assert!(
        events
            .try_next_within(Duration::from_millis(1500))
            .await
            .is_none(),
        "nothing is sent and the stream is not ended"
    );
    assert_eq!(host.live_instances().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn draining_answers_a_waiting_json_request_with_a_503_at_once() {
    let config = "jsonTimeoutSeconds: 0\ndrainSeconds: 600\n";
    let (host, shutdown) = Host::demo_with_shutdown(&[("sluice.yaml", config)]).await;
    let waiting = tokio::spawn(host.json(WAITING).send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.live_instances().await != 1 {
        assert!(Instant::now() < deadline, "the request never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopped = shutdown.drain();
    // Far less than the drain timeout: the request is answered, not cut off at the end.
    let response = tokio::time::timeout(Duration::from_secs(120), waiting)
        .await
        .expect("answered long before the 600 s drain timeout")
        .expect("task")
        .expect("response");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
    tokio::time::timeout(Duration::from_secs(120), stopped)
        .await
        .expect("the host stops once nothing is open")
        .expect("host task");
}
