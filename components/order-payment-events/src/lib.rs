//! `order-payment-events`: the document's "Multiple Streams" example.
//!
//! ```text
//! param orderId: uuid
//! param paymentId: uuid
//! from { event = 'init', data = { orderId, paymentId } }
//! from events ($'actors/order/{orderId}', 'checkpoint')
//! select e => { event = 'orderUpdated', data = e }
//! from events ($'actors/payment/{paymentId}', 'checkpoint')
//! select e => { event = 'paymentUpdated', data = e }
//! ```
//!
//! The `init` record first, then the order's and the payment's checkpoints in the order
//! they arrive. A parameter that is not a UUID is a 400 naming it.

use sluice_sdk::{Error, Record, Request, Stream, Uuid, events, json};

fn handle(req: Request) -> Result<Stream, Error> {
    let order_id: Uuid = req.param("orderId")?;
    let payment_id: Uuid = req.param("paymentId")?;
    let init = Record::event("init").data(json!({ "orderId": order_id, "paymentId": payment_id }));
    let order = events(format!("actors/order/{order_id}"), "checkpoint")?
        .map(|e| Ok(Record::event("orderUpdated").data(e)));
    let payment = events(format!("actors/payment/{payment_id}"), "checkpoint")?
        .map(|e| Ok(Record::event("paymentUpdated").data(e)));
    Ok(Stream::once(init).merge(order).merge(payment))
}

sluice_sdk::ingress!(handle);
