//! The actor runtime (SPEC S5): actors are components of the `actor` world whose state the
//! host persists.
//!
//! One `messageActor` call: take the actor's lock in this process, then exclusive access in
//! the store ([`ActorStateStore::begin`]: on PostgreSQL a row lock, so across the cluster),
//! run every message in one fresh instance, and — only if every message succeeded and this is
//! not a preview — store the new state with a checkpoint row in one transaction, then publish
//! a `checkpoint` event on `actors/<type>/<id>` with the checkpoint id as its de-duplication
//! key and mark the row published. A trap, a bad outcome or a rejected message changes
//! nothing. A checkpoint committed but never published (the node died, the bus was down) is
//! published later by the outbox relay ([`relay`]).

mod locks;
pub mod relay;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::backends::actors::{
    ActorBackend, ActorError, ActorMessage, ActorStateStore, ActorStoreError, ActorTransaction,
    Checkpoint, StoredCheckpoint,
};
use crate::backends::bus::EventBus;
use crate::capabilities::IngressContext;
use crate::runtime::bindings::actor::ActorPre;
use crate::runtime::bindings::actor::actor_handler::{ActorContext, Message, MessageResult};
use crate::runtime::{InstanceState, Runtime};
use locks::ActorLocks;

/// One deployed actor type.
pub struct ActorType {
    pub pre: ActorPre<InstanceState>,
    /// What the actor's instances may reach (its `acl` applies to `query`).
    pub context: Arc<IngressContext>,
}

/// Actors as components, with state in an [`ActorStateStore`].
pub struct WasmActors {
    runtime: Arc<Runtime>,
    types: HashMap<String, ActorType>,
    store: Arc<dyn ActorStateStore>,
    bus: Arc<dyn EventBus>,
    locks: ActorLocks,
    hold_checkpoints: std::sync::atomic::AtomicBool,
}

impl WasmActors {
    pub fn new(
        runtime: Arc<Runtime>,
        types: HashMap<String, ActorType>,
        store: Arc<dyn ActorStateStore>,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            runtime,
            types,
            store,
            bus,
            locks: ActorLocks::default(),
            hold_checkpoints: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The deployed actor types, sorted.
    pub fn type_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.keys().cloned().collect();
        names.sort();
        names
    }

