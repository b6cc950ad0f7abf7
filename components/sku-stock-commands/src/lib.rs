//! `sku-stock-commands`: change a SKU's stock over HTTP, the write side of the document's
//! "Complete Example: SKU Stock Updates" (whose `stockUpdated` events these changes cause).
//!
//! `POST /ingress/api/skus/{skuNumber}/stock` with a structured body
//! `{"commands": [{"type": "reserve", "quantity": 2}, …]}` (see `sku-actor` for the
//! commands):
//!
//! ```text
//! let sku = query skus(skuId) filter skuNumber == ? first   // else 404 NOT_FOUND 'SKU not found'
//! messageActor('sku', sku.skuId, [
//!     { type = 'applyCommands', body = { commands } },
//!     { type = 'calculateAvailableStock' },
//! ])
//! ```
//!
//! The answer (JSON mode: the 200 body) is the new availability,
//! `{"available", "physical", "reserved", "incoming"}`. A command the actor rejects comes
//! back in the response's `errors`; the first becomes the HTTP error, with the actor's
//! code and message: `INSUFFICIENT_STOCK` and `NOT_RESERVED` → 409, `INVALID_BODY` and
//! `INVALID_COMMAND` → 400, `NOT_FOUND` (the SKU has no stock actor) → 404, others → 500.
//! Nothing is changed then.

use sluice_sdk::{Error, Message, Request, Stream, Value, json, message_actor, query};

fn handle(req: Request) -> Result<Stream, Error> {
    let sku_number: String = req.param("skuNumber")?;
    let commands: Value = req.param("commands")?;
    let sku = query("skus")
        .fields(["skuId"])
        .filter("skuNumber == ?", [sku_number])
        .first()?
        .ok_or_else(|| Error::not_found("SKU not found"))?;
    let sku_id = sku.text("skuId")?;
    let response = message_actor(
        "sku",
        &sku_id,
        [
            Message::new("applyCommands").body(json!({ "commands": commands })),
            Message::new("calculateAvailableStock"),
        ],
    )?;
    if let Some(error) = first_error(&response) {
        return Err(error);
    }
    let stock = response
        .pointer("/data/calculateAvailableStock")
        .cloned()
        .ok_or_else(|| Error::internal("the sku actor returned no calculateAvailableStock"))?;
    Ok(Stream::once(stock))
}

/// The first entry of the actor response's `errors` (`{index, key, code, message}`) as
/// an HTTP error.
fn first_error(response: &Value) -> Option<Error> {
    let error = response.get("errors")?.as_array()?.first()?;
    let text = |field: &str| error.get(field).and_then(Value::as_str);
    let code = text("code").unwrap_or("ACTOR_ERROR");
    let message = text("message").unwrap_or("the sku actor rejected the commands");
    let error = Error::new(code, message);
    Some(match code {
        "INSUFFICIENT_STOCK" | "NOT_RESERVED" => error.with_status(409),
        // A stored state the actor cannot read is the server's fault, not the client's.
        "INVALID_STATE" => error.with_status(500),
        // INVALID_* → 400, NOT_FOUND → 404, anything else → 500, from the code.
        _ => error,
    })
}

sluice_sdk::ingress!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: &str) -> Value {
        json!({
            "actorId": "S1",
            "paths": ["actors/sku/S1"],
            "data": {},
            "errors": [
                {"index": 0, "key": "applyCommands", "code": code, "message": "why"},
                {"index": 1, "key": "calculateAvailableStock", "code": "SKIPPED", "message": "not run"}
            ]
        })
    }

    #[test]
    fn the_first_actor_error_becomes_the_http_error() {
        for (code, status) in [
            ("INSUFFICIENT_STOCK", Some(409)),
            ("NOT_RESERVED", Some(409)),
            ("INVALID_STATE", Some(500)),
            ("INVALID_COMMAND", None),
            ("NOT_FOUND", None),
        ] {
            let error = first_error(&rejected(code)).expect("an error");
            assert_eq!(
                (error.code(), error.message(), error.status()),
                (code, "why", status)
            );
        }
    }

    #[test]
    fn no_errors_is_no_error() {
        let response = json!({"data": {"calculateAvailableStock": {"available": 1}}, "errors": []});
        assert!(first_error(&response).is_none());
        assert!(first_error(&json!({})).is_none());
    }
}
