//! A host started in-process on port 0 over a fresh copy of the bundled demo.

#![allow(dead_code)]

pub mod tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
pub use sluice::deploy::demo::Language;

pub struct Host {
    pub addr: SocketAddr,
    /// The admin listener's address (`adminListen`).
    pub admin: SocketAddr,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    /// Dropping it would start the drain.
    _serving: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Host {
    /// Serve the bundled demo from a temporary directory.
    pub async fn demo() -> Self {
        Self::demo_with(&[]).await
    }

    /// Serve the bundled demo plus `extra` files (path relative to the deploy directory).
    pub async fn demo_with(extra: &[(&str, &str)]) -> Self {
        Self::demo_with_fixtures(&[], extra).await
    }

    /// Serve the bundled demo plus test fixture components (`sluice_e2e::fixtures`) and
    /// `extra` files.
    pub async fn demo_with_fixtures(
        fixtures: &[sluice_e2e::Fixture],
        extra: &[(&str, &str)],
    ) -> Self {
        let (mut host, shutdown) = Self::start(fixtures, extra).await;
        // Never drained: the host serves as long as this `Host` lives.
        host._serving = Some(shutdown.trigger);
        host
    }

    /// Serve the bundled demo's examples in `languages` (the others serve only Rust's),
    /// plus test fixture components and `extra` files.
    pub async fn demo_in(
        languages: &[Language],
        fixtures: &[sluice_e2e::Fixture],
        extra: &[(&str, &str)],
    ) -> Self {
        let (mut host, shutdown) = Self::start_in(languages, fixtures, extra).await;
        host._serving = Some(shutdown.trigger);
        host
    }

    /// Like [`Host::demo_with`], with a handle that starts the host's drain.
    pub async fn demo_with_shutdown(extra: &[(&str, &str)]) -> (Self, Shutdown) {
        Self::start(&[], extra).await
    }

    async fn start(fixtures: &[sluice_e2e::Fixture], extra: &[(&str, &str)]) -> (Self, Shutdown) {
        Self::start_in(&[Language::Rust], fixtures, extra).await
    }

    async fn start_in(
        languages: &[Language],
        fixtures: &[sluice_e2e::Fixture],
        extra: &[(&str, &str)],
    ) -> (Self, Shutdown) {
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), languages).expect("demo written");
        for fixture in fixtures {
            fixture.write_to(dir.path()).expect("fixture written");
        }
        for (relative, contents) in extra {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
            std::fs::write(path, contents).expect("extra file");
        }
        sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
        let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
            .await
            .expect("host boots");
        assert!(
            booted.problems.is_empty(),
            "demo deploys cleanly: {:?}",
            booted.problems
        );
        let addr = booted.server.local_addr().expect("bound");
        let admin = booted.server.admin_addr().expect("admin bound");
        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        let stopped = tokio::spawn(booted.server.run(async {
            let _ = triggered.await;
        }));
        let host = Self {
            addr,
            admin,
            client: reqwest::Client::new(),
            _dir: dir,
            _serving: None,
        };
        (host, Shutdown { trigger, stopped })
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `path` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub fn sse(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(self.url(path))
            .header("accept", "text/event-stream")
    }

    /// Open an SSE stream that must start (200, `text/event-stream`).
    pub async fn stream(&self, path: &str) -> Events {
        let response = self.sse(path).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events::new(response)
    }

    pub fn json(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(self.url(path))
            .header("accept", "application/json")
    }

    pub async fn publish(&self, topic: &str, event: &str, data: Value) -> u64 {
        let response = self
            .client
            .post(self.admin_url("/_sluice/publish"))
            .json(&json!({ "topic": topic, "event": event, "data": data }))
            .send()
            .await
            .expect("publish");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("json");
        body["id"].as_u64().expect("bus id")
    }

    pub async fn metrics(&self) -> Value {
        self.client
            .get(self.admin_url("/_sluice/metrics"))
            .send()
            .await
            .expect("metrics")
            .json()
            .await
            .expect("json")
    }

    pub async fn live_instances(&self) -> u64 {
        self.metrics().await["liveInstances"]
            .as_u64()
            .expect("count")
    }

    /// Wait until every instance is released; a failure if one is still live after 10 s
    /// (release takes milliseconds; the margin is for a loaded machine).
    pub async fn assert_instances_released(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.live_instances().await != 0 {
            assert!(Instant::now() < deadline, "instance still live after 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Poll until the bus has `count` subscribers, so a publish cannot race a subscribe.
    pub async fn wait_for_subscribers(&self, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.metrics().await["busSubscribers"].as_u64() != Some(count) {
            assert!(
                Instant::now() < deadline,
                "never reached {count} subscribers"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Starts a host's drain (as SIGTERM does) and tells when it has stopped.
pub struct Shutdown {
    trigger: tokio::sync::oneshot::Sender<()>,
    pub stopped: tokio::task::JoinHandle<()>,
}

impl Shutdown {
    /// Start draining; the returned handle resolves once the host has stopped.
    pub fn drain(self) -> tokio::task::JoinHandle<()> {
        let _ = self.trigger.send(());
        self.stopped
    }
}

/// An SSE stream parsed by an independent parser (`eventsource-stream`).
pub struct Events {
    inner: std::pin::Pin<Box<dyn futures::Stream<Item = eventsource_stream::Event> + Send>>,
}

impl Events {
    pub fn new(response: reqwest::Response) -> Self {
        use eventsource_stream::Eventsource;
        let inner = response
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("well-formed SSE"));
        Self {
            inner: Box::pin(inner),
        }
    }

    /// The next event if one arrives within `wait`.
    pub async fn try_next_within(&mut self, wait: Duration) -> Option<eventsource_stream::Event> {
        tokio::time::timeout(wait, self.inner.next())
            .await
            .ok()
            .flatten()
    }

    pub async fn next(&mut self) -> eventsource_stream::Event {
        tokio::time::timeout(Duration::from_secs(5), self.inner.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream is still open")
    }
}
