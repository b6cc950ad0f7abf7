//! The stock of one SKU and the commands that change it: pure values, no host calls, so
//! `cargo test` runs them natively.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Value, json};

/// The state of actor `sku/<skuId>`, stored as
/// `{"physicalStock": n, "incomingStock": n, "reservedStock": n}`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    /// Units on the shelf.
    pub physical_stock: i64,
    /// Units on their way in; not available yet.
    pub incoming_stock: i64,
    /// Units promised to orders, out of the physical stock.
    pub reserved_stock: i64,
}

/// One entry of `applyCommands`' `commands`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `{"type":"setPhysicalStock","value":n}`: a recount.
    SetPhysicalStock(i64),
    /// `{"type":"setIncomingStock","value":n}`.
    SetIncomingStock(i64),
    /// `{"type":"reserve","quantity":n}`: at most the available stock.
    Reserve(i64),
    /// `{"type":"unreserve","quantity":n}`: at most the reserved stock.
    Unreserve(i64),
}

impl Command {
    /// Read `commands[index]`.
    ///
    /// # Errors
    ///
    /// `INVALID_COMMAND` for anything but an object with a known `type` and its `value`
    /// or `quantity` a non-negative integer.
    pub fn parse(index: usize, command: &Value) -> Result<Self, Error> {
        let invalid =
            |why: String| Error::new("INVALID_COMMAND", format!("commands[{index}]: {why}"));
        let Some(kind) = command.get("type").and_then(Value::as_str) else {
            return Err(invalid("must be an object with a text 'type'".into()));
        };
        let (field, make): (&str, fn(i64) -> Self) = match kind {
            "setPhysicalStock" => ("value", Self::SetPhysicalStock),
            "setIncomingStock" => ("value", Self::SetIncomingStock),
            "reserve" => ("quantity", Self::Reserve),
            "unreserve" => ("quantity", Self::Unreserve),
            other => {
                return Err(invalid(format!(
                    "unknown command type '{other}' (expected setPhysicalStock, \
                     setIncomingStock, reserve or unreserve)"
                )));
            }
        };
        let amount = command
            .get(field)
            .and_then(non_negative)
            .ok_or_else(|| invalid(format!("'{kind}' needs '{field}', a non-negative integer")))?;
        Ok(make(amount))
    }
}

/// A JSON integer from 0 to `i64::MAX`.
pub fn non_negative(value: &Value) -> Option<i64> {
    value.as_u64().and_then(|n| i64::try_from(n).ok())
}

impl Stock {
    /// Physical stock not reserved. Negative when a recount found fewer units than are
    /// reserved.
    pub fn available(&self) -> i64 {
        self.physical_stock - self.reserved_stock
    }

    /// `{"available", "physical", "reserved", "incoming"}`: the answer to
    /// `calculateAvailableStock` and `applyCommands`.
    pub fn availability(&self) -> Value {
        json!({
            "available": self.available(),
            "physical": self.physical_stock,
            "reserved": self.reserved_stock,
            "incoming": self.incoming_stock,
        })
    }

    /// Apply `commands` in order, all or nothing: on an error `self` is unchanged.
    ///
    /// # Errors
    ///
    /// `INSUFFICIENT_STOCK` when a `reserve` asks for more than is available,
    /// `NOT_RESERVED` when an `unreserve` releases more than is reserved.
    pub fn apply(&mut self, commands: &[Command]) -> Result<(), Error> {
        let mut next = self.clone();
        for (index, command) in commands.iter().enumerate() {
            next.apply_one(index, *command)?;
        }
        *self = next;
        Ok(())
    }

