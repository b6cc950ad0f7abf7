//! The actor side: an [`Actor`] is a typed, serde-(de)serializable state plus the logic of
//! its messages, exported with [`actor!`](crate::actor) as an `actor` world component
//! (WIT interface `actor-handler`).
//!
//! For each `messageActor` call the host runs one fresh instance with the actor's stored
//! state and every message of the call. The SDK deserializes the state (a new actor starts
//! from [`Default`]), calls [`Actor::handle`] once per message in order, and hands back
//! each message's result, the new state when it changed, and optional checkpoint metadata.
//!
//! # Examples
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use sluice_sdk::{Actor, ActorContext, ActorMessage, Error, Value, json};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Counter {
//!     count: i64,
//! }
//!
//! impl Actor for Counter {
//!     fn handle(&mut self, _ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
//!         match message.message_type() {
//!             "increment" => {
//!                 self.count += 1;
//!                 Ok(json!(self.count))
//!             }
//!             "get" => Ok(json!(self.count)),
//!             _ => Err(message.unknown()),
//!         }
//!     }
//! }
//!
//! sluice_sdk::actor!(Counter);
//! ```

use std::cell::{Cell, RefCell};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;

/// An actor type: its state, and what each message does to it.
///
/// The state is `Self`. It is stored by the host as the JSON that `Serialize` makes of it
/// and read back with `Deserialize`; an actor that has no state yet (a new actor) starts
/// from [`Default`]. Export the type with [`actor!`](crate::actor).
///
/// One `messageActor` call is one batch: [`handle`](Actor::handle) runs once per message,
/// in order, against the same `self`, so later messages see what earlier ones did. Then:
///
/// - **all or nothing**: if any message returns `Err`, the host stores nothing and
///   publishes nothing, whatever the other messages did. The messages after the first
///   `Err` are not run; each gets the error `SKIPPED`. Mutating `self` before returning
///   `Err` is therefore harmless.
/// - **changed state only**: when every message succeeded, the new state is stored (and a
///   `checkpoint` event published on `actors/<type>/<id>`) only if its JSON differs from
///   the JSON of the state loaded; read-only messages store nothing. A new actor is always
///   stored after a successful batch: from then on it exists.
/// - **preview**: the caller may ask for a preview ([`ActorContext::is_preview`]); the
///   results are returned but nothing is ever stored or published.
/// - **serialized**: calls to one actor never overlap, so read-modify-write is safe.
///
/// A stored state that no longer deserializes into `Self` rejects every message with
/// `INVALID_STATE`. A panic traps the instance: the host changes nothing and the caller
/// gets an error.
///
/// Actors may read the store ([`query`](crate::query)) and use the host services
/// ([`log`](crate::log), [`now`](crate::now), [`new_id`](crate::new_id)); they cannot
/// subscribe to events or message other actors (the `actor` world does not import them).
///
/// # Examples
///
/// Reject messages to an actor that was never created:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use sluice_sdk::{Actor, ActorContext, ActorMessage, Error, Value, json};
///
/// #[derive(Default, Serialize, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Account {
///     balance: i64,
/// }
///
/// #[derive(Deserialize)]
/// struct Deposit {
///     amount: i64,
/// }
///
/// impl Actor for Account {
///     fn handle(&mut self, ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
///         if message.message_type() == "open" {
///             ctx.ensure_new()?;
///             return Ok(json!(self));
///         }
///         ctx.ensure_exists()?;
///         match message.message_type() {
///             "deposit" => {
///                 let deposit: Deposit = message.body()?;
///                 self.balance += deposit.amount;
///                 ctx.set_checkpoint_metadata(json!({ "deposited": deposit.amount }));
///                 Ok(json!({ "balance": self.balance }))
///             }
///             "balance" => Ok(json!({ "balance": self.balance })),
///             _ => Err(message.unknown()),
///         }
///     }
/// }
///
/// let ctx = ActorContext::new("account", "A-1", true);
/// let mut account = Account::default();
/// assert_eq!(account.handle(&ctx, &ActorMessage::new("balance")).unwrap_err().code(), "NOT_FOUND");
/// ```
pub trait Actor: Default + Serialize + DeserializeOwned {
    /// Handle one message: change `self` as it asks and return its result, which the
    /// caller finds under the message's alias (or type) in the response `data`.
    ///
    /// # Errors
    ///
    /// An `Err` rejects the message; the caller sees it in the response `errors` (its
    /// `code` and `message`) and nothing of the whole batch is stored.
    fn handle(&mut self, ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error>;
}

/// Which actor is being called, and the checkpoint metadata to store with its new state.
///
/// # Examples
///
/// ```
/// use sluice_sdk::ActorContext;
///
/// let ctx = ActorContext::new("sku", "42", false);
/// assert_eq!(ctx.name(), "sku/42");
/// assert!(!ctx.is_new());
/// ```
#[derive(Debug)]
pub struct ActorContext {
    actor_type: String,
    actor_id: String,
    is_new: Cell<bool>,
    preview: bool,
    read_only: bool,
    checkpoint_metadata: RefCell<Option<Value>>,
}

impl ActorContext {
    /// A context for actor `actor_type`/`actor_id`, new (no state yet) or not, not a
    /// preview. The host makes the real one; this is for calling [`Actor::handle`] in
    /// tests.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = sluice_sdk::ActorContext::new("sku", "42", true);
    /// assert!(ctx.is_new());
    /// ```
    pub fn new(actor_type: impl Into<String>, actor_id: impl Into<String>, is_new: bool) -> Self {
        Self {
            actor_type: actor_type.into(),
            actor_id: actor_id.into(),
            is_new: Cell::new(is_new),
            preview: false,
            read_only: false,
            checkpoint_metadata: RefCell::new(None),
        }
    }

    /// The same context, flagged as a preview (or not). Default is not a preview.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = sluice_sdk::ActorContext::new("sku", "42", false).with_preview(true);
    /// assert!(ctx.is_preview());
    /// ```
    pub fn with_preview(mut self, preview: bool) -> Self {
        self.preview = preview;
        self
    }

    /// The same context, flagged as a query batch (or not). Default is not read-only.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = sluice_sdk::ActorContext::new("sku", "42", false).with_read_only(true);
    /// assert!(ctx.is_read_only());
    /// ```
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The actor type, e.g. `sku`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorContext::new("sku", "42", false).actor_type(), "sku");
    /// ```
    pub fn actor_type(&self) -> &str {
        &self.actor_type
    }

    /// The actor id, e.g. the SKU's `skuId`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorContext::new("sku", "42", false).actor_id(), "42");
    /// ```
    pub fn actor_id(&self) -> &str {
        &self.actor_id
    }

    /// `<type>/<id>`, e.g. `sku/42`: how errors and logs name the actor.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorContext::new("sku", "42", false).name(), "sku/42");
    /// ```
    pub fn name(&self) -> String {
        format!("{}/{}", self.actor_type, self.actor_id)
    }

    /// True while the actor does not exist: it had no stored state when the batch began
    /// and no message of this batch has succeeded yet. So in a batch `[create, reserve]`
    /// to a new actor, `create` sees `true` and `reserve` sees `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{ActorContext, ActorMessage, Error, Value, json};
    ///
    /// fn create(ctx: &ActorContext, _message: &ActorMessage) -> Result<Value, Error> {
    ///     if !ctx.is_new() {
    ///         return Err(Error::new("ALREADY_EXISTS", format!("actor {} already exists", ctx.name())));
    ///     }
    ///     Ok(json!({ "created": ctx.actor_id() }))
    /// }
    /// # assert!(create(&ActorContext::new("sku", "1", true), &ActorMessage::new("create")).is_ok());
    /// ```
    pub fn is_new(&self) -> bool {
        self.is_new.get()
    }

    /// True when the caller asked for a preview: results are returned, nothing is stored
    /// or published. Most actors need not care.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!sluice_sdk::ActorContext::new("sku", "42", false).is_preview());
    /// ```
    pub fn is_preview(&self) -> bool {
        self.preview
    }

    /// True when every message of the batch is a query: a message type the actor type
    /// lists under `spec.queries` in `actors/<type>.yaml`. The host then runs the batch
    /// against the latest committed state without taking the actor, and shares its results
    /// with every caller asking the same of the same state version. A query batch must not
    /// change the state: if it does, the call fails and nothing is stored.
    ///
    /// ```yaml
    /// uri: /resources/actors/sku
    /// spec:
    ///   componentId: sku-actor
    ///   queries: [calculateAvailableStock]
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!sluice_sdk::ActorContext::new("sku", "42", false).is_read_only());
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// `Ok` unless the actor is new; then the error `NOT_FOUND`, "actor `<type>/<id>` does
    /// not exist". Use it first in every message but the one that creates the actor.
    ///
    /// # Errors
    ///
    /// `NOT_FOUND` when [`is_new`](ActorContext::is_new).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::ActorContext::new("sku", "42", true).ensure_exists().unwrap_err();
    /// assert_eq!((err.code(), err.message()), ("NOT_FOUND", "actor sku/42 does not exist"));
    /// ```
    pub fn ensure_exists(&self) -> Result<(), Error> {
        if self.is_new() {
            return Err(Error::not_found(format!(
                "actor {} does not exist",
                self.name()
            )));
        }
        Ok(())
    }

    /// `Ok` if the actor is new; else the error `ALREADY_EXISTS`, "actor `<type>/<id>`
    /// already exists". Use it in the message that creates the actor.
    ///
    /// # Errors
    ///
    /// `ALREADY_EXISTS` unless [`is_new`](ActorContext::is_new).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::ActorContext::new("sku", "42", false).ensure_new().unwrap_err();
    /// assert_eq!((err.code(), err.message()), ("ALREADY_EXISTS", "actor sku/42 already exists"));
    /// ```
    pub fn ensure_new(&self) -> Result<(), Error> {
        if !self.is_new() {
            return Err(Error::new(
                "ALREADY_EXISTS",
                format!("actor {} already exists", self.name()),
            ));
        }
        Ok(())
    }

    /// Set the JSON stored with this batch's checkpoint and published in its `checkpoint`
    /// event (under `metadata`), e.g. what caused the change. The last call wins. Default is
    /// none. It is used only when the batch changes the state.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{ActorContext, json};
    ///
    /// let ctx = ActorContext::new("sku", "42", false);
    /// ctx.set_checkpoint_metadata(json!({ "reason": "recount" }));
    /// assert_eq!(ctx.checkpoint_metadata(), Some(json!({ "reason": "recount" })));
    /// ```
    pub fn set_checkpoint_metadata(&self, metadata: Value) {
        *self.checkpoint_metadata.borrow_mut() = Some(metadata);
    }

    /// The checkpoint metadata set so far, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorContext::new("sku", "42", false).checkpoint_metadata(), None);
    /// ```
    pub fn checkpoint_metadata(&self) -> Option<Value> {
        self.checkpoint_metadata.borrow().clone()
    }
}

