//! The exports: [`ingress!`](crate::ingress) wires a handler function to `handler`, and
//! [`actor!`](crate::actor) an [`Actor`](crate::Actor) type to `actor-handler`.
//!
//! Each macro expands, in the component's crate, to a unit struct implementing the
//! generated `Guest` trait by calling [`__private::handle`] (or
//! [`__private::actor::handle`]), plus wit-bindgen's export macro for that struct.
//! Everything it names lives in the hidden [`__private`] module, so components depend on
//! this crate only.

/// Export `handler`, a `fn(Request) -> Result<Stream, Error>` (or a closure of that
/// shape), as this component's `handler.handle`. Use it once, at the crate root of a
/// `cdylib` crate.
///
/// For each request the host calls `handler` in a fresh instance. `Ok(stream)` starts the
/// response and the host pulls the stream's values; `Err(error)` becomes an HTTP error
/// response (see [`Error`](crate::Error)).
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, Request, Stream};
///
/// fn hello(_req: Request) -> Result<Stream, Error> {
///     Ok(Stream::once("Hello world"))
/// }
///
/// sluice_sdk::ingress!(hello);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! ingress {
    ($handler:expr $(,)?) => {
        #[doc(hidden)]
        struct __SluiceIngress;

        impl $crate::__private::Guest for __SluiceIngress {
            type RecordStream = $crate::__private::RecordStreamExport;

            fn handle(
                request: $crate::__private::WitRequest,
            ) -> ::core::result::Result<$crate::__private::WitRecordStream, $crate::__private::WitError> {
                $crate::__private::handle(request, $handler)
            }
        }

        $crate::__private::bindings::__sluice_export_ingress!(
            __SluiceIngress with_types_in $crate::__private::bindings
        );
    };
}

/// Export the [`Actor`](crate::Actor) type `$actor` as this component's
/// `actor-handler.handle`: the component is then an `actor` world component. Use it once,
/// at the crate root of a `cdylib` crate, instead of [`ingress!`](crate::ingress).
///
/// For each `messageActor` call the host runs `handle` in a fresh instance: the SDK
/// deserializes the stored state (or starts from `Default`), calls
/// [`Actor::handle`](crate::Actor::handle) per message in order and returns the results
/// and the new state only if it changed (see [`Actor`](crate::Actor)).
///
/// The component imports only `sluice:ingress/query`, `sluice:ingress/host` (and their
/// `types`) besides WASI, as long as it does not call [`events`](crate::events) or
/// [`message_actor`](crate::message_actor), which the `actor` world does not grant; a
/// component that does is rejected when it is deployed as an actor.
///
/// # Examples
///
/// ```no_run
/// use serde::{Deserialize, Serialize};
/// use sluice_sdk::{Actor, ActorContext, ActorMessage, Error, Value, json};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Counter {
///     count: i64,
/// }
///
/// impl Actor for Counter {
///     fn handle(&mut self, _ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
///         match message.message_type() {
///             "increment" => {
///                 self.count += 1;
///                 Ok(json!(self.count))
///             }
///             "get" => Ok(json!(self.count)),
///             _ => Err(message.unknown()),
///         }
///     }
/// }
///
/// sluice_sdk::actor!(Counter);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! actor {
    ($actor:ty $(,)?) => {
        #[doc(hidden)]
        struct __SluiceActor;

        impl $crate::__private::actor::Guest for __SluiceActor {
            fn handle(
                context: $crate::__private::actor::WitActorContext,
                state: ::core::option::Option<::std::string::String>,
                messages: ::std::vec::Vec<$crate::__private::actor::WitMessage>,
            ) -> $crate::__private::actor::WitOutcome {
                $crate::__private::actor::handle::<$actor>(context, state, messages)
            }
        }

        $crate::__private::bindings::actor::__sluice_export_actor!(
            __SluiceActor with_types_in $crate::__private::bindings::actor
        );
    };
}

