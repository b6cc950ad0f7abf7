//! `sku-stock-events`: the document's "Complete Example: SKU Stock Updates".
//!
//! ```text
//! param skuNumber: text
//! let skuQuery = query skus(skuId, skuNumber) filter $'skuNumber == ''{safeSkuNumber}'''
//! from skuQuery match
//!   (e: QueryError) |> { error = { code = 'QUERY_ERROR', message = e.message } }
//!   |>
//!     let sku = skuQuery first
//!     from sku match
//!       nothing |> { error = { code = 'NOT_FOUND', message = 'SKU not found' } }
//!       |>
//!         let initialStock = messageActor('sku', sku.skuId, [{ type = 'calculateAvailableStock' }])
//!         from { event = 'init', data = initialStock }
//!         from events ($'actors/sku/{sku.skuId}', 'checkpoint')
//!         select e =>
//!           let stock = messageActor('sku', sku.skuId, [{ type = 'calculateAvailableStock' }])
//!           from { event = 'stockUpdated', data = stock }
//! ```
//!
//! The SKU number is a bound query argument (`skuNumber == ?`), so it needs no quoting.
//! A query error is a 500 `QUERY_ERROR`, an unknown SKU a 404 `NOT_FOUND`, both before the
//! stream starts. A failed stock calculation mid-stream is sent as an `error` event and the
//! stream goes on.

use sluice_sdk::{Error, Json, Message, Record, Request, Stream, events, message_actor, query};

fn handle(req: Request) -> Result<Stream, Error> {
    let sku_number: String = req.param("skuNumber")?;
    let sku = query("skus")
        .fields(["skuId", "skuNumber"])
        .filter("skuNumber == ?", [sku_number])
        .first()?
        .ok_or_else(|| Error::not_found("SKU not found"))?;
    let sku_id = sku.text("skuId")?;
    let initial_stock = available_stock(&sku_id)?;
    let updates = events(format!("actors/sku/{sku_id}"), "checkpoint")?
        .map(move |_checkpoint| Ok(Record::event("stockUpdated").data(available_stock(&sku_id)?)));
    Ok(Stream::once(Record::event("init").data(initial_stock)).merge(updates))
}

/// `messageActor('sku', skuId, [{ type = 'calculateAvailableStock' }])`.
fn available_stock(sku_id: &str) -> Result<Json, Error> {
    Ok(message_actor(
        "sku",
        sku_id,
        [Message::new("calculateAvailableStock")],
    )?)
}

sluice_sdk::ingress!(handle);
