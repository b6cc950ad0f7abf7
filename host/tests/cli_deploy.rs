//! `sluice deploy`: asks a running `sluice serve` to reload, prints the report, and fails
//! when a file could not be deployed or the server serves another directory.

mod logged;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use logged::logged_addr;

/// The server process, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

/// `sluice serve DIR` (the demo, file watch off) on free ports, once it listens: the server
/// and its admin URL, which `sluice deploy --server` takes.
fn serve(dir: &Path) -> (Server, String) {
    sluice::deploy::demo::write_languages(dir, &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    std::fs::write(dir.join("sluice.yaml"), "store: sluice.db\nwatch: false\n").expect("config");
    // The server binds free ports itself and logs them: a port found free here could be
    // taken, by another test's outgoing connection say, before the server binds it.
    let log = dir.join("serve.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = sluice()
        .args([
            "serve",
            &dir.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        // Logs go to stdout, errors to stderr: both into the log.
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("sluice serve");
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let admin = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(admin) = logged_addr(&text, "admin endpoints listening") {
            break admin;
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("sluice serve exited with {status}:\n{text}");
        }
        assert!(Instant::now() < deadline, "sluice never listened:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    wait_until_listening(admin);
    (server, format!("http://{admin}"))
}

fn wait_until_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "sluice never listened on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn deploy(args: &[&str]) -> Output {
    sluice()
        .arg("deploy")
        .args(args)
        .output()
        .expect("sluice deploy")
}

fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "a JSON report on stdout ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn deploy_prints_the_report_and_fails_when_a_file_is_broken() {
    let dir = tempfile::tempdir().expect("dir");
    let (_server, url) = serve(dir.path());

    let clean = deploy(&["--server", &url]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let report = stdout_json(&clean);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(
        report["unchanged"]
            .as_array()
            .expect("unchanged")
            .contains(&"api/hello".into()),
        "{report}"
    );

    std::fs::write(dir.path().join("ingresses/broken.yaml"), "uri: [").expect("broken file");
    let broken = deploy(&[&dir.path().display().to_string(), "--server", &url]);
    assert!(!broken.status.success());
    let report = stdout_json(&broken);
    let file = report["problems"][0]["file"].as_str().expect("a problem");
    assert!(file.ends_with("ingresses/broken.yaml"), "{report}");
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("some files were not deployed"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
}

#[test]
fn deploy_refuses_a_directory_the_server_does_not_serve() {
    let dir = tempfile::tempdir().expect("dir");
    let other = tempfile::tempdir().expect("other dir");
    let (_server, url) = serve(dir.path());

    let refused = deploy(&[&other.path().display().to_string(), "--server", &url]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("409") && stderr.contains("does not switch directories"),
        "{stderr}"
    );

    let missing = deploy(&["/no/such/deploy/dir", "--server", &url]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("cannot find the deploy directory /no/such/deploy/dir"),
        "{stderr}"
    );
}
