//! Messages to actors (WIT interface `actors`): [`message_actor`]. Message type `<m>` to
//! actor type `<t>` needs `actors/<t>:<m>` (or `actors/<t>:*`) in the ingress `acl`.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::json::Json;
use crate::sys;

/// One message to an actor: a type, an optional alias and an optional JSON body.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Message, json};
///
/// let messages = [
///     Message::new("reserve").body(json!({ "quantity": 2 })),
///     Message::new("calculateAvailableStock").alias("stock"),
/// ];
/// # let _ = messages;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    message_type: String,
    alias: Option<String>,
    body: Option<Value>,
    invalid: Option<String>,
}

impl Message {
    /// A message of type `message_type`, with no alias and no body (the defaults).
    ///
    /// # Examples
    ///
    /// ```
    /// let message = sluice_sdk::Message::new("calculateAvailableStock");
    /// # let _ = message;
    /// ```
    pub fn new(message_type: impl Into<String>) -> Self {
        Self {
            message_type: message_type.into(),
            alias: None,
            body: None,
            invalid: None,
        }
    }

    /// The key of this message's result in the response `data` (default: its type).
    ///
    /// # Examples
    ///
    /// ```
    /// let message = sluice_sdk::Message::new("calculateAvailableStock").alias("stock");
    /// # let _ = message;
    /// ```
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// The message body, any [`Serialize`] value.
    ///
    /// # Examples
    ///
    /// ```
    /// let message = sluice_sdk::Message::new("reserve").body(sluice_sdk::json!({ "quantity": 2 }));
    /// # let _ = message;
    /// ```
    pub fn body(mut self, body: impl Serialize) -> Self {
        match serde_json::to_value(body) {
            Ok(body) => self.body = Some(body),
            Err(err) => {
                self.invalid = Some(format!(
                    "the body of message '{}' could not be serialized: {err}",
                    self.message_type
                ))
            }
        }
        self
    }

    pub(crate) fn message_type(&self) -> &str {
        &self.message_type
    }

    pub(crate) fn alias_name(&self) -> Option<&str> {
        self.alias.as_deref()
    }

    pub(crate) fn body_json(&self) -> Option<String> {
        self.body.as_ref().map(Value::to_string)
    }
}

/// Deliver `messages` to actor `actor_type`/`actor_id`, in order and in one transaction:
/// the platform's `messageActor(type, id, [{ type = … }])`.
///
/// Returns the actor's response,
/// `{"actorId":…,"paths":…,"data":{"<alias or type>":…},"errors":[…]}`, as a [`Json`]: read
/// it like a [`Value`], or pass it to [`Record::data`](crate::Record::data), which copies it
/// without parsing it. Each state change
/// publishes a `checkpoint` event on `actors/<type>/<id>`.
///
/// # Errors
///
/// [`ActorError`]: not granted, unknown actor type, no such actor, or the actor rejected
/// the messages (then nothing was changed).
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Message, Record, message_actor};
///
/// # fn main() -> Result<(), sluice_sdk::Error> {
/// let stock = message_actor("sku", "6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f", [Message::new("calculateAvailableStock")])?;
/// let init = Record::event("init").data(stock);
/// # let _ = init;
/// # Ok(())
/// # }
/// ```
pub fn message_actor(
    actor_type: &str,
    actor_id: &str,
    messages: impl IntoIterator<Item = Message>,
) -> Result<Json, ActorError> {
    send(actor_type, actor_id, messages, false)
}

/// Like [`message_actor`], but nothing is persisted or published: what the response would
/// be.
///
/// # Errors
///
/// As for [`message_actor`].
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Message, json, message_actor_preview};
///
/// # fn main() -> Result<(), sluice_sdk::Error> {
/// let after = message_actor_preview("sku", "42", [Message::new("reserve").body(json!({ "quantity": 2 }))])?;
/// # let _ = after;
/// # Ok(())
/// # }
/// ```
pub fn message_actor_preview(
    actor_type: &str,
    actor_id: &str,
    messages: impl IntoIterator<Item = Message>,
) -> Result<Json, ActorError> {
    send(actor_type, actor_id, messages, true)
}

fn send(
    actor_type: &str,
    actor_id: &str,
    messages: impl IntoIterator<Item = Message>,
    preview: bool,
) -> Result<Json, ActorError> {
    let messages: Vec<Message> = messages.into_iter().collect();
    if let Some(reason) = messages.iter().find_map(|message| message.invalid.clone()) {
        return Err(ActorError::new(ActorErrorKind::Failed, reason));
    }
    let response = sys::message_actor(actor_type, actor_id, &messages, preview)?;
    Json::from_text(response)
        .map_err(|_| ActorError::new(ActorErrorKind::Failed, "the actor response is not JSON"))
}

