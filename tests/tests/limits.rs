//! Host settings from `sluice.yaml`, seen on the wire.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

async fn boot_with(config: &str) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_to(dir.path()).expect("demo written");
    std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
    let booted = sluice::boot(dir.path(), Some(SocketAddr::from(([127, 0, 0, 1], 0))))
        .await
        .expect("boots");
    assert!(booted.problems.is_empty(), "{:?}", booted.problems);
    let addr = booted.server.local_addr().expect("bound");
    tokio::spawn(booted.server.run(std::future::pending()));
    (addr, dir)
}

fn sse(addr: SocketAddr, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("accept", "text/event-stream")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_stream_gets_keepalive_comments_at_the_configured_interval() {
    let (addr, _dir) = boot_with("keepaliveSeconds: 1\n").await;
    let response = sse(addr, "/ingress/api/orders/ORD-123/events")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while !seen.ends_with(b":keepalive\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("a keepalive within 5 s")
            .expect("open")
            .expect("bytes");
        seen.extend_from_slice(&chunk);
    }
    assert_eq!(seen, b":keepalive\n\n", "nothing but the comment was sent");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_instance_cap_is_a_503_with_retry_after_and_the_cap_frees_up() {
    let (addr, _dir) = boot_with("maxInstances: 1\n").await;
    let first = sse(addr, "/ingress/api/orders/ORD-123/events")
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 200);
    let refused = sse(addr, "/ingress/api/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/json");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let retry = sse(addr, "/ingress/api/hello")
            .send()
            .await
            .expect("request");
        if retry.status() == 200 {
            assert_eq!(
                retry.text().await.expect("body"),
                "data: \"Hello world\"\n\n"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
