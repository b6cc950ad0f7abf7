//! Real `sluice serve` processes sharing a PostgreSQL schema of their own, for the cluster
//! tests (`cluster_store.rs`).
//!
//! - The binary is built once per test process (`cargo build -p sluice-host --bin sluice`),
//!   so the nodes always run the code under test.
//! - PostgreSQL is `SLUICE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//!   Each [`Cluster`] gets a fresh schema, dropped when it goes (even on failure). When the
//!   server cannot be reached, the test fails naming it if `CI` is set, and otherwise prints
//!   loudly that it skipped.
//! - NATS with JetStream is `SLUICE_TEST_NATS_URL` (default `nats://127.0.0.1:4222`). Each
//!   [`BusStream`] is a stream and subject prefix of its own, deleted when it goes.
//! - A private PostgreSQL ([`PrivatePostgres`]) can be started for tests that restart it: never
//!   the shared one.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Fail under CI, skip loudly elsewhere.
pub fn unreachable(test: &str, service: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {service} is unreachable: {why}");
    }
    eprintln!("\n!!! SKIPPED {test}: {service} is unreachable ({why})\n");
}

/// The `sluice` binary, built for this test run.
///
/// Built the way `cargo test --workspace` builds it for `sluice-host`'s own tests, so under
/// that command it is already fresh: a plain `cargo build -p sluice-host` resolves other
/// features and compiled a second copy of the host and its dependencies (2 minutes in CI).
pub fn sluice_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["test", "--quiet", "--workspace", "--no-run"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "cargo build of the sluice binary failed");
        // target/debug/deps/<test> → target/debug/sluice
        let exe = std::env::current_exe().expect("test binary path");
        let path = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("sluice");
        assert!(path.exists(), "no sluice binary at {}", path.display());
        path
    })
}

/// The `addr=` of the first log line that says `message`.
fn logged_addr(log: &str, message: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|line| line.contains(message))?;
    let (_, rest) = line.split_once("addr=")?;
    rest.split_whitespace().next()?.parse().ok()
}

pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A PostgreSQL client for checks, on `url`.
pub async fn client(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A schema of one test on a PostgreSQL server, dropped on drop.
pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    /// A fresh schema on the shared server, or `None` after [`unreachable`].
    pub async fn shared(test: &str) -> Option<Self> {
        Self::on(test, &postgres_url()).await
    }

    pub async fn on(test: &str, url: &str) -> Option<Self> {
        let name = format!("c_{}", uuid::Uuid::new_v4().simple());
        match client(url).await {
            Ok(client) => {
                client
                    .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
                    .await
                    .expect("create schema");
                Some(Self {
                    url: url.to_owned(),
                    name,
                })
            }
            Err(err) => {
                unreachable(test, &format!("PostgreSQL at {url}"), &err.to_string());
                None
            }
        }
    }

    /// A client whose tables are this schema's.
    pub async fn client(&self) -> tokio_postgres::Client {
        let client = client(&self.url).await.expect("connect");
        client
            .batch_execute(&format!("SET search_path = \"{}\"", self.name))
            .await
            .expect("search_path");
        client
    }

    /// `sluice.yaml` lines for a node on this schema.
    pub fn config(&self) -> String {
        format!(
            "store: \"{}\"\nstoreSchema: {}\nstorePoolSize: 8\nstoreConnectTimeoutSeconds: 2\n",
            self.url, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let client = client(&url).await.map_err(|e| e.to_string())?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop schema {}: {dropped:?}", self.name);
        }
    }
}

pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

pub fn nats_url() -> String {
    std::env::var("SLUICE_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.to_owned())
}

/// A JetStream stream of one test (in memory, its own subject prefix), deleted on drop.
pub struct BusStream {
    config: sluice::backends::bus::JetStreamConfig,
}

impl BusStream {
    /// A fresh stream on the shared NATS, or `None` after [`unreachable`].
    pub async fn shared(test: &str) -> Option<Self> {
        use sluice::backends::bus::{JetStreamBus, JetStreamConfig, jetstream::Storage};
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut config = JetStreamConfig::new(nats_url(), format!("TEST_{id}"));
        config.subject_prefix = format!("t{id}");
        config.storage = Storage::Memory;
        config.max_bytes = 64 << 20;
        config.connect_timeout_seconds = 3;
        // Connecting creates the stream, so every node finds it as configured.
        match JetStreamBus::connect(config.clone()).await {
            Ok(_) => Some(Self { config }),
            Err(err) => {
                unreachable(test, &format!("NATS at {}", nats_url()), &err.to_string());
                None
            }
        }
    }

    /// `sluice.yaml` lines for a node on this stream.
    pub fn config(&self) -> String {
        format!(
            "bus: {{ url: {:?}, stream: {}, subjectPrefix: {}, storage: memory, maxBytes: {}, connectTimeoutSeconds: 5 }}\n",
            self.config.url, self.config.stream, self.config.subject_prefix, self.config.max_bytes
        )
    }
}

impl Drop for BusStream {
    fn drop(&mut self) {
        let config = self.config.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let bus = sluice::backends::bus::JetStreamBus::connect(config)
                    .await
                    .map_err(|e| e.to_string())?;
                bus.delete_stream().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(deleted, Ok(Ok(()))) {
            eprintln!(
                "could not delete stream {}: {deleted:?}",
                self.config.stream
            );
        }
    }
}

/// `count` nodes sharing a PostgreSQL schema and a JetStream stream of their own; the nodes
/// are killed before the schema and the stream go.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub schema: Schema,
    _bus: BusStream,
}

