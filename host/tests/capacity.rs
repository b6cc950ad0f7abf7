//! Far past capacity on a stock `vm.max_map_count`: a `sluice serve` process configured for
//! 30,000 instances admits what the machine can hold, answers every further request 503 with
//! `Retry-After` (never a 500), keeps its open streams delivering, and stays up.
//!
//! The host runs as its own process: its open files and mappings are its own, as in
//! production, and a crash would show as its exit.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The server process, killed on drop, with its deploy directory and log.
struct Server {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("wait");
        assert!(
            status.is_none(),
            "the host exited ({status:?}); its log ends:\n{}",
            tail(&self.log())
        );
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The server, its public address and its admin address.
fn serve(config: &str) -> (Server, SocketAddr, SocketAddr) {
    serve_logging(config, "warn")
}

/// [`serve`], logging at `level`.
fn serve_logging(config: &str, level: &str) -> (Server, SocketAddr, SocketAddr) {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    spawn(dir, config, level, None)
}

/// Serve `dir` with `config` as its `sluice.yaml`, logging at `level`, in `cgroup` if given
/// (the host joins it before it starts).
fn spawn(
    dir: tempfile::TempDir,
    config: &str,
    level: &str,
    cgroup: Option<&MemoryCgroup>,
) -> (Server, SocketAddr, SocketAddr) {
    std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
    let free_port = || {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
    };
    let (addr, admin) = (free_port(), free_port());
    let log = std::fs::File::create(dir.path().join("host.log")).expect("log");
    let mut command = match cgroup {
        Some(cgroup) => {
            let mut joined = Command::new("sh");
            joined
                .args(["-c", r#"echo $$ > "$0/cgroup.procs" && exec "$@""#])
                .arg(&cgroup.dir)
                .arg(env!("CARGO_BIN_EXE_sluice"));
            joined
        }
        None => Command::new(env!("CARGO_BIN_EXE_sluice")),
    };
    let child = command
        .args(["serve", &dir.path().display().to_string()])
        .args(["--listen", &addr.to_string()])
        .args(["--admin-listen", &admin.to_string()])
        .env("RUST_LOG", level)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("sluice serve");
    (Server { child, dir }, addr, admin)
}

/// A memory cgroup of its own (v1 or v2), removed on drop; needs root.
struct MemoryCgroup {
    dir: std::path::PathBuf,
}

impl MemoryCgroup {
    /// A new cgroup under this process's own, limited to `bytes`; `None` where cgroups
    /// cannot be made here.
    fn create(name: &str, bytes: u64) -> Option<Self> {
        let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let (parent, limit_file) = membership.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let path = path.trim_start_matches('/');
            if controllers
                .split(',')
                .any(|controller| controller == "memory")
            {
                Some((
                    Path::new("/sys/fs/cgroup/memory").join(path),
                    "memory.limit_in_bytes",
                ))
            } else if controllers.is_empty() {
                let dir = Path::new("/sys/fs/cgroup").join(path);
                let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
                enabled
                    .split_whitespace()
                    .any(|controller| controller == "memory")
                    .then_some((dir, "memory.max"))
            } else {
                None
            }
        })?;
        let dir = parent.join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let cgroup = Self { dir };
        std::fs::write(cgroup.dir.join(limit_file), bytes.to_string()).ok()?;
        Some(cgroup)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// One HTTP/1.1 exchange's status line and headers; the connection stays open.
struct Opened {
    status: u16,
    retry_after: Option<String>,
    reader: BufReader<TcpStream>,
}

async fn open(addr: SocketAddr, path: &str, accept: &str) -> std::io::Result<Opened> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: t\r\naccept: {accept}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    let mut retry_after = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("retry-after")
        {
            retry_after = Some(value.trim().to_owned());
        }
    }
    Ok(Opened {
        status,
        retry_after,
        reader,
    })
}

async fn metrics(addr: SocketAddr) -> serde_json::Value {
    let mut opened = open(addr, "/_sluice/metrics", "application/json")
        .await
        .expect("metrics");
    assert_eq!(opened.status, 200);
    let mut body = [0u8; 4096];
    let n = opened.reader.read(&mut body).await.expect("body");
    serde_json::from_slice(&body[..n]).expect("metrics JSON")
}

/// Wait until the host answers its metrics, within a generous deadline.
async fn wait_until_serving(server: &mut Server, addr: SocketAddr) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        server.assert_running();
        if TcpStream::connect(addr).await.is_ok() {
            return metrics(addr).await;
        }
        assert!(Instant::now() < deadline, "the host never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publish on an order's topic through the admin endpoint.
async fn publish(addr: SocketAddr, order: &str, n: u64) {
    let body = serde_json::json!({"topic": format!("actors/order/{order}"), "event": "checkpoint", "data": {"n": n}})
        .to_string();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST /_sluice/publish HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("publish");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
}

/// Read `stream` until a `data:` line carrying `"n":n`.
async fn assert_receives(stream: &mut BufReader<TcpStream>, n: u64) {
    let want = format!("\"n\":{n}");
    let received = tokio::time::timeout(Duration::from_secs(60), async {
        let mut line = String::new();
        loop {
            line.clear();
            let read = stream.read_line(&mut line).await.expect("stream open");
            assert!(read > 0, "the stream ended");
            if line.starts_with("data:") && line.contains(&want) {
                return;
            }
        }
    })
    .await;
    assert!(received.is_ok(), "no event {n} within 60 s");
}

/// The number logged as `name=N` or `name=Some(N)` in `line`.
fn logged_number(line: &str, name: &str) -> Option<u64> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let value = line[start..].split_whitespace().next()?;
    let value = value
        .strip_prefix("Some(")
        .map_or(value, |inner| inner.trim_end_matches(')'));
    value.parse().ok()
}

/// Once `server` (started without `maxInstances`, logging at `info`) serves: its
/// `instanceCap`, and the line its log says how it sized its pool in.
async fn sized_from_the_machine(server: &mut Server, admin: SocketAddr) -> (u64, String) {
    let start = wait_until_serving(server, admin).await;
    let cap = start["instanceCap"].as_u64().expect("instanceCap");
    let log = server.log();
    let sized = log
        .lines()
        .find(|line| line.contains("maxInstances not set"))
        .unwrap_or_else(|| panic!("the host says how it sized its pool:\n{log}"));
    (cap, sized.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_max_instances_the_host_sizes_its_pool_from_the_machine_and_says_why() {
    let (mut server, _addr, admin) = serve_logging("", "info");
    let (cap, sized) = sized_from_the_machine(&mut server, admin).await;
    let sized = sized.as_str();
    assert_eq!(logged_number(sized, "admitted"), Some(cap), "{sized}");
    let bounds: Vec<u64> = [
        "connections_allowed_by_vm_max_map_count",
        "connections_allowed_by_open_file_limit",
        "connections_allowed_by_memory",
    ]
    .into_iter()
    .filter_map(|name| logged_number(sized, name))
    .collect();
    assert_eq!(
        bounds.iter().min().copied(),
        Some(cap),
        "the tightest limit decides: {sized}"
    );
    // A machine of this kind (65,530 mappings, 20,000 files, gigabytes free) holds far more
    // than the old fixed default of 1000.
    if bounds.len() == 3 && bounds.iter().all(|&bound| bound > 5_000) {
        assert!(cap > 5_000, "{sized}");
    }
}

/// Sized from the machine, each connection also takes its component's data (a Python one:
/// about 11 MB) from a memory budget of what the host's cgroup leaves. In a 2 GiB cgroup the
/// host admits under 256 Python streams where its pool holds thousands of instances, answers
/// the next with a 503, and admits again when one closes: memory runs out as a 503, not as
/// the kernel's OOM killer.
#[tokio::test(flavor = "multi_thread")]
async fn sized_from_the_machine_python_streams_are_admitted_by_memory_then_503() {
    const LIMIT: u64 = 2 << 30;
    let Some(cgroup) = MemoryCgroup::create("sluice-capacity-test", LIMIT) else {
        eprintln!("SKIPPED: cannot make a memory cgroup here (needs root and cgroups)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let id = "py-order-events";
    for (relative, bytes) in sluice::deploy::demo::DEMO_FILES {
        if *relative == format!("ingresses/{id}.yaml") {
            std::fs::create_dir_all(dir.path().join("ingresses")).expect("folder");
            std::fs::write(dir.path().join(relative), bytes).expect("ingress");
        }
    }
    let (_, wasm) = sluice::deploy::demo::COMPONENTS
        .iter()
        .find(|(component, _)| *component == id)
        .expect("in the demo");
    std::fs::create_dir_all(dir.path().join("components")).expect("folder");
    std::fs::write(dir.path().join(format!("components/{id}.wasm")), wasm).expect("wasm");
    // A generous CPU budget: the test is about memory, and a debug host instantiates slowly.
    let config = "store: sluice.db\ncpuPerCallMs: 60000\n";
    let (mut server, addr, admin) = spawn(dir, config, "info", Some(&cgroup));
    let (cap, sized) = sized_from_the_machine(&mut server, admin).await;
    let sized = sized.as_str();
    let budget = logged_number(sized, "memory_budget_bytes").expect("a memory budget");
    assert!(budget <= LIMIT, "the cgroup's limit binds: {sized}");
    // Each stream is counted at 8–16 MiB (its component's data), and holds less.
    let (fewest, most) = (budget / (16 << 20), budget / (8 << 20));
    assert!(cap > most, "the pool alone would admit more: {sized}");

    let path = |n: u64| format!("/ingress/api/py/orders/ORD-{n}/events");
    let mut streams = Vec::new();
    let refused = loop {
        let n = streams.len() as u64;
        assert!(n <= most, "admitted past the memory budget: {n} streams");
        let opened = open(addr, &path(n), "text/event-stream")
            .await
            .unwrap_or_else(|err| panic!("stream {n}: {err}\n{}", tail(&server.log())));
        match opened.status {
            200 => streams.push(opened.reader),
            503 => break opened,
            status => panic!("stream {n}: {status}\n{}", tail(&server.log())),
        }
    };
    let admitted = streams.len() as u64;
    eprintln!("a memory budget of {budget} bytes admitted {admitted} Python streams; pool {cap}");
    assert!(
        admitted >= fewest,
        "{admitted} streams in a budget of {budget} bytes"
    );
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    server.assert_running();

    // One closes: its share comes back.
    streams.pop();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let again = open(addr, &path(admitted), "text/event-stream")
            .await
            .expect("stream");
        if again.status == 200 {
            break;
        }
        assert_eq!(again.status, 503);
        assert!(
            Instant::now() < deadline,
            "the closed stream's memory never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.assert_running();
}

#[tokio::test(flavor = "multi_thread")]
async fn far_past_capacity_new_requests_get_503_and_open_streams_keep_delivering() {
    let max_map_count: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(u64::MAX);
    if max_map_count > 65_530 {
        eprintln!("SKIPPED: vm.max_map_count is {max_map_count}, not the stock 65530");
        return;
    }
    // This process holds one socket per connection, as the host does.
    let files = rlimit::increase_nofile_limit(u64::MAX).expect("open-file limit");

    // The CPU budget is generous: instantiating thousands at once on a loaded machine is slow.
    let (mut server, addr, admin) = serve("maxInstances: 30000\ncpuPerCallMs: 60000\n");
    let start = wait_until_serving(&mut server, admin).await;
    let cap = start["instanceCap"].as_u64().expect("instanceCap");
    assert!(
        cap < 30_000,
        "the stock mapping limit cannot hold 30,000: {start}"
    );
    if files < cap + 1000 {
        eprintln!(
            "SKIPPED: this process may open {files} files, too few for {cap} streams and more"
        );
        return;
    }
    let log = server.log();
    assert!(
        log.contains("admitting fewer") && log.contains("connections_allowed_by_vm_max_map_count"),
        "the host warns at start with the numbers:\n{log}"
    );
    // Copied memories cost two mappings fewer than images: the stock limit holds more.
    assert!(
        log.contains("copy_on_write_memory_images=false"),
        "the host copies memories to hold more:\n{log}"
    );

    // Open the cap's worth of streams and 500 more, 100 at a time.
    let total = cap + 500;
    let limit = Arc::new(tokio::sync::Semaphore::new(100));
    let opens: Vec<_> = (0..total)
        .map(|n| {
            let limit = limit.clone();
            tokio::spawn(async move {
                let _turn = limit.acquire().await.expect("semaphore");
                let path = format!("/ingress/api/orders/ORD-{n}/events");
                (n, open(addr, &path, "text/event-stream").await)
            })
        })
        .collect();
    let mut streams = Vec::new();
    let mut refused = 0;
    for opened in opens {
        let (n, opened) = opened.await.expect("task");
        let opened = opened.unwrap_or_else(|err| panic!("connection {n}: {err}"));
        match opened.status {
            200 => streams.push((n, opened.reader)),
            503 => {
                assert_eq!(opened.retry_after.as_deref(), Some("1"), "connection {n}");
                refused += 1;
            }
            status => panic!(
                "connection {n}: status {status}; the host log ends:\n{}",
                tail(&server.log())
            ),
        }
    }
    server.assert_running();
    assert_eq!(streams.len() as u64, cap, "every admitted stream opened");
    assert_eq!(refused, 500);

    // Full: even hello is refused, with a 503.
    let hello = open(addr, "/ingress/api/hello", "application/json")
        .await
        .expect("hello");
    assert_eq!(hello.status, 503);
    let after = metrics(admin).await;
    assert!(after["capacityRefusals"].as_u64() >= Some(501), "{after}");

    // The open streams still deliver: the first, one in the middle, the last.
    for index in [0, streams.len() / 2, streams.len() - 1] {
        let (order, reader) = &mut streams[index];
        publish(admin, &format!("ORD-{order}"), 7).await;
        assert_receives(reader, 7).await;
    }

    // Closing some makes room again.
    streams.truncate(streams.len() - 10);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let hello = open(addr, "/ingress/api/hello", "application/json")
            .await
            .expect("hello");
        if hello.status == 200 {
            break;
        }
        assert_eq!(hello.status, 503);
        assert!(Instant::now() < deadline, "no room after closing streams");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.assert_running();
    assert!(
        !server.log().contains("instantiation failed"),
        "no instantiation failed for any other reason than capacity:\n{}",
        tail(&server.log())
    );
}
