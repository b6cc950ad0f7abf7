//! `whoami`: the caller as the host authenticated it, for the auth tests and as an example
//! of `Request::caller`.
//!
//! The answer is `{"subject": …, "permissions": […], "mayReadOrders": bool}` for a caller
//! with a valid bearer token, and `{"anonymous": true}` for anyone else (possible only on a
//! public ingress: the host turns anonymous callers of other ingresses away). JSON mode
//! gets it as the body; SSE mode as the data of one `whoami` event.

use sluice_sdk::{Error, Mode, Record, Request, Stream, json};

fn handle(req: Request) -> Result<Stream, Error> {
    let answer = match req.caller() {
        Some(caller) => json!({
            "subject": caller.subject(),
            "permissions": caller.permissions(),
            "mayReadOrders": caller.allows("orders/ORD-123", "read"),
        }),
        None => json!({ "anonymous": true }),
    };
    Ok(match req.mode() {
        Mode::Json => Stream::once(answer),
        Mode::Sse => Stream::once(Record::event("whoami").data(answer)),
    })
}

sluice_sdk::ingress!(handle);