impl Cluster {
    /// Every node serving, or `None` after [`unreachable`].
    pub async fn start(test: &str, count: usize) -> Option<Self> {
        let (Some(schema), Some(bus)) = (Schema::shared(test).await, BusStream::shared(test).await)
        else {
            return None;
        };
        let config = format!("{}{}", schema.config(), bus.config());
        // One node first: it compiles the components into wasmtime's on-disk cache, which the
        // others then load instead of compiling all at once.
        let mut nodes = vec![Node::start(&config).await];
        nodes.extend((1..count).map(|_| Node::spawn(&config)));
        for node in &mut nodes {
            node.wait_ready().await;
        }
        Some(Self {
            nodes,
            schema,
            _bus: bus,
        })
    }
}

/// One `sluice serve` process on the bundled demo, killed on drop.
pub struct Node {
    /// The address it serves on, known once [`Node::wait_ready`] returned.
    pub addr: SocketAddr,
    /// The admin listener's address (`--admin-listen`), known once [`Node::wait_ready`]
    /// returned.
    pub admin: SocketAddr,
    child: Child,
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl Node {
    /// Start a node serving the demo with `config` as its `sluice.yaml`; does not wait.
    pub fn spawn(config: &str) -> Self {
        Self::spawn_with(config, |_| {})
    }

    /// Like [`Node::spawn`], with `add` writing more into the deploy directory first.
    pub fn spawn_with(config: &str, add: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo");
        std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
        add(dir.path());
        // The node binds free ports itself and logs them (read by `wait_ready`): a port found
        // free here could be taken, by another test's outgoing connection say, before the
        // node binds it.
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let (addr, admin) = (unbound, unbound);
        let log = dir.path().join("node.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(sluice_binary())
            .args(["serve", &dir.path().display().to_string()])
            .args(["--listen", &addr.to_string()])
            .args(["--admin-listen", &admin.to_string()])
            .env("RUST_LOG", "info")
            // Logs go to stdout, errors to stderr: both into the log.
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("sluice serve");
        Self {
            addr,
            admin,
            child,
            dir,
            log,
        }
    }

    /// Start a node and wait until it serves.
    pub async fn start(config: &str) -> Self {
        let mut node = Self::spawn(config);
        node.wait_ready().await;
        node
    }

    /// Wait until the node serves; its addresses are known from then on.
    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("node exited with {status}:\n{}", self.log());
            }
            if self.admin.port() == 0 {
                let log = self.log();
                if let (Some(addr), Some(admin)) = (
                    logged_addr(&log, "sluice is serving"),
                    logged_addr(&log, "admin endpoints listening"),
                ) {
                    (self.addr, self.admin) = (addr, admin);
                }
            }
            if self.admin.port() != 0
                && client
                    .get(self.admin_url("/_sluice/metrics"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node never served:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait for the process to exit (it should by itself).
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(300), self.child.wait())
            .await
            .expect("the node exits by itself")
            .expect("wait")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `path` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A PostgreSQL server of one test, in a temporary directory on a free port, run as user
/// `postgres` (root cannot run it). Stopped and removed on drop.
pub struct PrivatePostgres {
    pub dir: PathBuf,
    pub port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(program: &str) -> std::process::Command {
    let mut command = std::process::Command::new("runuser");
    command.args(["-u", "postgres", "--", &format!("{PG_BIN}/{program}")]);
    command
}

impl PrivatePostgres {
    /// `None` (after [`unreachable`]) when PostgreSQL's binaries or `runuser` are missing.
    pub fn start(test: &str) -> Option<Self> {
        if !Path::new(&format!("{PG_BIN}/initdb")).exists() {
            unreachable(test, "a private PostgreSQL", &format!("no {PG_BIN}/initdb"));
            return None;
        }
        let dir = std::env::temp_dir().join(format!("sluice-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("pg dir");
        let chown = std::process::Command::new("chown")
            .args(["postgres:postgres", &dir.display().to_string()])
            .status()
            .expect("chown");
        assert!(chown.success());
        let init = as_postgres("initdb")
            .args([
                "-D",
                &dir.join("data").display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb");
        assert!(init.success(), "initdb failed");
        let port = free_port().port();
        let pg = Self { dir, port };
        pg.pg_ctl_start();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let started = as_postgres("pg_ctl")
            .args(["-D", &self.dir.join("data").display().to_string()])
            .args(["-l", &self.dir.join("log").display().to_string()])
            .args(["-o", &options, "-w", "-t", "120", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(started.success(), "pg_ctl start failed");
    }

    pub fn stop(&self) {
        let stopped = as_postgres("pg_ctl")
            .args(["-D", &self.dir.join("data").display().to_string()])
            .args(["-m", "fast", "-w", "-t", "120", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl stop");
        assert!(stopped.success(), "pg_ctl stop failed");
    }

    pub fn start_again(&self) {
        self.pg_ctl_start();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .args(["-D", &self.dir.join("data").display().to_string()])
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// POST `{"commands":[{"type":"reserve","quantity":1}]}` to PROD-001's stock on `node`.
pub async fn reserve_one(client: &reqwest::Client, node: SocketAddr) -> reqwest::Response {
    client
        .post(format!("http://{node}/ingress/api/skus/PROD-001/stock"))
        .json(&serde_json::json!({"commands": [{"type": "reserve", "quantity": 1}]}))
        .send()
        .await
        .expect("request")
}

/// PROD-001's stock figures, read through `node`.
pub async fn stock(client: &reqwest::Client, node: SocketAddr) -> serde_json::Value {
    let response = client
        .post(format!("http://{node}/ingress/api/skus/PROD-001/stock"))
        .json(&serde_json::json!({"commands": []}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}
