//! `cargo bench -p sluice-host --bench stock`: the source document's live-stock example at
//! 10,000 viewers. The demo's `api/skus/{skuNumber}/stock` runs in its own `sluice serve`
//! process. 10,000 SSE viewers of PROD-001 connect, and each waits for its `init` (a query
//! and an actor call). Then each round POSTs one `reserve 1` and is timed until the last
//! viewer has its `stockUpdated`; the server's CPU time per change comes with it.
//!
//! - `SLUICE_BENCH_VIEWERS=n` sets the number of viewers (default 10,000).
//! - `SLUICE_BENCH_ROUNDS=n` sets the number of changes (default 5).
//! - `SLUICE_BENCH_NO_QUERIES=1` serves the demo without `spec.queries`: every viewer runs
//!   the actor, as before queries existed.
//! - `SLUICE_BENCH_BIN` runs another `sluice` binary, for a before/after figure.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::node::{Node, cpu_time, reqwest_like};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const PATH: &str = "/ingress/api/skus/PROD-001/stock";
/// Viewers connecting at once.
const CONNECTING: usize = 100;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = support::runtime();
    let viewers = setting("SLUICE_BENCH_VIEWERS", 10_000);
    let rounds = setting("SLUICE_BENCH_ROUNDS", 5);
    let without_queries = std::env::var_os("SLUICE_BENCH_NO_QUERIES").is_some();
    runtime.block_on(async {
        let node = Node::start_with(viewers + 100, "", |dir| {
            if without_queries {
                let file = dir.join("actors/sku.yaml");
                let yaml = std::fs::read_to_string(&file).expect("sku.yaml");
                let kept: Vec<&str> = yaml
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("queries:"))
                    .collect();
                std::fs::write(&file, kept.join("\n")).expect("sku.yaml");
            }
        })
        .await;
        println!(
            "live stock, {viewers} viewers of PROD-001{}:",
            if without_queries {
                " (spec.queries removed)"
            } else {
                ""
            }
        );
        let started = Instant::now();
        let mut updates = connect(node.addr, viewers).await;
        println!(
            "  {viewers} viewers connected, each past its init: {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let pids = [node.child.id()];
        let client = reqwest_like::Client::new(node.addr);
        let body = r#"{"commands":[{"type":"reserve","quantity":1}]}"#;
        let (mut last, mut cpu) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let cpu_before = cpu_time(&pids);
            let posted = Instant::now();
            let answer = client.call("POST", PATH, body).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            let mut arrived = 0;
            let mut latest = Duration::ZERO;
            while arrived < viewers {
                let next = tokio::time::timeout(Duration::from_secs(120), updates.recv());
                let (seen, at) = next
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| panic!("round {round}: {arrived} of {viewers} updates"));
                assert_eq!(seen, round, "updates arrive in rounds");
                latest = latest.max(at.duration_since(posted));
                arrived += 1;
            }
            last.push(latest);
            // Let the server finish writing before its CPU time is read.
            tokio::time::sleep(Duration::from_millis(200)).await;
            cpu.push(cpu_time(&pids) - cpu_before);
        }
        support::report(
            "  one stock change until the last viewer has stockUpdated",
            last,
        );
        support::report("  server CPU per change (10 ms ticks)", cpu);
    });
}

/// `viewers` SSE connections to `PATH`, `CONNECTING` at a time; returns once every one has
/// its `init`. Each then reports `(k, when)` for its k-th `stockUpdated`.
async fn connect(addr: SocketAddr, viewers: usize) -> mpsc::UnboundedReceiver<(usize, Instant)> {
    let (updates_tx, updates) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONNECTING));
    let request = format!("GET {PATH} HTTP/1.1\r\nhost: b\r\naccept: text/event-stream\r\n\r\n");
    for _ in 0..viewers {
        let slot = slots.clone().acquire_owned().await.expect("semaphore");
        let (updates_tx, ready_tx, request) =
            (updates_tx.clone(), ready_tx.clone(), request.clone());
        tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(request.as_bytes()).await.expect("request");
            let mut viewer = Viewer::default();
            let mut buffer = vec![0u8; 4096];
            let mut slot = Some(slot);
            let mut head = Vec::new();
            loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if head.len() < 400 {
                    head.extend_from_slice(&buffer[..n.min(400)]);
                }
                if n == 0 {
                    // Past its init, a viewer's stream ends only when the node stops.
                    assert!(
                        slot.is_none(),
                        "the stream ended: {}",
                        String::from_utf8_lossy(&head)
                    );
                    return;
                }
                for event in viewer.events(&buffer[..n]) {
                    match event {
                        Seen::Init => {
                            slot.take();
                            let _ = ready_tx.send(());
                        }
                        Seen::Update(k) => {
                            let _ = updates_tx.send((k, Instant::now()));
                        }
                    }
                }
            }
        });
    }
    for _ in 0..viewers {
        ready.recv().await.expect("an init");
    }
    updates
}

enum Seen {
    Init,
    Update(usize),
}

/// Finds `event: init` and `event: stockUpdated` lines in what one connection reads, across
/// read boundaries.
#[derive(Default)]
struct Viewer {
    line: Vec<u8>,
    updates: usize,
}

impl Viewer {
    fn events(&mut self, bytes: &[u8]) -> Vec<Seen> {
        let mut seen = Vec::new();
        for &byte in bytes {
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            match self.line.as_slice() {
                b"event: init" => seen.push(Seen::Init),
                b"event: stockUpdated" => {
                    self.updates += 1;
                    seen.push(Seen::Update(self.updates));
                }
                _ => {}
            }
            self.line.clear();
        }
        seen
    }
}
