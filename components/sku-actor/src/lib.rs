//! `sku-actor`: actor type `sku`, the stock of one SKU, addressed `sku/<skuId>`. The
//! actor behind the document's "Complete Example: SKU Stock Updates".
//!
//! State: `{"physicalStock": n, "incomingStock": n, "reservedStock": n}`. Every change is
//! a checkpoint on `actors/sku/<skuId>` with metadata `{"cause": <message type>}`.
//!
//! | Message | Body | Result |
//! |---------|------|--------|
//! | `create` | optional `{"physicalStock"?: n, "incomingStock"?: n}` | the state |
//! | `applyCommands` | `{"commands": [{"type": "setPhysicalStock", "value": n}, {"type": "setIncomingStock", "value": n}, {"type": "reserve", "quantity": n}, {"type": "unreserve", "quantity": n}]}` | the availability |
//! | `calculateAvailableStock` | none | `{"available": physical − reserved, "physical", "reserved", "incoming"}` |
//! | `query` | none | the state |
//!
//! Errors (codes in the caller's response `errors`):
//!
//! - `NOT_FOUND`, "actor sku/<id> does not exist": any message but `create` to an actor
//!   that has no state yet;
//! - `ALREADY_EXISTS`: `create` to an actor that exists;
//! - `INVALID_BODY`: a body of the wrong shape (e.g. no `commands` list);
//! - `INVALID_COMMAND`: a command without a known `type` or with an amount that is not a
//!   non-negative integer;
//! - `INSUFFICIENT_STOCK`: `reserve` of more than is available;
//! - `NOT_RESERVED`: `unreserve` of more than is reserved;
//! - `UNKNOWN_MESSAGE`: any other message type.
//!
//! Commands apply all or nothing, and so does the whole batch of messages.

mod stock;

use serde::Deserialize;
use sluice_sdk::serde_json::Map;
use sluice_sdk::{Actor, ActorContext, ActorMessage, Error, Value, json};

use stock::{Command, Stock, non_negative};

/// The body of `applyCommands`.
#[derive(Deserialize)]
struct ApplyCommands {
    commands: Vec<Value>,
}

impl Actor for Stock {
    fn handle(&mut self, ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
        if message.message_type() == "create" {
            ctx.ensure_new()?;
            *self = created(message)?;
            ctx.set_checkpoint_metadata(json!({ "cause": "create" }));
            return Ok(json!(self));
        }
        ctx.ensure_exists()?;
        match message.message_type() {
            "applyCommands" => {
                let body: ApplyCommands = message.body()?;
                let commands = body
                    .commands
                    .iter()
                    .enumerate()
                    .map(|(index, command)| Command::parse(index, command))
                    .collect::<Result<Vec<_>, _>>()?;
                self.apply(&commands)?;
                ctx.set_checkpoint_metadata(json!({ "cause": "applyCommands" }));
                Ok(self.availability())
            }
            "calculateAvailableStock" => Ok(self.availability()),
            "query" => Ok(json!(self)),
            _ => Err(message.unknown()),
        }
    }
}

/// The state `create` makes: the body's stock figures, zero where absent, none reserved.
fn created(message: &ActorMessage) -> Result<Stock, Error> {
    let body: Map<String, Value> = message.body_or_default()?;
    let mut stock = Stock::default();
    for (field, value) in &body {
        let slot = match field.as_str() {
            "physicalStock" => &mut stock.physical_stock,
            "incomingStock" => &mut stock.incoming_stock,
            other => {
                return Err(Error::new(
                    "INVALID_BODY",
                    format!(
                        "message 'create': unknown field '{other}' (expected physicalStock or incomingStock)"
                    ),
                ));
            }
        };
        *slot = non_negative(value).ok_or_else(|| {
            Error::new(
                "INVALID_BODY",
                format!("message 'create': '{field}' must be a non-negative integer"),
            )
        })?;
    }
    Ok(stock)
}

sluice_sdk::actor!(Stock);

#[cfg(test)]
mod tests {
    use super::*;

    fn existing() -> ActorContext {
        ActorContext::new("sku", "S1", false)
    }

    fn message(message_type: &str) -> ActorMessage {
        ActorMessage::new(message_type)
    }

    fn seeded() -> Stock {
        Stock {
            physical_stock: 100,
            incoming_stock: 20,
            reserved_stock: 5,
        }
    }

