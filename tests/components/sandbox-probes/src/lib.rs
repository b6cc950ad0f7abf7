//! `sandbox-probes`: a test fixture that reaches for ambient authority through plain `std`,
//! the way any Rust code would, and reports what happened.
//!
//! `param probe: text` picks the attempt; `port: u64`, `path: text` and `code: i32` are
//! its optional arguments. The stream is one record
//! `{"probe", "outcome": "refused"|"allowed", "error"?, "found"?}`:
//!
//! | probe | attempt | refused when |
//! |-------|---------|--------------|
//! | `fs-read` | `std::fs::read(path)` (default `/etc/passwd`) | it fails |
//! | `fs-write` | `std::fs::write(path, ..)` (default `/tmp/sluice-probe`) | it fails |
//! | `fs-list` | `std::fs::read_dir(path)` (default `/`) | it fails |
//! | `env` | `std::env::vars()`; `found` lists the names | there are none |
//! | `args` | `std::env::args()`; `found` lists them | there are none |
//! | `tcp-connect` | `TcpStream::connect(127.0.0.1:port)` | it fails |
//! | `tcp-listen` | `TcpListener::bind(127.0.0.1:0)` | it fails |
//! | `udp` | `UdpSocket::bind(127.0.0.1:0)`, then `send_to(127.0.0.1:port)` | either fails |
//! | `dns` | `("localhost", 80).to_socket_addrs()` | it fails |
//! | `exit` | `std::process::exit(code)` (default 0) | never returns |
//! | `clock` | `SystemTime::now()`; `found` is Unix seconds | never (allowed) |
//! | `leftovers` | reads statics an earlier instance would have changed, then changes them | it finds them as built |
//!
//! `outcome` is the component's own reading; tests check `found` and the absence of side
//! effects themselves. An unknown probe is a 400.

use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_sdk::{Error, Request, Stream, Value, json};

fn handle(req: Request) -> Result<Stream, Error> {
    let probe: String = req.param("probe")?;
    let port = || -> Result<u16, Error> {
        let port: u64 = req.param("port")?;
        u16::try_from(port).map_err(|_| Error::invalid_parameter("port", "not a port number"))
    };
    let path = |default: &str| -> Result<String, Error> {
        Ok(req
            .optional_param::<String>("path")?
            .unwrap_or_else(|| default.to_owned()))
    };
    let report = match probe.as_str() {
        "fs-read" => attempt(std::fs::read(path("/etc/passwd")?).map(|bytes| bytes.len())),
        "fs-write" => attempt(std::fs::write(path("/tmp/sluice-probe")?, "escaped")),
        "fs-list" => attempt(std::fs::read_dir(path("/")?).map(|entries| entries.count())),
        "env" => found(std::env::vars().map(|(name, _)| name).collect()),
        "args" => found(std::env::args().collect()),
        "tcp-connect" => attempt(TcpStream::connect(("127.0.0.1", port()?)).map(|_| ())),
        "tcp-listen" => attempt(TcpListener::bind("127.0.0.1:0").map(|_| ())),
        "udp" => {
            let port = port()?;
            attempt(
                UdpSocket::bind("127.0.0.1:0")
                    .and_then(|socket| socket.send_to(b"escaped", ("127.0.0.1", port))),
            )
        }
        "dns" => attempt(("localhost", 80).to_socket_addrs().map(Iterator::count)),
        "exit" => {
            let code = req.optional_param::<i32>("code")?.unwrap_or(0);
            std::process::exit(code)
        }
        "leftovers" => leftovers(),
        "clock" => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH);
            json!({ "outcome": "allowed", "found": now.map_or(0, |since| since.as_secs()) })
        }
        other => {
            return Err(Error::invalid_parameter(
                "probe",
                format!("unknown probe '{other}'"),
            ));
        }
    };
    let mut record = json!({ "probe": probe });
    if let (Value::Object(record), Value::Object(report)) = (&mut record, report) {
        record.extend(report);
    }
    Ok(Stream::once(record))
}

/// Pages of the memory image (`.data`), built non-zero.
static IMAGE: Mutex<[u8; 3 * 4096]> = Mutex::new([0x5a; 3 * 4096]);
/// Pages outside the image (`.bss`), built zero.
static ZEROED: Mutex<[u8; 3 * 4096]> = Mutex::new([0; 3 * 4096]);
/// Instances that ran this probe in this memory before.
static RUNS: Mutex<u32> = Mutex::new(0);

/// `refused` when the statics are as built (a fresh instance's memory), `allowed` when an
/// earlier instance's writes are still there; then write over all of them.
fn leftovers() -> Value {
    let mut image = IMAGE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut zeroed = ZEROED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut runs = RUNS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let found = json!({
        "earlierRuns": *runs,
        "imageChanged": image.iter().any(|&byte| byte != 0x5a),
        "zeroedChanged": zeroed.iter().any(|&byte| byte != 0),
    });
    image.fill(0xa5);
    zeroed.fill(0xff);
    *runs += 1;
    let fresh = found == json!({ "earlierRuns": 0, "imageChanged": false, "zeroedChanged": false });
    json!({ "outcome": if fresh { "refused" } else { "allowed" }, "found": found })
}

/// `refused` with the error, or `allowed` with what was obtained.
fn attempt<T: std::fmt::Debug>(result: std::io::Result<T>) -> Value {
    match result {
        Ok(value) => json!({ "outcome": "allowed", "found": format!("{value:?}") }),
        Err(err) => json!({ "outcome": "refused", "error": err.to_string() }),
    }
}

/// `refused` when nothing was found, `allowed` otherwise; `found` either way.
fn found(items: Vec<String>) -> Value {
    let outcome = if items.is_empty() {
        "refused"
    } else {
        "allowed"
    };
    json!({ "outcome": outcome, "found": items })
}

sluice_sdk::ingress!(handle);