    fn apply_one(&mut self, index: usize, command: Command) -> Result<(), Error> {
        match command {
            Command::SetPhysicalStock(value) => self.physical_stock = value,
            Command::SetIncomingStock(value) => self.incoming_stock = value,
            Command::Reserve(quantity) => {
                let available = self.available().max(0);
                if quantity > available {
                    return Err(Error::new(
                        "INSUFFICIENT_STOCK",
                        format!(
                            "commands[{index}]: cannot reserve {quantity}: only {available} available"
                        ),
                    ));
                }
                self.reserved_stock += quantity;
            }
            Command::Unreserve(quantity) => {
                if quantity > self.reserved_stock {
                    return Err(Error::new(
                        "NOT_RESERVED",
                        format!(
                            "commands[{index}]: cannot unreserve {quantity}: only {} reserved",
                            self.reserved_stock
                        ),
                    ));
                }
                self.reserved_stock -= quantity;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(physical: i64, incoming: i64, reserved: i64) -> Stock {
        Stock {
            physical_stock: physical,
            incoming_stock: incoming,
            reserved_stock: reserved,
        }
    }

    fn parse(command: Value) -> Result<Command, Error> {
        Command::parse(0, &command)
    }

    #[test]
    fn the_state_is_camel_case_json() {
        assert_eq!(
            sluice_sdk::serde_json::to_value(stock(100, 20, 5)).unwrap(),
            json!({"physicalStock": 100, "incomingStock": 20, "reservedStock": 5})
        );
    }

    #[test]
    fn availability_is_physical_minus_reserved() {
        assert_eq!(
            stock(100, 20, 5).availability(),
            json!({"available": 95, "physical": 100, "reserved": 5, "incoming": 20})
        );
    }

    #[test]
    fn commands_parse_with_their_amounts() {
        assert_eq!(
            parse(json!({"type": "setPhysicalStock", "value": 7})).unwrap(),
            Command::SetPhysicalStock(7)
        );
        assert_eq!(
            parse(json!({"type": "setIncomingStock", "value": 0})).unwrap(),
            Command::SetIncomingStock(0)
        );
        assert_eq!(
            parse(json!({"type": "reserve", "quantity": 2})).unwrap(),
            Command::Reserve(2)
        );
        assert_eq!(
            parse(json!({"type": "unreserve", "quantity": 1})).unwrap(),
            Command::Unreserve(1)
        );
    }

    #[test]
    fn malformed_commands_are_invalid_command_with_their_index() {
        for command in [
            json!({"type": "reserve", "quantity": -1}),
            json!({"type": "reserve", "quantity": 1.5}),
            json!({"type": "reserve", "quantity": "2"}),
            json!({"type": "reserve", "value": 2}),
            json!({"type": "setPhysicalStock", "value": u64::MAX}),
            json!({"type": "restock", "value": 2}),
            json!({"quantity": 2}),
            json!("reserve"),
        ] {
            let err = Command::parse(3, &command).unwrap_err();
            assert_eq!(err.code(), "INVALID_COMMAND", "{command}");
            assert!(
                err.message().starts_with("commands[3]: "),
                "{}",
                err.message()
            );
        }
    }

    #[test]
    fn commands_apply_in_order() {
        let mut sku = stock(10, 0, 0);
        let commands = [
            Command::SetPhysicalStock(5),
            Command::Reserve(5),
            Command::Unreserve(2),
            Command::SetIncomingStock(8),
        ];
        sku.apply(&commands).unwrap();
        assert_eq!(sku, stock(5, 8, 3));
    }

    #[test]
    fn reserving_more_than_available_is_insufficient_stock_and_changes_nothing() {
        let mut sku = stock(10, 0, 4);
        let err = sku
            .apply(&[Command::Reserve(1), Command::Reserve(6)])
            .unwrap_err();
        assert_eq!(err.code(), "INSUFFICIENT_STOCK");
        assert_eq!(
            err.message(),
            "commands[1]: cannot reserve 6: only 5 available"
        );
        assert_eq!(sku, stock(10, 0, 4));
        sku.apply(&[Command::Reserve(6)]).unwrap();
        assert_eq!(sku.available(), 0);
    }

    #[test]
    fn unreserving_more_than_reserved_is_not_reserved() {
        let mut sku = stock(10, 0, 2);
        let err = sku.apply(&[Command::Unreserve(3)]).unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            (
                "NOT_RESERVED",
                "commands[0]: cannot unreserve 3: only 2 reserved"
            )
        );
        assert_eq!(sku, stock(10, 0, 2));
    }

    #[test]
    fn a_recount_below_the_reservations_leaves_nothing_to_reserve() {
        let mut sku = stock(10, 0, 6);
        sku.apply(&[Command::SetPhysicalStock(4)]).unwrap();
        assert_eq!(sku.available(), -2);
        let err = sku
            .apply(&[Command::Reserve(0), Command::Reserve(1)])
            .unwrap_err();
        assert_eq!(
            err.message(),
            "commands[1]: cannot reserve 1: only 0 available"
        );
    }
}
