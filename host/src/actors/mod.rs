//! The actor runtime (SPEC S5): actors are components of the `actor` world whose state the
//! host persists.
//!
//! One `messageActor` call: take the actor's lock (calls to one actor are serialized), load
//! its state, run every message in one fresh instance, and — only if every message
//! succeeded and this is not a preview — store the new state with a checkpoint row in one
//! transaction, then publish a `checkpoint` event on `actors/<type>/<id>`. A trap, a bad
//! outcome or a rejected message changes nothing.

mod locks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::backends::actors::{
    ActorBackend, ActorError, ActorMessage, ActorStateStore, Checkpoint,
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

        let store = self.store.clone();
        let (t, i) = (actor_type.to_owned(), actor_id.clone());
        let state = tokio::task::spawn_blocking(move || store.load_actor(&t, &i))
            .await
            .map_err(|err| failed(&name, err))?
            .map_err(|err| failed(&name, err))?;
        let context = ActorContext {
            actor_type: actor_type.to_owned(),
            actor_id: actor_id.clone(),
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
            )));
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
            self.commit(actor_type, &actor_id, new_state, metadata)
                .await?;
        }
        Ok(json!({
            "actorId": actor_id,
            "paths": [format!("actors/{name}")],
            "data": data,
            "errors": errors,
        }))
    }

    /// Store the state with its checkpoint, then publish the checkpoint. Called with the
    /// actor's lock held, so checkpoints are published in commit order.
    async fn commit(
        &self,
        actor_type: &str,
        actor_id: &str,
        state: Value,
        metadata: Option<Value>,
    ) -> Result<(), ActorError> {
        let name = format!("{actor_type}/{actor_id}");
        let checkpoint = Checkpoint {
            checkpoint_id: uuid::Uuid::new_v4().to_string(),
            timestamp_ms: crate::capabilities::unix_millis(SystemTime::now()),
            metadata,
        };
        let store = self.store.clone();
        let (t, i, c) = (
            actor_type.to_owned(),
            actor_id.to_owned(),
            checkpoint.clone(),
        );
        tokio::task::spawn_blocking(move || store.commit_actor(&t, &i, &state, &c))
            .await
            .map_err(|err| failed(&name, err))?
            .map_err(|err| failed(&name, err))?;
        let event = json!({
            "checkpointId": checkpoint.checkpoint_id,
            "actorType": actor_type,
            "actorId": actor_id,
            "timestamp": checkpoint.timestamp_ms,
            "metadata": checkpoint.metadata,
        });
        // The state is stored; a bus failure must not undo it, only be reported. The
        // checkpoint id makes a retried publish idempotent.
        if let Err(err) = self
            .bus
            .publish(
                &format!("actors/{name}"),
                "checkpoint",
                &event,
                Some(&checkpoint.checkpoint_id),
            )
            .await
        {
            tracing::error!(actor = %name, %err, "checkpoint stored but not published");
        }
        Ok(())
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

fn failed(name: &str, err: impl std::fmt::Display) -> ActorError {
    tracing::error!(actor = %name, %err, "actor state unavailable");
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
