//! `stream-errors`: the document's "Application-Level Errors" example.
//!
//! ```text
//! from events (topic, eventType)
//! select e => e match
//!   { error: text } |> { event = 'error', data = { code = 'STREAM_ERROR', message = e.error } }
//!   |> { event = 'updated', data = e }
//! ```
//!
//! Subscribes to `feeds/{feed}`, event type `message`. An event whose data has a text
//! field `error` is sent as an `error` event (`{"code":"STREAM_ERROR","message":…}`); any
//! other as an `updated` event carrying the bus event. The stream goes on either way.

use sluice_sdk::{Error, Event, Record, Request, Stream, events, json};

fn handle(req: Request) -> Result<Stream, Error> {
    let feed: String = req.param("feed")?;
    Ok(events(format!("feeds/{feed}"), "message")?.map(|e| Ok(select(e))))
}

fn select(e: Event) -> Record {
    match e.data.get("error").and_then(|error| error.as_str()) {
        Some(message) => {
            Record::event("error").data(json!({ "code": "STREAM_ERROR", "message": message }))
        }
        None => Record::event("updated").data(e),
    }
}

sluice_sdk::ingress!(handle);
