//! Write Sluice ingress and actor components in plain, synchronous Rust.
//!
//! An ingress component turns one HTTP request into a [`Stream`] of values. The host sends
//! each value as one Server-Sent Event (when the client asked for `text/event-stream`) or
//! the first one as the JSON response. Components reach the outside world only through the
//! host: the event bus ([`events`]), the store ([`query`]) and actors ([`message_actor`]),
//! each granted per ingress in its `acl`.
//!
//! The SDK mirrors the platform's own language: `from` becomes [`Stream::once`] or an
//! [`Events`] source, `select` becomes [`Events::map`], and several `from`s become
//! [`Stream::merge`]. The contract underneath is `wit/ingress.wit` (world `ingress`) and
//! `wit/actor.wit` (world `actor`, see [Actors](#actors)); this crate hides their bindings
//! entirely.
//!
//! # Examples
//!
//! The document's "Complete Example": look a SKU up, send its stock, then send fresh stock
//! every time the SKU actor changes.
//!
//! ```
//! use sluice_sdk::{Error, Message, Record, Request, Stream, events, message_actor, query};
//!
//! fn handle(req: Request) -> Result<Stream, Error> {
//!     let sku_number: String = req.param("skuNumber")?;
//!     let sku = query("skus")
//!         .fields(["skuId", "skuNumber"])
//!         .filter("skuNumber == ?", [sku_number])
//!         .first()?
//!         .ok_or_else(|| Error::not_found("SKU not found"))?;
//!     let sku_id = sku.text("skuId")?;
//!     let stock = message_actor("sku", &sku_id, [Message::new("calculateAvailableStock")])?;
//!     let topic = format!("actors/sku/{sku_id}");
//!     Ok(Stream::once(Record::event("init").data(stock)).merge(
//!         events(topic, "checkpoint")?.map(move |_checkpoint| {
//!             let stock =
//!                 message_actor("sku", &sku_id, [Message::new("calculateAvailableStock")])?;
//!             Ok(Record::event("stockUpdated").data(stock))
//!         }),
//!     ))
//! }
//!
//! sluice_sdk::ingress!(handle);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` as a `cdylib` crate; the
//! resulting `.wasm` is the component.
//!
//! # Actors
//!
//! An actor component (world `actor`, exported with [`actor!`]) keeps a typed state that
//! the host persists, and handles the messages that ingresses send with
//! [`message_actor`]. Implement [`Actor`] for a `Default + Serialize + Deserialize` state
//! type; the SDK loads the state, runs the messages of one call in order and hands back
//! their results and the new state, all or nothing:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use sluice_sdk::{Actor, ActorContext, ActorMessage, Error, Value, json};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Counter {
//!     count: i64,
//! }
//!
//! impl Actor for Counter {
//!     fn handle(&mut self, _ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
//!         match message.message_type() {
//!             "increment" => {
//!                 self.count += 1;
//!                 Ok(json!(self.count))
//!             }
//!             "get" => Ok(json!(self.count)),
//!             _ => Err(message.unknown()),
//!         }
//!     }
//! }
//!
//! sluice_sdk::actor!(Counter);
//! ```
//!
//! An actor may [`query`] the store and use the host services ([`log`], [`now`],
//! [`new_id`]), but not [`events`] or [`message_actor`]: the `actor` world does not import
//! them, and a component that calls them is rejected as an actor.
//!
//! # Errors
//!
//! Returning `Err` from the handler gives the client an ordinary HTTP error
//! (`{"error":{"code":…,"message":…}}`, status from the code; see [`Error`]). Once the
//! stream has started, errors are values: [`Record::error`] yields an `{"error":{…}}`
//! record, and an `Err` from an [`Events::map`] closure does the same without ending the
//! stream.
//!
//! # What the host receives
//!
//! Every yielded value crosses as JSON text: a [`Record`] as its object (fields in the
//! order they were set), an error as `{"error":{"code","message","status"?,"details"?}}`,
//! an [`Event`] as `{"topic","eventType","id","timestamp","data"}` with `timestamp` in
//! RFC 3339 UTC with milliseconds, and any other value as itself. Request parameters are
//! read from `request.params` as JSON text, later duplicates winning.
//!
//! # Panics
//!
//! A panic traps the component. Before the stream starts the client gets a 500; mid-stream
//! it gets an `error` event with code `COMPONENT_FAILED` and the stream ends.
#![deny(missing_docs)]
#![warn(rustdoc::broken_intra_doc_links)]

// The bindings name this crate by its external name, which must resolve inside it too.
extern crate self as sluice_sdk;

mod actor;
mod actors;
#[doc(hidden)]
pub mod bindings;
mod error;
mod events;
mod export;
mod host;
mod json;
mod query;
mod record;
mod request;
mod row;
mod stream;
mod sys;
mod time;

pub use actor::{Actor, ActorContext, ActorMessage};
pub use actors::{ActorError, ActorErrorKind, Message, message_actor, message_actor_preview};
pub use error::Error;
pub use events::{Event, Events, EventsError, EventsErrorKind, Subscribe, events, events_after};
#[doc(hidden)]
pub use export::__private;
pub use host::{Level, log, new_id, now, now_rfc3339};
pub use json::Json;
pub use query::{Args, Query, QueryError, QueryErrorKind, query};
pub use record::Record;
pub use request::{Caller, FromParam, Mode, Request};
pub use row::Row;
pub use stream::Stream;
pub use time::Timestamp;

/// JSON values, re-exported so components need no direct `serde_json` dependency.
///
/// # Examples
///
/// ```
/// use sluice_sdk::serde_json::Map;
///
/// let mut fields = Map::new();
/// fields.insert("status".into(), "shipped".into());
/// assert_eq!(sluice_sdk::Value::Object(fields).to_string(), r#"{"status":"shipped"}"#);
/// ```
pub use serde_json;
/// Any JSON value (re-exported from `serde_json`, with object keys kept in insertion order).
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Value, json};
///
/// let data: Value = json!({ "b": 1, "a": 2 });
/// assert_eq!(data.to_string(), r#"{"b":1,"a":2}"#);
/// ```
pub use serde_json::Value;
/// Build a JSON [`Value`] with JSON syntax (re-exported from `serde_json`).
///
/// # Examples
///
/// ```
/// use sluice_sdk::json;
///
/// let data = json!({ "orderId": "ORD-123", "status": "shipped" });
/// assert_eq!(data.to_string(), r#"{"orderId":"ORD-123","status":"shipped"}"#);
/// ```
pub use serde_json::json;
/// A UUID, for `uuid` parameters (re-exported from the `uuid` crate).
///
/// # Examples
///
/// ```
/// use sluice_sdk::Uuid;
///
/// let id = Uuid::parse_str("6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f").unwrap();
/// assert_eq!(id.to_string(), "6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f");
/// ```
pub use uuid::Uuid;
