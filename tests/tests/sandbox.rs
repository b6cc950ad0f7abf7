//! No ambient authority (SPEC S5): a component that reaches for the filesystem, the
//! environment, its arguments, the network or `exit` through plain `std` is refused, and
//! nothing happens outside the instance. Clocks are allowed.

mod support;

use std::io::ErrorKind;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::Host;

const PROBES: &str = "uri: /resources/ingresses/sandbox-probes\nspec:\n  type: http\n  componentId: sandbox-probes\n  properties:\n    route: api/probe/{probe}\n    httpMethod: get\n    isPublic: true\n    queryParams: { port: port, path: path, code: code }\n";

const FAILED_JSON: &str =
    r#"{"error":{"code":"COMPONENT_FAILED","message":"the component failed"}}"#;

async fn host() -> Host {
    Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::SANDBOX_PROBES],
        &[("ingresses/sandbox-probes.yaml", PROBES)],
    )
    .await
}

/// Run `probe` (JSON mode) and return its report, which names it.
async fn probe(host: &Host, probe: &str, query: &[(&str, &str)]) -> Value {
    let response = host
        .json(&format!("/ingress/api/probe/{probe}"))
        .query(query)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{probe}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let report: Value = response.json().await.expect("json");
    eprintln!("{report}");
    assert_eq!(report["probe"], probe);
    report
}

/// Assert `report` is a refusal with an error message.
fn assert_refused(report: &Value) {
    assert_eq!(report["outcome"], "refused", "{report}");
    assert!(
        report["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_can_be_neither_read_nor_written_nor_listed() {
    let host = host().await;
    let outside = tempfile::tempdir().expect("temp dir");
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "the host's secret").expect("secret");
    let secret = secret.to_str().expect("utf-8 path");
    let planted = outside.path().join("planted.txt");
    let dir = outside.path().to_str().expect("utf-8 path");

    assert_refused(&probe(&host, "fs-read", &[("path", secret)]).await);
    assert_refused(&probe(&host, "fs-read", &[]).await);
    assert_refused(
        &probe(
            &host,
            "fs-write",
            &[("path", planted.to_str().expect("utf-8"))],
        )
        .await,
    );
    assert!(!planted.exists(), "the component wrote a file on the host");
    assert_refused(&probe(&host, "fs-list", &[("path", dir)]).await);
    assert_refused(&probe(&host, "fs-list", &[]).await);
    assert_refused(&probe(&host, "fs-list", &[("path", ".")]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_environment_and_the_arguments_are_empty() {
    let host = host().await;
    assert!(
        std::env::vars().next().is_some(),
        "the host process has an environment to leak"
    );
    let env = probe(&host, "env", &[]).await;
    assert_eq!(env["found"], serde_json::json!([]), "{env}");
    let args = probe(&host, "args", &[]).await;
    assert_eq!(args["found"], serde_json::json!([]), "{args}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sockets_and_name_lookups_are_refused_and_nothing_reaches_the_network() {
    let host = host().await;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp listener");
    tcp.set_nonblocking(true).expect("nonblocking");
    let tcp_port = tcp.local_addr().expect("addr").port().to_string();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    udp.set_nonblocking(true).expect("nonblocking");
    let udp_port = udp.local_addr().expect("addr").port().to_string();

    assert_refused(&probe(&host, "tcp-connect", &[("port", &tcp_port)]).await);
    assert_refused(&probe(&host, "tcp-listen", &[]).await);
    assert_refused(&probe(&host, "udp", &[("port", &udp_port)]).await);
    assert_refused(&probe(&host, "dns", &[]).await);

    // The probes finished before their responses; a connection or datagram that got
    // through would be waiting by now. Give the loopback a moment anyway.
    tokio::time::sleep(Duration::from_millis(100)).await;
    match tcp.accept() {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
    let mut datagram = [0u8; 64];
    match udp.recv_from(&mut datagram) {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the socket got a datagram: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_ends_only_its_instance_and_the_host_keeps_serving() {
    let host = host().await;
    for (accept, code) in [
        ("application/json", "0"),
        ("application/json", "3"),
        ("text/event-stream", "0"),
    ] {
        let response = host
            .client
            .get(host.url("/ingress/api/probe/exit"))
            .query(&[("code", code)])
            .header("accept", accept)
            .send()
            .await
            .expect("request");
        // Before the stream starts, so an ordinary HTTP error in SSE mode too.
        assert_eq!(response.status(), 500, "{accept} exit({code})");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.expect("body"), FAILED_JSON);
    }
    // Still serving: this process (the host's) is alive and answers.
    let hello = host
        .sse("/ingress/api/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(
        hello.text().await.expect("body"),
        "data: \"Hello world\"\n\n"
    );
    host.assert_instances_released().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clock_is_allowed() {
    let host = host().await;
    let report = probe(&host, "clock", &[]).await;
    assert_eq!(report["outcome"], "allowed");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let seen = report["found"].as_u64().expect("seconds");
    assert!(now.abs_diff(seen) < 60, "guest clock {seen}, host {now}");
}

/// Every connection gets a fresh instance: however the pool reset the slot an earlier
/// instance used (its written pages are restored in place, not handed back to the kernel),
/// nothing that instance wrote is left, in the memory image or beyond it.
#[tokio::test(flavor = "multi_thread")]
async fn no_instance_finds_what_an_earlier_one_wrote() {
    let host = host().await;
    let fresh =
        serde_json::json!({ "earlierRuns": 0, "imageChanged": false, "zeroedChanged": false });
    // One after another, so each takes the slot the one before it freed.
    for _ in 0..20 {
        let report = probe(&host, "leftovers", &[]).await;
        assert_eq!(report["found"], fresh, "{report}");
        assert_eq!(report["outcome"], "refused", "{report}");
    }
    // Then several at once, over slots earlier ones used.
    let reports = futures::future::join_all((0..8).map(|_| probe(&host, "leftovers", &[]))).await;
    for report in reports {
        assert_eq!(report["found"], fresh, "{report}");
    }
}