/// One message to this actor: its type, optional alias and optional JSON body.
///
/// # Examples
///
/// ```
/// use serde::Deserialize;
/// use sluice_sdk::{ActorMessage, json};
///
/// #[derive(Deserialize)]
/// struct Reserve {
///     quantity: u64,
/// }
///
/// let message = ActorMessage::new("reserve").with_body(json!({ "quantity": 2 }));
/// let reserve: Reserve = message.body().unwrap();
/// assert_eq!(reserve.quantity, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActorMessage {
    message_type: String,
    alias: Option<String>,
    body: Option<Value>,
}

impl ActorMessage {
    /// A message of type `message_type` with no alias and no body. The host makes the real
    /// ones; this is for calling [`Actor::handle`] in tests.
    ///
    /// # Examples
    ///
    /// ```
    /// let message = sluice_sdk::ActorMessage::new("query");
    /// assert_eq!(message.message_type(), "query");
    /// ```
    pub fn new(message_type: impl Into<String>) -> Self {
        Self {
            message_type: message_type.into(),
            alias: None,
            body: None,
        }
    }

    /// The same message with a body. Default is no body.
    ///
    /// # Examples
    ///
    /// ```
    /// let message = sluice_sdk::ActorMessage::new("reserve").with_body(sluice_sdk::json!({ "quantity": 2 }));
    /// assert_eq!(message.body_value().unwrap()["quantity"], 2);
    /// ```
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The same message with an alias. Default is no alias.
    ///
    /// # Examples
    ///
    /// ```
    /// let message = sluice_sdk::ActorMessage::new("query").with_alias("before");
    /// assert_eq!(message.alias(), Some("before"));
    /// ```
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// The message type, e.g. `reserve`: what to do.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorMessage::new("reserve").message_type(), "reserve");
    /// ```
    pub fn message_type(&self) -> &str {
        &self.message_type
    }

