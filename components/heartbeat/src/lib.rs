//! `heartbeat`: the document's "Example with All Fields".
//!
//! ```text
//! from {
//!   event = 'heartbeat'
//!   id = 'hb-42'
//!   retry = 5000
//!   data = { timestamp = now }
//! }
//! ```
//!
//! SSE:
//!
//! ```text
//! event: heartbeat
//! id: hb-42
//! retry: 5000
//! data: {"timestamp":"2026-01-11T19:30:00Z"}
//! ```
//!
//! The stream then ends; a browser's `EventSource` reconnects after `retry` (5 s), so the
//! page receives a heartbeat every five seconds.

use sluice_sdk::{Error, Record, Request, Stream, Timestamp, json};

fn handle(_req: Request) -> Result<Stream, Error> {
    Ok(Stream::once(
        Record::event("heartbeat")
            .id("hb-42")
            .retry(5000)
            .data(json!({ "timestamp": Timestamp::now().to_rfc3339_seconds() })),
    ))
}

sluice_sdk::ingress!(handle);
