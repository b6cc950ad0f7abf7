//! Request ids and JSON logs, on a real `sluice serve --log-format json` process: every
//! response carries `x-request-id` (the client's when well formed, else a fresh UUID), and
//! the host's log lines about a request — including those written by the task that feeds an
//! SSE stream after its head went out — carry the same id. A component's stdout and stderr
//! reach the log line by line, with that id, within the per-instance budget.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod cluster_support;

const HOSTILE: &str = "uri: /resources/ingresses/hostile
spec:
  type: http
  componentId: limits-hostile
  properties:
    route: api/hostile/{attack}
    httpMethod: get
    isPublic: true
";

struct Server {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// With `extra` fixtures besides `sse-fails-after` and `limits-hostile`, each with its
    /// ingress file `(name, yaml)`.
    async fn start_with(extra: &[(sluice_e2e::Fixture, &str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
            .expect("demo");
        std::fs::write(
            dir.path().join("ingresses/fails-after.yaml"),
            sluice_e2e::SSE_FAILS_AFTER_INGRESS,
        )
        .expect("ingress");
        std::fs::write(dir.path().join("ingresses/hostile.yaml"), HOSTILE).expect("ingress");
        for fixture in [
            sluice_e2e::fixtures::SSE_FAILS_AFTER,
            sluice_e2e::fixtures::LIMITS_HOSTILE,
        ] {
            fixture.write_to(dir.path()).expect("fixture");
        }
        for (fixture, name, ingress) in extra {
            fixture.write_to(dir.path()).expect("fixture");
            std::fs::write(dir.path().join("ingresses").join(name), ingress).expect("ingress");
        }
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let log = std::fs::File::create(dir.path().join("host.log")).expect("log");
        let child = Command::new(cluster_support::sluice_binary())
            .args(["serve", &dir.path().display().to_string()])
            .args(["--listen", &addr.to_string(), "--log-format", "json"])
            .args(["--admin-listen", "127.0.0.1:0"])
            // Warnings only, but the guest's output too: the request's span must survive
            // a filter that hides the host's info lines.
            .env("RUST_LOG", "warn,sluice::guest=info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("sluice serve");
        let server = Self { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "the host never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("host.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line:?}")))
            .collect()
    }

    /// One request on a fresh connection (`connection: close`): the whole response.
    async fn get(&self, path: &str, extra_headers: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n{extra_headers}connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
            .await
            .expect("the response within 60 s")
            .expect("read");
        String::from_utf8(response).expect("UTF-8")
    }
}

fn header<'a>(response: &'a str, name: &str) -> Vec<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .collect()
}

/// The guest's own lines for request `id`: `(stream, message)`.
fn guest_lines(server: &Server, id: &str) -> Vec<(String, String)> {
    server
        .log_lines()
        .into_iter()
        .filter(|line| line["target"] == "sluice::guest" && line["span"]["request_id"] == id)
        .filter_map(|line| {
            let stream = line["fields"]["stream"].as_str()?.to_owned();
            Some((stream, line["fields"]["message"].as_str()?.to_owned()))
        })
        .collect()
}

/// Wait until `found` holds for the log, or fail with the log.
async fn wait_for_log(server: &Server, what: &str, found: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !found(&server.log_lines()) {
        assert!(
            Instant::now() < deadline,
            "{what}: not in the log within 30 s:\n{:#?}",
            server.log_lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_uuid_v4(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|uuid| uuid.get_version_num() == 4)
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_carry_the_request_id_and_so_do_the_log_lines_about_them() {
    let server = Server::start().await;

    let kept = server
        .get(
            "/ingress/api/hello",
            "x-request-id: trace-0af7651916cd43dd\r\n",
        )
        .await;
    assert!(kept.starts_with("HTTP/1.1 200"), "{kept}");
    assert_eq!(header(&kept, "x-request-id"), ["trace-0af7651916cd43dd"]);

    let fresh = server.get("/ingress/api/hello", "").await;
    let fresh_id = header(&fresh, "x-request-id");
    assert!(fresh_id.len() == 1 && is_uuid_v4(fresh_id[0]), "{fresh}");
    let another = server.get("/ingress/api/hello", "").await;
    assert_ne!(header(&another, "x-request-id"), fresh_id);

    let malformed = server
        .get("/ingress/api/hello", "x-request-id: two words\r\n")
        .await;
    let replaced = header(&malformed, "x-request-id");
    assert!(
        replaced.len() == 1 && is_uuid_v4(replaced[0]),
        "{malformed}"
    );

    // Errors the host makes carry it too.
    let missing = server
        .get("/ingress/no/such/route", "x-request-id: lost-1\r\n")
        .await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert_eq!(header(&missing, "x-request-id"), ["lost-1"]);

    // A component that fails after its third event: the warning comes from the stream's
    // body, pulled in hyper's task long after the response head went out.
    let failed = server
        .get(
            "/ingress/api/test/fails-after/3",
            "x-request-id: fails-3\r\n",
        )
        .await;
    assert!(failed.contains("COMPONENT_FAILED"), "{failed}");
    assert_eq!(header(&failed, "x-request-id"), ["fails-3"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let warning = loop {
        let found = server.log_lines().into_iter().find(|line| {
            line["fields"]["message"] == "component failed mid-stream"
                && line["span"]["request_id"] == "fails-3"
        });
        if let Some(line) = found {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no warning with the request id; the log:\n{:#?}",
            server.log_lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["span"]["name"], "request");
    assert_eq!(warning["fields"]["ingress"], "test/fails-after");
    // What the component logs through the host while its stream is pulled, after the
    // response head went out, is in the request's span too.
    let ticks: Vec<String> = server
        .log_lines()
        .iter()
        .filter(|line| line["target"] == "sluice::guest" && line["span"]["request_id"] == "fails-3")
        .filter_map(|line| line["fields"]["message"].as_str())
        .filter(|message| message.starts_with("tick "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        ticks,
        ["tick 1", "tick 2", "tick 3"],
        "{:#?}",
        server.log_lines()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_components_output_and_its_panic_reach_the_log_within_its_budget() {
    let server = Server::start().await;

    let panicked = server
        .get("/ingress/api/hostile/panic", "x-request-id: panic-1\r\n")
        .await;
    assert!(panicked.starts_with("HTTP/1.1 500"), "{panicked}");
    assert!(panicked.contains("COMPONENT_FAILED"), "{panicked}");
    wait_for_log(&server, "the panic message", |_| {
        guest_lines(&server, "panic-1")
            .iter()
            .any(|(stream, line)| stream == "stderr" && line.contains("the component gave up"))
    })
    .await;
    let lines = guest_lines(&server, "panic-1");
    assert_eq!(
        lines.first(),
        Some(&("stdout".to_owned(), "about to give up".to_owned())),
        "{lines:#?}"
    );

    // 1,000 lines at once: the burst is logged, the rest dropped, and the drop said once.
    let chatter = server
        .get(
            "/ingress/api/hostile/chatter",
            "x-request-id: chatter-1\r\n",
        )
        .await;
    assert!(chatter.contains("event: said"), "{chatter}");
    let is_budget_warning = |line: &Value| {
        line["span"]["request_id"] == "chatter-1"
            && line["fields"]["message"]
                == "the component writes more than its log budget; dropping the rest"
    };
    wait_for_log(&server, "the budget warning", |lines| {
        lines.iter().any(is_budget_warning)
    })
    .await;
    let said = guest_lines(&server, "chatter-1");
    assert!(
        (100..=110).contains(&said.len()),
        "{} lines logged",
        said.len()
    );
    assert_eq!(said[0], ("stdout".to_owned(), "line 1".to_owned()));
    assert!(said.iter().all(|(stream, _)| stream == "stdout"));
    let warnings = server
        .log_lines()
        .iter()
        .filter(|line| is_budget_warning(line))
        .count();
    assert_eq!(warnings, 1);
}

/// A Python traceback and a JavaScript stack reach the log line by line, with the request
/// id, and name the component's own source.
#[tokio::test(flavor = "multi_thread")]
async fn an_uncaught_exceptions_trace_reaches_the_log_line_by_line_with_the_request_id() {
    let ingress = |id: &str| {
        format!(
            "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: {id}\n  \
             properties:\n    route: api/{id}/{{when}}\n    httpMethod: get\n    isPublic: true\n"
        )
    };
    let (python, javascript) = (ingress("py-fails"), ingress("js-fails"));
    let server = Server::start_with(&[
        (sluice_e2e::fixtures::PY_FAILS, "py-fails.yaml", &python),
        (sluice_e2e::fixtures::JS_FAILS, "js-fails.yaml", &javascript),
    ])
    .await;
    // What each says last for each failure, and the line that names the source.
    let cases = [
        (
            "py-fails",
            "before",
            "RuntimeError: py-fails: failing before the stream as asked",
            "app.py",
        ),
        (
            "py-fails",
            "after",
            "ZeroDivisionError: division by zero",
            "app.py",
        ),
        // A JavaScript stack names the bundle `sluice build` made of the component.
        (
            "js-fails",
            "before",
            "TypeError: can't access property \"property\" of null",
            "js-fails.bundle.js",
        ),
        (
            "js-fails",
            "after",
            "RangeError: invalid array length",
            "js-fails.bundle.js",
        ),
    ];
    for (component, when, raised, source) in cases {
        let id = format!("{component}-{when}");
        let response = server
            .get(
                &format!("/ingress/api/{component}/{when}"),
                &format!("x-request-id: {id}\r\n"),
            )
            .await;
        assert!(response.contains("COMPONENT_FAILED"), "{response}");
        wait_for_log(&server, raised, |_| {
            guest_lines(&server, &id)
                .iter()
                .any(|(_, line)| line.contains(raised))
        })
        .await;
        let stderr: Vec<String> = guest_lines(&server, &id)
            .into_iter()
            .filter(|(stream, _)| stream == "stderr")
            .map(|(_, line)| line)
            .collect();
        assert!(
            stderr.iter().any(|line| line.contains(source)),
            "the trace names {source}: {stderr:#?}"
        );
        if component == "py-fails" {
            assert!(
                stderr
                    .iter()
                    .any(|line| line == "Traceback (most recent call last):"),
                "{stderr:#?}"
            );
        }
    }
    for component in ["py-fails", "js-fails"] {
        let before = guest_lines(&server, &format!("{component}-before"));
        assert!(
            before.contains(&(
                "stdout".to_owned(),
                "about to fail before the stream".to_owned()
            )),
            "{before:#?}"
        );
    }
}
