//! The actor backend behind `messageActor` (SPEC S5).
//!
//! [`InMemoryActors`] is a small stand-in until actors run as components: every actor is
//! a JSON object; a `set` message merges its body into the state (a state change, which
//! publishes a `checkpoint` on `actors/<type>/<id>`), and every message's result is the
//! state after it. Nothing is persisted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use super::bus::EventBus;

/// One message to an actor.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorMessage {
    pub message_type: String,
    pub alias: Option<String>,
    pub body: Option<Value>,
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
    /// Blocking; the caller runs it on a blocking thread. Returns the platform's response
    /// shape `{actorId, paths, data: {<alias or type>: value}, errors: [...]}`.
    fn message(
        &self,
        actor_type: &str,
        actor_id: &str,
        messages: &[ActorMessage],
        preview: bool,
    ) -> Result<Value, ActorError>;
}

/// Actors as plain JSON objects in memory. See the module docs.
pub struct InMemoryActors {
    bus: Arc<dyn EventBus>,
    actors: Mutex<HashMap<(String, String), Map<String, Value>>>,
}

impl InMemoryActors {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            bus,
            actors: Mutex::default(),
        }
    }
}

impl ActorBackend for InMemoryActors {
    fn message(
        &self,
        actor_type: &str,
        actor_id: &str,
        messages: &[ActorMessage],
        preview: bool,
    ) -> Result<Value, ActorError> {
        let actor_id = if actor_id == "new" {
            uuid::Uuid::new_v4().to_string()
        } else {
            actor_id.to_owned()
        };
        let key = (actor_type.to_owned(), actor_id.clone());
        // Holding the lock for the whole batch serializes messages per actor.
        let mut actors = self
            .actors
            .lock()
            .map_err(|_| ActorError::Failed("actor state is unavailable".into()))?;
        let mut state = actors.get(&key).cloned().unwrap_or_default();
        let mut changed = false;
        let mut data = Map::new();
        for message in messages {
            if message.message_type == "set" {
                let Some(Value::Object(fields)) = &message.body else {
                    return Err(ActorError::Failed("'set' needs an object body".into()));
                };
                state.extend(fields.clone());
                changed = true;
            }
            let key = message.alias.as_ref().unwrap_or(&message.message_type);
            data.insert(key.clone(), Value::Object(state.clone()));
        }
        if changed && !preview {
            actors.insert(key, state.clone());
            let checkpoint = json!({
                "checkpointId": uuid::Uuid::new_v4().to_string(),
                "actorId": actor_id,
                "state": state,
            });
            let topic = format!("actors/{actor_type}/{actor_id}");
            self.bus
                .publish(&topic, "checkpoint", &checkpoint)
                .map_err(|err| ActorError::Failed(err.to_string()))?;
        }
        Ok(json!({ "actorId": actor_id, "paths": [], "data": data, "errors": [] }))
    }
}
