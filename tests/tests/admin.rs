//! The admin surface: its own listener, the admin token, `/healthz` and `/readyz`, and the
//! public listener answering none of it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::Host;

const ACTOR_MESSAGES: &str =
    r#"[{"type":"create","body":{"physicalStock":3}},{"type":"query","alias":"state"}]"#;

/// Every admin endpoint, as (method, path, body).
fn admin_endpoints() -> Vec<(reqwest::Method, &'static str, Option<Value>)> {
    vec![
        (reqwest::Method::GET, "/healthz", None),
        (reqwest::Method::GET, "/readyz", None),
        (reqwest::Method::GET, "/_sluice/metrics", None),
        (
            reqwest::Method::POST,
            "/_sluice/publish",
            Some(json!({"topic": "actors/order/ORD-A", "event": "checkpoint", "data": {}})),
        ),
        (
            reqwest::Method::POST,
            "/_sluice/actors/sku/new",
            Some(serde_json::from_str(ACTOR_MESSAGES).expect("json")),
        ),
    ]
}

async fn call(
    client: &reqwest::Client,
    url: String,
    method: reqwest::Method,
    body: Option<Value>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_listener_answers_none_of_the_admin_endpoints() {
    let host = Host::demo().await;
    let unknown = host
        .client
        .get(host.url("/no/such/path"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    let unknown_body = unknown.text().await.expect("body");
    let mut paths = admin_endpoints();
    paths.push((reqwest::Method::GET, "/metrics", None));
    paths.push((reqwest::Method::POST, "/_sluice/deploy", None));
    for (method, path, body) in paths {
        let response = call(&host.client, host.url(path), method.clone(), body, None).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.text().await.expect("body"),
            unknown_body,
            "{method} {path} is like any unknown path"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_listener_serves_health_metrics_publish_and_actors_and_no_ingress() {
    let host = Host::demo().await;
    assert_ne!(host.admin, host.addr);
    let client = &host.client;
    let healthz = client
        .get(host.admin_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    assert_eq!(healthz.headers()["content-type"], "application/json");
    assert_eq!(healthz.text().await.expect("body"), r#"{"status":"ok"}"#);

    let readyz = client
        .get(host.admin_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(readyz.status(), 200);
    assert_eq!(
        readyz.json::<Value>().await.expect("json"),
        json!({"status": "ready", "checks": {"store": "ok", "bus": "ok"}})
    );

    let metrics = host.metrics().await;
    assert!(
        metrics["ingresses"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!("api/hello"))),
        "{metrics}"
    );
    let id = host
        .publish("actors/order/ORD-A", "checkpoint", json!({}))
        .await;
    assert!(id > 0);
    let (method, path, body) = admin_endpoints().pop().expect("actors");
    let created = call(client, host.admin_url(path), method, body, None).await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["data"]["state"]["physicalStock"], 3, "{created}");

    let ingress = client
        .get(host.admin_url("/ingress/api/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(ingress.status(), 404, "ingresses are served publicly only");
    let hello = client
        .get(host.url("/ingress/api/hello"))
        .send()
        .await
        .expect("hello");
    assert_eq!(hello.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_admin_token_only_the_right_bearer_token_gets_in() {
    let host = Host::demo_with(&[
        ("sluice.yaml", "adminTokenFile: secrets/admin.token\n"),
        ("secrets/admin.token", "  adm-7f1c2e\n"),
    ])
    .await;
    for (method, path, body) in admin_endpoints() {
        for (token, challenge) in [
            (None, r#"Bearer realm="sluice-admin""#),
            (
                Some("adm-7f1c2f"),
                r#"Bearer realm="sluice-admin", error="invalid_token""#,
            ),
            (
                Some("adm-7f1c2e-and-more"),
                r#"Bearer realm="sluice-admin", error="invalid_token""#,
            ),
        ] {
            let refused = call(
                &host.client,
                host.admin_url(path),
                method.clone(),
                body.clone(),
                token,
            )
            .await;
            assert_eq!(refused.status(), 401, "{method} {path} with {token:?}");
            assert_eq!(refused.headers()["www-authenticate"], challenge);
            let refused: Value = refused.json().await.expect("json");
            assert_eq!(refused["error"]["code"], "UNAUTHORIZED");
        }
        let admitted = call(
            &host.client,
            host.admin_url(path),
            method.clone(),
            body,
            Some("adm-7f1c2e"),
        )
        .await;
        assert!(
            admitted.status().is_success(),
            "{method} {path}: {}",
            admitted.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn public_health_exposes_healthz_and_readyz_on_the_public_listener_without_the_token() {
    let host = Host::demo_with(&[
        (
            "sluice.yaml",
            "publicHealth: true\nadminTokenFile: admin.token\n",
        ),
        ("admin.token", "adm-1\n"),
    ])
    .await;
    let healthz = host
        .client
        .get(host.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    assert_eq!(healthz.text().await.expect("body"), r#"{"status":"ok"}"#);
    let readyz = host
        .client
        .get(host.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(readyz.status(), 200);
    assert_eq!(
        readyz.json::<Value>().await.expect("json")["status"],
        "ready"
    );
    let metrics = host
        .client
        .get(host.url("/_sluice/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 404, "only health is public");
    let post = host
        .client
        .post(host.url("/healthz"))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_not_on_the_public_listener_by_default() {
    let host = Host::demo().await;
    for path in ["/healthz", "/readyz"] {
        let response = host
            .client
            .get(host.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{path}");
    }
}

/// Read one HTTP/1.1 response head (up to the blank line) from `stream`.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("UTF-8 head")
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_draining_and_healthz_stays_200() {
    let (host, shutdown) =
        Host::demo_with_shutdown(&[("sluice.yaml", "drainSeconds: 300\n")]).await;
    // A request in flight keeps the drain going: its body is still coming. `100 Continue`
    // says the host has started reading it.
    let body = r#"{"commands":[]}"#;
    let addr = host.addr;
    let mut slow = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let head = format!(
            "POST /ingress/api/skus/PROD-001/stock HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("head");
        let interim = read_head(&mut stream);
        assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
        stream
    })
    .await
    .expect("join");

    let ready = host
        .client
        .get(host.admin_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let stopped = shutdown.drain();
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let readyz = host
            .client
            .get(host.admin_url("/readyz"))
            .send()
            .await
            .expect("readyz");
        if readyz.status() == 503 {
            break readyz;
        }
        assert!(Instant::now() < deadline, "readyz never said 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "5");
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(refused["status"], "not ready");
    assert_eq!(refused["notReady"], json!(["draining"]));
    assert_eq!(refused["checks"]["draining"], "the host is draining");
    let healthz = host
        .client
        .get(host.admin_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200, "alive while draining");
    assert!(!stopped.is_finished(), "the slow request holds the drain");

    // The request finishes (a JSON request during the drain may be told 503 to retry
    // elsewhere); then the drain does.
    let answer = tokio::task::spawn_blocking(move || {
        slow.write_all(body.as_bytes()).expect("body");
        read_head(&mut slow)
    })
    .await
    .expect("join");
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    tokio::time::timeout(Duration::from_secs(120), stopped)
        .await
        .expect("the drain ends once the request is done")
        .expect("stopped");
}

/// A private `nats-server` with JetStream on a free port, stopped on drop.
struct PrivateNats {
    child: Option<Child>,
    port: u16,
    _store: tempfile::TempDir,
}

impl PrivateNats {
    /// `None` (and a loud skip) when there is no `nats-server`, unless `CI` is set.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut nats = Self {
            child: None,
            port,
            _store: tempfile::tempdir().expect("store dir"),
        };
        match nats.spawn() {
            Ok(()) => Some(nats),
            Err(err) if std::env::var_os("CI").is_some() => {
                panic!("nats-server is required under CI: {err}")
            }
            Err(err) => {
                eprintln!("\n!!! SKIPPED: cannot start nats-server ({err})\n");
                None
            }
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-sd", &self._store.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_for_readyz(host: &Host, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let readyz = host
            .client
            .get(host.admin_url("/readyz"))
            .send()
            .await
            .expect("readyz");
        if readyz.status() == status {
            if status == 503 {
                assert_eq!(readyz.headers()["retry-after"], "5");
            }
            return readyz.json().await.expect("json");
        }
        assert!(
            Instant::now() < deadline,
            "readyz never said {status}: {}",
            readyz.text().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_naming_the_bus_while_nats_is_down_and_200_once_it_is_back() {
    let Some(mut nats) = PrivateNats::start() else {
        return;
    };
    let config = format!(
        "bus: {{ url: \"nats://127.0.0.1:{}\", stream: ADMIN_READY, storage: memory, connectTimeoutSeconds: 5 }}\n",
        nats.port
    );
    let host = Host::demo_with(&[("sluice.yaml", &config)]).await;
    let ready = wait_for_readyz(&host, 200).await;
    assert_eq!(ready["checks"]["bus"], "ok");

    nats.stop();
    let down = wait_for_readyz(&host, 503).await;
    assert_eq!(down["notReady"], json!(["bus"]), "{down}");
    assert_eq!(down["checks"]["store"], "ok");
    let reason = down["checks"]["bus"].as_str().expect("a reason");
    assert!(
        reason.contains(&format!("NATS at nats://127.0.0.1:{}", nats.port)),
        "{reason}"
    );

    nats.spawn().expect("nats-server restarts");
    let back = wait_for_readyz(&host, 200).await;
    assert_eq!(back["checks"]["bus"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_empty_admin_token_file_stops_the_host_naming_the_file() {
    for (files, reason) in [
        (vec![], "No such file"),
        (
            vec![("admin.token", " \n\t")],
            "the admin token file is empty",
        ),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo");
        std::fs::write(
            dir.path().join("sluice.yaml"),
            "adminTokenFile: admin.token\n",
        )
        .expect("config");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("file");
        }
        sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
        let err = match sluice::boot(dir.path(), sluice::Listen::ephemeral()).await {
            Ok(_) => panic!("booted without a usable admin token"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains("admin.token"), "{err}");
        assert!(err.contains("adminTokenFile"), "{err}");
        assert!(err.contains(reason), "{err}");
    }
}
