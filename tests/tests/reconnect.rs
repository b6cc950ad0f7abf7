//! Reconnection that loses nothing, and a component failing mid-stream.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Host;

const RESUMABLE: &str = "/ingress/api/orders/ORD-R/resumable-events";

async fn publish_checkpoints(host: &Host, numbers: std::ops::RangeInclusive<u64>) {
    for n in numbers {
        host.publish("actors/order/ORD-R", "checkpoint", json!({ "n": n }))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_with_the_last_event_id_gets_exactly_the_missed_events() {
    let host = Host::demo().await;
    let mut events = host.stream(RESUMABLE).await;
    assert_eq!(events.next().await.event, "init");
    host.wait_for_subscribers(1).await;
    publish_checkpoints(&host, 1..=3).await;
    let mut last_id = String::new();
    for n in 1..=3 {
        let event = events.next().await;
        assert_eq!(event.event, "updated");
        let data: Value = serde_json::from_str(&event.data).expect("json");
        assert_eq!(data["data"]["n"], n);
        assert_eq!(event.id, data["id"].to_string(), "the SSE id is the bus id");
        last_id = event.id;
    }
    drop(events);
    host.wait_for_subscribers(0).await;
    publish_checkpoints(&host, 4..=8).await;

    let response = host
        .sse(RESUMABLE)
        .header("last-event-id", &last_id)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let mut resumed = support::Events::new(response);
    let mut previous: u64 = last_id.parse().expect("numeric id");
    for n in 4..=8 {
        let event = resumed.next().await;
        assert_eq!(
            event.event, "updated",
            "no init and no gap on a resumed stream"
        );
        let data: Value = serde_json::from_str(&event.data).expect("json");
        assert_eq!(data["data"]["n"], n);
        let id: u64 = event.id.parse().expect("numeric id");
        assert!(id > previous, "ids increase");
        previous = id;
    }
    assert!(
        resumed
            .try_next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "no duplicates"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_event_id_query_parameter_works_for_first_connections() {
    let host = Host::demo().await;
    host.publish("actors/order/ORD-R", "checkpoint", json!({"n": 0}))
        .await;
    let first = host
        .publish("actors/order/ORD-R", "checkpoint", json!({"n": 1}))
        .await;
    host.publish("actors/order/ORD-R", "checkpoint", json!({"n": 2}))
        .await;
    let mut events = host
        .stream(&format!("{RESUMABLE}?lastEventId={first}"))
        .await;
    let event = events.next().await;
    let data: Value = serde_json::from_str(&event.data).expect("json");
    assert_eq!(data["data"]["n"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_last_event_id_the_bus_no_longer_holds_is_reported_as_a_gap() {
    let host = Host::demo().await;
    let response = host
        .sse(RESUMABLE)
        .header("last-event-id", "1")
        .send()
        .await
        .expect("request");
    let mut events = support::Events::new(response);
    let gap = events.next().await;
    assert_eq!(gap.event, "gap");
    let data: Value = serde_json::from_str(&gap.data).expect("json");
    assert_eq!(data["lastEventId"], "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_last_event_id_that_is_not_an_event_id_is_a_400() {
    let host = Host::demo().await;
    let response = host
        .sse(RESUMABLE)
        .header("last-event-id", "hb-42")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "INVALID_LAST_EVENT_ID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_fails_mid_stream_sends_component_failed_and_ends() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::SSE_FAILS_AFTER],
        &[(
            "ingresses/fails-after.yaml",
            sluice_e2e::SSE_FAILS_AFTER_INGRESS,
        )],
    )
    .await;
    let mut healthy = host.stream("/ingress/api/orders/ORD-H/events").await;
    let body = host
        .sse("/ingress/api/test/fails-after/3")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(
        body,
        "event: tick\nid: 1\ndata: {\"i\":1}\n\n\
         event: tick\nid: 2\ndata: {\"i\":2}\n\n\
         event: tick\nid: 3\ndata: {\"i\":3}\n\n\
         event: error\ndata: {\"code\":\"COMPONENT_FAILED\",\"message\":\"the component failed\"}\n\n"
    );
    // Other streams and the host carry on.
    host.wait_for_subscribers(1).await;
    host.publish(
        "actors/order/ORD-H",
        "checkpoint",
        json!({"still": "alive"}),
    )
    .await;
    assert_eq!(healthy.next().await.event, "updated");
    let json = host
        .json("/ingress/api/test/fails-after/0")
        .send()
        .await
        .expect("request");
    assert_eq!(json.status(), 500);
    drop(healthy);
    host.assert_instances_released().await;
}
