//! `actor-crash`: a test fixture of the `actor` world. A counter whose `crash` message
//! panics, which traps the instance: the host must then change nothing.
//!
//! State: `{"count": n}`, `0` for a new actor (no `create` needed).
//!
//! | Message | Result |
//! |---------|--------|
//! | `increment` | adds 1 to `count`; the new count |
//! | `get` | the count |
//! | `crash` | panics (a trap) |
//! | anything else | error `UNKNOWN_MESSAGE` |

use serde::{Deserialize, Serialize};
use sluice_sdk::{Actor, ActorContext, ActorMessage, Error, Value, json};

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: i64,
}

impl Actor for Counter {
    fn handle(&mut self, _ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
        match message.message_type() {
            "increment" => {
                self.count += 1;
                Ok(json!(self.count))
            }
            "get" => Ok(json!(self.count)),
            "crash" => panic!("crash requested at count {}", self.count),
            _ => Err(message.unknown()),
        }
    }
}

sluice_sdk::actor!(Counter);
