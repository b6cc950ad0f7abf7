//! `cargo bench -p sluice-host --bench requests`: the cost of a fresh instance per request.
//! The demo's `hello` runs in its own `sluice serve` process, and 50 clients in this one:
//!
//! - **New SSE connections**: each client connects, reads until the first `data:` line and
//!   closes, over and over. Every connection instantiates the component afresh.
//! - **JSON requests**: each client keeps one connection alive and sends `GET`s one after
//!   another. Every request instantiates the component afresh too.
//!
//! For each: the rate, the server's CPU time per connection or request, and its minor page
//! faults per connection or request (a reused pool slot whose pages stayed mapped takes none).
//! `SLUICE_BENCH_BIN` runs another `sluice` binary, for a before/after figure.
//!
//! The reference, when `wasmtime` is on `PATH` (or named by `SLUICE_BENCH_WASMTIME`): the same
//! JSON requests to `wasmtime serve`, default settings, running the same answer written as a
//! wasi:http component (`benches/wasi-http-hello`, built here on first use).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::node::{Node, cpu_time, stat_fields, wait_until_listening};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATH: &str = "/ingress/api/hello";
const CLIENTS: usize = 50;
const WARM_UP: usize = 1_000;
const CONNECTIONS: usize = 20_000;
const REQUESTS: usize = 100_000;

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        let node = Node::start(1_000, "").await;
        let pid = node.child.id();
        println!("hello, {CLIENTS} concurrent clients:");

        run_clients(node.addr, WARM_UP, sse_connection).await;
        let (took, latencies) =
            Measured::run(pid, || run_clients(node.addr, CONNECTIONS, sse_connection)).await;
        took.print(
            "new SSE connections (connect, first event, close)",
            CONNECTIONS,
            "connection",
        );
        support::report("    connect until the first event", latencies);

        run_clients(node.addr, WARM_UP, json_requests).await;
        let (took, latencies) =
            Measured::run(pid, || run_clients(node.addr, REQUESTS, json_requests)).await;
        took.print("JSON requests (keep-alive)", REQUESTS, "request");
        support::report("    request until the whole response", latencies);
        drop(node);

        let Some(reference) = WasmtimeServe::start() else {
            println!("wasmtime serve: skipped, no `wasmtime` on PATH or in SLUICE_BENCH_WASMTIME");
            return;
        };
        let addr = wait_until_listening(reference.addr).await;
        println!("wasmtime serve, the reference (same answer as a wasi:http component):");
        run_clients(addr, WARM_UP, json_requests).await;
        let pid = reference.child.id();
        let (took, latencies) =
            Measured::run(pid, || run_clients(addr, REQUESTS, json_requests)).await;
        took.print("JSON requests (keep-alive)", REQUESTS, "request");
        support::report("    request until the whole response", latencies);
    });
}

/// `wasmtime serve` on a free port with `benches/wasi-http-hello`; killed on drop.
struct WasmtimeServe {
    child: Child,
    addr: SocketAddr,
}

impl WasmtimeServe {
    fn start() -> Option<Self> {
        let wasmtime = std::env::var("SLUICE_BENCH_WASMTIME").unwrap_or_else(|_| "wasmtime".into());
        let version = Command::new(&wasmtime).arg("--version").output().ok()?;
        println!("{}", String::from_utf8_lossy(&version.stdout).trim());
        let component = build_reference();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let child = Command::new(&wasmtime)
            // Rust's std on wasm32-wasip2 imports wasi:cli, which `serve` grants only when asked.
            .args(["serve", "-S", "cli=y", "--addr", &addr.to_string()])
            .arg(&component)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("wasmtime serve");
        Some(Self { child, addr })
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Build `benches/wasi-http-hello` for wasm32-wasip2; the path of the component.
fn build_reference() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/wasi-http-hello");
    let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasi-http-hello");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("cargo");
    assert!(status.success(), "building benches/wasi-http-hello failed");
    target_dir.join("wasm32-wasip2/release/wasi_http_hello.wasm")
}

/// Wall time, server CPU and server minor faults over one run.
struct Measured {
    wall: Duration,
    cpu: Duration,
    faults: u64,
}

impl Measured {
    /// Measure `body`, passing on what it returns.
    async fn run<T, F: Future<Output = T>>(pid: u32, body: impl FnOnce() -> F) -> (Self, T) {
        let (cpu, faults, started) = (cpu_time(&[pid]), minor_faults(pid), Instant::now());
        let output = body().await;
        let measured = Self {
            wall: started.elapsed(),
            cpu: cpu_time(&[pid]) - cpu,
            faults: minor_faults(pid) - faults,
        };
        (measured, output)
    }

    fn print(&self, what: &str, count: usize, each: &str) {
        println!(
            "  {what}: {count} in {:.2} s = {:.0}/s; server CPU {:.1} µs per {each}; {:.2} minor faults per {each}",
            self.wall.as_secs_f64(),
            count as f64 / self.wall.as_secs_f64(),
            self.cpu.as_secs_f64() * 1e6 / count as f64,
            self.faults as f64 / count as f64,
        );
    }
}

/// `minflt`, field 10 of `/proc/<pid>/stat`.
fn minor_faults(pid: u32) -> u64 {
    stat_fields(pid)
        .get(7)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0)
}

/// `total` units of work shared by [`CLIENTS`] clients, each running `client` until the
/// shared count runs out; how long each unit took.
async fn run_clients<F>(
    addr: SocketAddr,
    total: usize,
    client: fn(SocketAddr, Arc<Work>) -> F,
) -> Vec<Duration>
where
    F: Future<Output = Vec<Duration>> + Send + 'static,
{
    let work = Arc::new(Work(AtomicUsize::new(total)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(addr, work.clone())))
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    latencies
}

/// Units of work left, taken one at a time by the clients.
struct Work(AtomicUsize);

impl Work {
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

async fn sse_connection(addr: SocketAddr, work: Arc<Work>) -> Vec<Duration> {
    let request =
        format!("GET {PATH} HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n");
    let mut buffer = vec![0u8; 4096];
    let mut latencies = Vec::new();
    while work.take() {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut seen = 0;
        loop {
            let n = stream.read(&mut buffer[seen..]).await.expect("read");
            assert!(n > 0, "connection closed before the first event");
            seen += n;
            if buffer[..seen].windows(6).any(|w| w == b"data: ") {
                break;
            }
            assert!(seen < buffer.len(), "no event in the first 4 KiB");
        }
        latencies.push(started.elapsed());
    }
    latencies
}

async fn json_requests(addr: SocketAddr, work: Arc<Work>) -> Vec<Duration> {
    let request = format!("GET {PATH} HTTP/1.1\r\nhost: bench\r\naccept: application/json\r\n\r\n");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut buffer = Vec::with_capacity(4096);
    let mut latencies = Vec::new();
    while work.take() {
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await.expect("write");
        let response = read_response(&mut stream, &mut buffer).await;
        assert!(
            response.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&response)
        );
        latencies.push(started.elapsed());
    }
    latencies
}

/// One whole response with a `content-length` body; `buffer` keeps what came after it.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .expect("content-length");
            let end = head_end + 4 + length;
            if buffer.len() >= end {
                return buffer.drain(..end).collect();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-response");
        buffer.extend_from_slice(&chunk[..n]);
    }
}
