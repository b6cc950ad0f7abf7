//! `hello`: the document's "Simple Values" example.
//!
//! ```text
//! from 'Hello world'
//! ```
//!
//! SSE: `data: "Hello world"`. JSON mode: the body `"Hello world"`.

use sluice_sdk::{Error, Request, Stream};

fn handle(_req: Request) -> Result<Stream, Error> {
    Ok(Stream::once("Hello world"))
}

sluice_sdk::ingress!(handle);