    async fn deliver(
        &self,
        actor_type: &str,
        actor_id: &str,
        messages: Vec<ActorMessage>,
        preview: bool,
    ) -> Result<Value, ActorError> {
        let kind = self
            .types
            .get(actor_type)
            .ok_or_else(|| ActorError::UnknownType(actor_type.to_owned()))?;
        let actor_id = match actor_id {
            "new" => uuid::Uuid::new_v4().to_string(),
            "" => return Err(ActorError::NotFound(String::new())),
            id => id.to_owned(),
        };
        let name = format!("{actor_type}/{actor_id}");
        let _serialized = self.locks.lock(actor_type, &actor_id).await;
        // The loser of a race to create the actor starts over, and then finds it.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let transaction = self
                .store
                .begin(actor_type, &actor_id)
                .await
                .map_err(|err| failed(&name, err))?;
            match self
                .run(kind, transaction, actor_type, &actor_id, &messages, preview)
                .await
            {
                Err(Attempt::Conflict(err)) if attempts < MAX_ATTEMPTS => {
                    tracing::debug!(actor = %name, %err, "starting over");
                }
                Err(Attempt::Conflict(err)) => return Err(failed(&name, err)),
                Err(Attempt::Failed(err)) => return Err(err),
                Ok(response) => return Ok(response),
            }
        }
    }

    /// One attempt, with the actor held by `transaction`.
    async fn run(
        &self,
        kind: &ActorType,
        transaction: Box<dyn ActorTransaction>,
        actor_type: &str,
        actor_id: &str,
        messages: &[ActorMessage],
        preview: bool,
    ) -> Result<Value, Attempt> {
        let name = format!("{actor_type}/{actor_id}");
        let state = transaction.state().cloned();
        let context = ActorContext {
            actor_type: actor_type.to_owned(),
            actor_id: actor_id.to_owned(),
            is_new: state.is_none(),
            preview,
        };
        let wit_messages: Vec<Message> = messages
            .iter()
            .map(|message| Message {
                type_: message.message_type.clone(),
                alias: message.alias.clone(),
                body: message.body.as_ref().map(Value::to_string),
            })
            .collect();
        let state_text = state.as_ref().map(Value::to_string);
        let outcome = self
            .runtime
            .run_actor(
                &kind.pre,
                kind.context.clone(),
                &context,
                state_text.as_ref(),
                &wit_messages,
            )
            .await
            .map_err(|trap| {
                tracing::warn!(actor = %name, error = %format!("{trap:#}"), "actor failed");
                ActorError::Failed(format!("actor {name} failed; nothing was changed"))
            })?;
        if outcome.results.len() != messages.len() {
            return Err(ActorError::Failed(format!(
                "actor {name} answered {} of {} messages; nothing was changed",
                outcome.results.len(),
                messages.len()
            ))
            .into());
        }
        let mut data = Map::new();
        let mut errors = Vec::new();
        for (index, (message, result)) in messages.iter().zip(outcome.results).enumerate() {
            match result {
                MessageResult::Ok(value) => {
                    let value = parse(&name, "a result", &value)?;
                    data.insert(message.key().to_owned(), value);
                }
                MessageResult::Err(error) => errors.push(json!({
                    "index": index,
                    "key": message.key(),
                    "code": error.code,
                    "message": error.message,
                })),
            }
        }
        if errors.is_empty()
            && !preview
            && let Some(new_state) = &outcome.state
        {
            let new_state = parse(&name, "its state", new_state)?;
            let metadata = outcome
                .checkpoint_metadata
                .as_deref()
                .map(|text| parse(&name, "checkpoint metadata", text))
                .transpose()?;
            let stored = StoredCheckpoint {
                actor_type: actor_type.to_owned(),
                actor_id: actor_id.to_owned(),
                checkpoint: Checkpoint {
                    checkpoint_id: uuid::Uuid::new_v4().to_string(),
                    timestamp_ms: crate::capabilities::unix_millis(SystemTime::now()),
                    metadata,
                },
            };
            match transaction.commit(&new_state, &stored.checkpoint).await {
                Ok(()) => {}
                Err(err @ ActorStoreError::Conflict(_)) => return Err(Attempt::Conflict(err)),
                Err(err) => return Err(failed(&name, err).into()),
            }
            self.publish(&stored).await;
        } else {
            drop(transaction);
        }
        Ok(json!({
            "actorId": actor_id,
            "paths": [format!("actors/{name}")],
            "data": data,
            "errors": errors,
        }))
    }

    /// Publish a committed checkpoint and mark it published. Called with the actor's lock
    /// held, so checkpoints are published in commit order. A failure here must not undo the
    /// state: the checkpoint stays unpublished and the relay publishes it later.
    async fn publish(&self, stored: &StoredCheckpoint) {
        let id = &stored.checkpoint.checkpoint_id;
        if self
            .hold_checkpoints
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        match relay::publish_checkpoint(self.bus.as_ref(), stored).await {
            Ok(()) => {
                if let Err(err) = self.store.mark_published(id).await {
                    tracing::warn!(checkpoint = %id, %err, "published, not yet marked; the relay will");
                }
            }
            Err(err) => {
                tracing::warn!(topic = %stored.topic(), checkpoint = %id, %err,
                    "checkpoint stored but not published; the relay will")
            }
        }
    }

    /// Test hook: commit checkpoints without publishing them, as a node that dies between
    /// the commit and the publish would (see [`relay`]).
    #[doc(hidden)]
    pub fn hold_checkpoints(&self, hold: bool) {
        self.hold_checkpoints
            .store(hold, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How often one call starts over after losing a race to create its actor.
const MAX_ATTEMPTS: u32 = 5;

/// Why one attempt ended without a response.
enum Attempt {
    /// Another node created the actor first: start over.
    Conflict(ActorStoreError),
    Failed(ActorError),
}

impl From<ActorError> for Attempt {
    fn from(err: ActorError) -> Self {
        Attempt::Failed(err)
    }
}

impl ActorBackend for WasmActors {
    fn message<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        messages: Vec<ActorMessage>,
        preview: bool,
    ) -> BoxFuture<'a, Result<Value, ActorError>> {
        Box::pin(self.deliver(actor_type, actor_id, messages, preview))
    }
}

fn failed(name: &str, err: ActorStoreError) -> ActorError {
    if err.is_unavailable() {
        tracing::warn!(actor = %name, %err, "actor store unavailable");
        return ActorError::Unavailable(format!(
            "actor {name}: the actor store is unavailable; nothing was changed, try again later"
        ));
    }
    tracing::error!(actor = %name, %err, "actor store failed");
    ActorError::Failed(format!(
        "actor {name}: the actor store failed; nothing was changed"
    ))
}

fn parse(name: &str, what: &str, text: &str) -> Result<Value, ActorError> {
    serde_json::from_str(text).map_err(|err| {
        ActorError::Failed(format!(
            "actor {name} returned {what} that is not JSON ({err}); nothing was changed"
        ))
    })
}
