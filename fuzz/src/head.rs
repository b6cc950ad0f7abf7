//! A real Sluice host, booted once per fuzzing process, and a raw HTTP/1.1 client for it.
//!
//! The host serves the bundled demo through its public API (`sluice::boot`, then
//! `Server::run`), so requests go through the exact hyper configuration, dispatch, routing,
//! CORS, negotiation, parameter resolution and components a deployment gets. The client
//! reads replies with `httparse` and its own framing code, not with hyper.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sluice::server::App;

/// Demo ingresses left out: in JSON mode they wait for a bus event that never comes (no
/// `jsonTimeoutSeconds` yet), and every such input would stall the fuzzer. Their routes'
/// parsing is covered by the ingresses kept (`api/skus/{skuNumber}` and friends).
const LEFT_OUT: [&str; 5] = [
    "order-events",
    "order-payment-events",
    "resumable-order-events",
    "stream-errors",
    "sku-stock-events",
];

/// Limits small enough for inputs of a few KiB to cross them (`maxHeaderBytes` is raised to
/// hyper's 8 KiB minimum by the host).
pub const MAX_HEADERS: usize = 16;
pub const MAX_BODY_BYTES: usize = 2048;
pub const ALLOWED_ORIGIN: &str = "https://app.example";

/// No header read timeout (0 = none): a fuzzer sharing a loaded machine can be starved for
/// longer than its 10 s default, and a head cut by it would look unanswered. The timeout has
/// its own tests (`tests/tests/hygiene.rs`).
const CONFIG: &str = "\
store: sluice.db
maxHeaders: 16
maxHeaderBytes: 8192
maxBodyBytes: 2048
headerReadTimeoutSeconds: 0
cors: { allowedOrigins: [\"https://app.example\"] }
";

/// How long the host may take to answer or close: generous, as the machine may be loaded.
const DEADLINE: Duration = Duration::from_secs(30);

/// The running host.
pub struct Host {
    pub addr: SocketAddr,
    pub app: Arc<App>,
}

/// The host for this process, booted on first use on a runtime of its own.
///
/// # Panics
/// When the demo cannot be written or the host does not boot.
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        // libFuzzer's `main` is not Rust's, which would ignore SIGPIPE: without this, a write
        // to a connection the host already closed kills the fuzzer.
        // SAFETY: setting a signal's disposition to `SIG_IGN` runs no handler code.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        // tmpfs when there is one: actor commands commit to SQLite.
        let dir = tempfile::Builder::new()
            .prefix("sluice-fuzz-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("a temporary directory")
            .keep();
        write_deployment(&dir);
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let booted = sluice::boot(&dir, sluice::Listen::ephemeral())
                    .await
                    .expect("the demo host boots");
                assert!(booted.problems.is_empty(), "{:?}", booted.problems);
                let addr = booted.server.local_addr().expect("bound");
                sender
                    .send(Host {
                        addr,
                        app: booted.server.app().clone(),
                    })
                    .expect("the fuzzer waits for the host");
                booted.server.run(std::future::pending()).await;
            });
        });
        receiver
            .recv()
            .expect("the host thread reports its address")
    })
}

fn write_deployment(dir: &Path) {
    sluice::deploy::demo::write_languages(dir, &[sluice::deploy::demo::Language::Rust]).expect("the demo is written");
    for id in LEFT_OUT {
        std::fs::remove_file(dir.join("ingresses").join(format!("{id}.yaml")))
            .expect("the demo has this ingress");
    }
    std::fs::write(dir.join("sluice.yaml"), CONFIG).expect("the config is written");
}

/// What the host did with one connection's bytes.
#[derive(Debug)]
pub enum Outcome {
    /// It closed the connection without sending a byte.
    Closed,
    /// It sent one well-formed final response (after any `1xx`).
    Replied(Reply),
}

/// A parsed response. `body` is complete unless `streaming` (an SSE stream, head only).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub streaming: bool,
}

impl Reply {
    /// The values of header `name` (any case).
    pub fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The one value of `name` as text, if exactly one is present.
    pub fn single(&self, name: &str) -> Option<&str> {
        match self.header(name).as_slice() {
            [value] => std::str::from_utf8(value).ok(),
            _ => None,
        }
    }
}

/// Sends `input` on a fresh connection; with `half_close` the client then shuts down its
/// sending side (hyper drops a request whose client did so, so that is only for inputs the
/// host must not wait on). Reads the first final response; `head_request` says whether it
/// answers a `HEAD` (no body follows).
///
/// # Panics
/// When the host neither answers nor closes within the deadline, or sends bytes that are not
/// one well-formed HTTP/1.x response.
pub fn exchange(input: &[u8], half_close: bool, head_request: bool) -> Outcome {
    let mut stream = TcpStream::connect(host().addr).expect("the host accepts");
    // Reset instead of TIME_WAIT: millions of connections would exhaust the local ports.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    // The host may answer (and close) before it read everything: a failed write is fine.
    let _ = stream.write_all(input);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let deadline = Instant::now() + DEADLINE;
    let mut received = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        if let Some(outcome) = complete(&received, head_request) {
            return outcome;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the host neither answered nor closed in {DEADLINE:?}; got {:?}",
            String::from_utf8_lossy(&received)
        );
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // The host reset the connection: what it sent before counts.
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
            Err(err) => panic!("reading the reply: {err}"),
        }
    }
    if received.is_empty() {
        return Outcome::Closed;
    }
    complete(&received, head_request).unwrap_or_else(|| {
        panic!(
            "the connection ended inside a response: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

/// The first final response in `bytes`, if it is all there.
fn complete(bytes: &[u8], head_request: bool) -> Option<Outcome> {
    let mut rest = bytes;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response.parse(rest).unwrap_or_else(|err| {
            panic!(
                "not an HTTP/1.x response ({err}): {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
        let httparse::Status::Complete(head_len) = parsed else {
            return None;
        };
        let status = response.code.expect("a complete head has a status");
        let headers: Vec<(String, Vec<u8>)> = response
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        let body = &rest[head_len..];
        if (100..200).contains(&status) {
            assert_ne!(status, 101, "the host never switches protocols");
            rest = body;
            continue;
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
            streaming: false,
        };
        if head_request || status == 204 || status == 304 {
            return Some(Outcome::Replied(reply));
        }
        if reply
            .single("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
        {
            reply.streaming = true;
            return Some(Outcome::Replied(reply));
        }
        let chunked = reply
            .header("transfer-encoding")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"chunked"));
        if chunked {
            reply.body = dechunk(body)?;
        } else {
            let lengths = reply.header("content-length");
            let [length] = lengths.as_slice() else {
                panic!("a response without one Content-Length: {reply:?}");
            };
            let length: usize = std::str::from_utf8(length)
                .ok()
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| panic!("a bad Content-Length: {reply:?}"));
            if body.len() < length {
                return None;
            }
            reply.body = body[..length].to_vec();
        }
        return Some(Outcome::Replied(reply));
    }
}

/// The body of a complete chunked encoding, `None` while it is incomplete.
fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).expect("a chunk size is ASCII");
        let size_text = size_text.split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text.trim(), 16)
            .unwrap_or_else(|_| panic!("a bad chunk size {size_text:?}"));
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            // No trailers from the host: the last chunk is followed by the final CRLF.
            return bytes.starts_with(b"\r\n").then_some(body);
        }
        if bytes.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&bytes[..size]);
        assert_eq!(&bytes[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        bytes = &bytes[size + 2..];
    }
}
