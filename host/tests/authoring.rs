//! The tools for component authors, as a new user runs them: `sluice new` (each kind) →
//! `sluice build --deploy` → `sluice check` → `sluice serve` → an HTTP client gets each
//! template's output; and `sluice check` on a broken deploy directory.
//!
//! The builds share one target directory, `target/sluice-new-tests`, so the three kinds
//! share their dependencies and a rerun compiles only the new crates. They run offline
//! (`CARGO_NET_OFFLINE`): the SDK's dependencies are in cargo's cache once the workspace
//! has been built.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("sluice runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The target directory every build in these tests shares.
fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sluice-new-tests")
}

/// `sluice build` with the shared target directory, offline.
fn sluice_build() -> Command {
    let mut command = sluice();
    command
        .arg("build")
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("CARGO_NET_OFFLINE", "true");
    command
}

/// A running `sluice serve`, killed on drop, and the address it listens on.
struct Served {
    child: Child,
    addr: SocketAddr,
    /// The admin listener: publish, actors, metrics.
    admin: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }
}

/// `sluice serve DIR`, both listeners on port 0. The addresses come from its JSON log lines
/// "sluice is serving" and "admin endpoints listening"; the rest of its output is drained
/// so the server never blocks on a full pipe.
fn serve(dir: &Path) -> Served {
    let mut child = sluice()
        .args(["--log-format", "json", "serve"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sluice serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (found, addrs) = mpsc::channel::<(bool, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(log) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let admin = match log["fields"]["message"].as_str() {
                Some("sluice is serving") => false,
                Some("admin endpoints listening") => true,
                _ => continue,
            };
            if let Some(addr) = log["fields"]["addr"].as_str() {
                let _ = found.send((admin, addr.to_owned()));
            }
        }
    });
    let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut served = Served {
        child,
        addr: unbound,
        admin: unbound,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while served.addr == unbound || served.admin == unbound {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok((admin, addr)) = addrs.recv_timeout(left) else {
            match served.child.try_wait() {
                Ok(Some(status)) => panic!("sluice serve exited: {status}"),
                _ => panic!("sluice serve did not log both of its listening addresses"),
            }
        };
        let addr = addr.parse().expect("a socket address");
        if admin {
            served.admin = addr;
        } else {
            served.addr = addr;
        }
    }
    served
}

/// Wait until the server counts `n` bus subscribers.
async fn wait_for_subscribers(client: &reqwest::Client, served: &Served, n: u64) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let metrics: Value = client
                .get(served.admin_url("/_sluice/metrics"))
                .send()
                .await
                .expect("metrics")
                .json()
                .await
                .expect("metrics json");
            if metrics["busSubscribers"].as_u64() >= Some(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the stream never subscribed");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_build_check_and_serve_each_kind_answers_with_its_templates_output() {
    let work = tempfile::tempdir().expect("temp dir");
    let deploy = work.path().join("deploy");
    for (name, kind) in [("ticker", "sse"), ("greeter", "json"), ("counter", "actor")] {
        let created = run(sluice()
            .args(["new", name, "--kind", kind, "--dir"])
            .arg(work.path()));
        assert_success(&created);
        assert!(
            text(&created.stdout).contains("Cargo.toml"),
            "{}",
            text(&created.stdout)
        );
    }
    let built = run(sluice_build()
        .args(["ticker", "greeter", "counter", "--deploy"])
        .arg(&deploy)
        .current_dir(work.path()));
    assert_success(&built);
    for file in [
        "components/ticker.wasm",
        "components/greeter.wasm",
        "components/counter.wasm",
        "ingresses/ticker.yaml",
        "ingresses/greeter.yaml",
        "actors/counter.yaml",
    ] {
        assert!(
            deploy.join(file).is_file(),
            "{file}: {}",
            text(&built.stdout)
        );
    }

    let checked = run(sluice().arg("check").arg(&deploy));
    assert_success(&checked);
    let summary = text(&checked.stdout);
    assert!(summary.contains("ok: "), "{summary}");
    assert!(summary.contains("[api/greeter, api/ticker]"), "{summary}");
    assert!(summary.contains("1 actor type(s) [counter]"), "{summary}");

    let served = serve(&deploy);
    let client = reqwest::Client::new();

    // json: one value from the route parameter.
    let answer = client
        .get(served.url("/ingress/api/greeter/world"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("greeter");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.expect("body"), "\"Hello, world!\"");

    // sse: an event published on the topic reaches the open stream.
    let mut stream = client
        .get(served.url("/ingress/api/ticker/news/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("ticker");
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    wait_for_subscribers(&client, &served, 1).await;
    let published = client
        .post(served.admin_url("/_sluice/publish"))
        .json(&json!({"topic": "ticker/news", "event": "message", "data": {"text": "hi"}}))
        .send()
        .await
        .expect("publish");
    assert_eq!(published.status(), 202);
    let mut seen = String::new();
    let received = tokio::time::timeout(Duration::from_secs(60), async {
        while !seen.contains("\n\n") || !seen.contains(r#""text":"hi""#) {
            let chunk = stream.chunk().await.expect("stream").expect("stream open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(received.is_ok(), "no event: {seen:?}");
    assert!(seen.contains("event: message\n"), "{seen}");
    assert!(seen.contains(r#""topic":"ticker/news""#), "{seen}");

    // actor: state kept across messages.
    for expected in [1, 2] {
        let response: Value = client
            .post(served.admin_url("/_sluice/actors/counter/c1"))
            .json(&json!({"type": "increment"}))
            .send()
            .await
            .expect("actor")
            .json()
            .await
            .expect("actor json");
        assert_eq!(
            response["data"]["increment"]["count"], expected,
            "{response}"
        );
    }
}

/// `GET url` as JSON until it answers 200 with `body`; with a deadline, since the server
/// picks up a build through its file watch, on its own time.
async fn wait_for_answer(client: &reqwest::Client, url: &str, body: &str) {
    let mut last = String::new();
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(response) = client
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
            {
                let status = response.status();
                last = format!("{status} {}", response.text().await.unwrap_or_default());
                if status == 200 && last.ends_with(body) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "{url} never answered {body}; last: {last}"
    );
}

/// The tour as a new user follows it: a server already runs on a deploy directory; `sluice
/// new` and `sluice build --deploy` put a component there, and the server serves it without
/// being asked (the file watch); an edit rebuilt the same way replaces it. Its crate has a
/// name of its own: the builds share one target directory, where two crates of one name
/// would write the same `.wasm`.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_server_picks_up_what_sluice_build_deploys() {
    let work = tempfile::tempdir().expect("temp dir");
    let deploy = work.path().join("deploy");
    std::fs::create_dir_all(&deploy).expect("deploy dir");
    std::fs::write(deploy.join("sluice.yaml"), "store: sluice.db\n").expect("config");
    let served = serve(&deploy);
    let client = reqwest::Client::new();
    let url = served.url("/ingress/api/welcome/world");
    let before = client
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .expect("welcome");
    assert_eq!(before.status(), 404, "nothing is deployed yet");

    assert_success(&run(sluice()
        .args(["new", "welcome", "--kind", "json", "--dir"])
        .arg(work.path())));
    let build = || {
        run(sluice_build()
            .args(["welcome", "--deploy"])
            .arg(&deploy)
            .current_dir(work.path()))
    };
    assert_success(&build());
    wait_for_answer(&client, &url, "\"Hello, world!\"").await;

    let source = work.path().join("welcome/src/lib.rs");
    let edited = std::fs::read_to_string(&source)
        .expect("template source")
        .replace("Hello, {who}!", "Hi again, {who}!");
    std::fs::write(&source, edited).expect("edit");
    assert_success(&build());
    wait_for_answer(&client, &url, "\"Hi again, world!\"").await;
}

#[test]
fn check_passes_on_the_bundled_demo() {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    let checked = run(sluice().arg("check").arg(dir.path()));
    assert_success(&checked);
    let summary = text(&checked.stdout);
    assert!(summary.contains("ok: "), "{summary}");
    assert!(summary.contains("[sku]"), "{summary}");
    assert!(summary.contains("1 edge(s) [skus]"), "{summary}");
}

fn hello_wasm() -> &'static [u8] {
    sluice::deploy::demo::COMPONENTS
        .iter()
        .find(|(id, _)| *id == "hello")
        .map(|(_, wasm)| *wasm)
        .expect("the hello component")
}

fn write(dir: &Path, path: &str, text: &[u8]) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
}

fn ingress(id: &str, component: &str, route: &str, acl: &str) -> String {
    format!(
        "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: {component}\n  \
         acl: {acl}\n  properties:\n    route: {route}\n    httpMethod: get\n    isPublic: true\n"
    )
}

#[test]
fn check_reports_every_problem_with_its_file_and_reason_and_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    write(
        dir,
        "sluice.yaml",
        b"listen: 127.0.0.1:8080\nmaxInstancez: 3\n",
    );
    write(dir, "components/hello.wasm", hello_wasm());
    write(dir, "components/broken.wasm", b"not wasm");
    write(dir, "seed/skus.json", b"[{\"sku\": 1}]");
    write(dir, "seed/orders.json", b"{\"not\": \"a list\"}");
    write(
        dir,
        "ingresses/a.yaml",
        ingress("a", "hello", "api/a", "[skus:read]").as_bytes(),
    );
    write(
        dir,
        "ingresses/b-clash.yaml",
        ingress("b", "hello", "api/a", "[]").as_bytes(),
    );
    write(
        dir,
        "ingresses/c-missing.yaml",
        ingress("c", "nowhere", "api/c", "[]").as_bytes(),
    );
    write(
        dir,
        "ingresses/d-grants.yaml",
        ingress("d", "hello", "api/d", "[payments:read, actors/ghost:poke]").as_bytes(),
    );
    write(
        dir,
        "ingresses/e-typo.yaml",
        b"uri: /resources/ingresses/e\nspec: {tpye: http}\n",
    );
    write(
        dir,
        "actors/counter.yaml",
        b"uri: /resources/actors/counter\nspec:\n  componentId: broken\n",
    );
    write(
        dir,
        "actors/ticket.yaml",
        b"uri: /resources/actors/ticket\nspec:\n  componentId: hello\n",
    );

    let checked = run(sluice().arg("check").arg(dir));
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked.stdout));
    let out = text(&checked.stdout);
    let at = |file: &str| format!("{}: ", dir.join(file).display());
    for (file, reason) in [
        ("sluice.yaml", "unknown field `maxInstancez`"),
        ("seed/orders.json", "expected a JSON array of records"),
        ("ingresses/b-clash.yaml", "spec.properties.route"),
        (
            "ingresses/c-missing.yaml",
            "component 'nowhere' is unusable",
        ),
        (
            "ingresses/d-grants.yaml",
            "acl grant 'payments:read' names edge 'payments'",
        ),
        (
            "ingresses/d-grants.yaml",
            "acl grant 'actors/ghost:poke' names actor type 'ghost'",
        ),
        ("ingresses/e-typo.yaml", "unknown field `tpye`"),
        ("actors/counter.yaml", "component 'broken' is unusable"),
        ("actors/ticket.yaml", "component 'hello' is unusable"),
    ] {
        let line = out
            .lines()
            .find(|line| line.starts_with(&at(file)) && line.contains(reason));
        assert!(line.is_some(), "no line '{file}: …{reason}…' in:\n{out}");
    }
    assert!(!out.contains("ingresses/a.yaml"), "{out}");
    assert!(
        text(&checked.stderr).starts_with("9 problem(s) in"),
        "{}",
        text(&checked.stderr)
    );
}

#[test]
fn new_refuses_bad_names_and_existing_directories_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let new = |name: &str| {
        run(sluice()
            .args(["new", name, "--kind", "json", "--dir"])
            .arg(dir.path()))
    };
    let refused = new("My.Component");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("'My.Component' is not a usable component name"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);

    std::fs::create_dir(dir.path().join("taken")).expect("dir");
    let refused = new("taken");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("already exists"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("taken"))
            .expect("dir")
            .count(),
        0
    );

    let refused = run(sluice().args(["new", "x", "--kind", "stream"]));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("expected sse, json or actor"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn build_says_what_is_wrong_with_a_crate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_a_crate = run(sluice_build().arg(dir.path()));
    assert!(!not_a_crate.status.success());
    assert!(
        text(&not_a_crate.stderr).contains("is not a crate: it has no Cargo.toml"),
        "{}",
        text(&not_a_crate.stderr)
    );

    // A crate of no dependencies that does not compile: cargo's own error is shown.
    let broken = dir.path().join("broken");
    write(
        &broken,
        "Cargo.toml",
        b"[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
          [lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    );
    write(
        &broken,
        "src/lib.rs",
        b"pub fn oops() -> u32 { \"not a number\" }\n",
    );
    let failed = run(sluice_build().arg(&broken));
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("mismatched types"), "{stderr}");
    assert!(
        stderr.contains("failed") && stderr.contains("cargo's output is above"),
        "{stderr}"
    );

    // A library that is not a cdylib produces no component.
    write(
        &broken,
        "Cargo.toml",
        b"[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    );
    let no_cdylib = run(sluice_build().arg(&broken));
    assert!(!no_cdylib.status.success());
    let stderr = text(&no_cdylib.stderr);
    assert!(
        stderr.contains("no `crate-type = [\"cdylib\"]` library"),
        "{stderr}"
    );
}

#[test]
fn check_of_a_postgresql_deploy_connects_to_nothing_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    // Port 1 on loopback: nothing listens there, so a connection attempt would fail.
    write(
        dir,
        "sluice.yaml",
        b"store: postgres://app:s3cret@127.0.0.1:1/shop\n",
    );
    write(dir, "components/hello.wasm", hello_wasm());
    write(
        dir,
        "ingresses/a.yaml",
        ingress("a", "hello", "api/a", "[orders:read]").as_bytes(),
    );
    let checked = run(sluice().arg("check").arg(dir));
    assert_success(&checked);
    let out = text(&checked.stdout);
    assert!(
        out.contains(
            "note: store postgres://app:***@127.0.0.1:1/shop (PostgreSQL) was not connected to"
        ),
        "{out}"
    );
    assert!(!out.contains("s3cret"), "{out}");
    assert!(
        out.contains("1 ingress(es) [a]") && out.contains("edges not checked"),
        "{out}"
    );
}

/// A guest-language component directory `id` made of `files` goes through `sluice build
/// --deploy` like a crate: its toolchain from the build cache (the workspace build installed
/// it in `target/guest-toolchains`), the SDK and WIT the binary carries, the ingress file
/// copied. Served, `api/greet/Ada` says hello. Then, with `broken` written over its file, the
/// build fails and says every one of `said`.
async fn build_serve_then_break(
    id: &str,
    files: &[(&str, &[u8])],
    broken: (&str, &[u8]),
    said: &[&str],
) {
    let work = tempfile::tempdir().expect("temp dir");
    let source = work.path().join(id);
    for (path, text) in files {
        write(&source, path, text);
    }
    write(
        &source,
        &format!("deploy/ingresses/{id}.yaml"),
        ingress(&format!("api/{id}"), id, "api/greet/{who}", "[]").as_bytes(),
    );
    let deploy = work.path().join("deploy");
    write(&deploy, "sluice.yaml", b"store: sluice.db\n");
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guest-toolchains");
    let build = |extra: &[&std::ffi::OsStr]| {
        run(sluice()
            .args(["build", id])
            .args(extra)
            .env("SLUICE_CACHE_DIR", &cache)
            .current_dir(work.path()))
    };
    let built = build(&[std::ffi::OsStr::new("--deploy"), deploy.as_os_str()]);
    assert_success(&built);
    let component = format!("components/{id}.wasm");
    assert!(
        text(&built.stdout).contains(&component),
        "{}",
        text(&built.stdout)
    );
    assert!(deploy.join(&component).is_file());
    assert!(deploy.join(format!("ingresses/{id}.yaml")).is_file());

    let served = serve(&deploy);
    let client = reqwest::Client::new();
    wait_for_answer(
        &client,
        &served.url("/ingress/api/greet/Ada"),
        "\"Hello, Ada!\"",
    )
    .await;

    write(&source, broken.0, broken.1);
    let failed = build(&[]);
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    for part in said {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
}

/// A Python component directory (`app.py`). A syntax error is componentize-py's message,
/// naming the file.
#[tokio::test(flavor = "multi_thread")]
async fn sluice_build_makes_a_python_directory_into_a_served_component() {
    build_serve_then_break(
        "py-greeter",
        &[(
            "app.py",
            b"from sluice import Request, Stream, ingress\n\n\
              @ingress\n\
              def handle(request: Request) -> Stream:\n    \
                  return Stream.once(f\"Hello, {request.param('who')}!\")\n"
                .as_slice(),
        )],
        ("app.py", b"def broken(:\n".as_slice()),
        &["componentize-py on", "app.py"],
    )
    .await;
}

/// A JavaScript component directory (`app.js`) and a module it imports: rolldown and
/// componentize-js, `sluice` resolved to the SDK the binary carries. An import that does
/// not resolve is the bundler's message, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn sluice_build_makes_a_javascript_directory_into_a_served_component() {
    build_serve_then_break(
        "js-greeter",
        &[
            (
                "app.js",
                b"import { Stream, ingress } from 'sluice';\n\
                  import { greeting } from './greeting.js';\n\
                  export const handler = ingress((request) => Stream.once(greeting(request.param('who'))));\n"
                    .as_slice(),
            ),
            (
                "greeting.js",
                b"export const greeting = (who) => `Hello, ${who}!`;\n".as_slice(),
            ),
        ],
        (
            "app.js",
            b"import { nothing } from './missing.js';\nnothing();\n".as_slice(),
        ),
        &["bundling", "missing.js"],
    )
    .await;
}