    fn apply(stock: &mut Stock, commands: Value) -> Result<Value, Error> {
        let message = message("applyCommands").with_body(json!({ "commands": commands }));
        stock.handle(&existing(), &message)
    }

    #[test]
    fn create_takes_the_optional_figures() {
        let ctx = ActorContext::new("sku", "S1", true);
        let mut sku = Stock::default();
        let body = json!({"physicalStock": 7});
        let state = sku
            .handle(&ctx, &message("create").with_body(body))
            .unwrap();
        assert_eq!(
            state,
            json!({"physicalStock": 7, "incomingStock": 0, "reservedStock": 0})
        );
        assert_eq!(ctx.checkpoint_metadata(), Some(json!({"cause": "create"})));
        let ctx = ActorContext::new("sku", "S2", true);
        let mut empty = Stock::default();
        assert_eq!(
            empty.handle(&ctx, &message("create")).unwrap()["physicalStock"],
            0
        );
    }

    #[test]
    fn create_rejects_bad_bodies_and_existing_actors() {
        for body in [
            json!({"physicalStock": -1}),
            json!({"reservedStock": 1}),
            json!([1]),
        ] {
            let ctx = ActorContext::new("sku", "S1", true);
            let err = Stock::default()
                .handle(&ctx, &message("create").with_body(body.clone()))
                .unwrap_err();
            assert_eq!(err.code(), "INVALID_BODY", "{body}");
        }
        let err = seeded()
            .handle(&existing(), &message("create"))
            .unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            ("ALREADY_EXISTS", "actor sku/S1 already exists")
        );
    }

    #[test]
    fn any_other_message_to_a_new_actor_is_not_found() {
        for message_type in [
            "applyCommands",
            "calculateAvailableStock",
            "query",
            "nonsense",
        ] {
            let ctx = ActorContext::new("sku", "S9", true);
            let err = Stock::default()
                .handle(&ctx, &message(message_type))
                .unwrap_err();
            assert_eq!(
                (err.code(), err.message()),
                ("NOT_FOUND", "actor sku/S9 does not exist")
            );
        }
    }

    #[test]
    fn apply_commands_returns_the_new_availability() {
        let mut sku = seeded();
        let result = apply(
            &mut sku,
            json!([
                {"type": "setPhysicalStock", "value": 110},
                {"type": "reserve", "quantity": 10},
                {"type": "unreserve", "quantity": 3},
                {"type": "setIncomingStock", "value": 0}
            ]),
        )
        .unwrap();
        assert_eq!(
            result,
            json!({"available": 98, "physical": 110, "reserved": 12, "incoming": 0})
        );
    }

    #[test]
    fn a_rejected_command_leaves_the_stock_as_it_was() {
        let mut sku = seeded();
        let err = apply(
            &mut sku,
            json!([{"type": "reserve", "quantity": 1}, {"type": "reserve", "quantity": 95}]),
        )
        .unwrap_err();
        assert_eq!(err.code(), "INSUFFICIENT_STOCK");
        assert_eq!(sku, seeded());
        let err = apply(&mut sku, json!([{"type": "unreserve", "quantity": 6}])).unwrap_err();
        assert_eq!(err.code(), "NOT_RESERVED");
        let err = apply(&mut sku, json!([{"type": "reserve", "quantity": -6}])).unwrap_err();
        assert_eq!(err.code(), "INVALID_COMMAND");
        assert_eq!(sku, seeded());
    }

    #[test]
    fn apply_commands_needs_a_command_list() {
        for body in [None, Some(json!({})), Some(json!({"commands": 3}))] {
            let mut message = message("applyCommands");
            if let Some(body) = body {
                message = message.with_body(body);
            }
            let err = seeded().handle(&existing(), &message).unwrap_err();
            assert_eq!(err.code(), "INVALID_BODY");
        }
    }

    #[test]
    fn reads_change_nothing() {
        let mut sku = seeded();
        let stock = sku
            .handle(&existing(), &message("calculateAvailableStock"))
            .unwrap();
        assert_eq!(
            stock,
            json!({"available": 95, "physical": 100, "reserved": 5, "incoming": 20})
        );
        let state = sku.handle(&existing(), &message("query")).unwrap();
        assert_eq!(
            state,
            json!({"physicalStock": 100, "incomingStock": 20, "reservedStock": 5})
        );
        assert_eq!(sku, seeded());
    }

    #[test]
    fn an_unknown_message_is_unknown_message() {
        let err = seeded()
            .handle(&existing(), &message("restock"))
            .unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_MESSAGE");
    }
}