    /// The key the caller will find this message's result under, when it is not the type.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorMessage::new("query").alias(), None);
    /// ```
    pub fn alias(&self) -> Option<&str> {
        self.alias.as_deref()
    }

    /// The body as JSON, if the message has one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::ActorMessage::new("query").body_value(), None);
    /// ```
    pub fn body_value(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// The body as a `T`. A missing body reads as JSON `null`, so `T = Option<…>` accepts
    /// it; see [`body_or_default`](ActorMessage::body_or_default) for optional bodies.
    ///
    /// # Errors
    ///
    /// `INVALID_BODY` (HTTP 400 for callers that pass it on) when the body is not a `T`,
    /// with serde's reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{ActorMessage, json};
    ///
    /// let message = ActorMessage::new("reserve").with_body(json!({ "quantity": -1 }));
    /// let err = message.body::<std::collections::HashMap<String, u64>>().unwrap_err();
    /// assert_eq!(err.code(), "INVALID_BODY");
    /// ```
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let body = self.body.clone().unwrap_or(Value::Null);
        serde_json::from_value(body).map_err(|err| {
            Error::new(
                "INVALID_BODY",
                format!("message '{}': invalid body: {err}", self.message_type),
            )
        })
    }

    /// The body as a `T`, or `T::default()` when there is none (or it is `null`).
    ///
    /// # Errors
    ///
    /// `INVALID_BODY` when a body is present but is not a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use sluice_sdk::ActorMessage;
    ///
    /// #[derive(Default, Deserialize)]
    /// struct Create {
    ///     initial: Option<i64>,
    /// }
    ///
    /// let create: Create = ActorMessage::new("create").body_or_default().unwrap();
    /// assert_eq!(create.initial, None);
    /// ```
    pub fn body_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        match &self.body {
            None | Some(Value::Null) => Ok(T::default()),
            Some(_) => self.body(),
        }
    }

    /// The error for a message type the actor does not know: `UNKNOWN_MESSAGE`,
    /// "unknown message type '…'".
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::ActorMessage::new("explode").unknown();
    /// assert_eq!((err.code(), err.message()), ("UNKNOWN_MESSAGE", "unknown message type 'explode'"));
    /// ```
    pub fn unknown(&self) -> Error {
        Error::new(
            "UNKNOWN_MESSAGE",
            format!("unknown message type '{}'", self.message_type),
        )
    }
}

