//! Hot deploy (SPEC S1, S9): a reload swaps the whole deployment; new connections get the
//! new version, open streams finish on the one they started with, a broken file keeps its
//! old version serving, and each component version is compiled once.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Events;

/// A host over a fresh copy of the demo, with its deployer in hand.
struct Live {
    addr: SocketAddr,
    /// The admin listener: `POST /_sluice/deploy`, publish, metrics.
    admin: SocketAddr,
    client: reqwest::Client,
    deployer: Arc<sluice::deploy::Deployer>,
    dir: tempfile::TempDir,
}

impl Live {
    /// Serve the demo; `watch` turns the file watch on (off, only the admin call reloads,
    /// so a test's writes cannot start reloads of their own).
    async fn start(watch: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo written");
        let config = format!("store: sluice.db\nwatch: {watch}\n");
        std::fs::write(dir.path().join("sluice.yaml"), config).expect("config");
        sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
        let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
            .await
            .expect("host boots");
        assert!(booted.problems.is_empty(), "{:?}", booted.problems);
        let addr = booted.server.local_addr().expect("bound");
        let admin = booted.server.admin_addr().expect("admin bound");
        let deployer = booted.server.app().deployer.clone();
        tokio::spawn(booted.server.run(std::future::pending()));
        Self {
            addr,
            admin,
            client: reqwest::Client::new(),
            deployer,
            dir,
        }
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.path(relative), contents).expect("write");
    }

    fn read(&self, relative: &str) -> Vec<u8> {
        std::fs::read(self.path(relative)).expect("read")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// `POST /_sluice/deploy`: the status and the report.
    async fn deploy(&self) -> (u16, Value) {
        let response = self
            .client
            .post(self.admin_url("/_sluice/deploy"))
            .send()
            .await
            .expect("deploy");
        let status = response.status().as_u16();
        (status, response.json().await.expect("report"))
    }

    /// A JSON-mode GET: status and body text.
    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn stream(&self, path: &str) -> Events {
        let response = self
            .client
            .get(self.url(path))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        Events::new(response)
    }

    async fn publish(&self, topic: &str, data: Value) -> u64 {
        let response = self
            .client
            .post(self.admin_url("/_sluice/publish"))
            .json(&json!({ "topic": topic, "event": "checkpoint", "data": data }))
            .send()
            .await
            .expect("publish");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("json");
        body["id"].as_u64().expect("bus id")
    }

    /// Poll until the bus has `count` subscribers, so a publish cannot race a subscribe.
    async fn wait_for_subscribers(&self, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let metrics: Value = self
                .client
                .get(self.admin_url("/_sluice/metrics"))
                .send()
                .await
                .expect("metrics")
                .json()
                .await
                .expect("json");
            if metrics["busSubscribers"].as_u64() == Some(count) {
                return;
            }
            assert!(Instant::now() < deadline, "never {count} subscribers");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// An ingress file.
fn ingress(id: &str, component: &str, route: &str) -> String {
    format!(
        "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: {component}\n  acl: [actors/order:read]\n  properties:\n    route: {route}\n    httpMethod: get\n    isPublic: true\n"
    )
}

/// `wasm` with a custom section appended: another version of the same component, with the
/// same behaviour and other bytes.
fn another_version(wasm: &[u8], tag: &str) -> Vec<u8> {
    let name = b"hot-deploy-test";
    let mut section = vec![u8::try_from(name.len()).expect("short")];
    section.extend_from_slice(name);
    section.extend_from_slice(tag.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(section.len()).expect("under 128 bytes: one LEB128 byte"));
    out.extend_from_slice(&section);
    out
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item.as_str().expect("a string"))
        .collect()
}

/// The one problem naming `file`.
fn problem_for<'a>(report: &'a Value, file: &str) -> &'a Value {
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{report:#}");
    let problem = &problems[0];
    let named = problem["file"].as_str().expect("file");
    assert!(Path::new(named).ends_with(file), "{report:#}");
    problem
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_open_across_a_redeploy_keeps_the_old_code_while_new_connections_get_the_new() {
    let host = Live::start(false).await;
    let path = "/ingress/api/orders/ORD-123/events";
    // Before: order-events, which sends checkpoints as `updated` events without an id.
    let mut old = host.stream(path).await;
    host.wait_for_subscribers(1).await;

    // After: the same ingress runs resumable-order-events: `init` first, then ids.
    host.write(
        "ingresses/order-events.yaml",
        ingress(
            "api/orders/events",
            "resumable-order-events",
            "api/orders/{orderId}/events",
        ),
    );
    let (status, report) = host.deploy().await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(strings(&report["changed"]), ["api/orders/events"]);
    assert!(strings(&report["unchanged"]).contains(&"api/hello"));
    // The other ingress already runs that component, so nothing is compiled.
    assert_eq!(report["componentsCompiled"], 0);

    let mut new = host.stream(path).await;
    assert_eq!(
        new.next().await.event,
        "init",
        "a new connection runs the new code"
    );
    host.wait_for_subscribers(2).await;

    for status in ["paid", "shipped"] {
        let id = host
            .publish("actors/order/ORD-123", json!({ "status": status }))
            .await;
        let on_old = old.next().await;
        assert_eq!(on_old.event, "updated");
        assert_eq!(on_old.id, "", "the old code sends no id");
        assert!(on_old.data.contains(status), "{}", on_old.data);
        let on_new = new.next().await;
        assert_eq!(on_new.event, "updated");
        assert_eq!(on_new.id, id.to_string(), "the new code sends the bus id");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_redeploy_keeps_the_old_version_serving_and_names_file_and_reason() {
    let host = Live::start(false).await;
    let hello_yaml = host.read("ingresses/hello.yaml");
    let hello_wasm = host.read("components/hello.wasm");
    let hello = (200, r#""Hello world""#.to_owned());

    // A YAML mistake.
    host.write(
        "ingresses/hello.yaml",
        ingress("api/hello", "hello", "api/hello").replace("isPublic", "isPublik"),
    );
    let (status, report) = host.deploy().await;
    assert_eq!(status, 422, "{report:#}");
    let problem = problem_for(&report, "ingresses/hello.yaml");
    assert!(
        problem["reason"]
            .as_str()
            .expect("reason")
            .contains("unknown field `isPublik`"),
        "{problem}"
    );
    assert!(strings(&report["unchanged"]).contains(&"api/hello"));
    assert_eq!(host.get("/ingress/api/hello").await, hello);

    // A broken component under a good file.
    host.write("ingresses/hello.yaml", &hello_yaml);
    host.write("components/hello.wasm", &hello_wasm[..hello_wasm.len() / 2]);
    let (status, report) = host.deploy().await;
    assert_eq!(status, 422, "{report:#}");
    let reason = problem_for(&report, "ingresses/hello.yaml")["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(
        reason.contains("hello.wasm") && reason.contains("not a valid WebAssembly component"),
        "{reason}"
    );
    assert_eq!(host.get("/ingress/api/hello").await, hello);
    // Asked again, the same broken bytes are not compiled again.
    let (status, again) = host.deploy().await;
    assert_eq!(status, 422, "{again:#}");
    assert_eq!(again["componentsCompiled"], 0, "{again:#}");

    // A route that clashes with another ingress's: the old route keeps serving.
    host.write("components/hello.wasm", &hello_wasm);
    host.write(
        "ingresses/hello.yaml",
        ingress("api/hello", "hello", "api/heartbeat"),
    );
    let (status, report) = host.deploy().await;
    assert_eq!(status, 422, "{report:#}");
    let reason = problem_for(&report, "ingresses/hello.yaml")["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(reason.contains("spec.properties.route"), "{reason}");
    assert_eq!(host.get("/ingress/api/hello").await, hello);
    let (status, heartbeat) = host.get("/ingress/api/heartbeat").await;
    assert_eq!(status, 200);
    assert!(heartbeat.contains("timestamp"), "{heartbeat}");

    // Fixed: a clean deploy again.
    host.write("ingresses/hello.yaml", &hello_yaml);
    let (status, report) = host.deploy().await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["problems"], json!([]));
    assert_eq!(host.get("/ingress/api/hello").await, hello);
}

#[tokio::test(flavor = "multi_thread")]
async fn ingresses_are_added_changed_and_removed_while_streams_run() {
    let host = Live::start(false).await;
    let mut on_removed = host.stream("/ingress/api/orders/ORD-123/events").await;
    let mut on_changed = host
        .stream("/ingress/api/orders/ORD-123/resumable-events")
        .await;
    assert_eq!(on_changed.next().await.event, "init");
    host.wait_for_subscribers(2).await;

    std::fs::remove_file(host.path("ingresses/order-events.yaml")).expect("remove");
    host.write(
        "ingresses/resumable-order-events.yaml",
        ingress(
            "api/orders/resumable-events",
            "resumable-order-events",
            "api/orders/{orderId}/moved",
        ),
    );
    host.write(
        "ingresses/hello-again.yaml",
        ingress("api/hello-again", "hello", "api/hello-again"),
    );
    let (status, report) = host.deploy().await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(strings(&report["added"]), ["api/hello-again"]);
    assert_eq!(strings(&report["changed"]), ["api/orders/resumable-events"]);
    assert_eq!(strings(&report["removed"]), ["api/orders/events"]);

    // New connections see the new deployment.
    let gone = host.get("/ingress/api/orders/ORD-123/events").await;
    assert_eq!(gone.0, 404, "{gone:?}");
    let moved_away = host
        .get("/ingress/api/orders/ORD-123/resumable-events")
        .await;
    assert_eq!(moved_away.0, 404, "{moved_away:?}");
    assert_eq!(
        host.get("/ingress/api/hello-again").await,
        (200, r#""Hello world""#.to_owned())
    );
    let mut moved = host.stream("/ingress/api/orders/ORD-123/moved").await;
    assert_eq!(moved.next().await.event, "init");
    host.wait_for_subscribers(3).await;

    // The streams opened before still deliver, the removed ingress's included.
    let id = host
        .publish("actors/order/ORD-123", json!({ "status": "packed" }))
        .await;
    let with_id = id.to_string();
    for (events, id) in [
        (&mut on_removed, ""),
        (&mut on_changed, with_id.as_str()),
        (&mut moved, with_id.as_str()),
    ] {
        let event = events.next().await;
        assert_eq!(event.event, "updated");
        assert_eq!(event.id, id);
        assert!(event.data.contains("packed"), "{}", event.data);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_is_compiled_once_per_version_not_per_reload() {
    let host = Live::start(false).await;
    let at_boot = host.deployer.components_compiled();
    assert!(at_boot > 0);

    // Only YAML changes: nothing is compiled.
    host.write(
        "ingresses/hello-again.yaml",
        ingress("api/hello-again", "hello", "api/hello-again"),
    );
    let (status, report) = host.deploy().await;
    assert_eq!((status, &report["componentsCompiled"]), (200, &json!(0)));
    let (status, report) = host.deploy().await;
    assert_eq!((status, &report["componentsCompiled"]), (200, &json!(0)));
    assert_eq!(strings(&report["added"]), Vec::<&str>::new());
    assert_eq!(host.deployer.components_compiled(), at_boot);

    // A new version of a component two ingresses use: compiled once, and both serve it.
    let original = host.read("components/hello.wasm");
    host.write("components/hello.wasm", another_version(&original, "v2"));
    let (status, report) = host.deploy().await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["componentsCompiled"], 1);
    assert_eq!(
        strings(&report["changed"]),
        ["api/hello", "api/hello-again"]
    );
    assert_eq!(host.deployer.components_compiled(), at_boot + 1);
    for path in ["/ingress/api/hello", "/ingress/api/hello-again"] {
        assert_eq!(host.get(path).await, (200, r#""Hello world""#.to_owned()));
    }

    // The version before is no longer served, so it was let go: going back compiles it.
    host.write("components/hello.wasm", &original);
    let (_, report) = host.deploy().await;
    assert_eq!(report["componentsCompiled"], 1, "{report:#}");
    assert_eq!(host.deployer.components_compiled(), at_boot + 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_file_watch_deploys_changes_without_being_asked() {
    let host = Live::start(true).await;
    // Written elsewhere and renamed in, as a deploy tool should, so no half file is read.
    let staged = host.path("hello-again.yaml.tmp");
    std::fs::write(
        &staged,
        ingress("api/hello-again", "hello", "api/hello-again"),
    )
    .expect("stage");
    std::fs::rename(&staged, host.path("ingresses/hello-again.yaml")).expect("rename");
    // The watch waits 250 ms for quiet, then reloads; the margin is for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.get("/ingress/api/hello-again").await.0 != 200 {
        assert!(Instant::now() < deadline, "the new ingress never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        host.get("/ingress/api/hello-again").await.1,
        r#""Hello world""#
    );

    std::fs::remove_file(host.path("ingresses/hello-again.yaml")).expect("remove");
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.get("/ingress/api/hello-again").await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "the removed ingress still answers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(host.get("/ingress/api/hello").await.0, 200);
}