/// What kind of [`ActorError`] happened (WIT `actor-error` cases).
///
/// # Examples
///
/// ```
/// use sluice_sdk::{ActorError, ActorErrorKind};
///
/// fn missing(err: &ActorError) -> bool {
///     err.kind() == ActorErrorKind::NotFound
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorErrorKind {
    /// The ingress `acl` does not grant the message.
    Forbidden,
    /// No such actor type.
    UnknownType,
    /// No such actor.
    NotFound,
    /// The actor rejected the messages or failed; nothing was changed.
    Failed,
    /// The actor store cannot be reached right now; nothing was changed and the same call
    /// may succeed later. Converts to `UNAVAILABLE` (HTTP 503).
    Unavailable,
}

/// Why messages could not be delivered.
///
/// With `?` it converts into an [`Error`]: `Forbidden` → `FORBIDDEN`, `NotFound` →
/// `NOT_FOUND`, `Unavailable` → `UNAVAILABLE` (HTTP 503), otherwise `ACTOR_ERROR` (HTTP 500),
/// with the host's message.
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{ActorErrorKind, Message, json, message_actor};
///
/// # fn main() -> Result<(), sluice_sdk::Error> {
/// let stock = match message_actor("sku", "42", [Message::new("calculateAvailableStock")]) {
///     Ok(stock) => stock,
///     Err(err) if err.kind() == ActorErrorKind::NotFound => json!({ "available": 0 }).into(),
///     Err(err) => return Err(err.into()),
/// };
/// # let _ = stock;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorError {
    kind: ActorErrorKind,
    message: String,
}

impl ActorError {
    pub(crate) fn new(kind: ActorErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::message_actor("nope", "1", []).unwrap_err();
    /// assert_eq!(err.kind(), sluice_sdk::ActorErrorKind::UnknownType);
    /// ```
    pub fn kind(&self) -> ActorErrorKind {
        self.kind
    }

    /// The host's message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::message_actor("nope", "1", []).unwrap_err();
    /// sluice_sdk::warn!("{}", err.message());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActorError {}

impl From<ActorError> for Error {
    fn from(err: ActorError) -> Self {
        let code = match err.kind {
            ActorErrorKind::Forbidden => "FORBIDDEN",
            ActorErrorKind::NotFound => "NOT_FOUND",
            ActorErrorKind::Unavailable => "UNAVAILABLE",
            ActorErrorKind::UnknownType | ActorErrorKind::Failed => "ACTOR_ERROR",
        };
        Error::new(code, err.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake;
    use serde_json::json;

    #[test]
    fn messages_are_sent_in_order_with_alias_and_body() {
        fake::answer_actors(Ok(
            r#"{"actorId":"42","data":{"stock":{"available":3}}}"#.into()
        ));
        let response = message_actor(
            "sku",
            "42",
            [
                Message::new("reserve").body(json!({"quantity": 2})),
                Message::new("calculateAvailableStock").alias("stock"),
            ],
        )
        .unwrap();
        assert_eq!(response["data"]["stock"]["available"], 3);
        let (actor_type, actor_id, messages, preview) = fake::actor_calls().remove(0);
        assert_eq!(
            (actor_type.as_str(), actor_id.as_str(), preview),
            ("sku", "42", false)
        );
        assert_eq!(messages[0].message_type(), "reserve");
        assert_eq!(
            messages[0].body_json().as_deref(),
            Some(r#"{"quantity":2}"#)
        );
        assert_eq!(messages[1].alias_name(), Some("stock"));
        assert_eq!(messages[1].body_json(), None);
    }

    #[test]
    fn preview_is_flagged() {
        let _ = message_actor_preview("sku", "42", [Message::new("reserve")]);
        assert!(fake::actor_calls()[0].3);
    }

    #[test]
    fn actor_errors_convert_to_documented_codes() {
        for (kind, code) in [
            (ActorErrorKind::Forbidden, "FORBIDDEN"),
            (ActorErrorKind::NotFound, "NOT_FOUND"),
            (ActorErrorKind::UnknownType, "ACTOR_ERROR"),
            (ActorErrorKind::Failed, "ACTOR_ERROR"),
            (ActorErrorKind::Unavailable, "UNAVAILABLE"),
        ] {
            fake::answer_actors(Err(ActorError::new(kind, "why")));
            let err = Error::from(message_actor("sku", "1", []).unwrap_err());
            assert_eq!((err.code(), err.message()), (code, "why"));
        }
    }

    #[test]
    fn an_unserializable_body_fails_before_reaching_the_host() {
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1], 1);
        let err = message_actor("sku", "1", [Message::new("reserve").body(bad)]).unwrap_err();
        assert_eq!(err.kind(), ActorErrorKind::Failed);
        assert!(fake::actor_calls().is_empty());
    }
}
