//! Host settings from `sluice.yaml`, seen on the wire.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;

mod support;
use serde_json::Value;

async fn boot_with(config: &str) -> (SocketAddr, tempfile::TempDir) {
    boot_with_files(config, &[]).await
}

/// The demo with `config` as its sluice.yaml and `extra` files added.
async fn boot_with_files(config: &str, extra: &[(&str, &str)]) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_to(dir.path()).expect("demo written");
    std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
    for (relative, contents) in extra {
        std::fs::write(dir.path().join(relative), contents).expect("extra file");
    }
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

#[tokio::test(flavor = "multi_thread")]
async fn streams_end_with_a_farewell_comment_at_the_maximum_lifetime() {
    let (addr, _dir) = boot_with("maxStreamLifetimeSeconds: 1\n").await;
    let response = sse(addr, "/ingress/api/orders/ORD-123/events")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the stream ends")
        .expect("body");
    assert_eq!(body, ":stream ended by the server; reconnect\n\n");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ingress_retry_is_sent_first_on_every_stream() {
    let ingress = "uri: /resources/ingresses/hello-retry\nspec:\n  type: http\n  componentId: hello\n  properties:\n    route: api/hello-retry\n    httpMethod: get\n    sse: { retry: 2500 }\n";
    let (addr, _dir) = boot_with_files("", &[("ingresses/hello-retry.yaml", ingress)]).await;
    let body = sse(addr, "/ingress/api/hello-retry")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "retry: 2500\n\ndata: \"Hello world\"\n\n");
    let json = reqwest::get(format!("http://{addr}/ingress/api/hello-retry"))
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(json, r#""Hello world""#, "JSON mode has no retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_dropped_and_fast_clients_are_not_delayed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (addr, _dir) = boot_with("dispatchTimeoutSeconds: 1\n").await;
    let client = reqwest::Client::new();
    let metrics = || async {
        client
            .get(format!("http://{addr}/_sluice/metrics"))
            .send()
            .await
            .expect("metrics")
            .json::<Value>()
            .await
            .expect("json")
    };
    // The slow client asks for the stream, reads the response head, then never reads again.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /ingress/api/orders/ORD-S/events HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n")
        .await
        .expect("request");
    let mut head = [0u8; 512];
    let n = slow.read(&mut head).await.expect("head");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    let fast = sse(addr, "/ingress/api/orders/ORD-S/events")
        .send()
        .await
        .expect("request");
    let mut fast = support::Events::new(fast);
    while metrics().await["busSubscribers"] != 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let payload = "x".repeat(64 * 1024);
    let events = 300;
    let publisher = tokio::spawn({
        let client = client.clone();
        async move {
            for n in 0..events {
                let body = serde_json::json!({"topic": "actors/order/ORD-S", "event": "checkpoint", "data": {"n": n, "pad": payload}});
                let response = client
                    .post(format!("http://{addr}/_sluice/publish"))
                    .json(&body)
                    .send()
                    .await
                    .expect("publish");
                assert_eq!(response.status(), 202);
            }
        }
    });
    let started = Instant::now();
    for n in 0..events {
        let event = fast.next().await;
        let data: Value = serde_json::from_str(&event.data).expect("json");
        assert_eq!(
            data["data"]["n"], n,
            "the fast client gets every event, in order"
        );
    }
    publisher.await.expect("published");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fast client delayed: {:?}",
        started.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics().await["liveInstances"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the slow client's instance was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its connection was closed: after what the kernel buffered, the socket ends.
    let mut sink = vec![0u8; 1 << 20];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match slow.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow client's connection is still open");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_a_413_and_a_malformed_one_a_400() {
    let (addr, _dir) = boot_with("maxBodyBytes: 64\n").await;
    let post = |body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("http://{addr}/ingress/api/skus/PROD-001/stock"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let padded = |len: usize| {
        let mut body = br#"{"commands":[],"pad":""#.to_vec();
        body.resize(len - 2, b'x');
        body.extend_from_slice(br#""}"#);
        body
    };
    let response = post(padded(65)).await.expect("request");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    let response = post(padded(64)).await.expect("request");
    assert_ne!(response.status(), 413, "64 bytes are within the limit");
    for malformed in [&b"[1]"[..], b"{\"commands\":", b"{\"a\":\"\xff\"}"] {
        let response = post(malformed.to_vec()).await.expect("request");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "INVALID_BODY");
    }
}
