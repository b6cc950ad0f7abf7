//! The source document's examples, end to end: real HTTP, independent SSE parsing.

mod support;

use serde_json::{Value, json};
use support::Host;

#[tokio::test(flavor = "multi_thread")]
async fn hello_sends_exactly_one_data_line() {
    let host = Host::demo().await;
    let response = host
        .sse("/ingress/api/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let body = response.text().await.expect("body");
    assert_eq!(body, "data: \"Hello world\"\n\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeat_sends_the_four_fields_in_the_documents_order() {
    let host = Host::demo().await;
    let body = host
        .sse("/ingress/api/heartbeat")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let timestamp = body
        .split("\"timestamp\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a timestamp");
    assert_eq!(
        body,
        format!(
            "event: heartbeat\nid: hb-42\nretry: 5000\ndata: {{\"timestamp\":\"{timestamp}\"}}\n\n"
        )
    );
    assert_eq!(timestamp.len(), "2026-01-11T19:30:00Z".len(), "{timestamp}");
    assert!(
        timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
        "{timestamp}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_checkpoint_arrives_as_an_updated_event() {
    let host = Host::demo().await;
    let mut events = host.stream("/ingress/api/orders/ORD-123/events").await;
    host.wait_for_subscribers(1).await;
    let data = json!({"orderId": "ORD-123", "status": "shipped"});
    let id = host
        .publish("actors/order/ORD-123", "checkpoint", data.clone())
        .await;
    host.publish("actors/order/ORD-999", "checkpoint", json!({"other": true}))
        .await;
    let event = events.next().await;
    assert_eq!(event.event, "updated");
    let payload: Value = serde_json::from_str(&event.data).expect("json");
    assert_eq!(payload["topic"], "actors/order/ORD-123");
    assert_eq!(payload["eventType"], "checkpoint");
    assert_eq!(payload["id"], id);
    assert_eq!(payload["data"], data);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_topics_merge_in_arrival_order() {
    let host = Host::demo().await;
    let order = "6f1c8f2e-3b7a-4d2c-9a51-0c7e5b8d1a11";
    let payment = "9b2d4e6f-8a1c-4e3b-b5d7-1f2a3c4e5d6f";
    let path = format!("/ingress/api/orders/{order}/payments/{payment}/events");
    let mut events = host.stream(&path).await;
    let init = events.next().await;
    assert_eq!(init.event, "init");
    assert_eq!(
        serde_json::from_str::<Value>(&init.data).expect("json"),
        json!({"orderId": order, "paymentId": payment})
    );
    host.wait_for_subscribers(2).await;
    let sequence = [("order", 1), ("payment", 2), ("payment", 3), ("order", 4)];
    for (kind, n) in sequence {
        host.publish(
            &format!(
                "actors/{kind}/{}",
                if kind == "order" { order } else { payment }
            ),
            "checkpoint",
            json!({ "n": n }),
        )
        .await;
    }
    for (kind, n) in sequence {
        let event = events.next().await;
        assert_eq!(event.event, format!("{kind}Updated"));
        let payload: Value = serde_json::from_str(&event.data).expect("json");
        assert_eq!(payload["data"]["n"], n);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_sku_is_a_404_json_error_before_the_stream() {
    let host = Host::demo().await;
    for path in [
        "/ingress/api/skus/NOPE-404/stock",
        "/ingress/api/skus/NOPE-404",
    ] {
        let response = host.sse(path).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.text().await.expect("body");
        assert_eq!(
            body,
            r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_known_sku_streams_init_in_sse_mode_and_answers_json_in_json_mode() {
    let host = Host::demo().await;
    let mut events = host.stream("/ingress/api/skus/PROD-001").await;
    let init = events.next().await;
    assert_eq!(init.event, "init");
    let sku: Value = serde_json::from_str(&init.data).expect("json");
    assert_eq!(sku["skuNumber"], "PROD-001");

    let response = host
        .json("/ingress/api/skus/PROD-001")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["event"], "init");
    assert_eq!(body["data"]["skuNumber"], "PROD-001");

    let hello = host
        .json("/ingress/api/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(hello.text().await.expect("body"), r#""Hello world""#);
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_stream_sends_init_then_stock_updated_on_each_checkpoint() {
    let host = Host::demo().await;
    let mut events = host.stream("/ingress/api/skus/PROD-001/stock").await;
    let init = events.next().await;
    assert_eq!(init.event, "init");
    let init: Value = serde_json::from_str(&init.data).expect("json");
    let sku_id = init["actorId"].as_str().expect("actorId").to_owned();
    host.wait_for_subscribers(1).await;
    host.publish(&format!("actors/sku/{sku_id}"), "checkpoint", json!({}))
        .await;
    let update = events.next().await;
    assert_eq!(update.event, "stockUpdated");
}

#[tokio::test(flavor = "multi_thread")]
async fn application_errors_arrive_as_error_events_and_the_stream_goes_on() {
    let host = Host::demo().await;
    let mut events = host.stream("/ingress/api/feeds/news/events").await;
    host.wait_for_subscribers(1).await;
    host.publish(
        "feeds/news",
        "message",
        json!({"error": "upstream timed out"}),
    )
    .await;
    host.publish("feeds/news", "message", json!({"headline": "ok"}))
        .await;
    let error = events.next().await;
    assert_eq!(error.event, "error");
    assert_eq!(
        serde_json::from_str::<Value>(&error.data).expect("json"),
        json!({"code": "STREAM_ERROR", "message": "upstream timed out"})
    );
    let update = events.next().await;
    assert_eq!(update.event, "updated");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_method_is_405_with_allow_and_unknown_route_is_404() {
    let host = Host::demo().await;
    let response = host
        .client
        .delete(host.url("/ingress/api/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    for path in [
        "/ingress/api/nope",
        "/ingress/api/hello/extra",
        "/elsewhere",
    ] {
        let response = host.sse(path).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_sku_number_never_widens_the_query() {
    // The component binds the route parameter to `skuNumber == ?`; pasted into the filter text
    // unescaped, this value would match every SKU.
    let host = Host::demo().await;
    let hostile = "/ingress/api/skus/x'%20or%201==1%20or%20skuNumber%20==%20'y";
    for response in [
        host.sse(hostile).send().await.expect("request"),
        host.json(hostile).send().await.expect("request"),
    ] {
        assert_eq!(response.status(), 404);
        let body = response.text().await.expect("body");
        assert_eq!(
            body,
            r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#
        );
    }
    let harmless = host
        .json("/ingress/api/skus/PROD-001")
        .send()
        .await
        .expect("request");
    assert_eq!(harmless.status(), 200, "the same route finds a real SKU");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_parameter_is_a_400_naming_it() {
    let host = Host::demo().await;
    let path = "/ingress/api/orders/ORD-123/payments/9b2d4e6f-8a1c-4e3b-b5d7-1f2a3c4e5d6f/events";
    let response = host.sse(path).send().await.expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "INVALID_PARAMETER");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("orderId"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_disconnect_releases_the_instance() {
    let host = Host::demo().await;
    let response = host
        .sse("/ingress/api/orders/ORD-123/events")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    host.wait_for_subscribers(1).await;
    assert_eq!(host.live_instances().await, 1);
    drop(response);
    host.assert_instances_released().await;
    host.wait_for_subscribers(0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_page_uses_the_documents_client_code() {
    let host = Host::demo().await;
    let response = host
        .client
        .get(host.url("/"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.expect("page");
    for line in [
        "const eventSource = new EventSource(`/ingress/api/skus/${skuNumber}/stock`)",
        "eventSource.addEventListener('init', (e) => {",
        "eventSource.addEventListener('stockUpdated', (e) => {",
    ] {
        assert!(page.contains(line), "missing: {line}");
    }
}
