//! Host settings from `sluice.yaml`, seen on the wire.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;

mod support;
use serde_json::Value;

/// The public address, the admin address and the deploy directory of a host.
type Serving = (SocketAddr, SocketAddr, tempfile::TempDir);

async fn boot_with(config: &str) -> Serving {
    boot_with_files(config, &[]).await
}

/// The demo with `config` as its sluice.yaml and `extra` files added.
async fn boot_with_files(config: &str, extra: &[(&str, &str)]) -> Serving {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo written");
    std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
    for (relative, contents) in extra {
        std::fs::write(dir.path().join(relative), contents).expect("extra file");
    }
    sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
    let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
        .await
        .expect("boots");
    assert!(booted.problems.is_empty(), "{:?}", booted.problems);
    let addr = booted.server.local_addr().expect("bound");
    let admin = booted.server.admin_addr().expect("admin bound");
    tokio::spawn(booted.server.run(std::future::pending()));
    (addr, admin, dir)
}

fn sse(addr: SocketAddr, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("accept", "text/event-stream")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_stream_gets_keepalive_comments_at_the_configured_interval() {
    let (addr, _admin, _dir) = boot_with("keepaliveSeconds: 1\n").await;
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
    let (addr, _admin, _dir) = boot_with("maxInstances: 1\n").await;
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
    let (addr, _admin, _dir) = boot_with("maxStreamLifetimeSeconds: 1\n").await;
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
    let ingress = "uri: /resources/ingresses/hello-retry\nspec:\n  type: http\n  componentId: hello\n  properties:\n    route: api/hello-retry\n    httpMethod: get\n    isPublic: true\n    sse: { retry: 2500 }\n";
    let (addr, _admin, _dir) =
        boot_with_files("", &[("ingresses/hello-retry.yaml", ingress)]).await;
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

/// A client that stops reading and one that reads, on one topic, 300 events of 64 KiB. The
/// publisher keeps at most 16 events ahead of the fast client, so on a loaded machine the
/// fast client is never so far behind that the bus counts it a laggard too.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_dropped_and_fast_clients_get_every_event() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (addr, admin, _dir) = boot_with("dispatchTimeoutSeconds: 1\n").await;
    let client = reqwest::Client::new();
    let metrics = || async {
        client
            .get(format!("http://{admin}/_sluice/metrics"))
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics().await["busSubscribers"] != 2 {
        assert!(Instant::now() < deadline, "never reached 2 subscribers");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let payload = "x".repeat(64 * 1024);
    let events = 300;
    let (received, mut fast_received) = tokio::sync::watch::channel(0u64);
    let publisher = tokio::spawn({
        let client = client.clone();
        async move {
            for n in 0..events {
                fast_received
                    .wait_for(|received| received + 16 >= n)
                    .await
                    .expect("the reader is there");
                let body = serde_json::json!({"topic": "actors/order/ORD-S", "event": "checkpoint", "data": {"n": n, "pad": payload}});
                let response = client
                    .post(format!("http://{admin}/_sluice/publish"))
                    .json(&body)
                    .send()
                    .await
                    .expect("publish");
                assert_eq!(response.status(), 202);
            }
        }
    });
    for n in 0..events {
        let event = fast.next().await;
        let data: Value = serde_json::from_str(&event.data).expect("json");
        assert_eq!(
            data["data"]["n"], n,
            "the fast client gets every event, in order: {}",
            event.event
        );
        received.send_replace(n + 1);
    }
    publisher.await.expect("published");

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

/// Write `request` on a fresh connection and read until the server closes it: the bytes
/// the client saw. A write error is ignored, since a server may stop reading at a limit.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the server answers and closes within 5 s");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// `GET /ingress/api/hello` over HTTP/1.1 with `host`, `connection: close` and `extra`.
fn hello_request(extra: &[(String, String)]) -> Vec<u8> {
    let mut request =
        String::from("GET /ingress/api/hello HTTP/1.1\r\nhost: t\r\nconnection: close\r\n");
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

fn numbered_headers(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|n| (format!("x-h-{n}"), "v".to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn more_header_fields_than_max_headers_is_a_431() {
    let (addr, _admin, _dir) = boot_with("maxHeaders: 20\n").await;
    // `host` and `connection` count: 20 fields in all pass, 21 do not.
    let at_limit = raw_exchange(addr, &hello_request(&numbered_headers(18))).await;
    assert!(at_limit.starts_with("HTTP/1.1 200 OK\r\n"), "{at_limit}");
    assert!(at_limit.ends_with("\"Hello world\""), "{at_limit}");
    let over = raw_exchange(addr, &hello_request(&numbered_headers(19))).await;
    assert!(
        over.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{over}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_over_max_header_bytes_is_a_431() {
    let (addr, _admin, _dir) = boot_with("maxHeaderBytes: 16384\n").await;
    let header = |len: usize| vec![("x-big".to_owned(), "b".repeat(len))];
    let under = raw_exchange(addr, &hello_request(&header(15_000))).await;
    assert!(under.starts_with("HTTP/1.1 200 OK\r\n"), "{under}");
    let over = raw_exchange(addr, &hello_request(&header(17_000))).await;
    assert!(
        over.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{over}"
    );
    // The host is fine afterwards.
    let again = raw_exchange(addr, &hello_request(&[])).await;
    assert!(again.starts_with("HTTP/1.1 200 OK\r\n"), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_header_limits_are_431s_too() {
    let (addr, _admin, _dir) = boot_with("maxHeaderBytes: 16384\nmaxHeaders: 20\n").await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let hello = |headers: Vec<(String, String)>| {
        let mut request = client
            .get(format!("http://{addr}/ingress/api/hello"))
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    // `accept` counts: 20 fields in all pass, 21 do not.
    let at_limit = hello(numbered_headers(19)).await.expect("request");
    assert_eq!(at_limit.version(), reqwest::Version::HTTP_2);
    assert_eq!(at_limit.status(), 200);
    let too_many = hello(numbered_headers(20)).await.expect("request");
    assert_eq!(too_many.status(), 431);
    assert_eq!(too_many.headers()["content-type"], "application/json");
    assert_eq!(
        too_many.text().await.expect("body"),
        r#"{"error":{"code":"HEADERS_TOO_LARGE","message":"the request has too many header fields"}}"#
    );
    let too_big = hello(vec![("x-big".to_owned(), "b".repeat(17_000))])
        .await
        .expect("request");
    assert_eq!(too_big.status(), 431);
    let fine = hello(Vec::new()).await.expect("request");
    assert_eq!(fine.text().await.expect("body"), r#""Hello world""#);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_max_body_bytes_is_a_413() {
    let (addr, _admin, _dir) = boot_with("maxBodyBytes: 1024\n").await;
    let post = |pad: usize| {
        let body = format!(r#"{{"commands":[],"pad":"{}"}}"#, "p".repeat(pad));
        reqwest::Client::new()
            .post(format!("http://{addr}/ingress/api/skus/PROD-001/stock"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let under = post(900).await.expect("request");
    assert_eq!(under.status(), 200);
    let over = post(1100).await.expect("request");
    assert_eq!(over.status(), 413);
    assert_eq!(over.headers()["content-type"], "application/json");
    assert_eq!(
        over.text().await.expect("body"),
        r#"{"error":{"code":"PAYLOAD_TOO_LARGE","message":"the request body is larger than 1024 bytes"}}"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ingress_over_its_max_connections_is_a_503_and_other_ingresses_still_serve() {
    let capped = "uri: /resources/ingresses/capped\nspec:\n  type: http\n  componentId: order-events\n  acl: [actors/order:read]\n  properties:\n    route: api/capped/{orderId}/events\n    httpMethod: get\n    isPublic: true\n    maxConnections: 2\n";
    let (addr, admin, _dir) = boot_with_files("", &[("ingresses/capped.yaml", capped)]).await;
    let open = |path: &str| sse(addr, path).send();
    let first = open("/ingress/api/capped/ORD-1/events")
        .await
        .expect("request");
    let second = open("/ingress/api/capped/ORD-2/events")
        .await
        .expect("request");
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);

    for accept in ["text/event-stream", "application/json"] {
        let refused = reqwest::Client::new()
            .get(format!("http://{addr}/ingress/api/capped/ORD-3/events"))
            .header("accept", accept)
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 503, "{accept}");
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(refused.headers()["content-type"], "application/json");
        assert_eq!(
            refused.text().await.expect("body"),
            r#"{"error":{"code":"UNAVAILABLE","message":"too many concurrent connections to this ingress; retry shortly"}}"#
        );
    }
    let other = open("/ingress/api/orders/ORD-3/events")
        .await
        .expect("request");
    assert_eq!(other.status(), 200, "the cap is this ingress's only");
    let live = reqwest::get(format!("http://{admin}/_sluice/metrics"))
        .await
        .expect("metrics")
        .json::<Value>()
        .await
        .expect("json")["liveInstances"]
        .clone();
    assert_eq!(live, 3, "a refused request takes no instance");

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let retry = open("/ingress/api/capped/ORD-4/events")
            .await
            .expect("request");
        if retry.status() == 200 {
            break;
        }
        assert_eq!(retry.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the ingress's slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_a_413_and_a_malformed_one_a_400() {
    let (addr, _admin, _dir) = boot_with("maxBodyBytes: 64\n").await;
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
