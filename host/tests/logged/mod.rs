//! Reading a spawned `sluice serve`'s log. Tests start it on `127.0.0.1:0` and learn its
//! ports here: a port probed free and handed to it could be taken before it binds.

use std::net::SocketAddr;

/// The `addr=` of the first log line that says `message` (`sluice is serving`, `admin
/// endpoints listening`).
pub fn logged_addr(log: &str, message: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|line| line.contains(message))?;
    let (_, rest) = line.split_once("addr=")?;
    rest.split_whitespace().next()?.parse().ok()
}
