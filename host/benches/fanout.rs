//! `cargo bench -p sluice-host --bench fanout`: how long one event takes to reach every one
//! of 10,000 connected SSE subscribers, and how many events per second one stream carries;
//! first on the embedded bus (one node), then over NATS JetStream (`SLUICE_TEST_NATS_URL`,
//! default nats://127.0.0.1:4222; a stream of its own, deleted afterwards): the subscribers
//! spread over two nodes and the event published through a third.
//!
//! Each node runs as its own `sluice serve` process: 10,000 client sockets plus 10,000 server
//! sockets would not fit under one process's 20,000 open files.
//!
//! `SLUICE_BENCH_ONLY=nchan|embedded|jetstream` runs one part (to profile it, say),
//! `SLUICE_BENCH_ONLY=stream` only the embedded bus's one stream, and
//! `SLUICE_BENCH_ROUNDS=n` publishes `n` events instead of 5.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sluice::backends::bus::jetstream::Storage;
use sluice::backends::bus::{JetStreamBus, JetStreamConfig};
use support::node::{Node, cpu_time, reqwest_like, stat_fields, wait_until_listening};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const SUBSCRIBERS: usize = 10_000;
const ROUNDS: usize = 5;

/// `SLUICE_BENCH_ROUNDS`, else `ROUNDS`.
fn rounds() -> usize {
    std::env::var("SLUICE_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS)
}
const STREAM_EVENTS: u64 = 50_000;

fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = support::runtime();
    let only = std::env::var("SLUICE_BENCH_ONLY").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|only| only == part);
    runtime.block_on(async {
        if runs("nchan") {
            println!("nchan, the reference (one nginx, default worker count):");
            fan_out_nchan().await;
        }
        if runs("embedded") {
            println!("embedded bus (one node):");
            let node = Node::start(SUBSCRIBERS + 100, "").await;
            fan_out(&[&node], &node).await;
            drop(node);
        }
        if runs("embedded") || runs("stream") {
            one_stream("").await;
        }
        if !runs("jetstream") {
            return;
        }

        let nats = std::env::var("SLUICE_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut config = JetStreamConfig::new(&nats, format!("BENCH_{id}"));
        config.subject_prefix = format!("b{id}");
        config.storage = Storage::Memory;
        config.max_bytes = 256 << 20;
        let bus = match JetStreamBus::connect(config.clone()).await {
            Ok(bus) => bus,
            Err(err) => {
                println!("JetStream: skipped, NATS at {nats} is not reachable ({err})");
                return;
            }
        };
        let bus_yaml = format!(
            "bus: {{ url: {:?}, stream: {}, subjectPrefix: {}, storage: memory, maxBytes: {} }}\n",
            config.url, config.stream, config.subject_prefix, config.max_bytes
        );
        println!("NATS JetStream (subscribers on two nodes, published through a third):");
        let nodes = [
            Node::start(SUBSCRIBERS + 100, &bus_yaml).await,
            Node::start(SUBSCRIBERS + 100, &bus_yaml).await,
            Node::start(SUBSCRIBERS + 100, &bus_yaml).await,
        ];
        fan_out(&[&nodes[0], &nodes[1]], &nodes[2]).await;
        drop(nodes);
        one_stream(&bus_yaml).await;
        bus.delete_stream().await.expect("delete the bench stream");
    });
}