/// What one batch produced, before it is encoded for the host.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The new state, when it changed (always, for a new actor that succeeded).
    pub(crate) state: Option<Value>,
    /// One per message, in order.
    pub(crate) results: Vec<Result<Value, Error>>,
    /// Only with a new state.
    pub(crate) checkpoint_metadata: Option<Value>,
}

impl Batch {
    /// Every message rejected with the same error; nothing stored.
    fn rejected(messages: usize, error: &Error) -> Self {
        Self {
            state: None,
            results: vec![Err(error.clone()); messages],
            checkpoint_metadata: None,
        }
    }
}

/// Run `messages` against `state` (JSON text; `None` for a new actor), as documented on
/// [`Actor`].
pub(crate) fn run<A: Actor>(
    ctx: &ActorContext,
    state: Option<&str>,
    messages: &[ActorMessage],
) -> Batch {
    let invalid_state =
        |why: String| Error::new("INVALID_STATE", format!("actor {}: {why}", ctx.name()));
    let (mut actor, loaded) = match state {
        None => (A::default(), None),
        Some(text) => {
            let loaded = serde_json::from_str::<A>(text).and_then(|actor| {
                let json = serde_json::to_value(&actor)?;
                Ok((actor, json))
            });
            match loaded {
                Ok((actor, json)) => (actor, Some(json)),
                Err(err) => {
                    let error = invalid_state(format!("the stored state does not fit: {err}"));
                    return Batch::rejected(messages.len(), &error);
                }
            }
        }
    };

    let mut results = Vec::with_capacity(messages.len());
    let mut rejected = None;
    for (index, message) in messages.iter().enumerate() {
        if let Some(first) = rejected {
            results.push(Err(skipped(first, &messages[first])));
            continue;
        }
        let result = actor.handle(ctx, message);
        match &result {
            Ok(_) => ctx.is_new.set(false),
            Err(_) => rejected = Some(index),
        }
        results.push(result);
    }
    if rejected.is_some() || messages.is_empty() {
        return Batch {
            state: None,
            results,
            checkpoint_metadata: None,
        };
    }

    let new_state = match serde_json::to_value(&actor) {
        Ok(json) => json,
        Err(err) => {
            let error = invalid_state(format!("the new state could not be serialized: {err}"));
            return Batch::rejected(messages.len(), &error);
        }
    };
    // A query batch on an actor that does not exist yet changed nothing if it left the
    // default state as it was: a query cannot create an actor.
    let before = match loaded {
        None if ctx.is_read_only() => serde_json::to_value(A::default()).ok(),
        loaded => loaded,
    };
    let state = (before.as_ref() != Some(&new_state)).then_some(new_state);
    let checkpoint_metadata = state.as_ref().and_then(|_| ctx.checkpoint_metadata());
    Batch {
        state,
        results,
        checkpoint_metadata,
    }
}

