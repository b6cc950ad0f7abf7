//! The same streams over HTTP/2 (cleartext, prior knowledge).

mod support;

use support::Host;

fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_streams_over_http2() {
    let host = Host::demo().await;
    let response = h2_client()
        .get(host.url("/ingress/api/hello"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.text().await.expect("body"),
        "data: \"Hello world\"\n\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_http2_stream_releases_its_instance() {
    let host = Host::demo().await;
    let client = h2_client();
    let response = client
        .get(host.url("/ingress/api/orders/ORD-123/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    host.wait_for_subscribers(1).await;
    drop(response);
    host.assert_instances_released().await;
}
