//! `order-events`: the document's "Real-Time Events with events()" example.
//!
//! ```text
//! param orderId: text
//! from events ($'actors/order/{orderId}', 'checkpoint')
//! select e => { event = 'updated', data = e }
//! ```
//!
//! Every checkpoint of the order actor is sent as an `updated` event whose data is the bus
//! event `{"topic","eventType","id","timestamp","data"}`.

use sluice_sdk::{Error, Record, Request, Stream, events};

fn handle(req: Request) -> Result<Stream, Error> {
    let order_id: String = req.param("orderId")?;
    Ok(events(format!("actors/order/{order_id}"), "checkpoint")?
        .map(|e| Ok(Record::event("updated").data(e))))
}

sluice_sdk::ingress!(handle);
