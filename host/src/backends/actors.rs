//! Actors behind `messageActor` (SPEC S5): the backend trait the capability calls, and the
//! persistence trait an actor runtime stores state and checkpoints through.
//!
//! The Wasm actor runtime lives in [`crate::actors`]; these traits keep the capability and
//! the storage swappable (e.g. PostgreSQL later).

use futures::future::BoxFuture;
use serde_json::Value;

/// One message to an actor.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorMessage {
    pub message_type: String,
    pub alias: Option<String>,
    pub body: Option<Value>,
}

impl ActorMessage {
    /// The key of this message's result in the response `data`.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.message_type)
    }
}

/// Why messages could not be delivered. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    #[error("unknown actor type '{0}'")]
    UnknownType(String),
    #[error("actor '{0}' not found")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// Delivers messages to actors; implementations serialize messages per actor.
pub trait ActorBackend: Send + Sync + 'static {
    /// Deliver `messages` in order, in one transaction. Returns the platform's response
    /// shape `{actorId, paths, data: {<alias or type>: value}, errors: [...]}`.
    fn message<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        messages: Vec<ActorMessage>,
        preview: bool,
    ) -> BoxFuture<'a, Result<Value, ActorError>>;
}

/// The backend of components that may not message actors (actors themselves).
pub struct NoActors;

impl ActorBackend for NoActors {
    fn message<'a>(
        &'a self,
        actor_type: &'a str,
        _actor_id: &'a str,
        _messages: Vec<ActorMessage>,
        _preview: bool,
    ) -> BoxFuture<'a, Result<Value, ActorError>> {
        Box::pin(async move { Err(ActorError::UnknownType(actor_type.to_owned())) })
    }
}

/// One checkpoint: a state change, stored with the state in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub checkpoint_id: String,
    pub timestamp_ms: u64,
    pub metadata: Option<Value>,
}

/// Where actor state lives. Blocking calls; the runtime runs them on blocking threads.
pub trait ActorStateStore: Send + Sync + 'static {
    /// The actor's state, or `None` when it does not exist.
    fn load_actor(
        &self,
        actor_type: &str,
        actor_id: &str,
    ) -> Result<Option<Value>, ActorStoreError>;
    /// Store `state` and `checkpoint` together, or neither.
    fn commit_actor(
        &self,
        actor_type: &str,
        actor_id: &str,
        state: &Value,
        checkpoint: &Checkpoint,
    ) -> Result<(), ActorStoreError>;
    /// Create the actor with `state` unless it exists. Returns whether it was created.
    fn seed_actor(
        &self,
        actor_type: &str,
        actor_id: &str,
        state: &Value,
    ) -> Result<bool, ActorStoreError>;
    /// How many checkpoints the actor has (for tests and operators).
    fn checkpoint_count(&self, actor_type: &str, actor_id: &str) -> Result<u64, ActorStoreError>;
}

/// The actor store failed.
#[derive(Debug, thiserror::Error)]
#[error("actor store: {0}")]
pub struct ActorStoreError(pub String);
