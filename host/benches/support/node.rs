//! A `sluice serve` process for the benchmarks that need the server in a process of its
//! own, and what they read of it: CPU time from `/proc`, the admin endpoints.
// Each bench compiles this module and uses a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

/// A `sluice serve` process on the demo, killed on drop.
pub struct Node {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// The admin listener: metrics and publish.
    pub admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Node {
    pub async fn start(max_instances: usize, extra_config: &str) -> Self {
        Self::start_with(max_instances, extra_config, |_| {}).await
    }

    /// [`Node::start`] on the demo as `edit` leaves it. `SLUICE_BENCH_BIN` names another
    /// `sluice` binary to run (an older build, for a before/after figure).
    pub async fn start_with(
        max_instances: usize,
        extra_config: &str,
        edit: impl FnOnce(&std::path::Path),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo");
        std::fs::write(
            dir.path().join("sluice.yaml"),
            format!("maxInstances: {max_instances}\n{extra_config}"),
        )
        .expect("config");
        edit(dir.path());
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("port")
                .local_addr()
                .expect("addr")
        };
        let (port, admin) = (free_port(), free_port());
        let binary = std::env::var("SLUICE_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_sluice").into());
        let child = std::process::Command::new(binary)
            .args([
                "serve",
                &dir.path().display().to_string(),
                "--listen",
                &port.to_string(),
                "--admin-listen",
                &admin.to_string(),
            ])
            .env("RUST_LOG", "error")
            .spawn()
            .expect("sluice serve");
        let addr = wait_until_listening(port).await;
        let admin = wait_until_listening(admin).await;
        Self {
            child,
            addr,
            admin,
            _dir: dir,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fields of `/proc/<pid>/stat` after the parenthesised name, i.e. from field 3 (the
/// state) on; empty when the process is gone.
pub fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Clock ticks per second in `/proc/<pid>/stat` (fixed at 100 on Linux).
const USER_HZ: u64 = 100;

/// CPU time (user + system) the processes `pids` have used so far.
pub fn cpu_time(pids: &[u32]) -> Duration {
    let ticks: u64 = pids
        .iter()
        .map(|pid| {
            let fields = stat_fields(*pid);
            // utime and stime are fields 14 and 15.
            let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            field(11).unwrap_or(0) + field(12).unwrap_or(0)
        })
        .sum();
    Duration::from_millis(ticks * 1000 / USER_HZ)
}

pub async fn wait_until_listening(addr: SocketAddr) -> SocketAddr {
    for _ in 0..600 {
        if TcpStream::connect(addr).await.is_ok() {
            return addr;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sluice never listened on {addr}");
}

/// Just enough HTTP/1.1 for the admin endpoints, so the bench needs no client crate.
pub mod reqwest_like {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub struct Client(SocketAddr);

    impl Client {
        pub fn new(addr: SocketAddr) -> Self {
            Self(addr)
        }

        pub async fn call(&self, method: &str, path: &str, body: &str) -> String {
            let mut stream = TcpStream::connect(self.0).await.expect("connect");
            let request = format!(
                "{method} {path} HTTP/1.1\r\nhost: b\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.expect("write");
            let mut response = String::new();
            stream.read_to_string(&mut response).await.expect("read");
            response
        }

        pub async fn subscribers(&self) -> usize {
            let response = self.call("GET", "/_sluice/metrics", "").await;
            let body = response.split("\r\n\r\n").nth(1).unwrap_or("{}");
            let metrics: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            metrics["busSubscribers"].as_u64().unwrap_or(0) as usize
        }

        /// `sluice_guest_cpu_seconds_total` summed over every ingress: the time guests ran,
        /// host calls they waited in excluded.
        pub async fn guest_cpu_seconds(&self) -> f64 {
            let response = self.call("GET", "/metrics", "").await;
            response
                .lines()
                .filter(|line| line.starts_with("sluice_guest_cpu_seconds_total{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        }

        /// The value of the unlabelled series `name` in `/metrics`; `NaN` when missing.
        pub async fn metric(&self, name: &str) -> f64 {
            let response = self.call("GET", "/metrics", "").await;
            response
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(f64::NAN)
        }

        pub async fn publish(&self, round: usize) {
            let body = serde_json::json!({"topic": "actors/order/ORD-F", "event": "checkpoint", "data": {"round": round}});
            let response = self
                .call("POST", "/_sluice/publish", &body.to_string())
                .await;
            assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        }
    }
}
