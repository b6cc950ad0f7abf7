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
//!
//! A call made only of the actor type's queries (`spec.queries`) takes none of this: it
//! runs against the latest committed state, stores and publishes nothing, and is computed
//! once per state version however many callers ask ([`queries`]).

mod locks;
pub mod queries;
pub mod relay;

use std::collections::{HashMap, HashSet};
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
use crate::runtime::bindings::actor::actor_handler::{
    ActorContext, Message, MessageResult, Outcome,
};
use crate::runtime::{InstanceState, Runtime};
use locks::ActorLocks;
use queries::{Queries, Snapshot, Source};

/// One deployed actor type.
pub struct ActorType {
    pub pre: ActorPre<InstanceState>,
    /// What the actor's instances may reach (its `acl` applies to `query`).
    pub context: Arc<IngressContext>,
    /// The message types that only read (`spec.queries`).
    pub queries: HashSet<String>,
}

impl ActorType {
    /// Whether `messages` is a query batch: not empty, and every message a query.
    fn only_queries(&self, messages: &[ActorMessage]) -> bool {
        !messages.is_empty()
            && messages
                .iter()
                .all(|message| self.queries.contains(&message.message_type))
    }
}

/// Counts query answers by actor type and [`Source`]; set by the metrics at boot.
pub type QueryCounter = Arc<dyn Fn(&str, Source) + Send + Sync>;

/// Actors as components, with state in an [`ActorStateStore`].
pub struct WasmActors {
    runtime: Arc<Runtime>,
    types: HashMap<String, ActorType>,
    store: Arc<dyn ActorStateStore>,
    bus: Arc<dyn EventBus>,
    locks: ActorLocks,
    queries: Queries,
    count_query: Option<QueryCounter>,
    hold_checkpoints: std::sync::atomic::AtomicBool,
}

