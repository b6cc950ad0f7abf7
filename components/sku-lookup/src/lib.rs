//! `sku-lookup`: the document's "Pre-Stream Errors" example.
//!
//! ```text
//! param skuNumber: text
//! let skuQuery = query skus(skuId) filter $'skuNumber == ''{safeSkuNumber}'''
//! from skuQuery match
//!   (e: QueryError) |> { error = { code = 'QUERY_ERROR', message = e.message } }
//!   |>
//!     let sku = skuQuery first
//!     from sku match
//!       nothing |> { error = { code = 'NOT_FOUND', message = 'SKU not found' } }
//!       |> { event = 'init', data = sku }
//! ```
//!
//! An unknown SKU gives, before any stream starts:
//!
//! ```text
//! HTTP/1.1 404 Not Found
//! Content-Type: application/json
//!
//! {"error":{"code":"NOT_FOUND","message":"SKU not found"}}
//! ```

use sluice_sdk::{Error, Record, Request, Stream, query};

fn handle(req: Request) -> Result<Stream, Error> {
    let sku_number: String = req.param("skuNumber")?;
    let sku = query("skus")
        .fields(["skuId", "skuNumber"])
        .filter("skuNumber == ?", [sku_number])
        .first()?
        .ok_or_else(|| Error::not_found("SKU not found"))?;
    Ok(Stream::once(Record::event("init").data(sku)))
}

sluice_sdk::ingress!(handle);
