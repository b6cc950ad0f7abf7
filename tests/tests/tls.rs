//! TLS on the public listener: HTTP/2 by ALPN, HTTP/1.1 too, no plain HTTP on the TLS port,
//! certificates reloaded from disk, and a silent TLS client cut by the header-read timeout.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::tls::{Protocol, TestCert, TlsHost, peer_cert};
use tokio::io::AsyncReadExt;

const HELLO: &str = "/ingress/api/hello";
const ORDER_EVENTS: &str = "/ingress/api/orders/ORD-123/events";

#[tokio::test(flavor = "multi_thread")]
async fn an_h2_client_negotiates_http2_by_alpn_and_gets_streams_and_json() {
    let cert = TestCert::generate();
    let host = TlsHost::start(&cert, "", &[]).await;
    let client = TlsHost::client(&[&cert], Protocol::Any);

    let sse = client
        .get(host.url(HELLO))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request over TLS");
    assert_eq!(sse.version(), reqwest::Version::HTTP_2, "ALPN picked h2");
    assert_eq!(peer_cert(&sse), cert.der);
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    assert_eq!(sse.text().await.expect("body"), "data: \"Hello world\"\n\n");

    let json = client
        .get(host.url(HELLO))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request over TLS");
    assert_eq!(json.version(), reqwest::Version::HTTP_2);
    assert_eq!(json.status(), 200);
    assert_eq!(json.headers()["content-type"], "application/json");
    assert_eq!(json.text().await.expect("body"), "\"Hello world\"");

    // A live stream over h2 gets what is published after it opened.
    let stream = client
        .get(host.url(ORDER_EVENTS))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream over TLS");
    assert_eq!(stream.version(), reqwest::Version::HTTP_2);
    let mut events = support::Events::new(stream);
    host.wait_for_subscribers(&client, 1).await;
    host.publish(&client, "actors/order/ORD-123", json!({ "seq": 1 }))
        .await;
    let update = events.next().await;
    assert_eq!(update.event, "updated");
    let data: Value = serde_json::from_str(&update.data).expect("json");
    assert_eq!(data["data"]["seq"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http1_client_is_served_over_tls_too() {
    let cert = TestCert::generate();
    let host = TlsHost::start(&cert, "", &[]).await;
    let client = TlsHost::client(&[&cert], Protocol::Http1);
    let sse = client
        .get(host.url(HELLO))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request over TLS");
    assert_eq!(sse.version(), reqwest::Version::HTTP_11);
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    assert_eq!(sse.text().await.expect("body"), "data: \"Hello world\"\n\n");
    let json = client
        .get(host.url(HELLO))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request over TLS");
    assert_eq!(json.version(), reqwest::Version::HTTP_11);
    assert_eq!(json.text().await.expect("body"), "\"Hello world\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let cert = TestCert::generate();
    let host = TlsHost::start(&cert, "", &[]).await;
    let plain = reqwest::Client::new()
        .get(format!("http://{}{HELLO}", host.host.addr))
        .send();
    let answer = tokio::time::timeout(Duration::from_secs(30), plain)
        .await
        .expect("the host answers or closes within 30 s");
    assert!(answer.is_err(), "plain HTTP was served: {answer:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_replaced_on_disk_is_served_to_new_connections_while_old_streams_go_on() {
    let (first, second) = (TestCert::generate(), TestCert::generate());
    let host = TlsHost::start(&first, "", &[]).await;
    let old_client = TlsHost::client(&[&first], Protocol::Any);
    let stream = old_client
        .get(host.url(ORDER_EVENTS))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream over TLS");
    assert_eq!(peer_cert(&stream), first.der);
    let mut events = support::Events::new(stream);
    host.wait_for_subscribers(&old_client, 1).await;

    host.replace_cert(&second);
    // Each attempt is a new client, so a new connection and a new handshake.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let client = TlsHost::client(&[&first, &second], Protocol::Any);
        let response = client
            .get(host.url(HELLO))
            .send()
            .await
            .expect("request over TLS");
        if peer_cert(&response) == second.der {
            break;
        }
        assert_eq!(peer_cert(&response), first.der);
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The stream opened under the first certificate still delivers, on its own connection.
    host.publish(&old_client, "actors/order/ORD-123", json!({ "seq": 7 }))
        .await;
    let update = events.next().await;
    assert_eq!(update.event, "updated");
    let data: Value = serde_json::from_str(&update.data).expect("json");
    assert_eq!(data["data"]["seq"], 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_certificate_on_disk_keeps_the_previous_one_served() {
    let (first, second) = (TestCert::generate(), TestCert::generate());
    let host = TlsHost::start(&first, "", &[]).await;
    // A mismatched pair (the second certificate with the first key) and then a good one.
    let mismatched = TestCert {
        key_pem: first.key_pem.clone(),
        ..TestCert::generate()
    };
    host.replace_cert(&mismatched);
    let client = TlsHost::client(&[&first, &second, &mismatched], Protocol::Any);
    let response = client.get(host.url(HELLO)).send().await.expect("request");
    assert_eq!(peer_cert(&response), first.der);
    host.replace_cert(&second);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let client = TlsHost::client(&[&first, &second, &mismatched], Protocol::Any);
        let response = client.get(host.url(HELLO)).send().await.expect("request");
        let served = peer_cert(&response);
        assert_ne!(
            served, mismatched.der,
            "a pair that does not match was served"
        );
        if served == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the good certificate was not served within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_tls_client_is_cut_by_the_header_read_timeout() {
    let cert = TestCert::generate();
    let host = TlsHost::start(&cert, "headerReadTimeoutSeconds: 1\n", &[]).await;
    // Connected, and no ClientHello ever.
    let mut silent = tokio::net::TcpStream::connect(host.host.addr)
        .await
        .expect("connect");
    let closed = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut [0; 64]))
        .await
        .expect("the host closes the connection within 30 s");
    match closed {
        Ok(0) | Err(_) => {}
        Ok(read) => panic!("the host sent {read} bytes to a client that said nothing"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_does_not_match_its_certificate_stops_the_host_naming_the_file() {
    let (one, other) = (TestCert::generate(), TestCert::generate());
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo written");
    std::fs::write(
        dir.path().join("sluice.yaml"),
        "tls: { certFile: cert.pem, keyFile: key.pem }\n",
    )
    .expect("config");
    std::fs::write(dir.path().join("cert.pem"), &one.cert_pem).expect("cert");
    std::fs::write(dir.path().join("key.pem"), &other.key_pem).expect("key");
    sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
    let err = match sluice::boot(dir.path(), sluice::Listen::ephemeral()).await {
        Ok(_) => panic!("a host started with a key of another certificate"),
        Err(err) => err.to_string(),
    };
    let key_file = dir.path().join("key.pem").display().to_string();
    assert!(err.starts_with(&format!("TLS: {key_file}: ")), "{err}");
    assert!(err.contains("does not match the certificate"), "{err}");
}
