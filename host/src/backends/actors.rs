//! Actors behind `messageActor` (SPEC S5): the backend trait the capability calls, and the
//! persistence trait an actor runtime stores state and checkpoints through.
//!
//! The Wasm actor runtime lives in [`crate::actors`]; these traits keep the capability and
//! the storage swappable (SQLite embedded, PostgreSQL for a cluster).

use futures::future::BoxFuture;
use serde_json::Value;

#[cfg(test)]
pub(crate) mod conformance;

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
    /// The actor store cannot be reached right now; the same call may succeed later.
    #[error("{0}")]
    Unavailable(String),
}

/// Delivers messages to actors; implementations serialize messages per actor.
pub trait ActorBackend: Send + Sync + 'static {
    /// Deliver `messages` in order, in one transaction. Returns the platform's response
    /// shape `{actorId, paths, data: {<alias or type>: value}, errors: [...]}` as JSON
    /// text: callers hand it on as it is (to a guest, to a client), so a query answer
    /// shared by thousands of callers is serialized once, not once per caller.
    fn message<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        messages: Vec<ActorMessage>,
        preview: bool,
    ) -> BoxFuture<'a, Result<String, ActorError>>;
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
    ) -> BoxFuture<'a, Result<String, ActorError>> {
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

/// A checkpoint row with the actor it belongs to, as the outbox relay reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheckpoint {
    pub actor_type: String,
    pub actor_id: String,
    pub checkpoint: Checkpoint,
}

impl StoredCheckpoint {
    /// The topic the checkpoint is published on: `actors/<type>/<id>`.
    pub fn topic(&self) -> String {
        format!("actors/{}/{}", self.actor_type, self.actor_id)
    }

    /// The event data published for it.
    pub fn event(&self) -> Value {
        serde_json::json!({
            "checkpointId": self.checkpoint.checkpoint_id,
            "actorType": self.actor_type,
            "actorId": self.actor_id,
            "timestamp": self.checkpoint.timestamp_ms,
            "metadata": self.checkpoint.metadata,
        })
    }
}

/// Where actor state lives. Async and engine-neutral: SQLite (embedded) and PostgreSQL
/// implement it and pass one conformance suite.
///
/// Messages to one actor are serialized by [`ActorStateStore::begin`]: it returns the actor's
/// state held exclusively (on PostgreSQL a `SELECT … FOR UPDATE` row lock inside an open
/// transaction, so across every node sharing the database) until the [`ActorTransaction`] is
/// committed or dropped. A commit stores the new state and its checkpoint row atomically. Two
/// transactions that both found *no* actor (a creation race, which no row lock can order)
/// make the second commit fail with [`ActorStoreError::Conflict`]: the caller starts over.
///
/// Checkpoint rows are also a transactional outbox: each is stored unpublished, and
/// [`ActorStateStore::mark_published`] records that the bus has it.
/// [`ActorStateStore::claim_unpublished`] lets a relay publish what a node committed but
/// never published (it died in between).
pub trait ActorStateStore: Send + Sync + 'static {
    /// Take exclusive access to actor `actor_type`/`actor_id` and read its state.
    fn begin<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ActorTransaction>, ActorStoreError>>;

    /// The actor's latest committed state and its version, read without taking the actor
    /// (no lock held, none waited for): what queries run against. `None` when the actor
    /// does not exist. Versions only grow: every commit adds one.
    fn read<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VersionedState>, ActorStoreError>>;

    /// True when other processes commit to this store too (PostgreSQL, shared by a
    /// cluster), so a node cannot know of every commit without asking; false when this
    /// process is the only writer (the embedded SQLite file).
    fn is_shared(&self) -> bool;

    /// Create the actor with `state` unless it exists. Returns whether it was created.
    fn seed_actor<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<bool, ActorStoreError>>;

    /// How many checkpoints the actor has (for tests and operators).
    fn checkpoint_count<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, ActorStoreError>>;

    /// Record that checkpoint `checkpoint_id` is on the bus.
    fn mark_published<'a>(
        &'a self,
        checkpoint_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorStoreError>>;

    /// Up to `limit` checkpoints committed at least `older_than` ago and not yet marked
    /// published, oldest first, claimed for one relay: another relay calling this at the
    /// same time gets other rows. The claim ends with the returned [`OutboxBatch`].
    /// Engines whose bus dies with the process (SQLite with the in-process bus) have no
    /// outbox and return an empty batch.
    fn claim_unpublished(
        &self,
        limit: u32,
        older_than: std::time::Duration,
    ) -> BoxFuture<'_, Result<Box<dyn OutboxBatch>, ActorStoreError>>;
}

/// An actor's committed state and the version it has (see [`ActorStateStore::read`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedState {
    pub state: Value,
    pub version: i64,
}

/// Exclusive access to one actor, from [`ActorStateStore::begin`]. Dropping it without
/// committing changes nothing and releases the actor.
pub trait ActorTransaction: Send {
    /// The actor's state, or `None` when it does not exist yet.
    fn state(&self) -> Option<&Value>;

    /// Store `state` with `checkpoint` (unpublished) in one transaction, and release the
    /// actor.
    fn commit<'a>(
        self: Box<Self>,
        state: &'a Value,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), ActorStoreError>>;
}

/// Unpublished checkpoints claimed by one relay ([`ActorStateStore::claim_unpublished`]).
pub trait OutboxBatch: Send {
    /// The claimed checkpoints, oldest first.
    fn checkpoints(&self) -> &[StoredCheckpoint];

    /// Mark `published` (ids of claimed checkpoints) as published and end the claim; the
    /// others stay unpublished for a later relay.
    fn finish<'a>(
        self: Box<Self>,
        published: &'a [String],
    ) -> BoxFuture<'a, Result<(), ActorStoreError>>;
}

/// An empty [`OutboxBatch`], for engines without an outbox.
pub struct NoOutbox;

impl OutboxBatch for NoOutbox {
    fn checkpoints(&self) -> &[StoredCheckpoint] {
        &[]
    }

    fn finish<'a>(
        self: Box<Self>,
        _published: &'a [String],
    ) -> BoxFuture<'a, Result<(), ActorStoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Why the actor store failed.
#[derive(Debug, thiserror::Error)]
pub enum ActorStoreError {
    /// The engine cannot be reached right now (connection refused or lost, pool exhausted,
    /// database locked); the same call may succeed later.
    #[error("actor store unavailable: {0}")]
    Unavailable(String),
    /// Another transaction created the same actor first; start over.
    #[error("actor {0} was created concurrently; start over")]
    Conflict(String),
    /// Anything else: a corrupt row, a constraint violated.
    #[error("actor store: {0}")]
    Failed(String),
}

impl From<crate::backends::store::StoreError> for ActorStoreError {
    fn from(err: crate::backends::store::StoreError) -> Self {
        match err {
            crate::backends::store::StoreError::Unavailable(reason) => {
                ActorStoreError::Unavailable(reason)
            }
            other => ActorStoreError::Failed(other.to_string()),
        }
    }
}

impl ActorStoreError {
    /// True for [`ActorStoreError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ActorStoreError::Unavailable(_))
    }
}
