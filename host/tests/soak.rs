//! The soak check (not in the default run): connect → first event → disconnect, over and
//! over, across SSE, JSON and HTTP/2, with actor calls and publishes mixed in, against a
//! `sluice serve` process. Afterwards the host's live instances, subscriptions and open
//! files are back where they started, and its RSS is within 5 % of its value after warm-up.
//!
//! ```sh
//! SLUICE_SOAK_CYCLES=1000000 cargo test --release -p sluice-host --test soak -- --ignored --nocapture
//! ```
//!
//! `SLUICE_SOAK_CYCLES` defaults to 1,000,000; `SLUICE_SOAK_WORKERS` (default 8) cycles
//! run at once.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server's public and admin addresses.
#[derive(Clone, Copy)]
struct Addrs {
    public: SocketAddr,
    admin: SocketAddr,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

impl Server {
    fn start() -> (Self, Addrs) {
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo");
        // A generous CPU budget: a loaded machine must not turn slowness into failures.
        std::fs::write(dir.path().join("sluice.yaml"), "cpuPerCallMs: 10000\n").expect("config");
        let addrs = Addrs {
            public: free_port(),
            admin: free_port(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", &dir.path().display().to_string()])
            .args(["--listen", &addrs.public.to_string()])
            .args(["--admin-listen", &addrs.admin.to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sluice serve");
        (Self { child, _dir: dir }, addrs)
    }

    fn status_field_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    fn rss_kib(&self) -> u64 {
        self.status_field_kib("VmRSS:")
    }

    fn open_files(&self) -> usize {
        self.open_file_names().len()
    }

    /// What each open descriptor points at (`socket:[…]`, a path, …), sorted.
    fn open_file_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("/proc fd")
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .map(|target| target.display().to_string())
            .collect();
        names.sort();
        names
    }

    /// The open-file count once it has held still for a second (clients' connections take
    /// a moment to close on the host's side); a failure after 60 s.
    async fn settled_open_files(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut last, mut still) = (self.open_files(), 0);
        while still < 10 {
            assert!(Instant::now() < deadline, "open files never settled");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.open_files();
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        last
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("wait");
        assert!(status.is_none(), "the host exited: {status:?}");
    }
}

fn request(method: &str, url: &str, accept: &str, body: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("accept", accept)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request")
}

/// Send, check the status, and return the first chunk of the body; the rest is dropped,
/// which on a stream is the client going away.
async fn first_chunk(client: &HttpClient, request: http::Request<Full<Bytes>>, want: u16) -> Bytes {
    let uri = request.uri().clone();
    let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
        .await
        .unwrap_or_else(|_| panic!("{uri}: no answer within 60 s"))
        .unwrap_or_else(|err| panic!("{uri}: {err}"));
    assert_eq!(response.status().as_u16(), want, "{uri}");
    let mut body = response.into_body();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), body.frame())
            .await
            .unwrap_or_else(|_| panic!("{uri}: no data within 60 s"))
            .unwrap_or_else(|| panic!("{uri}: the body ended empty"))
            .unwrap_or_else(|err| panic!("{uri}: {err}"));
        if let Ok(data) = frame.into_data()
            && !data.is_empty()
        {
            return data;
        }
    }
}

async fn metrics(client: &HttpClient, addr: SocketAddr) -> serde_json::Value {
    let url = format!("http://{addr}/_sluice/metrics");
    let response = client
        .request(request("GET", &url, "application/json", ""))
        .await
        .expect("metrics");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("metrics JSON")
}

/// One cycle of kind `n % 7`.
async fn cycle(h1: &HttpClient, h2: &HttpClient, addrs: Addrs, n: u64) {
    let base = format!("http://{}", addrs.public);
    let admin = format!("http://{}", addrs.admin);
    let contains = |chunk: &Bytes, want: &str| {
        let text = String::from_utf8_lossy(chunk);
        assert!(text.contains(want), "cycle {n}: {text:?} lacks {want:?}");
    };
    match n % 7 {
        0 => {
            let chunk = first_chunk(
                h1,
                request(
                    "GET",
                    &format!("{base}/ingress/api/hello"),
                    "text/event-stream",
                    "",
                ),
                200,
            )
            .await;
            contains(&chunk, "Hello world");
        }
        1 => {
            let chunk = first_chunk(
                h1,
                request(
                    "GET",
                    &format!("{base}/ingress/api/hello"),
                    "application/json",
                    "",
                ),
                200,
            )
            .await;
            contains(&chunk, "\"Hello world\"");
        }
        2 => {
            let chunk = first_chunk(
                h2,
                request(
                    "GET",
                    &format!("{base}/ingress/api/heartbeat"),
                    "text/event-stream",
                    "",
                ),
                200,
            )
            .await;
            contains(&chunk, "event: heartbeat");
        }
        3 | 4 => {
            // A stream that waits on the bus: subscribed once its head arrives, then a
            // publish, its event, and the client goes away mid-stream.
            let client = if n % 7 == 3 { h1 } else { h2 };
            let order = format!("SOAK-{}", n % 4);
            let url = format!("{base}/ingress/api/orders/{order}/events");
            let response = tokio::time::timeout(
                Duration::from_secs(60),
                client.request(request("GET", &url, "text/event-stream", "")),
            )
            .await
            .expect("stream head within 60 s")
            .expect("stream");
            assert_eq!(response.status(), 200);
            let publish = format!(
                r#"{{"topic":"actors/order/{order}","event":"checkpoint","data":{{"n":{n}}}}}"#
            );
            first_chunk(
                h1,
                request(
                    "POST",
                    &format!("{admin}/_sluice/publish"),
                    "application/json",
                    &publish,
                ),
                202,
            )
            .await;
            let mut body = response.into_body();
            let want = format!("\"n\":{n}");
            let seen = tokio::time::timeout(Duration::from_secs(60), async {
                let mut seen = String::new();
                while !seen.contains(&want) {
                    let frame = body.frame().await.expect("open").expect("frame");
                    if let Ok(data) = frame.into_data() {
                        seen.push_str(&String::from_utf8_lossy(&data));
                    }
                }
            })
            .await;
            assert!(seen.is_ok(), "cycle {n}: its event never came");
        }
        5 => {
            let command = r#"{"commands":[{"type":"setPhysicalStock","value":150}]}"#;
            let chunk = first_chunk(
                h1,
                request(
                    "POST",
                    &format!("{base}/ingress/api/skus/PROD-001/stock"),
                    "application/json",
                    command,
                ),
                200,
            )
            .await;
            contains(&chunk, "available");
        }
        _ => {
            let query = r#"{"type":"query","alias":"state"}"#;
            let chunk = first_chunk(
                h1,
                request(
                    "POST",
                    &format!("{admin}/_sluice/actors/sku/0b7e4d2c-9a61-4f3e-b5d8-2c4a6e8f1a3b"),
                    "application/json",
                    query,
                ),
                200,
            )
            .await;
            contains(&chunk, "state");
        }
    }
}

async fn run_cycles(addrs: Addrs, from: u64, to: u64, workers: u64) {
    let next = Arc::new(AtomicU64::new(from));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let next = next.clone();
            tokio::spawn(async move {
                let h1: HttpClient = Client::builder(TokioExecutor::new()).build_http();
                let h2: HttpClient = Client::builder(TokioExecutor::new())
                    .http2_only(true)
                    .build_http();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= to {
                        return;
                    }
                    cycle(&h1, &h2, addrs, n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a cycle failed");
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name} is not a number"))
        })
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a long soak; run it with --ignored (see the file's header)"]
async fn a_million_cycles_leave_no_instance_subscription_file_or_memory_behind() {
    let cycles = env_u64("SLUICE_SOAK_CYCLES", 1_000_000);
    let workers = env_u64("SLUICE_SOAK_WORKERS", 8).max(1);
    // Warm-up fills what is bounded but starts empty — the bus's history of the 4 order
    // topics (1000 events each, one publish every 3.5 cycles), SQLite's page cache — so
    // that what is measured after it is growth, not filling.
    let warm_up = (cycles / 20).max(20_000).min(cycles / 2);
    let (mut server, addrs) = Server::start();
    let probe: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let deadline = Instant::now() + Duration::from_secs(120);
    let start = loop {
        server.assert_running();
        if std::net::TcpStream::connect(addrs.admin).is_ok() {
            break metrics(&probe, addrs.admin).await;
        }
        assert!(Instant::now() < deadline, "the host never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let files_before_warm_up = server.open_files();

    // Warm-up opens what the host opens once (the store's WAL, caches): the starting values
    // are taken after it.
    let started = Instant::now();
    run_cycles(addrs, 0, warm_up, workers).await;
    let files_at_start = server.settled_open_files().await;
    let names_at_start = server.open_file_names();
    let rss_warm = server.rss_kib();
    println!(
        "soak: {warm_up} warm-up cycles; open files {files_before_warm_up} before, {files_at_start} after; RSS {rss_warm} KiB"
    );
    // In tenths, so a long run shows how far it is.
    let step = ((cycles - warm_up) / 10).max(1);
    let mut done = warm_up;
    while done < cycles {
        let to = (done + step).min(cycles);
        run_cycles(addrs, done, to, workers).await;
        done = to;
        println!(
            "soak: {done} cycles in {:.0?}, RSS {} KiB",
            started.elapsed(),
            server.rss_kib()
        );
    }
    let elapsed = started.elapsed();
    server.assert_running();

    // Clients are gone (their pools dropped with the workers): wait for the host to settle.
    let settle = Instant::now() + Duration::from_secs(60);
    let end = loop {
        let now = metrics(&probe, addrs.admin).await;
        let settled = now["liveInstances"] == start["liveInstances"]
            && now["busSubscribers"] == start["busSubscribers"]
            && server.open_files() == files_at_start;
        if settled || Instant::now() > settle {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rss_end = server.rss_kib();
    let files_at_end = server.open_files();
    println!(
        "soak: {cycles} cycles in {elapsed:.0?} ({:.0}/s) with {workers} workers",
        cycles as f64 / elapsed.as_secs_f64()
    );
    println!(
        "soak: live instances {} -> {}, subscribers {} -> {}, open files {files_at_start} -> {files_at_end}",
        start["liveInstances"],
        end["liveInstances"],
        start["busSubscribers"],
        end["busSubscribers"]
    );
    println!(
        "soak: RSS after warm-up {rss_warm} KiB, at the end {rss_end} KiB ({:+.2} %)",
        (rss_end as f64 - rss_warm as f64) * 100.0 / rss_warm as f64
    );
    assert_eq!(end["liveInstances"], start["liveInstances"]);
    assert_eq!(end["busSubscribers"], start["busSubscribers"]);
    assert_eq!(
        files_at_end,
        files_at_start,
        "open files: {names_at_start:?} then {:?}",
        server.open_file_names()
    );
    assert!(
        rss_end * 100 <= rss_warm * 105,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB"
    );
}
