//! The bus of a cluster: real `sluice serve` processes (each on its own port with its own
//! SQLite store) sharing one JetStream stream. Streams are read over HTTP and parsed by an
//! independent SSE parser (`eventsource-stream`).

#[allow(dead_code)]
mod bus;
mod logged;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use logged::logged_addr;
use serde_json::{Value, json};
use sluice::backends::bus::JetStreamConfig;

/// A `sluice serve` process, killed on drop.
struct Node {
    child: Child,
    addr: SocketAddr,
    /// The admin listener (`--admin-listen`): metrics and publish.
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// The demo served with `bus` as its `bus:` section.
async fn start_node(bus: &JetStreamConfig) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    let yaml = format!(
        "store: sluice.db\nbus: {{ url: {:?}, stream: {}, subjectPrefix: {}, storage: {}, maxBytes: {}, connectTimeoutSeconds: 5 }}\n",
        bus.url,
        bus.stream,
        bus.subject_prefix,
        match bus.storage {
            sluice::backends::bus::jetstream::Storage::File => "file",
            sluice::backends::bus::jetstream::Storage::Memory => "memory",
        },
        bus.max_bytes,
    );
    std::fs::write(dir.path().join("sluice.yaml"), yaml).expect("config");
    // The node binds free ports itself and logs them: a port found free here could be taken,
    // by another test's outgoing connection say, before the node binds it.
    let log_path = dir.path().join("node.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            &dir.path().display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        // Logs go to stdout, errors to stderr: both into the log.
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("sluice serve");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (addr, admin) = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            panic!("node exited with {status}:\n{log}");
        }
        if let (Some(addr), Some(admin)) = (
            logged_addr(&log, "sluice is serving"),
            logged_addr(&log, "admin endpoints listening"),
        ) && get_json(admin, "/_sluice/metrics").await.is_some()
        {
            break (addr, admin);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("node never answered:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Node {
        child,
        addr,
        admin,
        _dir: dir,
    }
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let response = client()
        .get(format!("http://{addr}{path}").parse().ok()?)
        .await
        .ok()?;
    let body = response.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

async fn subscribers(addr: SocketAddr) -> u64 {
    get_json(addr, "/_sluice/metrics")
        .await
        .and_then(|m| m["busSubscribers"].as_u64())
        .unwrap_or(0)
}

/// Publish through `addr`'s admin endpoint; the bus id, or the HTTP status when refused.
async fn publish(addr: SocketAddr, topic: &str, data: Value) -> Result<u64, u16> {
    let body = json!({"topic": topic, "event": "checkpoint", "data": data}).to_string();
    let request = hyper::Request::post(format!("http://{addr}/_sluice/publish"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client().request(request).await.map_err(|_| 0u16)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| status)?
        .to_bytes();
    let value: Value = serde_json::from_slice(&body).map_err(|_| status)?;
    value["id"].as_u64().ok_or(status)
}

type Events = std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>;

/// Open the resumable order stream on `addr`, optionally resuming after `last_id`.
async fn open(addr: SocketAddr, order: &str, last_id: Option<u64>) -> Result<Events, u16> {
    let mut request = hyper::Request::get(format!(
        "http://{addr}/ingress/api/orders/{order}/resumable-events"
    ))
    .header("accept", "text/event-stream");
    if let Some(id) = last_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = client()
        .request(request.body(Full::new(Bytes::new())).expect("request"))
        .await
        .map_err(|_| 0u16)?;
    if response.status() != 200 {
        return Err(response.status().as_u16());
    }
    let body = response.into_body().into_data_stream();
    Ok(Box::pin(
        body.eventsource()
            .filter_map(|event| async move { event.ok() }),
    ))
}

/// The next `updated` event's bus id, or `None` when the stream ended or sent an error.
async fn next_update(events: &mut Events) -> Option<u64> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .expect("an event within 60 s")?;
        match event.event.as_str() {
            "updated" => return Some(event.id.parse().expect("bus id as SSE id")),
            "error" => return None,
            _ => continue,
        }
    }
}

/// Skip (or, under CI, fail) when NATS is not reachable; returns a config for a fresh stream.
async fn cluster_config() -> Option<(JetStreamConfig, sluice::backends::bus::JetStreamBus)> {
    let config = bus::unique_config(&bus::nats_url());
    let admin = bus::connect_or_skip(config.clone()).await?;
    Some((config, admin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_node_a_receives_events_published_through_node_b() {
    let Some((config, admin)) = cluster_config().await else {
        return;
    };
    let (a, b) = tokio::join!(start_node(&config), start_node(&config));
    let mut events = open(a.addr, "ORD-AB", None).await.expect("stream on A");
    let deadline = Instant::now() + Duration::from_secs(30);
    while subscribers(a.admin).await < 1 {
        assert!(Instant::now() < deadline, "no subscriber on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Through the CLI, as an operator would.
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "publish",
            "--topic",
            "actors/order/ORD-AB",
            "--event",
            "checkpoint",
        ])
        .args([
            "--data",
            r#"{"via":"cli"}"#,
            "--server",
            &format!("http://{}", b.admin),
        ])
        .output()
        .expect("sluice publish");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli: Value = serde_json::from_slice(&output.stdout).expect("publish answer");
    let second = publish(b.admin, "actors/order/ORD-AB", json!({"via": "admin"}))
        .await
        .expect("publish");
    assert_eq!(next_update(&mut events).await, cli["id"].as_u64());
    assert_eq!(next_update(&mut events).await, Some(second));
    drop((a, b));
    admin.delete_stream().await.expect("stream deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_killed_node_resumes_on_another_with_every_missed_event_once() {
    let Some((config, admin)) = cluster_config().await else {
        return;
    };
    let (mut a, b) = tokio::join!(start_node(&config), start_node(&config));
    let topic = "actors/order/ORD-KILL";
    let mut events = open(a.addr, "ORD-KILL", None).await.expect("stream on A");
    let deadline = Instant::now() + Duration::from_secs(30);
    while subscribers(a.admin).await < 1 {
        assert!(Instant::now() < deadline, "no subscriber on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A publisher keeps going through B for the whole test.
    let publisher = {
        let b = b.admin;
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..120 {
                ids.push(publish(b, topic, json!({ "n": n })).await.expect("publish"));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ids
        })
    };
    let mut received = Vec::new();
    for _ in 0..10 {
        received.push(next_update(&mut events).await.expect("an update from A"));
    }
    let killed = Command::new("kill")
        .args(["-KILL", &a.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = a.child.wait();
    // Whatever A managed to send before dying counts as received.
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), events.next()).await {
        if event.event == "updated" {
            received.push(event.id.parse().expect("id"));
        }
    }
    let last = *received.last().expect("some events");
    let mut resumed = open(b.addr, "ORD-KILL", Some(last))
        .await
        .expect("stream on B");
    let published = publisher.await.expect("publisher");
    let missed: Vec<u64> = published.iter().copied().filter(|id| *id > last).collect();
    assert!(!missed.is_empty(), "events were published after the kill");
    for expected in &missed {
        let got = next_update(&mut resumed)
            .await
            .expect("resumed stream goes on");
        assert_eq!(got, *expected, "every missed event once, in order");
    }
    let extra = tokio::time::timeout(Duration::from_millis(500), resumed.next()).await;
    assert!(
        !matches!(&extra, Ok(Some(e)) if e.event == "updated"),
        "nothing after the last: {extra:?}"
    );
    assert_eq!(
        received,
        published[..received.len()],
        "A delivered a prefix, in order"
    );
    drop(b);
    admin.delete_stream().await.expect("stream deleted");
}

#[tokio::test]
async fn a_node_that_cannot_reach_nats_at_start_says_so_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    let closed = free_port();
    std::fs::write(
        dir.path().join("sluice.yaml"),
        format!("bus: {{ url: \"nats://{closed}\", connectTimeoutSeconds: 2 }}\n"),
    )
    .expect("config");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "serve",
                &dir.path().display().to_string(),
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .output()
            .expect("sluice serve")
    })
    .await
    .expect("join");
    assert!(!output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("event bus") && stderr.contains(&closed.to_string()),
        "names the bus and its address: {stderr}"
    );
}

/// A private `nats-server` (its own port and store directory), stopped on drop.
struct PrivateNats {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl PrivateNats {
    fn start() -> Option<PrivateNats> {
        let store = tempfile::tempdir().expect("store dir");
        let port = free_port().port();
        let mut nats = PrivateNats {
            child: None,
            port,
            store,
        };
        nats.child = Some(nats.spawn()?);
        Some(nats)
    }

    fn spawn(&self) -> Option<Child> {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-sd", &self.store.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(err) if std::env::var_os("CI").is_some() => {
                panic!("nats-server is required under CI: {err}")
            }
            Err(err) => {
                eprintln!("\n*** SKIPPED: cannot start nats-server ({err}) ***\n");
                return None;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "private nats-server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(child)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.child = Some(self.spawn().expect("nats-server restarts"));
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Publish, retrying while the bus is unavailable (503) until `deadline`.
async fn publish_retrying(addr: SocketAddr, topic: &str, data: Value) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match publish(addr, topic, data.clone()).await {
            Ok(id) => return id,
            Err(status) => {
                assert!(
                    status == 503 || status == 0,
                    "publish refused with {status}"
                );
                assert!(Instant::now() < deadline, "publish never succeeded again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_survive_a_nats_restart_without_losing_history() {
    let Some(mut nats) = PrivateNats::start() else {
        return;
    };
    let mut config = bus::unique_config(&nats.url());
    config.storage = sluice::backends::bus::jetstream::Storage::File;
    config.max_bytes = 64 << 20;
    let (a, b) = tokio::join!(start_node(&config), start_node(&config));
    let topic = "actors/order/ORD-NATS";
    let mut events = open(a.addr, "ORD-NATS", None).await.expect("stream on A");
    let deadline = Instant::now() + Duration::from_secs(30);
    while subscribers(a.admin).await < 1 {
        assert!(Instant::now() < deadline, "no subscriber on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut published = Vec::new();
    for n in 0..5 {
        published.push(publish_retrying(b.admin, topic, json!({ "n": n })).await);
    }
    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(next_update(&mut events).await.expect("before the restart"));
    }
    nats.restart();
    for n in 5..15 {
        published.push(publish_retrying(b.admin, topic, json!({ "n": n })).await);
    }
    // The stream either resumes, or ends with an error event; then reconnecting (with the
    // last id) succeeds once NATS answers again.
    while received.len() < published.len() {
        match next_update(&mut events).await {
            Some(id) => received.push(id),
            None => {
                let last = received.last().copied();
                let deadline = Instant::now() + Duration::from_secs(90);
                events = loop {
                    match open(a.addr, "ORD-NATS", last).await {
                        Ok(events) => break events,
                        Err(status) => {
                            assert!(
                                Instant::now() < deadline,
                                "reconnect kept failing: {status}"
                            );
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                };
            }
        }
    }
    assert_eq!(
        received, published,
        "nothing lost or repeated across the restart"
    );
    drop((a, b));
}