/// `SUBSCRIBERS` SSE clients spread evenly over `nodes`, then `rounds()` events published
/// through `publisher`, each timed until the last subscriber has it.
async fn fan_out(nodes: &[&Node], publisher: &Node) {
    let addrs: Vec<SocketAddr> = nodes.iter().map(|node| node.addr).collect();
    let mut subscribers = Subscribers::connect(&addrs, "/ingress/api/orders/ORD-F/events").await;
    let per_node = SUBSCRIBERS / nodes.len();
    for node in nodes {
        let client = reqwest_like::Client::new(node.admin);
        while client.subscribers().await < per_node {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let pids: Vec<u32> = nodes.iter().map(|node| node.child.id()).collect();
    let guest_cpu = async || {
        let mut seconds = 0.0;
        for node in nodes {
            seconds += reqwest_like::Client::new(node.admin)
                .guest_cpu_seconds()
                .await;
        }
        seconds
    };
    let guest_before = guest_cpu().await;
    let publisher = reqwest_like::Client::new(publisher.admin);
    subscribers
        .rounds(&pids, async |round| publisher.publish(round).await)
        .await;
    let per_event = (guest_cpu().await - guest_before) / rounds() as f64 / SUBSCRIBERS as f64;
    println!(
        "    inside guest calls (sluice_guest_cpu_seconds_total): {:.1} µs per delivered event",
        per_event * 1e6
    );
}

/// The same measurement against nchan (Debian's `libnginx-mod-nchan`, nginx's default worker
/// count, `nchan_subscriber eventsource`), when it is installed.
async fn fan_out_nchan() {
    let Some(nchan) = Nchan::start() else {
        println!("nchan: skipped, no /usr/sbin/nginx with {NCHAN_MODULE}");
        return;
    };
    let addr = wait_until_listening(nchan.addr).await;
    let mut subscribers = Subscribers::connect(&[addr], "/sub/ORDF").await;
    let pids = nchan.pids();
    subscribers
        .rounds(&pids, async |round| {
            let body = format!("{{\"round\":{round}}}");
            let response = reqwest_like::Client::new(addr)
                .call("POST", "/pub/ORDF", &body)
                .await;
            assert!(response.starts_with("HTTP/1.1 20"), "{response}");
        })
        .await;
}

const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// nginx with nchan in the foreground, on a free port; killed on drop.
struct Nchan {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nchan {
    fn start() -> Option<Self> {
        if !std::path::Path::new(NCHAN_MODULE).exists()
            || !std::path::Path::new("/usr/sbin/nginx").exists()
        {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr");
        let d = dir.path().display();
        let config = format!(
            "load_module {NCHAN_MODULE};\ndaemon off;\nworker_processes auto;\n\
             worker_rlimit_nofile 30000;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 20000; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             server {{\n    listen {addr};\n\
             location ~ /sub/(\\w+)$ {{ nchan_subscriber eventsource; nchan_channel_id $1; }}\n\
             location ~ /pub/(\\w+)$ {{ nchan_publisher; nchan_channel_id $1; }}\n  }}\n}}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config).expect("nginx.conf");
        let child = std::process::Command::new("/usr/sbin/nginx")
            .args(["-p", &d.to_string(), "-c", &conf.display().to_string()])
            .spawn()
            .expect("nginx");
        Some(Self {
            child,
            addr,
            _dir: dir,
        })
    }

    /// The master and its workers.
    fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // Field 4 of /proc/<pid>/stat is the parent's pid.
            let parent = stat_fields(pid).get(1).and_then(|p| p.parse::<u32>().ok());
            if parent == Some(master) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Nchan {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Raw HTTP/1.1 SSE clients, each reporting when an event with `"round":` reaches it.
struct Subscribers {
    seen: mpsc::UnboundedReceiver<(usize, Instant)>,
    /// The clients; dropping them closes every connection.
    _clients: tokio::task::JoinSet<()>,
}

impl Subscribers {
    /// `SUBSCRIBERS` connections spread evenly over `addrs`, each asking for `path`; returns
    /// once every one has its response head.
    async fn connect(addrs: &[SocketAddr], path: &str) -> Self {
        let (seen_tx, seen) = mpsc::unbounded_channel::<(usize, Instant)>();
        let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: b\r\naccept: text/event-stream\r\n\r\n");
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..SUBSCRIBERS {
            let mut stream = TcpStream::connect(addrs[i % addrs.len()])
                .await
                .expect("connect");
            stream.write_all(request.as_bytes()).await.expect("request");
            let (seen_tx, ready_tx) = (seen_tx.clone(), ready_tx.clone());
            clients.spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let mut round = 0;
                let mut head = true;
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    if head {
                        head = false;
                        assert!(buffer.starts_with(b"HTTP/1.1 200"), "not a stream");
                        let _ = ready_tx.send(());
                    }
                    // Every event carries `"round":<k>`; one read holds at most one event here.
                    if buffer[..n].windows(8).any(|w| w == b"\"round\":") {
                        round += 1;
                        let _ = seen_tx.send((round, Instant::now()));
                    }
                }
            });
        }
        for _ in 0..SUBSCRIBERS {
            ready.recv().await.expect("a response head");
        }
        Self {
            seen,
            _clients: clients,
        }
    }

    /// `rounds()` events, each published by `publish(round)` and timed until the last
    /// subscriber has it; with the CPU time the server processes `pids` used per event.
    async fn rounds(&mut self, pids: &[u32], publish: impl AsyncFn(usize)) {
        let mut all_reached = Vec::new();
        let mut median_client = Vec::new();
        let mut cpu = Vec::new();
        for round in 1..=rounds() {
            let cpu_before = cpu_time(pids);
            let published = Instant::now();
            publish(round).await;
            let mut arrivals = Vec::with_capacity(SUBSCRIBERS);
            while arrivals.len() < SUBSCRIBERS {
                // A stream that ended early would otherwise leave the bench waiting forever.
                let next = tokio::time::timeout(Duration::from_secs(60), self.seen.recv());
                let (r, at) = next.await.ok().flatten().unwrap_or_else(|| {
                    panic!(
                        "round {round}: {} of {SUBSCRIBERS} subscribers had the event after 60 s",
                        arrivals.len()
                    )
                });
                assert_eq!(r, round, "events arrive in rounds");
                arrivals.push(at.duration_since(published));
            }
            arrivals.sort();
            median_client.push(arrivals[arrivals.len() / 2]);
            all_reached.push(arrivals[arrivals.len() - 1]);
            // Let the servers finish writing before their CPU time is read.
            tokio::time::sleep(Duration::from_millis(200)).await;
            cpu.push(cpu_time(pids) - cpu_before);
        }
        support::report(
            &format!("  one event reaching all {SUBSCRIBERS} subscribers (per round)"),
            all_reached,
        );
        support::report("    of which the median subscriber", median_client);
        support::report("    server CPU per event (10 ms ticks)", cpu);
    }
}

/// Events per second through one SSE stream, on the bus `bus_yaml` configures (the embedded
/// one when empty), with the host booted in this process so publishes skip HTTP.
async fn one_stream(bus_yaml: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    std::fs::write(dir.path().join("sluice.yaml"), bus_yaml).expect("config");
    let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
        .await
        .expect("boot");
    let addr = booted.server.local_addr().expect("addr");
    let app = booted.server.app().clone();
    tokio::spawn(booted.server.run(std::future::pending()));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /ingress/api/orders/ORD-T/events HTTP/1.1\r\nhost: b\r\naccept: text/event-stream\r\n\r\n")
        .await
        .expect("request");
    while app.backends.bus.subscriber_count() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // How many events the client has: publishers wait on it (a wake-up when it moves, not
    // a spin that would take the CPU the stream is measured on).
    let (received, progress) = tokio::sync::watch::channel(0u64);
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        const MARKER: &[u8] = b"event: updated\n";
        let mut buffer = vec![0u8; 64 * 1024];
        let mut window = Vec::new();
        let mut events = 0u64;
        while events < STREAM_EVENTS {
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "stream ended");
            // Keep the tail of the previous read: a marker may span two reads.
            window.extend_from_slice(&buffer[..n]);
            events += window
                .windows(MARKER.len())
                .filter(|w| *w == MARKER)
                .count() as u64;
            let keep = window.len().min(MARKER.len() - 1);
            window.drain(..window.len() - keep);
            received.send_replace(events);
        }
    });
    // Up to 32 publishes in flight (each returns once the bus has stored its event), and at
    // most 512 events ahead of the client: that measures what one stream sustains without
    // tripping the bus's slow-consumer limit (1,024 buffered events).
    futures::stream::iter(0..STREAM_EVENTS)
        .for_each_concurrent(32, |n| {
            let (app, mut progress) = (app.clone(), progress.clone());
            async move {
                progress
                    .wait_for(|received| n < received + 512)
                    .await
                    .expect("the reader runs until the last event");
                app.backends
                    .bus
                    .publish(
                        "actors/order/ORD-T",
                        "checkpoint",
                        &serde_json::json!({ "n": n }),
                        None,
                    )
                    .await
                    .expect("publish");
            }
        })
        .await;
    reader.await.expect("reader");
    let elapsed = started.elapsed();
    println!(
        "  events through one SSE stream: {STREAM_EVENTS} in {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        STREAM_EVENTS as f64 / elapsed.as_secs_f64()
    );
}
