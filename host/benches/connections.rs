//! `cargo bench -p sluice-host --bench connections`: how many SSE connections one host holds,
//! each with a live instance of its own, within this machine's limits (`vm.max_map_count`,
//! the open-file limit), what each costs in memory and mappings, and how long one event
//! takes to reach all of them.
//!
//! A `sluice serve` with `maxInstances: 19000` (`SLUICE_BENCH_CONNECTIONS` changes it), and
//! 50 client tasks in this process opening `order-events` streams for ORD-F until that many
//! are open or the host answers 503. Numbers, not assertions.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::node::{Node, cpu_time, reqwest_like};

/// Connections asked for, unless `SLUICE_BENCH_CONNECTIONS` says otherwise.
const WANTED: usize = 19_000;
/// Client tasks opening connections at once.
const OPENERS: usize = 50;

fn main() {
    // The client holds every connection too: its soft open-file limit up to the hard one.
    if let Ok((_, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard);
    }
    support::runtime().block_on(run());
}

async fn run() {
    let wanted = std::env::var("SLUICE_BENCH_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(WANTED);
    let node = Node::start(wanted, "").await;
    let pid = node.child.id();
    let admin = reqwest_like::Client::new(node.admin);
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map_or_else(|_| "?".into(), |text| text.trim().to_owned());
    let (rss_before, pss_before, maps_before) = (rss_kib(pid), pss_kib(pid), mappings(pid));

    let started = Instant::now();
    let (connections, latencies, refused) = open_all(node.addr, wanted).await;
    let took = started.elapsed();
    // Let the last streams reach their first wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_after, pss_after, maps_after) = (rss_kib(pid), pss_kib(pid), mappings(pid));
    let held = connections.len();
    let live = admin.metric("sluice_instances_live").await;
    let stacks = admin.metric("sluice_fiber_stacks_in_use").await;

    println!("SSE connections, maxInstances {wanted}, vm.max_map_count {max_map_count}:");
    println!(
        "  held: {held} (each with its own live instance: {live} live), opened in {:.2} s; {}",
        took.as_secs_f64(),
        match refused {
            Some(status) => format!("then refused with {status}"),
            None => "none refused".into(),
        }
    );
    support::report("  connect until the response head", latencies);
    println!(
        "  RSS {} MiB -> {} MiB: {:.1} KiB per connection",
        rss_before / 1024,
        rss_after / 1024,
        (rss_after - rss_before) as f64 / held.max(1) as f64
    );
    println!(
        "  PSS {} MiB -> {} MiB: {:.1} KiB per connection",
        pss_before / 1024,
        pss_after / 1024,
        (pss_after - pss_before) as f64 / held.max(1) as f64
    );
    println!(
        "  mappings {maps_before} -> {maps_after} (of {max_map_count}): {:.2} per connection; \
         fiber stacks in use while idle: {stacks}",
        (maps_after - maps_before) as f64 / held.max(1) as f64
    );

    let cpu = cpu_time(&[pid]);
    let published = Instant::now();
    admin.publish(1).await;
    let delivered = futures::future::join_all(connections.into_iter().map(first_event)).await;
    let reached = delivered.iter().filter(|got| **got).count();
    println!(
        "  one event to all of them: {reached} of {held} had it after {:.0} ms; server CPU {:.0} ms",
        published.elapsed().as_secs_f64() * 1e3,
        (cpu_time(&[pid]) - cpu).as_secs_f64() * 1e3
    );
}

/// Open up to `wanted` streams with [`OPENERS`] tasks; the open ones, how long each took to
/// open, and the status line of the first refusal, if any.
async fn open_all(
    addr: SocketAddr,
    wanted: usize,
) -> (Vec<TcpStream>, Vec<Duration>, Option<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let openers = (0..OPENERS).map(|_| {
        let next = next.clone();
        tokio::spawn(async move {
            let (mut open, mut took) = (Vec::new(), Vec::new());
            while next.fetch_add(1, Ordering::Relaxed) < wanted {
                let started = Instant::now();
                match open_stream(addr).await {
                    Ok(stream) => {
                        took.push(started.elapsed());
                        open.push(stream);
                    }
                    Err(status) => {
                        // Stop every opener: the host is full.
                        next.store(wanted, Ordering::Relaxed);
                        return (open, took, Some(status));
                    }
                }
            }
            (open, took, None)
        })
    });
    let (mut all, mut latencies) = (Vec::with_capacity(wanted), Vec::with_capacity(wanted));
    let mut refused = None;
    for opener in futures::future::join_all(openers).await {
        let (open, took, status) = opener.expect("opener");
        all.extend(open);
        latencies.extend(took);
        refused = refused.or(status);
    }
    (all, latencies, refused)
}

/// One `order-events` stream for ORD-F, past its response head; else the status line.
async fn open_stream(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|err| format!("connect: {err}"))?;
    stream
        .write_all(
            b"GET /ingress/api/orders/ORD-F/events HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n",
        )
        .await
        .map_err(|err| format!("write: {err}"))?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream
            .read(&mut buffer)
            .await
            .map_err(|err| format!("read: {err}"))?;
        if n == 0 {
            return Err("closed before its head".into());
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let status = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if status.starts_with("HTTP/1.1 200") {
        Ok(stream)
    } else {
        Err(status)
    }
}

/// Whether `stream` gets an `updated` event within 60 s.
async fn first_event(mut stream: TcpStream) -> bool {
    let read = async {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 1024];
        while !seen.windows(14).any(|w| w == b"event: updated") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or(false)
}

fn rss_kib(pid: u32) -> i64 {
    proc_kib(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The process's proportional set size: pages it shares (each instance's mapping of its
/// component's memory image) count once, not once per mapping as in the RSS.
fn pss_kib(pid: u32) -> i64 {
    proc_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// The `<field> <n> kB` line of a `/proc` file, in KiB; 0 when it cannot be read.
fn proc_kib(path: &str, field: &str) -> i64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).map_or(0, |maps| maps.lines().count())
}
