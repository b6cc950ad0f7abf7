//! `sluice deploy`: asks a running `sluice serve` to reload, prints the report, and fails
//! when a file could not be deployed or the server serves another directory.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    let free_port = || {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
    };
    let (addr, admin) = (free_port(), free_port());
    let child = sluice()
        .args([
            "serve",
            &dir.display().to_string(),
            "--listen",
            &addr.to_string(),
            "--admin-listen",
            &admin.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice serve");
    let server = Server(child);
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