/// Implementation details of [`ingress!`](crate::ingress) and [`actor!`](crate::actor).
/// Not public API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;

    pub use crate::bindings;
    use crate::bindings::exports::sluice::ingress::handler::AfterBatch;
    pub use crate::bindings::exports::sluice::ingress::handler::{
        Guest, GuestRecordStream, RecordStream as WitRecordStream,
    };
    use crate::bindings::sluice::ingress::types::Mode as WitMode;
    pub use crate::bindings::sluice::ingress::types::{Error as WitError, Request as WitRequest};
    use crate::error::Error;
    use crate::request::{Caller, Mode, Request};
    use crate::stream::{After, Stream};

    /// The `record-stream` resource: a [`Stream`] the host pulls from.
    pub struct RecordStreamExport(RefCell<Stream>);

    impl GuestRecordStream for RecordStreamExport {
        fn poll_batch(&self, max: u32) -> (Vec<String>, AfterBatch) {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            let (values, after) = self.0.borrow_mut().poll_batch(max);
            let after = match after {
                After::More => AfterBatch::More,
                After::Wait => AfterBatch::Wait,
                After::End => AfterBatch::End,
            };
            (values, after)
        }
    }

    /// Run `handler` on the host's request.
    pub fn handle(
        request: WitRequest,
        handler: impl FnOnce(Request) -> Result<Stream, Error>,
    ) -> Result<WitRecordStream, WitError> {
        let mode = match request.mode {
            WitMode::Sse => Mode::Sse,
            WitMode::Json => Mode::Json,
        };
        let request = Request::from_parts(
            request.ingress_id,
            request.method,
            request.path,
            request.params,
            mode,
            request.last_event_id,
            request.body,
        )
        .with_caller(
            request
                .caller
                .map(|caller| Caller::new(caller.subject.as_deref(), caller.permissions)),
        );
        match handler(request) {
            Ok(stream) => Ok(WitRecordStream::new(RecordStreamExport(RefCell::new(
                stream,
            )))),
            Err(error) => Err(wit_error(error)),
        }
    }

    /// An SDK error as the WIT `types.error` record.
    fn wit_error(error: Error) -> WitError {
        let (code, message, status, details) = error.into_parts();
        WitError {
            code,
            message,
            status,
            details: details.map(|details| details.to_string()),
        }
    }

    /// The `actor-handler` export.
    pub mod actor {
        use serde_json::Value;

        use crate::bindings::actor::exports::sluice::ingress::actor_handler::MessageResult;
        pub use crate::bindings::actor::exports::sluice::ingress::actor_handler::{
            ActorContext as WitActorContext, Guest, Message as WitMessage, Outcome as WitOutcome,
        };

        use crate::actor::{self, Actor, ActorContext, ActorMessage};

        /// Run one batch of `messages` against `state` with the actor type `A`.
        pub fn handle<A: Actor>(
            context: WitActorContext,
            state: Option<String>,
            messages: Vec<WitMessage>,
        ) -> WitOutcome {
            let ctx = ActorContext::new(context.actor_type, context.actor_id, context.is_new)
                .with_preview(context.preview)
                .with_read_only(context.read_only);
            let messages: Vec<ActorMessage> = messages.into_iter().map(message).collect();
            let batch = actor::run::<A>(&ctx, state.as_deref(), &messages);
            WitOutcome {
                state: batch.state.map(|state| state.to_string()),
                results: batch
                    .results
                    .into_iter()
                    .map(|result| match result {
                        Ok(value) => MessageResult::Ok(value.to_string()),
                        Err(error) => MessageResult::Err(super::wit_error(error)),
                    })
                    .collect(),
                checkpoint_metadata: batch.checkpoint_metadata.map(|meta| meta.to_string()),
            }
        }

        /// A WIT message as an [`ActorMessage`]; a body that is not JSON is kept as a string.
        fn message(message: WitMessage) -> ActorMessage {
            let mut converted = ActorMessage::new(message.type_);
            if let Some(alias) = message.alias {
                converted = converted.with_alias(alias);
            }
            if let Some(body) = message.body {
                let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
                converted = converted.with_body(body);
            }
            converted
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::__private::actor::{WitActorContext, WitMessage, handle};
    use crate::bindings::actor::exports::sluice::ingress::actor_handler::MessageResult;
    use crate::sys::fake;
    use crate::{Actor, ActorContext, ActorMessage, Error, query};

    /// Prices from the store, kept per actor: reads a row through the (fake) host.
    #[derive(Default, Serialize, Deserialize)]
    struct Prices {
        total: f64,
    }

    impl Actor for Prices {
        fn handle(&mut self, ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
            match message.message_type() {
                "add" => {
                    let sku: String = message.body()?;
                    let row = query("skus").filter("skuNumber == ?", [sku]).first()?;
                    let price = row.map_or(Ok(0.0), |row| row.number("price"))?;
                    self.total += price;
                    ctx.set_checkpoint_metadata(json!({ "preview": ctx.is_preview() }));
                    Ok(json!(self.total))
                }
                "total" => Ok(json!({ "total": self.total, "alias": message.alias() })),
                _ => Err(message
                    .unknown()
                    .with_status(422)
                    .with_details(json!({ "x": 1 }))),
            }
        }
    }

    fn context(is_new: bool, preview: bool) -> WitActorContext {
        WitActorContext {
            actor_type: "prices".into(),
            actor_id: "p1".into(),
            is_new,
            preview,
            read_only: false,
        }
    }

    fn message(message_type: &str, alias: Option<&str>, body: Option<&str>) -> WitMessage {
        WitMessage {
            type_: message_type.into(),
            alias: alias.map(Into::into),
            body: body.map(Into::into),
        }
    }

    #[test]
    fn the_export_decodes_messages_and_encodes_state_results_and_metadata() {
        fake::answer_queries(Ok(vec![json!({"skuNumber": "PROD-001", "price": 2.5})]));
        let outcome = handle::<Prices>(
            context(false, true),
            Some(r#"{"total":1.0}"#.into()),
            vec![
                message("add", None, Some(r#""PROD-001""#)),
                message("total", Some("after"), None),
            ],
        );
        assert_eq!(outcome.state.as_deref(), Some(r#"{"total":3.5}"#));
        assert_eq!(
            outcome.checkpoint_metadata.as_deref(),
            Some(r#"{"preview":true}"#)
        );
        let results: Vec<String> = outcome
            .results
            .into_iter()
            .map(|result| match result {
                MessageResult::Ok(json) => json,
                MessageResult::Err(error) => panic!("{}", error.code),
            })
            .collect();
        assert_eq!(results, ["3.5", r#"{"total":3.5,"alias":"after"}"#]);
        assert_eq!(fake::queries()[0].arguments, [r#""PROD-001""#]);
    }

    #[test]
    fn the_export_encodes_errors_with_status_and_details() {
        let outcome = handle::<Prices>(
            context(true, false),
            None,
            vec![message("nope", None, Some("not json"))],
        );
        assert_eq!((outcome.state, outcome.checkpoint_metadata), (None, None));
        let [MessageResult::Err(error)] = &outcome.results[..] else {
            panic!("one error expected");
        };
        assert_eq!(
            (
                error.code.as_str(),
                error.message.as_str(),
                error.status,
                error.details.as_deref()
            ),
            (
                "UNKNOWN_MESSAGE",
                "unknown message type 'nope'",
                Some(422),
                Some(r#"{"x":1}"#)
            )
        );
    }

    #[test]
    fn a_body_that_is_not_json_arrives_as_a_string() {
        let outcome = handle::<Prices>(
            context(false, false),
            Some(r#"{"total":0}"#.into()),
            vec![message("add", None, Some("PROD-9"))],
        );
        assert!(matches!(&outcome.results[..], [MessageResult::Ok(total)] if total == "0.0"));
        assert_eq!(fake::queries()[0].arguments, [r#""PROD-9""#]);
    }
}