impl WasmActors {
    pub fn new(
        runtime: Arc<Runtime>,
        types: HashMap<String, ActorType>,
        store: Arc<dyn ActorStateStore>,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        let queries = Queries::new(store.is_shared());
        Self {
            runtime,
            types,
            store,
            bus,
            locks: ActorLocks::default(),
            queries,
            count_query: None,
            hold_checkpoints: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Count every query answer with `counter`.
    pub fn count_queries(&mut self, counter: QueryCounter) {
        self.count_query = Some(counter);
    }

    /// The deployed actor types, sorted.
    pub fn type_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.keys().cloned().collect();
        names.sort();
        names
    }

    /// A batch that may change the actor: one at a time per actor, in one transaction.
    /// Query batches take [`Self::query`] instead.
    async fn deliver(
        &self,
        kind: &ActorType,
        actor_type: &str,
        actor_id: &str,
        messages: Vec<ActorMessage>,
        preview: bool,
    ) -> Result<String, ActorError> {
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
                Ok(response) => return Ok(response.to_string()),
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
            read_only: false,
        };
        let state_text = state.as_ref().map(Value::to_string);
        let outcome = self
            .run_batch(kind, &name, &context, state_text.as_ref(), messages)
            .await?;
        let (data, errors) = results(&name, messages, outcome.results)?;
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
                // Before the publish: whoever its checkpoint wakes must not get older answers.
                Ok(()) => self.queries.committed(&name),
                Err(err @ ActorStoreError::Conflict(_)) => return Err(Attempt::Conflict(err)),
                Err(err) => return Err(failed(&name, err).into()),
            }
            self.publish(&stored).await;
        } else {
            drop(transaction);
        }
        Ok(response(&name, actor_id, data, errors))
    }

    /// A query batch: answered from the latest committed state, once per version and
    /// question however many callers ask ([`queries`]).
    async fn query(
        &self,
        kind: &ActorType,
        actor_type: &str,
        actor_id: &str,
        messages: &[ActorMessage],
        preview: bool,
    ) -> Result<String, ActorError> {
        if actor_id.is_empty() {
            return Err(ActorError::NotFound(String::new()));
        }
        let name = format!("{actor_type}/{actor_id}");
        let snapshot = self
            .queries
            .snapshot(&name, self.store.read(actor_type, actor_id))
            .await
            .map_err(|err| failed(&name, err))?;
        // What makes two batches the same question, written straight to text: every
        // viewer asks on every change, so no `Value` tree is built for it.
        let batch: Vec<_> = messages
            .iter()
            .map(|m| (&m.message_type, &m.alias, &m.body))
            .collect();
        let question = serde_json::to_string(&(preview, batch))
            .map_err(|err| ActorError::Failed(format!("actor {name}: unusable query: {err}")))?;
        // Boxed only when it runs, once per question and version. Held inline, it would
        // make every caller's future as large as an actor call, and that future is boxed
        // and moved on each of 10,000 viewers' calls.
        let run = async {
            Box::pin(self.run_query(kind, actor_type, actor_id, &snapshot, messages, preview)).await
        };
        let (answer, source) = self.queries.answer(&snapshot, question, run).await;
        if let Some(count) = &self.count_query {
            count(actor_type, source);
        }
        answer
    }

    /// Run a query batch on `snapshot` in a fresh instance; a batch that changes the state
    /// fails.
    async fn run_query(
        &self,
        kind: &ActorType,
        actor_type: &str,
        actor_id: &str,
        snapshot: &Snapshot,
        messages: &[ActorMessage],
        preview: bool,
    ) -> Result<String, ActorError> {
        let name = format!("{actor_type}/{actor_id}");
        let context = ActorContext {
            actor_type: actor_type.to_owned(),
            actor_id: actor_id.to_owned(),
            is_new: snapshot.state.is_none(),
            preview,
            read_only: true,
        };
        let outcome = self
            .run_batch(kind, &name, &context, snapshot.state.as_ref(), messages)
            .await?;
        if outcome.state.is_some() {
            let types: Vec<&str> = messages.iter().map(|m| m.message_type.as_str()).collect();
            tracing::warn!(actor = %name, ?types, "a query batch changed the state");
            return Err(ActorError::Failed(format!(
                "actor {name}: the queries {types:?} changed the state, but queries \
                 (spec.queries) may only read; nothing was changed"
            )));
        }
        let (data, errors) = results(&name, messages, outcome.results)?;
        Ok(response(&name, actor_id, data, errors).to_string())
    }

    /// Run `messages` against `state` in a fresh instance of the actor's component; a trap
    /// is the caller's `Failed`, its details only in the log.
    async fn run_batch(
        &self,
        kind: &ActorType,
        name: &str,
        context: &ActorContext,
        state: Option<&String>,
        messages: &[ActorMessage],
    ) -> Result<Outcome, ActorError> {
        self.runtime
            .run_actor(
                &kind.pre,
                kind.context.clone(),
                context,
                state,
                &wit_messages(messages),
            )
            .await
            .map_err(|trap| {
                tracing::warn!(actor = %name, read_only = context.read_only,
                    error = %format!("{trap:#}"), "actor failed");
                ActorError::Failed(format!("actor {name} failed; nothing was changed"))
            })
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
    ) -> BoxFuture<'a, Result<String, ActorError>> {
        // Queries are the hot path (every viewer of an actor calls on each of its changes),
        // so their future stays small: the write path's holds a lock, a transaction and an
        // instance call. `new` creates an actor, which no query batch can.
        let Some(kind) = self.types.get(actor_type) else {
            return Box::pin(std::future::ready(Err(ActorError::UnknownType(
                actor_type.to_owned(),
            ))));
        };
        if actor_id != "new" && kind.only_queries(&messages) {
            Box::pin(async move {
                self.query(kind, actor_type, actor_id, &messages, preview)
                    .await
            })
        } else {
            Box::pin(self.deliver(kind, actor_type, actor_id, messages, preview))
        }
    }
}

fn wit_messages(messages: &[ActorMessage]) -> Vec<Message> {
    messages
        .iter()
        .map(|message| Message {
            type_: message.message_type.clone(),
            alias: message.alias.clone(),
            body: message.body.as_ref().map(Value::to_string),
        })
        .collect()
}

/// Each message's result under its key in `data`, or its rejection in `errors`.
fn results(
    name: &str,
    messages: &[ActorMessage],
    results: Vec<MessageResult>,
) -> Result<(Map<String, Value>, Vec<Value>), ActorError> {
    if results.len() != messages.len() {
        return Err(ActorError::Failed(format!(
            "actor {name} answered {} of {} messages; nothing was changed",
            results.len(),
            messages.len()
        )));
    }
    let mut data = Map::new();
    let mut errors = Vec::new();
    for (index, (message, result)) in messages.iter().zip(results).enumerate() {
        match result {
            MessageResult::Ok(value) => {
                let value = parse(name, "a result", &value)?;
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
    Ok((data, errors))
}

/// The platform's response shape (SPEC S5).
fn response(name: &str, actor_id: &str, data: Map<String, Value>, errors: Vec<Value>) -> Value {
    json!({
        "actorId": actor_id,
        "paths": [format!("actors/{name}")],
        "data": data,
        "errors": errors,
    })
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
