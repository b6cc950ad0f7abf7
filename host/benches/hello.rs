//! `cargo bench -p sluice-host --bench hello`: instantiation time, time to the first SSE
//! byte for the `hello` ingress, and resident memory per idle SSE connection.
//!
//! Numbers, not assertions: read them, compare them across changes.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use sluice::backends::actors::NoActors;
use sluice::backends::bus::memory::{InMemoryBus, InMemoryBusConfig};
use sluice::backends::store::sqlite::SqliteStore;
use sluice::capabilities::{Acl, Backends, IngressContext};
use sluice::runtime::{Runtime, RuntimeConfig};

const INSTANTIATIONS: usize = 5_000;
const REQUESTS: usize = 2_000;
const IDLE_CONNECTIONS: usize = 1_000;

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        instantiation().await;
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo");
        time_to_first_byte(dir.path()).await;
        idle_connection_memory(dir.path()).await;
    });
}

async fn instantiation() {
    let wasm = sluice::deploy::demo::COMPONENTS
        .iter()
        .find(|(id, _)| *id == "hello")
        .map(|(_, wasm)| *wasm)
        .expect("hello component");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let prepared = runtime.prepare(wasm).expect("hello prepares");
    let bus = Arc::new(InMemoryBus::new(InMemoryBusConfig::default()));
    let context = Arc::new(IngressContext {
        ingress_id: "bench".into(),
        acl: Acl::default(),
        backends: Backends {
            actors: Arc::new(NoActors),
            bus,
            store: Arc::new(SqliteStore::open_in_memory().expect("store")),
        },
        max_memory: None,
    });
    let mut samples = Vec::with_capacity(INSTANTIATIONS);
    for _ in 0..INSTANTIATIONS {
        let slot = runtime.reserve(prepared.needs).expect("slot");
        let started = Instant::now();
        let instance = runtime
            .instantiate(&prepared.pre, context.clone(), slot)
            .await
            .expect("instance");
        samples.push(started.elapsed());
        drop(instance);
    }
    support::report("instantiate hello (fresh Store + instance)", samples);
}

async fn start(dir: &std::path::Path) -> SocketAddr {
    let booted = sluice::boot(dir, sluice::Listen::ephemeral())
        .await
        .expect("boot");
    let addr = booted.server.local_addr().expect("addr");
    tokio::spawn(booted.server.run(std::future::pending()));
    addr
}

async fn time_to_first_byte(dir: &std::path::Path) {
    let addr = start(dir).await;
    let request = b"GET /ingress/api/hello HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\nconnection: close\r\n\r\n";
    let mut samples = Vec::with_capacity(REQUESTS);
    let mut buffer = vec![0u8; 4096];
    for _ in 0..REQUESTS {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let started = Instant::now();
        stream.write_all(request).await.expect("write");
        // Until the first byte of the event itself, not just the headers.
        let mut seen = Vec::new();
        while !seen.windows(6).any(|w| w == b"data: ") {
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "connection closed early");
            seen.extend_from_slice(&buffer[..n]);
        }
        samples.push(started.elapsed());
    }
    support::report(
        "time to first SSE event byte, hello (new connection each)",
        samples,
    );
}

async fn idle_connection_memory(dir: &std::path::Path) {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            &dir.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            &admin.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("sluice serve");
    // The demo's sluice.yaml does not say 127.0.0.1:0, so find the port from /proc.
    let addr = wait_for_listen_port(server.id(), admin.port()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(server.id());
    let mut connections = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /ingress/api/orders/ORD-{i}/events HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut head = vec![0u8; 1024];
        let n = stream.read(&mut head).await.expect("headers");
        assert!(
            head[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head[..n])
        );
        connections.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.id());
    println!(
        "RSS with {IDLE_CONNECTIONS} idle SSE connections: {} KiB -> {} KiB, {:.1} KiB per connection",
        before,
        after,
        (after - before) as f64 / IDLE_CONNECTIONS as f64
    );
    drop(connections);
    let _ = server.kill();
    let _ = server.wait();
}

fn rss_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The TCP port process `pid` listens on other than `admin`, from /proc/net/tcp and its
/// socket inodes.
async fn wait_for_listen_port(pid: u32, admin: u16) -> SocketAddr {
    for _ in 0..200 {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|entries| {
                entries
                    .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                    .filter_map(|link| {
                        let link = link.to_string_lossy().into_owned();
                        Some(
                            link.strip_prefix("socket:[")?
                                .trim_end_matches(']')
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State 0A is LISTEN.
            if fields.len() > 9
                && fields[3] == "0A"
                && inodes.iter().any(|inode| inode == fields[9])
            {
                let port = u16::from_str_radix(fields[1].rsplit(':').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                if port != admin {
                    return SocketAddr::from(([127, 0, 0, 1], port));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sluice never started listening");
}
