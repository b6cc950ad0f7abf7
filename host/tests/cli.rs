//! The `sluice` binary itself: `serve` a deploy directory, `publish` to it, and watch the
//! event arrive on a stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process, killed on drop, and its deploy directory.
struct Server(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match TcpStream::connect(addr) {
            Ok(stream) => return stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => panic!("sluice never listened on {addr}: {err}"),
        }
    }
}

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

/// `sluice serve` on a fresh copy of the demo, on free ports: the server, its public address
/// and its admin address.
fn serve_demo() -> (Server, SocketAddr, SocketAddr) {
    serve_demo_with(&[])
}

/// Like [`serve_demo`], with `extra` files (path relative to the deploy directory) added.
fn serve_demo_with(extra: &[(&str, &str)]) -> (Server, SocketAddr, SocketAddr) {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    for (relative, contents) in extra {
        std::fs::write(dir.path().join(relative), contents).expect("extra file");
    }
    let (addr, admin) = (free_port(), free_port());
    let child = sluice()
        .args([
            "serve",
            &dir.path().display().to_string(),
            "--listen",
            &addr.to_string(),
            "--admin-listen",
            &admin.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice serve");
    (Server(child, dir), addr, admin)
}

/// Open the order-events SSE stream over a raw socket and check it started.
fn open_order_stream(addr: SocketAddr, order: &str) -> BufReader<TcpStream> {
    let mut stream = connect(addr);
    let request = format!(
        "GET /ingress/api/orders/{order}/events HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("request");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    reader
}

#[test]
fn serve_then_publish_delivers_the_event_to_a_stream() {
    let (_server, addr, admin) = serve_demo();
    let mut reader = open_order_stream(addr, "ORD-123");

    // The subscription exists once the metrics say so; then publish through the CLI.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut metrics = connect(admin);
        metrics
            .write_all(b"GET /_sluice/metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .expect("metrics");
        let mut body = String::new();
        metrics.read_to_string(&mut body).expect("metrics body");
        if body.contains("\"busSubscribers\":1") {
            break;
        }
        assert!(Instant::now() < deadline, "no subscriber: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let published = sluice()
        .args([
            "publish",
            "--topic",
            "actors/order/ORD-123",
            "--event",
            "checkpoint",
        ])
        .args([
            "--data",
            r#"{"status":"shipped"}"#,
            "--server",
            &format!("http://{admin}"),
        ])
        .output()
        .expect("sluice publish");
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    assert!(String::from_utf8_lossy(&published.stdout).contains("\"id\":"));

    let mut seen = String::new();
    while !seen.contains("\"status\":\"shipped\"") {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("stream line") > 0,
            "stream ended: {seen}"
        );
        seen.push_str(&line);
    }
    assert!(seen.contains("event: updated\n"), "{seen}");
}

#[test]
fn actor_send_creates_an_actor_and_can_preview() {
    let (_server, _, admin) = serve_demo();
    drop(connect(admin));
    let server = format!("http://{admin}");
    let send = |messages: &str, preview: bool| {
        let mut command = sluice();
        command.args(["actor", "send", "sku", "new", messages, "--server", &server]);
        if preview {
            command.arg("--preview");
        }
        let output = command.output().expect("sluice actor send");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("json response")
    };
    let created = send(
        r#"[{"type":"create","body":{"physicalStock":3}},{"type":"query","alias":"state"}]"#,
        false,
    );
    assert_eq!(created["data"]["state"]["physicalStock"], 3, "{created}");
    let previewed = send(r#"{"type":"create"}"#, true);
    assert_eq!(previewed["errors"], serde_json::json!([]), "{previewed}");
}

#[test]
fn sigterm_drains_streams_with_a_farewell_and_exits() {
    let (mut server, addr, _) = serve_demo();
    let mut reader = open_order_stream(addr, "ORD-1");

    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut rest = String::new();
    reader
        .read_to_string(&mut rest)
        .expect("the stream ends cleanly");
    assert!(
        rest.contains(":stream ended by the server; reconnect\n\n"),
        "{rest}"
    );
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "a complete chunked response: {rest:?}"
    );

    // Exiting takes milliseconds once the stream has ended; the margin is for a loaded machine.
    let deadline = sent + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "still running 60 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn the_cli_presents_the_admin_token_from_a_file_or_the_environment() {
    let (_server, _, admin) = serve_demo_with(&[
        ("sluice.yaml", "adminTokenFile: admin.token\n"),
        ("admin.token", "tok-3f9a\n"),
    ]);
    drop(connect(admin));
    let server = format!("http://{admin}");
    let token_dir = tempfile::tempdir().expect("dir");
    let (right, wrong) = (
        token_dir.path().join("right"),
        token_dir.path().join("wrong"),
    );
    std::fs::write(&right, "  tok-3f9a \n").expect("token file");
    std::fs::write(&wrong, "tok-3f9b").expect("token file");
    let publish = |extra: &[&str], env: Option<&str>| {
        let mut command = sluice();
        command
            .args([
                "publish", "--topic", "t", "--event", "e", "--server", &server,
            ])
            .args(extra)
            .env_remove("SLUICE_ADMIN_TOKEN");
        if let Some(token) = env {
            command.env("SLUICE_ADMIN_TOKEN", token);
        }
        command.output().expect("sluice publish")
    };
    let refused = publish(&[], None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let wrong_file = publish(&["--admin-token-file", &wrong.display().to_string()], None);
    assert!(!wrong_file.status.success());
    for (extra, env) in [
        (
            vec!["--admin-token-file", right.to_str().expect("path")],
            None,
        ),
        (vec![], Some("tok-3f9a")),
    ] {
        let output = publish(&extra, env);
        assert!(
            output.status.success(),
            "{extra:?} {env:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("\"id\":"));
    }
}

#[test]
fn serve_refuses_an_empty_admin_token_file_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    std::fs::write(
        dir.path().join("sluice.yaml"),
        "adminTokenFile: admin.token\n",
    )
    .expect("config");
    std::fs::write(dir.path().join("admin.token"), " \n").expect("token");
    let output = sluice()
        .args(["serve", &dir.path().display().to_string()])
        .args(["--listen", &free_port().to_string()])
        .args(["--admin-listen", &free_port().to_string()])
        .output()
        .expect("sluice serve");
    assert!(!output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("admin.token") && stderr.contains("the admin token file is empty"),
        "{stderr}"
    );
}

#[test]
fn an_admin_listener_on_port_0_reports_its_address_in_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    let mut child = sluice()
        .args(["serve", &dir.path().display().to_string()])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice serve");
    let stdout = child.stdout.take().expect("stdout");
    let _server = Server(child, dir);
    let line = BufReader::new(stdout)
        .lines()
        .map(|line| line.expect("log line"))
        .find(|line| line.contains("admin endpoints listening"))
        .expect("the admin address is logged");
    let admin: SocketAddr = line
        .split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert_ne!(admin.port(), 0);
    let mut health = connect(admin);
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    health.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
}

#[test]
fn publish_with_bad_json_fails_with_a_clear_message() {
    let output = sluice()
        .args(["publish", "--topic", "t", "--event", "e", "--data", "{oops"])
        .output()
        .expect("sluice publish");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--data is not valid JSON"));
}

#[test]
fn token_prints_a_fresh_token_and_an_entry_that_admits_it() {
    let make = || {
        let output = sluice()
            .args(["token", "--subject", "deploy-bot"])
            .args(["--scope", "ingresses/api/*:http"])
            .output()
            .expect("sluice token");
        assert!(output.status.success());
        let entry = String::from_utf8(output.stdout).expect("UTF-8");
        let told = String::from_utf8(output.stderr).expect("UTF-8");
        let token = told
            .lines()
            .find_map(|line| line.strip_prefix("token for deploy-bot (shown only now): "))
            .expect("the token on stderr")
            .to_owned();
        assert!(!entry.contains(&token), "the entry holds only the hash");
        (entry, token)
    };
    let ((first_entry, first), (second_entry, second)) = (make(), make());
    assert_ne!(first, second, "every token is fresh");
    assert_ne!(first_entry, second_entry);

    // The entry, appended to a tokens file, admits exactly that token.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("tokens.yaml"), &first_entry).expect("tokens file");
    let config: sluice::auth::AuthConfig =
        serde_norway::from_str("tokensFile: tokens.yaml").expect("config");
    let auth = sluice::auth::Authenticator::load(&config, dir.path()).expect("loads");
    let bearer = |token: &str| {
        let mut headers = http::HeaderMap::new();
        let value = format!("Bearer {token}").parse().expect("header");
        headers.insert(http::header::AUTHORIZATION, value);
        headers
    };
    let caller = auth
        .authenticate(&bearer(&first))
        .expect("valid")
        .expect("a caller");
    assert_eq!(caller.subject.as_deref(), Some("deploy-bot"));
    assert_eq!(caller.permissions, ["ingresses/api/*:http"]);
    assert!(caller.may_call("api/whoami"));
    assert!(auth.authenticate(&bearer(&second)).is_err());
}