/// The error of a message after the first rejected one.
fn skipped(first: usize, message: &ActorMessage) -> Error {
    Error::new(
        "SKIPPED",
        format!(
            "not run: message {first} ('{}') was rejected",
            message.message_type
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// A counter that can be created, read, incremented, tagged and made to fail.
    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Counter {
        count: i64,
    }

    impl Actor for Counter {
        fn handle(&mut self, ctx: &ActorContext, message: &ActorMessage) -> Result<Value, Error> {
            if message.message_type() == "create" {
                ctx.ensure_new()?;
                return Ok(json!(self));
            }
            ctx.ensure_exists()?;
            match message.message_type() {
                "add" => {
                    self.count += message.body::<i64>()?;
                    ctx.set_checkpoint_metadata(json!({ "added": message.body_value() }));
                    Ok(json!(self.count))
                }
                "get" => Ok(json!(self.count)),
                "tag" => {
                    ctx.set_checkpoint_metadata(json!("tagged"));
                    Ok(Value::Null)
                }
                "fail" => {
                    self.count = -1;
                    Err(Error::conflict("no"))
                }
                _ => Err(message.unknown()),
            }
        }
    }

    fn message(message_type: &str) -> ActorMessage {
        ActorMessage::new(message_type)
    }

    fn add(n: i64) -> ActorMessage {
        message("add").with_body(json!(n))
    }

    fn existing() -> ActorContext {
        ActorContext::new("counter", "c1", false)
    }

    fn codes(batch: &Batch) -> Vec<&str> {
        batch
            .results
            .iter()
            .map(|result| result.as_ref().map_or_else(Error::code, |_| "ok"))
            .collect()
    }

    #[test]
    fn a_query_batch_that_leaves_a_new_actor_at_its_default_changes_nothing() {
        let new = || ActorContext::new("counter", "c9", true);
        let created = run::<Counter>(&new(), None, &[message("create")]);
        assert_eq!(
            created.state,
            Some(json!({"count": 0})),
            "a write creates it"
        );
        let queried = run::<Counter>(&new().with_read_only(true), None, &[message("create")]);
        assert_eq!(queried.state, None, "a query cannot create it");
        assert_eq!(codes(&queried), ["ok"]);
        let ctx = existing().with_read_only(true);
        let changed = run::<Counter>(&ctx, Some(r#"{"count":1}"#), &[add(2)]);
        assert_eq!(
            changed.state,
            Some(json!({"count": 3})),
            "a change is reported, and the host refuses it"
        );
    }

    #[test]
    fn a_change_returns_the_new_state_and_every_result_in_order() {
        let batch = run::<Counter>(
            &existing(),
            Some(r#"{"count":1}"#),
            &[add(2), message("get"), add(3)],
        );
        assert_eq!(batch.state, Some(json!({"count": 6})));
        let values: Vec<Value> = batch.results.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, [json!(3), json!(3), json!(6)]);
    }

    #[test]
    fn a_batch_that_changes_nothing_returns_no_state() {
        let batch = run::<Counter>(&existing(), Some(r#"{"count":1}"#), &[message("get")]);
        assert_eq!(batch.state, None);
        assert_eq!(batch.results[0].as_ref().unwrap(), &json!(1));
    }

    #[test]
    fn changes_that_cancel_out_store_nothing() {
        let batch = run::<Counter>(&existing(), Some(r#"{"count":1}"#), &[add(2), add(-2)]);
        assert_eq!(batch.state, None);
        assert_eq!(batch.checkpoint_metadata, None);
    }

    #[test]
    fn unchanged_is_judged_on_the_typed_state_not_the_stored_text() {
        let stored = r#"{ "legacy": true, "count": 4 }"#;
        let batch = run::<Counter>(&existing(), Some(stored), &[message("get")]);
        assert_eq!(batch.state, None);
    }

    #[test]
    fn an_err_stores_nothing_and_skips_the_messages_after_it() {
        let batch = run::<Counter>(
            &existing(),
            Some(r#"{"count":1}"#),
            &[add(1), message("fail"), add(5)],
        );
        assert_eq!(batch.state, None);
        assert_eq!(batch.checkpoint_metadata, None);
        assert_eq!(codes(&batch), ["ok", "CONFLICT", "SKIPPED"]);
        let skipped = batch.results[2].as_ref().unwrap_err();
        assert_eq!(
            skipped.message(),
            "not run: message 1 ('fail') was rejected"
        );
    }

    #[test]
    fn a_new_actor_starts_from_default_and_is_stored_once_created() {
        let ctx = ActorContext::new("counter", "c1", true);
        let batch = run::<Counter>(&ctx, None, &[message("create"), add(2)]);
        assert_eq!(codes(&batch), ["ok", "ok"]);
        assert_eq!(batch.results[0].as_ref().unwrap(), &json!({"count": 0}));
        assert_eq!(batch.state, Some(json!({"count": 2})));
        assert!(!ctx.is_new());
    }

    #[test]
    fn a_new_actor_is_stored_even_when_its_state_is_the_default() {
        let ctx = ActorContext::new("counter", "c1", true);
        let batch = run::<Counter>(&ctx, None, &[message("create")]);
        assert_eq!(batch.state, Some(json!({"count": 0})));
    }

    #[test]
    fn a_new_actor_can_reject_everything_but_create() {
        let ctx = ActorContext::new("counter", "c1", true);
        let batch = run::<Counter>(&ctx, None, &[message("get"), message("create")]);
        assert_eq!(batch.state, None);
        assert_eq!(codes(&batch), ["NOT_FOUND", "SKIPPED"]);
        let err = batch.results[0].as_ref().unwrap_err();
        assert_eq!(err.message(), "actor counter/c1 does not exist");
        assert!(ctx.is_new());
    }

    #[test]
    fn create_on_an_existing_actor_is_already_exists() {
        let batch = run::<Counter>(&existing(), Some(r#"{"count":1}"#), &[message("create")]);
        assert_eq!(codes(&batch), ["ALREADY_EXISTS"]);
    }

    #[test]
    fn no_messages_store_nothing_even_for_a_new_actor() {
        let ctx = ActorContext::new("counter", "c1", true);
        let batch = run::<Counter>(&ctx, None, &[]);
        assert_eq!(batch.state, None);
        assert!(batch.results.is_empty());
    }

    #[test]
    fn checkpoint_metadata_goes_with_a_change_only() {
        let batch = run::<Counter>(&existing(), Some(r#"{"count":1}"#), &[add(1), add(2)]);
        assert_eq!(batch.checkpoint_metadata, Some(json!({"added": 2})));
        let batch = run::<Counter>(&existing(), Some(r#"{"count":1}"#), &[message("tag")]);
        assert_eq!((batch.state, batch.checkpoint_metadata), (None, None));
    }

    #[test]
    fn a_state_that_does_not_fit_rejects_every_message() {
        let batch = run::<Counter>(
            &existing(),
            Some(r#"{"count":"many"}"#),
            &[message("get"), add(1)],
        );
        assert_eq!(batch.state, None);
        assert_eq!(codes(&batch), ["INVALID_STATE", "INVALID_STATE"]);
        let err = batch.results[0].as_ref().unwrap_err();
        assert!(
            err.message()
                .starts_with("actor counter/c1: the stored state does not fit: ")
        );
    }

    #[test]
    fn a_bad_body_and_an_unknown_type_are_typed_errors() {
        let batch = run::<Counter>(
            &existing(),
            Some(r#"{"count":1}"#),
            &[message("add").with_body(json!("x"))],
        );
        assert_eq!(codes(&batch), ["INVALID_BODY"]);
        let batch = run::<Counter>(&existing(), Some(r#"{"count":1}"#), &[message("explode")]);
        assert_eq!(codes(&batch), ["UNKNOWN_MESSAGE"]);
    }

    #[test]
    fn an_optional_body_defaults_when_absent_or_null() {
        #[derive(Debug, Default, PartialEq, Deserialize)]
        struct Create {
            start: Option<i64>,
        }
        assert_eq!(
            message("create").body_or_default::<Create>().unwrap(),
            Create::default()
        );
        let null = message("create").with_body(Value::Null);
        assert_eq!(null.body_or_default::<Create>().unwrap(), Create::default());
        let given = message("create").with_body(json!({"start": 3}));
        assert_eq!(given.body_or_default::<Create>().unwrap().start, Some(3));
    }
}
